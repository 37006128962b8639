"""WorkspaceLock: one `pipe` process at a time writes a workspace.

An advisory `flock` on `.pipe/lock`. The kernel drops it when its holder
exits, however it exits (kill -9 included), so a lock can never be left
behind by a dead process and never needs a manual unlock. The holder's pid is
written into the file only to name it in the waiting message.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import sqlite3
import stat
import time
from typing import Callable, Iterator, Optional

from .. import noop_record
from ..errors import PipefileError, WorkspaceBusy

# What SQLite says when it cannot write (SQLITE_FULL, SQLITE_IOERR: a full disk shows as either,
# the latter when the -wal or -shm file cannot be grown), and the errnos of a full disk or quota.
_SQLITE_DISK = ("database or disk is full", "disk i/o error")
_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


class DiskError(PipefileError):
    """pipe's own files (.pipe/) cannot be written: a full disk, or one that fails (exit 2:
    the fix is in the environment, not the Pipefile; SQLite rolled the write back)."""


def is_disk_error(e: BaseException) -> bool:
    if isinstance(e, sqlite3.OperationalError):
        return any(w in str(e).lower() for w in _SQLITE_DISK)
    return isinstance(e, OSError) and e.errno in _FULL_ERRNOS


def _holding_folder(path: Optional[str]) -> str:
    """The nearest existing folder at or above `path` (whose file system would hold it)."""
    folder = path or "."
    while folder and not os.path.isdir(folder):
        folder = os.path.dirname(folder)
    return folder or "."


def _no_space(path: Optional[str]) -> bool:
    """Whether the file system that holds `path` has (next to) no room left."""
    try:
        st = os.statvfs(_holding_folder(path))
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < 1 << 20


def disk_error(e: BaseException, path: Optional[str] = None) -> DiskError:
    """The user error for a full (or failing) disk met while writing `path`."""
    path = path or (getattr(e, "filename", None) if isinstance(e, OSError) else None)
    where = f" {path}" if path else " pipe's files"
    detail = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
    # SQLite says "disk I/O error" both for a full disk (growing its -wal/-shm file) and for a
    # failing one: only the free space tells them apart.
    if isinstance(e, OSError) or "full" in detail or _no_space(path):
        return DiskError(
            f"no space left on the device to write{where} ({detail}); nothing was changed",
            hint="free space on that disk (`pipe gc` frees what the store no longer needs), or "
            "set PIPE_STORE_DIR to keep the store on another disk; then run again",
        )
    return DiskError(
        f"cannot write{where}: {detail}; nothing was changed",
        hint="check that disk (its health, permissions and free space), then run again",
    )


@contextlib.contextmanager
def disk_errors(path: str) -> Iterator[None]:
    """Turn a full disk met while opening or writing `path`, or a file where pipe keeps a folder
    (or a folder where it keeps a file), into a DiskError that names it."""
    try:
        yield
    except IsADirectoryError as e:
        raise folder_in_place(getattr(e, "filename", None) or path) from None
    except (FileExistsError, NotADirectoryError) as e:
        # A file where pipe keeps a folder of its own (.pipe/jobs, .pipe/scratch ...), or on its
        # path: not a bug of pipe's, and its fix is the user's.
        where = _in_the_way(getattr(e, "filename", None) or path)
        raise DiskError(
            f"{where}: pipe keeps a folder of its own there, and a file is in its place; nothing was changed",
            hint=f"move that file away or remove it (`rm {where}`): pipe makes the folder again",
        ) from None
    except (sqlite3.OperationalError, OSError) as e:
        odd = _no_file_at(path)
        if odd is not None:  # (SQLite says "disk I/O error" of a FIFO: not the disk's fault)
            raise DiskError(
                f"{path}: pipe keeps a file of its own there, and {odd} is in its place; nothing was changed",
                hint=f"move it away or remove it (`rm {path}`): pipe makes the file again",
            ) from None
        if is_disk_error(e):
            raise disk_error(e, path) from None
        if isinstance(e, sqlite3.OperationalError) and os.path.isdir(path):
            raise folder_in_place(path) from None  # (SQLite: "unable to open database file")
        cannot = cannot_write(path, e)
        if cannot is not None:
            raise cannot from None
        raise


_NOT_WRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM)


def cannot_write(path: str, e: BaseException) -> Optional[DiskError]:
    """The user error for pipe's own files on a read-only file system (a checkout mounted
    read-only) or in a folder this user may not write, or None when it is neither. SQLite
    says only "unable to open database file" (or "readonly database") for both."""
    if isinstance(e, OSError):
        if e.errno not in _NOT_WRITABLE:
            return None
    elif not isinstance(e, sqlite3.OperationalError) or not any(
        w in str(e).lower() for w in ("unable to open database file", "readonly database")
    ):
        return None
    folder = _holding_folder(path)
    try:
        read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return None
    if read_only:
        return DiskError(
            f"{path}: the file system that holds it is read-only, and pipe keeps its records there; "
            "nothing was changed",
            hint="run pipe where the workspace can be written (mount it read-write, or copy it); "
            "what only reads (pipe status, jobs, metrics, lineage, validate, dag) works as it is",
        )
    if not os.access(folder, os.W_OK):
        return DiskError(
            f"{path}: this user may not write {folder}, where pipe keeps its records; nothing was changed",
            hint=f"run pipe as the user who owns the workspace, or give this one write access: ls -ld {folder}",
        )
    return None


def _no_file_at(path: str) -> Optional[str]:
    """What stands at `path` where a file should be, if it is a FIFO, a socket or a device."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    for test, what in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device")):
        if test(mode):
            return what
    return "a device" if stat.S_ISBLK(mode) else None


def folder_in_place(path: str) -> DiskError:
    """The user error for a folder where pipe keeps a file of its own (a database, the lock)."""
    return DiskError(
        f"{path}: pipe keeps a file of its own there, and a folder is in its place; nothing was changed",
        hint=f"move that folder away or remove it (`rm -r {path}`): pipe makes the file again",
    )


def _in_the_way(path: str) -> str:
    """The file that stands where `path`, or a folder on its way, should be."""
    p = path
    while p and os.path.dirname(p) != p:
        if os.path.lexists(p) and not os.path.isdir(p):
            return p
        p = os.path.dirname(p)
    return path


class WorkspaceLock:
    def __init__(self, path: str):
        self.path = path
        self.fd: Optional[int] = None

    def acquire(
        self, wait: bool = True, on_wait: Optional[Callable[[str], None]] = None, timeout: Optional[float] = None
    ) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except IsADirectoryError:
            raise folder_in_place(self.path) from None
        except OSError as e:
            # (a workspace opened to read on a read-only mount, then asked to write: pipe gc)
            cannot = cannot_write(self.path, e)
            if cannot is None:
                raise
            raise cannot from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = self._holder(fd)
            if not wait:
                os.close(fd)
                raise WorkspaceBusy(
                    f"another pipe process{holder} is working in this workspace",
                    hint="wait for it to finish, then run again",
                ) from None
            if on_wait:
                on_wait(f"waiting for another pipe process{holder} to finish in this workspace...")
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if deadline is not None and time.monotonic() > deadline:
                        os.close(fd)
                        raise WorkspaceBusy(f"another pipe process{holder} kept this workspace busy") from None
                    time.sleep(0.05)
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError:
            pass  # (a full disk) the pid only names the holder in messages; the flock is what counts
        self.fd = fd
        # Whoever holds the workspace may change it: the no-op record stands for it no more.
        noop_record.drop(os.path.dirname(self.path))

    @staticmethod
    def _holder(fd: int) -> str:
        try:
            pid = os.pread(fd, 32, 0).decode().strip()
            return f" (pid {pid})" if pid else ""
        except OSError:
            return ""

    def release(self) -> None:
        if self.fd is not None:
            try:
                os.ftruncate(self.fd, 0)
            except OSError:
                pass
            os.close(self.fd)  # closing drops the flock
            self.fd = None

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()


class ServeGate:
    """Served jobs and uploads (writers of the store that hold no workspace lock, many at
    once) against `pipe gc` (alone): gc must never delete an object that a served job
    has just stored and not yet recorded.

    Two flocks under `.pipe/`: `serve-gate` and `serve-writers`. A writer passes the gate
    (shared, let go at once) and holds `serve-writers` shared while it works. gc takes
    the gate exclusively first, so that no new writer starts, then `serve-writers`
    exclusively, which waits for the writers under way; so a waiting gc is never starved
    by a busy server. Like WorkspaceLock, a dead holder leaves nothing behind.
    """

    def __init__(self, state_dir: str):
        self.gate_path = os.path.join(state_dir, "serve-gate")
        self.writers_path = os.path.join(state_dir, "serve-writers")
        self._held: list = []  # gc's fds, while it holds both

    def writer(self, stop: Callable[[], bool] = lambda: False, wait: bool = True) -> Optional["_Writer"]:
        """Enter as a writer (a context manager), waiting while gc runs or waits; None
        if `stop()` became true meanwhile, or at once with wait=False."""
        gate = os.open(self.gate_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            while True:
                try:
                    fcntl.flock(gate, fcntl.LOCK_SH | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if not wait or stop():
                        return None
                    time.sleep(0.1)
            fd = os.open(self.writers_path, os.O_RDWR | os.O_CREAT, 0o644)
            # gc takes the gate before this lock, so while the gate is held shared it holds
            # neither: this never waits long.
            fcntl.flock(fd, fcntl.LOCK_SH)
            return _Writer(fd)
        finally:
            os.close(gate)

    def exclusive(self, on_wait: Optional[Callable[[str], None]] = None) -> None:
        """For gc: no served job or upload writes until release()."""
        if self._held:
            return
        fds = []
        try:
            for path, message in (
                (self.gate_path, "waiting for another pipe gc..."),
                (
                    self.writers_path,
                    "waiting for the served jobs, uploads and pushes under way (no new one starts meanwhile)...",
                ),
            ):
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
                fds.append(fd)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    if on_wait:
                        on_wait(message)
                    fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            for fd in reversed(fds):
                os.close(fd)
            raise
        self._held = fds

    def release(self) -> None:
        for fd in reversed(self._held):  # the writers' lock first, then the gate
            os.close(fd)
        self._held = []


class _Writer:
    def __init__(self, fd: int):
        self.fd = fd

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
