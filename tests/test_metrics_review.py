"""How a job's metrics are stored: a metrics file's values kept once per content, each job
referring to them (jobdb/metric_sets.py), with every reader showing what it showed before."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest

N = 20_000  # metric names in the big file: enough that copying them per job shows in jobs.db

GEN = """\
import json, sys
n, lr, out = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
json.dump({"acc": 1 - lr, "per": {f"m{i}": i * lr for i in range(n)}}, open(out, "w"))
"""

PIPEFILE = """\
name: big
params:
  lr: {type: number, default: 0.5}
  n: {type: integer, default: %d}
steps:
  train:
    command: python gen.py ${{params.n}} ${{params.lr}} ${{outputs.m}}
    code: [gen.py]
    outputs: {m: build/m.json}
    metrics: [build/m.json]
  after:
    command: cp ${{inputs.m}} ${{outputs.c}}
    inputs: {m: build/m.json}
    outputs: {c: build/c.json}
"""


@pytest.fixture
def big(repo):
    repo.write("gen.py", GEN)
    repo.pipefile(PIPEFILE % N)
    return repo


def _used_bytes(repo) -> int:
    """What jobs.db holds (pages in use, the WAL's included): not the files' high-water marks."""
    db = sqlite3.connect(repo.root / ".pipe" / "jobs.db")
    try:
        size = db.execute("PRAGMA page_size").fetchone()[0]
        used = db.execute("PRAGMA page_count").fetchone()[0] - db.execute("PRAGMA freelist_count").fetchone()[0]
        return used * size
    finally:
        db.close()


def _metrics(repo, job: str = "last") -> dict:
    r = repo.pipe("metrics", "show", job, "--json")
    assert r.code == 0, str(r)
    return r.json["jobs"][0]["metrics"]


# Counts how often a run reads a metrics file (the normal path: the no-op record removed).
_COUNTING = (
    "import sys, pipefile.jobs as jobs\n"
    "calls = []\n"
    "real = jobs.read_metrics\n"
    "jobs.read_metrics = lambda *a, **k: calls.append(a) or real(*a, **k)\n"
    "sys.argv = ['pipe', 'run']\n"
    "from pipefile.entry import main\n"
    "try: main()\n"
    "except SystemExit: pass\n"
    "print('reads', len(calls))"
)


def _normal_run_reads(repo) -> int:
    record = repo.root / ".pipe" / "noop"
    if record.exists():
        record.unlink()  # (else the no-op is answered from the record, which reads nothing either)
    r = subprocess.run([sys.executable, "-c", _COUNTING], capture_output=True, text=True, cwd=repo.root)
    assert "reads" in r.stdout, r.stdout + r.stderr
    return int(r.stdout.split()[-1])


def test_a_no_op_neither_reads_nor_copies_a_big_metrics_file(big):
    # Every job of a step copied its metrics file's values into jobs.db, no-ops included: a
    # file of 200,000 names added ~8.5 MB per `pipe run` that did nothing, and the no-op
    # read and parsed the file each time (seconds). Now the values are kept once per content.
    assert big.pipe("run").code == 0
    first = _metrics(big)
    assert len(first) == N + 1 and first["train.acc"] == 0.5 and first["train.per.m3"] == 1.5
    before = _used_bytes(big)
    assert _normal_run_reads(big) == 0  # a fresh step's file is not read again
    for _ in range(2):  # the no-op record's path too
        r = big.pipe("run")
        assert r.code == 0 and "2 fresh" in r.err, str(r)
    grown = _used_bytes(big) - before
    assert grown < 64 * 1024, f"jobs.db grew by {grown} bytes over three no-ops"
    for job in ("1", "2", "last"):
        assert _metrics(big, job) == first
    diff = big.pipe("metrics", "diff", "1", "last", "--json")
    assert diff.code == 0, str(diff)
    # New content is read (and kept) once more.
    assert big.pipe("run", "-p", "lr=0.25").code == 0
    assert _metrics(big)["train.per.m3"] == 0.75
    assert _metrics(big, "1") == first


def test_gc_drops_the_kept_metrics_only_dropped_jobs_used(big):
    big.pipefile(PIPEFILE % 3)
    for lr in ("0.5", "0.25", "0.25"):
        assert big.pipe("run", "-p", f"lr={lr}").code == 0
    assert _metrics(big, "1")["train.acc"] == 0.5
    r = big.pipe("gc", "--keep-last", "1")
    assert r.code == 0, str(r)
    db = sqlite3.connect(big.root / ".pipe" / "jobs.db")
    try:
        values = {r[0] for r in db.execute("SELECT value FROM metric_values WHERE name='acc'")}
    finally:
        db.close()
    assert values == {0.75}  # job 1's set (lr 0.5) went with it; the kept job's stays
    assert _metrics(big)["train.acc"] == 0.75


# The tables of revision 2.10 that hold metrics (the rest of its layout is today's).
_OLD_METRICS = (
    "CREATE TABLE metrics(job_id INTEGER, step TEXT, name TEXT, value REAL, PRIMARY KEY(job_id, step, name));"
)


def test_a_job_database_of_revision_2_10_is_read_and_written_as_before(big):
    # A database written by the pipe before metric sets: each job's values in `metrics`.
    big.pipefile(PIPEFILE % 3)
    assert big.pipe("run").code == 0
    shown = _metrics(big)
    path = big.root / ".pipe" / "jobs.db"
    db = sqlite3.connect(path)
    db.executescript(
        "DROP TABLE step_metrics; DROP TABLE metric_values; DROP TABLE metric_sets; DROP TABLE metrics;"
        + _OLD_METRICS
        + "UPDATE meta SET v='2.10' WHERE k='schema_revision';"
    )
    db.executemany(
        "INSERT INTO metrics VALUES(1, ?, ?, ?)",
        [(k.split(".", 1)[0], k.split(".", 1)[1], v) for k, v in shown.items()],
    )
    db.commit()
    db.close()
    if os.path.exists(big.root / ".pipe" / "noop"):
        os.unlink(big.root / ".pipe" / "noop")
    assert _metrics(big, "1") == shown  # read as it was, the database upgraded on open
    r = big.pipe("run")
    assert r.code == 0 and "2 fresh" in r.err, str(r)
    assert _metrics(big) == shown == _metrics(big, "1")
    db = sqlite3.connect(path)
    try:
        from pipefile.jobdb.schema import SCHEMA_REVISION  # (upgraded to the current one)

        assert db.execute("SELECT v FROM meta WHERE k='schema_revision'").fetchone()[0] == SCHEMA_REVISION
    finally:
        db.close()
    jobs = big.pipe("jobs", "show", "1", "--json")
    assert jobs.code == 0 and jobs.json["metrics"] == shown, str(jobs)


def test_numbers_too_large_are_warned_again_by_a_job_that_reuses_the_kept_values(repo):
    repo.write("w.py", "open('m.json', 'w').write('{\"ok\": 1, \"big\": 1' + '0' * 400 + '}')\n")
    repo.pipefile(
        """\
        version: 1
        steps:
          m:
            command: python w.py
            code: [w.py]
            outputs: {m: m.json}
            metrics: [m.json]
        """
    )
    r = repo.pipe("run")
    assert r.code == 0, str(r)
    warning = "'big' is a number too large for a float; left out"
    assert warning in r.err
    assert _metrics(repo) == {"m.ok": 1.0}
    if (repo.root / ".pipe" / "noop").exists():
        os.unlink(repo.root / ".pipe" / "noop")  # (the record would print the text again)
    r = repo.pipe("run")
    assert r.code == 0 and "1 fresh" in r.err and warning in r.err, str(r)
    assert _metrics(repo) == {"m.ok": 1.0}


def test_a_metric_name_with_a_lone_surrogate_is_kept_escaped_not_an_internal_error(repo):
    # JSON may spell a name "\ud800", which Python reads as a lone surrogate that no UTF-8
    # (so no SQLite text) holds: recording it, from a metrics file or a stream, was an
    # internal error (exit 70) after the step had run, and the job read `interrupted`.
    repo.write(
        "w.py",
        """\
        import os
        open("m.json", "w").write('{"ok": 1, "\\\\ud800file": 2}')
        with open(os.environ["PIPE_METRICS_STREAM"], "a") as f:
            f.write('{"name": "\\\\udc00loss", "value": 0.5}\\n{"name": "loss", "value": 0.25}\\n')
        """,
    )
    repo.pipefile(
        """\
        version: 1
        steps:
          m:
            command: python w.py
            code: [w.py]
            outputs: {m: m.json}
            metrics: [m.json]
        """
    )
    r = repo.pipe("run")
    assert r.code == 0, str(r)
    assert _metrics(repo) == {"m.\\ud800file": 2.0, "m.\\udc00loss": 0.5, "m.loss": 0.25, "m.ok": 1.0}
    assert repo.pipe("jobs", "show", "last", "--json").json["status"] == "succeeded"


# Peak memory of a `pipe` command, in KiB: VmHWM, its own (ru_maxrss keeps the parent's
# across exec, and the test process is bigger than the command).
_PEAK = (
    "import sys\n"
    "sys.argv = ['pipe'] + sys.argv[1:]\n"
    "from pipefile.entry import main\n"
    "try: main()\n"
    "except SystemExit: pass\n"
    "finally: print('peak', [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0], "
    "file=sys.stderr)"
)


def _history(repo, *args) -> tuple:
    r = subprocess.run(
        [sys.executable, "-c", _PEAK, "metrics", "history", *args, "--json"],
        capture_output=True,
        text=True,
        cwd=repo.root,
    )
    peak = int(r.stderr.split("peak")[-1].split()[0])
    return r.stdout, peak


def test_metric_history_looks_up_one_metric_not_every_value_of_every_job(big):
    # `pipe metrics history NAME` read every metric of every job of the experiment into
    # memory to chart one: jobs of 200,000 metrics each took ~33 MB per job (10 jobs: 5.6 s,
    # 333 MB). Now the one metric is looked up per job; memory does not grow with the jobs.
    big.pipefile(PIPEFILE % 40_000)
    assert big.pipe("run", "-p", "lr=0.5").code == 0
    out, one_job = _history(big, "train.acc")
    for lr in ("0.25", "0.125", "0.0625", "0.75"):
        assert big.pipe("run", "-p", f"lr={lr}").code == 0
    out, five_jobs = _history(big, "train.acc")
    import json

    assert [j["value"] for j in json.loads(out)["jobs"]] == [0.5, 0.75, 0.875, 0.9375, 0.25]
    assert five_jobs - one_job < 12 * 1024, (one_job, five_jobs)
    # Every job's value is the one `metrics show` gives it; an ending finds the full name.
    shown = [_metrics(big, str(i))["train.per.m39999"] for i in range(1, 6)]
    out, _ = _history(big, "per.m39999")
    assert [j["value"] for j in json.loads(out)["jobs"]] == shown
    r = big.pipe("metrics", "history", "m3999x")
    assert r.code == 2 and "no metric 'm3999x'" in r.err, str(r)


def test_no_metrics_of_a_failed_step_says_it_failed_not_how_to_declare_them(repo):
    # A step that wrote its metrics file and then failed records none (they are recorded
    # when a step ends well): `metrics show` and `history` told the user to add the
    # `metrics:` the step already has.
    repo.pipefile(
        """\
        version: 1
        steps:
          m:
            command: "echo '{\\"acc\\": 0.5}' > m.json && exit 3"
            outputs: {m: m.json}
            metrics: [m.json]
        """
    )
    assert repo.pipe("run").code == 1
    r = repo.pipe("metrics", "show")
    assert r.code == 0 and "step 'm' failed" in r.out and "ends well" in r.out, str(r)
    r = repo.pipe("metrics", "history", "acc")
    assert r.code == 2 and "step 'm' failed" in r.err, str(r)


def test_a_streamed_series_is_written_in_one_transaction(tmp_path):
    # record_series inserted each point in a transaction of its own (autocommit): a step
    # that streamed 100,000 points spent ~6 s in it at the end of a run, and again in every
    # no-op that copies the series to the fresh step. Timed against the same rows written
    # in one transaction on this machine: it was ~15 times that, now about the same.
    import time

    from pipefile.jobdb.jobs import JobStore

    points = [(i, 1 / (i + 1), 1.0) for i in range(100_000)]
    store = JobStore(str(tmp_path / "jobs.db"))
    plain = sqlite3.connect(tmp_path / "plain.db", isolation_level=None)
    plain.execute("PRAGMA journal_mode=WAL")
    plain.execute("PRAGMA synchronous=NORMAL")
    plain.execute("CREATE TABLE p(job_id, step, name, seq, x, value, time)")
    begun = time.perf_counter()
    plain.execute("BEGIN")
    plain.executemany("INSERT INTO p VALUES(1, 'm', 'loss', ?, ?, ?, ?)", [(i, *p) for i, p in enumerate(points)])
    plain.execute("COMMIT")
    baseline = time.perf_counter() - begun
    begun = time.perf_counter()
    store.record_series(1, "m", {"loss": points})
    took = time.perf_counter() - begun
    assert took < 4 * baseline + 0.5, (took, baseline)
    assert store.series(1)["m.loss"][-1] == points[-1]
    store.close()
    plain.close()


# --- a metrics file's keys as the file writes them -------------------------------------------
KEYS_PIPEFILE = """\
name: keys
steps:
  train:
    command: cp m.yaml ${{outputs.m}}
    code: [m.yaml]
    outputs: {m: build/m.yaml}
    metrics: [build/m.yaml]
"""


def test_yaml_keys_are_recorded_as_the_file_writes_them(repo):
    # YAML reads `null`, `true`, `1.5`, `0x10`, a date as None, True, 1.5, 16, a date: the
    # metrics were recorded as train.None, train.True, train.16, and `~` silently replaced
    # `null`, `yes` replaced `true` (both became the same key).
    repo.write("m.yaml", "null: 1\n~: 2\ntrue: 3\nyes: 4\n1.5: 5\n0x10: 6\n2024-01-02: 7\nval: {1e3: 8}\n")
    repo.pipefile(KEYS_PIPEFILE)
    r = repo.pipe("run")
    assert r.code == 0 and "warning" not in r.err, str(r)
    assert _metrics(repo) == {
        "train.null": 1,
        "train.~": 2,
        "train.true": 3,
        "train.yes": 4,
        "train.1.5": 5,
        "train.0x10": 6,
        "train.2024-01-02": 7,
        "train.val.1e3": 8,
    }
    repo.write("m.yaml", '1: 5\n"1": 6\n')  # one key, read as text: refused, not one silently kept
    r = repo.pipe("run")
    assert r.code == 0, str(r)
    assert "metrics file 'build/m.yaml' is not usable YAML: line 2: the key '1' is written twice" in r.err, r.err
    assert _metrics(repo) == {}


@pytest.mark.parametrize(
    "name, text, said",
    [
        # `1` and `"1"` are one key once read as text: the later silently replaced the earlier
        ("m.yaml", '1: 5\n"1": 6\n', "line 2: the key '1' is written twice in one mapping (also at line 1)"),
        ("m.yaml", "a: 1\nb: 2\na: 3\n", "line 3: the key 'a' is written twice"),
        ("m.json", '{"1": 5, "1": 6}', "writes the key '1' twice in one object"),
        # two spellings of one flattened name
        ("m.yaml", "a.b: 1\na:\n  b: 2\n", "names the metric 'a.b' twice (again at line 3)"),
        ("m.json", '{"a": [1, 2], "a.1": 3}', "names the metric 'a.1' twice"),
        # a key that is a mapping: the whole file was refused as 'while constructing a mapping'
        ("m.yaml", "ok: 1\nnested:\n  ? {a: 1}\n  : 7\n", "line 3: a key that is a list or a mapping names nothing"),
        # PyYAML's first line alone said where it was, not what was wrong
        ("m.yaml", "x: [1\ny: 2\n", "line 2: did not find expected ',' or ']'"),
    ],
)
def test_metric_names_that_collide_are_refused_with_the_line_and_the_fix(tmp_path, name, text, said):
    from pipefile.metrics_files import MetricsError, read_metrics

    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(MetricsError) as e:
        read_metrics(str(path))
    assert said in str(e.value), str(e.value)
    # (a YAML merge key's values give way to the mapping's own, as YAML says: no collision)
    path = tmp_path / "merge.yaml"
    path.write_text("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  x: 5\n")
    assert read_metrics(str(path)) == {"base.x": 1, "base.y": 2, "m.x": 5, "m.y": 2}


def test_metrics_mlflow_would_log_under_one_key_are_logged_under_two(repo, tmp_path):
    # `a!` and `a?` are both `train.a_` to MLflow: the run showed one value, the other lost.
    import warnings

    tracking = pytest.importorskip("mlflow.tracking", reason="mlflow is not installed (pip install 'pipefile[mlflow]')")
    repo.write("m.json", '{"a!": 1, "a?": 2, "a_": 3, "b": 4}')
    repo.pipefile(KEYS_PIPEFILE.replace("m.yaml", "m.json"))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    r = repo.pipe("run", env={"MLFLOW_TRACKING_URI": uri})
    assert r.code == 0 and "logged job 1 to MLflow" in r.err, str(r)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        client = tracking.MlflowClient(tracking_uri=uri)
        (run,) = client.search_runs([client.get_experiment_by_name("keys").experiment_id])
    logged = run.data.metrics
    assert len(logged) == 4 and sorted(logged.values()) == [1, 2, 3, 4], logged
    assert logged["train.a_"] == 3 and logged["train.b"] == 4  # (a name MLflow takes keeps its key)
    assert {k[: len("train.a__")] for k, v in logged.items() if v in (1, 2)} == {"train.a__"}


def test_a_json_metrics_file_with_a_bom_is_read(tmp_path):
    # PowerShell and Notepad write a UTF-8 BOM: the file was left out as 'Unexpected UTF-8 BOM'
    # (a YAML one was read: PyYAML skips it).
    from pipefile.metrics_files import read_metrics

    for name, text in (("m.json", '{"acc": 0.9, "n": [1]}'), ("m.yaml", "acc: 0.9\nn: [1]\n")):
        path = tmp_path / name
        path.write_bytes(b"\xef\xbb\xbf" + text.encode())
        assert read_metrics(str(path)) == {"acc": 0.9, "n.0": 1}, name


# --- a running trial's stream, looked at as it grows --------------------------------------
def _early_group(tasks):
    import types

    return types.SimpleNamespace(
        sweep=types.SimpleNamespace(early_termination=("median_stopping", 1, 0)),
        objective=("loss", "minimize"),
        tasks=tuple(tasks),
    )


def test_early_termination_reads_only_what_a_running_trials_stream_gained(tmp_path, monkeypatch):
    # Each look (five a second, per running trial) parsed the trial's whole stream again: ~0.8 s
    # a look at 100,000 points, the more the longer the trial ran.
    import json

    from pipefile import stopping, tracking
    from pipefile.filenames import log_file

    tasks = ["train[trial-1]", "train[trial-2]"]
    paths = [tracking.stream_path(str(tmp_path / log_file(t))) for t in tasks]
    n = 20_000
    for path, worse in zip(paths, (0.0, 1.0)):
        with open(path, "w") as f:
            f.writelines(json.dumps({"name": "loss", "value": worse + 1 / (s + 1), "step": s}) + "\n" for s in range(n))
    judge = stopping.Stopping({"train": _early_group(tasks)})
    averages = stopping._running_averages([(s, 1 / (s + 1), None) for s in range(n + 20)])
    parsed = []
    real = tracking._point
    monkeypatch.setattr(tracking, "_point", lambda raw: parsed.append(1) or real(raw))  # (a spy: counted)
    assert judge.judge(tasks[0], str(tmp_path)) is None
    assert judge.judge(tasks[1], str(tmp_path))["evidence"]["step"] == 0  # (worse from its first step)
    for s in range(n, n + 20):  # both report a step, and each is looked at after it
        for path, worse in zip(paths, (0.0, 1.0)):
            with open(path, "a") as f:
                f.write(json.dumps({"name": "loss", "value": worse + 1 / (s + 1), "step": s}) + "\n")
        assert judge.judge(tasks[0], str(tmp_path)) is None
        stop = judge.judge(tasks[1], str(tmp_path))
        assert stop is not None and stop["evidence"]["step"] == s, stop
        assert stop["evidence"]["median"] == averages[s]  # (trial-1's, the only other)
    assert len(parsed) < 3 * n, len(parsed)  # (was: 20 x 2 x 2 x 20,000)


def test_a_stream_read_as_it_grows_gives_what_reading_it_whole_gives(tmp_path):
    from pipefile import stopping, tracking

    path = tmp_path / "t.metrics.jsonl"
    tail = tracking.StreamTail(str(path))
    tail.read()  # (no file yet: no series)
    path.write_bytes(b'{"name": "loss", "value": 3, "step": 0}\n{"name": "loss", "val')
    tail.read()
    assert tail.series == {"loss": [(0, 3, None)]} and tail.bad == 0  # (the torn line: not yet a line)
    with open(path, "ab") as f:
        f.write(b'ue": 2, "step": 1}\n' + b"x" * (tracking.MAX_LINE + 10))
    tail.read()
    with open(path, "ab") as f:
        f.write(b'x\n{"name": "loss", "value": 1, "step": 0}\n')  # (a step again, out of order)
    tail.read()
    assert tail.series == tracking.read_stream(str(path))[0] == {"loss": [(0, 3, None), (1, 2, None), (0, 1, None)]}
    assert tail.bad == 1 and tracking.read_stream(str(path))[1] == [
        "1 line(s) of the metrics stream are not a metric point; left out"
    ]
    # Written anew (not appended to): read anew.
    path.write_bytes(b'{"name": "acc", "value": 0.5}\n' * 3)
    tail.read()
    assert tail.series == {"acc": [(0, 0.5, None), (1, 0.5, None), (2, 0.5, None)]} and tail.bad == 0
    # The running averages of a curve that grows, in order and out of it, are those of all its points.
    policy = stopping._Policy(_early_group(["t"]))
    stream = tracking.stream_path(str(tmp_path / "t.log"))
    for steps in ([0, 1, 2], [3, 4], [2], [7, 5], [9]):
        with open(stream, "a") as f:
            f.writelines(f'{{"name": "loss", "value": {s * 1.5 + len(steps)}, "step": {s}}}\n' for s in steps)
        averages, points = policy.streamed("t", str(tmp_path))
        assert points == tracking.read_stream(stream)[0]["loss"]
        assert averages == stopping._running_averages(points), steps


def test_a_tracking_server_that_does_not_answer_is_asked_twice_and_said_before_the_wait(repo):
    # docs/metrics.md: "pipe asks an HTTP tracking server at most twice"; it asked three times
    # (MLflow's retries count after the first ask), ~95 s with the 30 s timeout, and said
    # nothing until then: the run's summary waited after the last step's line without a word.
    import socket
    import threading

    pytest.importorskip("mlflow.tracking", reason="mlflow is not installed (pip install 'pipefile[mlflow]')")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    accepted: list = []
    done = threading.Event()

    def accept():  # takes each connection and never answers
        while not done.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        repo.write("m.json", '{"acc": 1}')
        repo.pipefile(KEYS_PIPEFILE.replace("m.yaml", "m.json"))
        uri = f"http://127.0.0.1:{server.getsockname()[1]}"
        r = repo.pipe("run", env={"MLFLOW_TRACKING_URI": uri, "MLFLOW_HTTP_REQUEST_TIMEOUT": "1"})
    finally:
        done.set()
        thread.join()
        for c in accepted:
            c.close()
        server.close()
    assert r.code == 0 and f"warning: could not log job 1 to MLflow at {uri}" in r.err, str(r)
    said = f"logging job 1 to MLflow at {uri} ... (the job is recorded; a server that does not answer is given up on"
    assert said in r.err and r.err.index(said) < r.err.index("warning: could not log"), r.err
    assert len(accepted) == 2, len(accepted)


def test_history_and_curve_chart_values_whose_range_no_float_holds(repo):
    # 1e308 in one job and -1e308 in the next: their span is inf, each point's row NaN, and
    # `pipe metrics history` died drawing the chart (internal error, exit 70); `curve` too.
    repo.write(
        "w.py",
        "import json, os, sys\n"
        "with open(os.environ['PIPE_METRICS_STREAM'], 'a') as f:\n"
        "    for s, v in enumerate([1e308, -1e308, 0.0]):\n"
        "        f.write(json.dumps({'name': 'loss', 'value': v, 'step': s}) + '\\n')\n"
        "json.dump({'x': float(sys.argv[1])}, open(sys.argv[2], 'w'))\n",
    )
    repo.pipefile(
        "name: wide\nparams:\n  x: {type: number, default: 1e308}\nsteps:\n  train:\n"
        "    command: python w.py ${{params.x}} ${{outputs.m}}\n    code: [w.py]\n"
        "    outputs: {m: build/m.json}\n    metrics: [build/m.json]\n"
    )
    for x in ("1e308", "-1e308"):
        assert repo.pipe("run", "-p", f"x={x}").code == 0
    for args in (("history", "x"), ("curve", "last", "loss")):
        r = repo.pipe("metrics", *args)
        assert r.code == 0, str(r)
        chart = r.out[r.out.index("\n\n") :]
        assert "1e+308" in chart and "-1e+308" in chart and chart.count("*") + chart.count("\u25cf") >= 2, r.out
    pytest.importorskip("matplotlib", reason="--png needs matplotlib (pipefile[plots])")
    for args in (("history", "x"), ("curve", "last", "loss")):  # (matplotlib: 'arange: cannot compute length')
        r = repo.pipe("metrics", *args, "--png", "c.png")
        assert r.code == 2 and "cannot draw 'c.png': the value 1e+308 is too large for a chart's axis" in r.err, str(r)
        assert "hint: the table and the terminal chart show it" in r.err and not (repo.root / "c.png").exists()


def test_ctrl_c_while_mlflow_is_waited_for_gives_up_the_logging_not_the_run(repo):
    # The run was over and recorded as succeeded, but Ctrl-C during the wait for a tracking
    # server ended pipe with 'interrupted', exit 130, and no summary.
    import signal
    import socket
    import time

    pytest.importorskip("mlflow.tracking", reason="mlflow is not installed (pip install 'pipefile[mlflow]')")
    from workspace_repo import PIPE

    server = socket.socket()  # takes the request, never answers: the client waits for its timeout
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    repo.write("m.json", '{"acc": 1}')
    repo.pipefile(KEYS_PIPEFILE.replace("m.yaml", "m.json"))
    env = dict(os.environ, PIPE_PLAIN="1", MLFLOW_TRACKING_URI=f"http://127.0.0.1:{server.getsockname()[1]}")
    env.pop("PIPE_STORE_DIR", None)
    err = repo.root / "err.txt"
    try:
        with open(err, "w") as f:
            proc = subprocess.Popen(PIPE + ["run"], cwd=repo.root, stdout=subprocess.DEVNULL, stderr=f, env=env)
        server.settimeout(90)
        client = server.accept()[0]  # the request is made: pipe waits for its answer
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        client.close()
        code = proc.wait(timeout=60)
    finally:
        server.close()
    said = err.read_text()
    assert code == 0, said
    assert "succeeded: 1 ran" in said and "warning: logging job 1 to MLflow was interrupted (Ctrl-C)" in said, said
    assert "interrupted\n" not in said.replace("(Ctrl-C)", ""), said


def test_a_history_of_many_jobs_asks_each_name_once_not_each_job(repo):
    # `pipe metrics history` looked a metric up job by job (two statements per job and per
    # way of splitting its name into STEP.NAME), and resolving an ending (`acc`) read every
    # job's names the same way: 5,000 jobs took seconds, growing with the history. Many jobs
    # are now answered by one pass per split, with the same values.
    repo.pipefile(
        """\
        params: {lr: 0.5}
        steps:
          train:
            command: >-
              echo '{"acc": ${{params.lr}}, "loss": {"val": 2}}' > ${{outputs.m}}
            outputs: {m: build/m.json}
            metrics: [build/m.json]
        """
    )
    for lr in ("0.1", "0.2"):
        assert repo.pipe("run", "-p", f"lr={lr}").code == 0
    db = sqlite3.connect(repo.root / ".pipe/jobs.db")
    cols = [r[1] for r in db.execute("PRAGMA table_info(jobs)")][1:]
    with db:  # 200 more jobs like those two, as a long history has
        for n in range(200):
            src = 1 + n % 2
            picked = ", ".join("lower(hex(randomblob(4)))" if c == "uid" else c for c in cols)
            new = db.execute(
                f"INSERT INTO jobs({', '.join(cols)}) SELECT {picked} FROM jobs WHERE id=?", (src,)
            ).lastrowid
            db.execute(
                "INSERT INTO job_steps SELECT ?, step, outcome, key, env, command, inputs, outputs, seconds, "
                "exit_code, log, error, finished, environment, gpus, gpu_model, worker FROM job_steps "
                "WHERE job_id=?",
                (new, src),
            )
            db.execute(
                "INSERT INTO step_metrics SELECT ?, step, seq, digest FROM step_metrics WHERE job_id=?", (new, src)
            )
    db.close()
    from pipefile.jobdb.jobs import JobStore

    store = JobStore(str(repo.root / ".pipe/jobs.db"))
    asked: list = []
    store.db.set_trace_callback(asked.append)
    ids = list(range(202, 0, -1))
    values = store.metric_of_jobs(ids, "train.acc")
    names = store.metric_names(ids)
    store.db.set_trace_callback(None)
    store.close()
    assert values == {i: 0.1 if i % 2 else 0.2 for i in ids}
    assert names == {"train.acc", "train.loss.val"}
    assert len(asked) < 20, len(asked)  # (was 3 splits x 2 x 202 jobs, and 2 x 202 for the names)
    r = repo.pipe("metrics", "history", "acc", "-n", "3", "--json")
    assert r.code == 0 and [j["value"] for j in r.json["jobs"]] == [0.2, 0.1, 0.2], str(r)
