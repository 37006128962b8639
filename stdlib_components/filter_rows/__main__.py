"""std/filter_rows: keep the rows for which a pandas query expression is true."""

from __future__ import annotations

import keyword
import re
from collections.abc import Sequence

from .._lib.errors import ArgumentParser, ComponentError, did_you_mean, run_main
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
    " replace zfill pad center ljust rjust title capitalize swapcase split rsplit normalize removeprefix removesuffix"
    " floor ceil strftime day_name month_name tz_localize tz_convert total_seconds isocalendar to_period".split()
)


_LOCAL = "__pd_eval_local_"  # what pandas makes of `@name`


def _parsed(expression: str):
    """The syntax trees of the expression's lines as pandas itself reads them (it evaluates each
    non-blank line apart, in order), and whether they are exactly those. None for the trees
    where a line does not parse: pandas may have run the lines before it by then."""
    import ast

    lines = [line.strip() for line in expression.splitlines() if line.strip()]
    try:
        from pandas.core.computation.expr import _preparse  # the very text pandas parses
    except ImportError:  # a pandas without it: backticked names read as it would, roughly
        sources, exact = [_BACKTICKED.sub("column", line) for line in lines], False
    else:
        try:
            sources, exact = [_preparse(line) for line in lines], True
        except Exception:  # its tokenizer's error: judged as text that does not parse
            return None, True
    try:
        return [ast.parse(source) for source in sources], exact
    except SyntaxError:
        return None, exact


def _column_names(columns) -> set:
    """The names the table's columns have in a parsed expression: as written, and as pandas
    spells a backticked one (`a b` is BACKTICK_QUOTED_STRING_a_b)."""
    names = {str(c) for c in columns}
    try:
        from pandas.core.computation.parsing import clean_column_name
    except ImportError:
        return names
    for c in list(names):
        try:
            names.add(clean_column_name(c))
        except Exception:  # noqa: BLE001 - a name pandas cannot tokenize is no name in the tree either
            pass
    return names


def _check_reach(expression: str, columns=()) -> None:
    """Refuse what reaches past the table: `@name` (this script's variables), names with `__`
    (Python's internals) and methods other than a filter's. An endpoint may pass `expression`
    through from its caller. Text in quotes is data, not a name: "a@b.com" is no variable;
    a column of the table is no internal, `__` or not (scikit-learn names its columns `num__age`)."""
    import ast

    own = _column_names(columns)
    trees, exact = _parsed(expression)
    if not exact:  # the text could not be read as pandas reads it: judge the raw text
        if "@" in expression:
            raise ComponentError(
                "expression: `@` (a Python variable) is not allowed here", "compare with a literal value"
            )
        if "__" in expression:
            raise ComponentError("expression: names with `__` are not allowed here", "compare columns with values")
    if trees is None:
        if exact and len(expression.strip().splitlines()) == 1:
            return  # pandas parses this very line, fails before running anything, and says why
        raise ComponentError(
            f"expression: {expression!r} cannot be evaluated: SyntaxError: it is not a valid expression",
            "write a pandas query expression over the columns; put a name with spaces in backticks",
        )
    nodes = [node for tree in trees for node in ast.walk(tree)]
    for node in nodes:  # names first: `__import__(...).system()` is told as the `__` it is
        name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", None) or getattr(node, "arg", None)
        if isinstance(name, str) and name.startswith(_LOCAL):
            raise ComponentError(
                "expression: `@` (a Python variable) is not allowed here", "compare with a literal value"
            )
        column = isinstance(node, ast.Name) and name in own and not (name[:2] == name[-2:] == "__")
        if isinstance(name, str) and "__" in name and not column:
            raise ComponentError("expression: names with `__` are not allowed here", "compare columns with values")
    for node in nodes:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr not in _METHODS:
            raise ComponentError(
                f"expression: {expression!r} cannot be evaluated here: it calls `.{node.func.attr}()`, "
                "which is not one of the methods a filter may call",
                "compare columns with values; the methods allowed include isin, between, isna, notna, "
                "str.contains, str.startswith, str.len and dt.strftime",
            )


def keep(frame, expression: str):
    """The boolean mask of `expression` over `frame`, or a ComponentError naming `expression`."""
    import pandas as pd

    if not expression.strip():
        raise ComponentError("expression: it is empty", 'give a condition on the columns, e.g. expression: "age >= 18"')
    _check_reach(expression, frame.columns)
    try:
        mask = frame.eval(expression, engine="python")
    except Exception as err:  # the expression is the user's: any failure of it is bad input, not a bug
        hint = "write a pandas query expression over the columns; put a name with spaces in backticks"
        found = _UNDEFINED.search(str(err))
        taken = [str(c) for c in frame.columns if keyword.iskeyword(str(c)) and re.search(rf"\b{c}\b", expression)]
        if taken and "keyword" in str(err):  # pandas' words named neither the column nor the fix
            word = taken[0]
            hint = f"column {word!r} is named like a Python keyword: put it in backticks, `{word}`"
        elif found:
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
    ap = ArgumentParser(prog=COMPONENT, description=__doc__)
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
