"""The metrics stream: values a step reports while it runs (a loss per epoch), one JSON
object per line in the file named by `PIPE_METRICS_STREAM`.

    {"name": "loss", "value": 0.31, "step": 4, "time": 1765000000.5}

A step writes it with `pipefile.log_metric(name, value, step=N)` or appends such lines
itself (any language). When the step has ended well, pipe records the whole series with the
job (`pipe metrics curve`) and its last value as the step's metric NAME (a `metrics:` file
naming the same metric wins). This module imports nothing beyond the standard library: a
step imports it cheaply.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time

from .filenames import file_name

ENV = "PIPE_METRICS_STREAM"
MAX_POINTS = 100_000  # per step: past it the rest is dropped with a warning
MAX_LINE = 4096

_warned = False


def stream_path(log_path: str) -> str:
    """Where a step's metrics stream is kept: beside its log (its file name bounded as the
    log's is: filenames.file_name)."""
    stem = log_path[:-4] if log_path.endswith(".log") else log_path
    cut = stem.rfind(os.sep) + 1
    return stem[:cut] + file_name(stem[cut:], ".metrics.jsonl")


def log_metric(name: str, value: float, step: int | None = None) -> None:
    """Append one value of metric `name` (at training step `step`, default: its count so
    far) to the running step's metrics stream. Outside a `pipe` step it warns once and
    records nothing."""
    global _warned
    path = os.environ.get(ENV)
    if not path:
        if not _warned:
            print(f"pipefile.log_metric: not inside a pipe step ({ENV} is not set); not recorded", file=sys.stderr)
            _warned = True
        return
    if not isinstance(name, str) or not name:
        raise ValueError("log_metric: the name must be a non-empty string")
    point: dict = {"name": name, "value": float(value), "time": time.time()}
    if step is not None:
        point["step"] = int(step)
    line = json.dumps(point, allow_nan=True) + "\n"
    # One write per line in append mode: lines from several processes of one step stay whole.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def read_stream(path: str) -> tuple[dict, list]:
    """({name: [(step, value, time), ...]}, warnings) from a stream file; a missing file is
    no series. Lines that are not a JSON object with a string name and a finite number value
    are skipped (counted in one warning); a point without a step (or with one that is no
    64-bit integer) gets its count so far.

    The step wrote the file and may have put anything there: a line longer than MAX_LINE
    bytes is skipped without being held (a line of gigabytes never fills the memory), and a
    FIFO or a device in its place is never read (opening a FIFO waits for a writer, a link to
    /dev/zero never ends)."""
    tail = StreamTail(path)
    tail.read(final=True)
    return tail.series, tail.warnings()


class StreamTail:
    """A stream file read as the step appends to it: each `read` parses only the lines added
    since the last. Early termination looks at a running trial's stream five times a second:
    read whole each time, a stream of 100,000 points cost ~0.8 s of pipe's time a look, for
    every trial running, and the more the longer the trial ran."""

    _CHUNK = 1 << 20
    _CHECK = 64  # bytes before the offset compared at each read: a file written anew is read anew

    def __init__(self, path: str):
        self.path = path
        self._reset(None)

    def _reset(self, ident) -> None:
        self.ident = ident  # (device, inode) of the file read so far
        self.sig = None  # its (device, inode, size, mtime) when last read
        self.offset = 0
        self.seen = b""  # the last bytes before the offset, as they were read
        self.rest = b""  # the start of a line whose newline has not come yet
        self.long = False  # inside a line longer than MAX_LINE: skipped to its newline
        self.series: dict = {}
        self.total = self.bad = self.dropped = 0
        self.problem = ""

    def read(self, final: bool = False) -> None:
        """Parses what was appended since the last read; `final` (the step has ended): a last
        line without its newline too."""
        from .filehash import NotARegularFile, open_regular  # (here: a step importing log_metric skips xxhash)

        try:  # (a stream that did not change since the last read, a finished trial's: not opened)
            st = os.stat(self.path)
            sig = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        except OSError:
            sig = None
        if sig is None or sig != self.sig:
            self._read_file(open_regular, NotARegularFile)
            self.sig = sig
        if final and self.rest:
            self._line(self.rest)
            self.rest = b""

    def _read_file(self, open_regular, not_regular) -> None:
        try:
            f = open_regular(self.path)
        except FileNotFoundError:
            return
        except not_regular:
            self.problem = "the metrics stream is not a regular file; not read"
            return
        except OSError as e:
            self.problem = f"the metrics stream cannot be read ({e.strerror or e}); not read"
            return
        with f:
            st = os.fstat(f.fileno())
            if (st.st_dev, st.st_ino) != self.ident or st.st_size < self.offset or not self._same_start(f):
                self._reset((st.st_dev, st.st_ino))  # another file, or this one written anew
            f.seek(self.offset)
            while True:
                chunk = f.read(self._CHUNK)
                if not chunk:
                    break
                self.offset += len(chunk)
                self.seen = (self.seen + chunk[-self._CHECK :])[-self._CHECK :]
                self._feed(chunk)

    def _same_start(self, f) -> bool:
        if not self.seen:
            return True
        f.seek(self.offset - len(self.seen))
        return f.read(len(self.seen)) == self.seen

    def _feed(self, chunk: bytes) -> None:
        at = 0
        while at < len(chunk):
            nl = chunk.find(b"\n", at)
            if nl < 0:  # a line still being written: kept, unless it is already too long
                if not self.long:
                    self.rest += chunk[at:]
                    if len(self.rest) > MAX_LINE:
                        self.bad += 1
                        self.long, self.rest = True, b""
                return
            piece, at = chunk[at : nl + 1], nl + 1
            if self.long:  # the end of a line too long to read
                self.long = False
                continue
            line, self.rest = self.rest + piece, b""
            if len(line) > MAX_LINE:
                self.bad += 1
                continue
            self._line(line)

    def _line(self, raw: bytes) -> None:
        point = _point(raw)
        if point is None:
            self.bad += 1
            return
        if self.total >= MAX_POINTS:
            self.dropped += 1
            return
        name, value, step, stamp = point
        points = self.series.setdefault(name, [])
        points.append((len(points) if step is None else step, value, stamp))
        self.total += 1

    def warnings(self) -> list:
        out = [self.problem] if self.problem else []
        if self.bad:
            out.append(f"{self.bad} line(s) of the metrics stream are not a metric point; left out")
        if self.dropped:
            out.append(f"the metrics stream has more than {MAX_POINTS} points; {self.dropped} left out")
        return out


_INT64 = 1 << 63  # a step is kept in an SQLite INTEGER
_LATEST = _INT64 / 1000  # seconds: MLflow keeps a point's time in milliseconds, in 64 bits


def _point(raw: bytes):
    """(name, value, step or None, time or None) of one line, or None when it is no point.
    Numbers come from JSON, so they may be anything: an integer of 400 digits is no float
    (OverflowError), nor a step SQLite can hold."""
    try:
        point = json.loads(raw)
        name, value = point["name"], point["value"]
    except (ValueError, TypeError, KeyError):
        return None
    if not isinstance(name, str) or not name or not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate ("\ud800"), which no UTF-8 holds, spelled with its escape as the
        # job database keeps it (jobdb/metric_sets.py storable): here, so that it and a name
        # spelled that way already are one series, not two that met in the database (exit 70).
        name = name.encode("utf-8", "backslashreplace").decode("utf-8")
    try:
        number = float(value)
    except OverflowError:
        return None
    if not math.isfinite(number):
        return None
    step = point.get("step")
    if not isinstance(step, int) or isinstance(step, bool) or not -_INT64 <= step < _INT64:
        step = None
    stamp = point.get("time")
    try:
        when = float(stamp) if isinstance(stamp, (int, float)) and not isinstance(stamp, bool) else None
    except OverflowError:
        when = None
    if when is not None and not (math.isfinite(when) and abs(when) < _LATEST):
        when = None  # (a time no one can mean, which MLflow's milliseconds in 64 bits cannot hold)
    return name, number, step, when
