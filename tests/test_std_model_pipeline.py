"""The std model components through `pipe run`: split -> train -> score -> evaluate, with
cross-validation beside, the evaluation's metrics recorded with the job, a rerun that runs
nothing, and a bad param failing its step with the located message and nothing kept.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("sklearn", reason="the std components need scikit-learn: pip install -e '.[std]'")
pytest.importorskip("pyarrow")

ROOT = Path(__file__).resolve().parent.parent

CHAIN = """\
    version: 1
    params:
      algorithm: ridge
      hyperparameters: '{"alpha": 0.5}'
    steps:
      split:
        component: std/split_data@1
        inputs: {data: diabetes.csv, fraction: 0.75, seed: 3}
        outputs: {train: build/train.parquet, test: build/test.parquet}
      train:
        component: std/train_model@1
        inputs:
          data: ${{steps.split.outputs.train}}
          label: target
          algorithm: ${{params.algorithm}}
          hyperparameters: ${{params.hyperparameters}}
        outputs:
          model: {path: build/model, name: price-model}
      score:
        component: std/score_model@1
        inputs: {model: "${{steps.train.outputs.model}}", data: "${{steps.split.outputs.test}}"}
        outputs: {scored: build/scored.parquet}
      evaluate:
        component: std/evaluate_model@1
        inputs: {scored: "${{steps.score.outputs.scored}}", label: target}
        outputs: {metrics: build/metrics.json, report: build/report.png}
      cv:
        component: std/cross_validate@1
        inputs: {data: diabetes.csv, algorithm: "${{params.algorithm}}", folds: 3}
        outputs: {metrics: build/cv.json}
"""


@pytest.fixture
def chain(repo):
    from sklearn.datasets import load_diabetes

    load_diabetes(as_frame=True).frame.to_csv(repo.root / "diabetes.csv", index=False)
    repo.pipefile(CHAIN)
    return repo


def test_the_chain_runs_records_the_evaluation_and_reruns_nothing(chain):
    assert set(chain.outcomes().values()) == {"ran"}
    written = json.loads(chain.read("build/metrics.json"))
    recorded = chain.pipe("metrics", "show", "--json", check=True).json["jobs"][0]["metrics"]
    for name in ("r2", "mae", "rmse"):
        assert recorded[f"evaluate.{name}"] == pytest.approx(written[name])
    assert {"cv.mean.r2", "cv.std.r2", "cv.folds.2.rmse"} <= set(recorded)
    assert (chain.root / "build/report.png").read_bytes()[:4] == b"\x89PNG"
    assert set(chain.outcomes().values()) == {"fresh"}


def test_an_unknown_algorithm_is_refused_by_name_before_anything_runs(chain):
    # (it failed the train step after the steps before it ran: the component's enum refuses it now)
    run = chain.pipe("run", "score", "-p", "algorithm=rigde")  # cv is refused the same way
    assert run.code == 2, run
    assert "-p algorithm=rigde: param 'algorithm' is 'rigde', which input" in run.err
    assert "did you mean 'ridge'?" in run.err
    assert not chain.exists("build/model") and not chain.exists("build/scored.parquet")


@pytest.mark.skipif(not (ROOT / "stdlib_components" / "sample_data").exists(), reason="std/sample_data is not here yet")
def test_the_std_init_template_trains_scores_and_evaluates(tmp_path):
    from workspace_repo import Repo

    made = Repo(tmp_path).pipe("init", "proj", "--template", "std")
    assert made.code == 0, made
    proj = Repo(tmp_path / "proj")
    assert set(proj.outcomes().values()) == {"ran"}
    assert json.loads(proj.read("build/metrics.json"))["accuracy"] > 0.8
