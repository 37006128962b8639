"""What every request to `pipe ui` passes before any route (pure ASGI, so event streams
stay streamed): the Host header must name this server (a loopback name or the bound
host, with the bound port: DNS rebinding), an Origin header must be this server's own
origin (a page of another site must not drive the designer through the user's browser),
and `/api/*` needs the token: the `pipe_ui_token` cookie (set by `GET /?token=T`) or
`Authorization: Bearer T`. `/` itself needs the token in its query or the cookie.
Refusals are JSON in the designer's one error shape."""

from __future__ import annotations

import hmac
import json
from http.cookies import SimpleCookie
from typing import Optional
from urllib.parse import parse_qs, urlsplit

from .errors_view import error_body

COOKIE = "pipe_ui_token"
MAX_BODY = 4 * 2**20  # edit operations and run requests are small; a larger body is refused (413)
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


def split_host(value: str) -> tuple:
    """(host name, port or None) of a Host header value."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return value, None
        name, rest = value[1:end], value[end + 1 :]
    elif value.count(":") == 1:
        name, rest = value.split(":", 1)
        rest = ":" + rest
    else:
        name, rest = value, ""
    port = rest[1:]
    # (str.isdigit() takes '²', which int() refuses, and int() refuses 5000 digits: a 500 each)
    if rest.startswith(":") and port.isascii() and port.isdigit() and len(port) <= 5:
        return name, int(port)
    return name, None if not rest else -1


def token_matches(given: Optional[str], token: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


class UiGuard:
    def __init__(self, app, token: str, host: str, port: int):
        self.app = app
        self.token = token
        self.port = port
        # Listening on every interface (--allow-remote): any name this machine is reached
        # by, with the port; the token keeps a rebound name out (its cookie is not sent there).
        self.any_host = host in ("0.0.0.0", "::", "")
        self.hosts = set(LOOPBACK_NAMES) | ({host.lower().strip("[]")} if not self.any_host else set())

    async def _refuse(self, send, status: int, message: str, hint: str) -> None:
        body = json.dumps(error_body(message, hint)).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if status == 401:
            headers.append((b"www-authenticate", b"Bearer"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _host_ok(self, host: str) -> bool:
        name, port = split_host(host)
        return bool(name) and (self.any_host or name in self.hosts) and port == self.port

    def _origin_ok(self, origin: str, host: str) -> bool:
        try:
            o = urlsplit(origin.strip())
            oport = o.port or {"http": 80, "https": 443}.get(o.scheme)
        except ValueError:
            return False
        if o.scheme != "http" or not o.hostname or o.path not in ("", "/"):
            return False
        name, port = split_host(host)
        return o.hostname.lower() == name and oport == port

    def _authorized(self, headers: dict, query: str, path: str) -> bool:
        auth = headers.get("authorization", "")
        if auth[:7].lower() == "bearer " and token_matches(auth[7:].strip(), self.token):
            return True
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # noqa: BLE001 - a malformed cookie header is no token
            pass
        if COOKIE in cookie and token_matches(cookie[COOKIE].value, self.token):
            return True
        if path == "/":
            return token_matches(parse_qs(query).get("token", [None])[0], self.token)
        return False

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host", "")
        if not self._host_ok(host):
            return await self._refuse(
                send,
                403,
                f"host '{host}' is not this server",
                f"open the URL pipe ui printed (http://127.0.0.1:{self.port}/...)",
            )
        origin = headers.get("origin")
        if origin is not None and not self._origin_ok(origin, host):
            return await self._refuse(
                send, 403, f"requests from origin '{origin}' are refused", "use the designer's own page"
            )
        path = scope.get("path", "")
        if path == "/" or path.startswith("/api/") or path == "/api":
            query = scope.get("query_string", b"").decode("latin-1")
            if not self._authorized(headers, query, path):
                return await self._refuse(
                    send,
                    401,
                    "a valid token is needed",
                    "open the URL with ?token= that pipe ui printed, or send Authorization: Bearer TOKEN",
                )
        length = headers.get("content-length", "0")
        if not (length.isascii() and length.isdigit()) or len(length) > 12 or int(length) > MAX_BODY:
            return await self._refuse(send, 413, f"the request body is over {MAX_BODY >> 20} MiB", "send less")
        # The body (small here) is read whole and counted whatever its transfer encoding, so
        # that one over the cap is refused before a framework that parses it sees it.
        parts, size, last = [], 0, None
        while True:
            msg = await receive()
            if msg["type"] != "http.request":
                last = msg
                break
            parts.append(msg.get("body", b""))
            size += len(parts[-1])
            if size > MAX_BODY:
                return await self._refuse(send, 413, f"the request body is over {MAX_BODY >> 20} MiB", "send less")
            if not msg.get("more_body", False):
                break
        pending = [last or {"type": "http.request", "body": b"".join(parts), "more_body": False}]

        async def replay():
            return pending.pop() if pending else await receive()

        await self.app(scope, replay, send)
