"""std/sample_data: one of the datasets bundled with scikit-learn, as a table with a `target` column."""

from __future__ import annotations

from collections.abc import Sequence

from .._lib.errors import ArgumentParser, ComponentError, did_you_mean, run_main
from .._lib.tables import write_table

COMPONENT = "std/sample_data@1"
# Only the datasets that ship inside the scikit-learn wheel: a step must not need the network.
DATASETS = ("iris", "wine", "diabetes", "breast_cancer", "digits")


def load(name: str):
    if name not in DATASETS:
        guess = did_you_mean(name, DATASETS)
        raise ComponentError(
            f"name: {name!r} is not a sample dataset",
            f"did you mean {guess!r}?" if guess else f"choose one of {', '.join(DATASETS)}",
        )
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")(as_frame=True)
    frame = bunch.frame
    if "target" not in frame.columns:  # every bundled loader names it so today; keep the promise if one stops
        frame = frame.assign(target=bunch.target)
    return frame


def main(argv: Sequence[str] | None = None) -> None:
    ap = ArgumentParser(prog=COMPONENT, description=__doc__)
    ap.add_argument("--name", required=True)
    ap.add_argument("--data", required=True)
    args = ap.parse_args(argv)

    frame = load(args.name)
    write_table(frame, args.data)
    print(f"{args.name}: {len(frame)} rows, {len(frame.columns)} columns")


if __name__ == "__main__":
    run_main(COMPONENT, main)
