"""Metrics as a run goes: a step streams values (pipefile.log_metric, or JSON lines appended
to $PIPE_METRICS_STREAM), pipe records the series with the job, `pipe metrics curve` shows it,
also while the step still runs, and MLflow gets it point by point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings

import pytest
from workspace_repo import PIPE, Repo

TRAIN = """\
import os, sys, time
import pipefile
for epoch in range(4):
    pipefile.log_metric("loss", 1.0 / (epoch + 1), step=epoch * 10)
    pipefile.log_metric("acc", 0.5 + epoch / 10)
if len(sys.argv) > 2:  # wait for the test to look at the running job
    while not os.path.exists(sys.argv[2]):
        time.sleep(0.05)
open(sys.argv[1], "w").write("done\\n")
"""


def _workspace(repo: Repo, wait_for: str = "") -> None:
    repo.write("train.py", TRAIN)
    repo.pipefile(
        f"""\
        version: 1
        steps:
          train:
            command: {sys.executable} train.py ${{{{outputs.o}}}} {wait_for}
            outputs: {{o: build/o.txt}}
            code: [train.py]
          shell:
            command: >-
              printf '%s\\n' '{{"name": "x", "value": 1}}' 'not json' '{{"name": "x", "value": 3, "step": 7}}'
              >> "$PIPE_METRICS_STREAM"; echo ok > ${{{{outputs.o}}}}
            outputs: {{o: build/s.txt}}
          both:
            command: >-
              echo '{{"name": "f1", "value": 0.1}}' >> "$PIPE_METRICS_STREAM";
              echo '{{"f1": 0.9}}' > ${{{{outputs.m}}}}
            outputs: {{m: build/m.json}}
            metrics: [build/m.json]
        """
    )


def test_a_streamed_series_is_recorded_and_its_last_value_is_a_metric(repo: Repo):
    _workspace(repo)
    r = repo.pipe("run", check=True)
    assert "not a metric point" in r.err, str(r)  # the bad line is named, the run goes on
    shown = repo.pipe("metrics", "show", "--json", check=True).json["jobs"][0]["metrics"]
    assert shown["train.loss"] == 0.25 and shown["train.acc"] == pytest.approx(0.8)
    assert shown["shell.x"] == 3
    assert shown["both.f1"] == 0.9  # the metrics file wins over the stream's last value
    curve = repo.pipe("metrics", "curve", "last", "loss", "--json", check=True).json
    assert curve["metric"] == "train.loss"
    assert [(p["step"], p["value"]) for p in curve["points"]] == [(0, 1.0), (10, 0.5), (20, 1 / 3), (30, 0.25)]
    acc = repo.pipe("metrics", "curve", "last", "train.acc", "--json", check=True).json
    assert [p["step"] for p in acc["points"]] == [0, 1, 2, 3]  # no step given: the count so far
    shell = repo.pipe("metrics", "curve", "last", "shell.x", "--json", check=True).json
    assert [(p["step"], p["value"]) for p in shell["points"]] == [(0, 1.0), (7, 3.0)]
    text = repo.pipe("metrics", "curve", "last", "train.loss", check=True).out
    assert "4 points" in text and "step 0" in text and "step 30" in text


def test_curve_png_and_errors(repo: Repo):
    pytest.importorskip("matplotlib")
    _workspace(repo)
    repo.pipe("run", check=True)
    png = repo.root / "c.png"
    assert repo.pipe("metrics", "curve", "last", "loss", "--png", str(png)).code == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = repo.pipe("metrics", "curve", "last", "los")
    assert r.code == 2 and "no streamed metric 'los'" in r.err and "train.loss" in r.err, str(r)
    r = repo.pipe("metrics", "curve", "last", "x", "--json")
    assert r.code == 0  # unique ending


def test_a_series_shows_while_the_step_still_runs(repo: Repo, tmp_path):
    gate = tmp_path / "gate"
    _workspace(repo, wait_for=str(gate))
    env = dict(os.environ, PIPE_PLAIN="1")
    env.pop("PIPE_STORE_DIR", None)
    run = subprocess.Popen(
        PIPE + ["run", "train"], cwd=repo.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            r = repo.pipe("metrics", "curve", "last", "train.loss", "--json")
            if r.code == 0 and len(r.json["points"]) == 4:
                break
            assert time.monotonic() < deadline, str(r)
            time.sleep(0.2)
        assert r.json["job"]["status"] == "running"
    finally:
        gate.write_text("go")
        out, err = run.communicate(timeout=60)
    assert run.returncode == 0, err
    assert len(repo.pipe("metrics", "curve", "last", "train.loss", "--json", check=True).json["points"]) == 4


def test_log_metric_outside_a_step_warns_once_and_writes_nothing(tmp_path):
    env = dict(os.environ)
    env.pop("PIPE_METRICS_STREAM", None)
    code = "import pipefile; pipefile.log_metric('a', 1); pipefile.log_metric('a', 2)"
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr.count("not inside a pipe step") == 1, r.stderr
    assert os.listdir(tmp_path) == []


def test_mlflow_gets_the_series_point_by_point(repo: Repo, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tracking = pytest.importorskip("mlflow.tracking", reason="mlflow is not installed")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    _workspace(repo)
    repo.pipe("run", "train", env={"MLFLOW_TRACKING_URI": uri}, check=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        client = tracking.MlflowClient(tracking_uri=uri)
        exp = client.get_experiment_by_name(json.loads(repo.pipe("jobs", "--json").out)["jobs"][0]["experiment"])
        (run,) = client.search_runs([exp.experiment_id])
        history = client.get_metric_history(run.info.run_id, "train.loss")
    assert [(m.step, m.value) for m in history] == [(0, 1.0), (10, 0.5), (20, 1 / 3), (30, 0.25)]


def test_a_fresh_step_carries_the_series_of_the_job_that_ran_it(repo: Repo):
    _workspace(repo)
    repo.pipe("run", "train", check=True)
    assert repo.outcomes("train") == {"train": "fresh"}
    curve = repo.pipe("metrics", "curve", "last", "train.loss", "--json", check=True).json
    assert curve["job"]["id"] == 2 and len(curve["points"]) == 4
    assert repo.pipe("metrics", "show", "--json", check=True).json["jobs"][0]["metrics"]["train.loss"] == 0.25


def test_numbers_past_a_float_or_an_sqlite_integer_are_left_out_not_a_crash(repo: Repo):
    # A step writes the stream, so its numbers are anything JSON can say: a value of 400
    # digits was float()ed unguarded (OverflowError, exit 70 after the step had run), a step
    # of 30 digits reached SQLite (OverflowError, exit 70), a time of 400 digits the same.
    huge = "1" + "0" * 400
    lines = [
        f'{{"name": "v", "value": {huge}}}',
        '{"name": "v", "value": 1, "step": 1000000000000000000000000000000}',
        f'{{"name": "v", "value": 2, "step": 5, "time": {huge}}}',
        '{"name": "v", "value": 3, "step": 6, "time": Infinity}',
    ]
    repo.write("w.sh", "".join(f"echo '{line}' >> \"$PIPE_METRICS_STREAM\"\n" for line in lines) + "echo ok > $1\n")
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
    assert "1 line(s) of the metrics stream are not a metric point" in r.err, str(r)
    curve = repo.pipe("metrics", "curve", "last", "s.v", "--json", check=True).json
    # the step no SQLite integer holds: the count so far, as for a step that is no integer
    assert [(p["step"], p["value"], p["time"]) for p in curve["points"]] == [
        (0, 1.0, None),
        (5, 2.0, None),
        (6, 3.0, None),
    ]
    assert repo.pipe("metrics", "show", "--json", check=True).json["jobs"][0]["metrics"] == {"s.v": 3.0}


def test_a_stream_that_is_no_regular_file_or_one_endless_line_is_read_bounded(repo: Repo):
    # The stream file is the step's to write: a link to /dev/zero was read as one line
    # without end (memory until MemoryError, exit 70); a FIFO left there was opened and
    # waited on for a writer for ever; a line of megabytes was read whole before being
    # refused. Each is now left out with a warning, the points around a long line kept.
    repo.write(
        "w.sh",
        """\
        case $1 in
          zero) rm -f "$PIPE_METRICS_STREAM"; ln -s /dev/zero "$PIPE_METRICS_STREAM";;
          fifo) rm -f "$PIPE_METRICS_STREAM"; mkfifo "$PIPE_METRICS_STREAM";;
          long) echo '{"name": "v", "value": 1}' >> "$PIPE_METRICS_STREAM"
                head -c 30000000 /dev/zero | tr '\\0' x >> "$PIPE_METRICS_STREAM"
                printf '\\n{"name": "v", "value": 2}\\n' >> "$PIPE_METRICS_STREAM";;
        esac
        echo ok > $2
        """,
    )
    repo.pipefile(
        """\
        version: 1
        steps:
          zero:
            command: sh w.sh zero ${{outputs.o}}
            code: [w.sh]
            outputs: {o: zero.txt}
          fifo:
            command: sh w.sh fifo ${{outputs.o}}
            code: [w.sh]
            outputs: {o: fifo.txt}
          long:
            command: sh w.sh long ${{outputs.o}}
            code: [w.sh]
            outputs: {o: long.txt}
        """
    )
    # (a bound on memory: the old reader fails here with MemoryError instead of taking the machine's)
    limit = "import resource; resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30)); "
    code = limit + "import sys, runpy; sys.argv = ['pipe', 'run']; runpy.run_module('pipefile', run_name='__main__')"
    env = dict(os.environ, PIPE_PLAIN="1")
    env.pop("PIPE_STORE_DIR", None)
    p = subprocess.run([sys.executable, "-c", code], cwd=repo.root, env=env, capture_output=True, text=True, timeout=90)
    assert p.returncode == 0, p.stderr
    assert p.stderr.count("the metrics stream is not a regular file; not read") == 2, p.stderr
    assert "step 'long': 1 line(s) of the metrics stream are not a metric point" in p.stderr, p.stderr
    curve = repo.pipe("metrics", "curve", "last", "long.v", "--json", check=True).json
    assert [p["value"] for p in curve["points"]] == [1.0, 2.0]


def test_curve_errors_name_series_escaped(repo: Repo):
    # A series' name is whatever the step wrote: the hints of `pipe metrics curve` listed
    # them raw, so a newline in one forged a line of the error output (the colour code was
    # escaped by the error printer; the newline it keeps, for hints of several lines).
    repo.write(
        "w.sh",
        """printf '%s\\n' '{"name": "a\\nfake: row.loss", "value": 1}' '{"name": "b.loss", "value": 2}' >> "$PIPE_METRICS_STREAM"\necho ok > $1\n""",
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
    repo.pipe("run", check=True)
    assert "s.a\nfake: row.loss" in repo.pipe("metrics", "show", "--json", check=True).json["jobs"][0]["metrics"]
    for name in ("loss", "los"):
        r = repo.pipe("metrics", "curve", "last", name)
        assert r.code == 2 and "s.a\\nfake: row.loss" in r.err, str(r)
        assert not any(line.startswith("fake") for line in r.err.splitlines()), str(r)


def test_a_point_time_past_64_bit_milliseconds_is_dropped_and_mlflow_logs_the_job(repo: Repo, tmp_path):
    # A point's "time" of 1e300 was kept as it was; MLflow takes times in milliseconds in
    # 64 bits, so logging the job failed whole ("Python int too large to convert to SQLite
    # INTEGER"): no run, no metrics, for one odd point. Such a time is read as none.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tracking = pytest.importorskip("mlflow.tracking", reason="mlflow is not installed")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    repo.pipefile(
        """\
        version: 1
        steps:
          s:
            command: >-
              printf '%s\\n' '{"name": "loss", "value": 1, "time": 1e300}' '{"name": "loss", "value": 2}'
              >> "$PIPE_METRICS_STREAM"; echo ok > ${{outputs.o}}
            outputs: {o: o.txt}
        """
    )
    r = repo.pipe("run", env={"MLFLOW_TRACKING_URI": uri})
    assert r.code == 0 and "could not log" not in r.err, str(r)
    curve = repo.pipe("metrics", "curve", "last", "s.loss", "--json", check=True).json
    assert [(p["value"], p["time"]) for p in curve["points"]] == [(1.0, None), (2.0, None)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        client = tracking.MlflowClient(tracking_uri=uri)
        exp = client.get_experiment_by_name(curve["job"]["experiment"])
        (run,) = client.search_runs([exp.experiment_id])
        history = client.get_metric_history(run.info.run_id, "s.loss")
    assert [(m.step, m.value) for m in history] == [(0, 1.0), (1, 2.0)]


def test_the_curve_of_a_step_that_failed_or_was_killed_is_still_shown(repo: Repo):
    # While the step ran, `pipe metrics curve` read its stream file; once it failed (or its
    # pipe was killed: the job reads interrupted) the job had recorded no series and the curve
    # was "job 1 has no streamed metrics": the loss that diverged, the one curve wanted most,
    # gone from view though its points are in the job's folder.
    repo.pipefile(
        """\
        version: 1
        steps:
          train:
            command: >-
              for i in 1 2 3; do echo "{\\"name\\": \\"loss\\", \\"value\\": $i}" >> "$PIPE_METRICS_STREAM"; done; exit 3
            outputs: {o: build/o.txt}
        """
    )
    assert repo.pipe("run").code == 1
    r = repo.pipe("metrics", "curve", "last", "loss", "--json")
    assert r.code == 0, str(r)
    assert [p["value"] for p in r.json["points"]] == [1, 2, 3], r.out
    assert "note: job 1 (failed) recorded no series of this step, which did not end well" in r.err, r.err
    # and the job's page has it (it read stream files of a running job only)
    repo.pipe("report", "1", "-o", "page.md", "--format", "markdown", check=True)
    assert "train.loss" in repo.read("page.md"), repo.read("page.md")
    # a step that ended well: its recorded series, no note
    repo.pipefile(
        """\
        version: 1
        steps:
          train:
            command: >-
              echo '{"name": "loss", "value": 7}' >> "$PIPE_METRICS_STREAM"; touch ${{outputs.o}}
            outputs: {o: build/o.txt}
        """
    )
    repo.pipe("run", check=True)
    r = repo.pipe("metrics", "curve", "last", "loss", "--json")
    assert r.code == 0 and [p["value"] for p in r.json["points"]] == [7] and "note" not in r.err, str(r)
