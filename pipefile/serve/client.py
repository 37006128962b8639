"""`pipe invoke`: the client side of the REST API (httpx).

Uploads data inputs (skipping what the server already has: the digest is computed
here first and asked for with HEAD), submits the job, optionally waits for it and
downloads its outputs. A folder goes up as a tar archive and comes back as one;
what comes back is unpacked with the same member checks the server applies.

The server is not trusted (docs/endpoints.md, "Security"): the token is only ever sent
to the origin of --url, and only requests to that origin are made at all (server URLs
elsewhere and redirects elsewhere are refused); output names must be one plain path
component; a download is written to a temporary name inside --out and renamed only once
it is complete, the size the job gives and (files) its digest checked.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from typing import Callable, Optional

from ..digest import FILE, IGNORED_NAMES, IGNORED_SUFFIXES, TREE, Hasher, StatCache, hash_file
from ..errors import PipefileError, StepFailed
from ..loader import convert_param_text

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_PORTS = {"http": 80, "https": 443}
NAME_MAX_BYTES = 200  # an output's name; with its extension and a temporary suffix it stays under 255
TREE_SLACK = 1 << 20  # tar bytes allowed besides file content: the first headers...
MEMBER_SLACK = 64 << 10  # ...and per member (its header, a pax header, padding)
TRAILER_MAX = 1 << 20  # bytes after the archive's end (tar pads to 10 KiB records)


def origin_of(url) -> tuple:
    """(scheme, host, port) of an absolute URL, normalised: case, a trailing dot, default port."""
    import httpx

    u = url if isinstance(url, httpx.URL) else httpx.URL(url)
    scheme = u.scheme.lower()
    return scheme, u.host.lower().rstrip("."), u.port or DEFAULT_PORTS.get(scheme)


def is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class OffOrigin(PipefileError):
    """A request to somewhere other than the --url server: never sent."""


def _bearer_auth(token: str, origin: tuple, on_send: Callable[[], None]):
    """The token as `Authorization: Bearer`, added only to requests to the server's origin.

    Requests elsewhere are refused before they are sent anyway (Client._only_origin); this
    keeps the token off them even if that check were bypassed."""
    import httpx  # here, not at the top: `pipe` starts without importing httpx

    class Bearer(httpx.Auth):
        def auth_flow(self, request):
            if origin_of(request.url) == origin:
                on_send()
                request.headers["Authorization"] = f"Bearer {token}"
            yield request

    return Bearer()


@dataclass
class _Output:
    name: str
    kind: str
    size: int
    digest: Optional[str]
    url: str
    filename: str  # name + extension: one path component


class Client:
    def __init__(self, url: str, token: Optional[str], timeout: float = 60.0,
                 warn: Optional[Callable[[str], None]] = None):
        import httpx

        if not token:
            raise PipefileError("no token to call the server with",
                                hint="give --token TOKEN or set PIPE_TOKEN (pipe token create makes one)")
        self.base = url.rstrip("/")
        self.origin = _server_origin(url)
        self._warn = warn or (lambda m: print(m, file=sys.stderr))
        self._warned = False
        # Redirects are followed per request (GETs only), each hop checked by _only_origin.
        self.http = httpx.Client(base_url=self.base, auth=_bearer_auth(token, self.origin, self._on_token_sent),
                                 event_hooks={"request": [self._only_origin]}, follow_redirects=False,
                                 timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def _on_token_sent(self) -> None:
        scheme, host, _port = self.origin
        if scheme == "http" and not is_loopback(host) and not self._warned:
            self._warned = True
            self._warn(f"warning: sending the token over plain http to {host}: anyone on the way can read it "
                       f"(use https, or a loopback address through an ssh tunnel)")

    def _only_origin(self, request) -> None:
        """Every request, redirects included, goes to the --url origin, or is not sent."""
        if origin_of(request.url) != self.origin:
            raise OffOrigin(f"the server pointed pipe invoke at {_shown_url(request.url)}, which is not the server "
                            f"{self.base}; nothing was sent there (the token is only sent to --url)",
                            hint="if the server moved, give its new address with --url")

    def resolve(self, url, what: str) -> str:
        """A URL the server gave: relative (resolved against --url) or on the --url origin."""
        import httpx

        if not isinstance(url, str) or not url:
            raise PipefileError(f"{what}: the server gave no URL ({url!r})")
        try:
            u = httpx.URL(url)
        except (httpx.InvalidURL, TypeError, ValueError) as e:
            raise PipefileError(f"{what}: the server gave {url[:200]!r}, which is not a URL ({e})") from None
        if u.scheme or u.host:
            full = u if u.scheme else u.copy_with(scheme=self.origin[0])  # //host/path
            if not full.host or origin_of(full) != self.origin:
                raise OffOrigin(f"{what}: the server gave the URL {_shown_url(url)}, which is not on the server "
                                f"{self.base}; refused (the token is only sent to --url)",
                                hint="if the server moved, give its new address with --url")
            return str(full)
        return url

    def _check(self, r, what: str):
        if r.status_code < 300:
            return r
        if r.status_code < 400:  # a redirect not followed (not a GET)
            raise PipefileError(f"{what}: the server answered {r.status_code}, a redirect to "
                                f"{_shown_url(r.headers.get('location', '?'))}",
                                hint="give --url the address the server answers on")
        try:
            err = r.json().get("error", {})
            message, hint = err.get("message") or str(r.json()), err.get("hint")
        except (ValueError, AttributeError):
            message, hint = r.text[:500], None
        raise PipefileError(f"{what}: the server answered {r.status_code}: {message}", hint=hint)

    def _send(self, method: str, path: str, what: str, **kw):
        import httpx

        kw.setdefault("follow_redirects", method == "GET")
        try:
            return self.http.request(method, path, **kw)
        except OffOrigin as e:
            raise PipefileError(f"{what}: {e.message}", hint=e.hint) from None
        except httpx.TooManyRedirects:
            raise PipefileError(f"{what}: the server redirects in a loop",
                                hint="give --url the address the server answers on") from None
        except httpx.HTTPError as e:
            raise PipefileError(f"{what}: cannot reach {self.base} ({e})",
                                hint="is `pipe serve` running there? give its address with --url") from None

    def request(self, method: str, path: str, what: str, **kw):
        return self._check(self._send(method, path, what, **kw), what)

    def request_json(self, method: str, path: str, what: str, **kw) -> dict:
        r = self.request(method, path, what, **kw)
        try:
            got = r.json()
        except ValueError:
            got = None
        if not isinstance(got, dict):
            raise PipefileError(f"{what}: the server's answer is not a JSON object: {r.text[:200]!r}",
                                hint="is --url the address of a `pipe serve` server?")
        return got

    # --- the steps of an invocation ---------------------------------------------------------
    def endpoint(self, name: str) -> dict:
        return self.request_json("GET", f"/v1/endpoints/{name}", f"endpoint '{name}'")

    def upload(self, path: str) -> dict:
        """{"upload": digest} for a file or folder, sent only if the server lacks it."""
        if os.path.isdir(path):
            digest = Hasher(os.path.dirname(os.path.abspath(path)), StatCache()).tree(
                os.path.basename(os.path.abspath(path))).digest
        elif os.path.isfile(path):
            digest = hash_file(path)
        else:
            raise PipefileError(f"there is no file or folder at '{path}'", hint="give the path of the data to send")
        r = self._send("HEAD", f"/v1/uploads/{digest}", f"uploading {path}")
        if r.status_code == 200:
            return {"upload": digest}
        if os.path.isdir(path):
            with tempfile.TemporaryFile() as f:
                _tar_folder(path, f)
                f.seek(0)
                got = self.request_json("POST", "/v1/uploads", f"uploading {path}", content=f,
                                        headers={"Content-Type": "application/x-tar"})
        else:
            with open(path, "rb") as f:
                got = self.request_json("POST", "/v1/uploads", f"uploading {path}", content=f,
                                        headers={"Content-Type": "application/octet-stream"})
        if not isinstance(got.get("digest"), str):
            raise PipefileError(f"uploading {path}: the server's answer names no digest: {str(got)[:200]}")
        return {"upload": got["digest"]}

    def submit(self, endpoint: str, deployment: Optional[int], inputs: dict, force_rerun: bool,
               idempotency_key: Optional[str] = None) -> dict:
        path = f"/v1/endpoints/{endpoint}" + (f"/deployments/{deployment}" if deployment else "") + "/jobs"
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return _checked_job(self.request_json("POST", path, f"invoking '{endpoint}'", headers=headers,
                                              json={"inputs": inputs, "force_rerun": force_rerun}),
                            f"invoking '{endpoint}'")

    def wait(self, job_id: int, on_event: Callable[[dict], None], timeout: Optional[float] = None) -> dict:
        after = 0
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            got = self.request_json("GET", f"/v1/jobs/{job_id}/events", f"job {job_id}",
                                    params={"wait": 30, "after": after})
            events = got.get("events")
            if not isinstance(events, list) or not all(
                    isinstance(e, dict) and _is_int(e.get("seq")) and isinstance(e.get("kind"), str)
                    and isinstance(e.get("data"), dict) for e in events):
                raise PipefileError(f"job {job_id}: the server's events are of the wrong shape: {str(events)[:200]}")
            for e in events:
                after = e["seq"]
                on_event(e)
            if got.get("done"):
                return _checked_job(self.request_json("GET", f"/v1/jobs/{job_id}", f"job {job_id}"), f"job {job_id}")
            if deadline is not None and time.monotonic() > deadline:
                raise PipefileError(f"job {job_id} did not end within {timeout:g}s; it goes on on the server",
                                    hint=f"check later: GET /v1/jobs/{job_id}")

    def download(self, job: dict, out_dir: str) -> list:
        """Every output of a completed job into out_dir; returns the paths written.

        Everything the server says about the outputs is checked before anything is
        written; each output goes to a temporary name inside out_dir and is renamed to its
        own name once complete, so a failure leaves no partial output behind."""
        outputs = self._plan(job)
        try:
            os.makedirs(out_dir, exist_ok=True)
        except OSError as e:
            raise PipefileError(f"cannot make the --out folder '{out_dir}' ({e.strerror})",
                                hint="choose another --out folder") from None
        # Writes go to the real folder, each to one name directly inside it.
        real_out = os.path.realpath(out_dir)
        for o in outputs:
            if os.path.lexists(os.path.join(real_out, o.filename)):
                raise PipefileError(f"'{os.path.join(out_dir, o.filename)}' already exists; nothing was written",
                                    hint="choose another --out folder, or move it away first")
        need = sum(o.size for o in outputs)
        free = _free_bytes(real_out)
        if free is not None and need > free:
            raise PipefileError(f"the outputs take {need} bytes and '{out_dir}' has {free} free; nothing was written",
                                hint="free some space, or choose another --out folder")
        written = []
        for o in outputs:
            self._fetch(o, real_out, os.path.join(out_dir, o.filename))
            written.append(os.path.join(out_dir, o.filename))
        return written

    def _plan(self, job: dict) -> list:
        """The job's outputs as _Output, every name, kind, size and URL checked."""
        outputs = job.get("outputs", {}) if isinstance(job, dict) else None
        if not isinstance(outputs, dict):
            raise PipefileError(f"the server's job has outputs of the wrong shape: {str(outputs)[:200]}")
        plan: list = []
        taken: dict = {}
        for name, o in outputs.items():
            problem = unsafe_name(name)
            if problem:
                raise PipefileError(f"the server named an output {_shown(name)}, which {problem}; nothing was written",
                                    hint="each output is written as one file or folder directly inside --out; "
                                         "this server (or something between it and you) is not to be trusted")
            what = f"output '{name}'"
            if not isinstance(o, dict) or o.get("kind") not in (FILE, TREE):
                raise PipefileError(f"{what}: the server describes it as {str(o)[:200]}, not a file or folder")
            size, digest = o.get("size"), o.get("digest")
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise PipefileError(f"{what}: the server gives its size as {size!r}, not a number of bytes")
            if digest is not None and not (isinstance(digest, str) and re.fullmatch(r"[0-9a-f]{1,128}", digest)):
                raise PipefileError(f"{what}: the server gives its digest as {_shown(digest)}, not a digest")
            filename = o.get("filename") if o["kind"] == FILE else ""
            ext = os.path.splitext(filename)[1] if isinstance(filename, str) else ""
            filename = name + (ext if _safe_ext(ext) else "")
            if filename.casefold() in taken:  # case-blind file systems would write both to one place
                raise PipefileError(f"{what} and output '{taken[filename.casefold()]}' would both be written "
                                    f"as '{filename}'; nothing was written")
            taken[filename.casefold()] = name
            plan.append(_Output(name, o["kind"], size, digest, self.resolve(o.get("url"), what), filename))
        return plan

    @contextlib.contextmanager
    def _stream(self, url: str, what: str):
        """The GET response of url, streamed; a broken connection is a PipefileError."""
        import httpx

        try:
            with self.http.stream("GET", url, follow_redirects=True) as r:
                if r.status_code >= 300:
                    r.read()
                    self._check(r, what)
                yield r
        except OffOrigin as e:
            raise PipefileError(f"{what}: {e.message}", hint=e.hint) from None
        except httpx.TooManyRedirects:
            raise PipefileError(f"{what}: the server redirects in a loop") from None
        except httpx.HTTPError as e:
            raise PipefileError(f"{what}: the download from {self.base} failed or broke off ({e})",
                                hint="nothing of it was kept; run the command again") from None

    def _fetch(self, o: _Output, real_out: str, shown: str) -> None:
        what = f"downloading output '{o.name}'"
        dest = os.path.join(real_out, o.filename)
        if os.path.realpath(os.path.dirname(dest)) != real_out:  # a name that is no plain component slipped by
            raise PipefileError(f"{what}: '{shown}' is not inside the --out folder")
        prefix, suffix = f".{o.filename[:40]}.", ".part"
        fd = tmp = None
        try:
            # A fresh name of its own (O_EXCL), so nothing planted in --out is written through.
            if o.kind == FILE:
                fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=real_out)
                os.fchmod(fd, 0o666 & ~_umask())
            else:
                tmp = tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=real_out)
                os.chmod(tmp, 0o777 & ~_umask())
            with self._stream(o.url, what) as r:
                if o.kind == FILE:
                    with os.fdopen(fd, "wb") as f:
                        fd = None
                        _receive_file(r, f, o, what)
                else:
                    body = _Body(r.iter_bytes(), TREE_SLACK, what)
                    _untar_safely(body, tmp, o.size, what, on_member=lambda size: body.allow(size + MEMBER_SLACK))
                    body.allow(TRAILER_MAX)
                    body.read()  # the padding after the archive's end; more than that is refused
            if o.kind == FILE and o.digest is not None:
                got = hash_file(tmp)
                if got != o.digest:
                    raise PipefileError(f"{what}: what arrived has digest {got}, and the job says {o.digest}",
                                        hint="the download was altered or damaged on the way; nothing of it was kept")
            _place(tmp, dest, shown, o.kind == FILE)
        except OSError as e:
            raise PipefileError(f"{what}: cannot write into '{os.path.dirname(shown) or '.'}' ({e.strerror or e})",
                                hint="nothing of it was kept") from None
        finally:
            if fd is not None:
                os.close(fd)
            if tmp is not None:
                _remove(tmp)


def _safe_ext(ext: str) -> bool:
    return bool(ext) and len(ext) <= 16 and all(c.isalnum() or c == "." for c in ext) and ext.count(".") == 1


def _tar_folder(path: str, f) -> None:
    """The folder as a tar archive of its files and folders (links followed), skipping
    what pipe never hashes, so the server computes the digest computed here."""
    with tarfile.open(fileobj=f, mode="w") as tf:
        for dirpath, dirnames, filenames in os.walk(path, followlinks=True):
            dirnames[:] = sorted(d for d in dirnames if d not in IGNORED_NAMES and not d.endswith(IGNORED_SUFFIXES))
            rel_dir = os.path.relpath(dirpath, path)
            if rel_dir != ".":
                tf.add(dirpath, arcname=rel_dir.replace(os.sep, "/"), recursive=False)
            for name in sorted(filenames):
                if name in IGNORED_NAMES or name.endswith(IGNORED_SUFFIXES):
                    continue
                full = os.path.join(dirpath, name)
                if not os.path.isfile(full):
                    continue  # a dangling link, a fifo: not data
                arc = os.path.normpath(os.path.join(rel_dir, name)).replace(os.sep, "/")
                info = tf.gettarinfo(full, arcname=arc)
                if info.issym() or info.islnk():
                    info = tf.gettarinfo(os.path.realpath(full), arcname=arc)
                with open(full, "rb") as src:
                    tf.addfile(info, src)


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
                raise PipefileError(f"{self.what}: the server sends more than the folder's size and its archive "
                                    f"headers can take ({self.limit} bytes); refused, nothing of it was kept",
                                    hint="the server is not answering as `pipe serve` does")
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
        if not announced.isdigit() or int(announced) != o.size:
            raise PipefileError(f"{what}: the server announces {announced[:40]} bytes, and the job says {o.size}; "
                                f"refused, nothing of it was kept",
                                hint="the server is not answering as `pipe serve` does")
    got = 0
    for chunk in r.iter_bytes():
        got += len(chunk)
        if got > o.size:
            raise PipefileError(f"{what}: the server sends more than the {o.size} bytes the job says; refused, "
                                f"nothing of it was kept", hint="the server is not answering as `pipe serve` does")
        f.write(chunk)
    if got != o.size:
        raise PipefileError(f"{what}: only {got} of its {o.size} bytes arrived; nothing of it was kept",
                            hint="run the command again")


def _place(tmp: str, dest: str, shown: str, is_file: bool) -> None:
    """tmp to dest, never replacing what is there (a file by a hard link: atomic, no clobber)."""
    exists = PipefileError(f"'{shown}' appeared while downloading; it was left as it is",
                           hint="choose another --out folder, or move it away first")
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
    from .uploads import MAX_MEMBERS, UploadError, _Layout, _member_path

    layout, total, count = _Layout(), 0, 0
    try:
        with tarfile.open(fileobj=f, mode="r|") as tf:
            for m in tf:
                count += 1
                if count > MAX_MEMBERS:
                    raise UploadError(f"the archive has more than {MAX_MEMBERS} members")
                rel = _member_path(m.name)
                if not (m.isreg() or m.isdir()):
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
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
                             0o777 if m.mode & 0o111 else 0o666)
                with os.fdopen(fd, "wb") as out:
                    src = tf.extractfile(m)
                    while src is not None:
                        b = src.read(1 << 20)
                        if not b:
                            break
                        out.write(b)
    except UploadError as e:
        raise PipefileError(f"{what}: {e.message}; refused, nothing of it was kept",
                            hint="the server is not answering as `pipe serve` does") from None
    except (tarfile.TarError, EOFError) as e:
        raise PipefileError(f"{what}: the archive is damaged or cut short ({e}); nothing of it was kept",
                            hint="run the command again") from None
    if total != size:
        raise PipefileError(f"{what}: only {total} of its {size} bytes arrived; nothing of it was kept",
                            hint="run the command again")


def _server_origin(url: str) -> tuple:
    """The origin of --url, which must be an http(s) URL with a host."""
    import httpx

    try:
        u = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as e:
        raise PipefileError(f"--url {url}: not a URL ({e})", hint="write it as http://HOST:PORT") from None
    if u.scheme.lower() not in DEFAULT_PORTS or not u.host:
        raise PipefileError(f"--url {url}: not an http or https URL with a host",
                            hint="write it as http://HOST:PORT (or https://...)")
    return origin_of(u)


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


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _checked_job(job: dict, what: str) -> dict:
    """A job as the server describes it: what pipe invoke reads of it has the right types."""
    if not (_is_int(job.get("id")) and isinstance(job.get("state"), str) and isinstance(job.get("url", ""), str)
            and isinstance(job.get("error") or "", str)):
        raise PipefileError(f"{what}: the server's job is of the wrong shape: {str(job)[:200]}")
    return job


def printable(value) -> str:
    """Text from the server, safe to print: control characters (terminal escapes) shown escaped."""
    text = value if isinstance(value, str) else str(value)
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _shown_url(url) -> str:
    return _shown(str(url))

def parse_inputs(client: Client, schema: dict, params, data) -> dict:
    """-p NAME=VALUE (converted by the endpoint's input types) and -i NAME=PATH |
    artifact:NAME:V | job:ID/OUTPUT into a request's inputs."""
    from ..errors import did_you_mean

    inputs: dict = {}
    for pair, what in [(p, "-p") for p in params] + [(d, "-i") for d in data]:
        if "=" not in pair:
            raise PipefileError(f"{what} {pair}: expected NAME=VALUE")
        name, text = pair.split("=", 1)
        decl = schema.get(name) if isinstance(schema, dict) else None
        if decl is not None and not (isinstance(decl, dict) and isinstance(decl.get("kind"), str)
                                     and (decl["kind"] != "param" or isinstance(decl.get("type"), str))):
            raise PipefileError(f"{what} {pair}: the server describes input '{name}' as {str(decl)[:200]}",
                                hint="is --url the address of a `pipe serve` server?")
        if decl is None:
            raise PipefileError(f"{what} {pair}: the endpoint has no input '{name}'",
                                hint=did_you_mean(name, schema, "input") or "it takes no inputs")
        if decl["kind"] == "param":
            if what == "-i":
                raise PipefileError(f"-i {pair}: '{name}' is a param", hint=f"give it with -p {name}=VALUE")
            value = convert_param_text(text, decl["type"])
            if value is None:
                raise PipefileError(f"-p {pair}: '{name}' is a {decl['type']}, and {text!r} is not one")
            inputs[name] = value
        else:
            if what == "-p":
                raise PipefileError(f"-p {pair}: '{name}' is data", hint=f"give it with -i {name}=PATH")
            if text.startswith("artifact:"):
                inputs[name] = {"artifact": text[len("artifact:"):]}
            elif text.startswith("job:"):
                inputs[name] = {"job_output": text[len("job:"):]}
            else:
                inputs[name] = client.upload(text)
    return inputs


def job_failed(job: dict) -> Optional[StepFailed]:
    if job["state"] == "completed":
        return None
    return StepFailed(f"job {job['id']} ended {printable(job['state'])}" +
                      (f": {printable(job['error'])}" if job.get("error") else ""),
                      hint=f"logs: GET /v1/jobs/{job['id']}/logs/STEP")

