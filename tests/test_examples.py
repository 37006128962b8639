"""The shipped examples run, and show what the README promises: the "done when" of the core issue."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from workspace_repo import Repo

ROOT = Path(__file__).resolve().parent.parent
pytest.importorskip("sklearn", reason="the examples need scikit-learn: pip install -e '.[examples]'")


@pytest.fixture
def wine(tmp_path) -> Repo:
    dest = tmp_path / "wine"
    shutil.copytree(ROOT / "examples/wine", dest, ignore=shutil.ignore_patterns(".pipe", "build"))
    return Repo(dest)


def test_wine_example_runs_incrementally_and_restores_a_reverted_param(wine):
    assert set(wine.outcomes().values()) == {"ran"}
    metrics = json.loads(wine.read("build/metrics.json"))
    assert 0.8 < metrics["accuracy"] <= 1.0
    assert set(wine.outcomes().values()) == {"fresh"}
    changed = wine.outcomes("-p", "learning_rate=0.05")
    assert changed == {"prepare": "fresh", "train": "ran", "score": "ran", "evaluate": "ran"}
    reverted = wine.outcomes()
    assert reverted == {"prepare": "fresh", "train": "restored", "score": "restored", "evaluate": "restored"}
    assert json.loads(wine.read("build/metrics.json")) == metrics


def test_annotated_pipefile_example_validates_and_runs(tmp_path):
    repo = Repo(tmp_path / "root")
    repo.root.mkdir()
    shutil.copy(ROOT / "Pipefile.example", repo.root / "Pipefile.example")
    shutil.copytree(ROOT / "examples", repo.root / "examples", ignore=shutil.ignore_patterns(".pipe", "build"))
    assert repo.pipe("validate", "-f", "Pipefile.example").code == 0
    assert set(repo.outcomes("-f", "Pipefile.example").values()) == {"ran"}
    assert set(repo.outcomes("-f", "Pipefile.example").values()) == {"fresh"}
