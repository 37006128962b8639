"""Azure ML job types beyond command and pipeline (docs/azureml.md): sweep jobs as pipe
sweeps (the objective read from what each trial logs to MLflow), parallel jobs through the
mini-batch driver, and a pipeline that reads files above its folder. Fixtures written for
these tests are in tests/azureml_fixtures/{sweep,parallel}/."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest
from workspace_repo import Repo

FIXTURES = Path(__file__).parent / "azureml_fixtures"


def _fixture(repo, name: str) -> None:
    shutil.copytree(FIXTURES / name, repo.root, dirs_exist_ok=True)


def _pipe(repo, *args, **kw):
    env = {"PIPE_AZUREML_ENV_MAP": str(repo.root / "envmap.yml")} if (repo.root / "envmap.yml").exists() else {}
    return repo.pipe(*args, env=env, **kw)


def _outcomes(repo, *args) -> dict:
    r = _pipe(repo, "run", "--json", *args, timeout=300)
    assert r.code == 0, str(r)
    return {s["name"]: s["outcome"] for s in r.json["steps"]}


# --- sweep ------------------------------------------------------------------------------------


def test_sweep_job_runs_its_trials_and_a_consumer_reads_the_best_trial(repo):
    pytest.importorskip("mlflow")  # the trial logs its loss as a script on Azure does
    _fixture(repo, "sweep")
    got = _outcomes(repo, "-f", "pipeline.yml")
    assert got == {
        "tune[trial-1]": "ran",
        "tune[trial-2]": "ran",
        "tune[trial-3]": "ran",
        "tune.best": "ran",
        "use": "ran",
    }
    out = repo.root / ".azureml-outputs/pipeline/tune"
    # what each trial logged to MLflow (its last value) is its metrics file
    losses = {
        t: json.loads((out / f"artifacts/{t}/metrics.json").read_text())["loss"]
        for t in ("trial-1", "trial-2", "trial-3")
    }
    best = min(losses, key=losses.get)  # goal: minimize
    assert all(v < 100 for v in losses.values()), losses  # the step-1 value, not the step-0 one
    chosen = repo.read(".azureml-outputs/pipeline/use/chosen/chosen.txt")
    assert chosen == (out / f"model_output/{best}/model.txt").read_text()
    r = _pipe(repo, "sweep", "show", "tune", "-f", "pipeline.yml")
    assert r.code == 0 and f"best: tune[{best}]" in r.out, str(r)
    assert set(_outcomes(repo, "-f", "pipeline.yml").values()) == {"fresh"}
    # moved over for good: the Pipefile has the sweep as a step's sweep:, with the same keys
    r = _pipe(repo, "import", "azureml", "pipeline.yml", "-o", "Pipefile")
    assert r.code == 0, str(r)
    assert "sweep:" in repo.read("Pipefile") and "${{steps.tune.best.outputs.model_output}}" in repo.read("Pipefile")
    r = _pipe(repo, "status", "--json")
    assert r.code == 0 and {s["state"] for s in r.json["steps"]} == {"fresh"}, str(r)


_TRIAL = (
    "name: t\ninputs:\n  x: {type: number}\n  k: {type: string, default: a}\n"
    "outputs:\n  m: {type: uri_folder}\ncommand: echo ${{inputs.x}} ${{inputs.k}} > ${{outputs.m}}/x\n"
)


def _sweep(space: str = "      x: {type: uniform, min_value: 0, max_value: 1}\n", extra: str = "") -> str:
    return (
        "type: pipeline\njobs:\n  s:\n    type: sweep\n    trial: ./trial.yml\n"
        "    search_space:\n" + space + "    objective: {primary_metric: acc, goal: maximize}\n" + extra
    )


SWEEP_REFUSALS = [
    (  # a normal of no spread (a normal is sampled since the sweep distributions were added)
        _sweep("      x: {type: normal, mu: 0, sigma: 0}\n", "    limits: {max_total_trials: 2}\n"),
        "pipeline.yml:7:10: search_space of sweep job 's': 'x' (normal) must be [mu, sigma] with sigma above 0",
        "a normal takes mu and sigma",
    ),
    (  # a grid over a continuous range
        _sweep(extra="    sampling_algorithm: grid\n"),
        "sweep job 's' is a grid search, but 'x' is sampled from 'uniform'",
        "a grid takes choice values only",
    ),
    (  # random without a number of trials
        _sweep(),
        "sweep job 's' samples at random but gives no limits.max_total_trials",
        "add limits: {max_total_trials: N}",
    ),
    (  # a search space over an input the trial does not have
        _sweep("      xx: {type: choice, values: [1, 2]}\n", "    limits: {max_total_trials: 2}\n"),
        "pipeline.yml:7:11: search_space of sweep job 's': 'xx' is not an input of its trial",
        "did you mean 'x'",
    ),
    (  # no objective
        "type: pipeline\njobs:\n  s:\n    type: sweep\n    trial: ./trial.yml\n"
        "    search_space: {x: {type: choice, values: [1]}}\n    limits: {max_total_trials: 1}\n",
        "sweep job 's' has no objective.primary_metric",
        "a metric each trial logs to MLflow",
    ),
    (  # Azure's randint(upper) is [0, upper): upper 1 samples nothing
        _sweep("      x: {type: randint, upper: 1}\n", "    limits: {max_total_trials: 2}\n"),
        "search_space of sweep job 's': 'x': upper must be a whole number of at least 2",
        None,
    ),
]


@pytest.mark.parametrize("text,message,hint", SWEEP_REFUSALS)
def test_sweep_job_refusals_name_the_place_and_the_fix(repo, text, message, hint):
    repo.write("trial.yml", _TRIAL, dedent=False)
    repo.write("pipeline.yml", text, dedent=False)
    r = repo.pipe("validate", "-f", "pipeline.yml")
    assert r.code == 2, str(r)
    assert message in r.err, str(r)
    if hint:
        assert hint.lower() in r.err.lower(), str(r)


def test_loguniform_bounds_are_exponents_and_a_trial_without_the_metric_is_located(repo):
    repo.write("trial.yml", _TRIAL, dedent=False)
    space = "      x: {type: loguniform, min_value: -4.6, max_value: 0}\n"
    extra = (
        "    sampling_algorithm: {type: random, seed: 4}\n    limits: {max_total_trials: 6, max_concurrent_trials: 2}\n"
    )
    repo.write("pipeline.yml", _sweep(space, extra), dedent=False)
    r = repo.pipe("run", "--json", "-f", "pipeline.yml")
    assert sorted(s["name"] for s in r.json["steps"]) == [f"s[trial-{k}]" for k in range(1, 7)]
    # these trials log nothing to MLflow: the objective is unknown, said at the objective
    assert r.code == 2 and "pipeline.yml:8:16: the objective metric 'acc' of sweep 's' is not known" in r.err, str(r)
    for k in range(1, 7):  # exp(-4.6) ~ 0.01 .. exp(0) = 1
        x = float(repo.read(f".azureml-outputs/pipeline/s/m/trial-{k}/x").split()[0])
        assert 0.0100 <= x <= 1.0, x


def test_a_bayesian_sweep_proposes_trials_in_rounds_with_optuna_else_samples_at_random(repo):
    repo.write("trial.yml", _TRIAL, dedent=False)
    extra = "    sampling_algorithm: bayesian\n    limits: {max_total_trials: 4, max_concurrent_trials: 2}\n"
    repo.write("pipeline.yml", _sweep(extra=extra), dedent=False)
    r = repo.pipe("validate", "-f", "pipeline.yml")
    assert r.code == 0, str(r)
    if importlib.util.find_spec("optuna") is None:
        assert "is a bayesian search, which needs Optuna (not installed): its trials are sampled at random" in r.err
        return
    assert "sampled at random" not in r.err, r.err
    r = repo.pipe("status", "-f", "pipeline.yml", "--tasks")
    assert r.code == 0 and "proposed after" in r.out + r.err, str(r)


def test_a_bayesian_sweep_of_trials_that_log_to_mlflow_runs_and_is_fresh_the_next_time(repo):
    pytest.importorskip("mlflow")
    pytest.importorskip("optuna")
    _fixture(repo, "sweep")
    text = repo.read("pipeline.yml").replace("type: random", "type: bayesian")
    repo.write("pipeline.yml", text, dedent=False)
    got = _outcomes(repo, "-f", "pipeline.yml")
    assert got == dict.fromkeys(["tune[trial-1]", "tune[trial-2]", "tune[trial-3]", "tune.best", "use"], "ran")
    assert set(_outcomes(repo, "-f", "pipeline.yml").values()) == {"fresh"}


# --- parallel ---------------------------------------------------------------------------------


def test_parallel_jobs_run_init_once_and_run_per_mini_batch_of_files_and_of_a_table(repo):
    pytest.importorskip("pandas")  # an MLTable of delimited files is read as DataFrames
    _fixture(repo, "parallel")
    assert _outcomes(repo, "-f", "pipeline.yml") == {"count_words": "ran", "add_columns": "ran", "report": "ran"}
    lines = repo.read(".azureml-outputs/pipeline/report/all/all.txt").splitlines()
    # mini_batch_size "2": five files in three calls of run(); program_arguments reach init()
    assert lines[:5] == [
        "doc1.txt 1 words (call 1)",
        "doc2.txt 2 words (call 1)",
        "doc3.txt 3 words (call 2)",
        "doc4.txt 4 words (call 2)",
        "doc5.txt 5 words (call 3)",
    ]
    # "12b" of a 30-byte table of 5 rows: 2 rows a mini-batch; DataFrame rows space-separated
    assert lines[5:] == ["1 2 3 2", "3 4 7 2", "5 6 11 2", "7 8 15 2", "9 10 19 1"]
    assert set(_outcomes(repo, "-f", "pipeline.yml").values()) == {"fresh"}
    # one more document: the parallel node and what reads it run again
    repo.write("data/docs/doc6.txt", "a b c d e f\n")
    got = _outcomes(repo, "-f", "pipeline.yml")
    assert got == {"count_words": "ran", "add_columns": "fresh", "report": "ran"}


_FLAKY = """\
def run(mini_batch):
    if any(p.endswith("bad.txt") for p in mini_batch):
        raise ValueError("cannot read " + mini_batch[0])
    return [p.rsplit("/", 1)[-1] for p in mini_batch]
"""


@pytest.mark.parametrize("threshold,code", [(0, 1), (None, 0)])
def test_parallel_mini_batch_failures_are_retried_and_judged_by_the_error_threshold(repo, threshold, code):
    repo.write("src/flaky.py", _FLAKY, dedent=False)
    for name in ("a.txt", "bad.txt", "c.txt"):
        repo.write(f"data/{name}", "x\n")
    limit = f"    mini_batch_error_threshold: {threshold}\n" if threshold is not None else ""
    repo.write(
        "pipeline.yml",
        "type: pipeline\njobs:\n  p:\n    type: parallel\n    inputs:\n      d: {type: uri_folder, path: ./data}\n"
        "    outputs:\n      o: {type: uri_file}\n    input_data: ${{inputs.d}}\n    mini_batch_size: '1'\n"
        + limit
        + "    retry_settings: {max_retries: 2}\n"
        "    task: {code: ./src, entry_script: flaky.py, append_row_to: '${{outputs.o}}'}\n",
        dedent=False,
    )
    r = repo.pipe("run", "-f", "pipeline.yml")
    assert r.code == code, str(r)
    log = repo.read(".pipe/jobs/1/p.log")
    assert "mini-batch 2/3, try 3/3 failed" in log and "ValueError: cannot read" in log, log
    if code == 0:  # Azure's default threshold (-1) ignores failed mini-batches: the others are kept
        assert "3 mini-batches: 2 succeeded, 1 failed" in r.err + log
        assert repo.read(".azureml-outputs/pipeline/p/o/o") == "a.txt\nc.txt\n"
    else:
        assert "1 mini-batches failed, more than mini_batch_error_threshold (0)" in log, log


def test_parallel_job_refusals_name_the_place_and_the_fix(repo):
    repo.write("data/a.txt", "x\n")
    repo.write(
        "pipeline.yml",
        "type: pipeline\njobs:\n  p:\n    type: parallel\n    inputs:\n      d: {type: uri_folder, path: ./data}\n"
        "    input_data: ${{inputs.dd}}\n    task: {entry_script: x.py}\n",
        dedent=False,
    )
    r = repo.pipe("validate", "-f", "pipeline.yml")
    assert r.code == 2 and "pipeline.yml:7:17: parallel job 'p': input_data must be ${{inputs.NAME}}" in r.err, str(r)
    assert "did you mean 'd'" in r.err
    text = repo.read("pipeline.yml").replace("    task: {entry_script: x.py}\n", "    task: {code: .}\n")
    repo.write("pipeline.yml", text.replace("inputs.dd", "inputs.d"), dedent=False)
    r = repo.pipe("validate", "-f", "pipeline.yml")
    assert r.code == 2 and "parallel job 'p' has no task.entry_script" in r.err, str(r)
    assert "init() and run(mini_batch)" in r.err or "entry_script: score.py" in r.err
    # an entry script outside the task's code folder: not in the step's key (edits of it would
    # not rerun the step), and Azure ML reads it from that folder
    for entry in ("../x.py", "/tmp/x.py", "sub/../../x.py"):
        repo.write(
            "pipeline.yml",
            text.replace("inputs.dd", "inputs.d").replace("{code: .}", f"{{code: ., entry_script: '{entry}'}}"),
            dedent=False,
        )
        r = repo.pipe("validate", "-f", "pipeline.yml")
        assert (
            r.code == 2
            and f"task.entry_script of parallel job 'p' is '{entry}', which is not inside its code folder" in r.err
        ), str(r)
        assert "pipeline.yml:8:35:" in r.err and "move the script into the task's code folder" in r.err
    # a prompt flow as a parallel component: said as such, not as a missing entry script
    repo.write("flow/flow.dag.yaml", "inputs: {text: {type: string}}\nnodes: []\n")
    repo.write("pipeline.yml", "type: pipeline\njobs:\n  p:\n    type: parallel\n    component: ./flow/flow.dag.yaml\n")
    r = repo.pipe("validate", "-f", "pipeline.yml")
    assert r.code == 2 and "pipeline.yml:5:16: parallel job 'p' runs a prompt flow (flow/flow.dag.yaml)" in r.err, str(
        r
    )


# --- a pipeline that reads files above its folder ---------------------------------------------


def test_a_pipeline_reading_above_its_folder_has_its_workspace_there(repo):
    repo.write("src/up.py", "import sys\nprint(open(sys.argv[1]).read().upper(), end='')\n")
    repo.write("data/in.txt", "hello\n")
    repo.write(
        "pipelines/pipeline.yml",
        "type: pipeline\ninputs:\n  d: {type: uri_file, path: ../data/in.txt}\njobs:\n  up:\n"
        "    code: ../src\n    command: python up.py ${{inputs.d}} > ${{outputs.o}}/out.txt\n"
        "    inputs: {d: '${{parent.inputs.d}}'}\n    outputs: {o: {type: uri_folder}}\n",
        dedent=False,
    )
    here = Repo(repo.root / "pipelines")  # run from the pipeline's own folder, as with az ml
    r = here.pipe("run", "-f", "pipeline.yml")
    assert r.code == 0, str(r)
    # the workspace is the folder that holds the pipeline and what it reads: .pipe/ is there,
    # and outputs are kept apart by the pipeline's folder
    assert repo.read(".azureml-outputs/pipelines/pipeline/up/o/out.txt") == "HELLO\n"
    assert (repo.root / ".pipe").is_dir() and not (repo.root / "pipelines/.pipe").exists()
    r = here.pipe("jobs", "--json", "-f", "pipeline.yml")
    assert r.code == 0 and len(r.json["jobs"]) == 1, str(r)
    r = here.pipe("run", "--json", "-f", "pipeline.yml")
    assert r.code == 0 and [s["outcome"] for s in r.json["steps"]] == ["fresh"], str(r)
    repo.write("src/up.py", "import sys\nprint(open(sys.argv[1]).read().title(), end='')\n")
    r = here.pipe("run", "--json", "-f", "pipeline.yml")
    assert r.code == 0 and [s["outcome"] for s in r.json["steps"]] == ["ran"], str(r)
    assert repo.read(".azureml-outputs/pipelines/pipeline/up/o/out.txt") == "Hello\n"


# --- metrics a node logs to MLflow ------------------------------------------------------------


def test_metrics_a_node_logs_to_mlflow_are_its_recorded_metrics(repo):
    pytest.importorskip("mlflow")  # (MLflow 3 refuses a file store unless told: pipe tells it)
    repo.write(
        "src/log.py",
        "import mlflow\nmlflow.log_metric('acc', 0.5, step=0)\nmlflow.log_metric('acc', 0.75, step=1)\n"
        "mlflow.log_metric('loss', 2.0)\n",
    )
    repo.write("pipeline.yml", "type: pipeline\njobs:\n  fit:\n    code: ./src\n    command: python log.py\n")
    r = repo.pipe("run", "-f", "pipeline.yml", timeout=300)
    assert r.code == 0, str(r)
    assert json.loads(repo.read(".azureml-outputs/pipeline/fit/artifacts/metrics.json")) == {"acc": 0.75, "loss": 2.0}
    r = repo.pipe("metrics", "show", "--json", "-f", "pipeline.yml")
    assert r.code == 0 and "fit.acc" in r.out and "0.75" in r.out, str(r)
    assert not (repo.root / "mlruns").exists() and not (repo.root / "src/mlruns").exists()


def test_metrics_hints_for_an_azure_ml_pipeline_name_mlflow_and_its_file(repo):
    # A node that logs nothing: the hints say how a node records metrics (MLflow), not `metrics:`.
    repo.write("src/quiet.py", "print('nothing logged')\n")
    repo.write("pipeline.yml", "type: pipeline\njobs:\n  fit:\n    code: ./src\n    command: python quiet.py\n")
    assert repo.pipe("run", "-f", "pipeline.yml", timeout=300).code == 0
    r = repo.pipe("metrics", "show", "-f", "pipeline.yml")
    assert r.code == 0 and "logging them to MLflow" in r.out and "metrics: [FILE.json]" not in r.out, str(r)
    r = repo.pipe("metrics", "history", "acc", "-f", "pipeline.yml")
    assert r.code == 2 and "hint: a node of an Azure ML pipeline records them by logging them to MLflow" in r.err
    r = repo.pipe("metrics", "curve", "last", "acc", "-f", "pipeline.yml")
    assert r.code == 2 and "`pipe metrics show 1 -f pipeline.yml`" in r.err, str(r)
    r = repo.pipe("report", "1", "-f", "pipeline.yml", "-o", "-")
    assert r.code == 0 and "logging them to MLflow" in r.out and "metrics: [FILE.json]" not in r.out
    # Without -f (no Pipefile here): the hint names the pipeline's file, not `pipe init`.
    for args in (["metrics", "show"], ["jobs"]):
        r = repo.pipe(*args)
        assert r.code == 2 and "pass it with -f pipeline.yml" in r.err and "pipe init" not in r.err, str(r)
    # A Pipefile's job still names its metrics file.
    repo.pipefile("steps:\n  a: {command: 'echo > ${{outputs.o}}', outputs: {o: o.txt}}\n")
    repo.pipe("run", check=True)
    r = repo.pipe("metrics", "show")
    assert r.code == 0 and "a step records them with `metrics: [FILE.json]`" in r.out, str(r)


# --- what azure-ai-ml writes (`pipe run -f build.py` reads its YAML form) ------------------------


def test_the_sdk_forms_of_a_url_input_and_of_boolean_literals_are_read(repo):
    repo.write("local/iris.csv", "a\n1\n")
    repo.write("map.yml", "https://example.com/data: ./local\n")
    repo.write(
        "c.yml", "name: c\ninputs:\n  d: {type: uri_file}\n  flag: {type: boolean}\ncommand: echo ${{inputs.flag}}\n"
    )
    repo.write(
        "pipeline.yml",
        # azure-ai-ml writes a URL it was given as azureml:URL, and a sweep's booleans as 0/1
        "type: pipeline\njobs:\n  j:\n    component: ./c.yml\n    inputs:\n"
        "      d: {type: uri_file, path: 'azureml:https://example.com/data/iris.csv'}\n      flag: 0\n",
        dedent=False,
    )
    r = repo.pipe("run", "-f", "pipeline.yml", "--azureml-map", "map.yml")
    assert r.code == 0, str(r)
    assert "j | False" in r.err, str(r)


def test_pipe_ui_shows_an_azure_ml_pipeline_and_takes_the_azureml_options(repo):
    pytest.importorskip("httpx")
    from test_ui_server import Ui  # (the running `pipe ui` the UI tests use)

    _fixture(repo, "parallel")
    ui = Ui(repo.root, "-f", "pipeline.yml", "--azureml-env-map", "envmap.yml")
    try:
        doc = ui.get("/api/pipeline").json()
        assert doc["ok"] and not doc["errors"], doc["errors"]
        assert {n["name"] for n in doc["graph"]["nodes"]} >= {"count_words", "add_columns", "report"}
    finally:
        ui.close()


def test_a_curated_environment_pipe_does_not_know_runs_in_its_image_with_docker(repo):
    ref = "azureml://registries/azureml/environments/tensorflow-2.16-cuda12/labels/latest"
    repo.write(
        "pipeline.yml", f"type: pipeline\njobs:\n  j:\n    command: echo hi\n    environment: {ref}\n", dedent=False
    )
    image = "mcr.microsoft.com/azureml/curated/tensorflow-2.16-cuda12:latest"
    r = repo.pipe("validate", "-f", "pipeline.yml")
    assert r.code == 2 and "pipeline.yml:5:18: environment" in r.err and f"docker:{image}" in r.err, str(r)
    r = repo.pipe("import", "azureml", "pipeline.yml", "-o", "Pipefile", "--azureml-envs", "docker")
    assert r.code == 0, str(r)
    assert f"image: {image}" in repo.read("Pipefile")


def test_azureml_envs_conda_makes_a_conda_file_environment_a_conda_environment(repo):
    repo.write("env/conda.yml", "name: e\ndependencies:\n  - python=3.8\n  - pip\n  - pip: [numpy]\n")
    repo.write(
        "pipeline.yml",
        "type: pipeline\njobs:\n  j:\n    command: python -V\n    environment:\n"
        "      image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04\n      conda_file: ./env/conda.yml\n",
        dedent=False,
    )
    r = repo.pipe("import", "azureml", "pipeline.yml", "-o", "Pipefile", "--azureml-envs", "conda")
    assert r.code == 0, str(r)
    assert "type: conda\n    file: env/conda.yml" in repo.read("Pipefile")
    r = repo.pipe("import", "azureml", "pipeline.yml", "-o", "Pipefile", "--force")
    assert r.code == 0 and "type: venv" in repo.read("Pipefile")  # (the default: a venv of its pip list)
    if shutil.which("micromamba") or shutil.which("mamba") or shutil.which("conda"):
        return  # (it would build the environment; where none is installed, the refusal is checked)
    r = repo.pipe("run", "-f", "pipeline.yml", "--azureml-envs", "conda")
    assert r.code == 2 and "is a conda environment, but none of micromamba, mamba or conda is on PATH" in r.err, str(r)
