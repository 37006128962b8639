"""std/apply_sql: one SQLite SELECT over up to three tables t1, t2, t3; its result is the table."""

from __future__ import annotations

import math
import re
import sqlite3
import sys
import time
from collections.abc import Sequence

from .._lib.errors import ArgumentParser, ComponentError, did_you_mean, run_main, warn
from .._lib.tables import read_table, write_table

COMPONENT = "std/apply_sql@1"
_NO_TABLE = re.compile(r"no such table: (\w+)")
_NO_COLUMN = re.compile(r"no such column: ([\w.]+)")
_PARAMETER = re.compile(r"binding parameter (\d+)")
TIMEOUT_SECONDS = 600.0  # the query's time (a recursive CTE without a stop ran for ever)
MEMORY_MB = 2048  # what the query may hold, in SQLite and as fetched rows, beyond the loaded tables
_STEPS = 10_000  # SQLite VM steps between two looks at the clock (~1 ms)
_BATCH = 10_000  # rows fetched at once, then measured


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
    if "" in [str(c) for c in frame.columns]:  # (Parquet and JSON lines may hold one)
        return ComponentError(
            f"{name}: the table cannot be loaded into SQLite: a column has an empty name ({cause})",
            "give every column a name where the table is written",
        )
    found = _PARAMETER.search(cause)
    if found and 0 < int(found.group(1)) <= len(frame.columns):
        column = frame.columns[int(found.group(1)) - 1]
        cause = f"column {str(column)!r}: {cause}"
    return ComponentError(
        f"{name}: the table cannot be loaded into SQLite: {cause}",
        "give it flat columns (numbers, text, times) whose names differ in more than case",
    )


_INT64 = (-(2**63), 2**63 - 1)  # SQLite's INTEGER


def _wide_integers_as_text(name: str, frame):
    """`frame`, with each column of whole numbers beyond SQLite's 64-bit INTEGER (a CSV's
    20-digit id; uint64 past 2**63) as their digits: to_sql failed on it with a traceback, and
    as REAL they would lose digits. A warning names each such column."""
    import pandas as pd

    wide = []
    for column in frame.columns:
        values = frame[column]
        if values.dtype == "uint64":
            if len(values) and int(values.max()) > _INT64[1]:
                wide.append(column)
        elif values.dtype == object:
            ints = [v for v in values if isinstance(v, int) and not isinstance(v, bool)]
            if any(not _INT64[0] <= v <= _INT64[1] for v in ints):
                wide.append(column)
    if not wide:
        return frame
    frame = frame.copy()
    for column in wide:
        frame[column] = [None if pd.isna(v) else str(v) for v in frame[column]]
        warn(
            COMPONENT,
            f"{name}: column {str(column)!r} holds whole numbers beyond SQLite's 64-bit integers; "
            "it is loaded as text, every digit kept (compare it with text: '12345678901234567890')",
        )
    return frame


def _check_bounds(timeout_seconds: float, memory_mb: float) -> None:
    for name, value in (("timeout_seconds", timeout_seconds), ("memory_mb", memory_mb)):
        if not (math.isfinite(value) and value > 0):
            raise ComponentError(f"{name}: {value:g} is not a positive number", f"give {name} above 0")


def _too_long(timeout_seconds: float) -> ComponentError:
    return ComponentError(
        f"query: stopped after {timeout_seconds:g} s (timeout_seconds)",
        "give a recursive CTE a stop (WHERE n < 1000, or LIMIT), or raise timeout_seconds if the query needs longer",
    )


def _too_big(memory_mb: float) -> ComponentError:
    return ComponentError(
        f"query: stopped: it needs more than {memory_mb:g} MB (memory_mb)",
        "bound a recursive CTE (WHERE n < 1000, or LIMIT), select fewer rows or columns, or raise memory_mb",
    )


def _fetch(cursor, memory_mb: float) -> list:
    """The rows, measured as they come: past memory_mb the query stops (an endless recursive
    CTE makes rows faster than the clock would stop it)."""
    budget = memory_mb * (1 << 20)
    rows: list = []
    used = 0
    while True:
        batch = cursor.fetchmany(_BATCH)
        if not batch:
            return rows
        used += sum(sys.getsizeof(v) for row in batch for v in row) + 64 * len(batch)  # (+ each tuple)
        if used > budget:
            raise _too_big(memory_mb)
        rows += batch


def query(tables: dict, sql: str, timeout_seconds: float = TIMEOUT_SECONDS, memory_mb: float = MEMORY_MB):
    import pandas as pd

    if not sql.strip():
        raise ComponentError("query: it is empty", "give a SELECT, e.g. query: SELECT * FROM t1")
    _check_bounds(timeout_seconds, memory_mb)
    conn = sqlite3.connect(":memory:")
    before = None
    try:
        for name, frame in tables.items():
            try:
                _wide_integers_as_text(name, frame).to_sql(name, conn, index=False)
            except (sqlite3.Error, pd.errors.DatabaseError, ValueError, TypeError, OverflowError) as err:
                raise _unloadable(name, frame, err) from None
        # SQLite's own memory: the loaded tables' pages and memory_mb more (a PRAGMA, so before
        # the authorizer, which refuses the query's own).
        pages = conn.execute("PRAGMA page_count").fetchone()[0] * conn.execute("PRAGMA page_size").fetchone()[0]
        before = conn.execute("PRAGMA hard_heap_limit").fetchone()[0]  # (the process's: put back after)
        conn.execute(f"PRAGMA hard_heap_limit={int(pages * 1.5 + memory_mb * (1 << 20))}")
        conn.execute("PRAGMA temp_store=MEMORY")  # a sort's spill is held by that limit too, not a full /tmp
        conn.set_authorizer(_read_only)
        deadline = time.monotonic() + timeout_seconds
        conn.set_progress_handler(lambda: time.monotonic() > deadline, _STEPS)  # true: SQLite interrupts it
        try:
            cursor = conn.execute(sql)  # one statement only: execute refuses a second
            rows = _fetch(cursor, memory_mb)
        except MemoryError:
            raise _too_big(memory_mb) from None
        except (sqlite3.Error, sqlite3.Warning) as err:
            if "interrupted" in str(err) and time.monotonic() > deadline:
                raise _too_long(timeout_seconds) from None
            raise ComponentError(f"query: SQLite refused it: {err}", _hint(str(err), tables)) from None
        if cursor.description is None:
            raise ComponentError("query: it returns no table", "write a SELECT statement")
        columns = [d[0] for d in cursor.description]
    finally:
        if before is not None:
            conn.set_authorizer(None)
            conn.set_progress_handler(None, 0)
            conn.execute(f"PRAGMA hard_heap_limit={int(before)}")
        conn.close()
    if len(set(columns)) != len(columns):
        dup = next(c for c in columns if columns.count(c) > 1)
        raise ComponentError(f"query: the result has two columns named {dup!r}", f"rename one: ... AS {dup}_2")
    return pd.DataFrame.from_records(rows, columns=columns)


def main(argv: Sequence[str] | None = None) -> None:
    ap = ArgumentParser(prog=COMPONENT, description=__doc__)
    ap.add_argument("--t1", required=True)
    ap.add_argument("--t2")
    ap.add_argument("--t3")
    ap.add_argument("--query", required=True)
    ap.add_argument("--result", required=True)
    ap.add_argument("--timeout-seconds", type=float, default=TIMEOUT_SECONDS)
    ap.add_argument("--memory-mb", type=float, default=MEMORY_MB)
    args = ap.parse_args(argv)

    tables = {
        name: read_table(path, name) for name, path in (("t1", args.t1), ("t2", args.t2), ("t3", args.t3)) if path
    }
    out = query(tables, args.query, args.timeout_seconds, args.memory_mb)
    write_table(out, args.result)
    print(f"{len(out)} rows, {len(out.columns)} columns")


if __name__ == "__main__":
    run_main(COMPONENT, main)
