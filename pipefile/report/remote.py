"""Renders remotes, transfers and push/pull results: a rich progress bar on a terminal,
plain lines otherwise (CI logs)."""

from __future__ import annotations

import sys
import threading
import time

from ..printable import printable
from ..remote.config import is_secret_option
from ..remote.transfer import Progress
from .text import is_terminal, plural, size


class TransferProgress(Progress):
    """A progress bar per batch of transfers on a terminal; on other streams one line when a
    batch starts and a line every few seconds while it runs."""

    PLAIN_EVERY_S = 5.0

    def __init__(self, remote_name: str, stream=None, quiet: bool = False, plain: bool = False):
        """plain: lines only, even on a terminal (`pipe run --ci --push`)."""
        self.stream = stream or sys.stderr
        self.name = remote_name
        self.quiet = quiet
        self.tty = is_terminal(self.stream) and not quiet and not plain
        self._lock = threading.Lock()
        self._bar = None
        self._task = None
        self._count = 0
        self._done_bytes = 0
        self._last = 0.0

    def begin(self, verb: str, count: int, nbytes: int) -> None:
        self._count = count
        self._done_bytes = 0
        if self.quiet or count == 0:
            return
        what = (
            f"{verb} {plural(count, 'object')}"
            + (f" ({size(nbytes)})" if nbytes else "")
            + f" {'to' if verb == 'upload' else 'from'} '{self.name}'"
        )
        if self.tty:
            from rich.console import Console
            from rich.progress import BarColumn, DownloadColumn, TextColumn, TransferSpeedColumn
            from rich.progress import Progress as Bar

            self._bar = Bar(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                console=Console(file=self.stream),
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task(what, total=nbytes or None)
        else:
            self.stream.write(what + "\n")
            self.stream.flush()
            self._last = time.monotonic()

    def advance(self, nbytes: int) -> None:
        with self._lock:
            self._done_bytes += nbytes
            if self._bar is not None:
                self._bar.advance(self._task, nbytes)
            elif not self.quiet and self._count and time.monotonic() - self._last > self.PLAIN_EVERY_S:
                self._last = time.monotonic()
                self.stream.write(f"  ... {size(self._done_bytes)} moved\n")
                self.stream.flush()

    def end(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def sync_summary(r) -> str:
    """One line for a sync.SyncReport."""
    verb = "pushed" if r.direction == "push" else "pulled"
    where = "to" if r.direction == "push" else "from"
    parts = [
        plural(r.entries, "run-cache entry", "run-cache entries"),
        f"{plural(r.objects, 'object')} ({size(r.nbytes)})",
    ]
    # A push counts the version numbers the remote registered, not the records uploaded: a
    # record whose number clashed went up, yet that version was not pushed.
    if r.artifacts and r.direction != "push":
        parts.append(plural(r.artifacts, "artifact version"))
    line = f"{verb} {', '.join(parts)} {where} '{r.remote}'"
    if r.already:
        other = "the remote" if r.direction == "push" else "this store"
        line += f"; {r.already} already in {other}"
    if r.registered:
        line += f"; registered {plural(r.registered, 'artifact version number')}"
    return line


def renumbered_lines(r) -> list:
    """A pull that took the remote's version numbers: each local version that had to move."""
    out = []
    for name, old, new, digest, theirs in r.renumbered:
        why = (
            f"the remote registered {name}:{old} as {theirs}"
            if theirs
            else "the remote holds its content under another number"
        )
        out.append(
            printable(
                f"warning: {name}:{old} here was local ({digest}) and {why}: yours is now {name}:{new} (local), "
                f"and {name}:{old} means the remote's, as on every machine that shares it"
            )
        )
    return out


def render_sync(r, stream=None) -> None:
    stream = stream or sys.stderr
    for e in r.errors:
        stream.write(f"error: {e.render()}\n")
    for line in renumbered_lines(r):
        stream.write(line + "\n")
    for what, why in r.skipped:
        stream.write(f"skipped {what}: {why}\n")
    if r.must_run:
        stream.write(f"not on the remote (must run): {', '.join(r.must_run)}\n")
    stream.write(sync_summary(r) + ("" if r.ok else f" ({plural(len(r.errors), 'error')})") + "\n")
    stream.flush()


def render_remotes(cfg, stream=None) -> None:
    """`pipe remote list`: name, URL (scrubbed), where it is configured; the default marked."""
    stream = stream or sys.stdout
    if not cfg.remotes:
        stream.write("no remotes: add one with `pipe remote add NAME URL --default`\n")
        return
    width = max(len(n) for n in cfg.remotes)
    for name, spec in sorted(cfg.remotes.items()):
        mark = "*" if name == cfg.default else " "
        opts = " ".join(f"{k}={'***' if is_secret_option(k) else v}" for k, v in sorted(spec.options.items()))
        # From a committed file: escaped, so that a name or value cannot drive the terminal.
        stream.write(
            printable(f"{mark} {name:<{width}}  {spec.shown}  ({spec.source}){'  ' + opts if opts else ''}") + "\n"
        )


def remotes_json(cfg) -> dict:
    return {
        "default": cfg.default,
        "remotes": [
            {
                "name": n,
                "url": s.shown,
                "file": s.source,
                "options": {k: "***" if is_secret_option(k) else v for k, v in s.options.items()},
                "default": n == cfg.default,
            }
            for n, s in sorted(cfg.remotes.items())
        ],
    }


def size_line(t) -> str:
    """'N objects (SIZE)' for a remote.transfer.Transfer."""
    return f"{plural(len(t.moved), 'object')} ({size(t.nbytes)})"
