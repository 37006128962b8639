"""The std model components (train_model, score_model, evaluate_model, cross_validate, export_onnx)
on scikit-learn's bundled datasets: each script run for real, and each documented bad input.

Error shapes are checked once through a real `python -m stdlib_components.NAME` subprocess (the
located message, exit 2, nothing written); the rest call the scripts' `main` in-process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

pytest.importorskip("sklearn", reason="the std components need scikit-learn: pip install -e '.[std]'")
pd = pytest.importorskip("pandas")

from stdlib_components._lib.errors import ComponentError  # noqa: E402
from stdlib_components._lib.estimators import MODELS  # noqa: E402
from stdlib_components._lib.models import load_model, score_frame  # noqa: E402
from stdlib_components.cross_validate.__main__ import main as cross_validate  # noqa: E402
from stdlib_components.evaluate_model.__main__ import main as evaluate_model  # noqa: E402
from stdlib_components.score_model.__main__ import main as score_model  # noqa: E402
from stdlib_components.train_model.__main__ import main as train_model  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _dataset(tmp_path: Path, name: str, rows: int | None = None, labels: dict | None = None) -> Path:
    from sklearn import datasets

    frame = getattr(datasets, f"load_{name}")(as_frame=True).frame
    if rows:
        frame = frame.sample(n=rows, random_state=0).reset_index(drop=True)
    if labels:
        frame["target"] = frame["target"].map(labels)
    path = tmp_path / f"{name}.csv"
    frame.to_csv(path, index=False)
    return path


def _component(name: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", f"stdlib_components.{name}", *args],
        capture_output=True,
        text=True,
        env=full,
        timeout=120,
    )


def _train(data: Path, out: Path, model: str, *extra: str) -> Path:
    train_model(["--data", str(data), "--label", "target", "--algorithm", model, *extra, "--model", str(out)])
    return out


def _refused(main, argv: list, *words: str) -> ComponentError:
    with pytest.raises(ComponentError) as caught:
        main(argv)
    text = f"{caught.value.message} {caught.value.hint}"
    for word in words:
        assert word in text, text
    return caught.value


@pytest.fixture
def iris(tmp_path):
    return _dataset(tmp_path, "iris", labels={0: "setosa", 1: "versicolor", 2: "virginica"})


@pytest.fixture
def diabetes(tmp_path):
    return _dataset(tmp_path, "diabetes")


@pytest.fixture
def cancer(tmp_path):
    return _dataset(tmp_path, "breast_cancer", rows=200)


# ---- the chain, for real


def test_regression_chain_writes_model_predictions_metrics_and_report(tmp_path, diabetes):
    model = tmp_path / "model"
    assert _component(
        "train_model", "--data", str(diabetes), "--label", "target", "--algorithm", "ridge",
        "--hyperparameters", '{"alpha": 0.5}', "--seed", "0", "--model", str(model),
    ).returncode == 0  # fmt: skip
    info = json.loads((model / "model.json").read_text())
    assert info["task"] == "regression" and info["label"] == "target" and info["hyperparameters"] == {"alpha": 0.5}
    assert "target" not in info["feature_columns"] and len(info["feature_columns"]) == 10
    assert set(info["library_versions"]) >= {"scikit-learn", "numpy", "pandas", "python"}

    scored, metrics, report = tmp_path / "scored.parquet", tmp_path / "m.json", tmp_path / "r.png"
    assert (
        _component("score_model", "--model", str(model), "--data", str(diabetes), "--scored", str(scored)).returncode
        == 0
    )
    run = _component(
        "evaluate_model",
        "--scored",
        str(scored),
        "--label",
        "target",
        "--metrics",
        str(metrics),
        "--report",
        str(report),
    )
    assert run.returncode == 0, run.stderr
    values = json.loads(metrics.read_text())
    assert values["task"] == "regression" and values["rows"] == 442
    assert 0.3 < values["r2"] < 1 and values["mae"] > 0 and values["rmse"] >= values["mae"]
    assert report.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_binary_classifier_scores_probabilities_and_evaluates_auc_and_confusion_matrix(tmp_path, cancer):
    model = _train(cancer, tmp_path / "model", "random_forest_classifier", "--hyperparameters", '{"n_estimators": 10}')
    scored = tmp_path / "scored.parquet"
    score_model(["--model", str(model), "--data", str(cancer), "--scored", str(scored)])
    table = pd.read_parquet(scored)
    assert {"prediction", "probability_0", "probability_1"} <= set(table.columns)
    assert (table["probability_0"] + table["probability_1"]).round(6).eq(1).all()
    metrics = tmp_path / "m.json"
    evaluate_model(
        ["--scored", str(scored), "--label", "target", "--metrics", str(metrics), "--report", str(tmp_path / "r.png")]
    )
    values = json.loads(metrics.read_text())
    assert values["task"] == "classification"
    assert {"accuracy", "precision_macro", "recall_macro", "f1_macro", "auc"} <= set(values)
    assert values["confusion_matrix"]["labels"] == [0, 1]
    assert sum(map(sum, values["confusion_matrix"]["matrix"])) == 200


def test_multiclass_text_labels_name_the_probability_columns_and_have_no_auc(tmp_path, iris):
    model = _train(iris, tmp_path / "model", "knn_classifier")
    assert json.loads((model / "model.json").read_text())["classes"] == ["setosa", "versicolor", "virginica"]
    scored = tmp_path / "scored.parquet"
    score_model(["--model", str(model), "--data", str(iris), "--scored", str(scored)])
    assert {"probability_setosa", "probability_versicolor", "probability_virginica"} <= set(
        pd.read_parquet(scored).columns
    )
    metrics = tmp_path / "m.json"
    evaluate_model(
        ["--scored", str(scored), "--label", "target", "--metrics", str(metrics), "--report", str(tmp_path / "r.png")]
    )
    values = json.loads(metrics.read_text())
    assert "auc" not in values and values["accuracy"] > 0.9
    assert values["confusion_matrix"]["labels"] == ["setosa", "versicolor", "virginica"]


def test_score_model_writes_what_score_frame_gives_for_the_same_rows(tmp_path, iris):
    model = _train(iris, tmp_path / "model", "logistic_regression")
    scored = tmp_path / "scored.parquet"
    score_model(["--model", str(model), "--data", str(iris), "--scored", str(scored)])
    expected = score_frame(load_model(model), pd.read_csv(iris))
    pd.testing.assert_frame_equal(pd.read_parquet(scored), expected, check_dtype=False)


@pytest.mark.parametrize("algorithm", ["logistic_regression", "ridge"])
def test_scoring_no_rows_gives_no_rows_with_the_scored_columns(tmp_path, iris, diabetes, algorithm):
    # scikit-learn refuses an empty array: the step failed ('Found array with 0 sample(s)',
    # no hint) when a filter upstream kept no rows
    data = iris if algorithm == "logistic_regression" else diabetes
    model = _train(data, tmp_path / "model", algorithm)
    empty = tmp_path / "empty.parquet"
    pd.read_csv(data).iloc[:0].to_parquet(empty)
    scored = tmp_path / "scored.parquet"
    score_model(["--model", str(model), "--data", str(empty), "--scored", str(scored)])
    got = pd.read_parquet(scored)
    full = tmp_path / "full.parquet"
    score_model(["--model", str(model), "--data", str(data), "--scored", str(full)])
    want = pd.read_parquet(full)
    assert len(got) == 0 and list(got.columns) == list(want.columns)
    assert got.dtypes.tolist() == want.dtypes.tolist()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_name_trains_and_scores(tmp_path, name):
    task = MODELS[name].task
    data = _dataset(tmp_path, "iris" if task == "classification" else "diabetes", rows=60)
    model = _train(data, tmp_path / "model", name)
    info = json.loads((model / "model.json").read_text())
    assert info["estimator"] == name and info["task"] == task
    scored = tmp_path / "scored.parquet"
    score_model(["--model", str(model), "--data", str(data), "--scored", str(scored)])
    assert len(pd.read_parquet(scored)) == 60


def test_the_same_seed_makes_the_same_bytes_and_another_seed_another_model(tmp_path, cancer):
    def fit(seed: str, out: str) -> Path:
        args = ["--data", str(cancer), "--label", "target", "--algorithm", "random_forest_classifier"]
        run = _component(
            "train_model",
            *args,
            "--hyperparameters",
            '{"n_estimators": 5}',
            "--seed",
            seed,
            "--model",
            str(tmp_path / out),
        )
        assert run.returncode == 0, run.stderr
        return tmp_path / out

    a, b, c = fit("7", "a"), fit("7", "b"), fit("8", "c")
    for name in ("model.pkl", "model.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    assert (a / "model.pkl").read_bytes() != (c / "model.pkl").read_bytes()
    report_a, report_b = tmp_path / "ra.png", tmp_path / "rb.png"
    scored = tmp_path / "s.parquet"
    score_model(["--model", str(a), "--data", str(cancer), "--scored", str(scored)])
    for report in (report_a, report_b):
        evaluate_model(
            [
                "--scored",
                str(scored),
                "--label",
                "target",
                "--metrics",
                str(tmp_path / "m.json"),
                "--report",
                str(report),
            ]
        )
    assert report_a.read_bytes() == report_b.read_bytes()


# ---- bad input: one real subprocess per shape of error


def test_an_unknown_model_name_is_refused_with_the_step_component_and_closest_name(tmp_path, iris):
    out = tmp_path / "model"
    run = _component(
        "train_model", "--data", str(iris), "--label", "target", "--algorithm", "random_forest_clasifier",
        "--model", str(out), env={"PIPE_STEP": "train"},
    )  # fmt: skip
    assert run.returncode == 2
    assert "error: step 'train' (std/train_model@1): algorithm: 'random_forest_clasifier'" in run.stderr
    assert "did you mean 'random_forest_classifier'?" in run.stderr
    assert not out.exists()  # nothing half-written


def test_scoring_rows_without_a_feature_column_names_it(tmp_path, iris):
    model = _train(iris, tmp_path / "model", "decision_tree_classifier")
    rows = pd.read_csv(iris).drop(columns=["petal width (cm)"])
    rows.to_csv(tmp_path / "rows.csv", index=False)
    run = _component(
        "score_model",
        "--model",
        str(model),
        "--data",
        str(tmp_path / "rows.csv"),
        "--scored",
        str(tmp_path / "s.parquet"),
    )
    assert run.returncode == 2
    assert "std/score_model@1: data: the model's feature column(s) 'petal width (cm)' are missing" in run.stderr
    assert not (tmp_path / "s.parquet").exists()


def test_a_label_missing_from_the_scored_table_is_named(tmp_path, iris):
    model = _train(iris, tmp_path / "model", "decision_tree_classifier")
    scored = tmp_path / "scored.parquet"
    score_model(["--model", str(model), "--data", str(iris), "--scored", str(scored)])
    metrics = tmp_path / "m.json"
    run = _component(
        "evaluate_model",
        "--scored",
        str(scored),
        "--label",
        "targte",
        "--metrics",
        str(metrics),
        "--report",
        str(tmp_path / "r.png"),
    )
    assert run.returncode == 2
    assert "std/evaluate_model@1: label: column 'targte' is not in the scored table" in run.stderr
    assert "did you mean 'target'?" in run.stderr
    assert not metrics.exists()


def test_export_onnx_without_skl2onnx_names_the_extra(tmp_path, iris):
    model = _train(iris, tmp_path / "model", "logistic_regression")
    # a package that fails to import stands for skl2onnx being absent, wherever it is installed
    shadow = tmp_path / "shadow" / "skl2onnx"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named skl2onnx')\n")
    env = {"PYTHONPATH": f"{shadow.parent}{os.pathsep}{ROOT}"}
    run = _component("export_onnx", "--model", str(model), "--onnx", str(tmp_path / "m.onnx"), env=env)
    assert run.returncode == 2
    assert "needs skl2onnx" in run.stderr and "pip install 'pipefile[onnx]'" in run.stderr
    assert not (tmp_path / "m.onnx").exists()


def test_export_onnx_writes_a_model_with_its_feature_order(tmp_path, iris):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("skl2onnx")
    model = _train(iris, tmp_path / "model", "random_forest_classifier", "--hyperparameters", '{"n_estimators": 3}')
    outs = []
    for name in ("a.onnx", "b.onnx"):
        run = _component("export_onnx", "--model", str(model), "--onnx", str(tmp_path / name))
        assert run.returncode == 0, run.stderr
        outs.append((tmp_path / name).read_bytes())
    assert outs[0] == outs[1]
    proto = onnx.load(str(tmp_path / "a.onnx"))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(meta["feature_columns"]) == json.loads((model / "model.json").read_text())["feature_columns"]
    assert proto.graph.input[0].name == "input"


# ---- bad input, in-process


def _train_argv(data: Path, tmp_path: Path, model: str = "ridge", label: str = "target", *extra: str) -> list:
    return ["--data", str(data), "--label", label, "--algorithm", model, *extra, "--model", str(tmp_path / "model")]


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--hyperparameters", "{alpha: 1}"], ["hyperparameters:", "not valid JSON", "JSON object"]),
        (["--hyperparameters", "[1, 2]"], ["hyperparameters:", "not a JSON object"]),
        (["--hyperparameters", '{"alpah": 1}'], ["'alpah' is not a hyperparameter of ridge", "did you mean 'alpha'?"]),
        (["--hyperparameters", '{"zzz": 1}'], ["'zzz' is not a hyperparameter", "Ridge takes:", "alpha"]),
        (["--hyperparameters", '{"alpha": "big"}'], ["hyperparameters:", "'alpha' parameter of Ridge"]),
        (["--hyperparameters", '{"random_state": 3}'], ["random_state is set by the `seed` param"]),
        # these trained, and model.json held `Infinity`, which is no JSON other readers take
        (["--hyperparameters", '{"alpha": 1e400}'], ["hyperparameters: 1e400 is not a number JSON holds"]),
        (["--hyperparameters", '{"alpha": Infinity}'], ["hyperparameters: Infinity is not a number", "finite"]),
        (["--features", "age,bmii"], ["features: column 'bmii' is not in the input", "did you mean 'bmi'?"]),
        (["--features", "age,target"], ["the label 'target' cannot also be a feature"]),
    ],
)
def test_train_model_refuses_bad_params_by_name(tmp_path, diabetes, extra, words):
    _refused(train_model, _train_argv(diabetes, tmp_path, "ridge", "target", *extra), *words)
    assert not (tmp_path / "model").exists()


def test_train_model_refuses_a_missing_label(tmp_path, diabetes):
    _refused(train_model, _train_argv(diabetes, tmp_path, label="price"), "label: column 'price' is not in the input")


def test_train_model_refuses_text_features_by_name(tmp_path, diabetes):
    frame = pd.read_csv(diabetes)
    frame["city"] = "Oslo"
    frame.to_csv(diabetes, index=False)
    _refused(train_model, _train_argv(diabetes, tmp_path), "column(s) 'city' are not numeric", "std/select_columns")


def test_train_model_refuses_missing_values_the_model_cannot_take(tmp_path, diabetes):
    frame = pd.read_csv(diabetes)
    frame.loc[3, "bmi"] = None
    frame.to_csv(diabetes, index=False)
    _refused(
        train_model, _train_argv(diabetes, tmp_path, "ridge"), "'bmi' have missing values", "std/clean_missing_data"
    )
    frame.loc[3, "bmi"] = 0.1
    frame.loc[5, "target"] = None
    frame.to_csv(diabetes, index=False)
    _refused(train_model, _train_argv(diabetes, tmp_path, "ridge"), "label: column 'target' has 1 missing value(s)")


def test_train_model_refuses_a_table_without_rows(tmp_path, diabetes):
    pd.read_csv(diabetes).head(0).to_csv(diabetes, index=False)
    _refused(train_model, _train_argv(diabetes, tmp_path), "data: the table has no rows")


def test_evaluate_model_refuses_missing_true_values_and_an_empty_table(tmp_path, diabetes):
    model = _train(diabetes, tmp_path / "model", "linear_regression")
    score_model(["--model", str(model), "--data", str(diabetes), "--scored", str(tmp_path / "s.parquet")])
    scored = pd.read_parquet(tmp_path / "s.parquet")
    argv = ["--scored", str(tmp_path / "t.parquet"), "--label", "target"]
    argv += ["--metrics", str(tmp_path / "m.json"), "--report", str(tmp_path / "r.png")]
    scored.loc[[1, 2], "target"] = None
    scored.to_parquet(tmp_path / "t.parquet")
    _refused(evaluate_model, argv, "label: column 'target' has 2 missing value(s) in the scored table")
    scored.head(0).to_parquet(tmp_path / "t.parquet")
    _refused(evaluate_model, argv, "scored: the table has no rows")
    assert not (tmp_path / "m.json").exists() and not (tmp_path / "r.png").exists()


def test_the_task_of_the_model_must_fit_the_label(tmp_path, iris, diabetes):
    _refused(train_model, _train_argv(iris, tmp_path, "ridge"), "'target' is not numeric", "*_classifier")
    frame = pd.read_csv(diabetes)
    frame["target"] = frame["target"] / 7
    frame.to_csv(diabetes, index=False)
    _refused(train_model, _train_argv(diabetes, tmp_path, "logistic_regression"), "continuous numbers", "*_regressor")
    frame["target"] = 1
    frame.to_csv(diabetes, index=False)
    _refused(train_model, _train_argv(diabetes, tmp_path, "logistic_regression"), "has one class only")


def test_a_classifier_over_a_price_like_label_warns(tmp_path, diabetes, capsys):
    _train(diabetes, tmp_path / "model", "decision_tree_classifier")
    assert "214 distinct values for 442 rows" in capsys.readouterr().err


def test_score_model_refuses_text_features_and_a_folder_that_is_no_model(tmp_path, iris):
    model = _train(iris, tmp_path / "model", "decision_tree_classifier")
    rows = pd.read_csv(iris)
    rows["sepal length (cm)"] = "long"
    rows.to_csv(tmp_path / "rows.csv", index=False)
    argv = ["--model", str(model), "--data", str(tmp_path / "rows.csv"), "--scored", str(tmp_path / "s.parquet")]
    _refused(score_model, argv, "column(s) 'sepal length (cm)' are not numeric")
    argv[1] = str(tmp_path)
    _refused(score_model, argv, "is not a model folder", "std/train_model")


def test_evaluate_model_refuses_a_table_without_predictions_and_an_unknown_task(tmp_path, iris):
    argv = [
        "--scored",
        str(iris),
        "--label",
        "target",
        "--metrics",
        str(tmp_path / "m.json"),
        "--report",
        str(tmp_path / "r.png"),
    ]
    _refused(evaluate_model, argv, "no 'prediction' column", "std/score_model")
    model = _train(iris, tmp_path / "model", "decision_tree_classifier")
    score_model(["--model", str(model), "--data", str(iris), "--scored", str(tmp_path / "s.parquet")])
    argv[1] = str(tmp_path / "s.parquet")
    _refused(evaluate_model, [*argv, "--task", "ranking"], "task: 'ranking' is not one of")
    _refused(evaluate_model, [*argv, "--task", "regression"], "not numeric, so no regression metrics")
    assert not (tmp_path / "m.json").exists()


def test_a_classifier_fitted_on_a_float_label_is_evaluated_on_an_int_one_as_sklearn_would(tmp_path):
    # a label cleaned (mean fill) on the training rows only is 0.0/1.0 there and 0/1 in the test
    # rows: the classes are one, and were compared as the texts "1" and "1.0" (accuracy 0)
    from sklearn.metrics import accuracy_score, roc_auc_score

    floats = _dataset(tmp_path, "breast_cancer", rows=200, labels={0: 0.0, 1: 1.0})
    model = _train(floats, tmp_path / "model", "random_forest_classifier", "--hyperparameters", '{"n_estimators": 10}')
    (tmp_path / "int").mkdir()
    ints = _dataset(tmp_path / "int", "breast_cancer", rows=200)
    scored, metrics = tmp_path / "scored.parquet", tmp_path / "m.json"
    score_model(["--model", str(model), "--data", str(ints), "--scored", str(scored)])
    evaluate_model(
        ["--scored", str(scored), "--label", "target", "--metrics", str(metrics), "--report", str(tmp_path / "r.png")]
    )
    values, table = json.loads(metrics.read_text()), pd.read_parquet(scored)
    assert table["target"].dtype == "int64" and table["prediction"].dtype == "float64"
    assert values["accuracy"] == pytest.approx(accuracy_score(table["target"], table["prediction"].astype(int)))
    assert values["accuracy"] > 0.9 and values["confusion_matrix"]["labels"] == [0.0, 1.0]
    assert values["auc"] == pytest.approx(roc_auc_score(table["target"], table["probability_1.0"]))


def test_classification_metrics_of_numbers_with_fractions_are_refused_by_name(tmp_path, diabetes):
    model = _train(diabetes, tmp_path / "model", "ridge")
    scored = tmp_path / "scored.parquet"
    score_model(["--model", str(model), "--data", str(diabetes), "--scored", str(scored)])
    argv = ["--scored", str(scored), "--label", "target", "--task", "classification"]
    argv += ["--metrics", str(tmp_path / "m.json"), "--report", str(tmp_path / "r.png")]
    _refused(evaluate_model, argv, "task: column", "not classes", "task: regression")  # was sklearn's ValueError
    assert not (tmp_path / "m.json").exists()


@pytest.mark.parametrize("seed", ["-1", str(2**32)])
def test_a_seed_numpy_cannot_take_is_refused_as_seed(tmp_path, iris, seed):
    # sklearn's words named random_state, which the user did not write, as a bad hyperparameter
    from stdlib_components.split_data.__main__ import main as split_data

    train = ["--data", str(iris), "--label", "target", "--algorithm", "decision_tree_classifier", "--seed", seed]
    for main, argv in (
        (train_model, [*train, "--model", str(tmp_path / "model")]),
        (cross_validate, [*train, "--folds", "3", "--metrics", str(tmp_path / "cv.json")]),
        (
            split_data,
            [
                "--data",
                str(iris),
                "--fraction",
                "0.5",
                "--seed",
                seed,
                "--train",
                str(tmp_path / "a"),
                "--test",
                str(tmp_path / "b"),
            ],
        ),
    ):
        err = _refused(main, argv, f"seed: {seed} is not between 0 and 4294967295")
        assert "hyperparameters" not in err.message and "fraction" not in str(err.hint)
    assert not list(tmp_path.glob("[mcab]*"))


@pytest.mark.parametrize(
    "truth, guess", [(["$x_$", "b", "b"], ["$x_$", "b", "$x_$"]), ([1.0, 2.0, 3.0], [1.5, 2.0, 2.5])]
)
def test_evaluate_model_draws_a_label_and_classes_with_dollar_signs_as_they_are(tmp_path, truth, guess):
    # two `$` in the label's name or a class were read by matplotlib as TeX, and failed the report
    scored = tmp_path / "scored.parquet"
    pd.DataFrame({"cost_$ / rev_$": truth, "prediction": guess}).to_parquet(scored)
    report = tmp_path / "r.png"
    argv = ["--scored", str(scored), "--label", "cost_$ / rev_$", "--metrics", str(tmp_path / "m.json")]
    evaluate_model([*argv, "--report", str(report)])
    assert report.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_more_neighbours_than_rows_is_refused_at_the_fit_not_when_scoring(tmp_path, iris):
    # sklearn fits KNeighbors on fewer rows than n_neighbors: the model was written, and scoring
    # it (or each fold of cross_validate) failed blaming the rows scored
    knn = ["--data", str(iris), "--label", "target", "--algorithm", "knn_classifier"]
    argv = [*knn, "--hyperparameters", '{"n_neighbors": 151}', "--model", str(tmp_path / "model")]
    _refused(train_model, argv, "hyperparameters: n_neighbors 151 is more than the 150 rows to fit on")
    assert not (tmp_path / "model").exists()
    argv = [*knn, "--hyperparameters", '{"n_neighbors": 140}', "--folds", "5", "--metrics", str(tmp_path / "cv.json")]
    _refused(cross_validate, argv, "hyperparameters: n_neighbors 140 is more than the 120 rows to fit on")
    _train(iris, tmp_path / "ok", "knn_classifier", "--hyperparameters", '{"n_neighbors": 150}')


# ---- cross_validate


def test_cross_validate_writes_each_fold_with_mean_and_std_the_same_each_time(tmp_path, iris):
    def run(out: str) -> dict:
        cross_validate(["--data", str(iris), "--label", "target", "--algorithm", "logistic_regression", "--folds", "3", "--seed", "1", "--metrics", str(tmp_path / out)])  # fmt: skip
        return json.loads((tmp_path / out).read_text())

    first = run("a.json")
    assert first["task"] == "classification" and len(first["folds"]) == 3
    assert set(first["mean"]) == set(first["std"]) == {"accuracy", "precision_macro", "recall_macro", "f1_macro"}
    assert 0.85 < first["mean"]["accuracy"] <= 1
    assert (tmp_path / "a.json").read_bytes() == (run("b.json") and (tmp_path / "b.json").read_bytes())


def test_cross_validate_regression_and_bad_folds(tmp_path, diabetes):
    argv = [
        "--data",
        str(diabetes),
        "--label",
        "target",
        "--algorithm",
        "lasso",
        "--metrics",
        str(tmp_path / "cv.json"),
    ]
    cross_validate([*argv, "--folds", "4"])
    values = json.loads((tmp_path / "cv.json").read_text())
    assert set(values["mean"]) == {"r2", "mae", "rmse"} and len(values["folds"]) == 4
    (tmp_path / "cv.json").unlink()
    _refused(cross_validate, [*argv, "--folds", "1"], "folds: 1 is fewer than 2")
    _refused(cross_validate, [*argv, "--folds", "1000"], "the table has 442")
    _refused(cross_validate, [*argv, "--folds", "3", "--hyperparameters", '{"alpah": 1}'], "did you mean 'alpha'?")
    assert not (tmp_path / "cv.json").exists()


# ---- the specs: what a step runs is what the scripts take


def _spec(name: str) -> dict:
    import yaml

    return yaml.safe_load((ROOT / "stdlib_components" / name / "component.yaml").read_text())


def _run_spec(name: str, values: dict) -> subprocess.CompletedProcess:
    """Run a component's declared command as a step would, every optional part given
    (`outputs.NAME` in `values` for an output that shares its name with an input)."""
    import re
    import shlex

    spec = _spec(name)
    command = re.sub(r"\$\[\[(.*?)\]\]", r"\1", spec["command"])
    command = re.sub(
        r"\$\{\{(inputs|outputs)\.(\w+)\}\}",
        lambda m: shlex.quote(str(values.get(m.group(0)[3:-2], values.get(m.group(2))))),
        command,
    )
    argv = shlex.split(command)
    assert argv[:3] == ["python", "-m", f"stdlib_components.{name}"]
    return _component(name, *argv[3:])


MODEL_COMPONENTS = ("train_model", "score_model", "evaluate_model", "cross_validate", "export_onnx")


@pytest.mark.parametrize("name", MODEL_COMPONENTS)
def test_a_spec_names_each_port_once_and_uses_every_one(name):
    spec = _spec(name)
    assert spec["name"] == name and spec["version"].startswith("1.")
    for port in [*(f"inputs.{i}" for i in spec["inputs"]), *(f"outputs.{o}" for o in spec["outputs"])]:
        assert "${{" + port + "}}" in spec["command"], port
    if "metrics" in spec:
        assert spec["metrics"] in spec["outputs"]


def test_the_declared_commands_chain_train_score_evaluate(tmp_path, cancer):
    defaults = {k: v.get("default") for k, v in _spec("train_model")["inputs"].items()}
    model, scored = tmp_path / "model", tmp_path / "scored.parquet"
    train = {
        **defaults,
        "data": cancer,
        "algorithm": "gradient_boosting_classifier",
        "features": "mean radius,mean area",
    }
    run = _run_spec("train_model", {**train, "hyperparameters": '{"n_estimators": 5}', "outputs.model": model})
    assert run.returncode == 0, run.stderr
    assert json.loads((model / "model.json").read_text())["feature_columns"] == ["mean radius", "mean area"]
    assert _run_spec("score_model", {"model": model, "data": cancer, "scored": scored}).returncode == 0
    metrics = tmp_path / "metrics.json"
    run = _run_spec(
        "evaluate_model",
        {"scored": scored, "label": "target", "task": "auto", "metrics": metrics, "report": tmp_path / "r.png"},
    )
    assert run.returncode == 0, run.stderr
    assert "auc" in json.loads(metrics.read_text())
    cv = {
        **train,
        "hyperparameters": "{}",
        "algorithm": "naive_bayes_classifier",
        "folds": 3,
        "metrics": tmp_path / "cv.json",
    }
    assert _run_spec("cross_validate", cv).returncode == 0
    assert json.loads((tmp_path / "cv.json").read_text())["algorithm"] == "naive_bayes_classifier"


# ---- score_frame, as `pipe serve`'s online endpoints call it


def test_score_frame_refuses_gaps_by_column_as_a_value_error(tmp_path, diabetes):
    model = load_model(_train(diabetes, tmp_path / "model", "ridge"))
    rows = pd.read_csv(diabetes).head(3)
    rows.loc[1, "bp"] = None
    with pytest.raises(ValueError) as caught:  # what an online endpoint catches, to answer 422
        score_frame(model, rows)
    assert isinstance(caught.value, ComponentError)
    assert "column(s) 'bp' have missing values" in str(caught.value) and "NaN" in str(caught.value)


def test_score_frame_scores_a_model_folder_of_the_users_own_that_takes_text(tmp_path):
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    from stdlib_components._lib.models import ModelInfo, save_model

    frame = pd.DataFrame({"city": ["Oslo", "Rome", "Oslo", "Rome"], "size": [1, 2, 3, 4], "y": [0, 1, 0, 1]})
    encode = make_column_transformer((OneHotEncoder(), ["city"]), remainder="passthrough")
    pipeline = make_pipeline(encode, LogisticRegression()).fit(frame[["city", "size"]], frame["y"])
    info = ModelInfo("own_pipeline", "classification", "y", ["city", "size"], classes=[0, 1])
    save_model(tmp_path / "own", pipeline, info)
    scored = score_frame(load_model(tmp_path / "own"), frame)
    assert scored["prediction"].tolist() == [0, 1, 0, 1]
    assert {"probability_0", "probability_1"} <= set(scored.columns)


@pytest.mark.parametrize(
    "make",
    [
        lambda: __import__("sklearn.linear_model", fromlist=["x"]).LogisticRegression(max_iter=2000),
        lambda: __import__("sklearn.ensemble", fromlist=["x"]).RandomForestClassifier(n_estimators=7, random_state=0),
        lambda: __import__("sklearn.ensemble", fromlist=["x"]).ExtraTreesClassifier(n_estimators=7, random_state=0),
        lambda: __import__("sklearn.tree", fromlist=["x"]).DecisionTreeClassifier(max_depth=3, random_state=0),
        lambda: __import__("sklearn.ensemble", fromlist=["x"]).GradientBoostingClassifier(n_estimators=5),
        lambda: __import__("sklearn.ensemble", fromlist=["x"]).HistGradientBoostingClassifier(max_iter=5),
        lambda: __import__("sklearn.neighbors", fromlist=["x"]).KNeighborsClassifier(n_neighbors=4),
    ],
)
@pytest.mark.parametrize("dataset", ["load_iris", "load_breast_cancer", "load_digits"])
def test_a_prediction_read_off_the_probabilities_is_what_predict_says(make, dataset):
    # score_frame takes these classifiers' prediction from predict_proba (one pass, not two):
    # on binary and many-class data, ties included (4 neighbours), it must equal predict().
    import sklearn.datasets

    from stdlib_components._lib.models import ARGMAX_CLASSIFIERS, Model, ModelInfo, score_frame

    frame = getattr(sklearn.datasets, dataset)(as_frame=True).frame
    features = [c for c in frame.columns if c != "target"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (lbfgs may stop short on unscaled data: not the point here)
        est = make().fit(frame[features], frame["target"])
    assert type(est).__name__ in ARGMAX_CLASSIFIERS
    info = ModelInfo("x", "classification", "target", features, classes=list(est.classes_))
    scored = score_frame(Model(info, est), frame)
    assert (scored["prediction"].to_numpy() == est.predict(frame[features])).all()


def test_scoring_rows_that_hold_a_prediction_column_is_refused_not_overwritten(tmp_path, iris):
    """A table scored before has `prediction` (and `probability_<class>`): scoring it again
    replaced those columns without a word; it is refused, naming them and the fix."""
    model = _train(iris, tmp_path / "model", "logistic_regression")
    scored, again = tmp_path / "scored.parquet", tmp_path / "again.parquet"
    score_model(["--model", str(model), "--data", str(iris), "--scored", str(scored)])
    _refused(
        score_model,
        ["--model", str(model), "--data", str(scored), "--scored", str(again)],
        "'prediction'",
        "'probability_setosa'",
        "select_columns",
    )
    assert not again.exists()
