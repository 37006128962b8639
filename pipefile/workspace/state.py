"""WorkspaceState: what the last build in this workspace left where (a verifying trace).

One SQLite database, `.pipe/state.db` (STATE_VERSION 2), in WAL mode:

    meta(k TEXT PRIMARY KEY, v TEXT)            holds state_version
    stat(path TEXT PRIMARY KEY, size, mtime_ns, ctime_ns, ino, digest, recorded_ns, in_folder)
                                                the StatCache, per workspace path; rows of
                                                files inside folders (in_folder=1) are read
                                                only when their folder's listing changed (the
                                                others, through a partial index: a workspace
                                                with a folder of 100,000 files loads no row of it)
    folders(path TEXT PRIMARY KEY, listing, digest, size, recorded_ns)
                                                the StatCache's folder entries
    steps(name TEXT PRIMARY KEY, key TEXT, manifest TEXT, outputs TEXT, updated_ns)
                                                per step: the key it was last built or
                                                restored with, that key's manifest, and
                                                its outputs {name: {path, kind, digest, size}}

A step's row is written last, after its outputs are in the store and in place
in the workspace. Losing a row (or the whole file) is harmless: the step is
then checked against the action cache and restored or confirmed, never trusted
blindly. A database of an older version is moved aside and started afresh; one
written by a newer pipe is refused and left alone.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from typing import Mapping, Optional

from ..digest import PathDigest, StatCache
from ..jobdb.busy import connect_read_only, opened, while_database_busy
from ..lazyclass import dataclass

STATE_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v TEXT);
CREATE TABLE IF NOT EXISTS stat(path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, ctime_ns INTEGER,
                                ino INTEGER, digest TEXT, recorded_ns INTEGER, in_folder INTEGER);
CREATE INDEX IF NOT EXISTS stat_outside_folders ON stat(path) WHERE in_folder=0;
CREATE TABLE IF NOT EXISTS folders(path TEXT PRIMARY KEY, listing TEXT, digest TEXT, size INTEGER,
                                   recorded_ns INTEGER);
CREATE TABLE IF NOT EXISTS steps(name TEXT PRIMARY KEY, key TEXT, manifest TEXT, outputs TEXT, updated_ns INTEGER);
"""


class LazyJSON(Mapping):
    """A JSON object parsed on first use: a no-op reads every record but needs no manifest."""

    __slots__ = ("_text", "_value")

    def __init__(self, text: str):
        self._text = text
        self._value = None

    def _get(self) -> dict:
        if self._value is None:
            try:
                self._value = json.loads(self._text)
            except ValueError:
                self._value = {}  # unreadable: explained as a format change, never trusted
        return self._value

    def __getitem__(self, k):
        return self._get()[k]

    def __iter__(self):
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())


@dataclass(frozen=True)
class OutputRecord:
    path: str
    content: PathDigest


@dataclass(frozen=True)
class StepRecord:
    name: str
    key: str
    manifest: Mapping  # the key manifest, parsed when first read
    outputs: dict  # output name -> OutputRecord


class WorkspaceState:
    def __init__(self, path: str, read_only: bool = False):
        """read_only: `path` may not be written (a read-only mount): read as it is, and one
        missing, damaged or of another format reads as empty, left where it is."""
        self.path = path
        opened(path)  # (named if SQLite later finds it damaged or locked)
        self.db = self._open_read_only() if read_only else self._open()

    def _open_read_only(self) -> sqlite3.Connection:
        if os.path.exists(self.path):
            try:
                db = connect_read_only(self.path)
            except sqlite3.DatabaseError:
                db = None
            if db is not None:
                try:
                    row = db.execute("SELECT v FROM meta WHERE k='state_version'").fetchone()
                except sqlite3.DatabaseError:
                    row = None
                if row is not None and row[0] == str(STATE_VERSION):
                    return db
                db.close()
        empty = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        empty.executescript(_SCHEMA)
        return empty

    def _connect(self) -> tuple:
        """(connection, version row); (None, None) when the file is not a database."""
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            return db, db.execute("SELECT v FROM meta WHERE k='state_version'").fetchone()
        except sqlite3.OperationalError:
            db.close()
            raise  # locked or busy: waited for by the caller, never taken for damage
        except sqlite3.DatabaseError:
            db.close()
            return None, None

    def _open(self) -> sqlite3.Connection:
        # Another pipe may be creating or using it: moving its files aside under it would
        # corrupt its database, so a locked one is waited for.
        db, row = while_database_busy(self._connect)
        if db is None:  # damaged: only a cache, start again
            self._move_aside()
            return self._open()
        if row is None:
            db.execute("INSERT OR REPLACE INTO meta VALUES('state_version', ?)", (str(STATE_VERSION),))
        elif row[0] != str(STATE_VERSION):
            db.close()
            if row[0].isascii() and row[0].isdigit() and int(row[0][:20]) > STATE_VERSION:
                from ..errors import PipefileError

                raise PipefileError(
                    f"{self.path} was written by a newer pipe (state format {row[0]}, this pipe "
                    f"reads {STATE_VERSION}); nothing was changed",
                    hint="upgrade pipe",
                )
            self._move_aside()  # an older format: only a cache, rebuilt from the store
            return self._open()
        return db

    def _move_aside(self) -> None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(self.path + suffix):
                os.replace(self.path + suffix, f"{self.path}.old-{stamp}{suffix}")

    def close(self) -> None:
        self.db.close()

    # --- stat cache ---------------------------------------------------------------------
    def load_stats(self, skip: tuple = ()) -> dict:
        """The entries of files that are not inside a folder input or output (nor in `skip`)."""
        where = "".join(" AND NOT (path >= ? AND path < ?)" for _ in skip)
        rows = self.db.execute(
            "SELECT path, size, mtime_ns, ctime_ns, ino, digest, recorded_ns, in_folder FROM stat WHERE in_folder=0"
            + where,
            tuple(x for f in skip for x in (f + "/", f + "0")),
        )
        return {r[0]: r[1:] for r in rows}

    def load_under(self, folder: str) -> dict:
        # "/" sorts just before "0": the range is every path that starts with folder + "/"
        rows = self.db.execute(
            "SELECT path, size, mtime_ns, ctime_ns, ino, digest, recorded_ns, in_folder "
            "FROM stat WHERE path >= ? AND path < ?",
            (folder + "/", folder + "0"),
        )
        return {r[0]: r[1:] for r in rows}

    def stat_cache(self, skip: tuple = ()) -> StatCache:
        """skip: folders whose files' entries are left out until `load_under` asks (a map's
        settled items: a no-op over 100,000 of them must not read 100,000 rows)."""
        folders = {r[0]: r[1:] for r in self.db.execute("SELECT path, listing, digest, size, recorded_ns FROM folders")}
        return StatCache(self.load_stats(skip), folders, self.load_under)

    def _write_stats(self, entries: dict) -> None:
        files = [(p,) + tuple(e) for p, e in entries.items() if not p.endswith("/")]
        folders = [(p[:-1],) + tuple(e) for p, e in entries.items() if p.endswith("/")]
        if files:
            self.db.executemany("INSERT OR REPLACE INTO stat VALUES(?,?,?,?,?,?,?,?)", files)
        if folders:
            self.db.executemany("INSERT OR REPLACE INTO folders VALUES(?,?,?,?,?)", folders)

    def save_stats(self, entries: dict) -> None:
        if not entries:
            return
        with self._tx():
            self._write_stats(entries)

    # --- step records -------------------------------------------------------------------
    def steps(self, names: Optional[list] = None) -> dict:
        """The records of every step, or of `names` only (a few: a map's settled tasks need none)."""
        out = {}
        rows = (
            self.db.execute("SELECT name, key, manifest, outputs FROM steps")
            if names is None or len(names) > 500
            else self.db.execute(
                f"SELECT name, key, manifest, outputs FROM steps WHERE name IN ({','.join('?' * len(names))})", names
            )
        )
        for name, key, manifest, outputs in rows:
            try:
                outs = {n: OutputRecord(o["path"], PathDigest.from_json(o)) for n, o in json.loads(outputs).items()}
                out[name] = StepRecord(name, key, LazyJSON(manifest), outs)
            except (ValueError, KeyError, TypeError):
                continue  # an unreadable row is as good as no row
        return out

    def record_step(self, name: str, key: str, manifest: dict, outputs: dict, stats: Optional[dict] = None) -> None:
        """Record a finished step (and the stat entries of its outputs) in one transaction."""
        self.record_steps([(name, key, manifest, outputs)], stats)

    def record_steps(self, records: list, stats: Optional[dict] = None) -> None:
        """Record finished steps, each (name, key, manifest, outputs), and stat entries, in one
        transaction."""
        if not records and not stats:
            return
        now = time.time_ns()
        rows = [
            (
                name,
                key,
                json.dumps(manifest, sort_keys=True),
                json.dumps({n: dict(r.content.to_json(), path=r.path) for n, r in outputs.items()}, sort_keys=True),
                now,
            )
            for name, key, manifest, outputs in records
        ]
        with self._tx():
            if stats:
                self._write_stats(stats)
            self.db.executemany("INSERT OR REPLACE INTO steps VALUES(?,?,?,?,?)", rows)

    def forget_step(self, name: str) -> None:
        with self._tx():
            self.db.execute("DELETE FROM steps WHERE name=?", (name,))

    def _tx(self):
        db = self.db

        class _Tx:
            def __enter__(self):
                db.execute("BEGIN IMMEDIATE")

            def __exit__(self, exc_type, *_):
                db.execute("ROLLBACK" if exc_type else "COMMIT")

        return _Tx()
