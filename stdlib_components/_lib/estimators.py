"""The models std/train_model and std/cross_validate know: names, hyperparameters, features, fitting.

A model is named as the designer names its blocks (`random_forest_classifier`); the task
(classification or regression) follows from the name. Both components fit through `fit_model`, so
a cross-validated model is the model train_model would make on the same rows.
"""

from __future__ import annotations

import json
import math
import platform
import sys
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from .columns import infinite_columns
from .errors import ComponentError, check_columns, check_seed, did_you_mean, split_names
from .models import ModelInfo

CLASSIFICATION = "classification"
REGRESSION = "regression"


@dataclass(frozen=True)
class ModelKind:
    module: str
    cls: str
    task: str
    defaults: tuple[tuple[str, Any], ...] = ()  # pipefile's defaults where sklearn's would surprise


MODELS: dict[str, ModelKind] = {
    "linear_regression": ModelKind("sklearn.linear_model", "LinearRegression", REGRESSION),
    "ridge": ModelKind("sklearn.linear_model", "Ridge", REGRESSION),
    "lasso": ModelKind("sklearn.linear_model", "Lasso", REGRESSION),
    "elastic_net": ModelKind("sklearn.linear_model", "ElasticNet", REGRESSION),
    # a higher max_iter: sklearn's 100 often stops short of convergence on unscaled tables
    "logistic_regression": ModelKind(
        "sklearn.linear_model", "LogisticRegression", CLASSIFICATION, (("max_iter", 1000),)
    ),
    "decision_tree_classifier": ModelKind("sklearn.tree", "DecisionTreeClassifier", CLASSIFICATION),
    "decision_tree_regressor": ModelKind("sklearn.tree", "DecisionTreeRegressor", REGRESSION),
    "random_forest_classifier": ModelKind("sklearn.ensemble", "RandomForestClassifier", CLASSIFICATION),
    "random_forest_regressor": ModelKind("sklearn.ensemble", "RandomForestRegressor", REGRESSION),
    "gradient_boosting_classifier": ModelKind("sklearn.ensemble", "GradientBoostingClassifier", CLASSIFICATION),
    "gradient_boosting_regressor": ModelKind("sklearn.ensemble", "GradientBoostingRegressor", REGRESSION),
    "knn_classifier": ModelKind("sklearn.neighbors", "KNeighborsClassifier", CLASSIFICATION),
    "knn_regressor": ModelKind("sklearn.neighbors", "KNeighborsRegressor", REGRESSION),
    # probabilities on where sklearn still offers them (before 1.9): score_model writes them, AUC needs them
    "svm_classifier": ModelKind("sklearn.svm", "SVC", CLASSIFICATION, (("probability", True),)),
    "svm_regressor": ModelKind("sklearn.svm", "SVR", REGRESSION),
    "naive_bayes_classifier": ModelKind("sklearn.naive_bayes", "GaussianNB", CLASSIFICATION),
}


DEFAULT_MODEL = "random_forest_regressor"


def chosen_model(model: str | None, algorithm: str | None) -> tuple[str, str]:
    """The algorithm named by the `model` param, or by `algorithm` (its first name, still
    taken), and which of the two named it (for the error messages). `model` has a default, so
    only a `model` other than the default conflicts with `algorithm`."""
    if model not in (None, DEFAULT_MODEL, algorithm) and algorithm is not None:
        raise ComponentError(
            f"model: {model!r} and algorithm: {algorithm!r} both name the algorithm",
            "give only `model` (`algorithm` is its older name)",
        )
    if algorithm is not None:
        return algorithm, "algorithm"
    return (model if model is not None else DEFAULT_MODEL), "model"


def model_kind(name: str, param: str = "model") -> ModelKind:
    kind = MODELS.get(name)
    if kind is None:
        guess = did_you_mean(name, MODELS)
        hint = f"did you mean {guess!r}?" if guess else f"the algorithms are: {', '.join(sorted(MODELS))}"
        raise ComponentError(f"{param}: {name!r} is not an algorithm std/train_model knows", hint)
    return kind


def _not_finite(token: str) -> float:
    raise ComponentError(
        f"hyperparameters: {token} is not a number JSON holds",
        "give a finite number (the estimator's own setting for no limit, e.g. penalty: null, where it has one)",
    )


def _finite(token: str) -> float:
    number = float(token)
    return number if math.isfinite(number) else _not_finite(token)


def parse_hyperparameters(text: str | None) -> dict[str, Any]:
    """The `hyperparameters` param: a JSON object (empty or absent: none)."""
    if text is None or not text.strip():
        return {}
    try:
        # strict JSON has no NaN or infinity: Python's json reads `Infinity`, `NaN` and 1e400
        # (as inf), and model.json, which repeats the hyperparameters, was then no JSON that
        # other readers accept
        value = json.loads(text, parse_constant=_not_finite, parse_float=_finite)
    except ValueError as err:
        raise ComponentError(
            f"hyperparameters: {text!r} is not valid JSON: {err}",
            "give a JSON object, e.g. hyperparameters: '{\"n_estimators\": 200}'",
        ) from None
    if not isinstance(value, dict):
        raise ComponentError(
            f"hyperparameters: {text!r} is not a JSON object",
            "give names and values in braces, e.g. '{\"max_depth\": 3}'",
        )
    return value


def make_estimator(name: str, hyperparameters: dict[str, Any], seed: int | None):
    """The unfitted estimator `name` with `hyperparameters` checked against its own params."""
    kind = model_kind(name)
    cls = getattr(import_module(kind.module), kind.cls)
    estimator = cls()
    known = estimator.get_params(deep=False)
    for key in hyperparameters:
        if key == "random_state":
            raise ComponentError(
                "hyperparameters: random_state is set by the `seed` param", "remove it, and give `seed` instead"
            )
        if key not in known:
            guess = did_you_mean(key, known)
            hint = f"did you mean {guess!r}?" if guess else f"{kind.cls} takes: {', '.join(sorted(known))}"
            raise ComponentError(f"hyperparameters: {key!r} is not a hyperparameter of {name} ({kind.cls})", hint)
    # a default of ours is dropped where sklearn has deprecated the parameter (SVC's probability, 1.9)
    params = {k: v for k, v in kind.defaults if known.get(k) != "deprecated"}
    params.update(hyperparameters)
    if "random_state" in known and seed is not None:
        params["random_state"] = seed
    estimator.set_params(**params)
    _validate(estimator, name)
    return estimator


def _validate(estimator, name: str) -> None:
    # sklearn checks types and ranges itself; asking before the fit names the problem without
    # waiting for a long fit, and its words say which value and what it must be
    check = getattr(estimator, "_validate_params", None)
    if check is None:
        return
    try:
        check()
    except (ValueError, TypeError) as err:
        raise ComponentError(
            f"hyperparameters: {err}", f"see the documentation of {type(estimator).__name__}"
        ) from None


def feature_columns(frame, label: str, features: str | None) -> list[str]:
    """The columns a model is fitted on: `features` if given, else every column but `label`."""
    columns = [str(c) for c in frame.columns]
    check_columns(columns, [label], "label")
    chosen = split_names(features)
    if chosen:
        check_columns(columns, chosen, "features")
        if label in chosen:
            raise ComponentError(
                f"features: the label {label!r} cannot also be a feature", "leave it out of `features`"
            )
    else:
        chosen = [c for c in columns if c != label]
    if not chosen:
        raise ComponentError("data: the table has no column besides the label", "give a table with feature columns")
    return chosen


def check_features(frame, columns: list[str], estimator) -> None:
    """Refuse what no estimator here can fit: text columns, and gaps where the model cannot take them."""
    import pandas as pd

    text = [c for c in columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if text:
        raise ComponentError(
            f"features: column(s) {', '.join(repr(c) for c in text)} are not numeric",
            "leave them out with std/select_columns (mode: exclude) or `features`, or encode them as numbers",
        )
    endless = infinite_columns(frame, columns)
    if endless:
        # sklearn's words ("Input X contains infinity") named no column
        raise ComponentError(
            f"features: column(s) {', '.join(repr(c) for c in endless)} hold infinite values, which no model fits",
            "filter those rows out first (std/filter_rows), or leave the columns out of `features`",
        )
    gaps = [c for c in columns if frame[c].isna().any()]
    if gaps and not _allows_nan(estimator):
        raise ComponentError(
            f"features: column(s) {', '.join(repr(c) for c in gaps)} have missing values",
            "fill or drop them first with std/clean_missing_data",
        )


def _allows_nan(estimator) -> bool:
    try:
        from sklearn.utils import get_tags
    except ImportError:  # sklearn before 1.6: ask nothing, let the fit say
        return True
    return bool(get_tags(estimator).input_tags.allow_nan)


def check_label(frame, label: str, task: str, model: str, warn: bool = True) -> None:
    import pandas as pd

    target = frame[label]
    if target.isna().any():
        raise ComponentError(
            f"label: column {label!r} has {int(target.isna().sum())} missing value(s)",
            "drop those rows first with std/clean_missing_data (strategy: drop_rows)",
        )
    if task == REGRESSION:
        if not pd.api.types.is_numeric_dtype(target) or pd.api.types.is_bool_dtype(target):
            raise ComponentError(
                f"label: column {label!r} is not numeric, and {model} predicts a number",
                "use a *_classifier model for classes",
            )
        return
    from sklearn.utils.multiclass import type_of_target

    if type_of_target(target) == "continuous":
        raise ComponentError(
            f"label: column {label!r} holds continuous numbers, and {model} predicts classes",
            "use a *_regressor model (or linear_regression, ridge, lasso) for numbers",
        )
    classes = target.nunique()
    if classes < 2:
        raise ComponentError(
            f"label: column {label!r} has one class only", "a classifier needs rows of two classes or more"
        )
    if warn and (classes > 100 or (classes > 20 and classes > len(target) / 2)):
        # whole numbers count as classes to sklearn: a price in dollars would make a class per price
        print(
            f"warning: label: column {label!r} has {classes} distinct values for {len(target)} rows; "
            f"{model} treats each as a class (a *_regressor model predicts a number)",
            file=sys.stderr,
        )


def check_inputs(frame, model: str, label: str, features: str | None, hyperparameters: dict[str, Any], seed, warn=True):
    """Everything about a fit that can be refused by name before fitting: the estimator and its columns."""
    kind = model_kind(model)
    if seed is not None:
        check_seed(seed)
    if len(frame) == 0:
        raise ComponentError("data: the table has no rows", "give a table with rows to learn from")
    columns = feature_columns(frame, label, features)
    estimator = make_estimator(model, hyperparameters, seed)
    check_features(frame, columns, estimator)
    check_label(frame, label, kind.task, model, warn)
    return estimator, columns


def fit_model(frame, model: str, label: str, features: str | None, hyperparameters: dict[str, Any], seed, warn=True):
    """Fit `model` on `frame`: the fitted estimator and its ModelInfo."""
    kind = model_kind(model)
    estimator, columns = check_inputs(frame, model, label, features, hyperparameters, seed, warn)
    neighbours = estimator.get_params().get("n_neighbors")
    if isinstance(neighbours, int) and neighbours > len(frame):
        # sklearn fits it, and only scoring fails, blaming the rows scored (a fold's, in cross_validate)
        raise ComponentError(
            f"hyperparameters: n_neighbors {neighbours} is more than the {len(frame)} rows to fit on",
            f"give n_neighbors {len(frame)} or fewer (the default is 5)",
        )
    try:
        estimator.fit(frame[columns], frame[label])
    except ValueError as err:
        # what is left is sklearn's own judgment of these rows (too few for n_neighbors, ...)
        raise ComponentError(f"the model could not be fitted: {err}", "check `hyperparameters` and the data") from None
    classes = [_plain(c) for c in getattr(estimator, "classes_", [])] if kind.task == CLASSIFICATION else []
    info = ModelInfo(
        estimator=model,
        task=kind.task,
        label=label,
        feature_columns=columns,
        classes=classes,
        hyperparameters=hyperparameters,
        seed=seed,
        library_versions=library_versions(),
    )
    return estimator, info


def _plain(value):
    """A numpy scalar as the Python value JSON can hold."""
    return value.item() if hasattr(value, "item") else value


def library_versions() -> dict[str, str]:
    import numpy
    import pandas
    import sklearn

    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
    }
