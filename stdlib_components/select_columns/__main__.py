"""std/select_columns: keep or drop named columns of a table."""

from __future__ import annotations

from collections.abc import Sequence

from .._lib.columns import named_columns
from .._lib.errors import ArgumentParser, ComponentError, did_you_mean, run_main
from .._lib.tables import read_table, write_table

COMPONENT = "std/select_columns@1"
MODES = ("include", "exclude")


def main(argv: Sequence[str] | None = None) -> None:
    ap = ArgumentParser(prog=COMPONENT, description=__doc__)
    ap.add_argument("--data", required=True)
    ap.add_argument("--columns", required=True)
    ap.add_argument("--mode", default="include")
    ap.add_argument("--selected", required=True)
    args = ap.parse_args(argv)

    if args.mode not in MODES:
        guess = did_you_mean(args.mode, MODES)
        raise ComponentError(
            f"mode: {args.mode!r} is not a mode",
            f"did you mean {guess!r}?" if guess else "choose include or exclude",
        )
    frame = read_table(args.data)
    names = named_columns(frame, args.columns, "columns")
    if not names:
        raise ComponentError("columns: no column is named", "give names separated by commas: columns: a, b")
    if args.mode == "include":
        out = frame[names]
    else:
        out = frame.drop(columns=names)
        if len(out.columns) == 0:
            raise ComponentError("columns: excluding them leaves no column", "exclude fewer columns")
    write_table(out, args.selected)
    print(f"{len(out.columns)} of {len(frame.columns)} columns kept")


if __name__ == "__main__":
    run_main(COMPONENT, main)
