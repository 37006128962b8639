"""The fitted scaling that std/normalize_data writes and std/apply_transformation applies.

The fit is a JSON file: per column a `center` subtracted and a `scale` divided by, so the test
set is scaled with the numbers learnt from the training set (never its own).

    {"format": "pipefile-std-transform", "format_version": 1, "method": "zscore",
     "columns": {"age": {"center": 41.2, "scale": 9.8}, ...}}
"""

from __future__ import annotations

import math
import os
from typing import Any

from .columns import require_numeric
from .errors import ComponentError, did_you_mean
from .jsonfiles import read_json, write_json

TRANSFORM_FORMAT = "pipefile-std-transform"
FORMAT_VERSION = 1
METHODS = ("zscore", "minmax")


def fit(frame, columns: list[str], method: str) -> dict[str, Any]:
    """The centre and scale of each column; a constant column keeps scale 1 (it becomes 0)."""
    fitted: dict[str, dict[str, float]] = {}
    for name in columns:
        values = frame[name].astype("float64")
        if values.abs().eq(float("inf")).any():
            raise ComponentError(
                f"columns: column {name!r} holds an infinite value, so no scaling fits it",
                f"filter those rows out first (std/filter_rows), or leave {name!r} out of `columns`",
            )
        if values.notna().sum() == 0:
            raise ComponentError(
                f"columns: column {name!r} has no values to learn a scaling from",
                f"leave {name!r} out of `columns`, or clean it first (std/clean_missing_data)",
            )
        center, scale = _center_scale(values, method)
        if not (math.isfinite(center) and math.isfinite(scale)):
            # values near the float limit overflow a sum or a square: again on values divided by
            # the largest magnitude, multiplied back (only then, so usual fits keep their bits)
            size = float(values.abs().max())
            center, scale = (size * v for v in _center_scale(values / size, method))
        if not (math.isfinite(center) and math.isfinite(scale)):
            raise ComponentError(
                f"columns: column {name!r} spreads wider than a float can hold, so no scaling fits it",
                f"filter out its extreme rows first (std/filter_rows), or leave {name!r} out of `columns`",
            )
        fitted[name] = {"center": center, "scale": scale if scale > 0 else 1.0}
    return {"format": TRANSFORM_FORMAT, "format_version": FORMAT_VERSION, "method": method, "columns": fitted}


def _center_scale(values, method: str) -> tuple[float, float]:
    import numpy as np

    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is seen in the result, not told
        if method == "zscore":
            return float(values.mean()), float(values.std(ddof=0))
        return float(values.min()), float(values.max() - values.min())


def apply(frame, transform: dict[str, Any]):
    """`frame` with the transform's columns scaled; other columns as they were."""
    out = frame.copy()
    for name, fitted in transform["columns"].items():
        out[name] = (frame[name].astype("float64") - fitted["center"]) / fitted["scale"]
    return out


def save(path: str | os.PathLike, transform: dict[str, Any]) -> None:
    write_json(path, transform)


def load(path: str | os.PathLike, param: str = "transform") -> dict[str, Any]:
    raw = read_json(path, param)
    if not isinstance(raw, dict) or raw.get("format") != TRANSFORM_FORMAT:
        raise ComponentError(
            f"{param}: {path} is not a {TRANSFORM_FORMAT} file",
            "bind the `transform` output of std/normalize_data",
        )
    version = raw.get("format_version")
    if version != FORMAT_VERSION:
        # a newer layout (other keys, another meaning of center/scale) would be misapplied unseen
        raise ComponentError(
            f"{param}: {path} has format_version {version!r}; this pipe reads {FORMAT_VERSION}",
            "fit it again with std/normalize_data of this pipe, or upgrade pipe to the one that wrote it",
        )
    columns = raw.get("columns")
    ok = isinstance(columns, dict) and all(
        isinstance(v, dict) and _number(v.get("center")) and _number(v.get("scale")) and v["scale"] != 0
        for v in columns.values()
    )
    if not ok or raw.get("method") not in METHODS:
        raise ComponentError(f"{param}: {path} is damaged (each column needs a number `center` and a non-zero `scale`)")
    return raw


def check_applicable(frame, transform: dict[str, Any], param: str = "data") -> None:
    """Refuse a table that lacks a fitted column (did-you-mean) or holds text in one."""
    have = [str(c) for c in frame.columns]
    for name in transform["columns"]:
        if name not in have:
            guess = did_you_mean(name, have)
            hint = (
                f"did you mean {guess!r}? rename it back" if guess else "give a table with the columns it was fitted on"
            )
            raise ComponentError(f"{param}: column {name!r}, which the transform scales, is not in the table", hint)
    # a column with no values (a CSV of no rows: its columns have no type) has nothing to refuse
    held = [name for name in transform["columns"] if frame[name].notna().any()]
    require_numeric(frame, held, param, "scaled", "give the column numbers, as in the table the fit came from")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
