"""ContentStore: immutable objects named by the xxh3-128 digest of their bytes.

Layout (STORE_VERSION 1), under the store folder (`.pipe/store` by default):

    objects/ab/cdef...      one file per object, read-only; a folder's tree
                            manifest is an object like any other
    tmp/                    objects being written; never read
    corrupt/                objects found not to match their name, moved aside

An object is written to tmp/, checked against its digest, made read-only and
renamed into place; an object that already exists is kept. So a crash leaves at
worst a stray temp file, never a wrong or partial object. Objects are fsynced:
at once when they may be the only copy of something (a saved hand edit), and for
step outputs by a background thread that a run waits for before it ends (see
`BackgroundSync`): a power loss mid-run can then leave a torn object, which
verify-on-read quarantines and the step reruns.
Files are copied in and out (reflinked where the file system allows), never
hard-linked, so editing a workspace file can never change a stored object.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat as statmod
import time
from typing import Callable, Optional

import xxhash

from .. import names
from ..digest import (
    E_EXEC,
    E_FILE,
    E_LINK,
    E_TREE,
    FILE,
    PathDigest,
    Tree,
    link_stays_inside,
    parse_manifest,
    read_chunks,
)
from ..errors import PipefileError
from ..filehash import NotARegularFile, open_regular, open_unbuffered
from .background_sync import BackgroundSync
from .tempnames import exclusive_temp

STORE_VERSION = 1
_FICLONE = 0x40049409
_STALE_TMP_SECONDS = 24 * 3600


class StoreError(PipefileError):
    pass


class CorruptObject(StoreError):
    """A stored object whose bytes do not match its name. It is moved to corrupt/."""


class DigestMismatch(StoreError):
    """Bytes from elsewhere that do not hash to the name they came under: never stored."""


class ContentChanged(StoreError):
    """A file changed while it was being stored."""


Stop = Callable[[], bool]  # asked during a long copy: True stops it
_NO_REFLINK = (errno.EOPNOTSUPP, errno.ENOTTY, errno.ENOSYS)
_reflinks = True  # False once a file system said it cannot clone (asked again for nothing, each step)


def _reflink(src_fd: int, dst_fd: int) -> bool:
    global _reflinks
    if not _reflinks:
        return False
    try:
        fcntl.ioctl(dst_fd, _FICLONE, src_fd)
        return True
    except OSError as e:
        if e.errno in _NO_REFLINK:
            _reflinks = False
        return False


def copy_file(src: str, dst_fd: int, regular_only: bool = False, stop: Optional[Stop] = None) -> str:
    """Copy `src` into the open file `dst_fd` and return the digest of what was written.
    `regular_only`: a FIFO or a device at `src` raises NotARegularFile, never waited on (a
    stored object: a step's output was checked to be a file when it was collected). `stop`:
    asked at each chunk; True raises InterruptedError (Ctrl-C during a copy of gigabytes)."""
    h = xxhash.xxh3_128()
    with open_unbuffered(src, regular_only) as f:
        if _reflink(f.fileno(), dst_fd):
            with open(dst_fd, "rb", buffering=0, closefd=False) as r:
                r.seek(0)
                for chunk in read_chunks(r):
                    _stopped(stop)
                    h.update(chunk)
            return h.hexdigest()
        for chunk in read_chunks(f):
            _stopped(stop)
            h.update(chunk)
            view = memoryview(chunk)
            while view:
                view = view[os.write(dst_fd, view) :]
    return h.hexdigest()


def _stopped(stop: Optional[Stop]) -> None:
    if stop is not None and stop():
        raise InterruptedError(errno.EINTR, "stopped (interrupted)")


def _space_error(what: str, e: OSError) -> StoreError:
    if e.errno == errno.ENOSPC:
        return StoreError(
            f"no space left on the device while {what}",
            hint="free some space, then run again; the previous outputs were kept",
        )
    return StoreError(f"{what} failed: {e.strerror or e}")


class ContentStore:
    def __init__(self, root: str, create: bool = True):
        self.root = root
        self.objects = os.path.join(root, "objects")
        self.tmp = os.path.join(root, "tmp")
        self.background_sync: Optional[BackgroundSync] = None  # set by a run; None: fsync inline
        if create:
            os.makedirs(self.objects, exist_ok=True)
            os.makedirs(self.tmp, exist_ok=True)

    def start_background_sync(self) -> None:
        if self.background_sync is None:
            self.background_sync = BackgroundSync()

    def stop_background_sync(self) -> None:
        """Waits until every object written so far is on disk."""
        sync, self.background_sync = self.background_sync, None
        if sync is not None:
            sync.wait()
            sync.close()

    def path(self, digest: str) -> str:
        return os.path.join(self.objects, digest[:2], digest[2:])

    def has(self, digest: str) -> bool:
        return os.path.exists(self.path(digest))

    def has_regular(self, digest: str) -> bool:
        """`has`, for a caller about to fetch what is missing (a pull): a FIFO, socket or device
        there (never made by pipe) is moved aside and counts as missing, so it is fetched again
        instead of counted present and left to fail the next restore. (`has` itself stays a
        plain existence test: its many callers must not set anything aside.)"""
        path = self.path(digest)
        try:
            if statmod.S_ISREG(os.stat(path).st_mode):
                return True
        except OSError:
            if not os.path.lexists(path):
                return False
        self.quarantine(digest)
        return False

    def sweep_tmp(self) -> None:
        """Remove temp files left by crashed writers long ago (others may be writing now)."""
        cutoff = time.time() - _STALE_TMP_SECONDS
        for e in os.scandir(self.tmp):
            try:
                if e.stat(follow_symlinks=False).st_mtime < cutoff:
                    import shutil  # here, not at the top: a no-op run removes nothing (start-up)

                    (shutil.rmtree if e.is_dir(follow_symlinks=False) else os.unlink)(e.path)
            except OSError:
                pass

    # --- writing ------------------------------------------------------------------------
    def _finish(self, tmp_path: str, fd: int, digest: str, expected: Optional[str], durable: bool = True) -> str:
        if expected is not None and digest != expected:
            os.close(fd)
            os.unlink(tmp_path)
            raise ContentChanged(
                f"content changed while it was being stored (expected {expected[:12]}, got {digest[:12]})",
                hint="something else is writing this file; run again when it is done",
            )
        sync = None if durable else self.background_sync
        if sync is None:
            os.fsync(fd)
        os.fchmod(fd, 0o444)
        os.close(fd)
        final = self.path(digest)
        # (Stored already, by another task or process: the same bytes, put in its place.)
        try:
            os.replace(tmp_path, final)
        except FileNotFoundError:  # its folder is not made yet
            os.makedirs(os.path.dirname(final), exist_ok=True)
            os.replace(tmp_path, final)
        if sync is not None:
            sync.add(final)
        return digest

    def put_file(
        self, src: str, expected: Optional[str] = None, durable: bool = True, stop: Optional[Stop] = None
    ) -> str:
        """Store a file's content; returns its digest. Skips the copy if `expected` is stored.

        durable=False: the content can be made again (a step's output), so during a run
        its fsync may be left to the background thread. `stop`: copy_file's (StoreError
        when it stopped it; the temp file removed)."""
        if expected is not None and self.has(expected):
            return expected
        fd, tmp_path = exclusive_temp(self.tmp, "obj-")
        try:
            digest = copy_file(src, fd, stop=stop)
        except OSError as e:
            os.close(fd)
            os.unlink(tmp_path)
            raise _space_error(f"storing {src}", e) from None
        try:
            return self._finish(tmp_path, fd, digest, expected, durable)
        except OSError as e:
            if os.path.exists(tmp_path):
                os.unlink(tmp_path)
            raise _space_error(f"storing {src}", e) from None

    def put_bytes(self, data: bytes, durable: bool = True, what: str = "storing a tree manifest") -> str:
        digest = xxhash.xxh3_128_hexdigest(data)
        if self.has(digest):
            return digest
        fd, tmp_path = exclusive_temp(self.tmp, "obj-")
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            return self._finish(tmp_path, fd, digest, None, durable)
        except OSError as e:
            try:
                os.close(fd)
            except OSError:
                pass
            if os.path.exists(tmp_path):
                os.unlink(tmp_path)
            raise _space_error(what, e) from None

    def put_verified(self, chunks, expected: str) -> int:
        """Store bytes that come from elsewhere (a remote) only if they hash to `expected`.

        Returns the number of bytes; raises DigestMismatch (and keeps nothing) otherwise."""
        import tempfile

        if self.has(expected):
            return 0
        fd, tmp_path = tempfile.mkstemp(dir=self.tmp, prefix="dl-")
        h = xxhash.xxh3_128()
        n = 0
        try:
            for chunk in chunks:
                h.update(chunk)
                n += len(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view) :]
        except BaseException:
            os.close(fd)
            os.unlink(tmp_path)
            raise
        got = h.hexdigest()
        if got != expected:
            os.close(fd)
            os.unlink(tmp_path)
            raise DigestMismatch(f"content named {expected[:12]} hashes to {got[:12]}")
        try:
            self._finish(tmp_path, fd, got, None)
        except OSError as e:
            if os.path.exists(tmp_path):
                os.unlink(tmp_path)
            raise _space_error(f"storing object {expected[:12]}", e) from None
        return n

    def put_tree(self, tree: Tree, abspath: str, durable: bool = True, stop: Optional[Stop] = None) -> str:
        """Store every file of a scanned folder, then its manifests (children first)."""
        for rel, digest, _size, _exe in tree.files:
            self.put_file(os.path.join(abspath, rel), digest, durable, stop)
        for _rel, target in tree.links:
            self.put_bytes(target.encode(), durable)
        for data in tree.manifests.values():
            self.put_bytes(data, durable)
        return tree.digest

    def read(self, digest: str, set_aside: bool = True) -> bytes:
        """The object's bytes. One that is not a regular file is moved to corrupt/ (CorruptObject);
        `set_aside=False` (a reader that must change nothing: `pipe gc --dry-run`) leaves it."""
        try:
            with open_regular(self.path(digest)) as f:
                return f.read()
        except FileNotFoundError:
            raise StoreError(f"object {digest[:12]} is missing from the store at {self.root}") from None
        except NotARegularFile:
            if not set_aside:
                raise StoreError(f"object {digest[:12]} in the store is not a regular file") from None
            raise self._not_a_file(digest) from None

    def regular_path(self, digest: str) -> str:
        """The path of object `digest` for a reader that opens it by path (a preview): checked
        to be a regular file (links followed), as read() and materialize() check theirs; a FIFO
        or device there is moved aside (CorruptObject) instead of waited on for ever."""
        path = self.path(digest)
        try:
            mode = os.stat(path).st_mode
        except FileNotFoundError:
            raise StoreError(f"object {digest[:12]} is missing from the store at {self.root}") from None
        if not statmod.S_ISREG(mode):
            raise self._not_a_file(digest)
        return path

    def _not_a_file(self, digest: str) -> CorruptObject:
        """A FIFO, socket or device where an object should be (never made by pipe: put there by
        hand): reading it would wait for ever or never end. Moved aside as a corrupt object is,
        so the output is made again and the object stored again."""
        where = self.quarantine(digest)
        return CorruptObject(
            f"object {digest[:12]} in the store is not a regular file; moved it to {where}",
            hint="make that content again (run the step that made it, or add the asset again); "
            "`pipe verify` checks the rest of the store",
        )

    # --- reading back into the workspace -------------------------------------------------
    def complete(self, d: PathDigest) -> bool:
        """True if every object needed to materialise `d` is present."""
        if not self.has(d.digest):
            return False
        if d.kind == FILE:
            return True
        try:
            for _p, _kind, digest, _s in self.walk(d.digest):
                if not self.has(digest):
                    return False
        except (StoreError, ValueError):
            return False
        return True

    def walk(self, digest: str, prefix: str = ""):
        for entry in parse_manifest(self.read(digest)):
            if not safe_manifest_entry(entry):
                # Never written by pipe; a remote (or anyone with write access to the store)
                # could have: a name like '..' or 'a/b' would write outside the folder.
                raise StoreError(f"folder manifest {digest[:12]} has an unsafe entry {repr(entry)[:200]}")
            name, kind, d, size = entry
            p = f"{prefix}/{name}" if prefix else name
            yield p, kind, d, size
            if kind == E_TREE:
                yield from self.walk(d, p)

    def _copy_out(self, digest: str, dest: str, executable: bool) -> None:
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o755 if executable else 0o644)
        try:
            got = copy_file(self.path(digest), fd, regular_only=True)
        except NotARegularFile:
            os.unlink(dest)
            raise self._not_a_file(digest) from None
        finally:
            os.close(fd)
        if got != digest:
            os.unlink(dest)
            where = self.quarantine(digest)
            raise CorruptObject(
                f"object {digest[:12]} in the store is corrupt (its content hashes to {got[:12]}); moved it to {where}"
            )

    def quarantine(self, digest: str) -> str:
        """Move a bad object out of the way (kept for inspection), so it can be stored again."""
        dest_dir = os.path.join(self.root, "corrupt")
        os.makedirs(dest_dir, exist_ok=True)
        dest = os.path.join(dest_dir, digest)
        try:
            os.replace(self.path(digest), dest)
        except FileNotFoundError:
            pass
        return dest

    def materialize(self, d: PathDigest, dest: str, scratch: str) -> list:
        """Write `d` at `dest`, replacing whatever is there, atomically per path.

        The new content is built under `scratch` (a folder on the same file system as
        `dest`) and renamed into place, so `dest` is never half-written. Returns the
        files written as (path relative to `dest`, "" for `dest` itself; digest).
        """
        import shutil
        import tempfile

        written = []
        parent = os.path.dirname(dest) or "."
        os.makedirs(parent, exist_ok=True)
        if os.stat(scratch).st_dev != os.stat(parent).st_dev:
            scratch = parent  # build it where a rename can put it in place
        tmp = tempfile.mkdtemp(dir=scratch, prefix=".pipe-mat-")
        built = os.path.join(tmp, "x")
        try:
            if d.kind == FILE:
                self._copy_out(d.digest, built, d.executable)
                written.append(("", d.digest))
            else:
                os.mkdir(built)
                for rel, kind, digest, _size in self.walk(d.digest):
                    target = os.path.join(built, rel)
                    if kind == E_TREE:
                        os.mkdir(target)
                    elif kind == E_LINK:  # a link that pointed nowhere
                        link = self.read(digest)
                        # Never made by pipe (it refuses such outputs); from an older store or a
                        # hand edit, a link out of the folder would let what reads it read elsewhere.
                        if not link_stays_inside(link, rel.count("/")):
                            raise StoreError(
                                f"the stored folder {d.digest[:12]} holds a link '{rel}' -> "
                                f"{link[:200]!r}, which leads out of the folder; not restored",
                                hint="remove that content (pipe gc) and run the step that made it again",
                            )
                        os.symlink(link.decode(), target)
                    else:
                        self._copy_out(digest, target, kind == E_EXEC)
                        written.append((rel, digest))
            replace_path(built, dest, scratch)
            return written
        except OSError as e:
            raise _space_error(f"restoring {dest}", e) from None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


_HEX = frozenset("0123456789abcdef")


def safe_manifest_entry(e) -> bool:
    """A tree manifest entry as pipe writes it: [name, kind, digest, size] with a plain name
    (no '/', not '.' or '..', UTF-8), so that it cannot write outside its folder."""
    if not (isinstance(e, list) and len(e) == 4 and type(e[3]) is int and 0 <= e[3] < 1 << 62):
        return False
    name, kind, digest, _size = e
    return (
        isinstance(name, str)
        and name not in ("", ".", "..")
        and "/" not in name
        and "\0" not in name
        and names.is_utf8(name)  # (JSON can escape a lone surrogate: a name pipe refuses to store)
        and kind in (E_FILE, E_EXEC, E_TREE, E_LINK)
        and isinstance(digest, str)
        and len(digest) == 32
        and set(digest) <= _HEX
    )


def remove_path(path: str) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if statmod.S_ISDIR(st.st_mode):
        import shutil  # (here: most calls find nothing to remove)

        shutil.rmtree(path)
    else:
        os.unlink(path)


def replace_path(src: str, dest: str, scratch: str) -> None:
    """Rename `src` over `dest`, whether each is a file or a folder.

    A folder cannot be renamed over a non-empty folder, so the old one is first
    moved into `scratch` and deleted after the swap. Across file systems (an output
    folder that is a symlink to another disk) the content is copied next to `dest`
    first, so the final step is still a rename.
    """
    try:
        os.replace(src, dest)
        return
    except OSError as e:
        import shutil  # (here: where a rename alone cannot do it; a run's first step paid for them)
        import tempfile

        if e.errno == errno.EXDEV:
            near = tempfile.mkdtemp(dir=os.path.dirname(dest) or ".", prefix=".pipe-move-")
            try:
                moved = os.path.join(near, "x")
                shutil.move(src, moved)
                replace_path(moved, dest, near)
            finally:
                shutil.rmtree(near, ignore_errors=True)
            return
        if e.errno not in (errno.EISDIR, errno.ENOTDIR, errno.ENOTEMPTY, errno.EEXIST):
            raise
    if not os.path.isdir(scratch) or os.stat(scratch).st_dev != os.stat(os.path.dirname(dest) or ".").st_dev:
        scratch = os.path.dirname(dest) or "."
    old = tempfile.mkdtemp(dir=scratch, prefix=".pipe-old-")
    aside = os.path.join(old, "x")
    os.replace(dest, aside)
    os.replace(src, dest)
    shutil.rmtree(old, ignore_errors=True)
