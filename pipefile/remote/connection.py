"""One connection to a remote's file system through fsspec, shared by threads (each opens its
own), and the rules every use of it keeps: every transport error becomes a `RemoteError` of a
kind the caller can act on, its text scrubbed of the URL's secrets, the remote's secret options
and the cloud secret variables; a small file is written whole or not at all (one PUT on an object
store, a temp file renamed into place elsewhere, in the remote's tmp/ folder, swept of what
killed writers left); parallel transfers share one pool whose threads keep their connections.

What pipe keeps on a remote, and how it is checked, is `transport.Remote`, built on this.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import os
import posixpath
import secrets
import stat
import threading
import time
from typing import Iterator, Optional

from ..filehash import NotARegularFile, open_regular
from ..printable import printable
from . import folder, pool, sftp
from . import transfer as moving
from .schemes import ATOMIC_PUT_SCHEMES, READ_ONLY_SCHEMES, auth_hint, check_scheme, default_options, stall_seconds
from .spec import RemoteSpec
from .transfer import AUTH, CORRUPT, FAILED, NO_SPACE, READ_ONLY, UNREACHABLE, RemoteError, classify_error, http_status
from .urls import known_secrets, sftp_credentials

DEFAULT_TRANSFERS = 8
STALE_TMP_SECONDS = 24 * 3600
# Entries, artifact and version records and the layout marker are a few KiB as pipe writes
# them; one larger was not written by pipe, and is refused before it can fill the memory.
MAX_RECORD = 16 << 20
LOCAL_SCHEMES = ("file", "local")
# A transport's error text is quoted up to this: aiohttp quotes a bad answer's whole first line
# (8 KiB of an object's bytes, from a server that sent more than its Content-Length).
MAX_DETAIL = 600
_NETWORK_HINT = "check the URL, the network and that the server runs: pipe remote list"
GIVE_UP = 3  # transfers unreachable in a row after which the remote counts as gone (went_down)
GIVE_UP_BUSY = 32  # ... answered "busy" (503, 429) in a row: a moment's load is not a remote gone

_UNSIZED = 1 << 62  # an http GET's size, only to skip fsspec's HEAD (a streamed read ignores it)
SFTP_SCHEMES = ("sftp", "ssh")


class Unreadable(RemoteError):
    """One file of the remote's is not what pipe writes there (a FIFO, a device, a folder, a
    record too large): that file is refused, the rest of the remote stays usable."""

    def __init__(self, message: str, hint: Optional[str] = None):
        super().__init__(message, CORRUPT, hint)


class Connection:
    """A remote's file system, opened lazily; safe to use from several threads (one connection each)."""

    def __init__(self, spec: RemoteSpec, transfers: int = DEFAULT_TRANSFERS):
        check_scheme(spec)
        self.spec = spec
        # (a name from a committed remotes file is printed in every summary: no terminal escapes)
        self.name = printable(spec.name)
        self.transfers = max(1, transfers)
        self.read_only = spec.scheme in READ_ONLY_SCHEMES
        self.atomic_put = spec.scheme in ATOMIC_PUT_SCHEMES
        self._local = threading.local()
        self._opened: list = []
        self._lock = threading.Lock()
        self._secrets = known_secrets(spec.url, spec.options)
        self.root = ""
        self._query = ""  # http: the URL's query, sent with every request
        self._made: set = set()  # folders known to exist on the remote
        self._pool: Optional[pool.Pool] = None  # one pool: its threads keep their connections
        self._interrupted = False  # a Ctrl-C met in _map: close() does not wait for the transfers under way
        self.down: Optional[RemoteError] = None  # set by went_down(): the transfers after it are not tried
        self._failing = [0, 0]  # transfers failed unreachable in a row: silent ones, answered ones
        self._renamed_in: set = set()  # folder remote: folders renames changed, not yet synced
        self._sftp_fsync = True  # until the server says it has no fsync@openssh.com

    def scrub(self, text: str) -> str:
        for s in self._secrets:
            text = text.replace(s, "***")
        return text

    def error(self, e: BaseException, doing: str) -> RemoteError:
        if isinstance(e, RemoteError):
            return e
        kind = classify_error(e)
        detail = self.scrub(f"{type(e).__name__}: {e}".strip().rstrip(":"))
        if len(detail) > MAX_DETAIL:  # (cut after scrubbing: no secret is cut in two and kept)
            detail = detail[:MAX_DETAIL] + f"... ({len(detail) - MAX_DETAIL} more characters)"
        where = self.spec.describe()
        if isinstance(e, NotADirectoryError) and self.spec.scheme in LOCAL_SCHEMES:  # a wrong path: exit 2
            return moving.not_a_folder(where, e)
        if isinstance(e, TypeError) and (bad := moving.bad_option(where, self.spec, e)):  # (was exit 1, no hint)
            return bad
        if kind == AUTH and self.spec.scheme in ("file", "local"):  # a folder's permissions, not credentials
            return RemoteError(
                f"{where}: {doing} failed: permission denied ({detail})",
                AUTH,
                hint="check that this user may read (and, to push, write) that folder",
            )
        if kind == AUTH:
            return RemoteError(
                f"{where} could not authenticate while {doing} ({detail})", AUTH, hint=auth_hint(self.spec.scheme)
            )
        if kind == UNREACHABLE:
            err = RemoteError(f"{where} is unreachable while {doing} ({detail})", UNREACHABLE, _NETWORK_HINT)
            err.answered = http_status(e) is not None  # (a busy server's 503, 429: see went_down)
            return err
        if kind == NO_SPACE:  # (raised here by the remote's side: a local one is said by its caller)
            return RemoteError(
                f"{where}: {doing} failed: the remote's disk is full ({detail})",
                NO_SPACE,
                hint="free some space there (or ask whoever runs it), then push again: only what is missing moves",
            )
        if why := moving.redirect_trouble(e):
            return RemoteError(f"{where}: {doing} failed: {self.scrub(why)}", FAILED, moving.REDIRECT_HINT)
        return RemoteError(f"{where}: {doing} failed ({detail})", FAILED)

    def fs(self):
        fs = getattr(self._local, "fs", None)
        if fs is not None:
            return fs
        from fsspec.core import url_to_fs

        opts = dict(default_options(self.spec.scheme))
        for k, v in self.spec.options.items():
            # A user's config_kwargs or client_kwargs adds to the defaults (their timeouts stay).
            both = isinstance(v, dict) and isinstance(opts.get(k), dict)
            opts[k] = {**opts[k], **v} if both else v
        url = self.spec.url
        if self.spec.scheme in SFTP_SCHEMES:
            url, found = sftp_credentials(url)
            opts = {**found, **opts}  # (an -o username=... of the user's wins)
        try:
            fs, root = url_to_fs(url, skip_instance_cache=True, **opts)
            ftp = getattr(fs, "ftp", None)
            if ftp is not None:  # sftp: a server that stops answering times out, as S3 and http do
                ftp.get_channel().settimeout(stall_seconds())
        except ImportError as e:  # check_scheme said it is there; a broken install is still possible
            raise RemoteError(
                f"{self.spec.describe()}: its fsspec implementation does not import ({e})",
                hint=f"reinstall it: pip install --force-reinstall {getattr(e, 'name', '') or 'fsspec'}",
            ) from None
        except Exception as e:  # noqa: BLE001 - connecting (sftp connects here): mapped to one error type
            raise self.error(e, "connecting") from None
        if self.read_only and "?" in root:
            # A query (the token a static host asks for, `?sig=...`) ends the URL: each request's
            # path goes before it (was appended after it, `/cache?sig=x/objects/...`: every
            # record and object "absent", an empty remote, exit 0)
            root, _, query = root.partition("?")
            self._query = "?" + query
        self.root = root.rstrip("/") if root not in ("/", "") else root
        self._local.fs = fs
        with self._lock:
            self._opened.append(fs)
        return fs

    def close(self) -> None:
        with contextlib.suppress(Exception):  # (what a push put there last: its entries)
            self.sync_folders()
        with self._lock:
            workers, self._pool = self._pool, None
        if workers is not None:
            workers.shutdown(wait=not self._interrupted)
        with self._lock:
            opened, self._opened = self._opened, []
        for fs in opened:
            client = getattr(fs, "client", None)
            try:
                if client is not None and hasattr(client, "close"):
                    client.close()  # sftp: the ssh connection
            except Exception:  # noqa: BLE001 - closing: nothing left to save
                pass

    def path(self, *parts: str) -> str:
        self.fs()
        return (posixpath.join(self.root, *parts) if self.root else posixpath.join(*parts)) + self._query

    def open_read(self, path: str, doing: str, what: str):
        """One of the remote's files, opened for reading. On a folder remote it must be a
        regular file: opening a FIFO would wait forever for a writer, and a device (a link
        to /dev/zero) never ends; either is `Unreadable`, found without reading a byte."""
        if self.read_only:
            # http: one streamed GET (fsspec's reads by ranges fail on a plain static server).
            # A size given skips fsspec's HEAD before it: the GET's 404 says "absent" itself.
            return self._call(doing, self.fs().open, path, "rb", block_size=0, size=_UNSIZED)
        if self.spec.scheme in SFTP_SCHEMES:
            f = self._call(doing, self.fs().open, path, "rb")
            try:
                return sftp.SftpReader(f)
            except Exception as e:  # noqa: BLE001 - its stat failed: the connection went
                f.close()
                raise self.error(e, doing) from None
        if self.spec.scheme not in LOCAL_SCHEMES:
            return self._call(doing, self.fs().open, path, "rb")
        local = self.fs()._strip_protocol(path)
        try:
            return open_regular(local)
        except FileNotFoundError:
            raise
        except NotARegularFile:
            try:
                mode = os.stat(local).st_mode  # (only to name what is there)
            except OSError:
                mode = 0
            kind = "a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "not a regular file"
            raise Unreadable(
                f"{self.spec.describe()}: {what} is {kind} ({local}); refused",
                hint=f"pipe never writes one there: remove {local}, then push again from a workspace "
                "that has it (pipe push --repair, for an object)",
            ) from None
        except OSError as e:
            raise self.error(e, doing) from None

    def read_small(self, path: str, doing: str, what: str, limit: int = MAX_RECORD) -> bytes:
        """A record's bytes (an entry, a marker, an artifact or version record), read whole
        up to `limit`: one larger, or a file that is no regular file, is `Unreadable`."""
        # A streamed read (http) returns what has arrived, so it is read to its end; a whole
        # record has PIPE_REMOTE_TIMEOUT to arrive: a server that drips a byte now and then
        # would otherwise hold pipe for days before the size limit stops it.
        deadline = time.monotonic() + stall_seconds()
        parts: list = []
        n = 0
        with self.open_read(path, doing, what) as f:
            try:
                while n <= limit:
                    part = f.read(limit + 1 - n)
                    if not part:
                        break
                    parts.append(part)
                    n += len(part)
                    if time.monotonic() > deadline:
                        raise RemoteError(
                            f"{self.spec.describe()} is too slow while {doing}: {what} did not arrive "
                            f"whole within {stall_seconds():g} s",
                            UNREACHABLE,
                            hint="check the network and the server; a slow link may raise PIPE_REMOTE_TIMEOUT",
                        )
            except (FileNotFoundError, RemoteError):
                raise
            except Exception as e:  # noqa: BLE001 - a transport error mid-read
                raise self.error(e, doing) from None
        data = b"".join(parts)
        if len(data) > limit:
            raise Unreadable(
                f"{self.spec.describe()}: {what} is larger than {limit} bytes, which pipe never writes; refused",
                hint="remove it on the remote, then push again from a workspace that has it",
            )
        return data

    def _call(self, doing: str, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except FileNotFoundError as e:
            # fsspec's http says "not found" for a server that timed out, dropped the connection
            # or answered anything but "not found" (a 401, 500, 429): that remote is unreachable
            # or refusing, not empty (taken for empty, every step ran again with no warning).
            cause = e.__cause__
            if cause is not None and (
                classify_error(cause) in (UNREACHABLE, AUTH) or http_status(cause) not in (None, 404, 410)
            ):
                raise self.error(cause, doing) from None
            raise
        except RemoteError:
            raise
        except Exception as e:  # noqa: BLE001 - every transport error becomes a RemoteError
            if http_status(e) == 410:  # "gone": absent, as it was when a HEAD answered it
                raise FileNotFoundError(str(e)) from None
            raise self.error(e, doing) from None

    # --- parallel transfers and whole writes ------------------------------------------------
    def _workers(self) -> pool.Pool:
        with self._lock:
            if self._pool is None:
                self._pool = pool.Pool(self.transfers)
            return self._pool

    def _map(self, fn, items: list) -> list:
        """fn over items on the transfer threads (callers are never transfer threads themselves)."""
        # Inline only where a Ctrl-C interrupts the wait itself (the main thread): a run's restore
        # thread waits here, polling for cancel(), not in a read a dripping server keeps alive.
        main = threading.current_thread() is threading.main_thread()
        if not items or main and (len(items) == 1 or self.transfers == 1):
            return [fn(x) for x in items]
        futs = [self._workers().submit(fn, x) for x in items]
        try:
            for f in futs:
                while not self._interrupted:  # (cancel(), from another thread: not waited for)
                    with contextlib.suppress(cf.TimeoutError):
                        f.result(timeout=0.2)
                        break
            if self._interrupted:
                raise self.down or RemoteError(f"{self.spec.describe()}: transfers stopped (interrupted)")
            return [f.result() for f in futs]
        except BaseException as e:
            for f in futs:
                f.cancel()  # Ctrl-C: what finished stays
            if not isinstance(e, Exception):
                self._interrupted = True
            raise

    def cancel(self) -> None:
        """Ctrl-C in a run: the transfers under way are not waited for, none starts after."""
        self._interrupted = True
        with self._lock:
            if self.down is None:
                self.down = RemoteError(f"{self.spec.describe()}: transfers stopped (interrupted)", FAILED)

    def went_down(self, e: Optional[RemoteError]) -> None:
        """Note how one transfer ended (None: it worked). A remote that went away mid-transfer
        answered each of the rest only after its timeout, one batch of threads at a time (an
        hour for a few thousand objects); after GIVE_UP unreachable in a row, the rest fail at
        once with `down`. One such failure alone (a dropped connection) stops nothing."""
        with self._lock:
            if e is None:
                self._failing = [0, 0]
            elif e.kind in (UNREACHABLE, AUTH, NO_SPACE) and self.down is None:
                count = self._failing[e.answered] = self._failing[e.answered] + 1
                if count >= (GIVE_UP_BUSY if e.answered else GIVE_UP):
                    self.down = RemoteError(
                        f"{e.message}; {count} transfers failed in a row, so the others were not tried",
                        e.kind,
                        e.hint,
                    )

    def makedirs(self, path: str) -> None:
        """Make a folder and its parents; another thread or pusher making it at the same
        moment is fine (sftp's mkdir fails for the loser of that race)."""
        if path in self._made:
            return
        fs = self.fs()
        for attempt in range(4):
            try:
                self._call("making folders", fs.makedirs, path, exist_ok=True)
                break
            except RemoteError:
                # Lost a race for this folder or a parent of it: done if it is there now,
                # else go on from the parent the other one made.
                if self._call("making folders", fs.isdir, path):
                    break
                if attempt == 3:
                    raise
        with self._lock:
            self._made.add(path)

    def require_writable(self) -> None:
        if self.read_only:
            raise RemoteError(
                f"{self.spec.describe()} is read-only ({self.spec.scheme}://)",
                READ_ONLY,
                hint="push to a writable remote (a path, s3://, sftp://, gs://, az://)",
            )

    def _put_small(self, path: str, data: bytes, doing: str) -> None:
        """`data` at `path`, whole or not at all: a reader never sees half a record."""
        fs = self.fs()
        if self.atomic_put:
            self._call(doing, fs.pipe_file, path, data)
            return
        self.makedirs(posixpath.dirname(path))
        self.makedirs(self.path("tmp"))
        tmp = self.path("tmp", f"{posixpath.basename(path)}.{secrets.token_hex(6)}")
        with self.dropped_on_failure(tmp):
            self.write_synced(tmp, data, doing)
            self.rename(tmp, path, doing)

    def write_synced(self, path: str, data: bytes, doing: str) -> None:
        """A temp file of `data` on a folder or SFTP remote, its bytes on the disk (`sync_file`)."""
        f = self._call(doing, self.fs().open, path, "wb")
        try:
            self._call(doing, f.write, data)
            self.sync_file(f, doing)
        except BaseException:
            # (closing flushes the buffered bytes, which fail again on a full disk: that bare
            # OSError replaced the first error, said as the local disk's, exit 2)
            with contextlib.suppress(Exception):
                f.close()
            raise
        self._call(doing, f.close)

    def sync_file(self, f, doing: str) -> None:
        """A temp file's bytes onto the remote's disk, before its rename gives them a name that
        a reader trusts (folder.py says why; SFTP's servers without fsync@openssh.com: as before)."""
        if self.spec.scheme in LOCAL_SCHEMES:
            self._call(doing, folder.sync_file, f)
        elif self.spec.scheme in SFTP_SCHEMES and self._sftp_fsync:
            if not self._call(doing, sftp.sync_file, f):
                self._sftp_fsync = False

    def sync_folders(self) -> None:
        """The folders this connection's renames changed, each synced once (a folder remote):
        called once a push's objects are in place, before the entries that name them go up.
        On the transfer threads: one after another, 256 objects/ab/ folders took 0.6 s here
        (a disk flush each), at once 0.03 s."""
        with self._lock:
            folders, self._renamed_in = self._renamed_in, set()
        self._map(lambda f: self._call("syncing its folders", folder.sync_folders, [f]), sorted(folders))

    @contextlib.contextmanager
    def dropped_on_failure(self, tmp: str) -> Iterator[None]:
        """A temp upload that failed (a full disk, a dropped connection) is deleted at once: left
        for the day-old sweep, a cut-short copy kept the remote's disk full, so the pushes after
        it failed too, the small entries of objects already there among them."""
        try:
            yield
        except Exception:  # (Ctrl-C: left to the sweep, not waited on over a dying connection)
            try:
                self.fs().rm_file(tmp)
            except Exception:  # noqa: BLE001 - not made, or the remote is gone: the sweep takes it
                pass
            raise

    def rename(self, tmp: str, path: str, doing: str) -> None:
        """A finished upload into place, replacing what is there. On a folder remote a plain
        rename: fsspec's move would put it inside a folder found in its place."""
        if self.spec.scheme not in LOCAL_SCHEMES:
            self._call(doing, self.fs().mv, tmp, path)
            return
        strip = self.fs()._strip_protocol
        try:
            os.replace(strip(tmp), strip(path))
        except IsADirectoryError:  # (put there by hand or another tool: pipe never makes one)
            raise RemoteError(
                f"{self.spec.describe()}: {doing} failed: {strip(path)} is a folder, where pipe keeps a file",
                FAILED,
                hint=f"remove that folder (rm -r {strip(path)}), then push again",
            ) from None
        except FileNotFoundError:
            raise
        except OSError as e:
            raise self.error(e, doing) from None
        self.named_in(path)

    def named_in(self, path: str) -> None:
        """`path` was given its name on a folder remote (a rename, a link): its folder is synced
        by the next sync_folders, and each folder above it that a makedirs may have made
        (objects/ab/ in objects/), up to the remote's own, whose parent it is not pipe's to sync."""
        if self.spec.scheme not in LOCAL_SCHEMES:
            return
        strip = self.fs()._strip_protocol
        top, up = strip(self.root) if self.root else "", os.path.dirname(strip(path))
        with self._lock:
            while up not in self._renamed_in and len(up) >= len(top) and up != os.path.dirname(up):
                self._renamed_in.add(up)
                up = os.path.dirname(up)

    def sweep_tmp(self, older_than_s: float = STALE_TMP_SECONDS) -> int:
        """Delete temp uploads left by pushes killed long ago (others may be uploading now)."""
        if self.atomic_put:
            return 0
        fs = self.fs()
        try:
            entries = fs.ls(self.path("tmp"), detail=True)
        except Exception:  # noqa: BLE001 - nothing to sweep, or cannot tell: leave it
            return 0
        cutoff = time.time() - older_than_s
        n = 0
        for e in entries:
            mtime = e.get("mtime")
            if hasattr(mtime, "timestamp"):
                mtime = mtime.timestamp()
            if isinstance(mtime, (int, float)) and mtime < cutoff and e.get("type") == "file":
                try:
                    fs.rm_file(e["name"])
                    n += 1
                except Exception:  # noqa: BLE001 - another push swept it first
                    pass
        return n
