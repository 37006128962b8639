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


_STD_READY = (ROOT / "pipefile/load/stdlib.py").exists() and (ROOT / "stdlib_components/sample_data").exists()
std_examples = pytest.mark.skipif(
    not _STD_READY, reason="the loader's std components and std/sample_data are not in this checkout yet"
)


def _example(tmp_path, name: str) -> Repo:
    dest = tmp_path / name
    shutil.copytree(ROOT / "examples" / name, dest, ignore=shutil.ignore_patterns(".pipe", "build"))
    return Repo(dest)


@std_examples
def test_designer_regression_example_runs_on_std_blocks_only(tmp_path):
    pytest.importorskip("pyarrow")
    ex = _example(tmp_path, "designer-regression")
    assert not list(ex.root.rglob("*.py"))  # no code of the user's
    assert set(ex.outcomes().values()) == {"ran"}
    metrics = ex.pipe("metrics", "show", "--json", check=True).json["jobs"][0]["metrics"]
    assert 0.3 < metrics["evaluate.r2"] < 1 and metrics["evaluate.rmse"] > 0
    assert (ex.root / "build/residuals.png").stat().st_size > 0
    changed = ex.outcomes("-p", "algorithm=ridge")
    assert {k for k, v in changed.items() if v == "ran"} == {"train", "score", "evaluate"}


@std_examples
def test_std_mixed_example_reruns_from_the_edited_user_script(tmp_path):
    pytest.importorskip("pyarrow")
    ex = _example(tmp_path, "std-mixed")
    assert set(ex.outcomes().values()) == {"ran"}
    assert json.loads(ex.read("build/metrics.json"))["accuracy"] > 0.8
    script = ex.root / "src/add_features.py"
    script.write_text(script.read_text().replace('wine["hue"]', '(wine["hue"] + 1)'))
    after = ex.outcomes()
    assert after["data"] == "fresh" and after["features"] == "ran" and after["evaluate"] == "ran"
