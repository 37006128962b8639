"""Data sent to the server: stored by content digest, never by a client's file name.

A plain upload is one file. A tar or zip archive is a folder: it is unpacked into a
fresh temporary folder with every member checked first (regular files and folders
only: no links, devices or fifos; no absolute paths, no `..`, no member twice; the
unpacked total and the member count capped; a tar must end with its end-of-archive
marker and every member hold the bytes it declares, so a cut archive is refused, never
taken for a smaller folder), so an archive can never write outside
that folder (zip slip) or fill the disk (zip bomb). The result goes into the content
store and the temporary files are removed.

Reading the member list costs bounded memory and time too: a tar's extended headers (pax,
GNU long names) are refused over MAX_EXTENDED_HEADER before tarfile reads one whole, and
the decompressed stream is counted (its members' data plus TAR_SLACK, and MEMBER_SLACK a
member, for headers and padding); a zip's member count is read from its end-of-central-
directory record (zip64 too) and its central directory walked and counted before
zipfile parses it.
"""

from __future__ import annotations

import bz2
import errno
import gzip
import lzma
import os
import posixpath
import shutil
import stat
import struct
import tarfile
import tempfile
import zipfile
import zlib

from .. import names
from ..digest import FILE, TREE, Hasher, StatCache, hash_file
from ..lazyclass import dataclass

MAX_MEMBERS = 100_000
MAX_EXTENDED_HEADER = 1 << 20  # a pax or GNU long-name header: long paths, a few attributes
MAX_HEADER_CHAIN = 8  # extended headers in a row before a member (pax, long name, long link: 3)
TAR_SLACK = 1 << 20  # decompressed tar bytes allowed besides the members' data: the first headers...
MEMBER_SLACK = 64 << 10  # ...and per member (its header, a pax header, padding); as pipe invoke allows
MAX_CENTRAL_DIRECTORY = 64 << 20  # a zip's member list (100000 members with long names fit)
NAME_MAX = 255  # bytes in one file name, on every common file system


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
    if not names.is_utf8(name):  # a tar's raw name bytes that are not UTF-8: no digest can name them
        # (checked first: every message below quotes the name, and an answer is UTF-8 JSON)
        raise UploadError(
            f"archive member '{names.shown(name)}' has a name that is not valid UTF-8",
            400,
            "rename the file to a UTF-8 name (convmv -f latin1 -t utf8 -r --notest FOLDER), or archive "
            "the folder where names are UTF-8",
        )
    if "\\" in name:
        name = name.replace("\\", "/")  # zip files written on Windows
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UploadError(
            f"archive member '{name}' has an absolute path",
            400,
            "archive the folder with relative paths (tar -C DIR -cf x.tar .)",
        )
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise UploadError(
            f"archive member '{name}' reaches outside the folder ('..')",
            400,
            "archive the folder with relative paths inside it",
        )
    too_long = [p for p in parts if len(p.encode("utf-8")) > NAME_MAX]
    if too_long:
        raise UploadError(
            f"archive member '{name[:80]}...' has a name of {len(too_long[0].encode())} bytes; "
            f"a file system takes at most {NAME_MAX}",
            400,
            "shorten the file's name",
        )
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
            raise UploadError(
                f"archive member '{name}' is a file at the archive's root path",
                400,
                "archive the folder's contents with relative paths",
            )
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
        raise UploadError(
            f"the archive unpacks to more than {max_unpacked} bytes",
            413,
            "send less data, or raise the server's --max-unpacked",
        )


class _Counted:
    """A tar's decompressed stream as tarfile reads it, refused once it reaches past `limit`
    bytes (raised by `allow` as members are accepted): a small archive that decompresses
    to endless headers or padding is stopped as it is read, whatever the compression."""

    def __init__(self, f, limit: int):
        self.f = f
        self.limit = limit

    def allow(self, n: int) -> None:
        self.limit += n

    def _past(self, end: int) -> None:
        if end > self.limit:
            raise UploadError(
                f"the archive holds more than its members' data and headers can take ({self.limit} bytes read)",
                413,
                "send the folder as a plain tar, tar.gz or zip archive",
            )

    def read(self, n: int = -1) -> bytes:
        pos = self.f.tell()
        room = max(self.limit - pos, 0)
        # Never more than one byte past the limit into memory: enough to see it is passed.
        want = room + 1 if n is None or n < 0 else min(n, room + 1)
        data = self._io(self.f.read, want)
        self._past(pos + len(data))
        return data

    def seek(self, pos: int, whence: int = 0) -> int:
        if whence != 0:  # tarfile reading an archive seeks to offsets only
            raise UploadError("the tar archive cannot be read (a relative seek)", 400)
        self._past(pos)
        return self._io(self.f.seek, pos)

    @staticmethod
    def _io(call, arg):
        try:
            return call(arg)
        except (OSError, EOFError, zlib.error, lzma.LZMAError) as e:  # damaged compressed data
            raise UploadError(f"the tar archive cannot be read ({e})", 400) from None

    def tell(self) -> int:
        return self.f.tell()


_EXTENDED = (
    tarfile.XHDTYPE,
    tarfile.XGLTYPE,
    tarfile.SOLARIS_XHDTYPE,
    tarfile.GNUTYPE_LONGNAME,
    tarfile.GNUTYPE_LONGLINK,
)


class _CheckedTarInfo(tarfile.TarInfo):
    """A member header whose extended headers are refused over MAX_EXTENDED_HEADER bytes
    (tarfile reads one whole into memory) or more than MAX_HEADER_CHAIN in a row (tarfile
    reads a chain by recursion)."""

    def _proc_member(self, tf):
        if self.type in _EXTENDED:
            if self.size > MAX_EXTENDED_HEADER:
                raise UploadError(
                    f"the archive has an extended header (pax or long name) of {self.size} bytes; at "
                    f"most {MAX_EXTENDED_HEADER} are accepted",
                    413,
                    "archive the folder with tar's defaults",
                )
            chain = getattr(tf, "_pipe_chain", 0)
            if chain >= MAX_HEADER_CHAIN:
                raise UploadError(f"the archive has more than {MAX_HEADER_CHAIN} extended headers in a row", 400)
            tf._pipe_chain = chain + 1
            try:
                return super()._proc_member(tf)
            finally:
                tf._pipe_chain = chain
        return super()._proc_member(tf)


def _decompressed(path: str):
    """The tar inside the file at `path`, decompressed as it is read (gzip, bzip2, xz or none)."""
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(path, "rb")
    if magic.startswith(b"BZh"):
        return bz2.BZ2File(path, "rb")
    if magic.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMAFile(path, "rb")
    return open(path, "rb")


def _unpack_tar(path: str, dest: str, max_unpacked: int) -> None:
    raw = _decompressed(path)
    counted = _Counted(raw, TAR_SLACK)
    try:
        try:
            tf = tarfile.open(fileobj=counted, mode="r:", tarinfo=_CheckedTarInfo)
        except (tarfile.TarError, OSError) as e:
            raise UploadError(f"not a readable tar archive ({e})") from None
        with tf:
            _unpack_tar_members(tf, counted, dest, max_unpacked)
    finally:
        raw.close()


def _unpack_tar_members(tf: tarfile.TarFile, counted: _Counted, dest: str, max_unpacked: int) -> None:
    members = []
    total = 0
    layout = _Layout()
    for m in tf:  # streams: a huge member list is refused before it is all read
        if len(members) >= MAX_MEMBERS:
            raise UploadError(f"the archive has more than {MAX_MEMBERS} members", 413)
        rel = _member_path(m.name)
        if m.issym() or m.islnk():
            raise UploadError(
                f"archive member '{m.name}' is a link; links are not accepted",
                400,
                "archive the files the link points to instead (tar -h)",
            )
        if not (m.isreg() or m.isdir()) or m.issparse():
            raise UploadError(f"archive member '{m.name}' is not a regular file or folder", 400)
        layout.add(m.name, rel, m.isdir())
        total += max(m.size, 0)
        _check_total(total, max_unpacked)
        counted.allow(max(m.size, 0) + MEMBER_SLACK)
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
        raise UploadError(
            "the tar archive is cut short or damaged: it does not end with the end-of-archive "
            "marker after its last member",
            400,
            "send the whole archive, as tar writes it (it ends with blocks of zeros)",
        )


_EOCD = struct.Struct("<4s4H2LH")  # end of central directory: ..., entries, directory size and offset
_EOCD64_LOCATOR = struct.Struct("<4sLQL")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")  # zip64: ..., entries (this disk, total), directory size, offset
_CENTRAL_ENTRY = struct.Struct("<4s4B4HL2L5H2L")  # a central directory header, before its name


def _zip_directory(path: str):
    """(members the end record announces, central directory start, its size) located as
    zipfile will locate them (the end record without a comment first, else the last one in
    the final 64 KiB; its zip64 record right before its locator), or None where zipfile
    finds none (then it refuses the file itself)."""
    with open(path, "rb") as f:
        size = f.seek(0, 2)
        if size < _EOCD.size:
            return None
        f.seek(size - _EOCD.size)
        rec = f.read(_EOCD.size)
        where = size - _EOCD.size
        if not (rec[:4] == b"PK\x05\x06" and rec[-2:] == b"\0\0"):
            start = max(size - (1 << 16) - _EOCD.size, 0)
            f.seek(start)
            tail = f.read()
            i = tail.rfind(b"PK\x05\x06")
            if i < 0 or len(tail) - i < _EOCD.size:
                return None
            rec, where = tail[i : i + _EOCD.size], start + i
        fields = _EOCD.unpack(rec)
        announced, dir_size, dir_start = max(fields[3], fields[4]), fields[5], where - fields[5]
        if where >= _EOCD64_LOCATOR.size + _EOCD64.size:
            f.seek(where - _EOCD64_LOCATOR.size)
            if f.read(4) == b"PK\x06\x07":
                f.seek(where - _EOCD64_LOCATOR.size - _EOCD64.size)
                rec64 = f.read(_EOCD64.size)
                if rec64[:4] == b"PK\x06\x06":
                    fields = _EOCD64.unpack(rec64)
                    announced, dir_size = max(fields[6], fields[7]), fields[8]
                    dir_start = where - _EOCD64_LOCATOR.size - _EOCD64.size - dir_size
    return announced, dir_start, dir_size


def _check_zip_directory(path: str) -> None:
    """Refuse a zip with more than MAX_MEMBERS members, or a member list over
    MAX_CENTRAL_DIRECTORY bytes, before zipfile parses its central directory (it reads the
    directory whole and makes a ZipInfo of each header: a million take seconds and hundreds
    of MB): the count the end record announces first, then the headers themselves, walked
    as zipfile walks them, header by header (a record may understate the count)."""
    found = _zip_directory(path)
    if found is None:
        return  # no end record where zipfile looks: it refuses the file
    announced, dir_start, dir_size = found
    if announced > MAX_MEMBERS:
        raise UploadError(f"the archive has more than {MAX_MEMBERS} members (its directory announces {announced})", 413)
    if dir_size > MAX_CENTRAL_DIRECTORY:
        raise UploadError(
            f"the archive's member list takes {dir_size} bytes; at most {MAX_CENTRAL_DIRECTORY} are accepted", 413
        )
    if dir_start < 0:
        return  # zipfile refuses a directory that starts before the file
    with open(path, "rb") as f:
        f.seek(dir_start)
        pos = count = 0
        while pos < dir_size:
            head = f.read(_CENTRAL_ENTRY.size)
            if len(head) < _CENTRAL_ENTRY.size or head[:4] != b"PK\x01\x02":
                return  # a damaged directory: zipfile refuses it itself
            count += 1
            if count > MAX_MEMBERS:
                raise UploadError(f"the archive has more than {MAX_MEMBERS} members", 413)
            fields = _CENTRAL_ENTRY.unpack(head)
            skip = fields[12] + fields[13] + fields[14]  # its name, extra field and comment
            f.seek(skip, 1)
            pos += _CENTRAL_ENTRY.size + skip


def _unpack_zip(path: str, dest: str, max_unpacked: int) -> None:
    _check_zip_directory(path)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise UploadError(f"not a readable zip archive ({e})") from None
    except UnicodeDecodeError:  # a member flagged UTF-8 whose name is not
        raise UploadError(
            "the zip archive has a member whose name is flagged UTF-8 but is not valid UTF-8",
            400,
            "rename the file to a UTF-8 name and archive the folder again",
        ) from None
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
        raise UploadError(
            f"archive member '{target.rsplit(os.sep, 1)[-1]}' holds less than it declares "
            f"({written} of {declared} bytes): the archive is cut short or damaged",
            400,
            "send the whole archive",
        )
    if executable:
        os.chmod(target, 0o755)


def archive_kind(content_type: str, kind: str) -> str:
    """ "file", "tar" or "zip" from the ?kind= query (first) or the Content-Type."""
    if kind:
        if kind not in ("file", "tar", "zip"):
            raise UploadError(f"unknown upload kind '{kind}'", 400, "use kind=file, kind=tar or kind=zip")
        return kind
    ct = (content_type or "").split(";")[0].strip().lower()
    if ct in (
        "application/x-tar",
        "application/tar",
        "application/gzip",
        "application/x-gzip",
        "application/x-compressed-tar",
    ):
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
        except OSError as e:
            if e.errno != errno.ENAMETOOLONG:
                raise
            # each name fits (_member_path), but the whole path is past what the system takes
            where = os.path.relpath(e.filename, root) if isinstance(e.filename, str) else "a member"
            raise UploadError(
                f"archive member '{where[:80]}...' has a path too long for the server's file system",
                400,
                "archive the folder with shorter paths (fewer or shorter folder names)",
            ) from None
        tree = Hasher(tmp, StatCache()).tree("x")
        ws.store.put_tree(tree, root)
        return Received(TREE, tree.digest, tree.size)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
