"""std/normalize_data: scale number columns (zscore or minmax) and write the fit beside them."""

from __future__ import annotations

from collections.abc import Sequence

from .._lib import scaling
from .._lib.columns import is_numeric, named_columns, require_numeric
from .._lib.errors import ArgumentParser, ComponentError, did_you_mean, run_main
from .._lib.tables import read_table, write_table

COMPONENT = "std/normalize_data@1"


def main(argv: Sequence[str] | None = None) -> None:
    ap = ArgumentParser(prog=COMPONENT, description=__doc__)
    ap.add_argument("--data", required=True)
    ap.add_argument("--columns")
    ap.add_argument("--exclude")
    ap.add_argument("--method", default="zscore")
    ap.add_argument("--normalized", required=True)
    ap.add_argument("--transform", required=True)
    args = ap.parse_args(argv)

    if args.method not in scaling.METHODS:
        guess = did_you_mean(args.method, scaling.METHODS)
        raise ComponentError(
            f"method: {args.method!r} is not a scaling method",
            f"did you mean {guess!r}?" if guess else "choose zscore or minmax",
        )
    frame = read_table(args.data)
    named = named_columns(frame, args.columns, "columns")
    excluded = set(named_columns(frame, args.exclude, "exclude"))
    if named:
        require_numeric(frame, named, "columns", "scaled")
        columns = [c for c in named if c not in excluded]
    else:
        columns = [str(c) for c in frame.columns if is_numeric(frame[c]) and str(c) not in excluded]
    if not columns:
        raise ComponentError("columns: no number column is left to scale", "name the columns to scale in `columns`")
    transform = scaling.fit(frame, columns, args.method)
    out = scaling.apply(frame, transform)
    write_table(out, args.normalized)
    scaling.save(args.transform, transform)
    print(f"{len(columns)} column(s) scaled by {args.method}")


if __name__ == "__main__":
    run_main(COMPONENT, main)
