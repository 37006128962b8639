"""The bookkeeping of uploads: who may send or ask about them, where one is received
before it is checked (serve/uploads.py checks and stores it), and its record: stored and
recorded with no `pipe gc` in between (gc would see an object that nothing names yet).
A token learns only of the uploads it sent itself (an admin token, of all)."""

from __future__ import annotations

import os
import tempfile
from typing import Optional

from ..digest import PathDigest
from ..jobdb.tokens import Token
from .access import upload_view, writer_hold
from .home import Home
from .refusals import Forbidden, NoSpace
from .uploads import Received, store_upload

SCRATCH = os.path.join("serve", "uploads")  # uploads being received, under .pipe/ (emptied at server start)


def need_uploader(tok: Token, asking: bool = False) -> None:
    """Sending (or, `asking`, asking about) uploads needs an invoke or admin token."""
    if not (tok.admin or tok.invoke_endpoints()):
        raise Forbidden(
            "asking for uploads needs an invoke or admin token"
            if asking
            else "uploading needs an invoke or admin token"
        )


def receive_into(home: Home) -> tuple:
    """(scratch folder, (fd, path) of a new file in it) for an upload's bytes as they arrive."""
    scratch = os.path.join(home.dir, SCRATCH)
    os.makedirs(scratch, exist_ok=True)
    return scratch, tempfile.mkstemp(dir=scratch, prefix="recv-")


def keep(home: Home, tok: Token, received: str, what: str, scratch: str, max_unpacked: int) -> Received:
    """The received file (a file, or an archive `what` to unpack) into the content store,
    recorded as sent by `tok`. Raises UploadError for an archive it refuses."""
    with writer_hold(home):
        got = store_upload(home, received, what, scratch, max_unpacked)
        home.serve.add_upload(got.digest, got.kind, got.size, tok.id)
    return got


def known_upload(home: Home, tok: Token, digest: str) -> Optional[tuple]:
    """(kind, size) of an upload this token may know of whose content is still stored, or None."""
    up = home.serve.upload(digest, upload_view(tok))
    if up is None or not home.store.complete(PathDigest(up[0], digest, up[1])):
        return None
    return up


def disk_full(e: BaseException) -> bool:
    """Whether `e` is a full disk (an OSError, SQLite's "disk is full"), or pipe's own error
    raised for one (the store's: its OSError is the context it was raised in)."""
    from ..workspace.lock import DiskError, is_disk_error

    return isinstance(e, DiskError) or is_disk_error(e) or (e.__context__ is not None and is_disk_error(e.__context__))


def no_space(what: str = "the upload") -> NoSpace:
    return NoSpace(
        f"the server has no space left to store {what}; nothing of it was kept",
        "send it again once the server's disk has room (its operator frees some: pipe gc --uploads-older-than 30d)",
    )
