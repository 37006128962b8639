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

    The step wrote the file and may have put anything there: a line is read at most MAX_LINE
    bytes at a time (a line of gigabytes, or a link to /dev/zero, never fills the memory), and
    a FIFO or a device in its place is never read (opening a FIFO waits for a writer)."""
    from .filehash import NotARegularFile, open_regular  # (here: a step importing log_metric skips xxhash)

    series: dict = {}
    bad = 0
    dropped = 0
    warnings: list = []
    try:
        f = open_regular(path)
    except FileNotFoundError:
        return series, warnings
    except NotARegularFile:
        return series, ["the metrics stream is not a regular file; not read"]
    except OSError as e:
        return series, [f"the metrics stream cannot be read ({e.strerror or e}); not read"]
    with f:
        total = 0
        while True:
            raw = f.readline(MAX_LINE + 1)
            if not raw:
                break
            if len(raw) > MAX_LINE:
                bad += 1
                while raw and not raw.endswith(b"\n"):  # the rest of the long line, a piece at a time
                    raw = f.readline(MAX_LINE)
                continue
            point = _point(raw)
            if point is None:
                bad += 1
                continue
            if total >= MAX_POINTS:
                dropped += 1
                continue
            name, value, step, stamp = point
            points = series.setdefault(name, [])
            points.append((len(points) if step is None else step, value, stamp))
            total += 1
    if bad:
        warnings.append(f"{bad} line(s) of the metrics stream are not a metric point; left out")
    if dropped:
        warnings.append(f"the metrics stream has more than {MAX_POINTS} points; {dropped} left out")
    return series, warnings


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
