"""Small known faults, each with the test that failed before its fix: a store or remote path
that names a plain file, and the others of the same batch."""

from __future__ import annotations

import re

import pytest
from workspace_repo import Repo

ONE_STEP = """
steps:
  a:
    command: echo hi > ${{outputs.o}}
    outputs: {o: a.txt}
"""


def test_a_remote_path_that_is_a_plain_file_is_bad_input_named_with_its_fix(repo: Repo):
    """push/pull --remote naming a file (or a path through one) exited 1 with fsspec's
    NotADirectoryError on pipe-remote.json: the path is the user's to fix (exit 2)."""
    repo.pipefile(ONE_STEP)
    repo.pipe("run", check=True)
    repo.write("plain", "not a folder\n")
    for cmd, where in (("push", "plain"), ("pull", "plain"), ("push", "plain/sub/x")):
        got = repo.pipe(cmd, "--remote", str(repo.root / where))
        assert got.code == 2, str(got)
        assert f"{repo.root / 'plain'} is a file, not a folder" in got.err, str(got)
        assert "hint: name a folder" in got.err, str(got)
    assert repo.read("plain") == "not a folder\n"


@pytest.mark.xdist_group("ray")
def test_a_ray_store_that_is_a_plain_file_is_bad_input(repo: Repo):
    """pipe run --executor ray --store FILE (or PIPE_RAY_STORE=FILE) exited 1."""
    pytest.importorskip("ray")
    repo.pipefile(ONE_STEP)
    repo.write("plain", "not a folder\n")
    got = repo.pipe("run", "--executor", "ray", "--store", "./plain", timeout=120)
    assert got.code == 2, str(got)
    assert f"{repo.root / 'plain'} is a file, not a folder" in got.err, str(got)
    assert not repo.exists("a.txt")


REFUSED_OUTPUTS = """
steps:
  c:
    command: mkfifo ${{outputs.o}}
    outputs: {o: fifo.txt}
  e:
    command: ln -s /etc/passwd ${{outputs.o}}
    outputs: {o: oute.txt}
  f:
    command: mkdir -p ${{outputs.o}} && ln -s ../../../x ${{outputs.o}}/y
    outputs: {o: outf}
"""


def _failures(err: str) -> dict:
    """{step: its failure's line and hint}, less what differs by executor (times, the node)."""
    import re

    out = {}
    for m in re.finditer(r"step '(\w)' failed after [\d.]+s: (?:on node [^:]+: )?(.*)\n  hint: (.*)", err):
        out[m.group(1)] = (m.group(2), m.group(3))
    return out


@pytest.mark.xdist_group("ray")
def test_the_ray_executor_names_a_refused_output_as_the_local_one_does(tmp_path):
    """The Ray worker hashed the staging path and named it (output '.pipe/stage/e.o.oute.txt'
    is itself a symbolic link), a path the user never wrote; and a FIFO output was 'did not
    write its output', not refused as one."""
    pytest.importorskip("ray")
    runs = {}
    for executor in ("local", "ray"):
        r = Repo(tmp_path / executor)
        r.root.mkdir()
        r.pipefile(REFUSED_OUTPUTS)
        got = r.pipe("run", "-k", "--executor", executor, timeout=120)
        assert got.code == 1, str(got)
        assert ".pipe/stage" not in "".join(f"{m}{h}" for m, h in _failures(got.err).values()), str(got)
        runs[executor] = _failures(got.err)
    assert set(runs["local"]) == {"c", "e", "f"}, runs
    assert runs["ray"] == runs["local"]


_ENUM_PIPELINE = """\
type: pipeline
inputs:
  mode:
    type: string
    default: {default}
    enum: [a, b]
jobs:
  j:
    command: echo ${{{{inputs.m}}}} > ${{{{outputs.o}}}}
    inputs:
      m: ${{{{parent.inputs.mode}}}}
    outputs:
      o: {{type: uri_file}}
"""


def test_an_azureml_pipeline_input_is_held_to_its_enum(repo: Repo):
    """A pipeline-level input's enum: was ignored (a component input's is checked): default c
    of enum [a, b] ran, and so did -p mode=zz."""
    repo.write("pipeline.yml", _ENUM_PIPELINE.format(default="c"), dedent=False)
    for cmd in ("validate", "run"):
        got = repo.pipe(cmd, "-f", "pipeline.yml")
        assert got.code == 2, str(got)
        assert "pipeline.yml:5:14: pipeline input 'mode' is 'c', which is not one of its enum values ['a', 'b']" in (
            got.err
        ), str(got)
        assert "hint: give a default from the enum, or add 'c' to the enum (at line 6)" in got.err, str(got)
    assert not repo.exists(".azureml-outputs")
    repo.write("pipeline.yml", _ENUM_PIPELINE.format(default="a"), dedent=False)
    got = repo.pipe("run", "-f", "pipeline.yml", "-p", "mode=zz")
    assert got.code == 2, str(got)
    assert "pipeline.yml:4:5: -p mode=zz: param 'mode' is 'zz', which is not one of its enum values" in got.err
    assert "hint: give one of: a, b" in got.err, str(got)
    repo.pipe("run", "-f", "pipeline.yml", "-p", "mode=b", check=True)
    assert repo.read(".azureml-outputs/pipeline/j/o/o").strip() == "b"


def test_an_azureml_pipeline_input_enum_that_is_no_list_is_refused(repo: Repo):
    repo.write("pipeline.yml", _ENUM_PIPELINE.format(default="a").replace("[a, b]", "a"), dedent=False)
    got = repo.pipe("validate", "-f", "pipeline.yml")
    assert got.code == 2, str(got)
    assert "pipeline.yml:6:11: pipeline input 'mode': enum must be a non-empty list" in got.err, str(got)


_MAP = """\
version: 1
params:
  cities: {type: list, default: [a, b, c, d, e]}
steps:
  each:
    foreach: ${{inputs.d}}
    inputs: {d: data}
    command: cp ${{inputs.d}} ${{outputs.out}}
    outputs: {out: build/out/}
  city:
    foreach: ${{inputs.c}}
    inputs: {c: "${{params.cities}}"}
    command: echo ${{inputs.c}} > ${{outputs.out}}
    outputs: {out: build/cities/}
"""


def test_a_map_of_more_items_than_its_limit_is_refused_located_before_planning(repo: Repo):
    """A foreach listed and planned every item however many (a folder of millions planned
    until memory ran out). The limit (500,000 tasks; PIPE_FOREACH_MAX_TASKS sets another:
    4 here, so the test need not make half a million files) is on tasks: batch_size fits."""
    repo.pipefile(_MAP)
    for i in range(6):
        repo.write(f"data/f{i}.txt", f"{i}\n")
    small = {"PIPE_FOREACH_MAX_TASKS": "4"}
    got = repo.pipe("run", env=small)
    assert got.code == 2, str(got)
    assert (
        "Pipefile:6:5: foreach of step 'each' maps over 6 items (the entries of 'data'): 6 tasks, more than the 4 "
        "a map may make" in got.err
    ), str(got)
    assert "batch_size: 2 makes 4 tasks or fewer" in got.err, str(got)
    assert "Pipefile:11:5: foreach of step 'city' maps over 5 items (the values of list param 'cities')" in got.err
    assert "hint: split the list into several list params" in got.err, str(got)
    assert not repo.exists("build")
    got = repo.pipe("run", env={"PIPE_FOREACH_MAX_TASKS": "many"})
    assert got.code == 2 and "PIPE_FOREACH_MAX_TASKS='many' is not a number of tasks" in got.err, str(got)
    batched = _MAP.replace("foreach: ${{inputs.d}}", "foreach: {over: '${{inputs.d}}', batch_size: 2}")
    repo.pipefile(batched.replace("[a, b, c, d, e]", "[a, b, c, d]").replace("cp ${{inputs.d}}", "cp -r ${{inputs.d}}"))
    repo.pipe("run", env=small, check=True)  # 3 batches, 4 values
    assert len(list((repo.root / "build/out").iterdir())) == 3
    repo.pipe("run", check=True)  # the default limit


_ENDLESS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "


def _apply_sql(tmp_path, sql: str, *more: str):
    import os
    import subprocess
    import sys

    from workspace_repo import REPO_ROOT

    pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    t1 = tmp_path / "t1.csv"
    t1.write_text("a\n1\n2\n")
    cmd = [sys.executable, "-m", "stdlib_components.apply_sql", "--t1", str(t1), "--query", sql]
    cmd += ["--result", str(tmp_path / "r"), *more]
    env = dict(os.environ, PYTHONPATH=REPO_ROOT)
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.parametrize(
    ("sql", "more", "says"),
    [
        # counts for ever in SQLite: only the clock stops it
        (_ENDLESS + "SELECT count(*) FROM c", ["--timeout-seconds", "1"], "query: stopped after 1 s (timeout_seconds)"),
        # sorts for ever in SQLite's heap (or its temp files)
        (_ENDLESS + "SELECT x FROM c ORDER BY -x", ["--memory-mb", "20"], "more than 20 MB (memory_mb)"),
        # rows faster than the clock: measured as they are fetched
        (_ENDLESS + "SELECT x FROM c", ["--memory-mb", "20"], "more than 20 MB (memory_mb)"),
    ],
)
def test_apply_sql_stops_an_endless_query_with_the_fix(tmp_path, sql, more, says):
    """A recursive CTE without a stop ran for ever (or until memory ran out)."""
    import time

    t0 = time.monotonic()
    got = _apply_sql(tmp_path, sql, *more)
    assert got.returncode == 2, got.stderr
    assert says in got.stderr and "WHERE n < 1000" in got.stderr, got.stderr
    assert time.monotonic() - t0 < 60
    assert not (tmp_path / "r").exists()


def test_apply_sql_holds_sqlite_to_its_memory_while_the_clock_runs(tmp_path):
    """group_concat of an endless CTE grew one value in SQLite's heap toward 1 GB; held to
    memory_mb, SQLite stops growing it (and says so only at the end), so the clock stops it."""
    import json
    import os
    import subprocess
    import sys

    from workspace_repo import REPO_ROOT

    pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    t1 = tmp_path / "t1.csv"
    t1.write_text("a\n1\n")
    sql = _ENDLESS + "SELECT length(group_concat(x)) FROM c"
    args = ["--t1", str(t1), "--query", sql, "--result", str(tmp_path / "r"), "--memory-mb", "20"]
    # The peak memory of that process alone: a child of a process of its own.
    probe = (
        "import json, resource, subprocess, sys; "
        "p = subprocess.run([sys.executable, '-m', 'stdlib_components.apply_sql', *sys.argv[1:]], capture_output=True,"
        " text=True); "
        "print(json.dumps([p.returncode, p.stderr, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss]))"
    )
    env = dict(os.environ, PYTHONPATH=REPO_ROOT)
    out = subprocess.run(
        [sys.executable, "-c", probe, *args, "--timeout-seconds", "6"], capture_output=True, text=True, env=env
    )
    rc, err, peak_kb = json.loads(out.stdout)
    assert rc == 2 and "query: stopped after 6 s (timeout_seconds)" in err, (out.stdout, out.stderr)
    # (pandas and pyarrow: ~130 MB here; unbounded, the value grew ~45 MB a second, to 1 GB)
    assert peak_kb < 200_000, peak_kb


def test_apply_sql_bounds_are_params_of_the_component(repo: Repo):
    """timeout_seconds and memory_mb are the component's inputs (documented, defaulted); a
    bounded query runs within them; a bound that is no positive number is refused."""
    pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    repo.write("t1.csv", "a\n1\n2\n")
    step = """\
        steps:
          q:
            component: std/apply_sql@1
            inputs: {t1: t1.csv, query: "%s"%s}
            outputs: {result: r.parquet}
        """
    repo.pipefile(step % (_ENDLESS + "SELECT count(*) FROM c", ", timeout_seconds: 1"))
    got = repo.pipe("run")
    assert got.code == 1 and "query: stopped after 1 s (timeout_seconds)" in got.err, str(got)
    repo.pipefile(step % (_ENDLESS.replace("FROM c)", "FROM c WHERE x < 1000)") + "SELECT count(*) AS n FROM c", ""))
    repo.pipe("run", check=True)
    repo.pipefile(step % ("SELECT 1", ", memory_mb: 0"))
    got = repo.pipe("run")
    assert got.code == 1 and "memory_mb: 0 is not a positive number" in got.err, str(got)


def test_the_designer_says_a_run_waits_for_the_workspace_lock_and_who_holds_it(tmp_path):
    """A run started from the page while another pipe held the workspace had no job, and the
    page gave up after 150 s without a word; GET /api/runs/ID now says it waits, and for
    which process, for as long as it does."""
    import os
    import signal
    import time

    pytest.importorskip("httpx")
    pytest.importorskip("fastapi")
    from test_ui_server import Ui, wait_run

    repo = Repo(tmp_path / "ws")
    repo.root.mkdir()
    repo.pipefile(ONE_STEP)
    repo.pipe("run", check=True)  # (.pipe/ made)
    holder = _hold_workspace(repo.root)
    ui = None
    try:
        ui = Ui(repo.root)
        started = ui.post("/api/run", {"force": True}).json()
        assert started["job"] is None, started
        said = f"waiting for another pipe process (pid {holder.pid}) to finish in this workspace"
        assert said in (started["waiting"] or ""), started
        assert started["holder_pid"] == holder.pid
        time.sleep(1)
        doc = ui.get(f"/api/runs/{started['run']}").json()
        assert doc["state"] == "running" and doc["job"] is None and said in doc["waiting"], doc
        assert doc["holder_pid"] == holder.pid and doc["seconds"] >= 1, doc
        os.kill(holder.pid, signal.SIGTERM)
        holder.wait(10)
        done = wait_run(ui, started["run"], 60)
        assert done["exit_code"] == 0 and isinstance(done["job"], int), done
        assert done["waiting"] is None and done["holder_pid"] is None, done
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        holder.stdout.close()
        if ui is not None:
            ui.close()


def _hold_workspace(root):
    """Another pipe process holding the workspace: the same flock, its pid in the file."""
    import subprocess
    import sys

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time; fd = os.open('.pipe/lock', os.O_RDWR | os.O_CREAT); "
            "fcntl.flock(fd, fcntl.LOCK_EX); os.pwrite(fd, b'%d\\n' % os.getpid(), 0); "
            "print('held', flush=True); time.sleep(600)",
        ],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_the_designer_page_keeps_saying_a_run_waits_for_the_workspace(repo: Repo, opened):
    """The page polled for a job 600 times (150 s), then stopped without a word; it now shows
    what the run waits for, and goes to the job once it begins."""
    import os
    import re
    import signal

    from playwright.sync_api import expect

    repo.pipefile(ONE_STEP)
    repo.pipe("run", check=True)
    holder = _hold_workspace(repo.root)
    try:
        page = opened()
        page.wait_for_selector("[data-testid=canvas][data-laid-out='1']")
        page.click("[data-testid=run]")
        banner = page.locator("[data-testid=run-started]")
        expect(banner).to_contain_text(f"waiting for another pipe process (pid {holder.pid})", timeout=30_000)
        expect(banner).to_contain_text(re.compile(r"\(([3-9]|\d\d+) s so far\)"), timeout=30_000)  # still saying it
        os.kill(holder.pid, signal.SIGTERM)
        holder.wait(10)
        page.wait_for_url(re.compile(r"#/jobs/[^/]+$"), timeout=60_000)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        holder.stdout.close()


HELD = """
steps:
  folder_as_file:
    command: mkdir -p ${{outputs.o}} && echo x > ${{outputs.o}}/f
    outputs: {o: {type: uri_file, path: a.txt}}
  file_as_folder:
    command: rm -rf ${{outputs.o}}; echo x > ${{outputs.o}}
    outputs: {o: {type: uri_folder, path: outb}}
  twice:
    command: echo a > ${{outputs.o}}; echo b > c.txt
    outputs: {o: c.txt}
  reader:
    command: cat ${{inputs.a}}/f ${{inputs.b}} ${{inputs.c}} > ${{outputs.o}}
    inputs: {a: "${{steps.folder_as_file.outputs.o}}", b: "${{steps.file_as_folder.outputs.o}}",
             c: "${{steps.twice.outputs.o}}"}
    outputs: {o: r.txt}
"""


@pytest.mark.xdist_group("ray")
def test_an_output_left_on_the_ray_store_is_checked_as_one_that_lands(tmp_path):
    """An output only cluster steps read stays on the shared store, and was committed as the
    worker found it: a uri_file written as a folder, a uri_folder written as a file, an output
    written twice all succeeded (the local executor, and Ray for one that lands, refuse them)."""
    pytest.importorskip("ray")
    runs = {}
    for executor in ("local", "ray"):
        r = Repo(tmp_path / executor)
        r.root.mkdir()
        r.pipefile(HELD)
        (r.root / "store").mkdir()
        more = ("--executor", "ray", "--store", "./store") if executor == "ray" else ("--executor", "local")
        got = r.pipe("run", "-k", *more, "reader", timeout=120)
        assert got.code == 1, str(got)
        assert "outputs left on the shared store" not in got.err or executor == "ray"
        runs[executor] = {
            m.group(1): m.group(2)
            for m in re.finditer(r"step '(\w+)' failed after [\d.]+s: (?:on node [^:]+: )?(.*)", got.err)
        }
    assert set(runs["local"]) == {"folder_as_file", "file_as_folder", "twice"}, runs
    assert runs["ray"] == runs["local"]
