"""Metrics of a scored table (std/evaluate_model, and each fold of std/cross_validate).

A scored table is what `score_frame` writes: the rows, the true `label`, `prediction`, and for
classifiers one `probability_<class>` column per class.
"""

from __future__ import annotations

import math
from typing import Any

from .errors import ComponentError, check_columns

PREDICTION = "prediction"
PROBABILITY = "probability_"
TASKS = ("auto", "classification", "regression")


def infer_task(frame, task: str = "auto") -> str:
    """classification or regression: as asked, else from the scored table's columns."""
    import pandas as pd

    if task not in TASKS:
        raise ComponentError(f"task: {task!r} is not one of {', '.join(TASKS)}")
    if task != "auto":
        return task
    if any(str(c).startswith(PROBABILITY) for c in frame.columns):
        return "classification"
    # regressors predict floats; a classifier without probabilities predicts its labels
    return "regression" if pd.api.types.is_float_dtype(frame[PREDICTION]) else "classification"


def check_scored(frame, label: str) -> None:
    if PREDICTION not in frame.columns:
        raise ComponentError(
            f"scored: the table has no {PREDICTION!r} column",
            "bind the `scored` output of std/score_model",
        )
    check_columns(frame.columns, [label], "label", "the scored table")
    if len(frame) == 0:
        raise ComponentError("scored: the table has no rows", "score at least one row")
    gaps = int(frame[label].isna().sum())
    if gaps:
        raise ComponentError(
            f"label: column {label!r} has {gaps} missing value(s) in the scored table",
            "drop those rows before scoring, e.g. with std/clean_missing_data (strategy: drop_rows)",
        )
    gaps = int(frame[PREDICTION].isna().sum())
    if gaps:
        # a scored table of one's own may hold rows its model left unscored: sklearn's metrics
        # would stop on "Input contains NaN", naming neither the column nor the rows
        raise ComponentError(
            f"scored: column {PREDICTION!r} has {gaps} missing value(s)",
            "score every row, or drop the unscored ones (std/filter_rows, expression: prediction.notna())",
        )


def _number(value: float) -> float | None:
    # NaN (r2 of one row) is no JSON number: written as null, and left out of `pipe metrics`
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else value


def regression_metrics(frame, label: str) -> dict[str, Any]:
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    truth, guess = (_as_numbers(frame[name], name, label) for name in (label, PREDICTION))
    r2 = r2_score(truth, guess) if len(frame) > 1 else math.nan
    return {
        "task": "regression",
        "rows": len(frame),
        "r2": _number(r2),
        "mae": _number(mean_absolute_error(truth, guess)),
        "rmse": _number(math.sqrt(mean_squared_error(truth, guess))),
    }


def _as_numbers(column, name: str, label: str):
    """A column of numbers, or of numbers written as text ("1.5": a CSV's quoted column, a
    cast), read as numbers: refused, the hints sent regression to classification and back."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(column):
        return column
    as_numbers = pd.to_numeric(column, errors="coerce")
    if as_numbers.isna().any():
        raise ComponentError(
            f"label: column {name!r} is not numeric, so no regression metrics (it holds text: {_some(column)})",
            "give `task: classification` for classes"
            if name == label
            else "score with a model that predicts numbers, or give `task: classification`",
        )
    return as_numbers


def classification_metrics(frame, label: str) -> dict[str, Any]:
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support, roc_auc_score
    from sklearn.utils.multiclass import type_of_target

    truth, guess = _comparable(frame[label], frame[PREDICTION], label)
    for name, values in ((label, truth), (PREDICTION, guess)):
        if type_of_target(values) == "continuous":  # sklearn's metrics would stop on "a mix of ..."
            raise ComponentError(
                f"task: column {name!r} holds numbers with fractions, not classes, so no classification metrics",
                "give `task: regression` (or leave `task` out) for a model that predicts numbers",
            )
    labels = sorted(set(truth.tolist()) | set(guess.tolist()), key=lambda v: (str(type(v)), v))
    precision, recall, f1, _ = precision_recall_fscore_support(
        truth, guess, labels=labels, average="macro", zero_division=0
    )
    out: dict[str, Any] = {
        "task": "classification",
        "rows": len(frame),
        "accuracy": _number(accuracy_score(truth, guess)),
        "precision_macro": _number(precision),
        "recall_macro": _number(recall),
        "f1_macro": _number(f1),
    }
    positive = _binary_positive(frame, labels)
    if positive is not None:
        out["auc"] = _number(roc_auc_score(truth == positive, frame[PROBABILITY + str(positive)]))
    matrix = confusion_matrix(truth, guess, labels=labels)
    out["confusion_matrix"] = {"labels": [_plain(v) for v in labels], "matrix": matrix.tolist()}
    return out


def _comparable(truth, guess, label: str):
    """The true and predicted classes in one type, so that equal classes compare equal."""
    import pandas as pd

    if truth.dtype == guess.dtype:
        return truth, guess
    numeric = pd.api.types.is_numeric_dtype
    if numeric(truth) != numeric(guess):
        # Numbers as text on one side ("1" against the model's 1.0: a CSV, a cast) are read as
        # numbers: as text "1" and "1.0" were two classes, and every row counted wrong.
        text_side = guess if numeric(truth) else truth
        as_numbers = pd.to_numeric(text_side, errors="coerce")
        if not as_numbers.isna().any():
            truth, guess = (truth, as_numbers) if numeric(truth) else (as_numbers, guess)
        elif not set(truth.astype(str)) & set(guess.astype(str)):
            # text classes against numbers ("yes"/"no" against 0/1): no row can match, and an
            # accuracy of 0 would read as a model that is always wrong
            said = {label: truth, PREDICTION: guess}
            kinds = ", ".join(f"{n!r} {'numbers' if numeric(v) else 'text'} ({_some(v)})" for n, v in said.items())
            raise ComponentError(
                f"label: the classes are of two kinds, no class in both: {kinds}",
                "score with a model trained on this label (its predictions are its classes), "
                "or give both one kind of value first (std/apply_transformation)",
            )
        else:
            return truth.astype(str), guess.astype(str)
    if numeric(truth) and numeric(guess):
        # 1 and 1.0 are one class (a model fitted on a float label scoring an int one); as text
        # they would be two, and every row wrong. The predictions are in the model's type, the
        # type its probability_ columns are named in: read the truth so where nothing is lost.
        try:
            same = truth.astype(guess.dtype)
        except (TypeError, ValueError):
            same = None
        if same is not None and bool((same == truth).all()):
            return same, guess
        return truth.astype("float64"), guess.astype("float64")
    # a CSV round trip can make 1 into "1" on one side only; compare as text then
    return truth.astype(str), guess.astype(str)


def _some(column) -> str:
    """A few of a column's distinct values, for a message: 'no', 'yes'."""
    values = sorted({repr(v) if isinstance(v, str) else str(v) for v in column.head(1000)})
    return ", ".join(values[:3]) + (", ..." if len(values) > 3 else "")


def _binary_positive(frame, labels: list) -> Any:
    """The positive class of a two-class table with its probability column, else None."""
    if len(labels) != 2:
        return None
    positive = labels[1]  # the larger class, as sklearn's classes_ order would have it
    column = PROBABILITY + str(positive)
    if column not in frame.columns:
        return None
    return positive


def _plain(value):
    return value.item() if hasattr(value, "item") else value


def evaluate(frame, label: str, task: str = "auto") -> dict[str, Any]:
    check_scored(frame, label)
    kind = infer_task(frame, task)
    return regression_metrics(frame, label) if kind == "regression" else classification_metrics(frame, label)


def scalar_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """The numeric top-level metrics (what a mean over folds means)."""
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "rows"}


def _drawn(text: str) -> str:
    """`text` as matplotlib shows it literally: two `$` in a label or class would be read as TeX."""
    return text.replace("$", r"\$")


def write_report(frame, label: str, metrics: dict[str, Any], path) -> None:
    """A PNG: predicted against residual for regression, the confusion matrix for classification."""
    import matplotlib

    matplotlib.use("Agg")  # no display: the PNG is the only output
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 5), dpi=100)
    if metrics["task"] == "regression":
        truth, guess = (_as_numbers(frame[name], name, label) for name in (label, PREDICTION))
        residual = truth - guess
        ax.scatter(guess, residual, s=12, alpha=0.7)
        ax.axhline(0, color="grey", linewidth=1)
        ax.set_xlabel("prediction")
        ax.set_ylabel(_drawn(f"residual ({label} - prediction)"))
        ax.set_title(f"Residuals (r2 {metrics['r2'] if metrics['r2'] is None else round(metrics['r2'], 3)})")
    else:
        cm = metrics["confusion_matrix"]
        labels = [_drawn(str(v)) for v in cm["labels"]]
        ax.imshow(cm["matrix"], cmap="Blues")
        ax.set_xticks(range(len(labels)), labels)
        ax.set_yticks(range(len(labels)), labels)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        for i, row in enumerate(cm["matrix"]):
            for j, count in enumerate(row):
                ax.text(j, i, str(count), ha="center", va="center")
        ax.set_title(f"Confusion matrix (accuracy {round(metrics['accuracy'], 3)})")
    fig.tight_layout()
    # no Software/date metadata: the same metrics, the same bytes
    fig.savefig(path, format="png", metadata={"Software": None})
    plt.close(fig)
