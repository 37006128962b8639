"""Column lists a std component is given: parsed, checked against the table, and typed."""

from __future__ import annotations

from collections.abc import Sequence

from .errors import ComponentError, check_columns, split_names


def is_numeric(series) -> bool:
    """A number column: booleans are not (scaling or averaging true/false is a mistake)."""
    from pandas.api import types

    return types.is_numeric_dtype(series) and not types.is_bool_dtype(series)


def named_columns(frame, text: str | None, param: str, table: str = "the input") -> list[str]:
    """The columns a comma-separated `param` names, each checked to exist (did-you-mean)."""
    names = list(dict.fromkeys(split_names(text)))  # once each, in the order given
    check_columns(frame.columns, names, param, table)
    return names


def require_numeric(frame, columns: Sequence[str], param: str, why: str, hint: str | None = None) -> None:
    """Refuse a column that holds no numbers, naming it, its type and `param`."""
    for name in columns:
        if not is_numeric(frame[name]):
            raise ComponentError(
                f"{param}: column {name!r} is not numeric ({frame[name].dtype}), so it cannot be {why}",
                hint or f"leave {name!r} out of `{param}`",
            )


def infinite_columns(frame, columns) -> list:
    """The number columns of `columns` that hold inf or -inf."""
    import numpy as np
    import pandas as pd

    def endless(series) -> bool:
        return bool(np.isinf(series.to_numpy(dtype="float64", na_value=np.nan)).any())

    return [c for c in columns if pd.api.types.is_float_dtype(frame[c]) and endless(frame[c])]
