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
