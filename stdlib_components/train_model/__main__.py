"""std/train_model: fit a scikit-learn model on a table; write the model folder."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from .._lib.errors import run_main
from .._lib.estimators import fit_model, parse_hyperparameters
from .._lib.models import save_model
from .._lib.tables import read_table

COMPONENT = "std/train_model@1"


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog=COMPONENT, description=__doc__)
    ap.add_argument("--data", required=True)
    ap.add_argument("--label", required=True)
    ap.add_argument("--algorithm", required=True)
    ap.add_argument("--hyperparameters", default="{}")
    ap.add_argument("--features")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", required=True, help="the model folder to write")
    args = ap.parse_args(argv)

    hyperparameters = parse_hyperparameters(args.hyperparameters)
    frame = read_table(args.data)
    estimator, info = fit_model(frame, args.algorithm, args.label, args.features, hyperparameters, args.seed)
    save_model(args.model, estimator, info)
    print(f"{args.algorithm} ({info.task}) fitted on {len(frame)} rows, {len(info.feature_columns)} features")


if __name__ == "__main__":
    run_main(COMPONENT, main)
