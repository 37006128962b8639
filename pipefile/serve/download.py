"""The outputs of a served job, written into `pipe invoke --out`.

The server is not trusted (docs/endpoints.md, "Security"). Everything it says about the
outputs (names, kinds, sizes, digests, URLs) is checked before anything is written; each
name must be one plain path component; each output goes to a fresh temporary name inside
--out (so nothing planted there is written through) and is renamed to its own name only
once complete, its size and (files) digest checked; a folder arrives as a tar archive and
is unpacked with the member checks the server applies to uploads. A temporary name holds the
process's id and is locked while in use: what a download killed half way (kill -9) left is
removed by the next one into the same folder.
"""

from __future__ import annotations

import fcntl
import os
import re
import tarfile
import tempfile
import time
from typing import Callable, Optional

from ..digest import FILE, TREE, hash_file
from ..errors import PipefileError
from ..lazyclass import dataclass
from ..pids import remove_abandoned
from .answers import body_chunks, brief_repr

NAME_MAX_BYTES = 200  # an output's name; with its extension and a temporary suffix it stays under 255
TREE_SLACK = 1 << 20  # tar bytes allowed besides file content: the first headers...
MEMBER_SLACK = 64 << 10  # ...and per member (its header, a pax header, padding)
TRAILER_MAX = 1 << 20  # bytes after the archive's end (tar pads to 10 KiB records)
PART = re.compile(r"\..*\.pipe-(\d+)-[^/]*\.part")  # .NAME.pipe-PID-RANDOM.part: a download's temporary name
# The name before that one (.NAME.RANDOM.part: tempfile's 8 letters), whose writer took no lock
# and named no process: only its age tells that its download is over.
OLD_PART = re.compile(r"\..+\.[a-z0-9_]{8}\.part")
OLD_PART_AGE = 24 * 3600


@dataclass
class _Output:
    name: str
    kind: str
    size: int
    digest: Optional[str]
    url: str
    filename: str  # name + extension: one path component


def check_out_folder(out_dir: str) -> None:
    """Refuse an --out the outputs could never be written to, before the job is submitted
    (it would run, and its outputs be refused after): an empty one (`--out "$OUT"` with OUT
    unset was taken as no --out: nothing downloaded, exit 0), one that is (or lies under)
    something other than a folder, or lies in a folder this user cannot write in."""
    hint = "choose another --out folder"
    if not out_dir:
        raise PipefileError("--out is empty", hint="give the folder to download the outputs to")
    path = os.path.normpath(out_dir)  # (what the user wrote, to name the part at fault)
    while not os.path.lexists(path) and os.path.dirname(path) not in ("", path):
        path = os.path.dirname(path)
    if not os.path.lexists(path):
        path = "."  # (a relative name none of whose folders exist: made in the current one)
    if not os.path.isdir(path):
        raise PipefileError(f"--out '{out_dir}': '{path}' is not a folder", hint=hint)
    if not os.access(path, os.W_OK | os.X_OK):
        raise PipefileError(f"--out '{out_dir}': '{path}' is a folder this user cannot write in", hint=hint)


def download_outputs(client, job: dict, out_dir: str) -> list:
    """Every output of a completed job into out_dir; returns the paths written.

    Everything the server says about the outputs is checked before anything is
    written; each output goes to a temporary name inside out_dir and is renamed to its
    own name once complete, so a failure leaves no partial output behind."""
    outputs = _plan(client, job)
    check_out_folder(out_dir)  # (again: it may have changed while the job ran)
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        raise PipefileError(
            f"cannot make the --out folder '{out_dir}' ({e.strerror})", hint="choose another --out folder"
        ) from None
    # Writes go to the real folder, each to one name directly inside it.
    real_out = os.path.realpath(out_dir)
    remove_dead_parts(real_out)
    for o in outputs:
        if os.path.lexists(os.path.join(real_out, o.filename)):
            raise PipefileError(
                f"'{os.path.join(out_dir, o.filename)}' already exists; nothing was written",
                hint="choose another --out folder, or move it away first",
            )
    need = sum(o.size for o in outputs)
    free = _free_bytes(real_out)
    if free is not None and need > free:
        raise PipefileError(
            f"the outputs take {need} bytes and '{out_dir}' has {free} free; nothing was written",
            hint="free some space, or choose another --out folder",
        )
    written = []
    for o in outputs:
        _fetch(client, o, real_out, os.path.join(out_dir, o.filename))
        written.append(os.path.join(out_dir, o.filename))
    return written


def _plan(client, job: dict) -> list:
    """The job's outputs as _Output, every name, kind, size and URL checked."""
    outputs = job.get("outputs", {}) if isinstance(job, dict) else None
    if not isinstance(outputs, dict):
        raise PipefileError(f"the server's job has outputs of the wrong shape: {str(outputs)[:200]}")
    plan: list = []
    taken: dict = {}
    for name, o in outputs.items():
        problem = unsafe_name(name)
        if problem:
            raise PipefileError(
                f"the server named an output {brief_repr(name)}, which {problem}; nothing was written",
                hint="each output is written as one file or folder directly inside --out; "
                "this server (or something between it and you) is not to be trusted",
            )
        what = f"output '{name}'"
        if not isinstance(o, dict) or o.get("kind") not in (FILE, TREE):
            raise PipefileError(f"{what}: the server describes it as {str(o)[:200]}, not a file or folder")
        size, digest = o.get("size"), o.get("digest")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise PipefileError(f"{what}: the server gives its size as {size!r}, not a number of bytes")
        if digest is not None and not (isinstance(digest, str) and re.fullmatch(r"[0-9a-f]{1,128}", digest)):
            raise PipefileError(f"{what}: the server gives its digest as {brief_repr(digest)}, not a digest")
        filename = o.get("filename") if o["kind"] == FILE else ""
        ext = os.path.splitext(filename)[1] if isinstance(filename, str) else ""
        filename = name + (ext if _safe_ext(ext) else "")
        if filename.casefold() in taken:  # case-blind file systems would write both to one place
            raise PipefileError(
                f"{what} and output '{taken[filename.casefold()]}' would both be written "
                f"as '{filename}'; nothing was written"
            )
        taken[filename.casefold()] = name
        plan.append(_Output(name, o["kind"], size, digest, client.resolve(o.get("url"), what), filename))
    return plan


def _fetch(client, o: _Output, real_out: str, shown: str) -> None:
    what = f"downloading output '{o.name}'"
    dest = os.path.join(real_out, o.filename)
    if os.path.realpath(os.path.dirname(dest)) != real_out:  # a name that is no plain component slipped by
        raise PipefileError(f"{what}: '{shown}' is not inside the --out folder")
    prefix, suffix = f".{o.filename[:40]}.pipe-{os.getpid()}-", ".part"
    fd = tmp = held = None
    try:
        # A fresh name of its own (O_EXCL), so nothing planted in --out is written through.
        if o.kind == FILE:
            fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=real_out)
            os.fchmod(fd, 0o666 & ~_umask())
        else:
            tmp = tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=real_out)
            os.chmod(tmp, 0o777 & ~_umask())
        held = os.open(tmp, os.O_RDONLY | os.O_NOFOLLOW)  # locked while in use: see remove_dead_parts
        fcntl.flock(held, fcntl.LOCK_EX)
        with client.stream(o.url, what) as r:
            if o.kind == FILE:
                with os.fdopen(fd, "wb") as f:
                    fd = None
                    _receive_file(r, f, o, what)
            else:
                body = _Body(body_chunks(r, what), TREE_SLACK, what)
                _untar_safely(body, tmp, o.size, what, on_member=lambda size: body.allow(size + MEMBER_SLACK))
                body.allow(TRAILER_MAX)
                body.read()  # the padding after the archive's end; more than that is refused
        if o.kind == FILE and o.digest is not None:
            got = hash_file(tmp)
            if got != o.digest:
                raise PipefileError(
                    f"{what}: what arrived has digest {got}, and the job says {o.digest}",
                    hint="the download was altered or damaged on the way; nothing of it was kept",
                )
        _place(tmp, dest, shown, o.kind == FILE)
    except OSError as e:
        raise PipefileError(
            f"{what}: cannot write into '{os.path.dirname(shown) or '.'}' ({e.strerror or e})",
            hint="nothing of it was kept",
        ) from None
    finally:
        if fd is not None:
            os.close(fd)
        if tmp is not None:
            _remove(tmp)
        if held is not None:
            os.close(held)


def remove_dead_parts(folder: str) -> list:
    """Remove the temporary files and folders downloads killed half way left in `folder`;
    returns their names. One is a dead download's when the process its name gives is gone
    and no one holds its lock; never through a link (opened O_NOFOLLOW)."""
    removed = []
    try:
        entries = [e for e in os.scandir(folder) if PART.fullmatch(e.name)]
    except OSError:
        return removed
    for e in entries:
        pid = int(PART.fullmatch(e.name).group(1))  # type: ignore[union-attr]
        if remove_abandoned(e.path, pid, _remove):
            removed.append(e.name)
    removed += _remove_old_layout_parts(folder)
    return removed


def _remove_old_layout_parts(folder: str) -> list:
    """Those an older pipe invoke left (.NAME.RANDOM.part, no pid in the name): were kept for
    ever. Removed once a day old (mtime: a download under way writes), never through a link."""
    cutoff = time.time() - OLD_PART_AGE
    removed = []
    try:
        entries = [e for e in os.scandir(folder) if OLD_PART.fullmatch(e.name) and not PART.fullmatch(e.name)]
    except OSError:
        return removed
    for e in entries:
        try:
            if e.is_symlink() or e.stat(follow_symlinks=False).st_mtime >= cutoff:
                continue
        except OSError:
            continue
        if remove_abandoned(e.path, None, _remove):
            removed.append(e.name)
    return removed


def _safe_ext(ext: str) -> bool:
    return bool(ext) and len(ext) <= 16 and all(c.isalnum() or c == "." for c in ext) and ext.count(".") == 1


class _Body:
    """A streamed response body read as a file (for tarfile's stream mode), refused once
    more than `limit` bytes arrive; the reader raises the limit as it accepts content."""

    def __init__(self, chunks, limit: int, what: str):
        self._chunks = iter(chunks)
        self._buf = bytearray()
        self.received = 0
        self.limit = limit
        self.what = what

    def allow(self, n: int) -> None:
        self.limit += n

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self._buf) < n:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self.received += len(chunk)
            if self.received > self.limit:
                raise PipefileError(
                    f"{self.what}: the server sends more than the folder's size and its archive "
                    f"headers can take ({self.limit} bytes); refused, nothing of it was kept",
                    hint="the server is not answering as `pipe serve` does",
                )
            self._buf += chunk
        if n < 0 or n >= len(self._buf):
            out, self._buf = bytes(self._buf), bytearray()
        else:
            out = bytes(self._buf[:n])
            del self._buf[:n]
        return out


def _receive_file(r, f, o: "_Output", what: str) -> None:
    """The body of a file output into f: exactly the size the job gives, or refused."""
    announced = r.headers.get("content-length")
    if announced is not None and r.headers.get("content-encoding", "identity") == "identity":
        if not (announced.isascii() and announced.isdigit() and len(announced) <= 20) or int(announced) != o.size:
            raise PipefileError(
                f"{what}: the server announces {announced[:40]} bytes, and the job says {o.size}; "
                f"refused, nothing of it was kept",
                hint="the server is not answering as `pipe serve` does",
            )
    got = 0
    for chunk in body_chunks(r, what):  # decoded piece by piece: the count stops a bomb
        got += len(chunk)
        if got > o.size:
            raise PipefileError(
                f"{what}: the server sends more than the {o.size} bytes the job says; refused, nothing of it was kept",
                hint="the server is not answering as `pipe serve` does",
            )
        f.write(chunk)
    if got != o.size:
        raise PipefileError(
            f"{what}: only {got} of its {o.size} bytes arrived; nothing of it was kept", hint="run the command again"
        )


def _place(tmp: str, dest: str, shown: str, is_file: bool) -> None:
    """tmp to dest, never replacing what is there (a file by a hard link: atomic, no clobber)."""
    exists = PipefileError(
        f"'{shown}' appeared while downloading; it was left as it is",
        hint="choose another --out folder, or move it away first",
    )
    if is_file:
        try:
            os.link(tmp, dest)
            return  # tmp goes in the caller's finally
        except FileExistsError:
            raise exists from None
        except OSError:
            pass  # a file system without hard links: rename, after looking
    if os.path.lexists(dest):
        raise exists
    os.rename(tmp, dest)


def _remove(path: str) -> None:
    import shutil

    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    except FileNotFoundError:
        pass


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _free_bytes(path: str) -> Optional[int]:
    import shutil

    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def _untar_safely(f, into: str, size: int, what: str, on_member: Optional[Callable[[int], None]] = None) -> None:
    """Unpack a downloaded folder's tar stream into the empty folder `into`, with the checks
    applied to uploads: regular files and folders only (no links), no absolute path or `..`,
    no member twice or inside a file, at most MAX_MEMBERS members, and files adding up to
    exactly `size` bytes (the job's size of the folder; less means the stream was cut)."""
    from .uploads import MAX_MEMBERS, UploadError, _CheckedTarInfo, _Layout, _member_path

    layout, total, count = _Layout(), 0, 0
    try:
        # Extended headers capped as for uploads (a chain of them is read by recursion).
        with tarfile.open(fileobj=f, mode="r|", tarinfo=_CheckedTarInfo) as tf:
            for m in tf:
                count += 1
                if count > MAX_MEMBERS:
                    raise UploadError(f"the archive has more than {MAX_MEMBERS} members")
                rel = _member_path(m.name)
                if not (m.isreg() or m.isdir()) or m.issparse():
                    raise UploadError(f"archive member '{m.name}' is not a file or folder (a link, a device...)")
                layout.add(m.name, rel, m.isdir())
                if on_member is not None:
                    on_member(m.size if m.isreg() else 0)
                target = os.path.join(into, rel) if rel else into
                if m.isdir():
                    os.makedirs(target, exist_ok=True)
                    continue
                total += m.size
                if total > size:
                    raise UploadError(f"the archive holds more than the {size} bytes the job says")
                os.makedirs(os.path.dirname(target), exist_ok=True)
                # O_EXCL | O_NOFOLLOW: a fresh file, never through a link; the umask sets the mode.
                fd = os.open(
                    target,
                    os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
                    0o777 if m.mode & 0o111 else 0o666,
                )
                with os.fdopen(fd, "wb") as out:
                    src = tf.extractfile(m)
                    while src is not None:
                        b = src.read(1 << 20)
                        if not b:
                            break
                        out.write(b)
    except UploadError as e:
        raise PipefileError(
            f"{what}: {e.message}; refused, nothing of it was kept",
            hint="the server is not answering as `pipe serve` does",
        ) from None
    except (tarfile.TarError, EOFError) as e:
        raise PipefileError(
            f"{what}: the archive is damaged or cut short ({e}); nothing of it was kept", hint="run the command again"
        ) from None
    if total != size:
        raise PipefileError(
            f"{what}: only {total} of its {size} bytes arrived; nothing of it was kept", hint="run the command again"
        )


def unsafe_name(name) -> Optional[str]:
    """Why `name` is not one plain path component to write an output as, or None."""
    if not isinstance(name, str):
        return "is not text"
    if not name:
        return "is empty"
    if name in (".", ".."):
        return "is a folder reference, not a name"
    if "/" in name or "\\" in name:
        return "holds a path separator"
    if "\0" in name:
        return "holds a NUL character"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "holds a control character"
    if re.match(r"[A-Za-z]:", name):
        return "starts with a drive letter"
    try:
        n = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        return "is not valid text"
    if n > NAME_MAX_BYTES:
        return f"is longer than {NAME_MAX_BYTES} bytes"
    return None
