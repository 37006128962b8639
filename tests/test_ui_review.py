"""The designer's server reviewed as a user drives it: real `pipe ui` processes on
127.0.0.1 (the `Ui` client of test_ui_server), real runs, hostile files and requests."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from test_ui_server import start  # noqa: F401 - the fixture
from workspace_repo import REPO_ROOT, Repo

pytest.importorskip("httpx")


def test_previews_of_a_deeply_nested_json_and_a_csv_with_a_huge_field_are_text_not_a_500(start, tmp_path):  # noqa: F811
    # json.loads raised RecursionError and csv.reader csv.Error (a field over 128 KiB):
    # neither was caught, so the job page's output preview answered 500 with a traceback.
    repo = Repo(tmp_path)
    repo.write(
        "make.py",
        """\
        import sys
        open(sys.argv[1], "w").write("[" * 100000 + "]" * 100000)
        open(sys.argv[2], "w").write('a,b\\n"' + "x" * 200000 + '",1\\n')
        """,
    )
    repo.pipefile(
        """\
        version: 1
        steps:
          make:
            command: python make.py ${{outputs.deep}} ${{outputs.wide}}
            code: [make.py]
            outputs:
              deep: {type: uri_file, path: out/deep.json}
              wide: {type: uri_file, path: out/wide.csv}
        """
    )
    repo.pipe("run", check=True)
    ui = start(repo.root)
    deep = ui.get("/api/jobs/1/steps/make/outputs/deep/preview")
    assert deep.status_code == 200, deep.text
    assert deep.json()["kind"] == "text" and deep.json()["text"].startswith("[[[")
    wide = ui.get("/api/jobs/1/steps/make/outputs/wide/preview")
    assert wide.status_code == 200, wide.text
    body = wide.json()
    assert body["kind"] == "text" and body["text"].startswith("a,b") and "field" in body["note"]


AZUREML_PIPELINE = """\
type: pipeline
inputs:
  n: 3
jobs:
  a:
    type: command
    command: echo ${{inputs.n}} > ${{outputs.o}}
    inputs:
      n: ${{parent.inputs.n}}
    outputs:
      o: {type: uri_file}
    environment: azureml:sklearn-1.5:1
"""


def test_an_azureml_pipeline_job_is_shown_but_an_edit_of_it_is_refused_not_saved_as_ignored_keys(
    start,  # noqa: F811
    tmp_path,
):
    # The editor writes Pipefile keys: a param set on an Azure ML pipeline job was written as a
    # top-level `params:` (which Azure ML and pipe ignore), the preview said nothing was wrong
    # and the save "succeeded": the input stayed 3, the user's change lost, the file littered.
    (tmp_path / "pipeline.yml").write_text(AZUREML_PIPELINE)
    ui = start(tmp_path, "-f", "pipeline.yml")
    doc = ui.get("/api/pipeline").json()
    assert doc["ok"] and [p["name"] for p in doc["params"]] == ["n"]
    ops = [{"op": "set_param", "name": "n", "value": 5}]
    for route in ("/api/preview", "/api/save"):
        r = ui.post(route, {"base": doc["digest"], "operations": ops})
        assert r.status_code == 422, (route, r.text)
        err = r.json()["error"]
        assert "Azure ML pipeline job" in err["message"] and err["file"] == "pipeline.yml"
        assert "pipe import azureml pipeline.yml" in err["hint"]
    assert (tmp_path / "pipeline.yml").read_text() == AZUREML_PIPELINE
    assert ui.post("/api/save", {"base": doc["digest"], "operations": []}).json()["changed"] is False


def test_a_python_pipeline_is_shown_and_an_edit_says_it_is_python_not_broken_yaml(start, tmp_path):  # noqa: F811
    # The edit read build.py as YAML: "the Pipefile is not valid YAML ... fix the file by hand".
    root = tmp_path / "dsl"
    shutil.copytree(Path(REPO_ROOT) / "examples" / "dsl-wine", root)
    before = (root / "build.py").read_bytes()
    ui = start(root, "-f", "build.py")
    doc = ui.get("/api/pipeline").json()
    assert doc["ok"], doc["errors"]
    r = ui.post(
        "/api/preview", {"base": doc["digest"], "operations": [{"op": "set_param", "name": "seed", "value": 9}]}
    )
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert (
        "written in Python" in err["message"]
        and "Pipefiles only" in err["message"]
        and "pipe export build.py" in err["hint"]
    )
    assert (root / "build.py").read_bytes() == before


STEPS_PY = """\
from pipefile import dsl


@dsl.command_component
def make(out: dsl.Output(type="uri_file")):
    '''DESCRIPTION'''
    open(out, "w").write("x")
"""

BUILD_PY = """\
from steps import make

from pipefile import dsl


@dsl.pipeline(name="p")
def pipeline():
    make()
"""


def test_a_python_pipeline_s_graph_follows_a_change_of_a_module_it_imports(start, tmp_path):  # noqa: F811
    # The graph was kept by build.py's bytes: a change of steps.py (which build.py imports)
    # was not shown until pipe ui was restarted, though `pipe status` showed it at once.
    (tmp_path / "steps.py").write_text(STEPS_PY.replace("DESCRIPTION", "writes x"))
    (tmp_path / "build.py").write_text(BUILD_PY)
    ui = start(tmp_path, "-f", "build.py")

    def make_node():
        doc = ui.get("/api/pipeline").json()
        assert doc["ok"], doc["errors"]
        return next(n for n in doc["graph"]["nodes"] if n["name"] == "make")

    assert make_node()["description"] == "writes x"
    (tmp_path / "steps.py").write_text(
        STEPS_PY.replace("DESCRIPTION", "writes y").replace(
            'out: dsl.Output(type="uri_file")', 'out: dsl.Output(type="uri_file"), more: dsl.Output(type="uri_file")'
        )
    )
    node = make_node()
    assert node["description"] == "writes y"
    assert [o["name"] for o in node["outputs"]] == ["out", "more"]


def test_a_job_of_a_python_pipeline_run_with_params_clones_to_a_409_with_the_command_not_a_500(start, tmp_path):  # noqa: F811
    # The clone wrote the job's params into its snapshot as into a Pipefile's params: mapping:
    # build.py's Python was parsed as YAML, and the request answered 500 with a traceback.
    (tmp_path / "steps.py").write_text(STEPS_PY.replace("DESCRIPTION", "writes x"))
    (tmp_path / "build.py").write_text(BUILD_PY.replace("def pipeline():", "def pipeline(n: int = 1):"))
    repo = Repo(tmp_path)
    repo.pipe("run", "-f", "build.py", "-p", "n=2", check=True)
    ui = start(tmp_path, "-f", "build.py")
    r = ui.post("/api/jobs/1/clone")
    assert r.status_code == 409, r.text
    err = r.json()["error"]
    assert "written in Python" in err["message"] and "pipe run -f build.py -p n=2" in err["hint"]
    # the same job cloned from a designer opened on a Pipefile of that workspace: a draft of
    # the Pipefile (its param set to the job's), the job's Python text kept as it ran, said so
    repo.pipefile("version: 1\nparams:\n  n: 1\nsteps:\n  s:\n    command: echo ${{params.n}}\n")
    ui = start(tmp_path)
    r = ui.post("/api/jobs/1/clone")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["draft"]["operations"] == [{"op": "set_param", "name": "n", "value": 2}]
    assert body["draft"]["text"] == (tmp_path / "build.py").read_text() and body["lineage"]["params_set"] == []
    assert any("build.py is a pipeline written in Python" in w for w in body["lineage"]["warnings"])


def test_an_azureml_pipeline_that_reads_above_its_folder_shows_and_finds_its_jobs(start, tmp_path):  # noqa: F811
    # `pipe run -f pipes/pipeline.yml` records its jobs in the folder holding pipes/ and src/
    # (the pipeline's `code: ../src`); pipe ui looked in pipes/: an empty jobs list, and a run
    # started from the designer never found its job (null), so its page never opened.
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "hi.py").write_text('print("hi")\n')
    pipes = tmp_path / "pipes"
    pipes.mkdir()
    (pipes / "pipeline.yml").write_text(
        "type: pipeline\njobs:\n  a:\n    type: command\n    code: ../src\n"
        "    command: python hi.py > ${{outputs.o}}\n    outputs:\n      o: {type: uri_file}\n"
        "    environment: azureml:sklearn-1.5:1\n"
    )
    (pipes / "envmap.yml").write_text("azureml:sklearn-1.5:1: local\n")
    Repo(pipes).pipe("run", "-f", "pipeline.yml", "--azureml-env-map", "envmap.yml", check=True)
    ui = start(pipes, "-f", "pipeline.yml", "--azureml-env-map", "envmap.yml")
    assert [j["id"] for j in ui.get("/api/jobs").json()["jobs"]] == [1]
    started = ui.post("/api/run", {"force": True})
    assert started.status_code == 202 and started.json()["job"] == 2, started.text
    assert not (pipes / ".pipe").exists()


def test_pipe_ui_opens_a_named_pipeline_of_a_python_module_as_pipe_run_does(start, tmp_path):  # noqa: F811
    # `pipe run -f build.py:other` runs the pipeline `other` of build.py (docs/dsl.md); pipe ui
    # refused it: "there is no file 'build.py:other'" (exit 2).
    (tmp_path / "steps.py").write_text(STEPS_PY.replace("DESCRIPTION", "writes x"))
    other = '\n\n@dsl.pipeline(name="o")\ndef other():\n    make()\n    make()\n'
    (tmp_path / "build.py").write_text(BUILD_PY + other)
    ui = start(tmp_path, "-f", "build.py:other")
    doc = ui.get("/api/pipeline").json()
    assert doc["ok"], doc["errors"]
    assert sorted(n["name"] for n in doc["graph"]["nodes"]) == ["make", "make_2"]
    r = Repo(tmp_path).pipe("ui", "-f", "nothere.py:other", "--no-browser")
    assert r.code == 2 and "there is no file 'nothere.py:other'" in r.err, str(r)


def test_a_job_s_graph_shows_every_step_it_ran_after_its_python_pipeline_changed(start, tmp_path):  # noqa: F811
    # A Python pipeline's snapshot cannot be loaded as it was (its module is run as it is now):
    # the job page drew the pipeline of today, and a step the job ran that is gone from it
    # was missing from the job's graph.
    (tmp_path / "steps.py").write_text(STEPS_PY.replace("DESCRIPTION", "writes x"))
    (tmp_path / "build.py").write_text(BUILD_PY.replace("    make()\n", "    make()\n    make()\n"))
    repo = Repo(tmp_path)
    repo.pipe("run", "-f", "build.py", check=True)
    (tmp_path / "build.py").write_text(BUILD_PY)
    ui = start(tmp_path, "-f", "build.py")
    graph = ui.get("/api/jobs/1").json()["graph"]
    states = {n["name"]: n["state"] for n in graph["nodes"]}
    assert states == {"make": "ran", "make_2": "ran"}, states


def test_the_runs_a_designer_keeps_are_bounded_oldest_finished_first(tmp_path, monkeypatch):
    # Every run started from the designer was kept for the server's life with up to 1 MiB of
    # its output and its stdout pipe open: memory and fds grew with each run. Real `pipe run`
    # subprocesses, a small bound.
    from pipefile.ui import runs
    from pipefile.ui.home import WorkspacePerThread

    monkeypatch.setattr(runs, "KEEP_DONE", 2, raising=False)
    repo = Repo(tmp_path)
    repo.pipefile("version: 1\nsteps:\n  a: {command: echo hi > a.txt, outputs: {o: a.txt}}\n")
    kept = runs.Runs(str(tmp_path), WorkspacePerThread(str(tmp_path)))
    started = []
    for _ in range(4):
        run = kept.start("Pipefile")
        run.proc.wait(120)
        while run.exit_code is None:  # (its reader thread sets it once the output is read)
            time.sleep(0.02)
        assert run.proc.stdout.closed  # (its pipe was left open: one fd more per run)
        started.append(run.id)
    assert [kept.get(r) is not None for r in started] == [False, False, True, True]


def test_a_nan_param_is_answered_as_text_not_a_500_on_every_view(start, tmp_path):  # noqa: F811
    # JSON has no NaN: a Pipefile param `x: .nan` (which pipe validate and run take) made
    # GET /api/pipeline a 500 (the designer could not open), and the job recorded with it
    # made the jobs list, the job and a comparison 500 too.
    repo = Repo(tmp_path)
    repo.pipefile(
        "version: 1\nparams:\n  x: .nan\n  y: -.inf\nsteps:\n  a:\n"
        "    command: echo ${{params.x}} ${{params.y}} > ${{outputs.o}}\n    outputs: {o: o.txt}\n"
    )
    repo.pipe("run", check=True)
    ui = start(repo.root)
    for path in ("/api/pipeline", "/api/jobs", "/api/jobs/1", "/api/compare?a=1&b=1", "/api/jobs/1/events"):
        r = ui.get(path)
        assert r.status_code == 200, (path, r.text)
    params = {p["name"]: p for p in ui.get("/api/pipeline").json()["params"]}
    assert params["x"]["default"] == "nan" and params["y"]["value"] == "-inf"
    assert ui.get("/api/jobs/1").json()["params"] == {"x": "nan", "y": "-inf"}


def test_a_run_whose_command_line_is_too_long_to_start_is_a_400_not_a_500(start, tmp_path):  # noqa: F811
    # A -p value of 200,000 characters (one argument past the kernel's 128 KiB, in a body
    # under the 4 MiB cap): starting `pipe run` failed with E2BIG, uncaught, a 500 with a
    # traceback. The same target named again is run once (its command line is shorter).
    repo = Repo(tmp_path)
    repo.pipefile("version: 1\nparams:\n  s: x\nsteps:\n  a:\n    command: echo a\n  b:\n    command: echo b\n")
    ui = start(repo.root)
    r = ui.post("/api/run", {"params": {"s": "y" * 200_000}})
    assert r.status_code == 400, r.text[:300]
    err = r.json()["error"]
    assert "could not be started" in err["message"] and "fewer targets" in err["hint"]
    once = ui.post("/api/run", {"targets": ["a", "a", "b"]})
    assert once.status_code == 202 and once.json()["command"] == "pipe run -f Pipefile a b", once.text


SLOW_STEP = (
    "version: 1\nsteps:\n  slow:\n"
    '    command: python -c "import time; [print(i, flush=True) or time.sleep(0.2) for i in range(300)]"\n'
)


def test_a_log_asked_for_a_task_name_with_a_nul_is_a_404_not_a_500(start, tmp_path):  # noqa: F811
    # While a job runs, any task name is taken (its log may not exist yet): one with a NUL
    # reached os.path.realpath, whose ValueError was a 500 with a traceback.
    repo = Repo(tmp_path)
    repo.pipefile(SLOW_STEP)
    ui = start(repo.root)
    job = ui.post("/api/run", {}).json()["job"]
    assert job is not None
    try:
        for follow in ("0", "1"):
            r = ui.get(f"/api/jobs/{job}/steps/a%00b/log", params={"follow": follow})
            assert r.status_code == 404, r.text[:300]
            assert "has no task" in r.json()["error"]["message"]
    finally:
        ui.post(f"/api/jobs/{job}/cancel")


def test_compare_shows_a_left_out_trial_input_as_said_not_as_its_record():
    """A sweep's gathered task records a trial it went on without as {"path", "left_out"}
    (keys.LEFT_OUT): the comparison shows "(left out)", not the record (nor a digest)."""
    from pipefile.ui.compare import _value

    assert _value({"path": "build/m-3.json", "left_out": True}) == "(left out)"
    assert _value({"path": "x", "kind": "file", "digest": "ab"}) == "ab"


def _ui_closed(socks: list) -> int:
    """How many of `socks` the server has closed (a read gives end of file, or a reset, at once)."""

    n = 0
    for s in socks:
        s.setblocking(False)
        try:
            n += s.recv(1) == b""
        except BlockingIOError:
            pass  # open, nothing sent
        except OSError:
            n += 1
    return n


def _ui_answers_within(ui, seconds: float) -> bool:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if (
                httpx.get(
                    f"{ui.base}/api/pipeline", headers={"Authorization": f"Bearer {ui.token}"}, timeout=2
                ).status_code
                == 200
            ):
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


def _limits(pid: int) -> tuple:
    """A process's open-file limit, (soft, hard), as /proc shows it."""
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return int(soft), int(hard)
    raise AssertionError("no open-file limit in /proc")


def test_the_ui_raises_its_open_file_limit(start, tmp_path):  # noqa: F811
    # Before: `pipe ui` kept the soft open-file limit it was started with (often 1,024) though
    # the hard one allowed more, and its connection cap is a share of it. It now raises the
    # soft limit to the hard one (at most leases.SERVER_FILES); a hard limit set is kept.
    Repo(tmp_path).pipefile("steps: {}\n")
    ui = start(tmp_path, files=(256, 512))
    assert _limits(ui.proc.pid) == (512, 512)


def test_idle_connections_never_leave_the_ui_without_files(start, tmp_path):  # noqa: F811
    # Before: `pipe ui` (reachable from others with --allow-remote) held every connection
    # that sent nothing for ever; 300 of them under `ulimit -n 256` left it no file to
    # accept with, and it answered no one until they went away. It now caps them (default:
    # 3/4 of the open-file limit) and closes those on which no request begins for
    # --idle-timeout, as pipe serve does, with the same code.
    import socket

    repo = Repo(tmp_path)
    repo.pipefile("steps: {}\n")
    ui = start(tmp_path, "--idle-timeout", "2s", files=256)
    socks = []
    try:
        for _ in range(300):
            try:
                socks.append(socket.create_connection(("127.0.0.1", ui.port), timeout=5))
            except OSError:
                pass
        # those past the cap are closed as they open, the rest within two idle timeouts;
        # it answers meanwhile or after
        assert _ui_answers_within(ui, 10)
        deadline = time.monotonic() + 10
        while _ui_closed(socks) < len(socks):
            assert time.monotonic() < deadline, f"{len(socks) - _ui_closed(socks)} idle connections held"
            time.sleep(0.2)
    finally:
        for s in socks:
            s.close()


def test_the_ui_closes_connections_on_which_no_request_begins(start, tmp_path):  # noqa: F811
    import socket

    repo = Repo(tmp_path)
    repo.pipefile("steps: {}\n")
    ui = start(tmp_path, "--idle-timeout", "1s", "--max-connections", "20")
    socks = [socket.create_connection(("127.0.0.1", ui.port), timeout=5) for _ in range(30)]
    try:
        time.sleep(0.5)
        assert _ui_closed(socks) == 10  # past the cap: closed as they open
        deadline = time.monotonic() + 10
        while _ui_closed(socks) < len(socks):  # the rest: within two idle timeouts
            assert time.monotonic() < deadline, f"{len(socks) - _ui_closed(socks)} idle connections held"
            time.sleep(0.2)
        # its head sent a byte at a time, slower than the timeout allows
        slow = socket.create_connection(("127.0.0.1", ui.port), timeout=5)
        for byte in b"GET /api/pipeline HTTP/1.1\r\n":
            try:
                slow.sendall(bytes([byte]))
            except OSError:
                break
            time.sleep(0.2)
        assert _ui_closed([slow]) == 1
        slow.close()
    finally:
        for s in socks:
            s.close()
    assert _ui_answers_within(ui, 10)


MATRIX_STEP = """\
steps:
  prep:
    command: echo x > x.txt
    outputs: {out: x.txt}
  train:
    matrix:
      lr: [0.1, 0.2, 0.3]
    inputs:
      lr: {type: number}
      x: ${{steps.prep.outputs.out}}
    command: mkdir -p ${{outputs.model}} && echo ${{inputs.lr}} > ${{outputs.model}}/m.txt
    outputs: {model: build/model/}
"""


def test_a_matrix_step_s_node_shows_its_axis_and_gathered_output_not_its_first_task_s(tmp_path):
    # The group node was its first task's copy: its properties said lr 0.1 and the output
    # build/model/lr=0.1, as if that were the step (whose lr takes three values, and whose
    # output is the folder build/model gathering the three).
    from pipefile.ui import pipeline_view

    (tmp_path / "Pipefile").write_text(MATRIX_STEP)
    nodes = {n["name"]: n for n in pipeline_view.pipeline_view(str(tmp_path / "Pipefile"))["graph"]["nodes"]}
    group = nodes["train"]
    bindings = {i["name"]: i["binding"] for i in group["inputs"]}
    assert bindings == {"lr": "matrix: 0.1, 0.2, 0.3", "x": "${{steps.prep.outputs.out}}"}
    assert [(o["name"], o["path"]) for o in group["outputs"]] == [("model", "build/model")]
    task = nodes["train[lr=0.2]"]  # a task is still itself
    assert {i["name"]: i["binding"] for i in task["inputs"]}["lr"] == 0.2
    assert task["outputs"][0]["path"] == "build/model/lr=0.2"


def test_a_foreach_step_s_node_lists_its_items_by_path(tmp_path):
    # (a foreach item is kept as (path, type): the node listed "['data/im1.png', 'uri_file']")
    from pipefile.ui import pipeline_view

    (tmp_path / "data").mkdir()
    for i in range(12):
        (tmp_path / "data" / f"im{i:02}.png").write_text(str(i))
    (tmp_path / "Pipefile").write_text(
        "steps:\n  score:\n    foreach: ${{inputs.images}}\n    inputs: {images: data/}\n"
        "    command: cat ${{inputs.images}} > ${{outputs.scores}}\n    outputs: {scores: build/scores/}\n"
    )
    nodes = {n["name"]: n for n in pipeline_view.pipeline_view(str(tmp_path / "Pipefile"))["graph"]["nodes"]}
    binding = nodes["score"]["inputs"][0]["binding"]
    assert binding.startswith("foreach: data/im00.png, data/im01.png,") and binding.endswith("... (12 values)"), binding
    assert nodes["score"]["outputs"][0]["path"] == "build/scores"


BIG = "1" * 65  # (an integer of more characters than the loader reads as a number)


@pytest.mark.parametrize(
    "value, said",
    [
        ("NaN", "the value of param 'lr' is NaN"),
        ("Infinity", "the value of param 'lr' is Infinity"),
        ("-Infinity", "the value of param 'lr' is -Infinity"),
        ("1e999", "the value of param 'lr' is Infinity"),
        ("[1, NaN]", "the value of param 'lr' (its value[1]) is NaN"),
        (BIG, "the value of param 'lr' is an integer of 65 digits"),
    ],
)
def test_a_param_set_to_nan_infinity_or_a_too_long_integer_is_a_400_naming_it_nothing_written(
    start,  # noqa: F811
    tmp_path,
    value,
    said,
):
    # Python's JSON reads NaN and Infinity, which strict JSON has none of: set_param wrote
    # `lr: .nan` (a param that `pipe run -p lr=nan` refuses), and a 65-digit integer came
    # back as "a bug of pipe's editor" (the loader reads it as text).
    repo = Repo(tmp_path)
    text = "params:\n  lr: 0.01\nsteps:\n  a:\n    command: echo ${{params.lr}} > ${{outputs.o}}\n    outputs: {o: o.txt}\n"
    repo.pipefile(text)
    ui = start(repo.root)
    body = '{"operations": [{"op": "set_param", "name": "lr", "value": %s}]}' % value
    for route in ("/api/preview", "/api/save"):
        r = ui.http.post(route, content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 400, (route, r.text)
        doc = r.json()
        assert said in doc["error"]["message"] and doc["error"]["hint"], doc
        assert doc["operation"] == 0 and doc["error"]["file"] == "Pipefile"
    assert (tmp_path / "Pipefile").read_text() == text
    # a step's field too, and an added step's value, named by where it sits
    bad = '{"operations": [{"op": "set", "step": "a", "field": "resources.cpus", "value": NaN}]}'
    r = ui.http.post("/api/save", content=bad, headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "resources.cpus of step 'a' is NaN" in r.json()["error"]["message"], r.text
    bad = (
        '{"operations": [{"op": "add_step", "name": "b", "step": {"command": "x", "resources": {"gpus": -Infinity}}}]}'
    )
    r = ui.http.post("/api/preview", content=bad, headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "'step.resources.gpus' is -Infinity" in r.json()["error"]["message"], r.text
    assert (tmp_path / "Pipefile").read_text() == text


def test_a_matrix_group_node_carries_its_axes_values_as_written_and_set_edits_them(start, tmp_path):  # noqa: F811
    # The group node showed its values only as text (`matrix: 0.01, 0.1`): the page had no
    # values to edit. It carries them now, as the Pipefile writes them (not the combinations
    # that include:/exclude: make), and `set matrix.AXIS` writes them.
    repo = Repo(tmp_path)
    text = (
        "steps:\n  train:\n    matrix:\n      lr: [0.01, 0.1]\n      depth: [3, 5]\n"
        "      include: [{lr: 0.5, depth: 9}]\n    inputs: {lr: {type: number}, depth: {type: integer}}\n"
        "    command: echo ${{inputs.lr}} ${{inputs.depth}}\n"
    )
    repo.pipefile(text)
    ui = start(repo.root)
    doc = ui.get("/api/pipeline").json()
    group = next(n for n in doc["graph"]["nodes"] if n["kind"] == "group")
    assert group["matrix"] == {"lr": [0.01, 0.1], "depth": [3, 5]}
    op = {"op": "set", "step": "train", "field": "matrix.depth", "value": [3, 5, 7]}
    r = ui.post("/api/save", {"base": doc["digest"], "operations": [op]})
    assert r.status_code == 200, r.text
    assert "depth: [3, 5, 7]\n" in (tmp_path / "Pipefile").read_text()
    r = ui.post("/api/preview", {"operations": [dict(op, field="matrix.dpth")]})
    assert r.status_code == 422 and "did you mean 'depth'" in (r.json()["error"]["hint"] or ""), r.text


def test_a_gc_pause_that_ends_on_one_thread_leaves_another_thread_s_pause_on():
    # The designer pauses the cyclic GC while it loads a page's pipeline, and while it reads
    # an edited text in the background: each pause turned the GC back on when it ended, also
    # under another thread's pause still under way (a 10,000-step page load walked again).
    import gc
    import threading

    from pipefile.edit import apply_edits
    from pipefile.ui import pipeline_view

    assert gc.isenabled()
    began, release = threading.Event(), threading.Event()

    def background():
        with pipeline_view.gc_paused():
            began.set()
            release.wait(10)

    t = threading.Thread(target=background)
    t.start()
    began.wait(10)
    try:
        with pipeline_view.gc_paused():  # (the page's load, begun while the other is paused)
            release.set()
            t.join(10)
            assert not gc.isenabled()
            apply_edits("steps:\n  a: {command: echo}\n", [{"op": "set_param", "name": "x", "value": 1}])
            assert not gc.isenabled()  # (an edit's own pause ended inside: still off)
    finally:
        release.set()
        t.join(10)
    assert gc.isenabled()
