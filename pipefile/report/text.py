"""The text helpers every renderer shares: whether a stream is a terminal, a rich console,
tables (rich on a terminal, aligned plain columns otherwise), plurals, times, sizes, JSON.

Renderers import these from here and from nowhere else: no renderer reaches into
another's private helpers."""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Optional

from ..noop_record import seconds_text
from ..printable import printable


def is_terminal(stream) -> bool:
    if os.environ.get("PIPE_PLAIN") or os.environ.get("CI"):
        return False
    return hasattr(stream, "isatty") and stream.isatty()


class Unbroken:
    """A text stream whose reader may go away (`pipe run | head`, a terminal closed): once a
    write fails so (a broken pipe, EIO), the rest goes to /dev/null and the work goes on. A
    run stopped half-way by its own output (exit 0, the steps after it never run) would be
    worse than a run nobody watches to the end."""

    def __init__(self, inner):
        self._inner = inner

    def write(self, text: str) -> int:
        try:
            return self._inner.write(text)
        except OSError as e:
            self._gone(e)
            return len(text)

    def flush(self) -> None:
        try:
            self._inner.flush()
        except OSError as e:
            self._gone(e)

    def _gone(self, e: OSError) -> None:
        import errno

        if not isinstance(e, BrokenPipeError) and e.errno != errno.EIO:
            raise e
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, self._inner.fileno())  # (what the stream still holds flushes there too)
        finally:
            os.close(null)

    def __getattr__(self, name: str):
        return getattr(self._inner, name)


def unbroken_output() -> None:
    """stdout and stderr as Unbroken streams (once: wrapping twice changes nothing)."""
    if not isinstance(sys.stdout, Unbroken):
        sys.stdout = Unbroken(sys.stdout)
    if not isinstance(sys.stderr, Unbroken):
        sys.stderr = Unbroken(sys.stderr)


def console(stream):
    from rich.console import Console

    return Console(file=stream, highlight=False, soft_wrap=True)


def table(headers: list, rows: list, styles: Optional[list] = None, stream=None) -> None:
    """A table: rich on a terminal; plain columns otherwise. Cells are data (names from files,
    records from remotes): printed escaped, never read as rich markup."""
    stream = stream or sys.stdout
    headers = [printable(h) for h in headers]
    rows = [[printable(c) for c in row] for row in rows]
    if is_terminal(stream):
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table
        from rich.text import Text

        t = Table(*[escape(h) for h in headers], box=None, header_style="bold", pad_edge=False)
        for i, row in enumerate(rows):
            t.add_row(*[Text(c) for c in row], style=styles[i] if styles else None)
        Console(file=stream, highlight=False).print(t)
        return
    widths = [max([len(str(h))] + [len(str(r[i])) for r in rows]) for i, h in enumerate(headers)]
    for row in [headers] + rows:
        stream.write("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() + "\n")


def plural(n: int, word: str, many: str = "") -> str:
    """'1 object', '2 objects'; `many` where adding an s is wrong ('entries')."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


# One format for a run's time ('4.2s', '3m07s', '1h02m'): the no-op record replays the summary
# line with it, without importing the report (it lives in the lowest layer).
format_seconds = seconds_text


def when(ts: Optional[float]) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def size(n) -> str:
    """Bytes in decimal units (12.3 MB), as the store and environment commands show them; '-' if unknown."""
    if n is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{int(n)} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


# What would end a Mermaid label or edge text, or be read as markup in it, as entity codes.
_MERMAID = {"#": "#35;", '"': "#quot;", "|": "#124;", "<": "#lt;", ">": "#gt;"}


def mermaid_text(text) -> str:
    """A name inside a Mermaid label ("...") or edge text (|...|), rendered as written: a
    quote, bar, '#' or angle bracket as its entity code, other unprintable characters
    escaped; a name without them is unchanged."""
    t = printable(text)
    if not any(c in t for c in _MERMAID):
        return t
    return "".join(_MERMAID.get(c, c) for c in t)


def mermaid_edge(text) -> str:
    """An edge's text, between its bars: quoted (entity codes inside) unless it is of
    letters, digits and `_ . / -` (a plain path prints as before)."""
    t = printable(text)
    if t and all(c.isalnum() or c in "_./-" for c in t):
        return t
    return f'"{mermaid_text(t)}"'


def dump_json(obj, stream=None) -> None:
    """`obj` as JSON: a number JSON has no word for (a param or metric of .nan or .inf) as
    its text, "nan" or "inf" (json's NaN and Infinity are no JSON: consumers refuse them)."""
    stream = stream or sys.stdout
    try:
        text = json.dumps(obj, indent=2, allow_nan=False)
    except ValueError:  # (the walk below only when there is such a number)
        text = json.dumps(finite(obj), indent=2, allow_nan=False)
    stream.write(text + "\n")
    stream.flush()


def finite(v):
    """`v` with every float that is not finite as its text ("nan", "inf", "-inf")."""
    import math

    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if isinstance(v, dict):
        return {k: finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [finite(x) for x in v]
    return v


def _ours(filename, target: str) -> bool:
    """Whether an error's file is the one written or its temporary beside it (already named)."""
    name = os.fsdecode(filename)
    return name == target or (
        os.path.dirname(name) == os.path.dirname(target)
        and os.path.basename(name).startswith(f".{os.path.basename(target)}.")
    )


def _kind(mode: int) -> str:
    import stat

    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def write_json_file(path: str, obj) -> None:
    """Write JSON whole or not at all (temp file + rename), for CI systems that read it
    (`write_text_file`)."""
    write_text_file(path, json.dumps(obj, indent=2) + "\n", "JSON")


def write_text_file(path: str, text: str, what: str = "the file") -> None:
    """Write `text` whole or not at all (temp file + rename): a JSON summary, a report.

    The file is replaced by a rename, so only a regular file (or a link to one: then the file
    it names) may be there already; anything else (a device such as /dev/full, a FIFO, a
    folder, /dev/stdout, a link to nothing) is refused rather than renamed over. Missing
    folders on the way are made. Every failure is a PipefileError (exit 2) naming the path."""
    from ..errors import PipefileError
    from ..wholefile import replace_whole

    shown = printable(path)
    target = check_text_file(path, what)
    try:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        replace_whole(target, text.encode("utf-8"))
    except OSError as e:
        where = f" ({printable(e.filename)})" if getattr(e, "filename", None) and not _ours(e.filename, target) else ""
        raise PipefileError(
            f"cannot write '{shown}': {e.strerror or e}{where}; nothing was written there",
            hint="choose a file in a folder you can write to (and with space left)",
        ) from None


def check_text_file(path: str, what: str = "the file") -> str:
    """The file `write_text_file(path)` would replace (a link's target), or the PipefileError
    it would raise for what is there now (a folder, a device, a link to nothing, a file on the
    way where a folder goes): called before long work whose end writes it (`pipe run
    --summary`), so that a bad path is said before the run, not after it."""
    import stat

    from ..errors import PipefileError

    shown = printable(path)
    if path.endswith(("/", os.sep)):  # (abspath would drop the slash: 'r.md/' became a file r.md)
        raise PipefileError(
            f"'{shown}' names a folder (it ends in '/'); {what} is written only to a file",
            hint="give the path of a file: to write it in that folder, add its name after the '/'",
        )
    target = os.path.abspath(path)
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise PipefileError(f"cannot write '{shown}': {e.strerror or e}", hint="choose another file") from None
    if st is not None and stat.S_ISLNK(st.st_mode):
        target = os.path.realpath(target)  # the file it names is replaced; the link stays
        try:
            st = os.stat(target)
        except OSError:
            raise PipefileError(
                f"'{shown}' is a symbolic link to nothing ({printable(target)}); nothing was written there",
                hint="remove the link, or choose another file",
            ) from None
        if not stat.S_ISREG(st.st_mode):
            raise PipefileError(
                f"'{shown}' is a link to {_kind(st.st_mode)} ({printable(target)}); {what} is written "
                f"only to a regular file, which it replaces whole",
                hint="choose the path of a file (it is made if missing)",
            )
    elif st is not None and not stat.S_ISREG(st.st_mode):
        raise PipefileError(
            f"'{shown}' is {_kind(st.st_mode)}; {what} is written only to a regular file, which it replaces whole",
            hint="choose the path of a file (it is made if missing)",
        )
    folder = os.path.dirname(target)
    while not os.path.lexists(folder) and os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)  # (the nearest that exists: the rest is made)
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK | os.X_OK):
        why = "is not a folder" if not os.path.isdir(folder) else "is a folder this user cannot write to"
        raise PipefileError(
            f"cannot write '{shown}': {printable(folder)} {why}; nothing was written there",
            hint="choose a file in a folder you can write to (and with space left)",
        )
    return target
