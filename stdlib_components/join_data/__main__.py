"""std/join_data: join two tables on key columns."""

from __future__ import annotations

from collections.abc import Sequence

from .._lib.columns import named_columns
from .._lib.errors import ArgumentParser, ComponentError, did_you_mean, run_main, warn
from .._lib.tables import read_table, write_table

COMPONENT = "std/join_data@1"
HOWS = ("inner", "left", "right", "outer")


def main(argv: Sequence[str] | None = None) -> None:
    ap = ArgumentParser(prog=COMPONENT, description=__doc__)
    ap.add_argument("--left", required=True)
    ap.add_argument("--right", required=True)
    ap.add_argument("--keys", required=True)
    ap.add_argument("--right-keys")
    ap.add_argument("--how", default="inner")
    ap.add_argument("--joined", required=True)
    args = ap.parse_args(argv)

    if args.how not in HOWS:
        guess = did_you_mean(args.how, HOWS)
        raise ComponentError(
            f"how: {args.how!r} is not a kind of join",
            f"did you mean {guess!r}?" if guess else f"choose one of {', '.join(HOWS)}",
        )
    left = read_table(args.left, "left")
    right = read_table(args.right, "right")
    left_keys = named_columns(left, args.keys, "keys", "the left table")
    if not left_keys:
        raise ComponentError("keys: no key column is named", "give the columns to join on: keys: id")
    right_param = "right_keys" if args.right_keys else "keys"
    right_keys = named_columns(right, args.right_keys or args.keys, right_param, "the right table")
    if len(right_keys) != len(left_keys):
        raise ComponentError(
            f"right_keys: {len(right_keys)} column(s), but keys names {len(left_keys)}",
            "name one right column for each left key, in the same order",
        )
    for lk, rk in zip(left_keys, right_keys):
        if left[lk].dtype != right[rk].dtype and (left[lk].dtype.kind in "iuf") != (right[rk].dtype.kind in "iuf"):
            raise ComponentError(
                f"{right_param}: key {lk!r} holds {left[lk].dtype} on the left but {right[rk].dtype} on the right",
                "give both tables the same type for the key (e.g. numbers in both)",
            )
    _check_names(left, right, left_keys, right_keys)
    # pandas pairs a missing key with a missing key; a missing value is no value, so such a row
    # matches nothing (as in SQL): a guard key, unique to each such row, keeps it apart
    guard = "__pipe_join_guard"
    while guard in left.columns or guard in right.columns:
        guard += "_"
    lguard = _guard(left, left_keys, -1)
    rguard = _guard(right, right_keys, 1)
    try:
        joined = left.assign(**{guard: lguard}).merge(
            right.assign(**{guard: rguard}),
            how=args.how,
            left_on=[*left_keys, guard],
            right_on=[*right_keys, guard],
            suffixes=("", "_right"),
        )
    except (ValueError, TypeError) as err:  # pandas' words name the columns that do not fit
        raise ComponentError(f"keys: the tables cannot be joined on them: {err}") from None
    joined = joined.drop(columns=[guard])
    _warn_many_to_many(left, right, left_keys, right_keys, lguard, rguard)
    write_table(joined, args.joined)
    print(f"{len(left)} x {len(right)} rows joined ({args.how}) into {len(joined)}")


def _check_names(left, right, left_keys: list[str], right_keys: list[str]) -> None:
    """Refuse a join whose `_right` suffix would make a name twice: pandas' words ("Passing
    'suffixes' which cause duplicate columns") named neither table nor the fix."""
    shared_keys = {lk for lk, rk in zip(left_keys, right_keys) if lk == rk}  # kept once
    left_names = [str(c) for c in left.columns]
    overlap = set(left_names) & {str(c) for c in right.columns}
    for name in (str(c) for c in right.columns):
        if (
            name in overlap
            and name not in shared_keys
            and f"{name}_right" in left_names + [str(c) for c in right.columns]
        ):
            raise ComponentError(
                f"right: its column {name!r}, which the left table has too, would be named "
                f"{name + '_right'!r}, a name a table has already",
                f'rename one of the columns first (std/apply_sql: SELECT "{name}_right" AS other_name, ...)',
            )


def _guard(frame, keys: list[str], sign: int):
    """0 where every key has a value; else a number of this row alone (left negative, right positive)."""
    import numpy as np

    missing = frame[keys].isna().any(axis=1).to_numpy()
    return np.where(missing, sign * (np.arange(len(frame)) + 1), 0)


def _warn_many_to_many(left, right, left_keys, right_keys, lguard, rguard) -> None:
    """A key repeated on both sides pairs its rows every way: legal, but say so, as it is rarely meant."""
    lk = left.loc[lguard == 0, left_keys].value_counts()
    rk = right.loc[rguard == 0, right_keys].value_counts()
    both = sorted(set(lk[lk.gt(1)].index) & set(rk[rk.gt(1)].index), key=str)
    if len(both):
        shown = ", ".join(repr(k[0] if len(k) == 1 else k) for k in both[:5])
        warn(
            COMPONENT,
            f"keys: {len(both)} key value(s) repeat in both tables ({shown}), so their "
            "rows are paired every way (many-to-many); make a key unique on one side if that is not meant",
        )


if __name__ == "__main__":
    run_main(COMPONENT, main)
