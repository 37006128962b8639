"""`pipe metrics show/diff/history`, `pipe params diff` and MLflow logging, end to end
through the CLI; the chart and number formatting as units."""

from __future__ import annotations

import os
import sqlite3
import warnings

import pytest

from pipefile.report import metrics as report_metrics

TRAIN = """\
import json, sys
lr, out = float(sys.argv[1]), sys.argv[2]
m = {"acc": round(1 - lr, 4), "loss": {"train": round(lr * 2, 4), "val": round(lr * 3, 4)}, "note": "text"}
if lr > 0.5:
    m["extra"] = 1
json.dump(m, open(out, "w"))
"""

PIPEFILE = """\
name: demo
params:
  lr: {type: number, default: 0.1}
  tag: {type: string, default: base}
steps:
  train:
    command: python train.py ${{params.lr}} ${{outputs.metrics}}
    code: [train.py]
    outputs:
      metrics: build/metrics.json
    metrics: [build/metrics.json]
"""


@pytest.fixture
def ws(repo):
    repo.write("train.py", TRAIN)
    repo.pipefile(PIPEFILE)
    return repo


def run_ok(repo, *args, env=None):
    r = repo.pipe("run", *args, env=env)
    assert r.code == 0, str(r)
    return r


def ok(r):
    assert r.code == 0, str(r)
    return r


# --- show ---------------------------------------------------------------------------
def test_show_defaults_to_the_last_job_and_flattens_nested_keys(ws):
    run_ok(ws)
    run_ok(ws, "-p", "lr=0.2")
    out = ok(ws.pipe("metrics", "show", "--json")).json
    assert [j["id"] for j in out["jobs"]] == [2]
    assert out["jobs"][0]["metrics"] == {"train.acc": 0.8, "train.loss.train": 0.4, "train.loss.val": 0.6}
    text = ok(ws.pipe("metrics", "show")).out
    assert "job 2" in text and "train.loss.val" in text and "0.6" in text
    assert "note" not in text  # strings are not metrics


def test_show_several_jobs_one_column_each(ws):
    for lr in ("0.1", "0.2", "0.3"):
        run_ok(ws, "-p", f"lr={lr}")
    out = ok(ws.pipe("metrics", "show", "1", "last", "last~1", "1", "--json")).json
    assert [j["id"] for j in out["jobs"]] == [1, 3, 2]  # in the order given, each once
    text = ok(ws.pipe("metrics", "show", "1", "3")).out
    header = text.splitlines()[0].split()
    assert header[:1] == ["metric"] and "3" in header
    acc = next(line for line in text.splitlines() if line.startswith("train.acc"))
    assert acc.split()[1:] == ["0.9", "0.7"]


def test_show_a_job_without_metrics_says_how_to_record_them(repo):
    repo.pipefile("""\
        steps:
          hello:
            command: python -c "open('out.txt', 'w').write('hi')"
            outputs: {o: out.txt}
        """)
    run_ok(repo)
    r = ok(repo.pipe("metrics", "show"))
    assert "no metrics" in r.out and "metrics:" in r.out
    assert ok(repo.pipe("metrics", "show", "--json")).json["jobs"][0]["metrics"] == {}


# --- diff ---------------------------------------------------------------------------
def test_metrics_diff_gives_a_b_and_change(ws):
    run_ok(ws, "-p", "lr=0.1")
    run_ok(ws, "-p", "lr=0.6")  # writes one more metric: extra
    out = ok(ws.pipe("metrics", "diff", "1", "2", "--json")).json
    assert (out["a"]["id"], out["b"]["id"]) == (1, 2)
    rows = {r["name"]: r for r in out["diff"]}
    assert rows["train.acc"]["a"] == 0.9 and rows["train.acc"]["b"] == 0.4
    assert rows["train.acc"]["change"] == pytest.approx(-0.5)
    assert rows["train.extra"] == {"name": "train.extra", "a": None, "b": 1.0, "change": "added"}
    text = ok(ws.pipe("metrics", "diff", "1", "last")).out
    acc = next(line for line in text.splitlines() if line.startswith("train.acc"))
    assert "0.9" in acc and "0.4" in acc and "-0.5" in acc and "-55.6%" in acc
    assert "added" in next(line for line in text.splitlines() if line.startswith("train.extra"))
    back = {r["name"]: r["change"] for r in ok(ws.pipe("metrics", "diff", "2", "1", "--json")).json["diff"]}
    assert back["train.extra"] == "removed"


def test_params_diff(ws):
    run_ok(ws)
    run_ok(ws, "-p", "lr=0.3", "-p", "tag=wide")
    out = ok(ws.pipe("params", "diff", "1", "2", "--json")).json
    rows = {r["name"]: r for r in out["diff"]}
    assert rows["lr"]["a"] == 0.1 and rows["lr"]["b"] == 0.3 and rows["lr"]["change"] == pytest.approx(0.2)
    assert rows["tag"] == {"name": "tag", "a": "base", "b": "wide", "change": "changed"}
    text = ok(ws.pipe("params", "diff", "1", "2")).out
    assert "wide" in text and "changed" in text and "+0.2" in text
    same = {r["name"]: r["change"] for r in ok(ws.pipe("params", "diff", "1", "1", "--json")).json["diff"]}
    assert same == {"lr": 0.0, "tag": None}


# --- history ------------------------------------------------------------------------
def test_history_table_chart_and_json(ws):
    for lr in ("0.1", "0.3", "0.2"):
        run_ok(ws, "-p", f"lr={lr}")
    run_ok(ws, "-e", "other")  # another experiment: not in the history
    out = ok(ws.pipe("metrics", "history", "train.acc", "-e", "demo", "--json")).json
    assert out["experiment"] == "demo" and out["metric"] == "train.acc"
    assert [(j["id"], j["value"]) for j in out["jobs"]] == [(1, 0.9), (2, 0.7), (3, 0.8)]
    assert out["jobs"][1]["params"]["lr"] == 0.3
    # a unique ending is enough; the table shows the params that vary, then the chart
    r = ok(ws.pipe("metrics", "history", "acc", "--experiment", "demo"))
    lines = r.out.splitlines()
    assert lines[0] == "train.acc across 3 jobs of experiment demo"
    header = lines[1].split()
    assert header[:6] == ["job", "uid", "started", "status", "train.acc", "change"] and "lr" in header
    assert "tag" not in header  # the same in every job
    assert "-0.2" in lines[3] and "0.3" in lines[3]
    assert "job 1" in lines[-1] and "job 3" in lines[-1]
    assert sum(line.count("\u25cf") for line in lines) == 3  # one point per job
    assert ok(ws.pipe("metrics", "history", "acc", "-e", "demo", "-n", "2", "--json")).json["jobs"][0]["id"] == 2


def test_history_defaults_to_the_experiment_of_the_last_job(ws):
    run_ok(ws, "-e", "a")
    run_ok(ws, "-e", "b", "-p", "lr=0.4")
    out = ok(ws.pipe("metrics", "history", "acc", "--json")).json
    assert out["experiment"] == "b" and [j["id"] for j in out["jobs"]] == [2]


def test_history_bad_names(ws):
    run_ok(ws)
    r = ws.pipe("metrics", "history", "accuracy")
    assert r.code == 2 and "no metric 'accuracy'" in r.err and "train.acc" in r.err, str(r)
    r = ws.pipe("metrics", "history", "loss")
    assert r.code == 2 and "did you mean" in r.err, str(r)
    r = ws.pipe("metrics", "history", "tain.loss.val")
    assert r.code == 2 and "did you mean 'train.loss.val'" in r.err, str(r)
    r = ws.pipe("metrics", "history", "acc", "-e", "dem")
    assert r.code == 2 and "no job in experiment 'dem'" in r.err and "'demo'" in r.err, str(r)


WRITE = "import sys; open(sys.argv[1], 'w').write(sys.argv[2])\n"


def test_history_ambiguous_ending(repo):
    repo.write("write.py", WRITE)
    repo.pipefile("""\
        steps:
          a:
            command: ["python", "write.py", "${{outputs.m}}", '{"acc": 1}']
            outputs: {m: a.json}
            metrics: [a.json]
          b:
            command: ["python", "write.py", "${{outputs.m}}", "acc: 2"]
            outputs: {m: b.yaml}
            metrics: [b.yaml]
        """)
    run_ok(repo)
    r = repo.pipe("metrics", "history", "acc")
    assert r.code == 2 and "ambiguous" in r.err and "a.acc" in r.err and "b.acc" in r.err, str(r)
    assert ok(repo.pipe("metrics", "history", "b.acc", "--json")).json["jobs"][0]["value"] == 2.0


def test_history_png_is_a_real_chart(ws, tmp_path):
    pytest.importorskip("matplotlib", reason="--png needs matplotlib (pip install 'pipefile[plots]')")
    for lr in ("0.1", "0.3", "0.2"):
        run_ok(ws, "-p", f"lr={lr}")
    png = tmp_path / "acc.png"
    r = ok(ws.pipe("metrics", "history", "acc", "--png", str(png)))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert "wrote" in r.err


def test_png_without_matplotlib_names_the_extra(ws, tmp_path):
    run_ok(ws)
    blocker = _blocked_package(tmp_path, "matplotlib")
    r = ws.pipe("metrics", "history", "acc", "--png", str(tmp_path / "x.png"), env=_with_path(blocker))
    assert r.code == 2 and "matplotlib" in r.err and "pip install 'pipefile[plots]'" in r.err, str(r)
    assert not (tmp_path / "x.png").exists()


# --- bad input ----------------------------------------------------------------------
def test_invalid_metrics_file_keeps_the_step_and_reports_the_error(repo):
    repo.pipefile("""\
        steps:
          train:
            command: python -c "open('m.json', 'w').write('{not json')"
            outputs: {m: m.json}
            metrics: [m.json]
        """)
    r = repo.pipe("run", "--json")
    assert r.code == 0, str(r)
    assert {s["name"]: s["outcome"] for s in r.json["steps"]} == {"train": "ran"}
    assert repo.read("m.json") == "{not json"
    assert "warning: step 'train': metrics file 'm.json' is not valid JSON" in r.err
    assert ok(repo.pipe("metrics", "show", "--json")).json["jobs"][0]["metrics"] == {}
    assert ok(repo.pipe("jobs", "show", "last", "--json")).json["status"] == "succeeded"


def test_invalid_yaml_metrics_file(repo):
    repo.write("write.py", WRITE)
    repo.pipefile("""\
        steps:
          train:
            command: ["python", "write.py", "${{outputs.m}}", "a: [1, 2"]
            outputs: {m: m.yaml}
            metrics: [m.yaml]
        """)
    r = repo.pipe("run")
    assert r.code == 0 and "metrics file 'm.yaml' is not valid YAML" in r.err, str(r)


def test_unknown_job_with_suggestion(ws):
    run_ok(ws)
    run_ok(ws, "-p", "lr=0.2")
    for args in (("metrics", "show", "7"), ("metrics", "diff", "1", "7"), ("params", "diff", "7", "1")):
        r = ws.pipe(*args)
        assert r.code == 2 and "no job '7'" in r.err and "hint:" in r.err, str(r)
    uid = ok(ws.pipe("metrics", "show", "1", "--json")).json["jobs"][0]["uid"]
    r = ws.pipe("metrics", "show", uid[:-1] + ("0" if uid[-1] != "0" else "1"))
    assert r.code == 2 and f"did you mean '{uid}'" in r.err, str(r)
    r = ws.pipe("metrics", "show", "last~5")
    assert r.code == 2 and "no such job" in r.err, str(r)


def test_ambiguous_prefix(ws):
    run_ok(ws)
    run_ok(ws, "-p", "lr=0.2")
    db = sqlite3.connect(ws.root / ".pipe" / "jobs.db")
    db.execute("UPDATE jobs SET uid='abc1' || substr(uid, 5) WHERE id=1")
    db.execute("UPDATE jobs SET uid='abc2' || substr(uid, 5) WHERE id=2")
    db.commit()
    db.close()
    r = ws.pipe("metrics", "diff", "abc", "last")
    assert r.code == 2 and "'abc' matches several jobs (" in r.err and "hint:" in r.err, str(r)
    assert ok(ws.pipe("metrics", "show", "abc2", "--json")).json["jobs"][0]["id"] == 2


# --- MLflow -------------------------------------------------------------------------
def _mlflow_client(uri):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow_tracking = pytest.importorskip(
            "mlflow.tracking", reason="mlflow is not installed (pip install 'pipefile[mlflow]')"
        )
        return mlflow_tracking.MlflowClient(tracking_uri=uri)


def _runs(client, experiment):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exp = client.get_experiment_by_name(experiment)
        return [] if exp is None else client.search_runs([exp.experiment_id])


@pytest.fixture(scope="module")
def mlflow_store(tmp_path_factory):
    """One real MLflow sqlite store for the module (creating its tables takes seconds)."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    return uri, _mlflow_client(uri)


def test_mlflow_logs_each_job_as_a_run(ws, mlflow_store):
    uri, client = mlflow_store
    r = run_ok(ws, "-p", "lr=0.2", env={"MLFLOW_TRACKING_URI": uri})
    assert "logged job 1 to MLflow" in r.err and "warning" not in r.err and "INFO" not in r.err, str(r)
    run_ok(ws, "-p", "lr=0.3", "-e", "sweep", env={"MLFLOW_TRACKING_URI": uri})
    run_ok(ws, "-p", "lr=0.4")  # no URI, no --mlflow: not logged
    (run,) = _runs(client, "demo")
    assert run.data.params == {"lr": "0.2", "tag": "base"}
    assert run.data.metrics == {"train.acc": 0.8, "train.loss.train": 0.4, "train.loss.val": 0.6}
    tags = run.data.tags
    assert tags["pipe.job_id"] == "1" and tags["pipe.status"] == "succeeded" and tags["pipe.step.train"] == "ran"
    assert tags["mlflow.runName"] == "pipe job 1" and len(tags["pipe.job_uid"]) >= 4
    assert run.info.status == "FINISHED"
    (other,) = _runs(client, "sweep")
    assert other.data.tags["pipe.job_id"] == "2" and other.data.metrics["train.acc"] == 0.7


def test_mlflow_flag_and_relogging_the_same_job_updates_its_run(ws, mlflow_store):
    from pipefile import mlflow_log
    from pipefile.workspace import Workspace

    uri, client = mlflow_store
    r = run_ok(ws, "--mlflow", "-e", "relog", env={"MLFLOW_TRACKING_URI": uri})
    assert "logged job 1" in r.err
    w = Workspace(str(ws.root), create=False)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            again = mlflow_log.log_job(w, 1, uri)
    finally:
        w.close()
    (run,) = _runs(client, "relog")
    assert run.info.run_id == again


def test_mlflow_without_a_tracking_uri_logs_to_pipes_own_store_not_the_repo(ws):
    """MLflow's default store is mlflow.db (or mlruns/) in the current folder: a file in the
    repo nobody asked for. Without a URI, --mlflow logs under .pipe/ and says where."""
    before = set(os.listdir(ws.root))
    r = run_ok(ws, "--mlflow", "-e", "own", env={"MLFLOW_TRACKING_URI": ""})
    assert "logged job 1 to MLflow" in r.err, str(r)
    store = ws.root / ".pipe" / "mlflow"
    assert "in pipe's own MLflow store .pipe/mlflow/ (no MLFLOW_TRACKING_URI set)" in r.err, str(r)
    assert f"mlflow ui --backend-store-uri sqlite:///{store}/mlflow.db" in r.err
    assert set(os.listdir(ws.root)) - before == {"build", ".pipe"}, os.listdir(ws.root)  # nothing else
    (run,) = _runs(_mlflow_client(f"sqlite:///{store}/mlflow.db"), "own")
    assert run.data.tags["pipe.job_id"] == "1"


def test_mlflow_failure_is_a_warning_and_the_job_stands(ws):
    r = ws.pipe("run", env={"MLFLOW_TRACKING_URI": "http://127.0.0.1:9", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"})
    _mlflow_client("http://127.0.0.1:9")  # skip where mlflow is missing: then the warning differs
    assert r.code == 0, str(r)
    assert "warning: could not log job 1 to MLflow at http://127.0.0.1:9" in r.err, str(r)
    assert ok(ws.pipe("jobs", "show", "1", "--json")).json["status"] == "succeeded"


def test_mlflow_flag_without_mlflow_fails_before_running(ws, tmp_path):
    blocker = _blocked_package(tmp_path, "mlflow")
    r = ws.pipe("run", "--mlflow", env=_with_path(blocker))
    assert r.code == 2 and "pip install 'pipefile[mlflow]'" in r.err, str(r)
    assert not ws.exists("build/metrics.json")
    r = ws.pipe("run", env=dict(_with_path(blocker), MLFLOW_TRACKING_URI="sqlite:///x.db"))
    assert r.code == 0 and "warning: cannot log the job to MLflow" in r.err, str(r)
    assert "pipefile[mlflow]" in r.err


def _blocked_package(tmp_path, name):
    """A folder that, first on PYTHONPATH, makes `import NAME` fail as if it were not installed."""
    d = tmp_path / f"no-{name}"
    (d / name).mkdir(parents=True)
    (d / name / "__init__.py").write_text(f"raise ImportError('{name} is blocked by the test')\n")
    return d


def _with_path(first):
    import os

    return {"PYTHONPATH": os.pathsep.join([str(first), os.environ.get("PYTHONPATH", "")])}


# --- units --------------------------------------------------------------------------
def test_numbers_read_as_people_write_them():
    assert report_metrics.fmt_number(0.15000000000000002) == "0.15"
    assert report_metrics.fmt_number(1.0) == "1"
    assert report_metrics.fmt_number(None) == "-"
    assert report_metrics.fmt_change(0.9, 0.4) == "-0.5 (-55.6%)"
    assert report_metrics.fmt_change(0, 2) == "+2"
    assert report_metrics.fmt_change(None, 2) == "added"
    assert report_metrics.fmt_change(2, None) == "removed"


def test_text_chart_shapes():
    text = report_metrics.text_chart([1, 2, 3], [0.1, 0.5, 0.3], "m", unicode=False)
    lines = text.splitlines()
    assert lines[0] == "m"
    assert lines[1].startswith("0.5 |") and lines[1].index("*") > lines[-3].index("*") - 10
    assert lines[-3].startswith("0.1 |*")  # the lowest point on the bottom row
    assert lines[-1].strip() == "job 1  job 3"
    assert sum(line.count("*") for line in lines) == 3
    flat = report_metrics.text_chart([1, 2], [2.0, 2.0], "flat", unicode=True)
    assert sum(line.count("\u25cf") for line in flat.splitlines()) == 2
    many = report_metrics.text_chart(list(range(1, 201)), [float(i) for i in range(200)], "m", width=60)
    assert "(newest" in many.splitlines()[0] and all(len(line) <= 60 for line in many.splitlines())
    assert "job 200" in many.splitlines()[-1]
    assert report_metrics.text_chart([1], [float("nan")], "m") == ""


def test_whole_numbers_are_shown_in_full_not_in_six_digits():
    """A seed or a count (a param, a metric) read 2.02312e+07 for 20231207 in every table."""
    from pipefile.report.metrics import fmt_change, fmt_number

    assert fmt_number(20231207) == "20231207" and fmt_number(-42) == "-42"
    # (a float that is a whole number too: the job database keeps every metric as a float)
    assert fmt_number(0.15000000000000002) == "0.15" and fmt_number(1234567.0) == "1234567"
    assert fmt_number(1234567.5) == "1.23457e+06"
    assert fmt_number(10**20) == "1e+20"  # past what reads as a whole number at a glance
    assert fmt_change(100, 20231207) == "+20231107 (+20231107.0%)"
    assert fmt_change(0.5, 0.75) == "+0.25 (+50.0%)"


def test_a_whole_number_metric_reads_as_written_in_every_table(repo):
    # fmt_number showed an int in full, but the job database keeps metrics as floats: the
    # 20231207 a step wrote read back as 20231207.0 and every table printed 2.02312e+07.
    repo.pipefile(
        """\
        params: {seed: 20231207}
        steps:
          train:
            command: >-
              echo '{"seed": ${{params.seed}}, "rows": 1500000, "acc": 0.25}' > ${{outputs.m}}
            outputs: {m: m.json}
            metrics: [m.json]
        """
    )
    run_ok(repo)
    run_ok(repo, "-p", "seed=20231300")
    show = ok(repo.pipe("metrics", "show")).out
    assert "20231300" in show and "1500000" in show and "e+0" not in show, show
    diff = ok(repo.pipe("metrics", "diff", "1", "2")).out
    assert "20231207" in diff and "+93" in diff and "e+0" not in diff, diff
    history = ok(repo.pipe("metrics", "history", "seed")).out
    assert "20231207" in history and "e+0" not in history, history


def test_mlflow_leaves_out_a_param_with_no_value(repo, mlflow_store):
    # An Azure ML pipeline input left unset is a param with no value: MLflow got "null" for
    # it, a value the run seemed to have (compared with the other runs' numbers).
    uri, client = mlflow_store
    repo.write(
        "pipeline.yml",
        "type: pipeline\nname: unsetmlflow\ninputs:\n  lr: {type: number, optional: true}\n  k: 3\n"
        "jobs:\n  c:\n    component: ./c.yml\n    inputs: {lr: '${{parent.inputs.lr}}', k: '${{parent.inputs.k}}'}\n",
    )
    repo.write(
        "c.yml",
        "type: command\ninputs:\n  lr: {type: number, optional: true}\n  k: {type: integer}\n"
        "command: echo $[[${{inputs.lr}}]] ${{inputs.k}} > ${{outputs.o}}/o.txt\noutputs:\n  o: {type: uri_folder}\n",
    )
    run_ok(repo, "-f", "pipeline.yml", env={"MLFLOW_TRACKING_URI": uri})
    run_ok(repo, "-f", "pipeline.yml", "-p", "lr=0.5", env={"MLFLOW_TRACKING_URI": uri})
    runs = sorted(_runs(client, "unsetmlflow"), key=lambda r: r.data.tags["pipe.job_id"])
    assert [r.data.params for r in runs] == [{"k": "3"}, {"k": "3", "lr": "0.5"}]
