"""Azure ML pipeline job YAML run locally (docs/azureml.md): the importer, rendering as Azure
does, reuse, refusals. Fixtures (written for these tests) are in tests/azureml_fixtures/;
each test copies one into its temporary workspace and maps environments to this interpreter."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "azureml_fixtures"


def _fixture(repo, name: str) -> None:
    shutil.copytree(FIXTURES / name, repo.root, dirs_exist_ok=True)


def _pipe(repo, *args, **kw):
    """`pipe ARGS` with the fixture's environment map (every environment -> this interpreter)."""
    env = {"PIPE_AZUREML_ENV_MAP": str(repo.root / "envmap.yml")} if (repo.root / "envmap.yml").exists() else {}
    env.update(kw.pop("env", {}))
    return repo.pipe(*args, env=env, **kw)


def _outcomes(repo, *args) -> dict:
    r = _pipe(repo, "run", "--json", *args)
    assert r.code == 0, str(r)
    return {s["name"]: s["outcome"] for s in r.json["steps"]}


def test_hello_pipeline_runs_as_azure_renders_and_second_run_runs_nothing(repo):
    _fixture(repo, "hello")
    assert _outcomes(repo, "-f", "pipeline.yml") == {"say": "ran", "count": "ran"}
    out = ".azureml-outputs/pipeline"
    assert repo.read(f"{out}/say/said/said.txt") == "Hello, Ada!\nHello, Grace!\n"
    assert repo.read(f"{out}/count/count/count.txt") == "2"
    # ./outputs of the working copy is kept in the reserved artifacts output; nothing else lands
    assert repo.read(f"{out}/say/artifacts/outputs/note.txt") == "kept in the artifacts output\n"
    assert not (repo.root / "src" / "outputs").exists() and not (repo.root / "mlruns").exists()
    assert _outcomes(repo, "-f", "pipeline.yml") == {"say": "fresh", "count": "fresh"}
    # a literal pipeline input is a param; a boolean is rendered True/False
    assert _outcomes(repo, "-f", "pipeline.yml", "-p", "loud=true") == {"say": "ran", "count": "ran"}
    assert repo.read(f"{out}/say/said/said.txt").startswith("HELLO, ADA!")


def test_ignored_keys_are_warnings_naming_the_line(repo):
    _fixture(repo, "hello")
    r = _pipe(repo, "validate", "-f", "pipeline.yml")
    assert r.code == 0, str(r)
    assert "pipeline.yml:4:18: the pipeline: 'experiment_name' is ignored here" in r.err
    assert "'default_compute' is ignored here" in r.err
    # a misspelt key is a warning too, with what it probably meant
    text = repo.read("pipeline.yml").replace("  default_compute:", "  default_datestore: x\n  default_compute:")
    repo.write("pipeline.yml", text, dedent=False)
    r = _pipe(repo, "validate", "-f", "pipeline.yml")
    assert r.code == 0, str(r)
    assert "settings: unknown key 'default_datestore' is ignored" in r.err and "default_datastore" in r.err, r.err


def test_nested_pipeline_component_used_twice_flattens_to_outer_inner_steps(repo):
    _fixture(repo, "nested")
    r = _pipe(repo, "run", "--json", "-f", "pipeline.yml")
    assert r.code == 0, str(r)
    assert sorted(s["name"] for s in r.json["steps"]) == [
        "join",
        "prep_a/clean",
        "prep_a/mult",
        "prep_b/clean",
        "prep_b/mult",
    ]
    assert "input 'not_declared' is not an input of its component: ignored" in r.err
    out = repo.root / ".azureml-outputs" / "pipeline"
    # $[[--tag ...]] is dropped where the optional input is unset, kept where it is bound
    assert (out / "prep_a/clean/cleaned/cleaned").read_text().startswith("# tag none\n")
    assert (out / "prep_b/clean/cleaned/cleaned").read_text().startswith("# tag b\n")
    # the component's default (1) is overridden by the pipeline's param (2) in one, by 3 in the other
    assert (out / "join/joined/joined.txt").read_text() == "2\n4\n3\n6\n"
    assert _outcomes(repo, "-f", "pipeline.yml") == dict.fromkeys(
        ["prep_a/clean", "prep_b/clean", "prep_a/mult", "prep_b/mult", "join"], "fresh"
    )


def test_a_nested_step_is_a_target_and_a_changed_script_reruns_it_and_its_dependents(repo):
    _fixture(repo, "nested")
    r = _pipe(repo, "run", "--json", "-f", "pipeline.yml", "prep_b/mult")
    assert r.code == 0, str(r)
    assert sorted(s["name"] for s in r.json["steps"]) == ["prep_b/clean", "prep_b/mult"]
    assert _outcomes(repo, "-f", "pipeline.yml")["join"] == "ran"
    # mult.py multiplies by ten times the factor now: its steps and the join run again
    script = repo.root / "src" / "mult.py"
    script.write_text(script.read_text().replace("int(x) * factor", "int(x) * factor * 10"))
    got = _outcomes(repo, "-f", "pipeline.yml")
    assert got["prep_a/mult"] == got["prep_b/mult"] == got["join"] == "ran"
    assert repo.read(".azureml-outputs/pipeline/join/joined/joined.txt") == "20\n40\n30\n60\n"
    # editing a component's YAML is seen too (the spec cache covers every file the pipeline names)
    comp = repo.root / "components" / "join.yml"
    comp.write_text(comp.read_text().replace("python join.py", "python join.py "))
    assert _outcomes(repo, "-f", "pipeline.yml")["join"] == "ran"


def test_sklearn_train_score_eval_chain_with_named_assets_and_an_mlflow_model(repo):
    _fixture(repo, "sklearn")
    assert _outcomes(repo, "-f", "pipeline.yml") == {"train": "ran", "score": "ran", "evaluate": "ran"}
    out = repo.root / ".azureml-outputs" / "pipeline"
    assert (out / "train/model_output/MLmodel").is_file()  # an mlflow_model output is a folder
    assert json.loads((out / "evaluate/report/report").read_text())["accuracy"] > 0.8
    # sk_train@latest is version 2 (not train_v1.yml); eval is is_deterministic: false
    r = _pipe(repo, "status", "--json", "-f", "pipeline.yml")
    assert r.code == 0, str(r)
    assert {s["name"]: s["state"] for s in r.json["steps"]} == {"train": "fresh", "score": "fresh", "evaluate": "run"}
    # the command as rendered (plain text: floats and booleans as Python writes them)
    r = _pipe(repo, "run", "--json", "-f", "pipeline.yml", "--force", "train", "-p", "c=0.5", "-p", "use_scaler=false")
    assert r.code == 0, str(r)
    args = (out / "train/artifacts/outputs/args.txt").read_text()
    assert "--c 0.5 --scale False --model_output /" in args, args
    assert "--max_iter" not in args  # an unset optional input: its $[[ ]] dropped


_HEAD = "type: pipeline\njobs:\n"


def _one_job(job: str, inputs: str = "") -> str:
    return ("inputs:\n" + inputs if inputs else "") + _HEAD + "  j:\n" + job


REFUSALS = [
    (  # a URL, unmapped
        _one_job(
            "    command: cat ${{inputs.d}}\n    inputs:\n      d: ${{parent.inputs.d}}\n",
            "  d:\n    type: uri_file\n    path: https://example.com/data/iris.csv\n",
        ),
        "pipeline.yml:4:11: pipeline input 'd' reads 'https://example.com/data/iris.csv', which is not on this machine",
        "--azureml-map FILE",
    ),
    (  # a datastore path on a node input
        _one_job(
            "    command: ls ${{inputs.d}}\n    inputs:\n      d:\n        type: uri_folder\n"
            "        path: azureml://datastores/workspaceblobstore/paths/data/\n"
        ),
        "pipeline.yml:8:15: input 'd' of job 'j' reads 'azureml://datastores/workspaceblobstore/paths/data/'",
        "--azureml-map FILE",
    ),
    (  # a data asset no local YAML defines
        _one_job(
            "    command: ls ${{inputs.d}}\n    inputs:\n      d:\n        type: uri_folder\n"
            "        path: azureml:nowhere:3\n"
        ),
        "input 'd' of job 'j': data asset 'azureml:nowhere:3' is not defined by any local YAML",
        "--azureml-assets DIR",
    ),
    (  # an environment pipe cannot make
        _one_job("    command: echo hi\n    environment: azureml:my-private-env:4\n"),
        "pipeline.yml:5:18: environment 'azureml:my-private-env:4' is not defined by any local YAML",
        "--azureml-env-map FILE",
    ),
    (  # an optional input, unset, used outside $[[ ]]
        "type: pipeline\njobs:\n  j:\n    component: ./c.yml\n",
        "c.yml:7:10: job 'j': input 'n' is optional and not bound, but the command uses it outside $[[ ]]",
        "$[[... ${{inputs.n}}]]",
    ),
    (  # a required input left unbound
        "type: pipeline\njobs:\n  j:\n    component: ./r.yml\n",
        "job 'j': input 'n' is required and not bound",
        "bind it",
    ),
    (  # a value outside the component's max
        "type: pipeline\njobs:\n  j:\n    component: ./r.yml\n    inputs:\n      n: 11\n",
        "pipeline.yml:6:10: input 'n' of job 'j': 11 is above its max 10",
        None,
    ),
    (  # a spark job
        _one_job("    type: spark\n    entry: {file: x.py}\n"),
        "job 'j' is a 'spark' job; pipe runs command, pipeline, sweep and parallel jobs",
        "run it on Azure",
    ),
    (  # a reference to a job that is not there
        _one_job("    command: ls ${{inputs.x}}\n    inputs:\n      x: ${{parent.jobs.trian.outputs.model}}\n"),
        "pipeline.yml:6:10: there is no job 'trian' here",
        None,
    ),
    (  # a component file that is not there
        "type: pipeline\njobs:\n  j:\n    component: ./missing.yml\n",
        "missing.yml: no such file",
        None,
    ),
]


@pytest.mark.parametrize("text,message,hint", REFUSALS)
def test_each_documented_refusal_names_the_place_and_the_fix(repo, text, message, hint):
    repo.write(
        "c.yml",
        "name: c\ntype: command\ninputs:\n  n:\n    type: integer\n    optional: true\ncommand: echo ${{inputs.n}}\n",
    )
    repo.write("r.yml", "name: r\ninputs:\n  n:\n    type: integer\n    max: 10\ncommand: echo ${{inputs.n}}\n")
    repo.write("pipeline.yml", text, dedent=False)
    r = repo.pipe("validate", "-f", "pipeline.yml")
    assert r.code == 2, str(r)
    assert message in r.err, str(r)
    if hint:
        assert hint in r.err, str(r)


def test_a_mapped_url_reads_the_local_copy(repo):
    repo.write("local/iris.csv", "a,b\n1,2\n")
    repo.write("map.yml", "https://example.com/data: ./local\n")
    repo.write(
        "pipeline.yml",
        _one_job(
            "    command: cp ${{inputs.d}} ${{outputs.o}}/copy.csv\n    inputs:\n      d: ${{parent.inputs.d}}\n"
            "    outputs:\n      o: ${{parent.outputs.o}}\n",
            "  d:\n    type: uri_file\n    path: https://example.com/data/iris.csv\n",
        )
        + "outputs:\n  o: {type: uri_folder}\n",  # (the pipeline output the job binds: Azure wants it declared)
        dedent=False,
    )
    r = repo.pipe("run", "-f", "pipeline.yml", "--azureml-map", "map.yml")
    assert r.code == 0, str(r)
    assert repo.read(".azureml-outputs/pipeline/j/o/copy.csv") == "a,b\n1,2\n"


def test_continue_on_step_failure_keeps_going_and_limits_timeout_stops_a_step(repo):
    text = (
        "type: pipeline\nsettings:\n  continue_on_step_failure: {go}\njobs:\n"
        "  a_fails:\n    command: exit 3\n"
        "  b_sleeps:\n    command: sleep 30\n    limits:\n      timeout: 1\n"
        "  c_works:\n    command: echo ok > ${{{{outputs.o}}}}/ok.txt\n    outputs:\n      o:\n        type: uri_folder\n"
    )
    repo.write("pipeline.yml", text.format(go="true"), dedent=False)
    r = repo.pipe("run", "--json", "-j", "1", "-f", "pipeline.yml")
    assert r.code == 1, str(r)
    got = {s["name"]: s["outcome"] for s in r.json["steps"]}
    assert got == {"a_fails": "failed", "b_sleeps": "failed", "c_works": "ran"}, str(r)
    assert "timed out: still running after 1s" in r.out + r.err
    repo.write("pipeline.yml", text.format(go="false"), dedent=False)
    r = repo.pipe("run", "--json", "-j", "1", "-f", "pipeline.yml", "a_fails", "c_works", "--force")
    assert r.code == 1
    assert {s["name"]: s["outcome"] for s in r.json["steps"]}.get("c_works") != "ran"


def test_environments_map_to_venvs_images_or_this_interpreter(tmp_path):
    """In process: which pipe environment each kind of Azure ML environment becomes (no builds)."""
    from pipefile import spec
    from pipefile.errors import SourceLoc
    from pipefile.load.azureml import environments as envs

    loc = SourceLoc("c.yml", 3)
    sk = envs.choose("azureml:AzureML-sklearn-1.5@latest", None, False, loc, None)
    assert sk.type == spec.ENV_VENV and "scikit-learn~=1.5.0" in sk.packages and sk.python == "3.10"
    reg = envs.choose("azureml://registries/azureml/environments/sklearn-1.5/labels/latest", None, False, loc, None)
    assert reg.packages == sk.packages
    conda = {"dependencies": ["python=3.10", "pip", "numpy=1.26.4", {"pip": ["pandas==2.2.2", "--extra-index-url x"]}]}
    from_conda = envs.choose("", {"image": "ubuntu", "conda_file": "conda.yml"}, False, loc, lambda raw, where: conda)
    assert from_conda.type == spec.ENV_VENV and from_conda.packages == ("numpy==1.26.4", "pandas==2.2.2")
    assert envs.choose("", {"image": "mcr.microsoft.com/x:1"}, False, loc, None).type == spec.ENV_LOCAL
    docker = envs.choose("", {"image": "mcr.microsoft.com/x:1"}, True, loc, None)
    assert docker.type == spec.ENV_DOCKER and docker.image == "mcr.microsoft.com/x:1"
    assert envs.from_map("e", "local", loc).type == spec.ENV_LOCAL
    assert envs.from_map("e", "docker:python:3.12", loc).image == "python:3.12"
    assert envs.from_map("e", {"packages": ["scikit-learn"]}, loc).packages == ("scikit-learn",)
    assert envs.safe_name("azureml:AzureML-sklearn-1.5@latest") == "AzureML-sklearn-1-5-latest"


def test_an_image_alone_runs_here_and_its_identity_is_the_local_one(repo):
    _fixture(repo, "nested")
    (repo.root / "envmap.yml").unlink()  # clean.yml names an image alone: no map needed for it
    r = repo.pipe("status", "-f", "pipeline.yml", "prep_a/clean")
    assert r.code == 0, str(r)


@pytest.mark.parametrize("fixture", ["hello", "nested"])
def test_import_writes_a_pipefile_with_the_same_step_keys(repo, fixture):
    _fixture(repo, fixture)
    first = _outcomes(repo, "-f", "pipeline.yml")
    assert set(first.values()) == {"ran"}
    r = _pipe(repo, "import", "azureml", "pipeline.yml", "-o", "Pipefile")
    assert r.code == 0, str(r)
    text = repo.read("Pipefile")
    assert "# Dropped (no meaning on this machine):" in text and "render: azureml" in text
    # the Pipefile runs nothing: every key is the one the YAML gave
    again = _outcomes(repo)
    assert set(again.values()) == {"fresh"}, again
    assert sorted(again) == sorted(n.replace("/", "__") for n in first)
    # and it refuses to overwrite
    r = _pipe(repo, "import", "azureml", "pipeline.yml", "-o", "Pipefile")
    assert r.code == 2 and "Pipefile exists" in r.err


def test_a_restored_producer_with_unstable_bytes_does_not_rerun_its_consumers(repo):
    # the producer's output differs at every run (a timestamp, as in many model files)
    repo.write(
        "pipeline.yml",
        "type: pipeline\ninputs:\n  p: a\njobs:\n"
        "  make:\n    command: python -c \"import time,sys; open(sys.argv[1]+'/m.txt','w').write(sys.argv[2]+str(time.time_ns()))\""
        " ${{outputs.m}} ${{inputs.p}}\n    inputs:\n      p: ${{parent.inputs.p}}\n    outputs:\n      m:\n        type: uri_folder\n"
        "  use:\n    command: cp ${{inputs.m}}/m.txt ${{outputs.u}}/u.txt\n    inputs:\n"
        "      m: ${{parent.jobs.make.outputs.m}}\n    outputs:\n      u:\n        type: uri_folder\n",
        dedent=False,
    )
    assert _outcomes(repo, "-f", "pipeline.yml") == {"make": "ran", "use": "ran"}
    assert _outcomes(repo, "-f", "pipeline.yml", "-p", "p=b") == {"make": "ran", "use": "ran"}
    # back to p=a: the producer is restored (not run: the same bytes as then), so is its consumer
    assert _outcomes(repo, "-f", "pipeline.yml") == {"make": "restored", "use": "restored"}


def _sdk_python() -> str:
    """An interpreter with azure-ai-ml: this one, or the venv of its own that CI builds
    (.ci/azureml.sh: azure-ai-ml pins OpenTelemetry packages older than Ray's dashboard wants)."""
    try:
        if importlib.util.find_spec("azure.ai.ml") is not None:  # (not imported here: its warnings)
            return sys.executable
    except ImportError:  # no `azure` package at all
        pass
    other = os.environ.get("PIPE_TEST_AZUREML_PYTHON")
    if other and os.path.exists(other):
        return other
    if os.environ.get("PIPE_CI_REQUIRE_SERVICES") == "1":
        pytest.fail("CI must provide azure-ai-ml: .ci/azureml.sh sets PIPE_TEST_AZUREML_PYTHON")
    pytest.skip("azure-ai-ml is not installed (pip install 'pipefile[azureml]', or set PIPE_TEST_AZUREML_PYTHON)")


def test_an_sdk_v2_module_runs_as_its_yaml_would(repo):
    py = _sdk_python()
    _fixture(repo, "sklearn")
    r = _pipe(repo, "run", "--json", "-f", "build.py", timeout=300, python=py)
    assert r.code == 0, str(r)
    assert {s["name"]: s["outcome"] for s in r.json["steps"]} == {"t": "ran", "s": "ran", "sk_eval": "ran"}
    assert json.loads(repo.read(".azureml-outputs/build/sk_eval/report/report"))["accuracy"] > 0.8
    r = _pipe(repo, "run", "--json", "-f", "build.py", timeout=300, python=py)
    assert {s["name"]: s["outcome"] for s in r.json["steps"]} == {"t": "fresh", "s": "fresh", "sk_eval": "ran"}


def test_an_sdk_v2_module_without_a_pipeline_is_refused(repo):
    py = _sdk_python()
    repo.write("build.py", "x = 1\n")
    r = repo.pipe("validate", "-f", "build.py", timeout=300, python=py)
    assert r.code == 2 and "build.py: defines no `pipeline` (an azure-ai-ml PipelineJob)" in r.err, str(r)


def test_a_clone_of_a_job_holds_the_component_files_and_restores_every_step(repo, tmp_path):
    _fixture(repo, "nested")
    assert set(_outcomes(repo, "-f", "pipeline.yml").values()) == {"ran"}
    r = _pipe(repo, "clone", "-f", "pipeline.yml", "1", "-o", str(tmp_path / "copy"))
    assert r.code == 0, str(r)
    assert (tmp_path / "copy" / "components" / "prep_pipeline.yml").is_file()
    env = {"PIPE_AZUREML_ENV_MAP": str(repo.root / "envmap.yml"), "PIPE_PLAIN": "1"}
    import os
    import subprocess

    from workspace_repo import PIPE

    p = subprocess.run(
        PIPE + ["run", "--json", "-f", "pipeline.yml"],
        cwd=tmp_path / "copy",
        capture_output=True,
        text=True,
        env=dict(os.environ, **env),
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    assert {s["outcome"] for s in json.loads(p.stdout)["steps"]} == {"restored"}


@pytest.mark.parametrize(
    "pipeline,component,message",
    [
        ("jobs:\n  j:\n    component: ./c.yml\n", "- a\n", "c.yml: not a component"),
        ("jobs:\n  j:\n    command: echo ${{inputs.x}}\n    inputs:\n      x: [1, 2]\n", None, "a list is not a value"),
        ("jobs:\n  j:\n    command: echo\n    environment: 3\n", None, "environment must be a reference"),
        (
            "jobs:\n  j:\n    type: pipeline\n    component: ./c.yml\n",
            "type: pipeline\njobs:\n  k:\n    type: pipeline\n    component: ./c.yml\n",
            "uses itself (through job 'j/k')",
        ),
    ],
)
def test_malformed_pipelines_are_located_errors_not_crashes(repo, pipeline, component, message):
    repo.write("pipeline.yml", "type: pipeline\n" + pipeline, dedent=False)
    if component:
        repo.write("c.yml", component, dedent=False)
    r = repo.pipe("validate", "-f", "pipeline.yml")
    assert r.code == 2 and message in r.err, str(r)


def test_environments_and_assets_by_name_from_an_assets_folder(repo, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "env.yml").write_text("name: my-env\nversion: 3\nimage: mcr.microsoft.com/azureml/x:1\n")
    repo.write(
        "pipeline.yml",
        _one_job(
            "    command: echo hi > ${{outputs.o}}/hi.txt\n    environment: azureml:my-env:3\n"
            "    outputs:\n      o:\n        type: uri_folder\n"
        ),
        dedent=False,
    )
    r = repo.pipe("validate", "-f", "pipeline.yml")
    assert r.code == 2 and "environment 'azureml:my-env:3' is not defined by any local YAML" in r.err, str(r)
    # an image alone runs here (the calling interpreter)
    r = repo.pipe("run", "-f", "pipeline.yml", "--azureml-assets", str(shared))
    assert r.code == 0, str(r)
    assert repo.read(".azureml-outputs/pipeline/j/o/hi.txt") == "hi\n"
