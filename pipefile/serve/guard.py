"""What every request passes before any route: `RequestGuard`.

It refuses a Host header that is not on the allowlist and an Origin header of any
origin but the server itself (DNS rebinding and cross-site requests: a web page must
not reach a server on localhost through the victim's browser), and caps request bodies, with or without Content-Length
(uploads have their own, larger cap): an upload is counted as it streams through, any other body
(at most --max-body) is read whole first, so that going over answers 413 however it was sent. A
body that stops coming (nothing for --idle-timeout seconds: a client that sent a Content-Length
larger than its body, or hangs) is answered 408 and the connection closed, so that such clients
never hold a connection and a half-received upload for ever. Pure ASGI, so uploads stay streamed.
"""

from __future__ import annotations

import asyncio
import json
from typing import Optional
from urllib.parse import urlsplit

API = "/v1"


def error_body(message: str, hint: Optional[str] = None, field: str = "") -> dict:
    err: dict = {"message": message}
    if hint:
        err["hint"] = hint
    if field:
        err["field"] = field
    return {"error": err}


class BodyTooLarge(Exception):
    def __init__(self, limit: int):
        super().__init__(limit)
        self.limit = limit


TOO_LARGE_MESSAGE = "the request body is over the limit of {} bytes"
TOO_LARGE_HINT = "send less, or raise the server's --max-upload / --max-body"


class BodyIdle(Exception):
    """The client sent nothing of its request body for the idle timeout."""


IDLE_MESSAGE = "the request body stopped arriving: nothing came for {} seconds"
IDLE_HINT = "send the whole body, as long as its Content-Length says, without pausing"


async def _body_part(receive, idle: float) -> dict:
    """The next message of a request whose body is still coming; BodyIdle after `idle` seconds of nothing."""
    try:
        return await asyncio.wait_for(receive(), idle)
    except asyncio.TimeoutError:
        raise BodyIdle() from None


def _hostname(value: str) -> str:
    value = value.strip().lower()
    if value.startswith("["):  # [::1]:8080
        return value[1 : value.index("]")] if "]" in value else value
    if value.count(":") == 1:
        return value.split(":", 1)[0]
    return value


def _port(value: str) -> Optional[int]:
    """The port of a Host header value, or None when it names none; ValueError for a port
    that is not 1 to 5 ASCII digits (str.isdigit() takes '²', which int() refuses)."""
    value = value.strip()
    tail = value[value.index("]") + 1 :] if value.startswith("[") and "]" in value else value
    if tail.count(":") != 1:
        return None
    port = tail.rsplit(":", 1)[1]
    if not port:
        return None  # "host:" names no port
    if not (port.isascii() and port.isdigit() and len(port) <= 5):
        raise ValueError(port)
    return int(port)


def _same_origin(origin: str, host: str) -> bool:
    """Whether a browser's Origin is this server itself (same host name and port as the
    Host header the request was sent to). Another site, another port on the same
    machine (a different local service) or an opaque "null" origin is foreign."""
    try:
        o = urlsplit(origin.strip())
        oport = o.port or {"http": 80, "https": 443}.get(o.scheme)
    except ValueError:
        return False
    if o.scheme not in ("http", "https") or not o.hostname or o.path not in ("", "/"):
        return False
    if o.hostname.lower() != _hostname(host):
        return False
    port = _port(host)
    return port is None or port == oport


class RequestGuard:
    """Host allowlist, foreign Origin refusal, body caps (pure ASGI: streams untouched)."""

    def __init__(self, app, allowed_hosts: set, max_body: int, max_upload: int, idle_timeout: float = 60.0):
        self.app = app
        self.allowed = allowed_hosts
        self.max_body = max_body
        self.max_upload = max_upload
        self.idle = idle_timeout

    async def _refuse(self, send, status: int, message: str, hint: str = "", close: bool = False) -> None:
        body = json.dumps(error_body(message, hint)).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send(
            {
                "type": "http.response.start",
                "status": status,
                # (closed: the rest of an unread body must not be read as the next request)
                "headers": headers + ([(b"connection", b"close")] if close else []),
            }
        )
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    async def _read_body(receive, limit: int, idle: float):
        """(the body, None) once all of it came; (b"", the disconnect message) if the client
        went away first; (None, None) as soon as it passes `limit` bytes; BodyIdle."""
        parts, size = [], 0
        while True:
            msg = await _body_part(receive, idle)
            if msg["type"] != "http.request":
                return b"", msg
            chunk = msg.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None, None
            parts.append(chunk)
            if not msg.get("more_body", False):
                return b"".join(parts), None

    @staticmethod
    def _replay(body: bytes, first, receive):
        """A receive that gives the body read already, then whatever comes next (a
        disconnect) from the real one."""
        pending = [first or {"type": "http.request", "body": body, "more_body": False}]

        async def replay():
            return pending.pop() if pending else await receive()

        return replay

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = _hostname(headers.get("host", ""))
        if host not in self.allowed:
            return await self._refuse(
                send,
                403,
                f"host '{headers.get('host', '')}' is not served here",
                "start pipe serve with --allow-host NAME to accept it",
            )
        try:
            _port(headers.get("host", ""))
        except ValueError:
            return await self._refuse(
                send,
                400,
                f"the Host header '{headers.get('host', '')[:80]}' names no valid port",
                "send Host: NAME or NAME:PORT, PORT a number up to 65535",
            )
        origin = headers.get("origin")
        if origin is not None and not _same_origin(origin, headers.get("host", "")):
            return await self._refuse(
                send,
                403,
                f"requests from origin '{origin}' are refused",
                "call the API from a program, not from a web page of another site",
            )
        is_upload = scope["path"].rstrip("/") == f"{API}/uploads"
        limit = self.max_upload if is_upload else self.max_body
        length = headers.get("content-length")
        if length is not None:
            try:
                too_big = int(length) > limit
            except ValueError:
                return await self._refuse(send, 400, "bad Content-Length")
            if too_big:
                return await self._refuse(
                    send,
                    413,
                    TOO_LARGE_MESSAGE.format(limit),
                    TOO_LARGE_HINT,
                )
        if not is_upload:
            # A body of this size is read whole here, counted as it arrives whatever the
            # transfer encoding, and refused before the app sees it: a framework that parses
            # the body itself would turn the error raised while reading into a 400.
            try:
                body, rest = await self._read_body(receive, limit, self.idle)
            except BodyIdle:
                return await self._refuse(send, 408, IDLE_MESSAGE.format(f"{self.idle:g}"), IDLE_HINT, close=True)
            if body is None:
                return await self._refuse(
                    send,
                    413,
                    TOO_LARGE_MESSAGE.format(limit),
                    TOO_LARGE_HINT,
                )
            receive = self._replay(body, rest, receive)
        seen = 0
        started = False
        # An upload's body is still to come; any other was read whole above. Once a body is
        # all in, a receive waits for the client to go away (a followed log): never timed.
        body_done = not is_upload

        async def counted_receive():
            nonlocal seen, body_done
            msg = await (receive() if body_done else _body_part(receive, self.idle))
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
                body_done = body_done or not msg.get("more_body", False)
            else:
                body_done = True
            return msg

        async def tracked_send(msg):
            nonlocal started
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyIdle:  # (the app answers it itself: serve/http/errors.py; this when it did not)
            if not started:
                await self._refuse(send, 408, IDLE_MESSAGE.format(f"{self.idle:g}"), IDLE_HINT, close=True)
        except BodyTooLarge:
            if not started:
                await self._refuse(
                    send,
                    413,
                    TOO_LARGE_MESSAGE.format(limit),
                    TOO_LARGE_HINT,
                )
