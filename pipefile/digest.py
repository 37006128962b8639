"""Content digests: xxh3-128 of files, folders (Merkle trees) and canonical JSON.

A `StatCache` remembers, per workspace path, the stat signature (size,
mtime_ns, ctime_ns, inode) under which a digest was computed, so that a file
whose signature is unchanged is not read again: a no-op costs stats, not
reads. A digest is only trusted when the file's last change (mtime, or ctime: tar
sets mtimes back) lies clearly before it was hashed ("racy" timestamps: a write in
the same clock tick would leave the signature unchanged); else it is hashed again.

Digests are 32 lowercase hex characters. Trees are described by manifests,
canonical JSON lists of (name, kind, digest, size) prefixed by TREE_MAGIC;
a tree's digest is the digest of its manifest bytes, so every object in the
content store is named by the digest of its own bytes.
"""

from __future__ import annotations

import json
import os
import stat as statmod
import threading
import time
from dataclasses import field
from typing import Any, Callable, Iterator, Optional

import xxhash

from . import names
from .filehash import RACY_COARSE_NS as _RACY_COARSE_NS
from .filehash import RACY_NS as _RACY_NS  # noqa: F401 (the rule's constants, read here by tests)
from .filehash import SMALL, hash_file, racy, racy_stat, read_chunks, small_file_digest  # noqa: F401 (read_chunks used through this module too)
from .lazyclass import dataclass

TREE_MAGIC = b"pipefile-tree-1\n"
FILE = "file"
TREE = "tree"

# Entry kinds inside a tree manifest.
E_FILE, E_EXEC, E_TREE, E_LINK = "f", "x", "d", "l"

# Never part of a folder's content: caches and metadata that tools write next to sources
# (python writes __pycache__ into a `code:` folder while the step runs).
IGNORED_NAMES = frozenset({"__pycache__", ".ipynb_checkpoints", ".pipe", ".git", ".hg", ".svn", ".DS_Store"})
IGNORED_SUFFIXES = (".pyc", ".pyo", ".swp", ".swo")


def hash_bytes(data: bytes) -> str:
    return xxhash.xxh3_128_hexdigest(data)


# One encoder for all: json.dumps with these options builds a new one on every call.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(obj: Any) -> bytes:
    return _CANONICAL.encode(obj).encode()


def hash_json(obj: Any) -> str:
    return hash_bytes(canonical_json(obj))


@dataclass(frozen=True)
class PathDigest:
    """The content of a workspace path: a file or a folder (tree)."""

    kind: str  # FILE or TREE
    digest: str
    size: int  # bytes of file content (a tree: the sum over its files)
    executable: bool = False  # a file's exec bit (inside a tree it is in the manifest)

    def short(self) -> str:
        return f"{self.digest[:10]}" + ("/" if self.kind == TREE else "") + ("*" if self.executable else "")

    def same_content(self, other: "PathDigest") -> bool:
        return (self.kind, self.digest, self.executable) == (other.kind, other.digest, other.executable)

    def to_json(self) -> dict:
        d = {"kind": self.kind, "digest": self.digest, "size": self.size}
        if self.executable:
            d["exec"] = True
        return d

    @staticmethod
    def from_json(d: dict) -> "PathDigest":
        return PathDigest(d["kind"], d["digest"], int(d.get("size", 0)), bool(d.get("exec", False)))


@dataclass
class Tree:
    """A folder's Merkle tree: its digest, the manifest of each sub-folder, every file."""

    digest: str
    size: int
    manifests: dict = field(default_factory=dict)  # digest -> manifest bytes
    files: list = field(default_factory=list)  # (relative path, digest, size, executable)
    links: list = field(default_factory=list)  # (relative path, target)


def link_stays_inside(target, depth: int) -> bool:
    """A link target (text or bytes) that is relative and, read from a folder `depth` levels
    below the top of a stored folder, never climbs out of it: what a restored link may point at."""
    if isinstance(target, bytes):
        try:
            target = target.decode()
        except UnicodeDecodeError:
            return False
    if not target or target.startswith("/") or "\0" in target:
        return False
    level = depth
    for part in target.split("/"):
        if part == "..":
            level -= 1
            if level < 0:
                return False
        elif part not in ("", "."):
            level += 1
    return True


def parse_manifest(data: bytes) -> list:
    if not data.startswith(TREE_MAGIC):
        raise ValueError("not a tree manifest")
    try:
        return json.loads(data[len(TREE_MAGIC) :])
    except RecursionError:  # nested deeper than pipe ever writes (bytes from a remote)
        raise ValueError("not a tree manifest: nested too deep") from None


def _manifest_bytes(entries: list) -> bytes:
    entries.sort(key=lambda e: e[0])
    return TREE_MAGIC + canonical_json(entries)


# A stat cache entry: (size, mtime_ns, ctime_ns, inode, digest, recorded_ns, in_folder).
# A folder entry: (listing digest, tree digest, size, recorded_ns). The listing digest covers
# the name and stat signature of every file directly inside and the digest of every
# sub-folder, so an unchanged listing means unchanged content; it is trusted while no file in
# it changed within 2 s of the record (by its mtime), nor in a racy window (by its ctime).


def signature(st: os.stat_result) -> tuple:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


class StatCache:
    """path -> digest, valid while the file's stat signature is unchanged; and folder ->
    digest, valid while the folder's listing is unchanged (a no-op over a folder of
    100,000 files then costs its stats, without a lookup per file).

    Purely in memory; `workspace.state` loads and saves it. The entries of files inside
    folders are loaded only when a folder's listing changed (`load_under`). `dirty` holds
    what was added since loading, for the owner to persist: files by path, folders by
    path + "/".
    """

    def __init__(
        self,
        entries: Optional[dict] = None,
        folders: Optional[dict] = None,
        load_under: Optional[Callable[[str], dict]] = None,
    ):
        self.entries: dict = entries if entries is not None else {}
        self.folders: dict = folders if folders is not None else {}
        self.dirty: dict = {}
        self.hashed_bytes = 0  # what this cache could not spare us: bytes actually read
        self._load_under = load_under
        self._loaded: set = set()
        self._lock = threading.Lock()  # executor threads record while the main thread saves

    def lookup(self, path: str, st: os.stat_result) -> Optional[str]:
        e = self.entries.get(path)
        if e is None:
            return None
        if e[0] != st.st_size or e[1] != st.st_mtime_ns or e[2] != st.st_ctime_ns or e[3] != st.st_ino:
            return None
        if racy_stat(e[5], st):  # (ctime: an mtime set back by tar or cp -p)
            return None
        return e[4]

    def record(self, path: str, st: os.stat_result, digest: str, recorded_ns: int, in_folder: bool = False) -> None:
        e = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, digest, recorded_ns, int(in_folder))
        with self._lock:
            self.entries[path] = e
            self.dirty[path] = e

    def folder(self, rel: str, listing: str, newest_ns: int, changed_ns: int = 0) -> Optional[tuple]:
        """(digest, size) of a folder whose listing is unchanged (its newest mtime, ctime), else None."""
        e = self.folders.get(rel)
        if e is None or e[0] != listing or e[3] - newest_ns <= _RACY_COARSE_NS or racy(e[3], changed_ns):
            return None
        return e[1], e[2]

    def record_folder(self, rel: str, listing: str, digest: str, size: int, recorded_ns: int) -> None:
        e = (listing, digest, size, recorded_ns)
        with self._lock:
            self.folders[rel] = e
            self.dirty[rel + "/"] = e

    def load_under(self, rel: str) -> None:
        """Make the stored entries of the files under folder `rel` available."""
        if self._load_under is None:
            return
        parts = rel.split("/")
        if any("/".join(parts[:i]) in self._loaded for i in range(1, len(parts) + 1)):
            return
        rows = self._load_under(rel)
        with self._lock:
            self._loaded.add(rel)
            for p, e in rows.items():
                self.entries.setdefault(p, e)

    def take_dirty(self) -> dict:
        """The entries recorded since the last call, for the owner to persist."""
        with self._lock:
            out, self.dirty = self.dirty, {}
        return out

    def file_digest(self, path: str, abspath: str, st: os.stat_result, in_folder: bool = False) -> str:
        d = self.lookup(path, st)
        if d is not None:
            return d
        started = time.time_ns()
        # (A regular file only: a FIFO or a device says 0 bytes, and one read of it is not its content.)
        small = st.st_size <= SMALL and statmod.S_ISREG(st.st_mode)
        d = small_file_digest(abspath, st.st_size) if small else None
        if d is None:
            d = hash_file(abspath)
        self.hashed_bytes += st.st_size
        # Hashing may race with a writer: only keep the entry if the file did not move meanwhile.
        st2 = os.stat(abspath)
        if signature(st2) == signature(st):
            self.record(path, st, d, started, in_folder)
        return d


def _content_entries(entries) -> list:
    """The entries of a folder listing that are content (caches and editor files are not)."""
    return [e for e in entries if not (e.name in IGNORED_NAMES or e.name.endswith(IGNORED_SUFFIXES))]


def _stat_or_none(entry: os.DirEntry) -> Optional[os.stat_result]:
    try:
        return entry.stat()
    except FileNotFoundError:
        return None


class Hasher:
    """Digests of workspace paths, through a StatCache."""

    def __init__(self, root: str, cache: Optional[StatCache] = None):
        self.root = root
        self.cache = cache if cache is not None else StatCache()

    def abspath(self, rel: str) -> str:
        return os.path.join(self.root, rel)

    def digest(self, rel: str, contained: bool = False, data_only: bool = False) -> Optional[PathDigest]:
        """The content of a workspace path, or None if nothing is there.

        contained: the path is a step's output, captured after its command ran (see `tree`).
        data_only: None for a FIFO, socket or device too (never opened: a FIFO waits forever)."""
        ap = self.abspath(rel)
        try:
            # (An output is looked at once, without following a link: one is refused.)
            st = os.lstat(ap) if contained else os.stat(ap)
        except (FileNotFoundError, NotADirectoryError):
            return None
        if data_only and not (statmod.S_ISREG(st.st_mode) or statmod.S_ISDIR(st.st_mode)):
            return None
        if contained:
            if statmod.S_ISLNK(st.st_mode):
                self._outer_link(rel)
            if statmod.S_ISDIR(st.st_mode):
                t = self.tree(rel, contained=True)
                return PathDigest(TREE, t.digest, t.size)
            if not statmod.S_ISREG(st.st_mode):  # (opening a FIFO would wait for a writer forever)
                raise _not_data(rel, st.st_mode)
        if statmod.S_ISDIR(st.st_mode):
            d, size = self._folder_digest(rel, set())
            return PathDigest(TREE, d, size)
        return PathDigest(FILE, self.cache.file_digest(rel, ap, st), st.st_size, bool(st.st_mode & 0o111))

    def small_output(self, rel: str, most: int) -> Optional[tuple]:
        """(PathDigest, bytes) of a step's output that is a regular file of at most `most`
        bytes whose digest is not known yet, read once: the commit hashes and stores the
        same bytes, instead of reading the file twice. None otherwise (a link, a folder, a
        larger file, one known or changing as it is read): `digest` decides."""
        ap = self.abspath(rel)
        try:
            st = os.lstat(ap)
            if not statmod.S_ISREG(st.st_mode) or st.st_size > most or self.cache.lookup(rel, st) is not None:
                return None
            started = time.time_ns()
            fd = os.open(ap, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
            try:
                data = os.read(fd, most + 1)
            finally:
                os.close(fd)
            st2 = os.lstat(ap)  # (not followed: a link put there meanwhile is not this file)
        except OSError:
            return None
        if len(data) != st.st_size or signature(st2) != signature(st):
            return None  # (being written as it was read)
        d = xxhash.xxh3_128_hexdigest(data)
        self.cache.hashed_bytes += len(data)
        self.cache.record(rel, st, d, started)
        return PathDigest(FILE, d, len(data), bool(st.st_mode & 0o111)), data

    def tree(self, rel: str, contained: bool = False) -> Tree:
        """A folder's digest with every file and manifest in it (to store it).

        contained: the folder is a step's output. What a command (or an archive it unpacked)
        put there is not trusted to point anywhere: a link in it is followed only when it
        stays inside the folder, a dangling one is kept only when its target would, and any
        other link is refused (PipefileError naming it), before anything is read through it.
        Otherwise, as for inputs and code, a link counts as what it points to."""
        tree = Tree("", 0)
        seen: set = set()
        top = None
        if contained:
            self._outer_link(rel)
            top = (rel, os.path.realpath(self.abspath(rel)))
        self.cache.load_under(rel)
        tree.digest, tree.size = self._tree(rel, "", tree, seen, top)
        return tree

    def _outer_link(self, rel: str) -> None:
        """A step's output that is itself a link would store what it points at: refused."""
        ap = self.abspath(rel)
        if os.path.islink(ap):
            raise _link_refused(f"output '{rel}' is itself a symbolic link (-> {os.readlink(ap)!r})")

    @staticmethod
    def _check_link(sub: str, path: str, top: tuple) -> bool:
        """For a link at `path` (`sub` inside the output folder top = (its workspace path,
        its real path)): True to follow it, False to keep it as a dangling link; else refused.

        One message whatever lies outside, so that the refusal says nothing about the
        machine's files (a served job's invoker chooses the link)."""
        target = os.readlink(path)
        if link_stays_inside(target, sub.count("/")):
            real = os.path.realpath(path)  # through any other link on the way
            if real == top[1] or real.startswith(top[1] + os.sep):
                return True  # (the folder itself: a loop, which the walk refuses as such)
            if not os.path.lexists(real):
                return False
        raise _link_refused(
            f"output '{top[0]}' holds a symbolic link '{top[0]}/{sub}' -> {target!r}, which leads "
            f"out of the output folder"
        )

    @staticmethod
    def _enter(rel: str, dst: os.stat_result, seen: set) -> tuple:
        """Note that the walk is inside folder `rel`; a folder it is inside already is a loop."""
        ident = (dst.st_dev, dst.st_ino)
        if ident in seen:
            from .errors import PipefileError

            raise PipefileError(
                f"'{rel}' is a symbolic link back into a folder that contains it (a loop)",
                hint=f"remove the link, or point it somewhere outside: ls -l {rel}",
            )
        seen.add(ident)
        return ident

    def _scan(self, rel: str, seen: set, output: Optional[str] = None) -> tuple:
        """(identity of the folder, its entries sorted by name, ignored ones left out)."""
        ap = self.abspath(rel)
        ident = self._enter(rel, os.stat(ap), seen)
        with os.scandir(ap) as it:
            items = _content_entries(it)
        items.sort(key=lambda e: e.name)
        names.check([e.name for e in items], rel, output)  # (before any is recorded under its name)
        return ident, items

    def _folder_digest(self, rel: str, seen: set) -> tuple:
        """(digest, size) of a folder, from its listing when that is unchanged: the same
        digest as `tree`, without looking up (or even loading) an entry per file.

        This is what a no-op over a large data folder costs, so it is kept tight: entries
        are stat-ed relative to the open folder (no path lookup per file), in comprehensions
        rather than one loop with branches, and the listing is sorted instead of the entries."""
        started = time.time_ns()
        ap = self.abspath(rel)
        fd = os.open(ap, os.O_RDONLY | os.O_DIRECTORY)
        try:
            ident = self._enter(rel, os.fstat(fd), seen)
            with os.scandir(fd) as it:
                items = _content_entries(it)
            try:
                stats = [e.stat() for e in items]  # follows links: a linked file counts as its content
            except FileNotFoundError:  # a dangling link: one at a time, then
                stats = [_stat_or_none(e) for e in items]
            files = [(e.name, st) for e, st in zip(items, stats) if st is not None and statmod.S_ISREG(st.st_mode)]
            listing = [
                f"{name}/f/{st.st_size}/{st.st_mtime_ns}/{st.st_ctime_ns}/{st.st_ino}/{st.st_mode & 0o111}"
                for name, st in files
            ]
            newest = max([st.st_mtime_ns for _, st in files], default=0)
            changed = max([st.st_ctime_ns for _, st in files], default=0)  # (an mtime may be set back: tar)
            others = (
                []
                if len(files) == len(items)
                else [(e, st) for e, st in zip(items, stats) if st is None or not statmod.S_ISREG(st.st_mode)]
            )
            links = [(e.name, os.readlink(e.name, dir_fd=fd)) for e, st in others if st is None]  # dangling
            folders = [e.name for e, st in others if st is not None and statmod.S_ISDIR(st.st_mode)]
        finally:
            os.close(fd)  # before going down: one open folder at a time, however deep the tree
        listing += [f"{name}/l/{target}" for name, target in links]
        subs = []  # (name, (digest, size)) of sub-folders
        for name in folders:
            sub = self._folder_digest(f"{rel}/{name}", seen)
            listing.append(f"{name}/d/{sub[0]}/{sub[1]}")
            subs.append((name, sub))
        seen.discard(ident)
        listing.sort()  # any fixed order will do: names are unique
        sig = hash_bytes(names.encoded("\0".join(listing), rel))  # names hold no NUL (nor "/"); not UTF-8: refused
        hit = self.cache.folder(rel, sig, newest, changed)
        if hit is not None:
            return hit
        self.cache.load_under(rel)
        entries = [[name, E_LINK, hash_bytes(target.encode()), 0] for name, target in links]
        entries += [[name, E_TREE, sub[0], sub[1]] for name, sub in subs]
        total = sum(sub[1] for _, sub in subs)
        for name, st in files:
            d = self.cache.file_digest(f"{rel}/{name}", os.path.join(ap, name), st, in_folder=True)
            entries.append([name, E_EXEC if st.st_mode & 0o111 else E_FILE, d, st.st_size])
            total += st.st_size
        digest = hash_bytes(_manifest_bytes(entries))
        self.cache.record_folder(rel, sig, digest, total, started)
        return digest, total

    def _tree(self, rel: str, sub: str, tree: Tree, seen: set, top: Optional[tuple] = None) -> tuple:
        ident, items = self._scan(rel, seen, top[0] if top else None)
        entries = []
        total = 0
        for e in items:
            crel = f"{rel}/{e.name}"
            csub = f"{sub}/{e.name}" if sub else e.name
            try:
                if top is not None and e.is_symlink() and not self._check_link(csub, e.path, top):
                    raise FileNotFoundError(e.path)  # kept as the dangling link it is
                st = e.stat()  # follows links: a linked file counts as its content
            except FileNotFoundError:
                target = names.checked_target(crel, os.readlink(e.path), top[0] if top else None)
                entries.append([e.name, E_LINK, hash_bytes(target.encode()), 0])
                tree.links.append((csub, target))
                continue
            if statmod.S_ISDIR(st.st_mode):
                d, size = self._tree(crel, csub, tree, seen, top)
                entries.append([e.name, E_TREE, d, size])
            elif statmod.S_ISREG(st.st_mode):
                d = self.cache.file_digest(crel, e.path, st, in_folder=True)
                exe = bool(st.st_mode & 0o111)
                entries.append([e.name, E_EXEC if exe else E_FILE, d, st.st_size])
                tree.files.append((csub, d, st.st_size, exe))
                size = st.st_size
            else:
                continue  # sockets, fifos, devices: not data
            total += size
        seen.discard(ident)
        data = _manifest_bytes(entries)
        digest = hash_bytes(data)
        tree.manifests[digest] = data
        return digest, total


def _not_data(rel: str, mode: int):
    from .errors import PipefileError

    what = "a FIFO (named pipe)" if statmod.S_ISFIFO(mode) else "a socket or a device"
    return PipefileError(
        f"output '{rel}' is {what}, not a file or a folder; pipe stores only files and folders",
        hint=f"write a regular file at '{rel}' (or the folder it names)",
    )


def _link_refused(what: str):
    from .errors import PipefileError

    return PipefileError(
        f"{what}; pipe does not store what such a link points to, so nothing of the output was kept",
        hint="make the step copy the content into its output instead of linking to it (cp -L, "
        "tar --dereference), or use a relative link to something inside the output folder",
    )


def walk_manifest(load, digest: str, prefix: str = "") -> Iterator[tuple]:
    """(relative path, kind, digest, size) for everything under a stored tree.

    `load(digest) -> bytes` reads a manifest from wherever trees are kept.
    """
    for name, kind, d, size in parse_manifest(load(digest)):
        path = f"{prefix}/{name}" if prefix else name
        yield path, kind, d, size
        if kind == E_TREE:
            yield from walk_manifest(load, d, path)
