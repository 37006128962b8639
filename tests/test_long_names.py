"""Step and task names used as file names, bounded by construction (pipefile/filenames.py).

A Pipefile that validates runs: a task's name longer than a file name can be (255 bytes)
still gets its log, metrics stream, staging leaf and beside folder; every reader (pipe logs,
pipe jobs show, pipe report, pipe ui) finds them by the task's name. An output path the user
wrote too long is a located error (exit 2), never a failure at run time.
"""

from __future__ import annotations

import json
import os

import pytest
from workspace_repo import Repo

from pipefile.filenames import MAX_BYTES, file_name, log_file


def _bytes(text: str) -> int:
    return len(text.encode())


# --- the mapping ------------------------------------------------------------------------------
def test_a_name_that_fits_is_itself_and_a_long_one_is_bounded_deterministic_and_distinct():
    for name in ("train", "train[lr=0.1]", "a" * 251, "é" * 125):
        assert file_name(name, ".log") == name + ".log"
    long = [
        "x" * 300,
        "x" * 299 + "y",
        "é" * 200,
        "t[config=" + "a" * 400 + ",seed=1]",
        "t[config=" + "a" * 400 + ",seed=2]",
    ]
    got = [file_name(n, ".log") for n in long]
    assert len(set(got)) == len(long)
    for n, g in zip(long, got):
        assert _bytes(g) <= MAX_BYTES and g.endswith(".log") and g == file_name(n, ".log")
        assert g.startswith(n[:50])  # readable: the name's beginning
        g.encode()  # a character never cut in half
    # A '/' stays a folder, each part bounded; a huge suffix is hashed with the name.
    nested = file_name("o" * 300 + "/inner", ".log")
    assert nested.endswith("/inner.log") and _bytes(nested.split("/")[0]) <= MAX_BYTES
    assert _bytes(file_name("n" * 300, "." + "e" * 300)) <= MAX_BYTES
    assert log_file("s/t") == "s/t.log"


# --- matrix tasks with long values ------------------------------------------------------------
def test_a_matrix_with_long_values_runs_and_its_logs_are_found(repo: Repo):
    a, b = "a" * 120, "b" * 200
    repo.pipefile(
        f"""\
        version: 1
        steps:
          train:
            matrix: {{config: [{a}, {b}], seed: [1, 2]}}
            inputs: {{config: {{type: string}}, seed: {{type: integer}}}}
            outputs: {{o: "out/${{{{inputs.seed}}}}-${{{{inputs.config}}}}.txt"}}
            command: "echo said ${{{{inputs.seed}}}}; echo ${{{{inputs.seed}}}} > ${{{{outputs.o}}}}"
        """
    )
    r = repo.pipe("run")
    assert r.code == 0, r
    assert repo.read(f"out/2-{a}.txt").strip() == "2" and repo.read(f"out/1-{b}.txt").strip() == "1"
    task = f"train[config={a},seed=2]"
    logs = repo.pipe("logs", "1", task)
    assert logs.code == 0 and logs.out == "said 2\n", logs
    shown = repo.pipe("jobs", "show", "1", "--json").json
    assert {s["step"] for s in shown["steps"]} >= {task, f"train[config={b},seed=1]"}
    assert set(repo.outcomes().values()) == {"fresh"}  # the second run: fresh


def test_long_step_output_and_file_names_run_and_run_again(repo: Repo):
    step, out, leaf = "s" * 120, "o" * 100, "f" * 100 + ".txt"
    repo.pipefile(
        f"""\
        version: 1
        params: {{v: 1}}
        steps:
          {step}:
            command: "echo ${{{{params.v}}}} > ${{{{outputs.{out}}}}}"
            outputs: {{{out}: build/{leaf}}}
        """
    )
    assert repo.pipe("run").code == 0
    r = repo.pipe("run", "-p", "v=2")  # the previous output is moved aside, then replaced
    assert r.code == 0, r
    assert repo.read(f"build/{leaf}").strip() == "2"
    assert os.listdir(repo.root / ".pipe" / "stage") == []


# --- a task name over 255 bytes: every reader finds its log ------------------------------------
LONG = "step_" + "n" * 295  # 300 bytes

LONG_PIPEFILE = f"""\
    version: 1
    steps:
      {LONG}:
        command: >-
          echo hello from the long one &&
          python3 -c "import pipefile; pipefile.log_metric('loss', 0.25)" &&
          echo x > ${{{{outputs.o}}}}
        outputs: {{o: build/o.txt}}
      after:
        command: cat ${{{{inputs.i}}}} > ${{{{outputs.o}}}}
        inputs: {{i: "${{{{steps.{LONG}.outputs.o}}}}"}}
        outputs: {{o: build/after.txt}}
    """


def test_a_task_name_over_255_bytes_runs_and_pipe_logs_jobs_show_and_report_name_it(repo: Repo):
    repo.pipefile(LONG_PIPEFILE)
    r = repo.pipe("run")
    assert r.code == 0, r
    logs = repo.pipe("logs", "1", LONG)
    assert logs.code == 0 and logs.out == "hello from the long one\n", logs
    every = repo.pipe("logs", "1")
    assert f"==> {LONG} <==\nhello from the long one\n" in every.out
    followed = repo.pipe("logs", "1", "--follow")  # lists the job's folder: the note names the task
    assert followed.code == 0 and f"==> {LONG} <==" in followed.out, followed
    assert json.loads(repo.pipe("logs", "1", "--json").out)[LONG] == "hello from the long one\n"
    shown = repo.pipe("jobs", "show", "1", "--json").json
    step = next(s for s in shown["steps"] if s["step"] == LONG)
    assert step["log"] and (repo.root / step["log"]).read_text() == "hello from the long one\n"
    assert all(_bytes(p) <= MAX_BYTES for p in step["log"].split("/"))
    assert shown["metrics"][f"{LONG}.loss"] == 0.25  # the metrics stream beside the log


def test_the_job_page_shows_the_log_tail_of_a_failed_long_task(repo: Repo):
    name = "long" + "n" * 296  # (no '_': Markdown escapes it)
    repo.pipefile(
        f"""\
        version: 1
        steps:
          {name}:
            command: echo the reason it failed; exit 3
            outputs: {{o: build/o.txt}}
        """
    )
    assert repo.pipe("run").code == 1
    page = repo.pipe("report", "1", "--format", "markdown", "-o", "page.md")
    assert page.code == 0, page
    text = repo.read("page.md")
    assert f"### Failed: {name}" in text and "the reason it failed" in text


def test_a_name_whose_log_fits_but_whose_metrics_stream_would_not(repo: Repo):
    name = "m" * 245  # NAME.log is 249 bytes; NAME.metrics.jsonl would be 259
    repo.pipefile(
        f"""\
        version: 1
        steps:
          {name}:
            command: python3 -c "import pipefile; pipefile.log_metric('acc', 0.5)" && echo > ${{{{outputs.o}}}}
            outputs: {{o: build/o.txt}}
        """
    )
    assert repo.pipe("run").code == 0
    assert (repo.root / ".pipe" / "jobs" / "1" / f"{name}.log").exists()  # the name itself, as ever
    assert repo.pipe("jobs", "show", "1", "--json").json["metrics"][f"{name}.acc"] == 0.5


def test_pipe_ui_s_log_route_finds_the_log_of_a_long_task(repo: Repo):
    from test_ui_server import Ui

    repo.pipefile(LONG_PIPEFILE)
    assert repo.pipe("run").code == 0
    ui = Ui(repo.root)
    try:
        log = ui.get(f"/api/jobs/1/steps/{LONG}/log")
        assert log.status_code == 200 and "hello from the long one" in log.text, log.text
        job = ui.get("/api/jobs/1").json()
        assert LONG in {s["step"] for s in job["steps"]}
    finally:
        ui.close()


# --- nested steps and map tasks ---------------------------------------------------------------
def test_an_inner_step_of_a_long_named_pipeline_use(repo: Repo):
    outer = "u" * 300
    repo.pipefile(
        f"""\
        version: 1
        components:
          two:
            type: pipeline
            outputs: {{result: uri_file}}
            steps:
              first:
                command: echo one && echo 1 > ${{{{outputs.o}}}}
                outputs: {{o: }}
              second:
                command: echo two && cat ${{{{inputs.i}}}} > ${{{{outputs.o}}}}
                inputs: {{i: "${{{{steps.first.outputs.o}}}}"}}
                outputs: {{o: "${{{{parent.outputs.result}}}}"}}
        steps:
          {outer}:
            component: two
            outputs: {{result: build/result.txt}}
        """
    )
    r = repo.pipe("run")
    assert r.code == 0, r
    assert repo.read("build/result.txt").strip() == "1"
    assert repo.pipe("logs", "1", f"{outer}/first").out == "one\n"
    assert f"==> {outer}/second <==\ntwo\n" in repo.pipe("logs", "1", "--follow").out


def test_map_tasks_over_files_with_long_names(repo: Repo):
    names = ["p" * 250, "q" * 251 + ".csv"]
    for n in names:
        repo.write(f"data/{n}", "row\n")
    repo.pipefile(
        """\
        version: 1
        steps:
          score:
            foreach: ${{inputs.items}}
            inputs: {items: data/}
            command: echo scoring && cp ${{inputs.items}} ${{outputs.o}}
            outputs: {o: build/scored/}
        """
    )
    r = repo.pipe("run")
    assert r.code == 0, r
    for n in names:
        assert repo.read(f"build/scored/{n}") == "row\n"
        assert repo.pipe("logs", "1", f"score[{n}]").out == "scoring\n"


# --- an output on another file system: the beside folder --------------------------------------
def test_a_long_named_task_whose_output_is_on_another_file_system(repo: Repo):
    from test_staging import _tmpfs

    step = "b" * 300
    with _tmpfs(repo.root / "build"):
        repo.pipefile(
            f"""\
            version: 1
            params: {{v: 1}}
            steps:
              {step}:
                command: echo ${{{{params.v}}}} > ${{{{outputs.o}}}}
                outputs: {{o: build/out.txt}}
            """
        )
        assert repo.pipe("run").code == 0
        r = repo.pipe("run", "-p", "v=2")
        assert r.code == 0, r
        assert repo.read("build/out.txt").strip() == "2"
        assert [e for e in os.listdir(repo.root / "build") if e.startswith(".pipe-")] == []


# --- an output path the user wrote too long: a located error ----------------------------------
@pytest.mark.parametrize(
    "output",
    [
        "build/" + "L" * 300 + ".txt",
        "build/" + "d" * 256 + "/x.txt",
        "build/" + "é" * 130,  # 260 bytes in 130 characters
    ],
)
def test_an_output_path_with_a_part_over_255_bytes_is_refused_where_it_is_written(repo: Repo, output: str):
    repo.pipefile(
        f"""\
        version: 1
        steps:
          make:
            command: echo x > ${{{{outputs.o}}}}
            outputs: {{o: "{output}"}}
        """
    )
    for cmd in ("validate", "run"):
        r = repo.pipe(cmd)
        assert r.code == 2, r
        assert "Pipefile:5:" in r.err and "255 bytes" in r.err and "shorten" in r.err, r.err


def test_a_matrix_task_whose_path_would_be_too_long_is_refused_where_it_is_written(repo: Repo):
    repo.pipefile(
        f"""\
        version: 1
        steps:
          train:
            matrix: {{config: [short, {"c" * 260}]}}
            inputs: {{config: {{type: string}}}}
            outputs: {{o: "out/${{{{inputs.config}}}}.txt", folder: out2}}
            command: echo x > ${{{{outputs.o}}}} && mkdir -p ${{{{outputs.folder}}}}
        """
    )
    r = repo.pipe("validate")
    assert r.code == 2, r
    assert "Pipefile:6:" in r.err and "255 bytes" in r.err and "train[config=ccc" in r.err, r.err


def test_an_inner_step_whose_output_is_on_another_file_system(repo: Repo):
    """The beside folder of `OUTER/INNER` is one folder (its '/' was taken for a folder)."""
    from test_staging import _tmpfs

    with _tmpfs(repo.root / "build"):
        repo.pipefile(
            """\
            version: 1
            params: {v: 1}
            components:
              one:
                type: pipeline
                inputs: {v: {type: integer}}
                outputs: {result: uri_file}
                steps:
                  inner:
                    command: echo ${{inputs.v}} > ${{outputs.o}}
                    inputs: {v: "${{parent.inputs.v}}"}
                    outputs: {o: "${{parent.outputs.result}}"}
            steps:
              outer:
                component: one
                inputs: {v: "${{params.v}}"}
                outputs: {result: build/result.txt}
            """
        )
        assert repo.pipe("run").code == 0
        r = repo.pipe("run", "-p", "v=2")
        assert r.code == 0, r
        assert repo.read("build/result.txt").strip() == "2"
        assert [e for e in os.listdir(repo.root / "build") if e.startswith(".pipe-")] == []


def test_long_named_map_steps_keep_their_record_and_batch_folders(repo: Repo):
    """`.pipe/maps/STEP.json` and `.pipe/batches/STEP/` of a step named with 300 characters."""
    mapped, batched = "f" * 300, "g" * 300
    for n in ("a", "b"):
        repo.write(f"data/{n}", n)
    repo.pipefile(
        f"""\
        version: 1
        steps:
          {mapped}:
            foreach: ${{{{inputs.items}}}}
            inputs: {{items: data/}}
            command: cp ${{{{inputs.items}}}} ${{{{outputs.o}}}}
            outputs: {{o: build/m/}}
          {batched}:
            foreach: {{over: "${{{{inputs.items}}}}", batch_size: 1}}
            inputs: {{items: data/}}
            command: ls ${{{{inputs.items}}}} > ${{{{outputs.o}}}}
            outputs: {{o: build/b/}}
        """
    )
    r = repo.pipe("run")
    assert r.code == 0, r
    assert len(os.listdir(repo.root / ".pipe" / "maps")) == 1  # the map record was written
    repo.write("data/c", "c")
    ran = {n for n, o in repo.outcomes().items() if o == "ran"}
    assert ran == {f"{mapped}[c]", f"{batched}[batch-3]"}
    assert repo.read("build/m/c") == "c" and repo.read("build/b/batch-3").split() == ["c"]


def test_a_map_over_a_list_param_whose_value_is_too_long_for_a_file_name(repo: Repo):
    repo.pipefile(
        """\
        version: 1
        params: {cities: {type: list, default: [paris]}}
        steps:
          visit:
            foreach: ${{inputs.c}}
            inputs: {c: "${{params.cities}}"}
            command: echo ${{inputs.c}} > ${{outputs.o}}
            outputs: {o: build/cities/}
        """
    )
    r = repo.pipe("run", "-p", "cities=" + "n" * 300 + ",rome")
    assert r.code == 2, r
    assert "Pipefile:8:" in r.err and "255 bytes" in r.err and "hint: shorten the values" in r.err, r.err
    assert repo.pipe("run", "-p", "cities=" + "n" * 200 + ",rome").code == 0
