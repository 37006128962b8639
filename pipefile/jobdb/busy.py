"""Waiting out another pipe at a SQLite database it is creating or migrating (the job
database here, the workspace state in workspace/state.py), and the user error for one that
is damaged or stays locked (what the command-line guard shows instead of an internal error)."""

from __future__ import annotations

import shlex
import sqlite3
import time
from typing import Callable, Optional, TypeVar

from ..errors import PipefileError, WorkspaceBusy

T = TypeVar("T")

# The databases this process opened, in order: the one to name when SQLite says only that "the
# database" is damaged or locked.
_OPENED: list = []


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


def opened(path: str) -> None:
    """Note that this process uses the database at `path` (see database_error)."""
    if path not in _OPENED:
        _OPENED.append(path)


def _uri(path: str, mode: str) -> str:
    """An SQLite URI of the file at `path` (a '?' or '#' in a folder's name quoted), opened in `mode`."""
    import os
    from urllib.parse import quote

    return f"file:{quote(os.path.abspath(path))}?mode={mode}"


def connect_read_only(path: str) -> sqlite3.Connection:
    """The database at `path`, opened to read only: where pipe may not write (a read-only mount,
    another user's folder). SQLite's read-only mode still makes the -shm file of a WAL database,
    which a cleanly closed one has not and such a folder cannot take: then it is read as
    immutable (on a read-only mount nothing can change it meanwhile)."""
    try:
        return _connect_now(path, "ro")
    except sqlite3.OperationalError:
        return _connect_now(path, "ro&immutable=1")


def _connect_now(path: str, mode: str) -> sqlite3.Connection:
    db = sqlite3.connect(_uri(path, mode), uri=True, timeout=30, isolation_level=None, check_same_thread=False)
    try:
        db.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()  # (SQLite opens the file lazily)
    except BaseException:
        db.close()
        raise
    return db


def _damaged(path: str) -> bool:
    try:
        db = sqlite3.connect(_uri(path, "ro"), uri=True, timeout=1)
        try:
            return db.execute("PRAGMA quick_check(1)").fetchone()[0] != "ok"
        finally:
            db.close()
    except sqlite3.OperationalError:
        return False  # (locked or unreadable: not known to be damaged)
    except sqlite3.DatabaseError:
        return True


def _locked(path: str) -> bool:
    try:
        db = sqlite3.connect(_uri(path, "rw"), uri=True, timeout=0, isolation_level=None)  # (never made)
        try:
            db.execute("BEGIN IMMEDIATE")
            db.execute("ROLLBACK")
            return False
        finally:
            db.close()
    except sqlite3.DatabaseError as e:
        return "locked" in str(e) or "busy" in str(e)


def database_error(e: BaseException) -> Optional[PipefileError]:
    """The user error for `e` if it is SQLite saying that a database pipe uses is damaged
    (a disk fault, a copy taken while it was written, bytes written into it) or stayed locked
    past the wait (another process holding a write transaction open): neither is a bug of
    pipe's, and both were an internal error (exit 70). None for any other error."""
    if not isinstance(e, sqlite3.DatabaseError):
        return None
    text = str(e)
    if isinstance(e, sqlite3.OperationalError) and "readonly" in text:
        return _read_only_error(text)
    if isinstance(e, sqlite3.OperationalError):
        if "locked" not in text and "busy" not in text:
            return None
        path = next((p for p in reversed(_OPENED) if _locked(p)), None)
        what = path or "a database pipe keeps in .pipe/"
        return WorkspaceBusy(
            f"{what} is locked: another process held a write on it for more than 30 seconds ({text})",
            hint="another pipe, or a tool with it open (sqlite3, a database browser), holds a transaction "
            f"on it: let it end, or close it (`fuser {path or '.pipe/*.db'}` names the process); then run again",
        )
    if "malformed" not in text and "not a database" not in text and "corrupt" not in text:
        return None
    path = next((p for p in reversed(_OPENED) if _damaged(p)), None)
    if path is None:
        return PipefileError(
            f"a database pipe keeps in .pipe/ is damaged ({text})",
            hint="`sqlite3 .pipe/jobs.db 'PRAGMA quick_check'` (and .pipe/state.db) says which: "
            "move that one aside (with its -wal and -shm files)",
        )
    if path.endswith("state.db"):
        hint = f"move {path} aside (with its -wal and -shm files): it is only a cache, rebuilt by the next run"
    else:
        hint = (
            f"`sqlite3 {shlex.quote(path)} .recover | sqlite3 {shlex.quote(path + '.recovered')}` saves what can "
            f"still be read; then move {path} and its -wal and -shm files aside, and the .recovered one into "
            "its place (without one, pipe starts a new history); outputs and the store are not affected"
        )
    return PipefileError(f"{path} is damaged ({text})", hint=hint)


def _read_only_error(text: str) -> PipefileError:
    """SQLite refused a write to a database pipe opened (a read-only file, its folder or its
    -wal file, or a read-only mount): `pipe run` was an internal error at its first record.
    Nothing was written: SQLite refuses before it changes anything."""
    import os

    def writable(path: str) -> bool:
        files = [path] + [p for p in (path + "-wal", path + "-shm") if os.path.exists(p)]
        return all(os.access(p, os.W_OK) for p in files + [os.path.dirname(path) or "."])

    path = next((p for p in reversed(_OPENED) if not writable(p)), None)
    what = path or "a database pipe keeps in .pipe/"
    return PipefileError(
        f"{what} is read-only, and this command records in it ({text}); nothing was changed",
        hint=(
            f"make it and its folder writable (`chmod u+w {shlex.quote(path)} "
            f"{shlex.quote(os.path.dirname(path) or '.')}`, and its -wal and -shm files)"
            if path
            else "make .pipe/ and its databases writable"
        )
        + ", or on a read-only mount run in a writable copy; what only reads the history (pipe jobs, "
        "pipe metrics, pipe lineage) works as it is",
    )
