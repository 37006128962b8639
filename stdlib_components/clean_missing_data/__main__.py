"""std/clean_missing_data: drop or fill missing values, with a JSON report of what was done."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from .._lib.columns import is_numeric, named_columns
from .._lib.errors import ArgumentParser, ComponentError, did_you_mean, run_main
from .._lib.jsonfiles import plain, write_json
from .._lib.tables import read_table, write_table

COMPONENT = "std/clean_missing_data@1"
STRATEGIES = ("drop_rows", "mean", "median", "mode", "constant")


_TRUE, _FALSE = ("true", "yes", "1"), ("false", "no", "0")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}([ T].*)?$")


def _constant(column, name: str, value: str) -> Any:
    """`value` (always text: it is a string param) as the column's kind of value."""
    import pandas as pd

    present = column.dropna()
    if pd.api.types.is_bool_dtype(column) or (len(present) and all(isinstance(v, bool) for v in present)):
        word = value.strip().lower()
        if word in _TRUE + _FALSE:
            return word in _TRUE
        kind, holds, example = "true or false", "true/false values", "true"
    elif is_numeric(column):
        try:
            number = float(value)
        except ValueError:
            kind, holds, example = "a number", "numbers", "0"
        else:
            if math.isfinite(number):
                return number
            # "nan" would fill nothing (the gaps stay, the step succeeds), "inf" or "1e400" a
            # value the report cannot write (JSON has no infinity)
            kind, holds, example = "a finite number", "numbers", "0"
    elif pd.api.types.is_datetime64_any_dtype(column):
        try:
            if not _ISO_DATE.match(value.strip()):  # 12/01/2024 is December or January: ask for ISO
                raise ValueError(value)
            stamp = pd.Timestamp(value.strip())
            return stamp.tz_localize(column.dt.tz) if column.dt.tz and stamp.tzinfo is None else stamp
        except ValueError:
            kind, holds, example = "a date (YYYY-MM-DD)", "dates and times", "2024-01-31"
    else:
        return value
    raise ComponentError(
        f"value: {value!r} is not {kind}, and column {name!r} holds {holds}",
        f"give value: {example}, or leave {name!r} out of `columns`",
    )


def _fill_value(frame, name: str, strategy: str, value: str | None) -> Any:
    column = frame[name]
    if strategy in ("mean", "median"):
        if not is_numeric(column):
            raise ComponentError(
                f"columns: column {name!r} is not numeric ({column.dtype}) and has missing values,"
                f" so it has no {strategy}",
                "name only number columns in `columns`, or use strategy mode or constant",
            )
        fill = column.mean() if strategy == "mean" else column.median()
    elif strategy == "mode":
        modes = column.mode(dropna=True)
        fill = modes.iloc[0] if len(modes) else None  # the smallest of equally common values: stable
    else:
        if value is None:
            raise ComponentError("value: strategy constant needs a `value`", "give value: 0 (or the text to fill in)")
        return _constant(column, name, value)
    if fill is None or fill != fill:  # NaN: a column with no value at all
        raise ComponentError(
            f"columns: column {name!r} has no values at all, so it has no {strategy}",
            "drop the column (std/select_columns, mode exclude), or use strategy constant",
        )
    return fill


def main(argv: Sequence[str] | None = None) -> None:
    ap = ArgumentParser(prog=COMPONENT, description=__doc__)
    ap.add_argument("--data", required=True)
    ap.add_argument("--columns")
    ap.add_argument("--strategy", default="drop_rows")
    ap.add_argument("--value")
    ap.add_argument("--cleaned", required=True)
    ap.add_argument("--report", required=True)
    args = ap.parse_args(argv)

    if args.strategy not in STRATEGIES:
        guess = did_you_mean(args.strategy, STRATEGIES)
        raise ComponentError(
            f"strategy: {args.strategy!r} is not a strategy",
            f"did you mean {guess!r}?" if guess else f"choose one of {', '.join(STRATEGIES)}",
        )
    if args.value is not None and args.strategy != "constant":
        raise ComponentError(
            f"value: it is used only by strategy constant, and the strategy is {args.strategy}",
            "drop `value`, or set strategy: constant",
        )
    frame = read_table(args.data)
    names = named_columns(frame, args.columns, "columns") or [str(c) for c in frame.columns]
    missing = {name: int(frame[name].isna().sum()) for name in names}
    report: dict[str, Any] = {"strategy": args.strategy, "rows_in": len(frame), "columns": {}}
    out = frame
    if args.strategy == "drop_rows":
        out = frame.dropna(subset=names)
        for name in names:
            report["columns"][name] = {"missing": missing[name]}
    else:
        fills = {name: _fill_value(frame, name, args.strategy, args.value) for name in names if missing[name]}
        out = frame.copy()
        for name in names:
            entry: dict[str, Any] = {"missing": missing[name]}
            if name in fills:
                try:
                    out[name] = out[name].fillna(fills[name])
                except (TypeError, ValueError) as err:  # e.g. 2.5 into a nullable whole-number column
                    raise ComponentError(
                        f"columns: column {name!r} ({out[name].dtype}) cannot hold the fill value"
                        f" {plain(fills[name])!r}: {err}",
                        "use a strategy or `value` that fits the column's type",
                    ) from None
                entry["filled_with"] = fills[name]
            report["columns"][name] = entry
    report["rows_out"] = len(out)
    report["rows_dropped"] = len(frame) - len(out)
    write_table(out, args.cleaned)
    write_json(args.report, report)
    dropped = report["rows_dropped"]
    print(f"{sum(missing.values())} missing value(s) in {len(names)} column(s); {dropped} row(s) dropped")


if __name__ == "__main__":
    run_main(COMPONENT, main)
