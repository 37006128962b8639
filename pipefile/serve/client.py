"""`pipe invoke`: the client side of the REST API (httpx). Writing the outputs into --out
is serve/download.py.

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
import sys
import tarfile
import tempfile
import time
from typing import Callable, Optional

from ..digest import IGNORED_NAMES, IGNORED_SUFFIXES, Hasher, StatCache, hash_file
from ..errors import PipefileError
from ..load import convert_param_text, enum_hint, type_example, with_article
from ..names import is_utf8, shown
from ..printable import printable
from .answers import MAX_ANSWER, MAX_ERROR_BODY, Answer, brief_repr, parse_json, read_answer

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url) -> tuple:
    """(scheme, host, port) of an absolute URL, normalised: case, a trailing dot, default port."""
    import httpx

    u = url if isinstance(url, httpx.URL) else httpx.URL(url)
    scheme = u.scheme.lower()
    return scheme, u.host.lower().rstrip("."), u.port or DEFAULT_PORTS.get(scheme)


def is_loopback(host: str) -> bool:
    """Whether a connection to `host` surely stays on this machine: a loopback address, or
    the name `localhost` itself. Not `*.localhost`: RFC 6761 asks resolvers to keep those
    local, but many pass them on to DNS, and then the token would go wherever DNS says."""
    if host == "localhost":
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


class Client:
    def __init__(
        self, url: str, token: Optional[str], timeout: float = 60.0, warn: Optional[Callable[[str], None]] = None
    ):
        import httpx

        if not token:
            raise PipefileError(
                "no token to call the server with",
                hint="give --token TOKEN or set PIPE_TOKEN (pipe token create makes one)",
            )
        self.base = url.rstrip("/")
        self.timeout = timeout  # seconds the server may send nothing; an answer's body gets twice it in all
        self.origin = _server_origin(url)
        self._warn = warn or (lambda m: print(m, file=sys.stderr))
        self._warned = False
        # Redirects are followed per request (GETs only), each hop checked by _only_origin.
        self.http = httpx.Client(
            base_url=self.base,
            auth=_bearer_auth(token, self.origin, self._on_token_sent),
            event_hooks={"request": [self._only_origin]},
            follow_redirects=False,
            timeout=timeout,
        )

    def close(self) -> None:
        self.http.close()

    def _on_token_sent(self) -> None:
        scheme, host, _port = self.origin
        if scheme == "http" and not is_loopback(host) and not self._warned:
            self._warned = True
            self._warn(
                f"warning: sending the token over plain http to {host}: anyone on the way can read it "
                f"(use https, or a loopback address through an ssh tunnel)"
            )

    def _only_origin(self, request) -> None:
        """Every request, redirects included, goes to the --url origin, or is not sent."""
        if origin_of(request.url) != self.origin:
            raise OffOrigin(
                f"the server pointed pipe invoke at {_shown_url(request.url)}, which is not the server "
                f"{self.base}; nothing was sent there (the token is only sent to --url)",
                hint="if the server moved, give its new address with --url",
            )

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
                raise OffOrigin(
                    f"{what}: the server gave the URL {_shown_url(url)}, which is not on the server "
                    f"{self.base}; refused (the token is only sent to --url)",
                    hint="if the server moved, give its new address with --url",
                )
            return str(full)
        return url

    def _check(self, r, what: str):
        """The answer `r` (an Answer) if it is not an error; else the server's error, its
        text escaped (it is the server's, printed on the user's terminal)."""
        if r.status_code < 300:
            return r
        if r.status_code < 400:  # a redirect not followed (not a GET)
            raise PipefileError(
                f"{what}: the server answered {r.status_code}, a redirect to "
                f"{_shown_url(r.headers.get('location', '?'))}",
                hint="give --url the address the server answers on",
            )
        message, hint = None, None
        try:
            got = parse_json(r.body)
        except ValueError:
            got = None
        err = got.get("error") if isinstance(got, dict) else None
        if isinstance(err, dict):
            message, hint = err.get("message"), err.get("hint")
        if not message:
            message = r.text()
        raise PipefileError(
            f"{what}: the server answered {r.status_code}: {said(message)}", hint=said(hint) if hint else None
        )

    def _send(self, method: str, path: str, what: str, limit: int = MAX_ANSWER, **kw) -> "Answer":
        """The answer to one request, its body read whole but never more than `limit`
        bytes (decompressed: what is counted is what is kept); an error's body only up to
        MAX_ERROR_BODY (only its start is shown)."""
        import httpx

        follow = kw.pop("follow_redirects", method == "GET")
        try:
            r = self._open(self.http.build_request(method, path, **kw), follow)
        except OffOrigin as e:
            raise PipefileError(f"{what}: {e.message}", hint=e.hint) from None
        except httpx.TooManyRedirects:
            raise PipefileError(
                f"{what}: the server redirects in a loop", hint="give --url the address the server answers on"
            ) from None
        except httpx.ReadTimeout:  # (it was reached: "cannot reach" would send the user looking for it)
            raise PipefileError(
                f"{what}: {self.base} sent no answer within {self.timeout:g}s",
                hint="the server is busy or stuck: run the command again later",
            ) from None
        except httpx.HTTPError as e:
            raise PipefileError(
                f"{what}: cannot reach {self.base} ({e})",
                hint="is `pipe serve` running there? give its address with --url",
            ) from None
        try:
            return read_answer(r, what, limit, 2 * self.timeout)
        except httpx.HTTPError as e:
            raise PipefileError(
                f"{what}: the answer from {self.base} broke off ({e})", hint="run the command again"
            ) from None
        finally:
            r.close()

    def _open(self, request, follow: bool):
        """The streamed response to `request`, redirects followed here when `follow` (each
        hop checked by _only_origin): httpx itself would read every redirect's body whole
        before going on, however long or compressed; here it is never read."""
        import httpx

        hops = 0
        while True:
            r = self.http.send(request, stream=True, follow_redirects=False)
            if not follow or r.next_request is None:
                return r
            r.close()
            hops += 1
            if hops > self.http.max_redirects:
                raise httpx.TooManyRedirects("Exceeded maximum allowed redirects.", request=request)
            request = r.next_request

    def request(self, method: str, path: str, what: str, **kw) -> "Answer":
        return self._check(self._send(method, path, what, **kw), what)

    def request_json(self, method: str, path: str, what: str, **kw) -> dict:
        r = self.request(method, path, what, **kw)
        try:
            got = parse_json(r.body)
        except ValueError as e:
            raise PipefileError(
                f"{what}: the server's answer is not a JSON object ({e}): {r.text()[:200]!r}",
                hint="is --url the address of a `pipe serve` server?",
            ) from None
        if not isinstance(got, dict):
            raise PipefileError(
                f"{what}: the server's answer is not a JSON object: {r.text()[:200]!r}",
                hint="is --url the address of a `pipe serve` server?",
            )
        return got

    # --- the steps of an invocation ---------------------------------------------------------
    def endpoint(self, name: str) -> dict:
        return self.request_json("GET", f"/v1/endpoints/{name}", f"endpoint '{name}'")

    def upload(self, path: str) -> dict:
        """{"upload": digest} for a file or folder, sent only if the server lacks it."""
        if os.path.isdir(path):
            digest = (
                Hasher(os.path.dirname(os.path.abspath(path)), StatCache())
                .tree(os.path.basename(os.path.abspath(path)))
                .digest
            )
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
                got = self.request_json(
                    "POST", "/v1/uploads", f"uploading {path}", content=f, headers={"Content-Type": "application/x-tar"}
                )
        else:
            with open(path, "rb") as f:
                got = self.request_json(
                    "POST",
                    "/v1/uploads",
                    f"uploading {path}",
                    content=f,
                    headers={"Content-Type": "application/octet-stream"},
                )
        if not isinstance(got.get("digest"), str):
            raise PipefileError(f"uploading {path}: the server's answer names no digest: {str(got)[:200]}")
        return {"upload": got["digest"]}

    def submit(
        self,
        endpoint: str,
        deployment: Optional[int],
        inputs: dict,
        force_rerun: bool,
        idempotency_key: Optional[str] = None,
    ) -> dict:
        path = f"/v1/endpoints/{endpoint}" + (f"/deployments/{deployment}" if deployment else "") + "/jobs"
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return _checked_job(
            self.request_json(
                "POST",
                path,
                f"invoking '{endpoint}'",
                headers=headers,
                json={"inputs": inputs, "force_rerun": force_rerun},
            ),
            f"invoking '{endpoint}'",
        )

    def wait(self, job_id: int, on_event: Callable[[dict], None], timeout: Optional[float] = None) -> dict:
        after = 0
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            got = self.request_json(
                "GET", f"/v1/jobs/{job_id}/events", f"job {job_id}", params={"wait": 30, "after": after}
            )
            events = got.get("events")
            if not isinstance(events, list) or not all(
                isinstance(e, dict)
                and _is_int(e.get("seq"))
                and isinstance(e.get("kind"), str)
                and isinstance(e.get("data"), dict)
                for e in events
            ):
                raise PipefileError(f"job {job_id}: the server's events are of the wrong shape: {str(events)[:200]}")
            for e in events:
                after = e["seq"]
                on_event(e)
            if got.get("done"):
                return _checked_job(self.request_json("GET", f"/v1/jobs/{job_id}", f"job {job_id}"), f"job {job_id}")
            if deadline is not None and time.monotonic() > deadline:
                raise PipefileError(
                    f"job {job_id} did not end within {timeout:g}s; it goes on on the server",
                    hint=f"follow it: pipe logs --url {self.base} {job_id} --follow",
                )

    @contextlib.contextmanager
    def stream(self, url: str, what: str):
        """The GET response of url, streamed (read it with `body_chunks`); a broken
        connection is a PipefileError."""
        import httpx

        try:
            r = self._open(self.http.build_request("GET", url), True)
            try:
                if r.status_code >= 300:
                    self._check(read_answer(r, what, MAX_ERROR_BODY), what)
                yield r
            finally:
                r.close()
        except OffOrigin as e:
            raise PipefileError(f"{what}: {e.message}", hint=e.hint) from None
        except httpx.TooManyRedirects:
            raise PipefileError(f"{what}: the server redirects in a loop") from None
        except httpx.HTTPError as e:
            raise PipefileError(
                f"{what}: the download from {self.base} failed or broke off ({e})",
                hint="nothing of it was kept; run the command again",
            ) from None


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


def _server_origin(url: str) -> tuple:
    """The origin of --url, which must be an http(s) URL with a host."""
    import httpx

    try:
        u = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as e:
        raise PipefileError(f"--url {url}: not a URL ({e})", hint="write it as http://HOST:PORT") from None
    if u.scheme.lower() not in DEFAULT_PORTS or not u.host:
        raise PipefileError(
            f"--url {url}: not an http or https URL with a host", hint="write it as http://HOST:PORT (or https://...)"
        )
    return origin_of(u)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _checked_job(job: dict, what: str) -> dict:
    """A job as the server describes it: what pipe invoke reads of it has the right types."""
    if not (
        _is_int(job.get("id"))
        and isinstance(job.get("state"), str)
        and isinstance(job.get("url", ""), str)
        and isinstance(job.get("error") or "", str)
    ):
        raise PipefileError(f"{what}: the server's job is of the wrong shape: {str(job)[:200]}")
    return job


def said(value, limit: int = 1000) -> str:
    """What the server said (an error's message or hint), escaped and cut to `limit` characters."""
    text = printable(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def _shown_url(url) -> str:
    return brief_repr(str(url))


def parse_inputs(client: Client, schema: dict, params, data) -> dict:
    """-p NAME=VALUE (converted by the endpoint's input types) and -i NAME=PATH |
    artifact:NAME:V | job:ID/OUTPUT into a request's inputs."""
    from ..errors import did_you_mean

    inputs: dict = {}
    for pair, what in [(p, "-p") for p in params] + [(d, "-i") for d in data]:
        if what == "-p" and not is_utf8(pair):  # (sent as JSON text: UTF-8)
            raise PipefileError(
                f"-p {shown(pair)}: is not UTF-8 text (a byte of it is not UTF-8)", hint="give the param in UTF-8"
            )
        if "=" not in pair:
            raise PipefileError(f"{what} {pair}: expected NAME=VALUE")
        name, text = pair.split("=", 1)
        decl = schema.get(name) if isinstance(schema, dict) else None
        if decl is not None and not (
            isinstance(decl, dict)
            and isinstance(decl.get("kind"), str)
            and (decl["kind"] != "param" or isinstance(decl.get("type"), str))
        ):
            raise PipefileError(
                f"{what} {pair}: the server describes input '{name}' as {str(decl)[:200]}",
                hint="is --url the address of a `pipe serve` server?",
            )
        if decl is None:
            raise PipefileError(
                f"{what} {pair}: the endpoint has no input '{name}'",
                hint=said(did_you_mean(name, schema, "input") or "it takes no inputs"),
            )
        if decl["kind"] == "param":
            if what == "-i":
                raise PipefileError(f"-i {pair}: '{name}' is a param", hint=f"give it with -p {name}=VALUE")
            value = convert_param_text(text, decl["type"])
            if value is None:
                raise PipefileError(
                    f"-p {pair}: '{name}' is {with_article(decl['type'])}, and {text!r} is not one",
                    hint=type_example(decl["type"]),
                )
            choices = decl.get("enum")
            if isinstance(choices, list) and choices and value not in choices:
                raise PipefileError(
                    f"-p {pair}: '{name}' is {value!r}, which is not one of its enum values",
                    hint=said(enum_hint(value, choices)),
                )
            inputs[name] = value
        else:
            if what == "-p":
                raise PipefileError(f"-p {pair}: '{name}' is data", hint=f"give it with -i {name}=PATH")
            if text.startswith("artifact:"):
                inputs[name] = {"artifact": text[len("artifact:") :]}
            elif text.startswith("job:"):
                inputs[name] = {"job_output": text[len("job:") :]}
            else:
                inputs[name] = client.upload(text)
    _check_required(schema, inputs)
    return inputs


def _check_required(schema: dict, inputs: dict) -> None:
    """Every input the endpoint needs is given: said here in the options' terms (-i/-p),
    before anything is sent, rather than in the server's JSON terms."""
    if not isinstance(schema, dict):
        return
    missing = [
        (name, decl)
        for name, decl in schema.items()
        if name not in inputs
        and isinstance(decl, dict)
        and (decl.get("required") or (decl.get("kind") == "param" and "default" not in decl))
    ]
    if not missing:
        return
    names = ", ".join(f"'{printable(n)}'" for n, _ in missing)
    how = " ".join(
        f"-p {printable(n)}=VALUE" if d.get("kind") == "param" else f"-i {printable(n)}=PATH" for n, d in missing
    )
    data = any(d.get("kind") != "param" for _, d in missing)
    raise PipefileError(
        f"the endpoint needs input{'s' if len(missing) > 1 else ''} {names}, not given",
        hint=f"give {how}"
        + (" (PATH: a file or folder to upload, or artifact:NAME:VERSION, or job:JOB/OUTPUT)" if data else ""),
    )
