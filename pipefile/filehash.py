"""A file's content digest (xxh3-128, streamed): the one function both digest.py (every
digest pipe computes) and the no-op record's answer to a touched file (noop_touch.py) use,
so the two can never disagree. Here apart because the record's answer must not import
digest.py (json, dataclasses, threading: ~8 ms of start-up); this imports only xxhash. A file
of known small size is read in one call (`small_file_digest`): the same digest, fewer calls."""

from __future__ import annotations

import os
import stat as statmod
from typing import Iterator, Optional

import xxhash

_CHUNK = 1 << 20
SMALL = 1 << 16  # read in one call: a file this size or less (read_chunks, small_file_digest)
RACY_NS = 100_000_000  # 0.1 s: well above the kernel's coarse clock tick
RACY_COARSE_NS = 2_000_000_000  # file systems with whole-second timestamps


def racy(recorded_ns: int, changed_ns: int) -> bool:
    """Whether a file last changed at `changed_ns` may have changed again, unseen by its stat,
    after a digest recorded at `recorded_ns` (a write in the same clock tick keeps its times).
    `changed_ns`: the newer of its mtime and ctime, as tar, cp -p and rsync -t set an mtime back
    (the stat cache's rule: digest.py)."""
    return recorded_ns - changed_ns <= (RACY_COARSE_NS if changed_ns % 1_000_000_000 == 0 else RACY_NS)


def racy_stat(recorded_ns: int, st) -> bool:
    """`racy` of a file by its stat: its last change is the newer of its mtime and ctime."""
    return racy(recorded_ns, max(st.st_mtime_ns, st.st_ctime_ns))


def read_chunks(f) -> Iterator:
    """The content of an unbuffered binary file, in pieces: one small read for a small
    file (no big buffer to allocate), then a reused 1 MiB buffer; memory stays flat."""
    head = f.read(SMALL)
    if not head:
        return
    yield head
    if len(head) < SMALL:
        more = f.read(SMALL)  # b"" at end of file: the common case ends here
        if not more:
            return
        yield more
    buf = bytearray(_CHUNK)
    view = memoryview(buf)
    while n := f.readinto(buf):
        yield view[:n]


def open_unbuffered(path: str, regular_only: bool = False):
    """The file at `path`, binary and unbuffered (for `read_chunks`). `regular_only`: a FIFO or
    a device there raises NotARegularFile (see open_regular) instead of being waited on."""
    return open_regular(path, buffering=0) if regular_only else open(path, "rb", buffering=0)


def hash_file(path: str, regular_only: bool = False) -> str:
    """Stream a file through xxh3-128 (`regular_only`: see open_unbuffered)."""
    h = xxhash.xxh3_128()
    with open_unbuffered(path, regular_only) as f:
        for chunk in read_chunks(f):
            h.update(chunk)
    return h.hexdigest()


def small_file_digest(abspath: str, size: int) -> Optional[str]:
    """The digest of a file of `size` bytes read in one call (no file object, no second read
    to find its end: the stat after the read tells a change); None if it holds more now."""
    fd = os.open(abspath, os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = os.read(fd, size + 1)
    finally:
        os.close(fd)
    return xxhash.xxh3_128_hexdigest(data) if len(data) == size else None


class NotARegularFile(OSError):
    """What `open_regular` raises for a FIFO, a socket or a device (or a link to one)."""


def open_regular(path: str, buffering: int = -1):
    """A binary file object for the regular file at `path` (links followed), for the files
    pipe writes and reads back itself (a step's log, a stored object): a FIFO or a device found
    there instead raises NotARegularFile, never read (opening a FIFO waits for a writer;
    /dev/zero never ends). `buffering`: as open()'s (0: unbuffered, for `read_chunks`)."""
    # O_NONBLOCK: so that opening a FIFO returns at once and it can be refused
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        if not statmod.S_ISREG(os.fstat(fd).st_mode):
            raise NotARegularFile(f"not a regular file: {path}")
        os.set_blocking(fd, True)
        return open(fd, "rb", buffering=buffering, closefd=True)
    except BaseException:
        os.close(fd)
        raise
