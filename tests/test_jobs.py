"""Every run is a job: recorded as it goes, listed, shown, its logs read back."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from workspace_repo import PIPE, Repo

PIPEFILE = """
version: 1
name: demo
params:
  n: 1
steps:
  first:
    command: echo first ${{params.n}} && echo ${{params.n}} > ${{outputs.o}}
    outputs: {o: build/first.txt}
    code: [tool.sh]
  second:
    command: sh tool.sh ${{inputs.i}} ${{outputs.o}}
    inputs: {i: "${{steps.first.outputs.o}}"}
    outputs: {o: build/second.txt}
    code: [tool.sh]
"""


@pytest.fixture
def demo(repo: Repo) -> Repo:
    repo.write("tool.sh", 'echo second-log; cat "$1" > "$2"\n')
    repo.pipefile(PIPEFILE)
    return repo


def test_each_run_is_a_job_with_params_snapshot_and_steps(demo):
    out = demo.run_json()
    assert out["job"] == 1
    demo.run_json("-p", "n=2", "--experiment", "tuning")
    r = demo.pipe("jobs", "--json")
    jobs = r.json["jobs"]
    assert [j["id"] for j in jobs] == [2, 1]
    assert jobs[0]["experiment"] == "tuning" and jobs[1]["experiment"] == "demo"
    assert jobs[0]["params"] == {"n": 2} and jobs[0]["status"] == "succeeded"
    assert jobs[1]["steps"] == {"ran": 2}
    assert "tool.sh" in jobs[0]["code"]
    show = demo.pipe("jobs", "show", "1", "--json").json
    steps = {s["step"]: s for s in show["steps"]}
    assert steps["first"]["outcome"] == "ran" and steps["first"]["exit_code"] == 0
    assert steps["second"]["inputs"]["i"]["path"] == "build/first.txt"
    assert steps["second"]["outputs"]["o"]["digest"]
    assert steps["first"]["key"] and steps["first"]["env"] == "local"
    assert demo.pipe("jobs", "-e", "tuning", "--json").json["jobs"][0]["id"] == 2
    assert demo.pipe("jobs", "-s", "failed", "--json").json["jobs"] == []


def test_job_refs_id_uid_prefix_last_and_helpful_errors(demo):
    demo.run_json()
    demo.run_json()
    uid = demo.pipe("jobs", "--all", "--json").json["jobs"][0]["uid"]  # (job 2 did nothing: hidden without --all)
    assert demo.pipe("jobs", "show", uid[:5], "--json").json["id"] == 2
    assert demo.pipe("jobs", "show", "last", "--json").json["id"] == 2
    assert demo.pipe("jobs", "show", "last~1", "--json").json["id"] == 1
    r = demo.pipe("jobs", "show", "999999999")  # longer than a uid: no prefix can match
    assert r.code == 2 and "no job '999999999'" in r.err and "hint:" in r.err


def test_plain_and_json_logs(demo):
    demo.run_json()
    assert "second-log" in demo.pipe("logs", "last", "second").out
    both = demo.pipe("logs", "last").out
    assert "==> first <==" in both and "first 1" in both and "second-log" in both
    assert demo.pipe("logs", "last", "--json").json["second"] == "second-log\n"
    r = demo.pipe("logs", "last", "secnd")
    assert r.code == 2 and "did you mean 'second'" in r.err


def test_a_killed_run_is_interrupted_and_keeps_finished_steps(demo):
    demo.write("tool.sh", 'touch started; sleep 30; cat "$1" > "$2"\n')
    env = dict(os.environ, PIPE_PLAIN="1")
    p = subprocess.Popen(
        PIPE + ["run"],
        cwd=demo.root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 20
    while not (demo.root / "started").exists():
        assert time.time() < deadline
        time.sleep(0.05)
    # The rows of what ended go in within JobRecorder.URGENT_SECONDS (0.05 s) of the next
    # command's start: a kill after that keeps them.
    time.sleep(0.3)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    show = demo.pipe("jobs", "show", "last", "--json").json
    assert show["status"] == "interrupted"
    assert [(s["step"], s["outcome"]) for s in show["steps"]] == [("first", "ran")]


def test_follow_prints_a_running_jobs_log_until_it_ends(demo):
    demo.write("tool.sh", 'echo one; sleep 1; echo two; cat "$1" > "$2"\n')
    env = dict(os.environ, PIPE_PLAIN="1")
    p = subprocess.Popen(PIPE + ["run"], cwd=demo.root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 20
    while not (demo.root / ".pipe/jobs/1/second.log").exists():
        assert time.time() < deadline
        time.sleep(0.05)
    r = demo.pipe("logs", "1", "second", "--follow")
    p.wait()
    assert r.code == 0 and r.out == "one\ntwo\n"


def test_a_failed_run_is_a_failed_job(demo):
    demo.write("tool.sh", "exit 4\n")
    demo.run_json(expect=1)
    show = demo.pipe("jobs", "show", "last", "--json").json
    assert show["status"] == "failed"
    second = [s for s in show["steps"] if s["step"] == "second"][0]
    assert second["outcome"] == "failed" and second["exit_code"] == 4


def test_dry_runs_record_no_job(demo):
    r = demo.pipe("run", "--dry-run", "--json")
    assert r.code == 0, str(r)  # a dry run that failed would record nothing either
    assert {s["outcome"] for s in r.json["steps"]} == {"would-run"}, str(r)
    assert demo.pipe("jobs", "--json").json["jobs"] == []


def test_a_job_database_from_a_newer_pipe_is_refused_untouched(demo):
    demo.run_json()
    db = sqlite3.connect(demo.root / ".pipe/jobs.db")
    db.execute("UPDATE meta SET v='99' WHERE k='jobs_version'")
    db.commit()
    db.close()
    before = (demo.root / ".pipe/jobs.db").read_bytes()
    r = demo.pipe("jobs")
    assert r.code == 2 and "newer pipe" in r.err
    assert (demo.root / ".pipe/jobs.db").read_bytes() == before


def test_a_metrics_file_that_does_not_parse_keeps_the_step_and_warns(repo):
    repo.pipefile("""
        version: 1
        steps:
          m:
            command: echo '{not json' > ${{outputs.m}}
            outputs: {m: build/metrics.json}
            metrics: [build/metrics.json]
    """)
    r = repo.pipe("run", "--json")
    assert r.code == 0, r
    assert "warning: step 'm': metrics file 'build/metrics.json' is not valid JSON" in r.err
    assert r.json["steps"][0]["outcome"] == "ran"


def test_steps_skipped_after_a_failure_are_in_the_job(repo):
    repo.pipefile("""
        version: 1
        steps:
          a: {command: "echo a > ${{outputs.o}}", outputs: {o: build/a.txt}}
          b: {command: "exit 3", inputs: {i: build/a.txt}, outputs: {o: build/b.txt}}
          c: {command: "cat ${{inputs.i}} > ${{outputs.o}}", inputs: {i: build/b.txt}, outputs: {o: build/c.txt}}
    """)
    repo.run_json(expect=1)
    show = repo.pipe("jobs", "show", "last", "--json").json
    assert {s["step"]: s["outcome"] for s in show["steps"]} == {"a": "ran", "b": "failed", "c": "skipped"}


def test_output_piped_into_head_exits_quietly(demo):
    demo.run_json()
    p = subprocess.run(
        f"{' '.join(PIPE)} jobs show 1 | head -1", shell=True, cwd=demo.root, capture_output=True, text=True
    )
    assert "Error" not in p.stderr and "internal error" not in p.stderr


def test_infinite_metrics_are_dropped(repo):
    repo.pipefile("""
        version: 1
        steps:
          m:
            command: "echo 'good: 1.5\\nhuge: .inf\\nbad: .nan' > ${{outputs.m}}"
            outputs: {m: build/metrics.yaml}
            metrics: [build/metrics.yaml]
    """)
    repo.run_json()
    assert repo.pipe("jobs", "show", "last", "--json").json["metrics"] == {"m.good": 1.5}


def test_a_job_records_the_git_commit_and_whether_the_tree_was_dirty(demo):
    def git(*args):
        subprocess.run(["git", *args], cwd=demo.root, check=True, capture_output=True)

    git("init", "-q")
    git("add", "Pipefile", "tool.sh")
    git("-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-q", "-m", "one")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=demo.root, capture_output=True, text=True).stdout.strip()
    demo.pipe("run", check=True)
    assert demo.pipe("jobs", "show", "last", "--json").json["git"] == {"commit": head, "dirty": False}
    demo.write("tool.sh", demo.read("tool.sh") + "# edited\n")
    demo.pipe("run", check=True)
    assert demo.pipe("jobs", "show", "last", "--json").json["git"] == {"commit": head, "dirty": True}


def test_the_git_state_of_a_job_takes_one_git_process(demo, tmp_path):
    # Every run in a work tree asks git for the commit and whether the tree is dirty: one
    # process for both (a git start is a few ms of a no-op run).
    real_git = shutil.which("git")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "git-calls"
    (bin_dir / "git").write_text(f'#!/bin/sh\necho "$*" >> {calls}\nexec {real_git} "$@"\n')
    (bin_dir / "git").chmod(0o755)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}

    def git(*args):
        subprocess.run([real_git, *args], cwd=demo.root, check=True, capture_output=True)

    git("init", "-q")
    demo.pipe("run", check=True, env=env)  # no commit yet: none recorded
    assert demo.pipe("jobs", "show", "last", "--json").json["git"] is None
    git("add", "Pipefile", "tool.sh")
    git("-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-q", "-m", "one")
    head = subprocess.run([real_git, "rev-parse", "HEAD"], cwd=demo.root, capture_output=True, text=True).stdout
    calls.unlink()
    demo.pipe("run", check=True, env=env)
    assert len(calls.read_text().splitlines()) == 1
    assert demo.pipe("jobs", "show", "last", "--json").json["git"] == {"commit": head.strip(), "dirty": False}
    demo.write("tool.sh", demo.read("tool.sh") + "# edited\n")
    demo.pipe("run", check=True, env=env)
    assert demo.pipe("jobs", "show", "last", "--json").json["git"] == {"commit": head.strip(), "dirty": True}


def test_a_fresh_step_finds_the_job_that_ran_it_through_an_index(tmp_path):
    # Every fresh step of a run asks for the newest earlier job that ran it with its key (for
    # the series that job streamed): without an index that scanned every earlier job's rows,
    # so a no-op got slower with each job recorded.
    from pipefile.jobdb.jobs import JobStore

    store = JobStore(str(tmp_path / "jobs.db"))
    key = "k" * 64
    for job, step in ((1, "train"), (1, "score"), (2, "train")):
        store.db.execute("INSERT INTO job_steps(job_id, step, outcome, key) VALUES(?, ?, 'ran', ?)", (job, step, key))
    for job, step, value in ((1, "train", 0.5), (1, "score", 0.7), (2, "train", 0.25)):
        store.db.execute("INSERT INTO metric_points VALUES(?, ?, 'loss', 0, 0, ?, 1.0)", (job, step, value))
    queries: list = []
    store.db.set_trace_callback(queries.append)
    assert store.series_of_key("train", key, before=2) == {"loss": [(0, 0.5, 1.0)]}
    store.db.set_trace_callback(None)
    plans = {
        table: " ".join(row[-1] for q in queries if table in q for row in store.db.execute("EXPLAIN QUERY PLAN " + q))
        for table in ("job_steps", "metric_points")
    }
    assert "INDEX job_steps_by_key (step=? AND key=? AND outcome=? AND job_id<?)" in plans["job_steps"], plans
    # ... and then reads that step's points, not the whole job's again for each of its steps.
    assert "(job_id=? AND step=?)" in plans["metric_points"], plans
    store.close()


def test_schema_revision_is_bumped_with_the_schema():
    """A database stamped with SCHEMA_REVISION skips creating tables on open: any change to the
    schema must come with a new revision (then update the digest below)."""
    import inspect

    import xxhash

    from pipefile.jobdb import schema

    text = (
        schema.JOBS_DDL
        + schema.SERVING_DDL
        + inspect.getsource(schema.add_step_columns)
        + inspect.getsource(schema.upgrade_schema)
    )
    # Digests of 2.3 on: over jobdb/schema.py (those of 2.1 and 2.2 were over the store/jobs.py
    # and store/serving.py of their day). The move to jobdb/ changed no table:
    # test_the_job_database_layout_is_unchanged_new_migrated_or_upgraded checks the files.
    # 2.4's digest was taken again after `ruff format` rewrapped the upgrade code (eda9910aab64058c
    # before): the layout test above passed unchanged across it.
    known = {
        "2.3": "d2ae0eb4c83ca6b2",
        "2.4": "3b033e6af331044d",
        "2.5": "7476e23b49b42a37",
        "2.6": "e0f78cb21795b0c2",
        "2.7": "c5e23af77dc241e1",
        "2.8": "4a124f341e63307e",
        "2.9": "6d41abc91763c289",  # job_steps.worker
        "2.10": "d58d322ebd88fa83",  # trial_stops
        "2.11": "5d144478d3d5703e",  # metric_sets, metric_values, step_metrics
        "2.12": "f6697c86e1ebd0a8",  # step_series
    }
    assert known.get(schema.SCHEMA_REVISION) == xxhash.xxh3_64_hexdigest(text.encode()), (
        "the job database schema changed: bump SCHEMA_REVISION in pipefile/jobdb/schema.py and record "
        "the new digest here"
    )


def test_a_database_of_an_older_schema_revision_gets_the_missing_tables(tmp_path):
    import sqlite3

    from pipefile.jobdb.jobs import JobStore

    path = str(tmp_path / "jobs.db")
    JobStore(path).close()
    db = sqlite3.connect(path)
    db.execute("DROP TABLE idempotency_keys")
    db.execute("UPDATE meta SET v='0' WHERE k='schema_revision'")
    db.commit()
    db.close()
    JobStore(path).close()
    db = sqlite3.connect(path)
    names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "idempotency_keys" in names


# What a jobs.db is on disk, for a new database, one migrated from version 1 and one upgraded
# from revision 2.2: written through the CLI, so that it does not depend on where the schema
# code lives. A change here is a change of format (bump JOBS_VERSION or SCHEMA_REVISION).
_V1_TABLES = """
CREATE TABLE meta(k TEXT PRIMARY KEY, v TEXT);
CREATE TABLE jobs(
  id INTEGER PRIMARY KEY AUTOINCREMENT, uid TEXT UNIQUE, experiment TEXT, status TEXT,
  started REAL, ended REAL, user TEXT, pid INTEGER, git_commit TEXT, git_dirty INTEGER,
  pipefile TEXT, pipefile_digest TEXT, code TEXT, params TEXT, targets TEXT, argv TEXT,
  cloned_from INTEGER);
CREATE TABLE job_steps(
  job_id INTEGER, step TEXT, outcome TEXT, key TEXT, env TEXT, command TEXT, inputs TEXT,
  outputs TEXT, seconds REAL, exit_code INTEGER, log TEXT, error TEXT, finished REAL,
  PRIMARY KEY(job_id, step));
CREATE TABLE artifacts(
  name TEXT, version INTEGER, kind TEXT, digest TEXT, size INTEGER, job_id INTEGER, step TEXT,
  output TEXT, path TEXT, created REAL, PRIMARY KEY(name, version));
CREATE TABLE metrics(
  job_id INTEGER, step TEXT, name TEXT, value REAL, PRIMARY KEY(job_id, step, name));
INSERT INTO meta VALUES('jobs_version', '1');
"""


def _layout(path) -> str:
    import hashlib
    import json

    db = sqlite3.connect(path)
    try:
        tables = db.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name").fetchall()
        meta = db.execute("SELECT k, v FROM meta ORDER BY k").fetchall()
    finally:
        db.close()
    return hashlib.sha256(json.dumps([tables, meta]).encode()).hexdigest()[:16]


def test_the_job_database_layout_is_unchanged_new_migrated_or_upgraded(demo):
    db_path = demo.root / ".pipe" / "jobs.db"
    demo.pipe("run", check=True)
    layouts = {"new": _layout(db_path)}

    # A revision 2.2 database: no action_producers (nor the artifact_producers of 2.4), tokens
    # without share_cache, and job_steps without the environment and GPU columns.
    db = sqlite3.connect(db_path)
    db.executescript("""
        DROP TABLE action_producers;
        DROP TABLE artifact_producers;
        CREATE TABLE tokens_22(id TEXT PRIMARY KEY, sha256 TEXT, scopes TEXT, name TEXT, created REAL,
          expires REAL, revoked REAL, last_used REAL);
        DROP TABLE tokens;
        ALTER TABLE tokens_22 RENAME TO tokens;
        CREATE TABLE job_steps_22(
          job_id INTEGER, step TEXT, outcome TEXT, key TEXT, env TEXT, command TEXT, inputs TEXT,
          outputs TEXT, seconds REAL, exit_code INTEGER, log TEXT, error TEXT, finished REAL,
          PRIMARY KEY(job_id, step));
        DROP TABLE job_steps;
        ALTER TABLE job_steps_22 RENAME TO job_steps;
        UPDATE meta SET v='2.2' WHERE k='schema_revision';
    """)
    db.close()
    demo.pipe("run", check=True)
    layouts["upgraded"] = _layout(db_path)

    os.remove(db_path)
    for extra in ("-wal", "-shm"):
        if os.path.exists(str(db_path) + extra):
            os.remove(str(db_path) + extra)
    db = sqlite3.connect(db_path)
    db.executescript(_V1_TABLES)
    db.close()
    demo.pipe("run", check=True)
    layouts["migrated"] = _layout(db_path)
    # 2.6 added the noop_jobs and artifact_numbers tables (2.5: new 926e205f6b66be8a, upgraded
    # 0a6fa8dda7084d88, migrated fe321e09a266b0bd).
    # 2.7 added online_endpoints and online_deployments (jobdb/online.py; 2.6: new fe1dd323cc9dd675,
    # upgraded 284384236990dfe5, migrated 13ffa70de7ba08f7).
    # 2.8 added the index job_steps_by_key (2.7: new ec23136290f8ebd1, upgraded c5158c0650ab7777,
    # migrated f031a38b3f6e1dc9).
    # 2.9 added job_steps.worker (2.8: new fb5a4aa7a3fd6d6c, upgraded 377c25ff8d1ea0a3, migrated
    # 4fe8ac4df7c56e36).
    # 2.10 added trial_stops (2.9: new 6ee0d85970ac871d, upgraded d30a7d0094a6863d, migrated
    # 98e96a435809818a).
    # 2.11 added metric_sets, metric_values and step_metrics (2.10: new dc7596a66a290eb7,
    # upgraded 9bff5655210dd7a3, migrated dbcc8ef5ce09c544).
    # 2.12 added step_series (2.11: new 83a21c02fc0497cb, upgraded d1f2a0e1d5a0d1c6, migrated
    # acc4d7aa0e3696bd).
    assert layouts == {"new": "2d4322a3cddc46e4", "upgraded": "3aa1128da71abe34", "migrated": "0cf893323fbdc39a"}, (
        "the layout of jobs.db changed: that is a new SCHEMA_REVISION (or JOBS_VERSION), not a refactoring"
    )


@pytest.mark.usefixtures("built_chain")
def test_a_no_op_looks_for_earlier_series_only_when_some_job_streamed_one(repo):
    # A fresh step gets the series of the job that ran it; where no job ever streamed one (most
    # histories), the run asks that once, not twice per fresh step.
    from pipefile.jobdb.jobs import JobStore

    counting = (
        "import sys; from pipefile.jobdb.jobs import JobStore\n"
        "calls = []\n"
        "real = JobStore.series_owner\n"
        "JobStore.series_owner = lambda self, *a, **k: calls.append(a) or real(self, *a, **k)\n"
        "sys.argv = ['pipe', 'run']\n"
        "from pipefile.entry import main\n"
        "try: main()\n"
        "except SystemExit: pass\n"
        "print(len(calls))"
    )

    def lookups() -> int:
        r = subprocess.run([sys.executable, "-c", counting], capture_output=True, text=True, cwd=repo.root)
        assert "2 fresh" in r.stderr, r.stderr
        return int(r.stdout.split()[-1])

    assert lookups() == 0
    store = JobStore(str(repo.root / ".pipe" / "jobs.db"))
    store.db.execute("INSERT INTO metric_points VALUES(1, 'a', 'loss', 0, 0, 0.5, 1.0)")
    store.close()
    # (a run that streams takes the workspace lock, which drops the no-op record: a row
    # written by hand does not, and the record, which now holds a no-op's series references,
    # would answer)
    (repo.root / ".pipe" / "noop").unlink(missing_ok=True)
    assert lookups() == 2  # an earlier job streamed something: each fresh step looks for its series


def test_rows_of_steps_that_ran_are_written_at_most_every_urgent_interval_and_none_is_lost(tmp_path, monkeypatch):
    # In-process: a chain of short steps used to cost one jobs.db transaction per step (its
    # row written as the next command started); now at most one per URGENT_SECONDS, and a
    # row still goes in within about URGENT_SECONDS when no other command starts.
    from pipefile.jobs import JobRecorder
    from pipefile.outcomes import Outcome, StepResult
    from pipefile.speccache import load_graph
    from pipefile.workspace import Workspace

    n = 40
    text = "version: 1\nsteps:\n" + "".join(
        f'  s{i}: {{command: "true", outputs: {{o: s{i}.txt}}}}\n' for i in range(n)
    )
    (tmp_path / "Pipefile").write_text(text)
    graph = load_graph(str(tmp_path / "Pipefile"), cwd=str(tmp_path))
    ws = Workspace(str(tmp_path))
    job = ws.jobs.begin("exp", "Pipefile", "d", {}, {}, [], ["run"], None, None, "me")
    writes: list = []  # (time.monotonic(), rows)
    record = ws.jobs.record_steps
    monkeypatch.setattr(
        ws.jobs, "record_steps", lambda rows: writes.append((time.monotonic(), len(rows))) or record(rows)
    )
    recorder = JobRecorder(ws, job, graph)
    started = time.monotonic()
    for i in range(n):
        recorder.finished(StepResult(name=f"s{i}", outcome=Outcome.RAN), None)
        recorder.commands_running()  # (the scheduler's word: the next command has started)
        time.sleep(0.005)
    deadline = time.monotonic() + 5  # (within about URGENT_SECONDS; a loaded machine may be slower)
    while sum(rows for _, rows in writes) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sum(rows for _, rows in writes) == n, writes  # all in, without close()
    took = time.monotonic() - started
    recorder.close()
    assert len(writes) <= took / JobRecorder.URGENT_SECONDS + 2, (len(writes), took)
    gaps = [b[0] - a[0] for a, b in zip(writes, writes[1:])]
    assert all(g >= JobRecorder.URGENT_SECONDS - 0.01 for g in gaps), gaps
    assert len(ws.jobs.steps(job.id)) == n
    ws.close()


def test_a_row_of_a_step_that_ran_is_not_held_back_by_a_fresh_steps_row_waiting_beside_it(tmp_path, monkeypatch):
    # The writer waits FLUSH_SECONDS for rows of fresh steps; a row of a step that ran, handed
    # over after one (the scheduler's word that the next command started coming less than
    # URGENT_SECONDS after the last write, so it does not wake the writer), must still go in
    # within about URGENT_SECONDS, not wait out the fresh row's FLUSH_SECONDS.
    import threading

    from pipefile.jobs import JobRecorder
    from pipefile.outcomes import Outcome, StepResult
    from pipefile.speccache import load_graph
    from pipefile.workspace import Workspace

    monkeypatch.setattr(JobRecorder, "URGENT_SECONDS", 0.5)  # (wide margins on a loaded machine)
    monkeypatch.setattr(JobRecorder, "FLUSH_SECONDS", 10.0)
    (tmp_path / "Pipefile").write_text(
        "version: 1\nsteps:\n"
        + "".join(f'  {n}: {{command: "true", outputs: {{o: {n}.txt}}}}\n' for n in ("a", "fresh", "b"))
    )
    graph = load_graph(str(tmp_path / "Pipefile"), cwd=str(tmp_path))
    ws = Workspace(str(tmp_path))
    job = ws.jobs.begin("exp", "Pipefile", "d", {}, {}, [], ["run"], None, None, "me")
    writes: list = []  # (time.monotonic(), names)
    first_written, go_on = threading.Event(), threading.Event()
    record = ws.jobs.record_steps

    def recording(rows):
        writes.append((time.monotonic(), [r.step for r in rows]))
        if len(writes) == 1:
            first_written.set()
            go_on.wait(5)  # (the fresh row is handed over while the writer writes a's)
        return record(rows)

    monkeypatch.setattr(ws.jobs, "record_steps", recording)
    recorder = JobRecorder(ws, job, graph)
    try:
        recorder.finished(StepResult(name="a", outcome=Outcome.RAN), None)
        recorder.commands_running()
        assert first_written.wait(5)
        recorder.finished(StepResult(name="fresh", outcome=Outcome.FRESH), None)
        go_on.set()
        time.sleep(0.05)  # (the writer is back, waiting on the fresh row)
        recorder.finished(StepResult(name="b", outcome=Outcome.RAN), None)
        said = time.monotonic()
        recorder.commands_running()
        deadline = said + 5
        while len(writes) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(writes) == 2, writes
        assert writes[1][1] == ["fresh", "b"]
        assert writes[1][0] - said < 2.5, writes[1][0] - said  # (within about URGENT_SECONDS, not FLUSH_SECONDS)
    finally:
        go_on.set()
        recorder.close()
    assert sorted(s.step for s in ws.jobs.steps(job.id)) == ["a", "b", "fresh"]
    ws.close()
