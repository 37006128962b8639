"""Azure ML's own YAML run here (docs/azureml.md): sweep jobs and the importer's edges,
faults found in review, each kept fixed. Real `pipe` runs in temporary workspaces; no mocks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

try:  # the designer's fixture; its module skips itself without the UI's packages
    from test_ui_server import start  # noqa: F401
except pytest.skip.Exception:
    start = None

_TRIAL_PY = """\
import os, sys
import mlflow
data, lr, kind, scale, out = sys.argv[1:]
n = len(open(os.path.join(data, "a.txt")).read().split())
mlflow.log_metric("score", float(lr) * n * float(scale) + (kind == "b"))
with open(os.path.join(out, "r.txt"), "w") as f:
    f.write(f"{lr} {kind} {scale} {n}")
"""

_COMMAND_JOB = """\
$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
type: command
code: ./src
command: python t.py ${{inputs.data}} ${{inputs.lr}} a ${{inputs.scale}} ${{outputs.result}}
inputs:
  data: {type: uri_folder, path: ./data}
  lr: 0.5
  scale: 2
outputs:
  result: {type: uri_folder}
environment: azureml:AzureML-sklearn-1.5@latest
compute: azureml:cpu-cluster
"""

_SWEEP_JOB = """\
$schema: https://azuremlschemas.azureedge.net/latest/sweepJob.schema.json
type: sweep
trial:
  code: ./src
  command: >-
    python t.py ${{inputs.data}} ${{search_space.lr}} ${{search_space.kind}}
    ${{inputs.scale}} ${{outputs.result}}
  environment: azureml:AzureML-sklearn-1.5@latest
inputs:
  data: {type: uri_folder, path: ./data}
  scale: 2
outputs:
  result: {type: uri_folder}
search_space:
  lr: {type: choice, values: [0.1, 0.2]}
  kind: {type: choice, values: [a, b]}
sampling_algorithm: grid
objective: {primary_metric: score, goal: maximize}
limits: {max_total_trials: 10, max_concurrent_trials: 2}
compute: azureml:cpu-cluster
"""


def _standalone(repo) -> None:
    repo.write("src/t.py", _TRIAL_PY, dedent=False)
    repo.write("data/a.txt", "1 2 3\n", dedent=False)
    repo.write("job.yml", _COMMAND_JOB, dedent=False)
    repo.write("sweep.yml", _SWEEP_JOB, dedent=False)
    repo.write("envmap.yml", "azureml:AzureML-sklearn-1.5@latest: local\n", dedent=False)


def _pipe(repo, *args):
    return repo.pipe(*args, env={"PIPE_AZUREML_ENV_MAP": str(repo.root / "envmap.yml")}, timeout=300)


def _outcomes(repo, *args) -> dict:
    r = _pipe(repo, "run", "--json", *args)
    assert r.code == 0, str(r)
    return {s["name"]: s["outcome"] for s in r.json["steps"]}


def test_a_standalone_command_job_runs_as_a_pipeline_of_it_and_p_sets_its_inputs(repo):
    # `az ml job create -f job.yml` takes a command job at the top level: pipe read it as a
    # Pipefile and refused each of its keys ("unknown key 'command' in the Pipefile" ...).
    pytest.importorskip("mlflow")
    _standalone(repo)
    assert _outcomes(repo, "-f", "job.yml") == {"job": "ran"}
    assert repo.read(".azureml-outputs/job/job/result/r.txt") == "0.5 a 2 3"
    assert _outcomes(repo, "-f", "job.yml") == {"job": "fresh"}
    assert _outcomes(repo, "-f", "job.yml", "-p", "scale=3") == {"job": "ran"}  # as --set inputs.scale=3
    assert repo.read(".azureml-outputs/job/job/result/r.txt") == "0.5 a 3 3"
    r = _pipe(repo, "run", "-f", "job.yml", "-p", "scale=x")
    assert r.code == 2 and "job.yml:8:10: -p scale=x: param 'scale' is an integer" in r.err, str(r)


def test_a_standalone_sweep_job_samples_its_search_space_into_the_trial_command(repo):
    # A sweep job at the top level: its inline trial reads ${{search_space.X}} and the
    # sweep's ${{inputs.X}}. pipe refused the file as a Pipefile.
    pytest.importorskip("mlflow")
    _standalone(repo)
    trials = [f"sweep[trial-{k}]" for k in range(1, 5)] + ["sweep.best"]  # (the best: its own test)
    assert _outcomes(repo, "-f", "sweep.yml") == dict.fromkeys(trials, "ran")
    out = repo.root / ".azureml-outputs/sweep/sweep/result"
    got = sorted((out / f"trial-{k}/r.txt").read_text() for k in range(1, 5))
    assert got == ["0.1 a 2 3", "0.1 b 2 3", "0.2 a 2 3", "0.2 b 2 3"]  # the grid, each value once
    r = _pipe(repo, "sweep", "show", "sweep", "-f", "sweep.yml")
    assert r.code == 0 and "best: sweep[trial-4]" in r.out, str(r)  # 0.2 * 3 * 2 + 1
    assert _outcomes(repo, "-f", "sweep.yml") == dict.fromkeys(trials, "fresh")
    repo.write("data/a.txt", "1 2 3 4\n", dedent=False)  # the sweep's input changed: every trial reruns
    assert _outcomes(repo, "-f", "sweep.yml") == dict.fromkeys(trials, "ran")
    assert _outcomes(repo, "-f", "sweep.yml", "-p", "scale=5") == dict.fromkeys(trials, "ran")
    assert (out / "trial-4/r.txt").read_text() == "0.2 b 5 4"
    r = _pipe(repo, "import", "azureml", "sweep.yml", "-o", "Pipefile")
    assert r.code == 0, str(r)
    r = _pipe(repo, "status", "--json", "-p", "scale=5")
    assert r.code == 0 and {s["state"] for s in r.json["steps"]} == {"fresh"}, str(r)


def test_a_standalone_sweep_jobs_outputs_are_its_best_trials(repo):
    # On Azure a sweep job's outputs are its best trial's. Run on its own, nothing read them,
    # so no task picked the best trial: `result` had only the trials' entries.
    pytest.importorskip("mlflow")
    _standalone(repo)
    trials = {f"sweep[trial-{k}]": "ran" for k in range(1, 5)}
    assert _outcomes(repo, "-f", "sweep.yml") == {**trials, "sweep.best": "ran"}
    best = repo.root / ".azureml-outputs/sweep/sweep/result.best"
    assert (best / "r.txt").read_text() == "0.2 b 2 3"  # trial-4: 0.2 * 3 * 2 + 1
    assert _outcomes(repo, "-f", "sweep.yml") == dict.fromkeys([*trials, "sweep.best"], "fresh")
    repo.write("data/a.txt", "1 2 3 4\n", dedent=False)  # every trial reruns, and the pick
    assert _outcomes(repo, "-f", "sweep.yml") == {**trials, "sweep.best": "ran"}
    assert (best / "r.txt").read_text() == "0.2 b 2 4"
    # The Pipefile it exports gives the trials the same keys and says how to read the best.
    r = _pipe(repo, "import", "azureml", "sweep.yml", "-o", "Pipefile")
    assert r.code == 0, str(r)
    assert "${{steps.sweep.best.outputs.result}}" in repo.read("Pipefile"), repo.read("Pipefile")
    r = _pipe(repo, "status", "--json")
    assert r.code == 0 and {s["name"]: s["state"] for s in r.json["steps"]} == dict.fromkeys(trials, "fresh"), str(r)


def test_a_standalone_sweep_refuses_a_search_space_named_as_an_input_at_its_line(repo):
    _standalone(repo)
    repo.write("sweep.yml", _SWEEP_JOB.replace("  kind: {type: choice", "  scale: {type: choice"), dedent=False)
    r = _pipe(repo, "validate", "-f", "sweep.yml")
    assert r.code == 2, str(r)
    assert "sweep.yml:16:10: search_space of the sweep job: 'scale' is also one of its inputs" in r.err, r.err


def test_azure_ml_itself_reads_the_standalone_jobs_as_jobs(repo):
    # (the YAML above is what Azure accepts: azure-ai-ml loads it offline, when it is here)
    py = os.environ.get("PIPE_TEST_AZUREML_PYTHON")
    if not py or not os.path.exists(py):
        pytest.skip("azure-ai-ml is not installed (set PIPE_TEST_AZUREML_PYTHON)")
    _standalone(repo)
    code = "from azure.ai.ml import load_job; print(type(load_job('job.yml')).__name__, type(load_job('sweep.yml')).__name__)"
    r = subprocess.run([py, "-c", code], cwd=repo.root, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.split() == ["Command", "SweepJob"], r.stderr


_CASED = """\
type: pipeline
jobs:
  s:
    type: sweep
    trial:
      type: command
      inputs: {x: {type: number}, k: {type: string}, n: {type: integer}}
      command: echo ${{inputs.x}} ${{inputs.k}} ${{inputs.n}}
    search_space:
      x: {type: LogUniform, min_value: -4, max_value: 0}
      k: {type: Choice, values: [a, b]}
      n: {type: RandInt, upper: 5}
    sampling_algorithm: {type: Random, seed: 2}
    objective: {primary_metric: acc, goal: Minimize}
    limits: {max_total_trials: 3}
"""


@pytest.mark.parametrize(
    "text,steps",
    [
        (_CASED, 3),
        (  # a grid, named as the Python SDK's enums spell it
            _CASED.replace("{type: LogUniform, min_value: -4, max_value: 0}", "{type: CHOICE, values: [1, 2]}")
            .replace("{type: RandInt, upper: 5}", "{type: Choice, values: [3]}")
            .replace("{type: Random, seed: 2}", "Grid")
            .replace("    limits: {max_total_trials: 3}\n", ""),
            4,
        ),
    ],
    ids=["random", "grid"],
)
def test_sweep_names_are_read_in_any_case_as_azure_reads_them(repo, text, steps):
    # azure-ai-ml lowers a distribution's type and snake-cases the goal and the algorithm:
    # `type: Choice`, `goal: Minimize`, `sampling_algorithm: Grid` are Azure's; pipe refused them
    repo.write("pipeline.yml", text, dedent=False)
    r = repo.pipe("validate", "-f", "pipeline.yml")
    assert r.code == 0 and f"ok (1 step, {steps} tasks" in r.out, str(r)
    r = repo.pipe("status", "-f", "pipeline.yml", "--json")
    assert r.code == 0 and len(r.json["steps"]) == steps, str(r)


def test_the_designer_shows_a_standalone_sweep_job_and_refuses_an_edit_of_it(repo, request):
    # (its file is Azure's: an edit would write Pipefile keys into it, which Azure ignores)
    if start is None:
        pytest.skip("the designer needs httpx, fastapi and uvicorn")
    ui_of = request.getfixturevalue("start")
    _standalone(repo)
    ui = ui_of(repo.root, "-f", "sweep.yml", "--azureml-env-map", "envmap.yml")
    doc = ui.get("/api/pipeline").json()
    assert doc["ok"] and [p["name"] for p in doc["params"]] == ["scale"], doc
    ops = [{"op": "set_param", "name": "scale", "value": 5}]
    r = ui.post("/api/save", {"base": doc["digest"], "operations": ops})
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert "Azure ML" in err["message"] and err["file"] == "sweep.yml", err
    assert "sweep.yml is an Azure ML job:" in err["message"], err  # (a job on its own: no pipeline job)
    assert "pipe import azureml sweep.yml" in err["hint"], err
    assert repo.read("sweep.yml") == _SWEEP_JOB


def test_p_on_a_path_input_says_it_is_an_asset_at_its_line(repo):
    # `-p data=./other` on a pipeline's uri_folder input said "the Pipefile has no param
    # 'data'" and listed the others, as if it were a typo
    _standalone(repo)
    r = _pipe(repo, "run", "-f", "job.yml", "-p", "data=./other")
    assert r.code == 2, str(r)
    assert "job.yml:6:9: -p data=./other: 'data' is an asset (a path), not a param" in r.err, r.err
    assert "has no param" not in r.err, r.err


_ODD = """\
type: pipeline
jobs:
  s:
    type: sweep
    trial:
      inputs: {x: {type: number}}
      command: echo ${{inputs.x}}
    search_space: {x: SPACE}
    sampling_algorithm: ALG
    objective: OBJ
    limits: LIMITS
"""


@pytest.mark.parametrize(
    "space,alg,obj,limits,says",
    [
        (  # an internal error (exit 70): unhashable type 'Seq'
            "{type: [choice], values: [1]}",
            "random",
            "{primary_metric: acc}",
            "{max_total_trials: 2}",
            "pipeline.yml:8:30: search_space of sweep job 's': 'x' needs a type:",
        ),
        (  # .nan and .inf passed `v <= 0`: every trial ran without a limit
            "{type: uniform, min_value: 0, max_value: 1}",
            "random",
            "{primary_metric: acc}",
            "{max_total_trials: 2, trial_timeout: .nan}",
            "pipeline.yml:11:50: limits.trial_timeout of sweep job 's' must be a number of seconds above 0, not nan",
        ),
        (
            "{type: uniform, min_value: 0, max_value: 1}",
            "random",
            "{primary_metric: acc}",
            "{max_total_trials: 2, trial_timeout: .inf}",
            "must be a number of seconds above 0, not inf",
        ),
        (  # an empty metric ran, and no best trial was ever asked of it
            "{type: uniform, min_value: 0, max_value: 1}",
            "random",
            "{primary_metric: ''}",
            "{max_total_trials: 2}",
            "pipeline.yml:10:16: sweep job 's' has no objective.primary_metric",
        ),
        (  # said "unknown 'None'"
            "{type: uniform, min_value: 0, max_value: 1}",
            "{seed: 3}",
            "{primary_metric: acc}",
            "{max_total_trials: 2}",
            "pipeline.yml:9:25: sampling_algorithm of sweep job 's': no type:",
        ),
    ],
    ids=["type-list", "timeout-nan", "timeout-inf", "metric-empty", "algorithm-no-type"],
)
def test_odd_sweep_values_are_refused_at_their_line(repo, space, alg, obj, limits, says):
    text = _ODD.replace("SPACE", space).replace("ALG", alg).replace("OBJ", obj).replace("LIMITS", limits)
    repo.write("pipeline.yml", text, dedent=False)
    r = repo.pipe("validate", "-f", "pipeline.yml")
    assert r.code == 2 and says in r.err, str(r)


def test_a_standalone_trial_reading_a_name_the_search_space_lacks_says_so(repo):
    # it said "the command reads ${{inputs.w}}, which its component does not declare":
    # neither what was written nor where it is defined
    _standalone(repo)
    repo.write("sweep.yml", _SWEEP_JOB.replace("${{search_space.kind}}", "${{search_space.knd}}"), dedent=False)
    r = _pipe(repo, "validate", "-f", "sweep.yml")
    assert r.code == 2, str(r)
    said = "sweep.yml:5:12: the trial's command reads ${{search_space.knd}}, which the search_space does not define"
    assert said in r.err and "did you mean 'kind'" in r.err, r.err


def test_an_input_bound_and_sampled_too_is_said_to_be_the_sampled_one(repo):
    # the binding was dropped without a word: `x: 0.5` read as used, each trial got a sample
    text = _CASED.replace("    search_space:\n", "    inputs:\n      x: 0.5\n    search_space:\n")
    repo.write("pipeline.yml", text, dedent=False)
    r = repo.pipe("validate", "-f", "pipeline.yml")
    assert r.code == 0, str(r)
    assert "pipeline.yml:10:10: input 'x' of sweep job 's' is set by its search_space, trial by trial" in r.err, r.err


_ONE_INPUT = """\
type: pipeline
inputs:
  v: VALUE
jobs:
  a:
    command: echo ${{inputs.v}}
    inputs:
      v: ${{parent.inputs.v}}
"""


@pytest.mark.parametrize(
    "value,says",
    [
        ("{type: integer, default: 2.5}", "pipeline.yml:3:31: pipeline input 'v' is integer, not 2.5"),
        ("{type: weird, default: 1}", "pipeline.yml:3:13: pipeline input 'v': unknown type 'weird'"),
        ("[1, 2]", "pipeline.yml:3:6: pipeline input 'v': a list or mapping is not a value"),
    ],
    ids=["integer-2.5", "unknown-type", "list"],
)
def test_a_pipeline_input_azure_refuses_is_refused_at_its_line(repo, value, says):
    # each ran (2.5 given to an integer, 'weird' read as the value's type), or, for a list,
    # said to need a Pipefile's foreach; azure-ai-ml refuses each
    repo.write("pipeline.yml", _ONE_INPUT.replace("VALUE", value), dedent=False)
    r = repo.pipe("validate", "-f", "pipeline.yml")
    assert r.code == 2 and says in r.err, str(r)


def test_pipeline_inputs_azure_ml_writes_as_text_still_load(repo):
    # (azure-ai-ml writes a pipeline's defaults as text: '1.5', 'False'; they are not refused)
    text = _ONE_INPUT.replace("VALUE", "{type: number, default: '1.5'}")
    text = text.replace(
        "inputs:\n  v:", "inputs:\n  f: {type: boolean, default: 'False'}\n  s: {type: string, default: 5}\n  v:"
    )
    repo.write("pipeline.yml", text, dedent=False)
    r = repo.pipe("validate", "-f", "pipeline.yml")
    assert r.code == 0, str(r)


_PARALLEL = """\
type: pipeline
jobs:
  p:
    type: parallel
    inputs:
      d: {type: uri_folder, path: ./data}
    input_data: ${{inputs.d}}
    retry_settings: RETRY
    task:
      code: ./src
      entry_script: e.py
"""


def test_retry_settings_of_another_shape_are_not_read_as_none(repo):
    # `retry_settings: 3` and a misspelt key were read as no settings at all (3 retries, no
    # timeout), without a word
    repo.write("src/e.py", "def init():\n    pass\n\n\ndef run(batch):\n    return batch\n", dedent=False)
    repo.write("data/a.txt", "a\n", dedent=False)
    repo.write("pipeline.yml", _PARALLEL.replace("RETRY", "3"), dedent=False)
    r = repo.pipe("validate", "-f", "pipeline.yml")
    assert r.code == 2 and "pipeline.yml:8:21: retry_settings of parallel job 'p' must be a mapping" in r.err, str(r)
    repo.write("pipeline.yml", _PARALLEL.replace("RETRY", "{max_retry: 1}"), dedent=False)
    r = repo.pipe("validate", "-f", "pipeline.yml")
    assert r.code == 0 and r.err.count("unknown key 'max_retry' is ignored") == 1, str(r)
    assert "did you mean 'max_retries'" in r.err, str(r)


def test_a_search_space_over_a_path_input_is_refused_not_run_on_text(repo):
    # each trial got the path as text ('./a'): relative to no folder it failed, and its
    # content was no input of the trial, so a change to it would rerun nothing
    repo.write("a/f", "1\n", dedent=False)
    text = _ODD.replace("{x: {type: number}}", "{x: {type: uri_folder}}").replace(
        "echo ${{inputs.x}}", "cat ${{inputs.x}}/f"
    )
    text = (
        text.replace("SPACE", "{type: choice, values: [./a]}")
        .replace("ALG", "grid")
        .replace("OBJ", "{primary_metric: acc}")
    )
    repo.write("pipeline.yml", text.replace("    limits: LIMITS\n", ""), dedent=False)
    r = repo.pipe("validate", "-f", "pipeline.yml")
    assert r.code == 2, str(r)
    assert "pipeline.yml:8:23: search_space of sweep job 's': 'x' is a path input of its trial" in r.err, r.err


def test_the_no_pipefile_hint_names_the_pipeline_before_a_component_read_as_a_job(repo):
    # a command component without $schema reads as a standalone job: the hint named it first
    repo.write("a_train.yml", "type: command\ncommand: echo hi\n", dedent=False)
    repo.write("pipeline.yml", "type: pipeline\njobs:\n  a:\n    component: ./a_train.yml\n", dedent=False)
    r = repo.pipe("run")
    assert r.code == 2 and "pass it with -f pipeline.yml" in r.err, str(r)


def test_loading_a_pipefile_does_not_import_the_azure_ml_importer(repo):
    # (b4db438 looked for a top-level `type:` with the importer itself: every Pipefile that
    # declares a type paid for importing it, 30 ms a load)
    repo.write(
        "Pipefile",
        "version: 1\nparams:\n  n: {type: integer, default: 1}\nsteps:\n  a:\n    command: echo ${{params.n}}\n",
        dedent=False,
    )
    code = (
        "import sys; from pipefile.load import document; document.load('Pipefile'); "
        "print('pipefile.load.azureml' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    r = subprocess.run(
        [sys.executable, "-c", code], cwd=repo.root, capture_output=True, text=True, env=env, timeout=120
    )
    assert r.returncode == 0 and r.stdout.strip() == "False", r.stdout + r.stderr


_REGISTERED = """\
type: pipeline
jobs:
  t:
    type: sweep
    trial: REF
    search_space: {x: {type: choice, values: [1]}}
    sampling_algorithm: grid
    objective: {primary_metric: acc}
"""


@pytest.mark.parametrize(
    "ref,says,hint",
    [
        (
            "azureml:toy:3",
            "pipeline.yml:5:12: component 'azureml:toy:3': the local YAMLs define version 1, 2 of 'toy', not 3",
            "name one of them (azureml:toy:2), or azureml:toy@latest",
        ),
        ("azureml:tyo@latest", "component 'azureml:tyo@latest' is not defined by any local YAML", "did you mean 'toy'"),
    ],
    ids=["version", "name"],
)
def test_a_registered_component_not_found_says_what_is_there(repo, ref, says, hint):
    # both said only "not defined by any local YAML (looked for `name: toy` ...)", though
    # a YAML of that name was there (another version), or one of a name a letter apart
    for v in (1, 2):
        repo.write(
            f"toy{v}.yml",
            f"name: toy\nversion: {v}\ninputs: {{x: {{type: number}}}}\ncommand: echo ${{{{inputs.x}}}}\n",
            dedent=False,
        )
    repo.write("pipeline.yml", _REGISTERED.replace("REF", ref), dedent=False)
    r = repo.pipe("validate", "-f", "pipeline.yml")
    assert r.code == 2 and says in r.err and hint in r.err, str(r)


def test_a_failed_job_inside_a_pipeline_job_is_not_also_said_to_lack_its_output(repo):
    # the sweep's own error was followed by "pipeline job 'inner' has no output 'best'" at the
    # reader, which is not so: the output is there once the sweep is fixed
    repo.write("trial.yml", "name: toy\nversion: 1\ninputs: {x: {type: number}}\ncommand: echo\n", dedent=False)
    inner = (
        "type: pipeline\noutputs:\n  best: {type: uri_folder}\njobs:\n  tune:\n    type: sweep\n"
        "    trial: azureml:tyo@latest\n    search_space: {x: {type: choice, values: [1]}}\n"
        "    sampling_algorithm: grid\n    objective: {primary_metric: acc}\n"
        "    outputs:\n      o: ${{parent.outputs.best}}\n"
    )
    repo.write("inner.yml", inner, dedent=False)
    outer = (
        "type: pipeline\njobs:\n  inner:\n    type: pipeline\n    component: ./inner.yml\n"
        "  after:\n    command: ls ${{inputs.f}}\n    inputs:\n      f: ${{parent.jobs.inner.outputs.best}}\n"
    )
    repo.write("pipeline.yml", outer, dedent=False)
    r = repo.pipe("validate", "-f", "pipeline.yml")
    assert r.code == 2 and "inner.yml:7:12: component 'azureml:tyo@latest' is not defined" in r.err, str(r)
    assert "has no output" not in r.err, r.err


@pytest.mark.parametrize("upper,code", [("5.0", 0), ("5.5", 2)])
def test_a_randint_upper_written_as_a_whole_float_is_taken(repo, upper, code):
    # azure-ai-ml takes `upper: 5.0`; it was refused ("upper must be a whole number"); 5.5 still is
    repo.write("pipeline.yml", _CASED.replace("upper: 5}", f"upper: {upper}}}"), dedent=False)
    r = repo.pipe("validate", "-f", "pipeline.yml")
    assert r.code == code, str(r)
    if code:
        assert "upper must be a whole number of at least 2" in r.err, r.err


_TRIAL = """\
$schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json
type: command
code: ./src
inputs: {data: {type: uri_folder}, lr: {type: number}, kind: {type: string}, scale: {type: number}}
outputs: {result: {type: uri_folder}}
command: python t.py ${{inputs.data}} ${{inputs.lr}} ${{inputs.kind}} ${{inputs.scale}} ${{outputs.result}}
environment: azureml:AzureML-sklearn-1.5@latest
"""

_TUNE = """\
    type: sweep
    trial: ./trial.yml
    inputs:
      data: ${{parent.inputs.d}}
      scale: 2
    outputs:
      result: ${{parent.outputs.best}}
    search_space:
      lr: {type: choice, values: [0.1, 0.2]}
      kind: {type: choice, values: [a, b]}
    sampling_algorithm: grid
    objective: {primary_metric: score, goal: maximize}
    limits: {max_total_trials: 4}
"""

_PUBLISHED = (
    """\
type: pipeline
inputs:
  d: {type: uri_folder, path: ./data}
outputs:
  best: {type: uri_folder}
jobs:
  tune:
"""
    + _TUNE
)

_WRAPPED = (
    """\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineComponent.schema.json
type: pipeline
inputs: {d: {type: uri_folder}}
outputs: {best: {type: uri_folder}}
jobs:
  tune:
"""
    + _TUNE
)

_OUTER = """\
type: pipeline
inputs:
  d: {type: uri_folder, path: ./data}
outputs:
  best: {type: uri_folder}
jobs:
  inner:
    type: pipeline
    component: ./wrapped.yml
    inputs: {d: "${{parent.inputs.d}}"}
    outputs: {best: "${{parent.outputs.best}}"}
"""


@pytest.mark.parametrize(
    "file,sweep,bound",
    [
        ("pipeline.yml", "tune", True),
        ("outer.yml", "inner/tune", True),  # through a pipeline job's output
        ("unbound.yml", "tune", False),  # nothing reads it, it is no output of the pipeline's
    ],
)
def test_a_sweep_bound_to_the_pipelines_output_publishes_its_best_trial(repo, file, sweep, bound):
    # A sweep job whose output is the pipeline job's (`${{parent.outputs.X}}`) gives, on Azure,
    # its best trial's. Nothing here read it, so no task picked the best trial.
    pytest.importorskip("mlflow")
    _standalone(repo)
    repo.write("trial.yml", _TRIAL, dedent=False)
    repo.write("pipeline.yml", _PUBLISHED, dedent=False)
    repo.write("wrapped.yml", _WRAPPED, dedent=False)
    repo.write("outer.yml", _OUTER, dedent=False)
    repo.write("unbound.yml", _PUBLISHED.replace("      result: ${{parent.outputs.best}}\n", ""), dedent=False)
    trials = {f"{sweep}[trial-{k}]": "ran" for k in range(1, 5)}
    best = {f"{sweep}.best": "ran"} if bound else {}
    assert _outcomes(repo, "-f", file) == {**trials, **best}
    stem = file.removesuffix(".yml")
    picked = repo.root / f".azureml-outputs/{stem}/{sweep}/result.best/r.txt"
    assert picked.exists() == bound
    if bound:
        assert picked.read_text() == "0.2 b 2 3"
    assert set(_outcomes(repo, "-f", file).values()) == {"fresh"}
    r = _pipe(repo, "import", "azureml", file, "-o", "Pipefile")
    assert r.code == 0 and ("a step that reads ${{steps." in r.err) == bound, str(r)


def test_the_export_of_a_whole_number_bound_to_a_number_input_keeps_its_key(repo):
    # `x: 3` bound to a `number` input renders `3` (as Azure does); the exported Pipefile bound
    # {value: 3} to a number input, which a Pipefile reads as 3.0: another command, another key,
    # so everything built from the YAML ran again (a sweep's trials too).
    _standalone(repo)
    repo.write("comp.yml", "type: command\ninputs: {x: {type: number, default: 0.5}}\n", dedent=False)
    repo.write("comp.yml", repo.read("comp.yml") + "outputs: {o: {type: uri_file}}\n", dedent=False)
    repo.write("comp.yml", repo.read("comp.yml") + "command: echo ${{inputs.x}} > ${{outputs.o}}\n", dedent=False)
    repo.write("p.yml", "type: pipeline\njobs:\n  b:\n    component: ./comp.yml\n    inputs: {x: 3}\n", dedent=False)
    assert _outcomes(repo, "-f", "p.yml") == {"b": "ran"}
    r = _pipe(repo, "import", "azureml", "p.yml", "-o", "Pipefile")
    assert r.code == 0, str(r)
    r = _pipe(repo, "status", "--json")
    assert r.code == 0 and [s["state"] for s in r.json["steps"]] == ["fresh"], str(r)
    assert _outcomes(repo, "--force") == {"b": "ran"}  # (run by the Pipefile: the same text)
    assert repo.read(".azureml-outputs/p/b/o/o") == "3\n"


def test_the_export_of_a_sweep_with_a_whole_number_input_keeps_its_trials_keys(repo):
    pytest.importorskip("mlflow")
    _standalone(repo)
    repo.write("trial.yml", _TRIAL, dedent=False)
    repo.write("pipeline.yml", _PUBLISHED, dedent=False)  # (scale: 2, a number input of the trial)
    assert set(_outcomes(repo, "-f", "pipeline.yml").values()) == {"ran"}
    r = _pipe(repo, "import", "azureml", "pipeline.yml", "-o", "Pipefile")
    assert r.code == 0, str(r)
    r = _pipe(repo, "status", "--json")
    assert r.code == 0 and {s["state"] for s in r.json["steps"]} == {"fresh"}, str(r)


def test_an_unquoted_reference_inside_braces_says_to_quote_it(repo):
    # `inputs: {x: ${{parent.inputs.y}}}` is no YAML (the braces are YAML's), so Azure refuses
    # it too; pipe said only "did not find expected ',' or '}'", with no fix.
    text = "type: pipeline\ninputs: {y: 1}\njobs:\n  a:\n    command: echo ${{inputs.x}}\n"
    repo.write("p.yml", text + "    inputs: {x: ${{parent.inputs.y}}}\n", dedent=False)
    r = repo.pipe("validate", "-f", "p.yml")
    assert r.code == 2 and "p.yml:6:18: invalid YAML" in r.err, str(r)
    assert "hint: inside { } a ${{...}} must be quoted: {x: '${{parent.inputs.x}}'}" in r.err, str(r)
    repo.write("p.yml", text + "    inputs: {x: '${{parent.inputs.y}}'}\n", dedent=False)
    assert repo.pipe("validate", "-f", "p.yml").code == 0


def test_a_metric_no_trial_logged_is_said_at_the_objective(repo):
    # The error pointed at the search space's first line, not at the objective that names the metric.
    text = "type: sweep\ntrial:\n  command: echo ${{search_space.a}}\nsearch_space:\n"
    text += "  a: {type: choice, values: [1, 2]}\nsampling_algorithm: grid\nobjective: {primary_metric: m}\n"
    repo.write("t.yml", text, dedent=False)
    r = repo.pipe("run", "-f", "t.yml")
    assert r.code == 2 and "t.yml:7:12: the objective metric 'm' of sweep 't' is not known" in r.err, str(r)


@pytest.mark.parametrize("command", ["12", "[python, x.py]", "{a: 1}"])
def test_a_command_that_is_no_string_is_said_so_at_its_line(repo, command):
    # (it was "job 't' has no command" at the file's first line, while the command is there)
    repo.write("t.yml", f"type: command\ncommand: {command}\n", dedent=False)
    r = repo.pipe("validate", "-f", "t.yml")
    assert r.code == 2 and "t.yml:2:10: the command of job 't' must be a string" in r.err, str(r)


def test_the_exports_note_gives_a_command_that_runs_for_a_file_named_with_a_space(repo):
    _standalone(repo)
    repo.write("my sweep.yml", _SWEEP_JOB, dedent=False)
    r = _pipe(repo, "import", "azureml", "my sweep.yml", "-o", "Pipefile")
    assert r.code == 0 and "`pipe run -f 'my sweep.yml'` picks (the task my_sweep.best)" in r.err, str(r)


def test_a_sweeps_best_is_restored_with_its_trials_when_the_outputs_are_gone(repo):
    # With the outputs deleted, the trials were restored from the store but STEP.best failed
    # (exit 1): "input '.../result' does not exist (and no step produces it)", the folder its
    # trials' entries were being restored into having been looked at before they were there.
    pytest.importorskip("mlflow")
    import shutil

    _standalone(repo)
    assert _outcomes(repo, "-f", "sweep.yml")["sweep.best"] == "ran"
    shutil.rmtree(repo.root / ".azureml-outputs")
    got = _outcomes(repo, "-f", "sweep.yml")
    assert set(got.values()) == {"restored"} and len(got) == 5, got
    assert repo.read(".azureml-outputs/sweep/sweep/result.best/r.txt") == "0.2 b 2 3"


def test_running_a_standalone_sweep_by_name_picks_its_best_trial_too(repo):
    # `pipe run -f sweep.yml sweep` ran the trials only: the sweep job's outputs (its best
    # trial's) were left unpicked, and `pipe status` then said the sweep was not up to date.
    pytest.importorskip("mlflow")
    _standalone(repo)
    got = _outcomes(repo, "-f", "sweep.yml", "sweep")
    assert got == {**{f"sweep[trial-{k}]": "ran" for k in range(1, 5)}, "sweep.best": "ran"}
    assert _outcomes(repo, "-f", "sweep.yml", "sweep[trial-1]") == {"sweep[trial-1]": "fresh"}


@pytest.mark.parametrize("values, shown", [("[a, 3]", "'a'"), ("[1, true]", "True")])
def test_a_choice_of_text_for_a_number_input_is_refused_at_its_line(repo, values, shown):
    # float('a') in the expansion was an internal error (exit 70); true ran as 1.0.
    repo.write(
        "pipeline.yml",
        "type: pipeline\njobs:\n  s:\n    type: sweep\n    trial:\n      type: command\n"
        "      inputs: {x: {type: number}}\n      command: echo ${{inputs.x}}\n"
        f"    search_space:\n      x: {{type: choice, values: {values}}}\n"
        "    sampling_algorithm: grid\n    objective: {primary_metric: a, goal: minimize}\n",
    )
    r = repo.pipe("validate", "-f", "pipeline.yml")
    assert r.code == 2, str(r)
    assert (
        f"pipeline.yml:10:33: search_space of sweep job 's': 'x' chooses {shown}, but the trial's input is number"
        in r.err
    )
