"""Data sent to the server: stored by content digest, never by a client's file name.

A plain upload is one file. A tar or zip archive is a folder: it is unpacked into a
fresh temporary folder with every member checked first (regular files and folders
only: no links, devices or fifos; no absolute paths, no `..`, no member twice; the
unpacked total and the member count capped; a tar must end with its end-of-archive
marker and every member hold the bytes it declares, so a cut archive is refused, never
taken for a smaller folder), so an archive can never write outside
that folder (zip slip) or fill the disk (zip bomb). The result goes into the content
store and the temporary files are removed.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from dataclasses import dataclass

from ..digest import FILE, TREE, Hasher, StatCache, hash_file

MAX_MEMBERS = 100_000


class UploadError(Exception):
    """An upload the server refuses; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400, hint: str = ""):
        super().__init__(message)
        self.message = message
        self.status = status
        self.hint = hint


@dataclass
class Received:
    kind: str  # file or tree
    digest: str
    size: int


def _member_path(name: str) -> str:
    """The member's path inside the folder, or an UploadError: never absolute, never up."""
    if "\\" in name:
        name = name.replace("\\", "/")  # zip files written on Windows
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UploadError(f"archive member '{name}' has an absolute path", 400,
                          "archive the folder with relative paths (tar -C DIR -cf x.tar .)")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise UploadError(f"archive member '{name}' reaches outside the folder ('..')", 400,
                          "archive the folder with relative paths inside it")
    if not parts:
        return ""
    return posixpath.join(*parts)


class _Layout:
    """The paths an archive's members make, checked before anything is written: no
    member twice, and no file where another member needs a folder (`a` and `a/b`)."""

    def __init__(self):
        self.files: set = set()
        self.dirs: set = set()

    def add(self, name: str, rel: str, is_dir: bool) -> None:
        if not rel:
            if is_dir:
                return  # the archive's own root ("./")
            raise UploadError(f"archive member '{name}' is a file at the archive's root path", 400,
                              "archive the folder's contents with relative paths")
        if rel in self.files or (rel in self.dirs and not is_dir):
            raise UploadError(f"archive member '{name}' appears twice (or as both a file and a folder)", 400)
        parents = rel.split("/")[:-1]
        for i in range(1, len(parents) + 1):
            p = "/".join(parents[:i])
            if p in self.files:
                raise UploadError(f"archive member '{name}' is inside '{p}', which the archive has as a file", 400)
            self.dirs.add(p)
        (self.dirs if is_dir else self.files).add(rel)


def _check_total(total: int, max_unpacked: int) -> None:
    if total > max_unpacked:
        raise UploadError(f"the archive unpacks to more than {max_unpacked} bytes", 413,
                          "send less data, or raise the server's --max-unpacked")


def _unpack_tar(path: str, dest: str, max_unpacked: int) -> None:
    try:
        tf = tarfile.open(path, "r:*")
    except (tarfile.TarError, OSError) as e:
        raise UploadError(f"not a readable tar archive ({e})") from None
    with tf:
        members = []
        total = 0
        layout = _Layout()
        for m in tf:  # streams: a huge member list is refused before it is all read
            if len(members) >= MAX_MEMBERS:
                raise UploadError(f"the archive has more than {MAX_MEMBERS} members", 413)
            rel = _member_path(m.name)
            if m.issym() or m.islnk():
                raise UploadError(f"archive member '{m.name}' is a link; links are not accepted", 400,
                                  "archive the files the link points to instead (tar -h)")
            if not (m.isreg() or m.isdir()):
                raise UploadError(f"archive member '{m.name}' is not a regular file or folder", 400)
            layout.add(m.name, rel, m.isdir())
            total += max(m.size, 0)
            _check_total(total, max_unpacked)
            members.append((m, rel))
        _check_tar_end(tf)
        for m, rel in members:
            target = os.path.join(dest, rel) if rel else dest
            if m.isdir():
                os.makedirs(target, exist_ok=True)
                continue
            os.makedirs(os.path.dirname(target), exist_ok=True)
            src = tf.extractfile(m)
            if src is None:
                raise UploadError(f"archive member '{m.name}' cannot be read", 400)
            _copy_capped(src, target, m.size, bool(m.mode & 0o111))


def _check_tar_end(tf: tarfile.TarFile) -> None:
    """The archive must end with its end-of-archive marker (a block of zeros) where the
    member list stops: tarfile also stops quietly at the end of the data, or at a header cut
    short or garbled, which would take a damaged archive for a smaller folder."""
    try:
        tf.fileobj.seek(tf.offset)
        block = tf.fileobj.read(tarfile.BLOCKSIZE)
    except (OSError, EOFError) as e:
        raise UploadError(f"the tar archive cannot be read to its end ({e})", 400) from None
    if len(block) != tarfile.BLOCKSIZE or block.count(0) != tarfile.BLOCKSIZE:
        raise UploadError("the tar archive is cut short or damaged: it does not end with the end-of-archive "
                          "marker after its last member", 400,
                          "send the whole archive, as tar writes it (it ends with blocks of zeros)")


def _unpack_zip(path: str, dest: str, max_unpacked: int) -> None:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise UploadError(f"not a readable zip archive ({e})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            raise UploadError(f"the archive has more than {MAX_MEMBERS} members", 413)
        total = 0
        layout = _Layout()
        checked = []
        for info in infos:
            rel = _member_path(info.filename)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise UploadError(f"archive member '{info.filename}' is a link; links are not accepted", 400)
            if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                raise UploadError(f"archive member '{info.filename}' is not a regular file or folder", 400)
            is_dir = info.is_dir() or stat.S_ISDIR(mode)
            layout.add(info.filename, rel, is_dir)
            total += info.file_size  # as declared; the copy below checks what really comes out
            _check_total(total, max_unpacked)
            checked.append((info, rel, mode, is_dir))
        for info, rel, mode, is_dir in checked:
            target = os.path.join(dest, rel) if rel else dest
            if is_dir:
                os.makedirs(target, exist_ok=True)
                continue
            os.makedirs(os.path.dirname(target), exist_ok=True)
            try:
                with zf.open(info) as src:
                    _copy_capped(src, target, info.file_size, bool(mode & 0o111))
            except (zipfile.BadZipFile, RuntimeError, NotImplementedError) as e:
                raise UploadError(f"archive member '{info.filename}' cannot be read ({e})") from None


def _copy_capped(src, target: str, declared: int, executable: bool) -> None:
    """Copy at most `declared` bytes: a member that inflates past what it declared is refused."""
    written = 0
    with open(target, "xb") as out:
        while True:
            chunk = src.read(1 << 20)
            if not chunk:
                break
            written += len(chunk)
            if written > declared:
                raise UploadError(f"archive member '{target.rsplit(os.sep, 1)[-1]}' holds more than it declares", 400)
            out.write(chunk)
    if written < declared:  # its data cut short: never a smaller file
        raise UploadError(f"archive member '{target.rsplit(os.sep, 1)[-1]}' holds less than it declares "
                          f"({written} of {declared} bytes): the archive is cut short or damaged", 400,
                          "send the whole archive")
    if executable:
        os.chmod(target, 0o755)


def archive_kind(content_type: str, kind: str) -> str:
    """"file", "tar" or "zip" from the ?kind= query (first) or the Content-Type."""
    if kind:
        if kind not in ("file", "tar", "zip"):
            raise UploadError(f"unknown upload kind '{kind}'", 400, "use kind=file, kind=tar or kind=zip")
        return kind
    ct = (content_type or "").split(";")[0].strip().lower()
    if ct in ("application/x-tar", "application/tar", "application/gzip", "application/x-gzip",
              "application/x-compressed-tar"):
        return "tar"
    if ct in ("application/zip", "application/x-zip-compressed"):
        return "zip"
    return "file"


def store_upload(ws, received_path: str, kind: str, scratch: str, max_unpacked: int) -> Received:
    """Put a received file (or the folder an archive holds) into the content store."""
    if kind == "file":
        digest = ws.store.put_file(received_path, hash_file(received_path))
        return Received(FILE, digest, os.path.getsize(received_path))
    tmp = tempfile.mkdtemp(dir=scratch, prefix="upload-")
    try:
        root = os.path.join(tmp, "x")
        os.mkdir(root)
        try:
            (_unpack_tar if kind == "tar" else _unpack_zip)(received_path, root, max_unpacked)
        except (tarfile.TarError, EOFError, zlib.error) as e:  # truncated or corrupt past the headers
            raise UploadError(f"the {kind} archive cannot be read ({e})", 400) from None
        tree = Hasher(tmp, StatCache()).tree("x")
        ws.store.put_tree(tree, root)
        return Received(TREE, tree.digest, tree.size)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
