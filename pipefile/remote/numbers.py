"""The remote's register of artifact version numbers: who owns `NAME:N` for everyone who
shares the remote.

Layout on the remote (beside those of transport.py; pipes that predate it ignore it):

    versions/NAME/N.json    {"v": 1, "name", "version", "kind", "digest", "size", "path",
                            "step", "output", "created"}: version N of NAME is this content

A number is claimed once, by the first push that writes its file, and never rewritten:
the write is a create-if-absent. How each backend makes it one:

- a path (local or network file system): the record is written to tmp/, synced, and hard-linked to
  its name (link(2) fails if the name exists, so two pushes cannot both win), then the
  temp file goes; a file system without hard links falls back to O_CREAT|O_EXCL;
- sftp: the record is written to tmp/ and renamed with SSH_FXP_RENAME, which (unlike the
  posix-rename extension) refuses an existing target;
- s3: a conditional PUT (If-None-Match: *); a store that ignores the condition (an old
  S3-compatible server) lets the last of two simultaneous pushes win: the window between
  reading the register and writing is the only one, and the record is read back after the
  write so that the loser learns of it at once when the writes do not overlap exactly;
- gs, az: a check, then a PUT, then the read-back: the same window.

A record that is not one pipe would write (a bad name, digest, kind or number) is ignored,
as every record a remote holds is (transport._valid_artifact_record).
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import secrets
from typing import Optional

from .connection import Unreadable
from .transport import REMOTE_VERSION, Remote, _valid_artifact_record

_NUMBER_FILE = re.compile(r"[1-9][0-9]{0,17}\.json")  # as a Pipefile may name a version: 18 digits
FIELDS = ("name", "version", "kind", "digest", "size", "path", "step", "output", "created")


def record_path(remote: Remote, name: str, version: int) -> str:
    return remote.path("versions", name, f"{version}.json")


def _valid(rec) -> bool:
    return (
        _valid_artifact_record(rec)
        and type(rec.get("version")) is int
        and 1 <= rec["version"] < 10**18
        and (rec.get("created") is None or isinstance(rec.get("created"), (int, float)))
    )


def registered(remote: Remote) -> dict:
    """{name: {version: record}} of every number the remote's register holds (one listing);
    an http remote cannot be listed: it holds none that pipe can see."""
    remote.check()
    if remote.read_only:
        return {}
    fs = remote.fs()
    try:
        found = remote._call("listing artifact versions", fs.find, remote.path("versions"))
    except FileNotFoundError:
        return {}
    paths = [str(p) for p in found if _NUMBER_FILE.fullmatch(posixpath.basename(str(p)))]

    def read(p):
        try:
            return json.loads(remote.read_small(p, "reading an artifact version", "an artifact version record"))
        except (FileNotFoundError, Unreadable, ValueError, RecursionError):
            return None

    out: dict = {}
    for p, rec in zip(paths, remote._map(read, paths)):
        # The record must name the file it is in: a copy under another name claims nothing.
        if _valid(rec) and posixpath.basename(p) == f"{rec['version']}.json":
            if posixpath.basename(posixpath.dirname(p)) == rec["name"]:
                out.setdefault(rec["name"], {})[rec["version"]] = rec
    return out


def read_one(remote: Remote, name: str, version: int) -> Optional[dict]:
    try:
        data = remote.read_small(
            record_path(remote, name, version), "reading an artifact version", f"version {version} of {name}"
        )
    except FileNotFoundError:
        return None
    try:
        rec = json.loads(data)
    except (ValueError, RecursionError):
        return None
    return rec if _valid(rec) and rec["name"] == name and rec["version"] == version else None


def claim(remote: Remote, record: dict) -> Optional[dict]:
    """Write `record` as version record["version"] of record["name"] unless that number is
    taken. None: this push owns the number now; else the record that holds it."""
    remote.require_writable()
    rec = {k: record.get(k) for k in FIELDS}
    rec["v"] = REMOTE_VERSION
    data = json.dumps(rec, sort_keys=True).encode()
    name, version = rec["name"], rec["version"]
    path = record_path(remote, name, version)
    scheme = remote.spec.scheme
    if scheme == "file":
        won = _claim_path(remote, path, data)
    elif scheme in ("sftp", "ssh"):
        won = _claim_sftp(remote, path, data)
    else:
        won = _claim_put(remote, path, data, name, version)
    if won:
        return None
    held = read_one(remote, name, version)
    if held is None:  # taken by a record pipe would not write: the number is not usable
        return {"name": name, "version": version, "kind": "?", "digest": "(an unreadable record)"}
    if held["kind"] == rec["kind"] and held["digest"] == rec["digest"]:
        return None  # the same content, claimed by another push of it: ours as well
    return held


def _tmp(remote: Remote, path: str) -> str:
    remote.makedirs(posixpath.dirname(path))
    remote.makedirs(remote.path("tmp"))
    return remote.path("tmp", f"version-{posixpath.basename(path)}.{secrets.token_hex(6)}")


def _claim_path(remote: Remote, path: str, data: bytes) -> bool:
    tmp = _tmp(remote, path)
    remote.write_synced(tmp, data, "writing an artifact version")  # (on the disk before its name)
    try:
        os.link(tmp, path)
        remote.named_in(path)
        return True
    except FileExistsError:
        return False
    except OSError:  # no hard links here (some network file systems): an exclusive create
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        remote.named_in(path)
        return True
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def _claim_sftp(remote: Remote, path: str, data: bytes) -> bool:
    fs = remote.fs()
    tmp = _tmp(remote, path)
    remote.write_synced(tmp, data, "writing an artifact version")
    try:
        fs.ftp.rename(tmp, path)  # SSH_FXP_RENAME: fails when `path` exists
        return True
    except OSError:
        if read_one(remote, *_name_version(path)) is None:
            raise remote.error(OSError(f"cannot rename {tmp} to {path}"), "writing an artifact version") from None
        return False
    finally:
        try:
            fs.rm_file(tmp)
        except Exception:  # noqa: BLE001 - renamed away, or the sweep removes it later
            pass


def _claim_put(remote: Remote, path: str, data: bytes, name: str, version: int) -> bool:
    fs = remote.fs()
    if read_one(remote, name, version) is not None:
        return False
    try:
        if remote.spec.scheme in ("s3", "s3a"):
            remote._call("writing an artifact version", fs.pipe_file, path, data, mode="create")
        else:
            remote._call("writing an artifact version", fs.pipe_file, path, data)
    except Exception:  # noqa: BLE001 - the condition failed (or the write did): the read-back says which
        held = read_one(remote, name, version)
        if held is None:
            raise
        return False
    try:
        back = remote.read_small(path, "reading an artifact version", "an artifact version record")
    except FileNotFoundError:
        back = b""
    return back == data


def _name_version(path: str) -> tuple:
    return posixpath.basename(posixpath.dirname(path)), int(posixpath.basename(path)[:-5])
