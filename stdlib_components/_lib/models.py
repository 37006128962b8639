"""The model folder that std/train_model writes and std/score_model and online deployments read.

A model folder holds:
- `model.pkl`: the fitted scikit-learn estimator, pickled;
- `model.json`: what is needed to use it without the training data, see `ModelInfo`.

`score_frame` is the one scoring function: std/score_model and `pipe serve`'s online endpoints
both call it, so an online prediction equals the batch one for the same rows and model.
"""

from __future__ import annotations

import json
import os
import pickle
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .columns import infinite_columns
from .errors import ComponentError

MODEL_FORMAT = "pipefile-sklearn-model"
FORMAT_VERSION = 1


class ScoringError(ComponentError, ValueError):
    """Rows a model cannot score. A ValueError too: callers of `score_frame` outside the std
    scripts (`pipe serve`'s online endpoints) catch ValueError, as sklearn raises it."""


@dataclass
class ModelInfo:
    estimator: str  # the std/train_model name of the model, e.g. "random_forest_classifier"
    task: str  # "classification" or "regression"
    label: str
    feature_columns: list[str]
    classes: list[Any] = field(default_factory=list)  # classifiers only, in predict_proba order
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    library_versions: dict[str, str] = field(default_factory=dict)
    format: str = MODEL_FORMAT
    format_version: int = FORMAT_VERSION


@dataclass
class Model:
    info: ModelInfo
    estimator: Any


def save_model(folder: str | os.PathLike, estimator: Any, info: ModelInfo) -> None:
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "model.pkl", "wb") as f:
        pickle.dump(estimator, f, protocol=pickle.HIGHEST_PROTOCOL)
    with open(out / "model.json", "w") as f:
        json.dump(asdict(info), f, indent=2, sort_keys=True, default=str)
        f.write("\n")


def read_model_info(folder: str | os.PathLike) -> ModelInfo:
    if not Path(folder).is_dir():
        raise ComponentError(
            f"model: {folder} is not a model folder (a model is a folder holding model.json and model.pkl)",
            "bind the `model` output of std/train_model",
        )
    path = Path(folder) / "model.json"
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise ComponentError(
            f"model: {folder} is not a model folder (no model.json)",
            "bind the `model` output of std/train_model",
        ) from None
    except ValueError as err:
        raise ComponentError(f"model: {path} is not valid JSON: {err}") from None
    if not isinstance(raw, dict) or raw.get("format") != MODEL_FORMAT:
        raise ComponentError(f"model: {path} is not a {MODEL_FORMAT} description")
    known = {k: v for k, v in raw.items() if k in ModelInfo.__dataclass_fields__}
    try:
        return ModelInfo(**known)
    except TypeError as err:
        raise ComponentError(f"model: {path} lacks a field: {err}") from None


def load_model(folder: str | os.PathLike) -> Model:
    """The model in `folder`. Unpickling runs code: load only models you or your pipeline made."""
    info = read_model_info(folder)
    path = Path(folder) / "model.pkl"
    try:
        with open(path, "rb") as f:
            estimator = pickle.load(f)
    except FileNotFoundError:
        raise ComponentError(
            f"model: {folder} is not a model folder (no model.pkl)", "bind the `model` output of std/train_model"
        ) from None
    except Exception as err:  # unpickling runs the file's own code: whatever it raises, the file is at fault
        raise ComponentError(
            f"model: {path} does not load as a pickled model: {type(err).__name__}: {err}",
            "bind the `model` output of std/train_model; a model pickled with other library versions loads "
            "with those (model.json's library_versions names them)",
        ) from None
    if not callable(getattr(estimator, "predict", None)):
        raise ComponentError(
            f"model: {path} holds a {type(estimator).__name__}, not a fitted model (it has no predict)",
            "bind the `model` output of std/train_model",
        )
    return Model(info, estimator)


# scikit-learn classifiers whose predict() is the class of the highest predict_proba (ties: the
# first class, as argmax takes it): their prediction is read off the probabilities. Not SVC,
# whose probabilities come from a separate fit and may disagree with its predict.
ARGMAX_CLASSIFIERS = frozenset(
    {
        "LogisticRegression",
        "RandomForestClassifier",
        "ExtraTreesClassifier",
        "DecisionTreeClassifier",
        "GradientBoostingClassifier",
        "HistGradientBoostingClassifier",
        "KNeighborsClassifier",
    }
)


def score_frame(model: Model, frame):
    """`frame` plus `prediction` (and `probability_<class>` per class for classifiers)."""
    missing = [c for c in model.info.feature_columns if c not in frame.columns]
    if missing:
        raise ScoringError(
            f"data: the model's feature column(s) {', '.join(repr(c) for c in missing)} are missing",
            f"the model was trained on: {', '.join(model.info.feature_columns)}",
        )
    features = frame[model.info.feature_columns]
    out = frame.copy()
    est = model.estimator
    if not len(frame):
        return _no_rows(model, out)
    try:
        if model.info.task == "classification" and hasattr(est, "predict_proba"):
            proba = est.predict_proba(features)
            if type(est).__name__ in ARGMAX_CLASSIFIERS and type(est).__module__.startswith("sklearn."):
                # its predict is the most probable class: asking it again would check the rows and
                # run the model a second time (a third of the time of scoring one row online)
                out["prediction"] = est.classes_[proba.argmax(axis=1)]
            else:
                out["prediction"] = est.predict(features)
            for i, cls in enumerate(est.classes_):
                out[f"probability_{cls}"] = proba[:, i]
        else:
            out["prediction"] = est.predict(features)
    except (ValueError, TypeError) as err:
        # the estimator is the judge (a model folder of the user's own may take text columns);
        # its words are then made to name the columns at fault where they can be found
        raise _refusal(features, err) from None
    return out


def _no_rows(model: Model, out):
    """No rows scored gives no rows with the columns scoring writes: scikit-learn refuses an
    empty array, and a batch a filter emptied (no new rows today) is no error."""
    import pandas as pd

    est = model.estimator
    classes = getattr(est, "classes_", None) if model.info.task == "classification" else None
    # a column of the classes' type (text, numbers) as scoring rows would give, with no rows
    kind = pd.Series(classes) if classes is not None else pd.Series([], dtype="float64")
    out["prediction"] = kind.iloc[:0].set_axis(out.index)
    for cls in classes if classes is not None and hasattr(est, "predict_proba") else ():
        out[f"probability_{cls}"] = pd.Series([], dtype="float64", index=out.index)
    return out


def _refusal(features, err: Exception) -> ScoringError:
    import pandas as pd

    why = str(err).splitlines()[0] if str(err) else type(err).__name__
    text = [str(c) for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    if text:
        return ScoringError(
            f"data: the model cannot score these rows: column(s) {', '.join(map(repr, text))} are not numeric ({why})",
            "give numbers, as in the table the model was trained on",
        )
    endless = [str(c) for c in infinite_columns(features, features.columns)]
    if endless:
        names = ", ".join(map(repr, endless))
        return ScoringError(
            f"data: the model cannot score these rows: column(s) {names} hold infinite values ({why})",
            "filter those rows out first (std/filter_rows)",
        )
    gaps = [str(c) for c in features.columns if features[c].isna().any()]
    if gaps:
        names = ", ".join(map(repr, gaps))
        return ScoringError(
            f"data: the model cannot score these rows: column(s) {names} have missing values ({why})",
            "fill or drop them first with std/clean_missing_data",
        )
    return ScoringError(f"data: the model cannot score these rows: {why}")
