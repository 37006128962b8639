"""Tracing a normal `pipe run` for the no-op record (noop_record.py says what the record is):
every path the process looks at through `os`, `open` and `io.open` (and the import system's
`posix.stat` and `posix.listdir`: the modules it imports), every process it starts,
and the text it prints; then, from the session, with the workspace lock still held, the record
of the run if every step ended fresh and nothing unseen decided it. Imported only by a run the
click-free path took (cli/fast.py) and by the session: the record's own answer needs none of it."""

from __future__ import annotations

import _thread
import builtins
import marshal
import os
import sys
import time

from .noop_record import (
    FORMAT,
    GIT_STATUS,
    JOB,
    OWN,
    OWN_DIRS,
    RACY_COARSE_NS,
    RACY_NS,
    RECORD,
    ROW_TABLES,
    SECONDS,
    UID,
    artifact_state,
    drop,
    facts,
    now_sig,
    seconds_text,
)

ACTIVE = None  # the Recording of this process's run, while one is traced
# How far a file's times may lag the clock (the kernel's coarse clock ticks at 100 Hz at least).
CLOCK_TICK_NS = 10_000_000


class Recording:
    """One traced `pipe run`: the paths it looked at, what it printed, and (from the session)
    the job it wrote when everything was fresh. Installed by `start`, removed by `stop`."""

    def __init__(self, argv: list) -> None:
        self.argv = list(argv)
        self.started_ns = time.time_ns()
        self.facts = facts(self.argv)
        self.paths: dict = {}  # absolute path -> how it was looked at: "s" stat, "l" lstat, "d" listed
        self.spawned: list = []
        self.declined = False  # something happened a record cannot stand for
        self.out = _Tee(sys.stdout)
        self.err = _Tee(sys.stderr)
        self._saved: list = []
        self._fork_exec: object = None

    def decline(self) -> None:
        self.declined = True

    def _note(self, path, how: str) -> None:
        if not isinstance(path, (str, bytes)):
            if not hasattr(path, "__fspath__"):
                return  # a file descriptor (its path was noted when it was opened)
            path = os.fspath(path)
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        path = os.path.abspath(path)
        was = self.paths.get(path)
        if was == "d" or how == "d":
            how = "d"  # (a listing stands for the folder's own signature and its names)
        elif was == "n" or how == "n":
            how = "n"  # (names: with the folder's own lstat and stat signatures)
        self.paths[path] = how

    def names(self, path: str):
        """os.scandir of a folder whose names (and which are links) are all its reader uses,
        noted as that ("n"), not as its whole listing ("d")."""
        self._note(path, "n")
        return self._scandir(path)

    def start(self) -> None:
        global ACTIVE
        ACTIVE = self
        note = self._note

        def wrap(mod, name: str, how) -> None:  # how: a letter, or one from the call's arguments
            real = getattr(mod, name)

            def traced(*a, **k):
                if k.get("dir_fd") is None:
                    note(a[0] if a else k.get("path", k.get("file", ".")), how(a[1:], k) if callable(how) else how)
                return real(*a, **k)

            self._saved.append((mod, name, real))
            setattr(mod, name, traced)

        def follows(a, k) -> str:
            return "s" if k.get("follow_symlinks", True) else "l"

        def opened(a, k) -> str:
            flags = a[0] if a else k.get("flags", 0)
            return "d" if flags & getattr(os, "O_DIRECTORY", 0) else "s"

        wrap(os, "stat", follows)
        wrap(os, "lstat", "l")
        wrap(os, "readlink", "l")
        wrap(os, "access", "s")
        wrap(os, "listdir", "d")
        self._scandir = os.scandir
        wrap(os, "scandir", "d")
        wrap(os, "open", opened)
        wrap(builtins, "open", "s")
        import io

        wrap(io, "open", "s")  # (pathlib opens through io.open)
        # The import system looks through posix, not os: a module the run imports (pipe's own,
        # imported only while a run goes on; a Python Pipefile's helpers) is stat'd there, and a
        # folder it searches is listed there (a module put in it later may shadow another).
        import posix

        self._wrap_import_stat(posix)
        wrap(posix, "listdir", "n")
        for name in ("posix_spawn", "posix_spawnp", "fork", "execv", "execve"):
            if hasattr(os, name):
                self._wrap_spawn(os, name)
        forks = sys.modules.get("_posixsubprocess")
        if forks is None:
            try:
                import _posixsubprocess as forks
            except ImportError:  # (no fork_exec: nothing to trace there)
                forks = None
        if forks is not None:
            # subprocess calls fork_exec by a name of its own, bound when it is imported (not
            # here: a no-op imports no subprocess); stop() puts back whichever it bound.
            self._fork_exec = forks.fork_exec
            self._wrap_spawn(forks, "fork_exec")
        if "subprocess" in sys.modules:
            self._wrap_spawn(sys.modules["subprocess"], "_fork_exec")
        sys.stdout, sys.stderr = self.out, self.err

    def _wrap_import_stat(self, posix) -> None:
        """posix.stat, as the import system calls it: a folder of sys.path it looks in is noted
        by its names, since a module put there later may shadow another (a folder it listed
        before the run, the current one under `python -m`, is only stat'd again). Not the
        interpreter's own folders (the standard library, site-packages): what is installed
        there is the environment, as pipe's own modules are."""
        real, note = posix.stat, self._note
        own = tuple({os.path.join(p, "") for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)})

        def traced(*a, **k):
            if k.get("dir_fd") is not None or not a:
                return real(*a, **k)
            note(a[0], "s" if k.get("follow_symlinks", True) else "l")
            st = real(*a, **k)
            if (st.st_mode & 0o170000) == 0o040000 and isinstance(a[0], str) and not a[0].startswith(own):
                note(a[0], "n")
            return st

        self._saved.append((posix, "stat", real))
        posix.stat = traced

    def _wrap_spawn(self, mod, name: str) -> None:
        real = getattr(mod, name)
        spawned = self.spawned

        def traced(*a, **k):
            # The command line (fork_exec: args, executables, ...; posix_spawn, execv: path, args);
            # os.fork runs code of this process's own: nothing to tell it by.
            args = a[0] if name.endswith("fork_exec") and a else a[1] if name != "fork" and len(a) > 1 else None
            spawned.append(_command(args))
            return real(*a, **k)

        self._saved.append((mod, name, real))
        setattr(mod, name, traced)

    def stop(self) -> None:
        global ACTIVE
        for mod, name, real in reversed(self._saved):
            setattr(mod, name, real)
        if self._saved and self._fork_exec is not None and "subprocess" in sys.modules:
            vars(sys.modules["subprocess"])["_fork_exec"] = self._fork_exec  # (bound while traced)
        self._saved = []
        if sys.stdout is self.out:
            sys.stdout = self.out.stream
        if sys.stderr is self.err:
            sys.stderr = self.err.stream
        if ACTIVE is self:
            ACTIVE = None

    # --- what the session hands over --------------------------------------------------------
    def write(
        self,
        state_dir: str,
        root: str,
        job_id: int,
        uid: str,
        seconds: float,
        git: bool,
        known: dict | None = None,
        artifacts: tuple = (),
    ) -> None:
        """With the workspace lock still held and the databases closed: the record of this
        all-fresh run, if it can stand for the next one; else nothing (and no old one).
        known: the run's stat cache entries (digest.StatCache.entries): the digests it knew;
        artifacts: the names whose versions it looked up (noop_policy.artifact_names)."""
        self.stop()
        drop(state_dir)
        try:
            self._write(state_dir, root, job_id, uid, seconds, git, known or {}, artifacts)
        except Exception:  # noqa: BLE001 - a record not written costs the next run its start-up, no more
            drop(state_dir)

    def _write(
        self, state_dir: str, root: str, job_id: int, uid: str, seconds: float, git: bool, known: dict, artifacts: tuple
    ) -> None:
        if self.declined or self.out.bypassed or self.err.bypassed or self.out.timed or self.err.timed:
            return
        if self.out.parts and self.err.parts and any(f[0] for f in self.facts[-2][1:]):  # (terminal(): 1, 2)
            return  # both streams written, to a terminal: the order they interleaved in is not kept
        shown = seconds_text(seconds)
        # Only pipe's own `git status` (the job's commit), which the answer asks again: any other
        # process, git too (a Python Pipefile's `git rev-parse HEAD`), answers what stats cannot see.
        own_git = tuple(a.replace("{root}", root) for a in GIT_STATUS)
        if any(c[1:] != own_git[1:] or os.path.basename(c[0]) != "git" for c in self.spawned) or (
            self.spawned and not git
        ):
            return
        out = _template("".join(self.out.parts), job_id, uid, shown, json_tail=True)
        err = _template("".join(self.err.parts), job_id, uid, shown)
        if out is None or err is None:
            return
        rows = _job_rows(os.path.join(state_dir, "jobs.db"), job_id, artifacts)
        if rows is None:
            return
        signatures = self._signatures(state_dir, root, known)
        if signatures is None:
            return
        checked, digests, rehash = signatures
        record = (FORMAT, self.facts, root, git, checked, rows, out, err, digests, rehash)
        tmp = os.path.join(state_dir, RECORD + ".tmp")
        try:
            with builtins.open(tmp, "wb") as f:
                marshal.dump(record, f)
            os.replace(tmp, os.path.join(state_dir, RECORD))
        except (OSError, ValueError):
            drop(state_dir)

    def _signatures(self, state_dir: str, root: str, known: dict):
        """([(path, how, signature now)] of every path looked at, {path: (workspace path, digest,
        in_folder)} of the regular files among them whose digest the run knew (from its stat
        cache, under the signature of now: a touch is then answered by reading them again,
        noop_touch.py), (path, ...) of those that changed within a clock tick of the run's start
        (hashed again by the next answer)); None when another such path did (it may change
        again unseen: racy timestamps)."""
        own_dir = os.path.abspath(state_dir)
        skip = {os.path.join(own_dir, n) for n in OWN}
        skip_under = tuple(os.path.join(own_dir, d) + os.sep for d in OWN_DIRS)
        paths = dict(self.paths)
        for name in ("state.db", "state.db-wal"):  # (read by SQLite, not through os)
            paths.setdefault(os.path.join(own_dir, name), "s")
        # This process's own /proc entries (is the job's pid alive?) say nothing of the next run.
        skip_under += (f"/proc/{os.getpid()}/", "/proc/self/")
        skip.add(os.devnull)
        # What a terminal shows is rich's drawing: a rich changed in place draws otherwise.
        for name, module in list(sys.modules.items()):
            if name == "rich" or name.startswith("rich."):
                file = getattr(module, "__file__", None)
                if file:
                    paths.setdefault(os.path.abspath(file), "s")
        out, digests, rehash = [], {}, []
        inside = os.path.join(os.path.abspath(root), "")
        for path, how in sorted(paths.items()):
            if path in skip or path.startswith(skip_under) or path == os.path.join(own_dir, "jobs"):
                continue
            sig = now_sig(path, how)
            mine = path == own_dir or path.startswith(own_dir + os.sep)
            digest = None if mine or how != "s" or not path.startswith(inside) else _known(path, inside, sig, known)
            if digest is not None:
                digests[path] = digest
            if not mine and _racy(sig, how, self.started_ns):
                if digest is None or _changed_during(sig, self.started_ns):
                    return None
                rehash.append(path)  # (its content, read again, vouches for it)
            out.append((path, how, sig))
        return out, digests, tuple(rehash)


def _known(path: str, inside: str, sig, known: dict):
    """(workspace path, digest, in_folder) of a regular file (not a link) whose stat cache
    entry is of its signature now; else None."""
    if sig is None or len(sig) != 6 or (sig[0] & 0o170000) != 0o100000:
        return None
    rel = path[len(inside) :].replace(os.sep, "/")  # (the stat cache's key)
    e = known.get(rel)
    if e is None or (e[0], e[1], e[2], e[3]) != (sig[1], sig[2], sig[3], sig[4]):
        return None
    try:
        if os.path.islink(path):
            return None
    except (OSError, ValueError):
        return None
    return (rel, e[4], int(e[6]))


def _command(args) -> tuple:
    """A started process's command line as text, ("?",) where it cannot be told."""
    try:
        words = tuple(os.fsdecode(w) for w in args)
    except (TypeError, ValueError):
        return ("?",)
    return words or ("?",)


def scandir_names(path: str):
    """os.scandir of a folder read for its names and which are links only: while a run is
    traced, its record then depends on those, not on each entry's signature (a touched
    file among a Pipefile's sources would otherwise decline every answer)."""
    t = ACTIVE
    return os.scandir(path) if t is None else t.names(path)


def _changed_during(sig, started_ns: int) -> bool:
    """Whether a file's content may have changed after the run started (its ctime, which a
    user cannot set back, within a clock tick of the start, or after it). The digest the stat
    cache knows is then of the content when it was hashed, not necessarily of what the run
    read before (a Pipefile the designer saved between its load and the job's snapshot)."""
    tick = 1_000_000_000 if sig[3] % 1_000_000_000 == 0 else CLOCK_TICK_NS
    return sig[3] >= started_ns - tick


def _racy(sig, how: str, started_ns: int) -> bool:
    if sig is None:
        return False
    if how == "n":
        if sig[0] == "unlisted":
            return True  # (it matches nothing: no record is written)
        sigs = [sig[0], sig[1]]  # the folder's own (its names have no times)
    elif how == "d":
        own, entries = sig
        sigs = [own] + [s for _, s in entries]
    else:
        sigs = [sig]
    for s in sigs:
        if s is None or len(s) < 6:
            continue
        window = RACY_COARSE_NS if s[2] % 1_000_000_000 == 0 else RACY_NS
        if max(s[2], s[3]) >= started_ns - window:
            return True
    return False


class _Tee:
    """A text stream that keeps what is written through it (the text a no-op prints).
    `timed`: something was written from another thread than the main one (rich's live view
    redrawn by its timer, a step's line as it came): what is shown depends on timing."""

    # A no-op prints a line or a few: past this much the text is not kept and no record is
    # written (a run whose step printed a gigabyte held a gigabyte, and twice that to join it).
    MOST_KEPT = 1 << 20

    def __init__(self, stream) -> None:
        self.stream = stream
        self.parts: list = []
        self.bypassed = stream is None
        self.timed = False
        self._kept = 0
        self._main = _thread.get_ident()

    def write(self, text: str) -> int:
        if not (self.timed or self.bypassed):  # (either: no record, so nothing to keep)
            self._kept += len(text)
            if _thread.get_ident() != self._main:
                self.timed = True
                self.parts = []
            elif self._kept > self.MOST_KEPT:
                self.bypassed = True
                self.parts = []
            else:
                self.parts.append(text)
        return self.stream.write(text)

    def __getattr__(self, name: str):
        if name in ("buffer", "detach", "reconfigure", "fileno"):
            self.bypassed = True  # written beside the text: not kept
        return getattr(self.stream, name)


def _template(text: str, job_id: int, uid: str, seconds_text: str, json_tail: bool = False):
    """The printed text with the job's number, id and time as blanks: [str or blank number]."""
    if "\0" in text:
        return None
    line = f"job {job_id} ({uid}): `pipe jobs show {job_id}`\n"
    if json_tail:
        tail = f'  "job": {job_id}\n}}\n'
        if text and not text.endswith(tail):
            return None
        if text:
            text = text[: -len(tail)] + '  "job": \0J\0\n}\n'
    elif text.count(line) != 1 or text.count(f" in {seconds_text}\n{line}") != 1:
        return None
    else:
        text = text.replace(f" in {seconds_text}\n{line}", " in \0S\0\njob \0J\0 (\0U\0): `pipe jobs show \0J\0`\n")
    parts: list = []
    for i, piece in enumerate(text.split("\0")):
        if i % 2 == 0:
            parts.append(piece)
        else:
            parts.append({"J": JOB, "U": UID, "S": SECONDS}[piece])
    return parts


def _job_rows(db_path: str, job_id: int, artifacts: tuple = ()):
    """{table: (columns, rows)} the job wrote; None if it wrote anything a no-op need not
    (artifact versions, metrics, events...): those depend on more than the record sees."""
    import sqlite3

    db = sqlite3.connect(db_path, timeout=30, isolation_level=None)
    try:
        out = {}
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            columns = [r[1] for r in db.execute(f"PRAGMA table_info({table})")]
            key = "id" if table == "jobs" else "job_id" if "job_id" in columns else None
            if key is None:
                continue
            # (A job's steps are shown in the order they finished: jobdb/jobs.py's steps.)
            order = " ORDER BY finished, step" if table == "job_steps" else ""
            rows = db.execute(f"SELECT * FROM {table} WHERE {key}=?{order}", (job_id,)).fetchall()
            if table not in ROW_TABLES:
                if rows:
                    return None
                continue
            out[table] = (columns, [tuple(r) for r in rows])
        if not out.get("job_steps", (0, []))[1] or not out.get("noop_jobs", (0, []))[1]:
            return None
        meta = db.execute("SELECT k, v FROM meta ORDER BY k").fetchall()
        out["meta"] = ([], [tuple(r) for r in meta])
        if artifacts:
            out["artifact_state"] = (list(artifacts), artifact_state(db, list(artifacts)))
        return out
    finally:
        db.close()
