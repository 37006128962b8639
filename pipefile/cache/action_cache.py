"""ActionCache: step key -> the outputs that step produced (a constructive trace).

Layout (ACTION_CACHE_VERSION 1), under the store folder:

    actions/ab/cdef....json   {"v": 1, "key": ..., "outputs": {name: {kind, digest, size}},
                               "manifest": {...the key manifest...}, "seconds": ...,
                               "created": unix time}

An entry is written (temp file, rename) only after every object it names is in
the ContentStore, so an entry never points at a missing object; readers still
check, since objects can be deleted by hand. Entries are not fsynced: after a
power loss an entry is at worst gone or torn, which reads as a miss (the step
runs again), never as a wrong answer; objects, which may be the only copy of
something (a saved hand edit), are fsynced.
"""

from __future__ import annotations

import json
import os
import time
from typing import Optional

from ..digest import FILE, TREE, PathDigest
from ..filehash import open_regular
from .tempnames import exclusive_temp

ACTION_CACHE_VERSION = 1


class ActionCache:
    def __init__(self, store_root: str, create: bool = True):
        self.dir = os.path.join(store_root, "actions")
        self.tmp = os.path.join(store_root, "tmp")
        if create:
            os.makedirs(self.dir, exist_ok=True)
            os.makedirs(self.tmp, exist_ok=True)

    def path(self, key: str) -> str:
        return os.path.join(self.dir, key[:2], key[2:] + ".json")

    def get(self, key: str) -> Optional[dict]:
        """The entry's outputs as {name: PathDigest}, or None on a miss or an unreadable entry."""
        try:
            with open_regular(self.path(key)) as f:  # (a FIFO there: a miss, never read)
                entry = json.loads(f.read())
        except (FileNotFoundError, ValueError, OSError):
            return None
        if entry.get("v") != ACTION_CACHE_VERSION or entry.get("key") != key:
            return None
        try:
            return {n: PathDigest.from_json(d) for n, d in entry["outputs"].items()}
        except (KeyError, TypeError, ValueError):
            return None

    def put(self, key: str, outputs: dict, manifest: dict, seconds: float, held: bool = False) -> None:
        """`held`: the outputs' objects stay on a shared store, not here (the Ray executor's,
        docs/distributed.md): `pipe gc` keeps the entry all the same."""
        entry = {
            "v": ACTION_CACHE_VERSION,
            "key": key,
            "outputs": {n: d.to_json() for n, d in outputs.items()},
            "manifest": manifest,
            "seconds": round(seconds, 3),
            "created": round(time.time(), 3),
        }
        if held:
            entry[HELD] = True
        self._write(key, json.dumps(entry, sort_keys=True).encode())

    def forget(self, key: str) -> None:
        """Drop an entry (its step broke the rules: it must run, and fail, again)."""
        try:
            os.unlink(self.path(key))
        except FileNotFoundError:
            pass

    def _write(self, key: str, data: bytes) -> None:
        final = self.path(key)
        fd, tmp = exclusive_temp(self.tmp, "ac-")
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        try:
            os.replace(tmp, final)
        except FileNotFoundError:  # its folder is not made yet
            os.makedirs(os.path.dirname(final), exist_ok=True)
            os.replace(tmp, final)

    def read_raw(self, key: str) -> Optional[bytes]:
        """The entry file as stored (for copying it to a remote), or None."""
        try:
            with open_regular(self.path(key)) as f:  # (a FIFO there: a miss, never read)
                return f.read()
        except OSError:
            return None

    def put_raw(self, key: str, data: bytes) -> None:
        """Write an entry that came from elsewhere (a remote), checked by `parse_entry` first."""
        parse_entry(key, data)
        self._write(key, data)


def parse_entry(key: str, data: bytes) -> dict:
    """The outputs ({name: PathDigest}) of an entry's bytes; ValueError if it is not a valid
    entry for `key`. Strict: the bytes may come from a remote nobody vouches for, so every
    field must have the type and range pipe itself writes."""
    try:
        entry = json.loads(data, parse_constant=_no_constant)
        if not isinstance(entry, dict) or entry.get("v") != ACTION_CACHE_VERSION or entry.get("key") != key:
            raise ValueError("not an entry for this key")
        raw = entry["outputs"]
        if not isinstance(raw, dict):  # ({} is a step that declares none: the planner matches the names)
            raise ValueError("malformed entry: no outputs")
        outs = {}
        for n, d in raw.items():
            if not isinstance(d, dict) or set(d) - {"kind", "digest", "size", "exec"}:
                raise ValueError(f"malformed entry: output {n!r}")
            kind, digest, size, exe = d.get("kind"), d.get("digest"), d.get("size", 0), d.get("exec", False)
            if (
                kind not in (FILE, TREE)
                or not isinstance(digest, str)
                or len(digest) != 32
                or not set(digest) <= _HEX
                or type(size) is not int
                or not 0 <= size < _MAX_SIZE
                or not isinstance(exe, bool)
            ):
                raise ValueError(f"malformed entry: output {n!r} is {d!r}")
            outs[n] = PathDigest(kind, digest, size, exe)
    except (KeyError, TypeError, AttributeError, UnicodeDecodeError, RecursionError) as e:
        raise ValueError(f"malformed entry: {e!r}") from None
    return outs


_HEX = frozenset("0123456789abcdef")
HELD = "held"  # in an entry whose outputs' objects are on a shared store only (ActionCache.put)
_MAX_SIZE = 1 << 62  # far above any real output; refuses sizes that overflow what reads them


def _no_constant(name: str):
    raise ValueError(f"malformed entry: {name} is not a number pipe writes")


class FilteredActionCache:
    """An ActionCache as one reader may see it: an entry `may_use(key)` refuses reads as a
    miss (the step runs, as if it had never been built), and `before_put(key)` is told of
    an entry before it is written. What `pipe serve` hands a token's jobs (serve/worker.py):
    the planner and the executor use it as they would the cache itself."""

    def __init__(self, inner: ActionCache, may_use, before_put):
        self.inner = inner
        self.dir, self.tmp = inner.dir, inner.tmp
        self.may_use = may_use
        self.before_put = before_put

    def path(self, key: str) -> str:
        return self.inner.path(key)

    def get(self, key: str) -> Optional[dict]:
        return self.inner.get(key) if self.may_use(key) else None

    def read_raw(self, key: str) -> Optional[bytes]:
        return self.inner.read_raw(key) if self.may_use(key) else None

    def put(self, key: str, outputs: dict, manifest: dict, seconds: float, held: bool = False) -> None:
        self.before_put(key)
        self.inner.put(key, outputs, manifest, seconds, held)

    def put_raw(self, key: str, data: bytes) -> None:
        parse_entry(key, data)
        self.before_put(key)
        self.inner.put_raw(key, data)
