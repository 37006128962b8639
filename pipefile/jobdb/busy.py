"""Waiting out another pipe at a SQLite database it is creating or migrating (the job
database here, the workspace state in workspace/state.py)."""

from __future__ import annotations

import sqlite3
import time
from typing import Callable, TypeVar

T = TypeVar("T")


def while_database_busy(attempt: Callable[[], T], seconds: float = 30.0) -> T:
    """`attempt()`, again while SQLite answers "locked" or "busy": when two pipe commands start
    at once in a new workspace, some steps of creating a database (switching it to WAL) answer
    that at once instead of waiting for the other process."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return attempt()
        except sqlite3.OperationalError as e:
            if time.monotonic() > deadline or not any(w in str(e) for w in ("locked", "busy")):
                raise
            time.sleep(0.05)
