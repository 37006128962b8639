"""The no-op record, `.pipe/noop`: what lets `pipe run` say "everything is fresh" without
loading the Pipefile, the session or the planner (issue 12: the no-op is most runs' cost).

A `pipe run` whose command line the click-free path reads (cli/fast.py) is traced while it
runs the normal way: every path the process looks at through `os` or `open` (the Pipefile
and what it includes, params files, sources, code, outputs, the spec cache, the store
objects it checks, the folders it lists, the files it finds absent), and what it prints.
If every step ended fresh, and the run depended on nothing stats cannot see (no remote,
no environment to build or look up, no GPUs, no artifact versions, no map, sweep or
matrix, no MLflow, no process but pipe's own `git status`), the session writes the record before it lets go
of the workspace lock: the stat signature of every such path, the facts the run depended
on (the command line, the folder it was started in, the whole environment, pipe's and
Python's versions, whether stdin, stdout and stderr are terminals and their sizes), the
rows the job wrote in jobs.db and the text it printed (on a terminal too: the bytes rich
drew), its job number, id and time left as blanks.

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
FORMAT = 3  # (2: the terminal facts; 3: the digests of files, for a touch)
RACY_NS = 100_000_000  # as digest.py: well above the kernel's coarse clock tick
RACY_COARSE_NS = 2_000_000_000  # file systems with whole-second times
# Written by every run (or by this path itself), never read to decide: not compared.
OWN = ("jobs.db", "jobs.db-wal", "jobs.db-shm", "jobs.db-journal", "lock", RECORD, RECORD + ".tmp")
OWN_DIRS = ("jobs",)
# What a fresh step's job row may differ in from the recorded one, per table.
# The tables a no-op job writes rows in (step_metrics: its steps' references to their metrics
# files' kept values, named by the traced outputs' content; step_series: to the series of the
# jobs that ran its steps, which only a run under the workspace lock changes, and taking the
# lock drops the record); a row in any other (an artifact version, a copied series ...) and no
# record is kept.
ROW_TABLES = ("jobs", "job_steps", "noop_jobs", "metrics", "step_metrics", "step_series")
JOB, UID, SECONDS = 0, 1, 2  # the blanks of the printed text
# Modules whose code decides what a run does and prints: an edit in a development checkout
# (same version number) is a different pipe.
_DECIDING = (
    "noop_record.py",
    "noop_touch.py",
    "filehash.py",
    "planner.py",
    "rebuilder.py",
    "session.py",
    "keys.py",
    "digest.py",
    "jobs.py",
)


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


def _names(path: str):
    """A folder read for its names and which of them are links (landing.FolderEntries), and
    looked at itself (lstat and stat): a file in it touched or written again leaves this as it
    was; an entry added, removed or renamed changes the folder's own times too (which the
    trace's racy check reads). A folder that cannot be listed matches nothing, not even itself."""
    try:
        with os.scandir(path) as it:
            names = sorted((e.name, e.is_symlink()) for e in it)
    except (FileNotFoundError, NotADirectoryError):
        names = []
    except (OSError, ValueError):
        return ("unlisted", os.getpid(), time.monotonic_ns())
    return (_sig(path, False), _sig(path), names)


_HOW = {"s": _sig, "l": lambda p: _sig(p, False), "d": _listing, "n": _names}


def now_sig(path: str, how: str):
    sig = _HOW[how](path)
    if how not in ("d", "n") and sig is not None and (sig[0] & 0o170000) == 0o040000:
        return (sig[0], sig[4], sig[5])  # (as _folder_only)
    return sig


def facts(argv: list) -> tuple:
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
        terminal(),
        deciding,
    )


def terminal() -> tuple:
    """What rich draws by, besides the environment (TERM, COLORTERM, NO_COLOR, COLUMNS ...):
    for stdin, stdout and stderr, whether each is a terminal and its size (rich's width is
    the first of the three's that answers)."""
    out = []
    for fd in (0, 1, 2):
        try:
            size = tuple(os.get_terminal_size(fd))
        except (OSError, ValueError):
            size = None
        out.append((os.isatty(fd), size))
    return tuple(out)


def plain(values: dict) -> bool:
    """Flags whose run a record can stand for: no dry run, no CI summary, no MLflow, no GPUs
    named, no Python Pipefile. A terminal is fine: what was drawn on it is replayed byte for byte, the terminal's
    size and the environment being the same (facts), and only when no timer drew it
    (noop_trace.py's _Tee declines a write from any thread but the main one)."""
    if any(values.get(k) for k in ("dry_run", "ci", "summary_path", "to_mlflow", "gpus")):
        return False
    module, _, name = (values.get("pipefile") or "").rpartition(":")
    if (values.get("pipefile") or "").endswith(".py") or (module.endswith(".py") and name.isidentifier()):
        return False  # a Python Pipefile (load/pymodule.py): known only by running it (noop_policy.py)
    return "MLFLOW_TRACKING_URI" not in os.environ and sys.stdout is not None and sys.stderr is not None


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
    if not plain(values):
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
        texts = _answer(state_dir, argv, begun)
    except Exception:  # noqa: BLE001 - any doubt (nothing written yet): the normal path decides
        texts = None
    finally:
        try:
            os.ftruncate(fd, 0)
        except OSError:
            pass
        os.close(fd)
    if not texts:
        return False
    try:  # (the job is written: from here on this is the answer, as the normal path's would be)
        for stream, text in zip((sys.stdout, sys.stderr), texts):
            if text and stream is not None:
                stream.write(text)
                stream.flush()
    except BrokenPipeError:  # `pipe run | head`: as cli/guard.py, the reader has what it wanted
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
    return True


def _lock(state_dir: str):
    """The workspace lock (workspace/lock.py's flock), taken as it takes it; None if busy."""
    try:
        import fcntl
    except ImportError:  # (no flock: no workspace lock either)
        return None
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


def _answer(state_dir: str, argv: list, begun: float) -> tuple | None:
    """(stdout text, stderr text) once the job is written; None (nothing written) to decline."""
    with builtins.open(os.path.join(state_dir, RECORD), "rb") as f:
        record = marshal.load(f)
    if not isinstance(record, tuple) or len(record) != 10 or record[0] != FORMAT:
        return None
    _, known, root, git, checked, rows, out, err, digests, rehash = record
    if known != facts(argv):
        return None
    touched = []  # (path, recorded signature, signature now) of the files whose content decides
    for path, how, sig in checked:
        now = now_sig(path, how)
        if now != sig:
            if path not in digests:
                return None
            touched.append((path, sig, now))
    if rehash:  # (hashed within a clock tick of a change when the record was written)
        again, seen = set(rehash), {t[0] for t in touched}
        touched += [(p, s, s) for p, _, s in checked if p in again and p not in seen]
    confirmed = None
    if touched:
        from . import noop_touch

        confirmed = noop_touch.confirm(touched, digests, _sig)
        if confirmed is None:
            return None
    commit = dirty = None
    if git:
        state = _git_state(root)
        if state is None:
            return None
        commit, dirty = state
    if confirmed and sum(c[2][1] for c in confirmed) >= noop_touch.WORTH_SAVING:
        noop_touch.save_stats(state_dir, confirmed)  # (before the job: a true row, whatever follows)
    job_id, uid = _write_job(state_dir, rows, commit, dirty)
    if confirmed:
        _rewrite(state_dir, record, confirmed)
    try:
        os.makedirs(os.path.join(state_dir, "jobs", str(job_id)), exist_ok=True)  # (its logs' folder)
    except OSError:
        pass  # (the job is written: it is the answer now)
    blanks = {JOB: str(job_id), UID: uid, SECONDS: seconds_text(time.monotonic() - begun)}
    return tuple("".join(p if isinstance(p, str) else blanks[p] for p in parts) for parts in (out, err))


def _rewrite(state_dir: str, record: tuple, confirmed: list) -> None:
    """The record again with the signatures of now (the touched files', the stat cache's), so
    that the next no-op is answered by stats alone; those hashed within a clock tick of their
    change are hashed again next time. If it cannot be written, none is left."""
    from .noop_touch import racy

    own = os.path.join(state_dir, "")
    fresh = {path: sig for path, _, sig, _, _, _ in confirmed}
    again = [path for path, _, sig, _, hashed_ns, _ in confirmed if racy(sig, hashed_ns)]
    checked = [
        (p, how, fresh[p] if p in fresh else now_sig(p, how) if p.startswith(own) and how == "s" else sig)
        for p, how, sig in record[4]
    ]
    tmp = os.path.join(state_dir, RECORD + ".tmp")
    try:
        with builtins.open(tmp, "wb") as f:
            marshal.dump(record[:4] + (checked,) + record[5:9] + (tuple(again),), f)
        os.replace(tmp, os.path.join(state_dir, RECORD))
    except (OSError, ValueError):
        drop(state_dir)


def seconds_text(s: float) -> str:
    """The time of a run as its summary line shows it (report/text.py's format_seconds is this)."""
    if s < 60:
        return f"{s:.1f}s"
    m, sec = divmod(int(s), 60)
    if m < 60:
        return f"{m}m{sec:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"


def _write_job(state_dir: str, rows: dict, commit, dirty) -> tuple:
    """The recorded job's rows again: a new number, id, pid and times; all or nothing."""
    try:
        import _sqlite3 as driver  # (sqlite3's adapters import datetime: only text and numbers here)
    except ImportError:
        import sqlite3 as driver  # type: ignore[no-redef]

    db = driver.connect(os.path.join(state_dir, "jobs.db"), timeout=30, isolation_level=None)
    try:
        meta = db.execute("SELECT k, v FROM meta ORDER BY k").fetchall()
        if [tuple(r) for r in meta] != rows["meta"][1]:
            raise LookupError("the job database changed format")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("BEGIN IMMEDIATE")
        try:
            names, versions = rows.get("artifact_state", ((), []))
            if names and artifact_state(db, names) != versions:
                # A version the run found is gone, or renumbered: the normal path would record one.
                raise LookupError("artifact versions changed")
            # (A fresh step's series is a step_series row of the record's, naming the job that
            # streamed it: the same job the normal path would name, as no job has run since.)
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
            finished = 0.0
            for table in ("job_steps", "metrics", "step_metrics", "step_series"):
                cols, table_rows = rows.get(table, ((), ()))
                for row in table_rows:
                    values = dict(zip(cols, row), job_id=job_id)
                    if table == "job_steps":  # (in the recorded order, which `pipe jobs show` keeps)
                        finished = values["finished"] = max(time.time(), finished + 1e-6)
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


def artifact_state(db, names: list) -> list:
    """The versions of the artifacts `names` (and the numbers a remote holds for them): what a
    no-op's lookups of their versions read (jobdb/artifacts.py's add_version)."""
    marks = ", ".join("?" * len(names))
    rows = db.execute(
        f"SELECT name, version, kind, digest FROM artifacts WHERE name IN ({marks}) ORDER BY name, version", names
    ).fetchall()
    held = db.execute(
        f"SELECT name, version, remote FROM artifact_numbers WHERE name IN ({marks}) ORDER BY name, version", names
    ).fetchall()
    return [tuple(r) for r in rows] + [("#", *r) for r in held]


# The command jobs.git_state runs, and how it reads the answer: (commit, dirty).
GIT_STATUS = (
    "git",
    "--no-optional-locks",
    "-C",
    "{root}",
    "status",
    "--porcelain=v2",
    "--branch",
    "--untracked-files=no",
)


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
