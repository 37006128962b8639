"""std/filter_rows: keep the rows for which a pandas query expression is true."""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence

from .._lib.errors import ComponentError, did_you_mean, run_main
from .._lib.tables import read_table, write_table

COMPONENT = "std/filter_rows@1"
_UNDEFINED = re.compile(r"name '([^']+)' is not defined")
_BACKTICKED = re.compile(r"`[^`]*`")

# The methods an expression may call: tests and arithmetic on a column, its .str and .dt ones.
# pandas' python engine calls any method of a column, and some write files (`age.to_csv('/x')`)
# or run one named by text (`apply`, `agg`, `pipe`): an endpoint may pass `expression` through
# from its caller, so a method not named here is refused before pandas sees the expression.
_METHODS = frozenset(
    "isin between isna isnull notna notnull duplicated eq ne lt le gt ge abs round clip astype fillna"
    " any all sum mean median min max std var count nunique quantile shift diff cumsum rank"
    " add sub mul div truediv floordiv mod pow"
    " contains startswith endswith match fullmatch len lower upper casefold strip lstrip rstrip"
    " isdigit isalpha isnumeric isalnum isdecimal isspace islower isupper istitle slice get find rfind"
    " replace zfill pad center ljust rjust title capitalize swapcase split normalize"
    " floor ceil strftime day_name month_name tz_localize tz_convert total_seconds isocalendar".split()
)


def _called_methods(expression: str) -> list[str] | None:
    """The names of the methods `expression` calls, read as pandas reads it: [] where pandas
    will refuse it (and say why in its words), None where it cannot be read here at all."""
    import ast

    try:
        from pandas.core.computation.expr import _preparse  # the very text pandas parses
    except ImportError:  # a pandas without it: read backticked names as it would, and refuse
        source, unreadable = _BACKTICKED.sub("column", expression), None  # what does not parse
    else:
        try:
            source, unreadable = _preparse(expression), []
        except Exception:  # its tokenizer's error: pandas raises it again, located
            return []
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return unreadable
    return [
        node.func.attr for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    ]


def keep(frame, expression: str):
    """The boolean mask of `expression` over `frame`, or a ComponentError naming `expression`."""
    import pandas as pd

    if not expression.strip():
        raise ComponentError("expression: it is empty", 'give a condition on the columns, e.g. expression: "age >= 18"')
    if "__" in expression:
        # dunder attributes are the way out of an expression to Python's internals: an endpoint
        # may pass `expression` through from a caller, so refuse them outright
        raise ComponentError("expression: names with `__` are not allowed here", "compare columns with values")
    if "@" in expression:
        # `@name` reads this script's variables: nothing a pipeline should reach
        raise ComponentError("expression: `@` (a Python variable) is not allowed here", "compare with a literal value")
    called = _called_methods(expression)
    if called is None:
        raise ComponentError(
            f"expression: {expression!r} cannot be evaluated: SyntaxError: it is not a valid expression",
            "write a pandas query expression over the columns; put a name with spaces in backticks",
        )
    for name in called:
        if name not in _METHODS:
            raise ComponentError(
                f"expression: {expression!r} cannot be evaluated here: it calls `.{name}()`, "
                "which is not one of the methods a filter may call",
                "compare columns with values; the methods allowed include isin, between, isna, notna, "
                "str.contains, str.startswith, str.len and dt.strftime",
            )
    try:
        mask = frame.eval(expression, engine="python")
    except Exception as err:  # the expression is the user's: any failure of it is bad input, not a bug
        hint = "write a pandas query expression over the columns; put a name with spaces in backticks"
        found = _UNDEFINED.search(str(err))
        if found:
            guess = did_you_mean(found.group(1), [str(c) for c in frame.columns])
            hint = f"did you mean {guess!r}?" if guess else f"the columns are: {', '.join(map(str, frame.columns))}"
            raise ComponentError(f"expression: {found.group(1)!r} is not a column", hint) from None
        raise ComponentError(
            f"expression: {expression!r} cannot be evaluated: {type(err).__name__}: {err}", hint
        ) from None
    if not isinstance(mask, pd.Series) or not pd.api.types.is_bool_dtype(mask):
        raise ComponentError(
            f"expression: {expression!r} gives values, not true or false per row",
            'make it a condition, e.g. "price > 10"',
        )
    return mask.fillna(False).astype(bool)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog=COMPONENT, description=__doc__)
    ap.add_argument("--data", required=True)
    ap.add_argument("--expression", required=True)
    ap.add_argument("--filtered", required=True)
    args = ap.parse_args(argv)

    frame = read_table(args.data)
    out = frame[keep(frame, args.expression)]
    write_table(out, args.filtered)
    print(f"{len(out)} of {len(frame)} rows kept")


if __name__ == "__main__":
    run_main(COMPONENT, main)
