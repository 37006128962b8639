"""Issue 14's port names: a component's input and output may share a name, so the std
table blocks take `data` and give `data`, and std/train_model takes its algorithm as `model`
and writes the folder `model` (`algorithm`, the param's first name, is still taken).
"""

from __future__ import annotations

import pytest

pytest.importorskip("sklearn", reason="the std components need scikit-learn: pip install -e '.[std]'")
pytest.importorskip("pyarrow")


def test_an_input_and_an_output_may_share_a_name(repo):
    repo.write("in.txt", "a\n")
    repo.pipefile(
        """\
        version: 1
        components:
          copy:
            inputs: {data: uri_file}
            outputs: {data: uri_file}
            command: cp ${{inputs.data}} ${{outputs.data}}
        steps:
          first:
            component: copy
            inputs: {data: in.txt}
            outputs: {data: build/one.txt}
          second:
            command: cat ${{inputs.data}} ${{inputs.data}} > ${{outputs.data}}
            inputs: {data: "${{steps.first.outputs.data}}"}
            outputs: {data: build/two.txt}
        """
    )
    assert repo.outcomes() == {"first": "ran", "second": "ran"}
    assert repo.read("build/two.txt") == "a\na\n"
    steps = {s["step"]: s for s in repo.pipe("jobs", "show", "1", "--json", check=True).json["steps"]}
    assert steps["second"]["inputs"]["data"]["path"] == "build/one.txt"
    assert steps["second"]["outputs"]["data"]["path"] == "build/two.txt"


CHAIN = """\
    version: 1
    steps:
      sample: {component: std/sample_data@1, inputs: {name: diabetes}, outputs: {data: build/d.parquet}}
      select:
        component: std/select_columns@1
        inputs: {data: "${{steps.sample.outputs.data}}", columns: "age, bmi, bp, target"}
        outputs: {data: build/selected.parquet}
      clean:
        component: std/clean_missing_data@1
        inputs: {data: "${{steps.select.outputs.data}}", strategy: mean}
        outputs: {data: build/clean.parquet, report: build/clean.json}
      split:
        component: std/split_data@1
        inputs: {data: "${{steps.clean.outputs.data}}", fraction: 0.8}
        outputs: {train: build/train.parquet, test: build/test.parquet}
      normalize:
        component: std/normalize_data@1
        inputs: {data: "${{steps.split.outputs.train}}", exclude: target}
        outputs: {data: build/train_scaled.parquet, transform: build/scaling.json}
      scale_test:
        component: std/apply_transformation@1
        inputs: {data: "${{steps.split.outputs.test}}", transform: "${{steps.normalize.outputs.transform}}"}
        outputs: {data: build/test_scaled.parquet}
      train:
        component: std/train_model@1
        inputs: {data: "${{steps.normalize.outputs.data}}", label: target, model: ridge}
        outputs: {model: build/model}
      score:
        component: std/score_model@1
        inputs: {model: "${{steps.train.outputs.model}}", data: "${{steps.scale_test.outputs.data}}"}
        outputs: {scored: build/scored.parquet}
      cv:
        component: std/cross_validate@1
        inputs: {data: "${{steps.clean.outputs.data}}", model: linear_regression, folds: 3}
        outputs: {metrics: build/cv.json}
"""


def test_the_designer_chain_with_the_issues_names(repo):
    import json

    import pandas as pd

    repo.pipefile(CHAIN)
    assert set(repo.outcomes().values()) == {"ran"}
    assert json.loads(repo.read("build/model/model.json"))["estimator"] == "ridge"
    assert json.loads(repo.read("build/cv.json"))["algorithm"] == "linear_regression"
    assert "prediction" in pd.read_parquet(repo.root / "build/scored.parquet").columns


def test_train_models_param_is_model_and_algorithm_still_works(repo):
    repo.write("t.csv", "x,target\n1,1.0\n2,2.1\n3,2.9\n4,4.2\n")

    def train(inputs: str):
        repo.pipefile(
            f"""\
            version: 1
            steps:
              train:
                component: std/train_model@1
                inputs: {{data: t.csv, {inputs}}}
                outputs: {{model: build/model}}
            """
        )
        return repo.pipe("run")

    # A name it does not know is refused at load, at the input's line (component enums), before
    # anything runs: it failed the step after its upstream ran.
    run = train("model: rigde")
    assert run.code == 2, run
    assert "Pipefile:5:34: input 'model' of step 'train' is 'rigde', which is not one of its enum values" in run.err
    assert "did you mean 'ridge'?" in run.err

    run = train("algorithm: rigde")  # the older name is told by its own name
    assert run.code == 2 and "input 'algorithm' of step 'train' is 'rigde'" in run.err, run

    run = train("model: ridge, algorithm: lasso")
    assert run.code == 1, run
    assert "model: 'ridge' and algorithm: 'lasso' both name the algorithm" in run.err
    assert not repo.exists("build/model")

    assert train("algorithm: ridge").code == 0
    assert json_of(repo, "build/model/model.json")["estimator"] == "ridge"
    assert train("label: target").code == 0  # neither: the default
    assert json_of(repo, "build/model/model.json")["estimator"] == "random_forest_regressor"


def json_of(repo, path: str):
    import json

    return json.loads(repo.read(path))


def test_components_show_lists_the_issues_names(repo):
    shown = repo.pipe("components", "show", "std/train_model", "--json", check=True).json
    assert "model" in {p["name"] for p in shown["inputs"] + shown.get("params", [])}
    assert [o["name"] for o in shown["outputs"]] == ["model"]
    for name in ("select_columns", "clean_missing_data", "normalize_data", "apply_transformation"):
        shown = repo.pipe("components", "show", f"std/{name}", "--json", check=True).json
        assert "data" in {p["name"] for p in shown["inputs"]}
        assert shown["outputs"][0]["name"] == "data", name
