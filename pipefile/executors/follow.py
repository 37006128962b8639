"""Following running tasks' logs: each whole line a task prints, as it comes, to a sink.

A task's output goes to its log file as before (the log is the record; nothing about how a
command writes changes). One `LogFollower` per run reads the logs of the running tasks
from a single thread, every POLL_SECONDS, and hands each complete line to the sink; the
task's own thread drains its log synchronously at the points that matter (its environment
built, its command ended), so a line is never reported after the task's end, and the
lines of an environment's build are told apart from the command's. No thread per task:
a task costs the follower one file descriptor while it runs, opened on the first read (a
short task that printed nothing costs one stat at its end).

The sink (an `OutputSink`, see protocol.py) is called from the follower's thread and from
tasks' threads, one line at a time and never two calls at once.
"""

from __future__ import annotations

import os
import threading
from typing import Optional

POLL_SECONDS = 0.1
READ_BYTES = 1 << 20  # per log and pass: one task printing a flood cannot starve the others
LINE_MAX_BYTES = 16 * 1024  # a longer line without a newline is reported in pieces (memory stays bounded)


def split_lines(buf: bytes, final: bool = False) -> tuple:
    """(whole lines as text, the rest): lines end at a newline; a carriage return redraws its
    line (a progress bar), so only what the last one left shows. `final`: the rest is a
    line too (its writer has ended)."""
    lines = []
    start = 0
    while True:
        end = buf.find(b"\n", start)
        if end < 0:
            if len(buf) - start > LINE_MAX_BYTES:
                end = start + LINE_MAX_BYTES
                lines.append(_shown(buf[start:end]))
                start = end
                continue
            break
        lines.append(_shown(buf[start:end]))
        start = end + 1
    rest = buf[start:]
    if final and rest:
        lines.append(_shown(rest))
        rest = b""
    return lines, rest


def _shown(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace").rstrip("\r")
    if "\r" in text:
        parts = [p for p in text.split("\r") if p]
        text = parts[-1] if parts else ""
    return text


class _Followed:
    __slots__ = ("path", "fd", "offset", "rest", "env", "env_lines", "redrawn")

    def __init__(self, path: str, env: Optional[str]):
        self.path = path
        self.fd: Optional[int] = None  # opened on the first read: a short task's empty log never is
        self.offset = 0
        self.rest = b""
        self.env = env  # the environment being prepared (its build's lines), else None: the command's
        self.env_lines = False
        self.redrawn = ""  # the last redrawn line told (a progress bar, not yet ended by a newline)


class LogFollower:
    """Reads the logs of running tasks and sends their lines to `sink` (see module doc)."""

    def __init__(self, sink):
        self.sink = sink
        self._followed: dict = {}
        self._lock = threading.Lock()  # one reader of the logs (and caller of the sink) at a time
        self._wake = threading.Event()
        self._stopped = False
        self._thread: Optional[threading.Thread] = None

    def watch(self, step: str, log_path: str, env: Optional[str] = None) -> None:
        """Start following the log of task `step` (just created); `env`: the environment it
        prepares first, whose build's lines are said to be that environment's."""
        with self._lock:
            if self._stopped:
                return
            self._followed[step] = _Followed(log_path, env)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, daemon=True, name="pipe-follow-logs")
                self._thread.start()

    def command_starts(self, step: str) -> None:
        """The environment is ready: what the log holds so far was its build's; what comes
        next is the command's."""
        with self._lock:
            f = self._followed.get(step)
            if f is None or f.env is None:
                return
            self._drain(step, f, final=True)
            env, f.env = f.env, None
            if f.env_lines:
                self._call("built", step, env)

    def unwatch(self, step: str) -> None:
        """The task ended: its last lines (a last one without a newline included), then no more."""
        with self._lock:
            f = self._followed.pop(step, None)
            if f is None:
                return
            if f.fd is None:
                try:
                    if os.stat(f.path).st_size == 0:
                        return  # (the common end of a short task: nothing printed, nothing opened)
                except OSError:
                    return
            try:
                self._drain(step, f, final=True)
            finally:
                if f.fd is not None:
                    os.close(f.fd)

    def close(self) -> None:
        with self._lock:
            self._stopped = True
            for f in self._followed.values():
                if f.fd is not None:
                    os.close(f.fd)
            self._followed.clear()
        self._wake.set()

    # --- the reader ----------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            self._wake.wait(POLL_SECONDS)
            self._wake.clear()
            with self._lock:
                if self._stopped:
                    return
                for step, f in list(self._followed.items()):
                    self._drain(step, f)

    def _drain(self, step: str, f: _Followed, final: bool = False) -> None:
        if f.fd is None:
            try:
                f.fd = os.open(f.path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                return  # (gone: nothing to follow; the log, where it is, still has it all)
        while True:
            try:
                data = os.pread(f.fd, READ_BYTES, f.offset)
            except OSError:
                data = b""
            if not data:
                break
            f.offset += len(data)
            lines, f.rest = split_lines(f.rest + data)
            self._emit(step, f, lines)
            if not final:
                if b"\r" in f.rest:
                    self._redrawn(step, f)
                break  # the next pass reads on: every log gets its turn
        if final and f.rest:
            lines, f.rest = split_lines(f.rest, final=True)
            self._emit(step, f, lines)

    def _redrawn(self, step: str, f: _Followed) -> None:
        # What a terminal shows of a line redrawn in place: its last redraw (a progress bar
        # writes each whole; one caught half written is put right by the next pass).
        text = _shown(f.rest)
        if text and text != f.redrawn:
            f.redrawn = text
            self._call("progress", step, text, f.env)

    def _emit(self, step: str, f: _Followed, lines: list) -> None:
        if lines:
            f.redrawn = ""
        if f.env is not None and lines:
            f.env_lines = True
        for line in lines:
            self._call("output", step, line, f.env)

    def _call(self, what: str, *args) -> None:
        try:
            getattr(self.sink, what)(*args)
        except Exception:  # noqa: BLE001 - showing output must never fail a task
            pass
