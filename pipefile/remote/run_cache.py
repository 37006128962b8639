"""A remote's run cache as the planner and the executor use it: a read-only lookup that
answers before anything is downloaded (`RemoteRunCache`), the download of exactly what a
restore needs (`RemoteFetcher`, `fetch_contents`), and the object closure of an output.

Nothing from a remote is trusted but its bytes' digests: every object is verified on
arrival (remote/transport.py), and every folder manifest is checked to name only plain entries
before anything it names is fetched or written.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Iterable, Optional

from ..cache.action_cache import parse_entry
from ..cache.content_store import ContentStore, safe_manifest_entry
from ..digest import E_LINK, E_TREE, FILE, PathDigest, link_stays_inside, parse_manifest
from ..errors import PipefileError
from .transfer import CORRUPT, Progress, RemoteError, Transfer
from .transport import Remote

# A folder manifest is read whole into memory; pipe writes about 70 bytes a name, so this is
# millions of names in one folder. Past it, a remote's manifest is refused before it can
# fill the disk (its size is not listed anywhere, unlike a file's).
MAX_MANIFEST = 256 << 20
# A link's target (the text of a link that pointed nowhere) is no longer than a path: PATH_MAX
# is 4096 on Linux. Its size is listed nowhere either, so this bounds it instead.
MAX_LINK = 64 << 10


class RemoteRunCache:
    """The remote's run cache as a read-only lookup for the planner: listed once (on the first
    question, so a run with nothing to decide never connects), entries read on a hit.

    An unusable remote answers "miss" from then on, after telling `on_error` once: the run
    goes on with local work."""

    def __init__(self, remote: Remote, on_error: Optional[Callable] = None):
        self.remote = remote
        self.name = remote.name
        self.on_error = on_error
        self.error: Optional[RemoteError] = None
        self._keys: Optional[set] = None
        self._listed = False
        self._entries: dict = {}
        self._lock = threading.Lock()

    def _fail(self, e: RemoteError) -> None:
        self.error = e
        if self.on_error:
            self.on_error(e)

    def get(self, key: str) -> Optional[dict]:
        """{output name: PathDigest} if the remote has an entry for `key`."""
        data = self.entry(key)
        return parse_entry(key, data) if data is not None else None

    def entry(self, key: str) -> Optional[bytes]:
        with self._lock:
            if self.error is not None:
                return None
            if key in self._entries:
                return self._entries[key]
            try:
                if not self._listed:
                    self._keys = self.remote.list_keys()
                    self._listed = True
                if self._keys is not None and key not in self._keys:
                    data = None
                else:
                    data = self.remote.read_entry(key)
            except RemoteError as e:
                self._fail(e)
                return None
            self._entries[key] = data
            return data


class RemoteFetcher:
    """Downloads what a RESTORE needs into the local store, then writes the local entry."""

    def __init__(self, cache: RemoteRunCache, store: ContentStore, actions):
        self.cache = cache
        self.remote = cache.remote
        self.store = store
        self.actions = actions
        self.total = Transfer()
        self._lock = threading.Lock()
        self.seconds = 0.0

    def cancel(self) -> None:
        self.remote.cancel()

    def needs(self, outputs: dict) -> bool:
        return not all(self.store.complete(d) for d in outputs.values())

    def fetch(self, key: str, outputs: dict) -> None:
        """Make every object of `outputs` present locally (raises RemoteError otherwise)."""
        t0 = time.monotonic()
        t = fetch_contents(self.remote, self.store, outputs.values())
        with self._lock:
            self.total.merge(t)
            self.seconds += time.monotonic() - t0
        if t.failed:
            raise t.failed[0][1]
        data = self.cache.entry(key)
        if data is not None and self.actions.get(key) is None:
            try:
                self.actions.put_raw(key, data)
            except (ValueError, OSError):
                pass  # the objects are here; a missing local entry only costs a remote lookup


def fetch_contents(
    remote: Remote, store: ContentStore, contents: Iterable[PathDigest], progress: Optional[Progress] = None
) -> Transfer:
    """Download every object missing locally for these files and folders: the tree manifests
    level by level (each verified before it is read, and checked to name only plain
    entries), then all files at once; a link's target must stay inside its folder."""
    total = Transfer()
    files: list = []
    level: dict = {}  # manifest digest -> the depths (folders below its output) it sits at
    sizes: dict = {}
    links: dict = {}  # link target's digest -> depths
    limits: dict = {}  # file digest -> the largest size it is listed with
    for d in contents:
        if d.kind == FILE:
            files.append(d.digest)
            sizes[d.digest] = limits[d.digest] = max(d.size, limits.get(d.digest, 0))
        else:
            level.setdefault(d.digest, set()).add(0)
    seen: dict = {}
    while level:
        # A manifest met again at a new depth is checked again there (its links' reach changes).
        level = {m: ds - seen.get(m, set()) for m, ds in level.items() if ds - seen.get(m, set())}
        for m, ds in level.items():
            seen.setdefault(m, set()).update(ds)
        t = remote.download(store, list(level), None, "download", limits=dict.fromkeys(level, MAX_MANIFEST))
        total.merge(t)
        if t.failed:
            return total
        nxt: dict = {}
        for m, depths in level.items():
            try:
                entries = parse_manifest(store.read(m))
            except (ValueError, PipefileError) as e:
                total.fail(m, _unsafe(remote, f"object {m[:12]} is not a folder manifest ({e})"))
                return total
            for e in entries if isinstance(entries, list) else [None]:
                if not safe_manifest_entry(e):
                    total.fail(m, _unsafe(remote, f"folder manifest {m[:12]} has an unsafe entry {repr(e)[:200]}"))
                    return total
                _name, kind, child, size = e
                if kind == E_TREE:
                    nxt.setdefault(child, set()).update(x + 1 for x in depths)
                else:
                    files.append(child)
                    sizes[child] = size
                    if kind == E_LINK:  # (its size is 0: the target's length is not listed)
                        links.setdefault(child, set()).update(depths)
                    else:
                        limits[child] = max(size, limits.get(child, 0))
        level = nxt
    # A link's target has no listed size: bounded as a path is (was: not at all, so a remote
    # could send endless bytes for one), or as the largest file of the same digest.
    for d in links:
        limits[d] = max(limits.get(d, 0), MAX_LINK)
    total.merge(remote.download(store, files, progress, "download", sizes, limits))
    for d, depths in links.items():
        if store.has(d) and not link_stays_inside(store.read(d), min(depths)):
            total.fail(d, _unsafe(remote, f"a folder holds a link to {store.read(d)[:200]!r}, outside it"))
    return total


def _unsafe(remote: Remote, what: str) -> RemoteError:
    return RemoteError(
        f"{remote.spec.describe()}: {what}; refused, nothing restored from it",
        CORRUPT,
        hint="the remote was written by something other than pipe: check who can write to it",
    )


def closure(store: ContentStore, content: PathDigest) -> list:
    """Every object `content` needs, from the local store (the manifests included)."""
    if content.kind == FILE:
        return [content.digest]
    out = [content.digest]
    for _p, _kind, d, _s in store.walk(content.digest):
        out.append(d)
    return out
