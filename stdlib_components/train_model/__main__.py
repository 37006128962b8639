"""std/train_model: fit a scikit-learn model on a table; write the model folder."""

from __future__ import annotations

from collections.abc import Sequence

from .._lib.errors import ArgumentParser, run_main
from .._lib.estimators import chosen_model, fit_model, model_kind, parse_hyperparameters
from .._lib.models import save_model
from .._lib.tables import read_table

COMPONENT = "std/train_model@1"


def main(argv: Sequence[str] | None = None) -> None:
    ap = ArgumentParser(prog=COMPONENT, description=__doc__)
    ap.add_argument("--data", required=True)
    ap.add_argument("--label", required=True)
    ap.add_argument("--model-name", help="the algorithm (the `model` param)")
    ap.add_argument("--algorithm", help="the same, by the param's older name")
    ap.add_argument("--hyperparameters", default="{}")
    ap.add_argument("--features")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", required=True, help="the model folder to write")
    args = ap.parse_args(argv)

    algorithm, param = chosen_model(args.model_name, args.algorithm)
    model_kind(algorithm, param)  # an unknown name is told by the param the step used
    hyperparameters = parse_hyperparameters(args.hyperparameters)
    frame = read_table(args.data)
    estimator, info = fit_model(frame, algorithm, args.label, args.features, hyperparameters, args.seed)
    save_model(args.model, estimator, info)
    print(f"{algorithm} ({info.task}) fitted on {len(frame)} rows, {len(info.feature_columns)} features")


if __name__ == "__main__":
    run_main(COMPONENT, main)
