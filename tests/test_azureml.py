"""Azure ML pipeline job YAML run locally (docs/azureml.md): the importer, rendering as Azure
does, reuse, refusals. Fixtures (written for these tests) are in tests/azureml_fixtures/;
each test copies one into its temporary workspace and maps environments to this interpreter."""

from __future__ import annotations

import json
import shutil
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


def test_nested_pipeline_component_used_twice_flattens_to_outer_inner_steps(repo):
    _fixture(repo, "nested")
    r = _pipe(repo, "run", "--json", "-f", "pipeline.yml")
    assert r.code == 0, str(r)
    assert sorted(s["name"] for s in r.json["steps"]) == ["join", "prep_a/clean", "prep_a/mult", "prep_b/clean", "prep_b/mult"]
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
