"""std/split_data: the rows of a table at random into `train` and `test`."""

from __future__ import annotations

from collections.abc import Sequence

from .._lib.errors import ArgumentParser, ComponentError, check_columns, check_seed, run_main
from .._lib.tables import read_table, write_table

COMPONENT = "std/split_data@1"


def main(argv: Sequence[str] | None = None) -> None:
    ap = ArgumentParser(prog=COMPONENT, description=__doc__)
    ap.add_argument("--data", required=True)
    ap.add_argument("--fraction", type=float, required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--stratify-column")
    ap.add_argument("--train", required=True)
    ap.add_argument("--test", required=True)
    args = ap.parse_args(argv)

    if not 0 < args.fraction < 1:
        raise ComponentError(
            f"fraction: {args.fraction} is not between 0 and 1",
            "give the share of rows for `train`, e.g. fraction: 0.7",
        )
    check_seed(args.seed)
    frame = read_table(args.data)
    if len(frame) < 2:
        raise ComponentError(f"data: {len(frame)} row(s) cannot be split in two", "give a table with 2 rows or more")

    from sklearn.model_selection import train_test_split

    stratify = None
    if args.stratify_column:
        check_columns(frame.columns, [args.stratify_column], "stratify_column")
        stratify = frame[args.stratify_column]
        if stratify.isna().any():
            # sklearn's words ("Input y contains NaN") name neither the column nor the fix
            raise ComponentError(
                f"stratify_column: column {args.stratify_column!r} has {int(stratify.isna().sum())} missing "
                "value(s), which belong to no class",
                "drop or fill those rows first (std/clean_missing_data), or leave out stratify_column",
            )
    try:
        train, test = train_test_split(
            frame, train_size=args.fraction, random_state=args.seed, shuffle=True, stratify=stratify
        )
    except ValueError as err:
        empty = next((side for side in ("train", "test") if f"{side} set will be empty" in str(err)), None)
        if empty:  # sklearn's words named its test_size and train_size, which the user did not write
            rows = len(frame)
            raise ComponentError(
                f"fraction: {args.fraction:g} of {rows} rows leaves `{empty}` with no row",
                f"give a fraction of at least 1/{rows} (train's share of the rows is rounded down), or more rows"
                if empty == "train"
                else "give a smaller fraction, or more rows",
            ) from None
        # sklearn's own words say which class is too small
        raise ComponentError(
            f"the rows cannot be split so: {err}", "change `fraction`, or drop `stratify_column`"
        ) from None
    write_table(train, args.train)
    write_table(test, args.test)
    print(f"{len(train)} rows to train, {len(test)} rows to test")


if __name__ == "__main__":
    run_main(COMPONENT, main)
