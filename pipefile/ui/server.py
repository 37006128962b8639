"""`pipe ui`'s process: checks where it may listen, binds the socket itself (so that
`--port 0` is known before serving), prints the URL line with the token (flushed: a
program reading it starts at once), opens a browser, and serves on uvicorn until
interrupted; the runs it started are interrupted with it."""

from __future__ import annotations

import ipaddress
import os
import secrets
import socket
import sys
import threading
from typing import Callable, Optional

from ..errors import PipefileError
from .guard import LOOPBACK_NAMES, UiGuard

TOKEN_ENV = "PIPE_UI_TOKEN"


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_host(host: str, allow_remote: bool) -> None:
    if not is_loopback(host) and not allow_remote:
        raise PipefileError(
            f"pipe ui listens on a loopback address only, not '{host}'",
            hint="anyone who can reach that address could use it with the token: "
            "add --allow-remote if that is what you want",
        )


def url_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise PipefileError(
            f"pipe ui could not listen on {url_host(host)}:{port} ({e.strerror or e})",
            hint="is another program using that port? choose another with --port (0: any free port); "
            "--host must be an address of this machine",
        ) from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def new_token(given: Optional[str]) -> str:
    token = given or os.environ.get(TOKEN_ENV) or secrets.token_urlsafe(24)
    if len(token) < 8 or any(c.isspace() or c in ';,"\\' for c in token):
        raise PipefileError(
            "the token must be at least 8 characters, without spaces, quotes, ';' or ','",
            hint="leave --token out for a random one",
        )
    return token


def serve(
    pipefile: str,
    host: str = "127.0.0.1",
    port: int = 0,
    token: Optional[str] = None,
    allow_remote: bool = False,
    open_browser: bool = True,
    idle_timeout: float = 60.0,
    max_connections: Optional[int] = None,
    say: Callable[[str], None] = lambda m: print(m, flush=True),
    log: Callable[[str], None] = lambda m: print(m, file=sys.stderr, flush=True),
) -> None:
    import uvicorn

    from ..leases import raise_open_file_limit
    from ..serve.connections import connection_limits, held_in_check
    from .app import create_app
    from .http.context import UiContext

    check_host(host, allow_remote)
    # Before the socket is bound and the URL said: the connection cap below is a share of
    # the raised limit, and whoever waits for the URL (a test, a script) sees the limit it runs with.
    raise_open_file_limit()
    token = new_token(token)
    ctx = UiContext(pipefile, token)
    sock = bind(host, port)
    bound = sock.getsockname()[1]
    app = UiGuard(create_app(ctx), token, host, bound)
    url = f"http://{url_host(host)}:{bound}/?token={token}"
    say(f"pipe ui: {url}")
    if not is_loopback(host):
        log(f"warning: pipe ui listens on {host}: anyone who can reach it and has the token can run steps here")
    if open_browser:
        import webbrowser

        threading.Thread(target=webbrowser.open, args=(url,), name="ui-browser", daemon=True).start()
    # Idle connections closed and their number capped, as pipe serve does: without it a
    # client (--allow-remote) opening connections and sending nothing held each for ever,
    # until the server had no file left to accept with.
    cap, backlog = connection_limits(max_connections)
    config = uvicorn.Config(
        app,
        http=held_in_check(idle_timeout, cap),
        backlog=backlog,
        log_level="warning",
        lifespan="off",
        server_header=False,
        timeout_graceful_shutdown=3,
    )
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        ctx.runs.stop_all()
        sock.close()
