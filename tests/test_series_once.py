"""Streamed series kept once (jobdb/series.py, schema revision 2.12): the job whose step
streamed a series keeps its points; a later job in which the step is fresh, restored or
stayed stopped refers to them. Every reader shows that job what it showed when it held a
copy, gc keeps points a kept job refers to, a 2.11 database is upgraded in place, and a
no-op of such a pipeline copies nothing and is answered by the no-op record."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import warnings

import pytest
from workspace_repo import PIPE, REPO_ROOT, Repo, noop_record_job

POINTS = 300

GEN = f"""\
import json, os, sys
name = sys.argv[2]
with open(os.environ["PIPE_METRICS_STREAM"], "a") as f:
    for i in range({POINTS}):
        f.write(json.dumps({{"name": "loss", "value": 1 / (i + 1) + len(name), "step": i * 2}}) + "\\n")
    f.write(json.dumps({{"name": "acc", "value": 0.5}}) + "\\n")
open(sys.argv[1], "w").write(open("data.txt").read() if name == "b" else "ok\\n")
"""


def _workspace(repo: Repo, steps=("a", "b")) -> None:
    repo.write("gen.py", GEN)
    repo.write("data.txt", "1\n")
    body = "".join(
        f"""
  {s}:
    command: {sys.executable} gen.py ${{{{outputs.o}}}} {s}
    code: [gen.py]
    inputs: {{d: data.txt}}
    outputs: {{o: out_{s}.txt}}
"""
        if s == "b"
        else f"""
  {s}:
    command: {sys.executable} gen.py ${{{{outputs.o}}}} {s}
    code: [gen.py]
    outputs: {{o: out_{s}.txt}}
"""
        for s in steps
    )
    repo.pipefile("version: 1\nsteps:" + body)


def _db(repo: Repo) -> sqlite3.Connection:
    return sqlite3.connect(repo.root / ".pipe" / "jobs.db")


def _count(repo: Repo, sql: str, *args) -> int:
    db = _db(repo)
    try:
        return db.execute(sql, args).fetchone()[0]
    finally:
        db.close()


def _curve(repo: Repo, job: str, metric: str) -> list:
    return repo.pipe("metrics", "curve", job, metric, "--json", check=True).json["points"]


def test_a_no_op_copies_no_points_and_is_answered_by_the_record(repo: Repo):
    # Each fresh step got a copy of the series of the job that ran it: a no-op of 50 steps of
    # 2,000 points wrote ~5.9 MB into jobs.db and took ~0.55 s, and the no-op record declined
    # ("series to copy") whenever any job had streamed one. Now one reference per step: the
    # points stay those of job 1, and the record answers.
    _workspace(repo, steps=("a", "b", "c"))
    repo.pipe("run", check=True)
    points = _count(repo, "SELECT COUNT(*) FROM metric_points")
    assert points == 3 * (POINTS + 1)
    time.sleep(0.15)  # past the racy-timestamp window: this run may leave a record
    repo.pipe("run", check=True)
    recorded = noop_record_job(repo)
    assert recorded == 2, "the no-op record was not written"
    for _ in range(3):
        r = repo.pipe("run")
        assert r.code == 0 and "3 fresh" in r.err + r.out, str(r)
        assert noop_record_job(repo) == recorded, "the no-op was not answered by the record"
    assert _count(repo, "SELECT COUNT(*) FROM metric_points") == points
    assert _count(repo, "SELECT COUNT(*) FROM step_series WHERE source_job = 1") == 3 * 4
    # what each no-op job shows is job 1's
    for job in ("2", "5"):
        assert _curve(repo, job, "b.loss") == _curve(repo, "1", "b.loss")
        assert repo.pipe("jobs", "show", job, "--json", check=True).json["metrics"] == {
            "a.acc": 0.5,
            "a.loss": 1 / POINTS + 1,
            "b.acc": 0.5,
            "b.loss": 1 / POINTS + 1,
            "c.acc": 0.5,
            "c.loss": 1 / POINTS + 1,
        }


def _series_readers(repo: Repo, job: str) -> dict:
    """What each reader of series shows of `job`, its id taken out."""
    out = {
        "curve": _curve(repo, job, "a.loss"),
        "curve_acc": _curve(repo, job, "b.acc"),
        "show": repo.pipe("metrics", "show", job, "--json", check=True).json["jobs"][0]["metrics"],
        "jobs_show": repo.pipe("jobs", "show", job, "--json", check=True).json["metrics"],
    }
    text = repo.pipe("metrics", "curve", job, "a.loss", check=True).out
    out["curve_text"] = text[text.index("\n") :]  # (the first line names the job)
    # the page's charts (markdown: its job's number and times taken out)
    page = repo.pipe("report", job, "--format", "markdown", "-o", "-", check=True).out
    streamed = page[page.index("### Streamed metrics") :]
    out["report"] = streamed[: streamed.index("left out of Markdown")]
    return out


def test_every_reader_shows_a_fresh_or_restored_step_the_series_of_the_job_that_ran_it(repo: Repo):
    _workspace(repo)
    repo.pipe("run", check=True)  # job 1: both ran
    repo.write("data.txt", "2\n")
    assert repo.outcomes() == {"a": "fresh", "b": "ran"}  # job 2: a refers to job 1
    repo.write("data.txt", "1\n")
    os.remove(repo.root / "out_a.txt")
    assert repo.outcomes() == {"a": "restored", "b": "restored"}  # job 3: both refer
    one = _series_readers(repo, "1")
    assert len(one["curve"]) == POINTS and one["curve"][-1] == {
        "step": 2 * (POINTS - 1),
        "value": 1 / POINTS + 1,
        "time": None,
    }
    assert _series_readers(repo, "3") == one
    two = _series_readers(repo, "2")
    assert two["curve"] == one["curve"] and two["show"]["a.loss"] == one["show"]["a.loss"]
    assert _count(repo, "SELECT COUNT(*) FROM metric_points WHERE job_id <> 1 AND job_id <> 2") == 0
    history = repo.pipe("metrics", "history", "a.loss", "--json", check=True).json
    assert [(j["id"], j["value"]) for j in history["jobs"]] == [(i, 1 / POINTS + 1) for i in (1, 2, 3)], history


def test_mlflow_gets_a_fresh_steps_series_point_by_point(repo: Repo, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tracking = pytest.importorskip("mlflow.tracking", reason="mlflow is not installed")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    _workspace(repo, steps=("a",))
    repo.pipe("run", check=True)
    repo.pipe("run", env={"MLFLOW_TRACKING_URI": uri}, check=True)  # job 2: a is fresh
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        client = tracking.MlflowClient(tracking_uri=uri)
        exp = client.get_experiment_by_name(repo.pipe("jobs", "--json").json["jobs"][0]["experiment"])
        (run,) = client.search_runs([exp.experiment_id])
        history = client.get_metric_history(run.info.run_id, "a.loss")
    assert sorted((m.step, m.value) for m in history) == [(2 * i, 1 / (i + 1) + 1) for i in range(POINTS)]


def test_gc_keeps_the_points_a_kept_job_refers_to_and_drops_them_with_the_last(repo: Repo):
    _workspace(repo)
    repo.pipe("run", check=True)  # job 1 streamed a's and b's series
    before = _curve(repo, "1", "a.loss")
    repo.write("data.txt", "2\n")
    assert repo.outcomes() == {"a": "fresh", "b": "ran"}  # job 2 refers to job 1's a
    r = repo.pipe("gc", "--keep-last", "1")
    assert r.code == 0, str(r)
    assert repo.pipe("jobs", "show", "1").code == 2  # job 1 is gone
    assert _curve(repo, "2", "a.loss") == before  # its series of a stays for job 2
    assert _count(repo, "SELECT COUNT(*) FROM metric_points WHERE job_id = 1 AND step = 'b'") == 0
    repo.write("data.txt", "3\n")
    # job 3: the job that ran a is gone, job 2's reference leads to its points (it had none)
    assert repo.outcomes() == {"a": "fresh", "b": "ran"}
    assert _curve(repo, "3", "a.loss") == before
    assert repo.outcomes("--force=a") == {"a": "ran", "b": "fresh"}  # job 4 owns a's points now
    r = repo.pipe("gc", "--keep-last", "1")
    assert r.code == 0, str(r)
    # jobs 2 and 3 went, the last jobs referring to job 1's points of a: they go too (job 3's
    # of b stay: job 4 refers to them, its only reference)
    assert _count(repo, "SELECT COUNT(*) FROM metric_points WHERE job_id < 3") == 0
    assert _db(repo).execute("SELECT job_id, step, source_job FROM step_series").fetchall() == [(4, "b", 3)]


def test_a_revision_2_11_database_is_upgraded_and_its_copies_read_as_before(tmp_path):
    # A 2.11 database: no step_series; a fresh step's series is a copy under its own job.
    from pipefile.jobdb.jobs import JobStore

    path = str(tmp_path / "jobs.db")
    JobStore(path).close()
    db = sqlite3.connect(path)
    db.executescript(
        """
        DROP TABLE step_series;
        UPDATE meta SET v='2.11' WHERE k='schema_revision';
        INSERT INTO jobs(id, uid, status) VALUES(1, 'aaaaaaaa', 'succeeded'), (2, 'bbbbbbbb', 'succeeded');
        INSERT INTO job_steps(job_id, step, outcome, key) VALUES(1, 't', 'ran', 'k'), (2, 't', 'fresh', 'k');
        INSERT INTO metric_points VALUES(1, 't', 'loss', 0, 0, 0.5, 1.0), (1, 't', 'loss', 1, 1, 0.25, 2.0);
        INSERT INTO metric_points VALUES(2, 't', 'loss', 0, 0, 0.5, 1.0), (2, 't', 'loss', 1, 1, 0.25, 2.0);
        """
    )
    db.commit()
    db.close()
    store = JobStore(path)
    try:
        assert store.db.execute("SELECT v FROM meta WHERE k='schema_revision'").fetchone()[0] == "2.12"
        assert store.db.execute("SELECT COUNT(*) FROM step_series").fetchone()[0] == 0
        expected = {"t.loss": [(0, 0.5, 1.0), (1, 0.25, 2.0)]}
        assert store.series(1) == expected and store.series(2) == expected  # (the copy stays)
        assert store.series_of_key("t", "k", before=3) == {"loss": expected["t.loss"]}
        assert store.series_owner("t", "k", before=3) == 1
    finally:
        store.close()


def test_a_killed_writer_leaves_no_half_reference(repo: Repo):
    # A no-op of several steps killed at any moment: each reference it left has the owner's
    # points and the last values as the job's metrics, written with it.
    _workspace(repo, steps=tuple("abcdef"))
    repo.pipe("run", check=True)
    env = dict(os.environ, PYTHONPATH=REPO_ROOT)
    for delay in (0.3, 0.45, 0.6, 0.75, 0.9, 1.1):
        p = subprocess.Popen(
            [*PIPE, "run"], cwd=repo.root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=60)
    repo.pipe("run", check=True)
    db = _db(repo)
    try:
        refs = db.execute("SELECT job_id, step, source_job FROM step_series").fetchall()
        assert refs, "no reference was written"
        for job_id, step, owner in refs:
            assert owner == 1, refs
            names = {n for (n,) in db.execute("SELECT name FROM metrics WHERE job_id=? AND step=?", (job_id, step))}
            assert names == {"loss", "acc"}, (job_id, step, names)
        assert db.execute("SELECT COUNT(*) FROM metric_points WHERE job_id <> 1").fetchone()[0] == 0
    finally:
        db.close()


def test_a_name_with_a_lone_surrogate_and_its_escaped_spelling_are_one_series(repo: Repo):
    # The database spells "\ud800" (no UTF-8 holds it) as its escape: a stream naming both
    # it and the escape itself became two series of one stored name, and the record failed
    # on the primary key (IntegrityError, exit 70, after the step had run).
    repo.write(
        "w.sh",
        """\
        printf '%s\\n' '{"name": "\\ud800", "value": 1}' '{"name": "\\\\ud800", "value": 2}' >> "$PIPE_METRICS_STREAM"
        echo ok > $1
        """,
    )
    repo.pipefile(
        """\
        version: 1
        steps:
          s:
            command: sh w.sh ${{outputs.o}}
            code: [w.sh]
            outputs: {o: o.txt}
        """
    )
    r = repo.pipe("run")
    assert r.code == 0, str(r)
    curve = repo.pipe("metrics", "curve", "last", "s.\\ud800", "--json", check=True).json
    assert [(p["step"], p["value"]) for p in curve["points"]] == [(0, 1.0), (1, 2.0)]


def test_a_reference_reads_the_last_values_without_reading_every_point(tmp_path):
    # A fresh step's metrics are the last value of each series it refers to: a GROUP BY over
    # the owner's points read all of them (~11 ms a step of 100,000, in every no-op that takes
    # the normal path); one probe of the primary key per name now. The values are those of the
    # last point of each series, as the copy's were.
    from pipefile.jobdb.jobs import JobStore

    store = JobStore(str(tmp_path / "jobs.db"))
    try:
        points = [(i, 1 / (i + 1), None) for i in range(100_000)]
        store.record_series(1, "t", {"loss": points, "acc": points[:7], "\ud800": points[:3]})
        store.record_series(1, "u", {"z": points[:2]})
        expected = {name: pts[-1][1] for name, pts in store.series_of_step(1, "t").items()}
        assert store.last_points(1, "t") == expected and len(expected) == 3
        assert store.last_points(1, "none") == {} and store.last_points(2, "t") == {}

        def best(f) -> float:
            times = []
            for _ in range(5):
                begun = time.perf_counter()
                f()
                times.append(time.perf_counter() - begun)
            return min(times)

        every = best(
            lambda: store.db.execute("SELECT COUNT(value) FROM metric_points WHERE job_id=1 AND step='t'").fetchone()
        )
        assert best(lambda: store.last_points(1, "t")) < every / 20, every
    finally:
        store.close()


def _curve_peak_kb(root, job: str, metric: str) -> tuple:
    """(the JSON `pipe metrics curve` prints, the peak of what its Python allocated, in KB:
    tracemalloc's, as the process's own peak RSS counts the pytest process it was forked from)."""
    code = (
        "import runpy, sys, tracemalloc\n"
        "tracemalloc.start()\n"
        "sys.argv = ['pipe'] + sys.argv[1:]\n"
        "try:\n"
        "    runpy.run_module('pipefile', run_name='__main__')\n"
        "finally:\n"
        "    sys.stdout.flush()\n"
        "    print(tracemalloc.get_traced_memory()[1] // 1024, file=sys.stderr)\n"
    )
    env = dict(os.environ, PYTHONPATH=REPO_ROOT)
    r = subprocess.run(
        [sys.executable, "-c", code, "metrics", "curve", job, metric, "--json"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout), int(r.stderr.split()[-1])


def test_a_curve_reads_the_points_of_the_series_it_shows_only(repo: Repo):
    # `pipe metrics curve JOB NAME` read every point of every series of the job to show one:
    # 30 steps of 100,000 points took 10 s and 600 MB. It resolves NAME among the names, then
    # reads that series (its own points, or those of the job it refers to).
    from pipefile.jobdb.jobs import JobStore

    repo.pipefile("version: 1\nsteps: {}\n")
    (repo.root / ".pipe").mkdir()
    store = JobStore(str(repo.root / ".pipe" / "jobs.db"))
    try:
        store.db.execute("INSERT INTO jobs(id, uid, status) VALUES(1, 'aaaaaaaa', 'succeeded')")
        store.db.execute("INSERT INTO jobs(id, uid, status) VALUES(2, 'bbbbbbbb', 'succeeded')")
        store.record_series(1, "small", {"x": [(0, 1.0, None), (5, 0.5, None)]})
        small_only, _ = _curve_peak_kb(repo.root, "1", "small.x")
        _, baseline = _curve_peak_kb(repo.root, "1", "x")
        big = [(i, 1 / (i + 1), 1.0) for i in range(100_000)]
        for k in range(8):
            store.record_series(1, f"big{k}", {"loss": big})
        store.refer_series(2, "small", 1, {"x": 0.5})
        store.refer_series(2, "big3", 1, {"loss": big[-1][1]})
        # the readers in process agree: the names, the points of one, every series at once
        for job in (1, 2):
            names, every = store.series_names(job), store.series(job)
            assert list(names) == list(every)
            assert all(store.series_points(job, pairs) == every[full] for full, pairs in names.items())
    finally:
        store.close()
    shown, peak = _curve_peak_kb(repo.root, "1", "small.x")
    assert shown == small_only
    assert peak < baseline + 40_000, (peak, baseline)  # (800,000 points read: ~250 MB more)
    shown, _ = _curve_peak_kb(repo.root, "2", "x")
    assert shown["points"] == small_only["points"] and shown["job"]["id"] == 2
    assert len(_curve_peak_kb(repo.root, "2", "big3.loss")[0]["points"]) == 100_000


def test_a_series_and_the_metrics_it_ends_in_are_written_together(tmp_path):
    # A step's streamed points and its last values (its metrics) were two transactions: a run
    # killed between them kept a series whose job shows no metric. One transaction now: both
    # or neither (a failure inside it, here a value that is no number, keeps neither).
    from pipefile.jobdb.jobs import JobStore

    store = JobStore(str(tmp_path / "jobs.db"))
    try:
        points = [(i, float(i), None) for i in range(5)]
        with pytest.raises(ValueError):
            store.record_series(1, "t", {"loss": points}, {"loss": "not a number"})
        assert store.series_of_step(1, "t") == {}
        store.record_series(1, "t", {"loss": points}, {"loss": 4.0})
        assert list(store.series_of_step(1, "t")) == ["loss"]
        rows = store.db.execute("SELECT name, value FROM metrics WHERE job_id=1 AND step='t'").fetchall()
        assert rows == [("loss", 4.0)]
    finally:
        store.close()
