"""The Docker SDK and the one client of this process, connected to the daemon on first use.

This is the only module that imports the `docker` package (an optional extra): the others
reach it through `sdk()`, so a Pipefile without Docker environments never imports it, and
a missing SDK or daemon is an EnvError that says how to get one.
"""

from __future__ import annotations

import os
import threading

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
        try:
            c = docker.from_env(timeout=120)
            c.ping()
        except docker.errors.DockerException as e:
            text = str(e)
            hint = START_HINT
            if "Permission denied" in text:
                reason = "permission denied"
                hint = "add your user to the docker group (then log in again), or run pipe with access to the socket"
            elif "No such file" in text or "FileNotFoundError" in text:
                reason = "there is no daemon socket there"
            elif "refused" in text:
                reason = "connection refused"
            else:
                reason = text.split("(")[0].strip().rstrip(":") or type(e).__name__
            raise EnvError(f"cannot reach the Docker daemon at {where}: {reason}", loc, hint) from None
        except Exception as e:  # noqa: BLE001 - requests' connection errors and the like
            raise EnvError(f"cannot reach the Docker daemon at {where}: {e}", loc, START_HINT) from None
        _client = c
        return c
