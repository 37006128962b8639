"""std/score_model: a model's predictions for the rows of a table."""

from __future__ import annotations

from collections.abc import Sequence

from .._lib.errors import ArgumentParser, ComponentError, run_main
from .._lib.models import load_model, score_frame
from .._lib.tables import read_table, write_table

COMPONENT = "std/score_model@1"


def main(argv: Sequence[str] | None = None) -> None:
    ap = ArgumentParser(prog=COMPONENT, description=__doc__)
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--scored", required=True)
    args = ap.parse_args(argv)

    model = load_model(args.model)
    frame = read_table(args.data)
    _refuse_overwrites(model, frame)
    # the one scoring function: `pipe serve`'s online endpoints call it too
    scored = score_frame(model, frame)
    write_table(scored, args.scored)
    print(f"{len(scored)} rows scored by {model.info.estimator}")


def _refuse_overwrites(model, frame) -> None:
    """A column of the rows named as one scoring writes (a table scored before) would be
    replaced without a word: refused, naming it."""
    est = model.estimator
    written = ["prediction"]
    if model.info.task == "classification" and hasattr(est, "predict_proba"):
        written += [f"probability_{cls}" for cls in getattr(est, "classes_", ())]
    taken = [c for c in written if c in frame.columns]
    if taken:
        raise ComponentError(
            f"data: it already has column(s) {', '.join(map(repr, taken))}, which scoring writes (rows scored before?)",
            "drop them first (std/select_columns with mode: exclude), or score the rows as they were before scoring",
        )


if __name__ == "__main__":
    run_main(COMPONENT, main)
