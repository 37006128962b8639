"""std/summarize_data: per-column statistics as JSON, and a PNG of the columns' distributions."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._lib.columns import is_numeric, named_columns
from .._lib.errors import ArgumentParser, run_main
from .._lib.jsonfiles import write_json
from .._lib.tables import read_table

COMPONENT = "std/summarize_data@1"
TOP_VALUES = 10
MAX_PANELS = 36  # a readable picture: columns past this are in the JSON, not drawn


def _finite(column):
    """The column's values that are neither missing nor infinite."""
    values = column.dropna()
    return values[values.astype("float64").abs() != float("inf")]


def _comparable(column):
    """Lists and records (a nested Parquet or JSON column) as text: they cannot be counted as they are."""
    if column.dtype != object:
        return column
    return column.map(lambda v: v if v is None or isinstance(v, (str, int, float, bool)) else _text(v))


def _text(value) -> str:
    tolist = getattr(value, "tolist", None)  # Parquet lists come back as numpy arrays
    return str(tolist() if callable(tolist) else value)


def describe(column) -> dict[str, Any]:
    kind = str(column.dtype)
    column = _comparable(column)
    stats: dict[str, Any] = {
        "type": kind,
        "count": int(column.notna().sum()),
        "missing": int(column.isna().sum()),
        "distinct": int(column.nunique(dropna=True)),
    }
    if is_numeric(column):
        # the statistics are of the finite values; infinities are counted apart (JSON has none)
        finite = _finite(column)
        stats["infinite"] = int(column.notna().sum()) - len(finite)
        if len(finite):
            q = finite.quantile([0.25, 0.5, 0.75])
            stats.update(
                mean=float(finite.mean()),
                std=float(finite.std()) if len(finite) > 1 else None,
                min=finite.min(),
                p25=float(q.iloc[0]),
                median=float(q.iloc[1]),
                p75=float(q.iloc[2]),
                max=finite.max(),
            )
    else:
        counts = column.astype("string").value_counts(dropna=True).head(TOP_VALUES)
        stats["top"] = [{"value": str(v), "count": int(n)} for v, n in counts.items()]
    return stats


def _drawn(text: str) -> str:
    """`text` as matplotlib shows it literally: a name or value holding two `$` would be read as
    TeX between them, and fail the plot where it is no TeX (`cost_$ / rev_$`)."""
    return text.replace("$", r"\$")


_DRAWABLE = 1e306  # (1e307 draws; 1e308 and beyond fail in matplotlib's ticks)


def _bins(column):
    """How many bins, or their edges where numpy cannot make them (the step failed with a
    traceback): one value too big to widen by numpy's 0.5 (a constant 1e17) is one bin, its
    other edge the next float towards zero. None for values near the largest float (1e308),
    whose axis matplotlib cannot tick (its margins overflow)."""
    import numpy as np

    count = min(30, max(5, column.nunique()))
    low, high = float(column.min()), float(column.max())
    if max(abs(low), abs(high)) > _DRAWABLE:
        return None
    try:
        np.histogram_bin_edges(column, count)
        return count
    except ValueError:
        return [np.nextafter(low, 0.0), low] if low > 0 else [low, np.nextafter(low, 0.0)]


def draw(frame, columns: list[str], path: str) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")  # no display: a file only
    import matplotlib.pyplot as plt

    shown = columns[:MAX_PANELS]
    ncols = min(4, max(1, len(shown)))
    nrows = max(1, math.ceil(len(shown) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.4 * nrows), squeeze=False)
    for ax in axes.flat[len(shown) :]:
        ax.axis("off")
    for ax, name in zip(axes.flat, shown):
        column = _comparable(frame[name]).dropna()
        if is_numeric(column):
            column = _finite(column).astype("float64")  # a histogram needs a finite range
        bins = _bins(column) if is_numeric(column) and len(column) else None
        if bins is not None:
            ax.hist(column, bins=bins, color="#4878a8")
        elif is_numeric(column) and len(column):
            ax.text(0.5, 0.5, "values too large\nto draw", ha="center", va="center", transform=ax.transAxes)
        elif len(column):
            counts = column.astype("string").value_counts().head(TOP_VALUES)
            ax.barh([_drawn(str(v)[:20]) for v in counts.index][::-1], list(counts.values)[::-1], color="#a86848")
        else:
            ax.text(0.5, 0.5, "no values", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(_drawn(str(name)[:40]), fontsize=9)
        ax.tick_params(labelsize=7)
    if not shown:
        axes.flat[0].text(0.5, 0.5, "no columns", ha="center", va="center")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=80)
    plt.close(fig)
    return shown


def main(argv: Sequence[str] | None = None) -> None:
    ap = ArgumentParser(prog=COMPONENT, description=__doc__)
    ap.add_argument("--data", required=True)
    ap.add_argument("--columns")
    ap.add_argument("--statistics", required=True)
    ap.add_argument("--plot", required=True)
    args = ap.parse_args(argv)

    frame = read_table(args.data)
    columns = named_columns(frame, args.columns, "columns") or [str(c) for c in frame.columns]
    stats = {"rows": len(frame), "columns": {name: describe(frame[name]) for name in columns}}
    stats["plotted_columns"] = draw(frame, columns, args.plot)
    write_json(args.statistics, stats)
    print(f"{len(frame)} rows, {len(columns)} column(s) described")


if __name__ == "__main__":
    run_main(COMPONENT, main)
