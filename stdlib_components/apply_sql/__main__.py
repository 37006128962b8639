"""std/apply_sql: one SQLite SELECT over up to three tables t1, t2, t3; its result is the table."""

from __future__ import annotations

import argparse
import re
import sqlite3
from collections.abc import Sequence

from .._lib.errors import ComponentError, did_you_mean, run_main
from .._lib.tables import read_table, write_table

COMPONENT = "std/apply_sql@1"
_NO_TABLE = re.compile(r"no such table: (\w+)")
_NO_COLUMN = re.compile(r"no such column: ([\w.]+)")
_PARAMETER = re.compile(r"binding parameter (\d+)")


# What a query may do: read the tables and compute. Writing, ATTACH (which creates files) and
# PRAGMA are refused, so a query (perhaps passed through from an endpoint's caller) changes nothing.
_ALLOWED = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}


def _read_only(action: int, *_args) -> int:
    return sqlite3.SQLITE_OK if action in _ALLOWED else sqlite3.SQLITE_DENY


def _hint(message: str, tables: dict) -> str:
    if "not authorized" in message:
        return "write a SELECT: apply_sql reads t1, t2, t3 and changes nothing"
    missing = _NO_TABLE.search(message)
    if missing:
        name = missing.group(1)
        if name in ("t1", "t2", "t3"):
            return f"bind the input {name} to a table"
        return f"the tables are {', '.join(tables)}"
    column = _NO_COLUMN.search(message)
    if column:
        word = column.group(1).split(".")[-1]
        every = sorted({str(c) for frame in tables.values() for c in frame.columns})
        guess = did_you_mean(word, every)
        return f"did you mean {guess!r}?" if guess else f"the columns are: {', '.join(every)}"
    return "write one SQLite SELECT over t1, t2, t3; quote odd column names in double quotes"


def _unloadable(name: str, frame, err: Exception) -> ComponentError:
    """Say which column SQLite could not take: a nested value (a list in JSON lines), or two
    names SQLite folds to one (`a` and `A`)."""
    cause = str(err.__cause__ or err)  # pandas wraps sqlite's words in "Execution failed"
    found = _PARAMETER.search(cause)
    if found and 0 < int(found.group(1)) <= len(frame.columns):
        column = frame.columns[int(found.group(1)) - 1]
        cause = f"column {str(column)!r}: {cause}"
    return ComponentError(
        f"{name}: the table cannot be loaded into SQLite: {cause}",
        "give it flat columns (numbers, text, times) whose names differ in more than case",
    )


def query(tables: dict, sql: str):
    import pandas as pd

    if not sql.strip():
        raise ComponentError("query: it is empty", "give a SELECT, e.g. query: SELECT * FROM t1")
    conn = sqlite3.connect(":memory:")
    try:
        for name, frame in tables.items():
            try:
                frame.to_sql(name, conn, index=False)
            except (sqlite3.Error, pd.errors.DatabaseError, ValueError, TypeError) as err:
                raise _unloadable(name, frame, err) from None
        conn.set_authorizer(_read_only)
        try:
            cursor = conn.execute(sql)  # one statement only: execute refuses a second
            rows = cursor.fetchall()
        except (sqlite3.Error, sqlite3.Warning) as err:
            raise ComponentError(f"query: SQLite refused it: {err}", _hint(str(err), tables)) from None
        if cursor.description is None:
            raise ComponentError("query: it returns no table", "write a SELECT statement")
        columns = [d[0] for d in cursor.description]
    finally:
        conn.close()
    if len(set(columns)) != len(columns):
        dup = next(c for c in columns if columns.count(c) > 1)
        raise ComponentError(f"query: the result has two columns named {dup!r}", f"rename one: ... AS {dup}_2")
    return pd.DataFrame.from_records(rows, columns=columns)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog=COMPONENT, description=__doc__)
    ap.add_argument("--t1", required=True)
    ap.add_argument("--t2")
    ap.add_argument("--t3")
    ap.add_argument("--query", required=True)
    ap.add_argument("--result", required=True)
    args = ap.parse_args(argv)

    tables = {
        name: read_table(path, name) for name, path in (("t1", args.t1), ("t2", args.t2), ("t3", args.t3)) if path
    }
    out = query(tables, args.query)
    write_table(out, args.result)
    print(f"{len(out)} rows, {len(out.columns)} columns")


if __name__ == "__main__":
    run_main(COMPONENT, main)
