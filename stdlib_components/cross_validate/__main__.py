"""std/cross_validate: a model's metrics on each of k folds of a table, with their mean and spread."""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from pathlib import Path

from .._lib.errors import ArgumentParser, ComponentError, run_main
from .._lib.estimators import (
    CLASSIFICATION,
    check_inputs,
    chosen_model,
    fit_model,
    model_kind,
    parse_hyperparameters,
)
from .._lib.evaluation import evaluate, scalar_metrics
from .._lib.models import Model, score_frame
from .._lib.tables import read_table

COMPONENT = "std/cross_validate@1"


def _splitter(task: str, folds: int, seed: int, frame, label: str):
    from sklearn.model_selection import KFold, StratifiedKFold

    if task == CLASSIFICATION and frame[label].value_counts().min() >= folds:
        # every class in every fold; a class rarer than the folds cannot be, so plain folds then
        return StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(frame, frame[label])
    return KFold(n_splits=folds, shuffle=True, random_state=seed).split(frame)


def main(argv: Sequence[str] | None = None) -> None:
    ap = ArgumentParser(prog=COMPONENT, description=__doc__)
    ap.add_argument("--data", required=True)
    ap.add_argument("--label", required=True)
    ap.add_argument("--model-name", help="the algorithm (the `model` param)")
    ap.add_argument("--algorithm", help="the same, by the param's older name")
    ap.add_argument("--hyperparameters", default="{}")
    ap.add_argument("--features")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--metrics", required=True)
    args = ap.parse_args(argv)

    algorithm, param = chosen_model(args.model_name, args.algorithm)
    kind = model_kind(algorithm, param)
    hyperparameters = parse_hyperparameters(args.hyperparameters)
    frame = read_table(args.data)
    if args.folds < 2:
        raise ComponentError(f"folds: {args.folds} is fewer than 2", "give 2 folds or more, e.g. folds: 5")
    if args.folds > len(frame):
        raise ComponentError(
            f"folds: {args.folds} folds need {args.folds} rows or more; the table has {len(frame)}",
            "give fewer folds",
        )
    # the label, features and hyperparameters are checked once, by name, on all rows
    check_inputs(frame, algorithm, args.label, args.features, hyperparameters, args.seed)

    per_fold = []
    for train_rows, test_rows in _splitter(kind.task, args.folds, args.seed, frame, args.label):
        train, test = frame.iloc[train_rows], frame.iloc[test_rows]
        if kind.task == CLASSIFICATION and train[args.label].nunique() < 2:
            # the table has two classes (checked above), but a class too rare to stratify by may
            # all fall in one fold, leaving the others one class to learn: say that, not "one class"
            counts = frame[args.label].value_counts()
            rare = counts.index[-1].item() if hasattr(counts.index[-1], "item") else counts.index[-1]  # not np.int64(1)
            raise ComponentError(
                f"folds: fold {len(per_fold) + 1} of {args.folds} leaves its training rows one class only "
                f"(the rarest class, {rare!r}, has {int(counts.iloc[-1])} row(s))",
                "give fewer folds, or more rows of the rare classes",
            )
        estimator, info = fit_model(train, algorithm, args.label, args.features, hyperparameters, args.seed, warn=False)
        scored = score_frame(Model(info, estimator), test)
        per_fold.append(scalar_metrics(evaluate(scored, args.label, kind.task)))

    names = sorted({k for fold in per_fold for k in fold})
    values = {k: [f[k] for f in per_fold if f.get(k) is not None] for k in names}
    out = {
        "task": kind.task,
        "algorithm": algorithm,
        "folds": per_fold,
        "mean": {k: statistics.fmean(v) for k, v in values.items() if v},
        "std": {k: statistics.pstdev(v) for k, v in values.items() if v},
    }
    Path(args.metrics).parent.mkdir(parents=True, exist_ok=True)
    with open(args.metrics, "w") as f:
        json.dump(out, f, indent=2, sort_keys=True)
        f.write("\n")
    print(", ".join(f"{k} {v:.4g} +/- {out['std'][k]:.2g}" for k, v in out["mean"].items()))


if __name__ == "__main__":
    run_main(COMPONENT, main)
