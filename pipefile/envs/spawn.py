"""Starting a step's command with os.posix_spawn where the result is the same as Popen's.

subprocess.Popen costs ~0.1-0.2 ms of Python per start (encoding every variable of the
environment one by one, its error pipe, the descriptors it closes): on a chain of small
steps that is a good part of what a step costs beyond its command. posix_spawn does the
same start in C (vfork + exec) when nothing Popen offers beyond it is needed: the command
runs in this process's folder (posix_spawn cannot change folder in Python 3.11), a new
session (its own process group, killed as one), stdin from /dev/null and stdout and
stderr to the step's log, SIGPIPE and SIGXFSZ back to their default (Python ignores them;
Popen's restore_signals gives them back). Popen also closes every other descriptor in the child; here
the descriptors this process inherited are made close-on-exec once (those Python opens
are so already), so the child sees the same three.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import IO, Optional

_inherited_closed = False
_RESTORED = tuple(getattr(signal, name) for name in ("SIGPIPE", "SIGXFZ", "SIGXFSZ") if hasattr(signal, name))


def spawnable(argv: list, cwd: str) -> bool:
    """Whether a command can start with posix_spawn here: a program named by its path (Popen
    looks a bare name up in the child's PATH, posix_spawnp in this process's), in this
    process's folder, on Linux."""
    if not hasattr(os, "posix_spawn") or not sys.platform.startswith("linux") or os.sep not in argv[0]:
        return False
    try:
        return os.path.normpath(cwd) == os.getcwd()
    except OSError:  # (this process's folder is gone)
        return False


def _close_inherited() -> None:
    """Mark the descriptors above 2 close-on-exec (once per process)."""
    global _inherited_closed
    if _inherited_closed:
        return
    try:
        fds = [int(x) for x in os.listdir("/proc/self/fd")]
    except OSError:
        fds = []
    for fd in fds:
        if fd > 2:
            try:
                os.set_inheritable(fd, False)
            except OSError:
                pass  # (the listing's own descriptor, closed by now)
    _inherited_closed = True


class SpawnedProcess:
    """A command started by posix_spawn in a session of its own (a StepProcess)."""

    def __init__(self, argv: list, env: dict, log: IO[bytes]):
        _close_inherited()
        fd = log.fileno()
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_DUP2, fd, 1),
            (os.POSIX_SPAWN_DUP2, fd, 2),
        ]
        # Python ignores SIGPIPE and SIGXFSZ; Popen (restore_signals) gives the command them
        # back, as any other start would: `yes | head -1` must end `yes` by SIGPIPE.
        self.pid = os.posix_spawn(argv[0], argv, env, file_actions=actions, setsid=True, setsigdef=_RESTORED)
        self.returncode: Optional[int] = None
        # One reaper at a time, as Popen's: a stopped task is waited for by its thread while
        # another polls it (processes._stop's escalation); the one that did not reap it
        # would be told "no child processes".
        self._reaping = threading.Lock()

    def _reaped(self, status: int) -> int:
        self.returncode = os.waitstatus_to_exitcode(status)  # (-N when killed by signal N, as Popen)
        return self.returncode

    def wait(self) -> int:
        with self._reaping:
            if self.returncode is None:
                try:
                    _, status = os.waitpid(self.pid, 0)
                except ChildProcessError:  # reaped outside pipe (SIGCHLD ignored): as Popen
                    self.returncode = 0
                else:
                    self._reaped(status)
        assert self.returncode is not None
        return self.returncode

    def poll(self) -> Optional[int]:
        # (Never waits: while another thread waits for it, it is still running to this one.)
        if self.returncode is None and self._reaping.acquire(blocking=False):
            try:
                if self.returncode is None:
                    pid, status = os.waitpid(self.pid, os.WNOHANG)
                    if pid:
                        self._reaped(status)
            except ChildProcessError:
                self.returncode = 0
            finally:
                self._reaping.release()
        return self.returncode

    def signal(self, sig: int) -> None:
        try:
            os.killpg(self.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def finish(self) -> bool:
        # Background children must not outlive their step: they would write behind
        # pipe's back after the outputs are committed.
        try:
            os.killpg(self.pid, signal.SIGKILL)
            return True
        except (ProcessLookupError, PermissionError):
            return False
