"""What a remote that is a folder on this machine (a local disk, NFS, SMB, a USB disk) does
with the OS itself rather than through fsspec: writes made durable, objects listed a folder
at a time.

Durable: a push's files survive a crash of the machine that holds them (a power cut, an NFS
server or a USB disk gone mid-push). A file is renamed to its name only after its bytes are on
that disk (fsync), so no name ever stands for no or half its content; the folders those renames
changed are synced once per push, before the run-cache entries that name the objects go up
(`Connection.sync_folders`). SFTP's counterpart is in `sftp`; object stores (S3, GCS, Azure)
answer a PUT once it is stored."""

from __future__ import annotations

import errno
import os
import stat
from typing import Iterable, Optional

# A file system that syncs no folder (some FUSE and SMB mounts): its files were synced.
_NO_FOLDER_FSYNC = (errno.EINVAL, errno.EOPNOTSUPP, errno.EBADF)


def sync_file(f) -> None:
    """A local file open for writing (fsspec's LocalFileOpener passes these calls through)."""
    f.flush()
    os.fsync(f.fileno())


def sync_folders(folders: Iterable[str]) -> None:
    """Each folder's entries (the names renames put there) onto its disk. A folder gone
    meanwhile is skipped."""
    for folder in folders:
        try:
            fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError:
            continue
        try:
            os.fsync(fd)
        except OSError as e:
            if e.errno not in _NO_FOLDER_FSYNC:
                raise
        finally:
            os.close(fd)


def names(folder: str) -> dict:
    """A folder's entries by name, one listing (no stat of each)."""
    try:
        with os.scandir(folder) as it:
            return {e.name: e for e in it}
    except NotADirectoryError:  # (a file in its place: nothing there, as a stat of each said)
        raise FileNotFoundError(folder) from None


def regular_of(entry: os.DirEntry, size: int) -> bool:
    """A listed entry is a regular file of `size` bytes (a link followed, as a reader's open does)."""
    try:
        st = entry.stat()
    except OSError:  # (a link to nothing)
        return False
    return stat.S_ISREG(st.st_mode) and st.st_size == size


def hashes_to(path: str, digest: str) -> bool:
    """The file's bytes hash to `digest` (pipe push --repair on a folder remote: a copy damaged
    in place, its size kept, is found only so)."""
    import xxhash

    from ..filehash import open_regular

    h = xxhash.xxh3_128()
    try:
        with open_regular(path) as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    except OSError:
        return False
    return h.hexdigest() == digest


def lacks(path: str, size: Optional[int], digest: Optional[str]) -> bool:
    """Whether the object at `path` is missing, found by one stat: not there, or (given its
    `size`) no regular file of that size, or (given its `digest` too) not hashing to it."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return True
    if size is None:
        return False
    if not stat.S_ISREG(st.st_mode) or st.st_size != size:
        return True
    return digest is not None and not hashes_to(path, digest)


# Objects of one objects/ab/ folder a push must look for, from which the folder is listed
# once rather than each object stat'ed: a remote of millions of objects holds thousands in
# each folder, and a push of a few objects would read every name there.
LIST_FROM = 8


def lacking_in(at: str, digests: list, sizes: dict, verify: bool) -> list:
    """Of `digests` (objects of the folder `at`), those missing: absent, or of `sizes`' size
    no regular file of it, or (`verify`) not hashing to their name. One listing of the folder
    from LIST_FROM of them, a stat each below (a reader's open follows a link: so do both)."""
    if len(digests) < LIST_FROM:
        return [d for d in digests if lacks(os.path.join(at, d[2:]), sizes.get(d), d if verify else None)]
    try:
        there = names(at)
    except FileNotFoundError:  # (nothing there yet)
        return digests
    return [
        d
        for d in digests
        if (e := there.get(d[2:])) is None
        or d in sizes
        and not (regular_of(e, sizes[d]) and (not verify or hashes_to(e.path, d)))
    ]
