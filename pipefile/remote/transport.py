"""A remote store reached through fsspec: objects and run-cache entries shared between
machines, with transfers that move only what is missing and verify what they fetch.

Layout on the remote (REMOTE_VERSION 1), under the remote's URL:

    pipe-remote.json        {"v": 1, "layout": "pipefile-remote"}; written by the first push
    objects/ab/cdef...      objects named by the xxh3-128 of their bytes, as in the local store
    actions/ab/cdef....json run-cache entries, byte for byte as in the local ActionCache
    artifacts/NAME/KIND-DIGEST.json
                            one artifact version: {"v", "name", "kind", "digest", "size",
                            "path", "step", "output", "created"} (numbers are per workspace)
    tmp/                    uploads in progress (file systems with rename only)

Invariants, kept by every writer:
- An object's bytes hash to its name. Uploads to file systems (local, sftp) go to tmp/
  and are renamed to their content name, so concurrent pushes of the same object write
  the same bytes and a reader never sees half an object; object stores (s3, gs, az)
  make a PUT atomic themselves.
- A run-cache entry is uploaded only after every object it needs, so an interrupted
  push leaves objects without entries (pushed again cheaply: only missing ones move),
  never an entry pointing at nothing.
- Every downloaded object is hashed as it arrives and enters the local store only if it
  matches its name; a mismatch is refused and reported (`RemoteError`, kind "corrupt").
  Every uploaded one is hashed as it is sent, and committed only if it matches (`_send`).

Credentials are never printed: messages carry the scrubbed URL, and every error text
from a transport is scrubbed of the URL's secrets and the AWS secret variables.

`Remote` is this layout and these checks; reaching the remote's file system from several
threads, mapping its errors and writing a file whole are its `connection.Connection`.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import re
import secrets
from typing import Callable, Iterable, Optional

import xxhash

from ..cache.action_cache import parse_entry
from ..cache.content_store import ContentStore, DigestMismatch, StoreError
from ..digest import FILE, TREE
from ..filehash import NotARegularFile, open_regular
from . import folder
from .connection import DEFAULT_TRANSFERS, LOCAL_SCHEMES, Connection, Unreadable
from .spec import RemoteSpec
from .transfer import CORRUPT, FAILED, NO_SPACE, NO_SPACE_ERRNOS, Progress, RemoteError, Transfer

REMOTE_VERSION = 1
MARKER = "pipe-remote.json"
_CHUNK = 1 << 20
_MAKE_AGAIN = "store it again: pipe run STEP --force (the step that made it), then push"


class Remote(Connection):
    """One remote: its layout on top of a `Connection`."""

    def __init__(self, spec: RemoteSpec, transfers: int = DEFAULT_TRANSFERS):
        super().__init__(spec, transfers)
        self._checked = False
        self.empty = False  # set by check(): no layout marker, so nothing was ever pushed there

    # --- the layout -----------------------------------------------------------------------
    def object_path(self, digest: str) -> str:
        return self.path("objects", digest[:2], digest[2:])

    def entry_path(self, key: str) -> str:
        return self.path("actions", key[:2], key[2:] + ".json")

    def check(self) -> None:
        """Connect and read the layout marker: fails early on a bad URL or credentials, and
        refuses a remote written by a newer pipe."""
        if self._checked:
            return
        try:
            data = self.read_small(self.path(MARKER), "reading its layout", f"its layout marker {MARKER}")
        except FileNotFoundError:
            self._checked = True
            self.empty = True  # nothing pushed there yet, or a wrong URL: callers may say so
            return
        try:
            v = json.loads(data).get("v")
        except (ValueError, AttributeError, RecursionError):
            raise RemoteError(
                f"{self.spec.describe()}: its layout marker {MARKER} is not one pipe writes ({data[:40]!r})",
                CORRUPT,
                hint=f'if it holds what pipe pushed, write {{"v": {REMOTE_VERSION}, "layout": "pipefile-remote"}} '
                f"into {MARKER} there (or remove it: the next push writes it)",
            ) from None
        if v != REMOTE_VERSION:
            raise RemoteError(
                f"{self.spec.describe()} has layout version {v!r}, which this pipe does not read ({REMOTE_VERSION})",
                FAILED,
                hint="upgrade pipe, or use another remote",
            )
        self._checked = True

    # --- reading --------------------------------------------------------------------------
    def list_keys(self) -> Optional[set]:
        """Every run-cache key on the remote (one listing), or None if it cannot list (http)."""
        self.check()
        if self.read_only:
            return None
        fs = self.fs()
        base = self.path("actions")
        try:
            found = self._call("listing its run cache", fs.find, base)
        except FileNotFoundError:
            return set()
        keys = set()
        for p in found:
            head, leaf = posixpath.split(str(p))
            if leaf.endswith(".json") and not leaf.startswith("."):
                keys.add(posixpath.basename(head) + leaf[:-5])
        return keys

    def read_entry(self, key: str) -> Optional[bytes]:
        """The entry's bytes, or None if the remote has none (or a malformed one)."""
        try:
            data = self.read_small(
                self.entry_path(key), f"reading run-cache entry {key[:12]}", f"run-cache entry {key[:12]}"
            )
        except (FileNotFoundError, Unreadable):
            return None  # (a damaged entry is a miss for its key alone: the remote stays in use)
        try:
            parse_entry(key, data)
        except ValueError:
            return None
        return data

    def missing_objects(self, digests: Iterable[str], sizes: Optional[dict] = None, verify: bool = False) -> set:
        """Those of `digests` the remote lacks (checked in parallel). With `sizes` (digest ->
        its size here), one there of another size or no regular file counts as missing too
        (a copy cut short, something put there by hand), so a push replaces it; the check
        costs what looking for it does (one stat or HEAD; on a folder remote, one listing per
        objects/ab/ folder and a stat of each object there whose size is given). `verify`
        (push --repair): on a folder remote, one of the right size is hashed too."""
        digests = list(dict.fromkeys(digests))
        if self.spec.scheme in LOCAL_SCHEMES:
            return self._missing_in_folders(digests, sizes, verify)

        def lacks(d: str) -> bool:
            try:
                if sizes is None or d not in sizes:
                    return not self._call("checking its objects", self.fs().exists, self.object_path(d))
                info = self._call("checking its objects", _info, self.fs(), self.object_path(d))
            except FileNotFoundError:
                return True
            return info.get("type") != "file" or info.get("size") != sizes[d]

        return {d for d, missing in zip(digests, self._map(lacks, digests)) if missing}

    def _missing_in_folders(self, digests: list, sizes: Optional[dict], verify: bool = False) -> set:
        """missing_objects on a folder remote, a objects/ab/ folder at a time on the transfer
        threads (folder.lacking_in: one listing of a folder it needs many objects of, not a
        stat each, a round trip on NFS)."""
        strip = self.fs()._strip_protocol
        sized = sizes or {}
        groups: dict = {}
        for d in digests:
            groups.setdefault(d[:2], []).append(d)

        def lacking(ds: list) -> list:
            at = strip(self.path("objects", ds[0][:2]))
            return self._call("checking its objects", folder.lacking_in, at, ds, sized, verify)

        return {d for ds in self._map(lacking, list(groups.values())) for d in ds}

    # --- moving objects -------------------------------------------------------------------
    def download(
        self,
        store: ContentStore,
        digests: Iterable[str],
        progress: Optional[Progress] = None,
        verb: str = "download",
        sizes: Optional[dict] = None,
        limits: Optional[dict] = None,
    ) -> "Transfer":
        """Fetch the objects the local store lacks, in parallel; each is verified on arrival.
        `sizes` (digest -> bytes, where known) only sizes the progress bar; `limits` (digest
        -> the size it was listed with) stops an object that grows past it, so a lying
        remote cannot fill the disk before its bytes are found not to match.

        Returns what moved and what failed; a corrupt object is never stored."""
        todo = [d for d in dict.fromkeys(digests) if not store.has_regular(d)]
        progress = progress or Progress()
        result = Transfer(on_end=self.went_down)
        progress.begin(verb, len(todo), sum((sizes or {}).get(d, 0) for d in todo))

        def one(d: str) -> None:
            if self.down is not None:
                result.fail(d, self.down)
                return
            try:
                limit = (limits or {}).get(d)
                with self.open_read(self.object_path(d), f"downloading object {d[:12]}", f"object {d[:12]}") as f:
                    _check_size(f, limit, d)
                    n = store.put_verified(_read_chunks(f, progress, limit, d), d)
                result.add(d, n)
            except FileNotFoundError:
                result.fail(
                    d,
                    RemoteError(
                        f"{self.spec.describe()} lacks object {d[:12]}",
                        FAILED,
                        hint="push it again from a workspace that has it: pipe push --repair",
                    ),
                )
            except DigestMismatch as e:
                result.fail(
                    d,
                    RemoteError(
                        f"{self.spec.describe()}: object {d[:12]} does not match its name ({e.message}); "
                        f"refused, nothing restored from it",
                        CORRUPT,
                        hint="push it again from a workspace with a good copy: pipe push --repair",
                    ),
                )
            except RemoteError as e:
                result.fail(d, e)
            except OSError as e:
                if e.errno not in NO_SPACE_ERRNOS:  # (reading never fails so: this is the local write)
                    result.fail(d, self.error(e, f"downloading object {d[:12]}"))
                    return
                result.fail(
                    d,
                    RemoteError(
                        f"the local store ({store.root}) cannot take object {d[:12]} from {self.spec.describe()}: "
                        f"{e.strerror or e}",
                        NO_SPACE,
                        hint="free some space on that disk (pipe gc deletes what nothing kept needs), then try again",
                    ),
                )
            except StoreError as e:  # (the local store's own words: full while storing it)
                result.fail(d, RemoteError(e.message, NO_SPACE if "no space" in e.message else FAILED, e.hint))
            except Exception as e:  # noqa: BLE001 - a transport error mid-stream
                result.fail(d, self.error(e, f"downloading object {d[:12]}"))

        try:
            self._run_all(one, todo)
        finally:
            progress.end()
        return result

    def upload(self, store: ContentStore, digests: Iterable[str], progress: Optional[Progress] = None) -> "Transfer":
        """Put the given objects (all present in `store`) on the remote; callers pass only the
        missing ones. Each is hashed as it is sent, and one whose bytes do not match its name is
        never committed there (`_send`), so a rotten local copy never spreads."""
        self.require_writable()
        todo = list(dict.fromkeys(digests))
        sizes = {}
        for d in todo:
            try:
                sizes[d] = os.path.getsize(store.path(d))
            except OSError:
                sizes[d] = 0
        progress = progress or Progress()
        result = Transfer(on_end=self.went_down)
        progress.begin("upload", len(todo), sum(sizes.values()))

        def one(d: str) -> None:
            if self.down is not None:
                result.fail(d, self.down)
                return
            final = self.object_path(d)
            try:
                src = open_regular(store.path(d))
            except OSError as e:
                result.fail(d, _unsendable(store, d, e))
                return
            try:
                with src:
                    if self.atomic_put:
                        n = self._send(src, d, final, progress)
                    else:
                        self.makedirs(posixpath.dirname(final))
                        tmp = self.path("tmp", f"{d}.{secrets.token_hex(6)}")
                        with self.dropped_on_failure(tmp):
                            n = self._send(src, d, tmp, progress)
                            self.rename(tmp, final, f"renaming object {d[:12]} into place")
                result.add(d, n)
            except DigestMismatch as e:
                where = store.quarantine(d)
                result.fail(
                    d,
                    RemoteError(
                        f"local object {d[:12]} is corrupt ({e.message}); moved it to {where} and did not upload it",
                        CORRUPT,
                        hint=_MAKE_AGAIN,
                    ),
                )
            except RemoteError as e:
                result.fail(d, e)
            except FileNotFoundError as e:  # (on the remote: a folder of its path went meanwhile)
                result.fail(d, self.error(OSError(2, str(e)), f"uploading object {d[:12]}"))

        if not self.atomic_put and todo:
            self.makedirs(self.path("tmp"))
            self.makedirs(self.path("objects"))  # the parents once, here: threads only make the leaves
        try:
            self._run_all(one, todo)
            self.sync_folders()  # (the objects' names on the disk before any entry naming them)
        finally:
            progress.end()
        return result

    def _send(self, src, digest: str, dest: str, progress: Progress) -> int:
        """The local copy `src` of object `digest` written at `dest`, read once: hashed as it
        is sent (a hash first, then a copy, read every pushed byte twice). One that does not
        hash to its name raises DigestMismatch before the upload is committed: an object
        store's file commits on close (one PUT, or the multipart's completion), so it is
        discarded instead; a temp file on a file system is dropped by the caller."""
        doing = f"uploading object {digest[:12]}"
        f = self._call(doing, self.fs().open, dest, "wb")
        h = xxhash.xxh3_128()
        n = 0
        pipelined = hasattr(f, "set_pipelined")
        try:
            if pipelined:
                f.set_pipelined(True)  # (paramiko: each write not waited for, as its own put does)
            while chunk := _read_local(src, digest):
                h.update(chunk)
                n += len(chunk)
                self._call(doing, f.write, chunk)
                progress.advance(len(chunk))
            if h.hexdigest() != digest:
                raise DigestMismatch(f"its {n} bytes hash to {h.hexdigest()[:12]}")
            if not self.atomic_put:
                self.sync_file(f, doing)  # (on its disk before the rename names it)
        except BaseException:
            if not self.atomic_put:
                with contextlib.suppress(Exception):
                    f.close()
            else:
                with contextlib.suppress(Exception):
                    f.discard()  # (s3fs: aborts a multipart upload under way)
                with contextlib.suppress(Exception):
                    f.closed = True  # so that nothing (its __del__ either) commits what was written
            raise
        self._call(doing, f.close)
        if pipelined:
            # paramiko drops the answers to pipelined writes (a server's "disk full" among them):
            # the size written is checked instead, as its own put does, before the rename.
            kept = self._call(doing, _info, self.fs(), dest).get("size")
            if kept != n:
                raise RemoteError(
                    f"{self.spec.describe()}: {doing} failed: it kept {kept} of its {n} bytes "
                    "(its disk full, or a quota?)",
                    NO_SPACE,
                    hint="free some space there (or ask whoever runs it), then push again: only what is missing moves",
                )
        return n

    def _run_all(self, fn: Callable, items: list) -> None:
        self._map(fn, items)

    # --- entries, artifacts and the layout marker -----------------------------------------
    def ensure_layout(self) -> None:
        """Before a push: the layout marker (and the bucket) exist; old temp uploads go."""
        self.require_writable()
        self.check()
        fs = self.fs()
        try:
            self.read_small(self.path(MARKER), "reading its layout", f"its layout marker {MARKER}")
            self.sweep_tmp()
            return
        except FileNotFoundError:
            pass
        if self.root and not self.atomic_put:
            self.makedirs(self.root)
        elif self.root and self.spec.scheme in ("s3", "s3a"):
            bucket = self.root.split("/", 1)[0]
            try:
                self._call("checking its bucket", fs.info, bucket)
            except FileNotFoundError:
                self._call("creating its bucket", fs.mkdir, bucket)
        self._put_small(
            self.path(MARKER),
            json.dumps({"v": REMOTE_VERSION, "layout": "pipefile-remote"}).encode(),
            "writing its layout marker",
        )

    def put_entry(self, key: str, data: bytes) -> None:
        self.require_writable()
        self._put_small(self.entry_path(key), data, f"uploading run-cache entry {key[:12]}")

    def artifact_path(self, name: str, kind: str, digest: str) -> str:
        return self.path("artifacts", name, f"{kind}-{digest}.json")

    def list_artifacts(self) -> list:
        """Every artifact version record on the remote (dicts, see the layout above)."""
        self.check()
        fs = self.fs()
        try:
            found = self._call("listing artifacts", fs.find, self.path("artifacts"))
        except FileNotFoundError:
            return []
        paths = [str(p) for p in found if str(p).endswith(".json") and not posixpath.basename(str(p)).startswith(".")]

        def read(p):
            try:
                return json.loads(self.read_small(p, "reading an artifact record", "an artifact record"))
            except (FileNotFoundError, Unreadable, ValueError, RecursionError):
                return None

        return [rec for rec in self._map(read, paths) if _valid_artifact_record(rec)]

    def has_artifact(self, name: str, kind: str, digest: str) -> bool:
        try:
            return bool(self._call("checking an artifact", self.fs().exists, self.artifact_path(name, kind, digest)))
        except FileNotFoundError:
            return False

    def put_artifact(self, record: dict) -> None:
        rec = dict(record, v=REMOTE_VERSION)
        self._put_small(
            self.artifact_path(rec["name"], rec["kind"], rec["digest"]),
            json.dumps(rec, sort_keys=True).encode(),
            f"uploading artifact {rec['name']}",
        )


_ARTIFACT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")  # as the loader accepts for `name:`
_HEX32 = re.compile(r"[0-9a-f]{32}")


def _valid_artifact_record(rec) -> bool:
    """An artifact record as pipe writes it (a remote's are not trusted to be)."""
    if not (isinstance(rec, dict) and rec.get("v") == REMOTE_VERSION):
        return False
    name, kind, digest, size = rec.get("name"), rec.get("kind"), rec.get("digest"), rec.get("size", 0)
    text = (rec.get("path"), rec.get("step"), rec.get("output"))
    return (
        isinstance(name, str)
        and bool(_ARTIFACT_NAME.fullmatch(name))
        and kind in (FILE, TREE)
        and isinstance(digest, str)
        and bool(_HEX32.fullmatch(digest))
        and type(size) is int
        and 0 <= size < 1 << 62
        and all(t is None or (isinstance(t, str) and len(t) < 4096) for t in text)
    )


def _info(fs, path: str) -> dict:
    try:
        return fs.info(path)
    except NotADirectoryError:  # a file where a folder of the path is: nothing there (as exists says)
        raise FileNotFoundError(path) from None


def _check_size(f, limit: Optional[int], digest: str) -> None:
    """A local file's size is known before its first byte: one past its limit is refused
    at once (a sparse file cannot make pipe copy gigabytes only to drop them)."""
    if limit is None or not hasattr(f, "fileno"):
        return
    try:
        size = os.fstat(f.fileno()).st_size
    except (OSError, ValueError, AttributeError):
        return  # (not a local file: the limit is checked as the bytes arrive)
    if size > limit:
        raise DigestMismatch(f"content named {digest[:12]} is larger than the {limit} bytes it was listed with")


def _unsendable(store: ContentStore, digest: str, e: OSError) -> RemoteError:
    """A local object that cannot be opened to push. A FIFO, device or link to one (put there by
    hand) is set aside as a corrupt one is, so the step's next run stores it again."""
    if not isinstance(e, NotARegularFile):
        return RemoteError(
            f"object {digest[:12]} is missing from the local store ({e.strerror or e})", hint=_MAKE_AGAIN
        )
    where = store.quarantine(digest)
    return RemoteError(f"local object {digest[:12]} is not a regular file; moved it to {where}", CORRUPT, _MAKE_AGAIN)


def _read_local(src, digest: str) -> bytes:
    try:
        return src.read(_CHUNK)
    except OSError as e:  # (a local disk's error: not the remote's)
        raise RemoteError(f"local object {digest[:12]} could not be read ({e.strerror or e})") from None


def _read_chunks(f, progress: Progress, limit: Optional[int] = None, digest: str = ""):
    n = 0
    while True:
        chunk = f.read(_CHUNK)
        if not chunk:
            return
        n += len(chunk)
        if limit is not None and n > limit:
            raise DigestMismatch(f"content named {digest[:12]} is larger than the {limit} bytes it was listed with")
        progress.advance(len(chunk))
        yield chunk
