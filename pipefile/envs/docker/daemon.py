"""The Docker SDK and the one client of this process, connected to the daemon on first use.

This is the only module that imports the `docker` package (an optional extra): the others
reach it through `sdk()`, so a Pipefile without Docker environments never imports it, and
a missing SDK or daemon is an EnvError that says how to get one.
"""

from __future__ import annotations

import os
import threading
from typing import Optional

from ..base import EnvError

_client = None
_client_lock = threading.Lock()

START_HINT = (
    "start the Docker daemon (`sudo systemctl start docker`, or `sudo dockerd &`) and check it with "
    "`docker info`; or point DOCKER_HOST at a running one"
)


def sdk():
    try:
        import docker  # noqa: PLC0415 - optional: only Docker environments need it
        import docker.types  # noqa: F401, PLC0415 - Mount and DeviceRequest, for containers.py
        import docker.utils.build  # noqa: F401, PLC0415 - the build context's file list, for context.py
    except ImportError:
        raise EnvError(
            "Docker environments need the Docker SDK for Python, which is not installed",
            hint="pip install 'pipefile[docker]' (or pip install docker)",
        ) from None
    return docker


def client(loc=None):
    """A connected client (one per process), or EnvError saying how to start the daemon."""
    global _client
    with _client_lock:
        if _client is not None:
            return _client
        docker = sdk()
        where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        refused = unix_socket_problem(where)
        if refused is not None:
            raise EnvError(f"cannot reach the Docker daemon at {where}: {_reason(refused)}", loc, _hint(refused))
        c = None
        try:
            c = docker.from_env(timeout=120)
            c.ping()
        except docker.errors.DockerException as e:
            _close(c)
            raise EnvError(f"cannot reach the Docker daemon at {where}: {_reason(e)}", loc, _hint(e)) from None
        except Exception as e:  # noqa: BLE001 - requests' connection errors and the like
            _close(c)
            raise EnvError(f"cannot reach the Docker daemon at {where}: {e}", loc, START_HINT) from None
        _client = c
        return c


def unix_socket_problem(where: str) -> Optional[OSError]:
    """Why the daemon's unix socket at `where` (a DOCKER_HOST) takes no connection, or None
    (also for other kinds of host). Tried with a socket of our own, closed either way: the
    SDK leaves its socket open when that connect fails (a ResourceWarning at exit)."""
    if not where.startswith("unix://"):
        return None
    import socket

    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(where[len("unix://") :])
    except OSError as e:
        return e
    return None


def _reason(e: Exception) -> str:
    text = f"{type(e).__name__} {e}"
    if "Permission denied" in text or isinstance(e, PermissionError):
        return "permission denied"
    if "No such file" in text or "FileNotFoundError" in text:
        return "there is no daemon socket there"
    if "refused" in text:
        return "connection refused"
    return str(e).split("(")[0].strip().rstrip(":") or type(e).__name__


def _hint(e: Exception) -> str:
    if _reason(e) == "permission denied":
        return "add your user to the docker group (then log in again), or run pipe with access to the socket"
    return START_HINT


def _close(c) -> None:
    if c is not None:
        try:
            c.close()
        except Exception:  # noqa: BLE001 - closing a client that never connected
            pass
