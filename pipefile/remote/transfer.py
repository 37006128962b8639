"""What moving content to and from a remote reports: its errors (with a kind the caller can
act on: unreachable, auth, corrupt, read-only, failed), its progress, and what one batch of
transfers moved or failed to."""

from __future__ import annotations

import errno
import os
import re
import threading
from dataclasses import field
from typing import Callable, Optional

from ..errors import PipefileError
from ..lazyclass import dataclass
from ..outcomes import ExitCode
from ..printable import printable

UNREACHABLE, AUTH, CORRUPT, READ_ONLY, FAILED = "unreachable", "auth", "corrupt", "read-only", "failed"
NO_SPACE = "no-space"  # a disk that is full (or takes no file that large): each transfer after fails alike
NO_SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class RemoteError(PipefileError):
    """A remote could not be used. Exit status 1: the operation failed, not the usage."""

    exit_code = ExitCode.STEP_FAILED

    def __init__(self, message: str, kind: str = FAILED, hint: Optional[str] = None):
        super().__init__(message, None, hint)
        self.kind = kind
        self.answered = False  # an UNREACHABLE the server said itself (an HTTP 5xx, 408, 429)


class NotAFolder(RemoteError):
    """A local remote (or Ray store) whose path runs through a plain file: the URL is wrong,
    bad input (exit 2), not a transfer that failed."""

    exit_code = ExitCode.BAD_INPUT


def not_a_folder(where: str, e: OSError) -> NotAFolder:
    """The error of a local remote whose path (or a folder on its way) is a file: names that
    file, found by walking up from what the OS refused."""
    path = str(e.filename or "")
    while path and not os.path.lexists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    return NotAFolder(
        f"{where}: {path or 'its path'} is a file, not a folder: a remote (or a Ray store) on this machine is a folder",
        hint="name a folder there (a new one, or one pipe pushed to), e.g. pipe remote add NAME /path/to/folder",
    )


class BadOption(RemoteError):
    """A storage option the remote's fsspec implementation does not take (a typo such as
    `endpoint` for `endpoint_url`): the configuration is wrong, bad input (exit 2)."""

    exit_code = ExitCode.BAD_INPUT


_FILE_SYSTEMS = {
    "s3": "s3fs.S3FileSystem",
    "sftp": "fsspec's SFTPFileSystem: paramiko's SSHClient.connect",
    "gs": "gcsfs.GCSFileSystem",
    "az": "adlfs.AzureBlobFileSystem",
    "http": "fsspec's HTTPFileSystem: aiohttp's ClientSession.request",
}
_FILE_SYSTEMS.update(ssh=_FILE_SYSTEMS["sftp"], s3a=_FILE_SYSTEMS["s3"], https=_FILE_SYSTEMS["http"])


def bad_option(where: str, spec, e: TypeError) -> Optional[BadOption]:
    """The error of a TypeError that names one of `spec`'s options as an unexpected keyword
    argument (said when fsspec connects or first asks), else None."""
    m = re.search(r"unexpected keyword argument '([^']*)'", str(e))
    if m is None or m.group(1) not in spec.options:
        return None
    # (both from a committed file: printed, never a terminal escape)
    name, remote, file = printable(m.group(1)), printable(spec.name), spec.source or "the command line"
    return BadOption(
        f"{where}: its option '{name}' (in {file}) is not one {spec.scheme}:// takes ({type(e).__name__}: {e!s:.300})",
        hint=f"fix or remove it in {file} (or add the remote again: pipe remote add {remote} URL -o KEY=VALUE "
        f"--force); a remote's options are the keyword arguments of its fsspec file system "
        f"({_FILE_SYSTEMS.get(spec.scheme, spec.scheme)})",
    )


class Progress:
    """What a transfer reports; report/remote.py renders it. This one says nothing."""

    def begin(self, verb: str, count: int, nbytes: int) -> None:
        pass

    def advance(self, nbytes: int) -> None:
        pass

    def end(self) -> None:
        pass


def http_status(e: BaseException) -> Optional[int]:
    """The HTTP status of an error that is an answer (aiohttp's ClientResponseError), else None."""
    status = getattr(e, "status", None)
    return status if type(status) is int and 100 <= status < 600 else None


def classify_error(e: BaseException) -> str:
    name = type(e).__name__
    text = str(e)
    status = http_status(e)
    if status in (401, 403, 407):
        return AUTH
    if status is not None and (status in (408, 429) or status >= 500):
        return UNREACHABLE  # (the server is failing or busy: later, or elsewhere, it may answer)
    if (
        isinstance(e, PermissionError)
        or "Authentication" in name
        or "Credentials" in name
        or any(
            w in text
            for w in (
                "InvalidAccessKeyId",
                "SignatureDoesNotMatch",
                "AccessDenied",
                "Forbidden",
                "InvalidClientTokenId",
                "Authentication failed",
                "Unable to locate credentials",
            )
        )
    ):
        return AUTH
    if isinstance(e, (ConnectionError, TimeoutError)) or any(
        w in name
        for w in (
            "Connect",
            "Timeout",
            "NoValidConnections",
            "SSHException",
            "EndpointConnection",
            "ClientOSError",
            "ServerDisconnected",
            "ClientPayloadError",  # (aiohttp: the connection closed before the body's end)
        )
    ):
        return UNREACHABLE
    if isinstance(e, OSError) and e.errno in NO_SPACE_ERRNOS:
        return NO_SPACE
    if isinstance(e, OSError) and e.errno is not None and not isinstance(e, FileNotFoundError):
        return UNREACHABLE if e.errno in (101, 104, 110, 111, 113, -2, -3, -5) else FAILED
    return FAILED


REDIRECT_HINT = (
    "check the remote's URL (pipe remote list): curl -IL URL shows where the server sends it; "
    "give the URL it should end at: pipe remote add NAME URL --force"
)


def redirect_trouble(e: BaseException) -> Optional[str]:
    """Why the http client stopped following the server's redirects (a loop, a chain past
    aiohttp's limit of 10, a Location that is no http URL), or None for another error."""
    name = type(e).__name__
    if name == "TooManyRedirects":
        seen = [str(getattr(r, "url", "")) for r in getattr(e, "history", None) or ()]
        loop = " in a loop" if len(set(seen)) < len(seen) else ""
        return f"the server redirected it {len(seen)} times{loop}, and pipe stopped following"
    if "Redirect" in name:
        return f"the server redirected it to {getattr(e, 'url', e)!s}, which is no http(s) URL pipe can follow"
    return None


@dataclass
class Transfer:
    """What one batch of transfers did."""

    moved: list = field(default_factory=list)
    nbytes: int = 0
    failed: list = field(default_factory=list)  # (digest, RemoteError)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    on_end: Optional[Callable] = field(default=None, repr=False)  # told of each: None (moved) or its error

    def add(self, digest: str, n: int) -> None:
        with self._lock:
            self.moved.append(digest)
            self.nbytes += n
        if self.on_end is not None:
            self.on_end(None)

    def fail(self, digest: str, e: RemoteError) -> None:
        with self._lock:
            self.failed.append((digest, e))
        if self.on_end is not None:
            self.on_end(e)

    def errors(self) -> list:
        """The errors of what failed, each once (the transfers not tried after the remote went
        away share one)."""
        return list({id(e): e for _, e in self.failed}.values())

    def merge(self, other: "Transfer") -> None:
        self.moved += other.moved
        self.nbytes += other.nbytes
        self.failed += other.failed
