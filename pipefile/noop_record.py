"""The no-op record, `.pipe/noop`: what lets `pipe run` say "everything is fresh" without
loading the Pipefile, the session or the planner (issue 12: the no-op is most runs' cost).

A `pipe run` whose command line the click-free path reads (cli/fast.py) is traced while it
runs the normal way: every path the process looks at through `os` or `open` (the Pipefile
and what it includes, params files, sources, code, outputs, the spec cache, the store
objects it checks, the folders it lists, the files it finds absent), and what it prints.
If every step ended fresh, and the run depended on nothing stats cannot see (no remote,
no environment to build or look up, no GPUs, no artifact versions, no map, sweep or
matrix, no MLflow, no process but git), the session writes the record before it lets go
of the workspace lock: the stat signature of every such path, the facts the run depended
on (the command line, the folder it was started in, the whole environment, pipe's and
Python's versions, whether stdout and stderr are terminals), the rows the job wrote in
jobs.db and the text it printed, its job number, id and time left as blanks.

The next `pipe run` with the same command line (`try_fast`, imported by entry.py with only
os and marshal; sqlite3 only to write the job) takes the workspace lock, compares, and
either writes the same job rows (new id, uid, pid, times), makes the job's folder and
prints the same text, or declines: then the normal path runs, exactly as without a record.

Never stale: the record is removed whenever the workspace lock is taken (every run, gc,
clone, served job: workspace/lock.py), so a run that changes anything, or is killed half
way, leaves none; a path whose timestamps are within a clock tick of the run's start is
not trusted (the stat cache's racy-timestamp rule: digest.py), and then no record is
written; any difference, or any doubt, declines.
"""

from __future__ import annotations

import builtins
import marshal
import os
import sys
import time

RECORD = "noop"  # in the workspace's state folder (.pipe/)
_FORMAT = 1
_RACY_NS = 100_000_000  # as digest.py: well above the kernel's coarse clock tick
_RACY_COARSE_NS = 2_000_000_000  # file systems with whole-second times
# Written by every run (or by this path itself), never read to decide: not compared.
_OWN = ("jobs.db", "jobs.db-wal", "jobs.db-shm", "jobs.db-journal", "lock", RECORD, RECORD + ".tmp")
_OWN_DIRS = ("jobs",)
# What a fresh step's job row may differ in from the recorded one, per table.
_FRESH_COLUMNS = {"jobs": ("id", "uid", "started", "ended", "pid"), "job_steps": ("job_id", "finished")}
# The tables a no-op job writes rows in (metrics: read from the steps' `metrics:` files, which
# are traced); a row in any other (an artifact version, a series ...) and no record is kept.
_ROW_TABLES = ("jobs", "job_steps", "noop_jobs", "metrics")
_JOB, _UID, _SECONDS = 0, 1, 2  # the blanks of the printed text
# Modules whose code decides what a run does and prints: an edit in a development checkout
# (same version number) is a different pipe.
_DECIDING = ("noop_record.py", "planner.py", "rebuilder.py", "session.py", "keys.py", "digest.py", "jobs.py")

ACTIVE = None  # the Recording of this process's run, while one is traced


def drop(state_dir: str) -> None:
    """Remove the record of the workspace whose state folder is `state_dir` (with its lock held)."""
    try:
        os.unlink(os.path.join(state_dir, RECORD))
    except FileNotFoundError:
        pass
    except OSError:
        pass  # (a read-only .pipe/: nothing is changed there either)


# --- signatures ----------------------------------------------------------------------------


def _sig(path: str, follow: bool = True):
    """What a path is now, as the rebuilder trusts it: (type and mode, size, mtime, ctime,
    inode, device), or None when nothing is there."""
    try:
        st = os.stat(path) if follow else os.lstat(path)
    except (OSError, ValueError):
        return None
    return (st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def _listing(path: str):
    """A listed folder: its own signature and each entry's (followed; None if dangling)."""
    try:
        names = sorted(os.listdir(path))
    except (OSError, ValueError):
        return None
    return (_sig(path), [(n, _sig(os.path.join(path, n))) for n in names])


_HOW = {"s": _sig, "l": lambda p: _sig(p, False), "d": _listing}


def _now_sig(path: str, how: str):
    sig = _HOW[how](path)
    if how != "d" and sig is not None and (sig[0] & 0o170000) == 0o040000:
        return (sig[0], sig[4], sig[5])  # (as _folder_only)
    return sig


# --- tracing a normal run --------------------------------------------------------------------


class Recording:
    """One traced `pipe run`: the paths it looked at, what it printed, and (from the session)
    the job it wrote when everything was fresh. Installed by `start`, removed by `stop`."""

    def __init__(self, argv: list) -> None:
        self.argv = list(argv)
        self.started_ns = time.time_ns()
        self.facts = _facts(self.argv)
        self.paths: dict = {}  # absolute path -> how it was looked at: "s" stat, "l" lstat, "d" listed
        self.spawned: list = []
        self.declined = False  # something happened a record cannot stand for
        self.out = _Tee(sys.stdout)
        self.err = _Tee(sys.stderr)
        self._saved: list = []
        self._fork_exec = None

    def decline(self) -> None:
        self.declined = True

    def _note(self, path, how: str) -> None:
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if not isinstance(path, str):
            return  # a file descriptor (its path was noted when it was opened)
        path = os.path.abspath(path)
        if self.paths.get(path) != "d":
            self.paths[path] = how

    def start(self) -> None:
        global ACTIVE
        ACTIVE = self
        note = self._note

        def wrap(mod, name: str, how: str) -> None:
            real = getattr(mod, name)

            def traced(path=".", *a, **k):
                if k.get("dir_fd") is None:
                    note(path, how(a, k) if callable(how) else how)
                return real(path, *a, **k)

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
        wrap(os, "scandir", "d")
        wrap(os, "open", opened)
        wrap(builtins, "open", "s")
        for name in ("posix_spawn", "posix_spawnp", "fork", "execv", "execve"):
            if hasattr(os, name):
                self._wrap_spawn(os, name)
        try:
            import _posixsubprocess
        except ImportError:  # (no fork_exec: nothing to trace there)
            _posixsubprocess = None
        if _posixsubprocess is not None:
            # subprocess calls fork_exec by a name of its own, bound when it is imported (not
            # here: a no-op imports no subprocess); stop() puts back whichever it bound.
            self._fork_exec = _posixsubprocess.fork_exec
            self._wrap_spawn(_posixsubprocess, "fork_exec")
        if "subprocess" in sys.modules:
            self._wrap_spawn(sys.modules["subprocess"], "_fork_exec")
        sys.stdout, sys.stderr = self.out, self.err

    def _wrap_spawn(self, mod, name: str) -> None:
        real = getattr(mod, name)
        spawned = self.spawned

        def traced(*a, **k):
            program = a[0] if a else None
            if name.endswith("fork_exec") and a:
                program = a[0][0] if a[0] else None  # (args, executables, ...)
            spawned.append(os.path.basename(os.fsdecode(program)) if isinstance(program, (str, bytes)) else "?")
            return real(*a, **k)

        self._saved.append((mod, name, real))
        setattr(mod, name, traced)

    def stop(self) -> None:
        global ACTIVE
        for mod, name, real in reversed(self._saved):
            setattr(mod, name, real)
        if self._saved and self._fork_exec is not None and "subprocess" in sys.modules:
            sys.modules["subprocess"]._fork_exec = self._fork_exec  # (bound while traced)
        self._saved = []
        if sys.stdout is self.out:
            sys.stdout = self.out.stream
        if sys.stderr is self.err:
            sys.stderr = self.err.stream
        if ACTIVE is self:
            ACTIVE = None

    # --- what the session hands over --------------------------------------------------------
    def write(self, state_dir: str, root: str, job_id: int, uid: str, seconds: float, git: bool) -> None:
        """With the workspace lock still held and the databases closed: the record of this
        all-fresh run, if it can stand for the next one; else nothing (and no old one)."""
        self.stop()
        drop(state_dir)
        if self.declined or self.out.bypassed or self.err.bypassed or seconds >= 60:
            return
        seconds_text = f"{seconds:.1f}s"  # (report/text.py's format_seconds, under a minute)
        if any(p != "git" for p in self.spawned) or (self.spawned and not git):
            return  # a process whose answer stats cannot see
        out = _template("".join(self.out.parts), job_id, uid, seconds_text, json_tail=True)
        err = _template("".join(self.err.parts), job_id, uid, seconds_text)
        if out is None or err is None:
            return
        rows = _job_rows(os.path.join(state_dir, "jobs.db"), job_id)
        if rows is None:
            return
        checked = self._signatures(state_dir)
        if checked is None:
            return
        record = (_FORMAT, self.facts, root, git, checked, rows, out, err)
        tmp = os.path.join(state_dir, RECORD + ".tmp")
        try:
            with builtins.open(tmp, "wb") as f:
                marshal.dump(record, f)
            os.replace(tmp, os.path.join(state_dir, RECORD))
        except (OSError, ValueError):
            drop(state_dir)

    def _signatures(self, state_dir: str):
        """[(path, how, signature now)] of every path looked at; None when one changed within
        a clock tick of the run's start (it may change again unseen: racy timestamps)."""
        own_dir = os.path.abspath(state_dir)
        skip = {os.path.join(own_dir, n) for n in _OWN}
        skip_under = tuple(os.path.join(own_dir, d) + os.sep for d in _OWN_DIRS)
        paths = dict(self.paths)
        for name in ("state.db", "state.db-wal"):  # (read by SQLite, not through os)
            paths.setdefault(os.path.join(own_dir, name), "s")
        # This process's own /proc entries (is the job's pid alive?) say nothing of the next run.
        skip_under += (f"/proc/{os.getpid()}/", "/proc/self/")
        skip.add(os.devnull)
        out = []
        for path, how in sorted(paths.items()):
            if path in skip or path.startswith(skip_under) or path == os.path.join(own_dir, "jobs"):
                continue
            sig = _now_sig(path, how)
            mine = path == own_dir or path.startswith(own_dir + os.sep)
            if not mine and _racy(sig, how, self.started_ns):
                return None
            out.append((path, how, sig))
        return out


def _racy(sig, how: str, started_ns: int) -> bool:
    if sig is None:
        return False
    if how == "d":
        own, entries = sig
        sigs = [own] + [s for _, s in entries]
    else:
        sigs = [sig]
    for s in sigs:
        if s is None or len(s) < 6:
            continue
        window = _RACY_COARSE_NS if s[2] % 1_000_000_000 == 0 else _RACY_NS
        if max(s[2], s[3]) >= started_ns - window:
            return True
    return False


class _Tee:
    """A text stream that keeps what is written through it (the text a no-op prints)."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.parts: list = []
        self.bypassed = stream is None

    def write(self, text: str) -> int:
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
            parts.append({"J": _JOB, "U": _UID, "S": _SECONDS}[piece])
    return parts


def _job_rows(db_path: str, job_id: int):
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
            rows = db.execute(f"SELECT * FROM {table} WHERE {key}=?", (job_id,)).fetchall()
            if table not in _ROW_TABLES:
                if rows:
                    return None
                continue
            out[table] = (columns, [tuple(r) for r in rows])
        if not out.get("job_steps", (0, []))[1] or not out.get("noop_jobs", (0, []))[1]:
            return None
        meta = db.execute("SELECT k, v FROM meta ORDER BY k").fetchall()
        out["meta"] = ([], [tuple(r) for r in meta])
        return out
    finally:
        db.close()


def _facts(argv: list) -> tuple:
    """What the run depended on besides files: compared whole."""
    here = os.path.dirname(os.path.abspath(__file__))
    deciding = tuple(_sig(os.path.join(here, n)) for n in _DECIDING)
    try:
        cwd = os.getcwd()
    except OSError:
        cwd = None
    from . import __version__

    return (
        tuple(argv),
        cwd,
        tuple(sorted(os.environ.items())),
        __version__,
        sys.version,
        sys.executable,
        os.getuid(),
        os.isatty(1),
        os.isatty(2),
        deciding,
    )


def arm(argv: list, values: dict):
    """A Recording for this `pipe run` if a record could come of it (else None)."""
    if not _plain(values):
        return None
    return Recording(argv)


def _plain(values: dict) -> bool:
    """Flags whose run a record can stand for: no dry run, no CI summary, no MLflow, no GPUs
    named; outputs not on a terminal (what is shown there depends on more than text)."""
    if any(values.get(k) for k in ("dry_run", "ci", "summary_path", "to_mlflow", "gpus")):
        return False
    if "MLFLOW_TRACKING_URI" in os.environ:
        return False
    return not (os.isatty(1) or os.isatty(2))


# --- the fast path -----------------------------------------------------------------------------


def _find_record(values: dict):
    """The state folder holding a record for this command line, from -f or looking up."""
    if values.get("pipefile"):
        here = os.path.dirname(os.path.abspath(values["pipefile"]))
        candidate = os.path.join(here, ".pipe")
        return candidate if os.path.isfile(os.path.join(candidate, RECORD)) else None
    here = os.path.abspath(".")
    while True:
        candidate = os.path.join(here, ".pipe")
        if os.path.isfile(os.path.join(candidate, RECORD)):
            return candidate
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent


def try_fast(argv: list, values: dict) -> bool:
    """Answer this `pipe run` from the record, if it holds: the job written, its text printed,
    True. False (nothing written, nothing printed) for the normal path to run."""
    begun = time.monotonic()
    if not _plain(values):
        return False
    try:
        state_dir = _find_record(values)
    except (OSError, ValueError):
        return False
    if state_dir is None:
        return False
    fd = _lock(state_dir)
    if fd is None:
        return False
    try:
        return _answer(state_dir, argv, begun)
    except Exception:  # noqa: BLE001 - any doubt: the normal path decides
        return False
    finally:
        try:
            os.ftruncate(fd, 0)
        except OSError:
            pass
        os.close(fd)


def _lock(state_dir: str):
    """The workspace lock (workspace/lock.py's flock), taken as it takes it; None if busy."""
    import fcntl

    try:
        fd = os.open(os.path.join(state_dir, "lock"), os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None  # busy: the normal path waits, and says so
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except OSError:
        pass
    return fd


def _answer(state_dir: str, argv: list, begun: float) -> bool:
    with builtins.open(os.path.join(state_dir, RECORD), "rb") as f:
        record = marshal.load(f)
    if not isinstance(record, tuple) or len(record) != 8 or record[0] != _FORMAT:
        return False
    _, facts, root, git, checked, rows, out, err = record
    if facts != _facts(argv):
        return False
    for path, how, sig in checked:
        if _now_sig(path, how) != sig:
            return False
    commit = dirty = None
    if git:
        state = _git_state(root)
        if state is None:
            return False
        commit, dirty = state
    job_id, uid = _write_job(state_dir, rows, commit, dirty)
    os.makedirs(os.path.join(state_dir, "jobs", str(job_id)), exist_ok=True)
    seconds = time.monotonic() - begun
    blanks = {_JOB: str(job_id), _UID: uid, _SECONDS: f"{seconds:.1f}s" if seconds < 60 else None}
    if blanks[_SECONDS] is None:
        return False
    for stream, parts in ((sys.stdout, out), (sys.stderr, err)):
        if parts and stream is not None:
            stream.write("".join(p if isinstance(p, str) else blanks[p] for p in parts))
            stream.flush()
    return True


def _write_job(state_dir: str, rows: dict, commit, dirty) -> tuple:
    """The recorded job's rows again: a new number, id, pid and times; all or nothing."""
    try:
        import _sqlite3 as sqlite3  # (sqlite3's adapters import datetime: only text and numbers here)
    except ImportError:
        import sqlite3

    db = sqlite3.connect(os.path.join(state_dir, "jobs.db"), timeout=30, isolation_level=None)
    try:
        meta = db.execute("SELECT k, v FROM meta ORDER BY k").fetchall()
        if [tuple(r) for r in meta] != rows["meta"][1]:
            raise LookupError("the job database changed format")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("BEGIN IMMEDIATE")
        try:
            if db.execute("SELECT 1 FROM metric_points LIMIT 1").fetchone() is not None:
                # A job streamed a series: each fresh step would get the series of the job that
                # ran it (jobs.JobRecorder), which the record does not hold.
                raise LookupError("series to copy")
            started = time.time()
            uid = os.urandom(4).hex()
            cols, (row,) = rows["jobs"]
            job = dict(zip(cols, row))
            job.update(uid=uid, started=started, pid=os.getpid())
            job.update(git_commit=commit, git_dirty=None if dirty is None else int(dirty))  # (git asked now)
            del job["id"]
            names = [c for c in cols if c in job]
            job["ended"] = None
            cur = db.execute(
                f"INSERT INTO jobs({', '.join(names)}) VALUES({', '.join('?' * len(names))})",
                [job[c] for c in names],
            )
            job_id = cur.lastrowid
            for table in ("job_steps", "metrics"):
                cols, table_rows = rows.get(table, ((), ()))
                for row in table_rows:
                    values = dict(zip(cols, row), job_id=job_id)
                    if table == "job_steps":
                        values["finished"] = time.time()
                    db.execute(
                        f"INSERT INTO {table}({', '.join(cols)}) VALUES({', '.join('?' * len(cols))})",
                        [values[c] for c in cols],
                    )
            db.execute("UPDATE jobs SET ended=? WHERE id=?", (time.time(), job_id))
            db.execute("INSERT INTO noop_jobs(job_id) VALUES(?)", (job_id,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return job_id, uid
    finally:
        db.close()


# The command jobs.git_state runs, and how it reads the answer: (commit, dirty).
GIT_STATUS = ("git", "--no-optional-locks", "-C", "{root}", "status", "--porcelain=v2", "--branch", "--untracked-files=no")


def read_git_status(text: str) -> tuple:
    lines = text.splitlines()
    commit = next((line.split()[2] for line in lines if line.startswith("# branch.oid ")), None)
    if commit is None or commit == "(initial)":
        return None, None
    return commit, any(not line.startswith("#") for line in lines if line)


def _git_state(root: str):
    """jobs.git_state's answer, from a process started without importing subprocess; None
    if git could not be asked (then the normal path asks)."""
    args = [a.replace("{root}", root) for a in GIT_STATUS]
    r, w = os.pipe()
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            pid = os.posix_spawnp(
                "git", args, os.environ, file_actions=[(os.POSIX_SPAWN_DUP2, w, 1), (os.POSIX_SPAWN_DUP2, null, 2)]
            )
        finally:
            os.close(null)
    except OSError:
        os.close(r)
        os.close(w)
        return None
    os.close(w)
    chunks = []
    with os.fdopen(r, "rb") as f:
        chunks.append(f.read())
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        return None, None
    return read_git_status(b"".join(chunks).decode("utf-8", "replace"))
