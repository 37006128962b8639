"""A local Ray cluster on 127.0.0.1 for measuring and testing the Ray executor
(benchmarks/ray_overhead.py, tests/test_ray.py): nodes started with `ray start`, all under
one short temp folder, and stopped by that folder alone, never by `ray stop --force` (which
stops every Ray on the machine, others' too)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from typing import Optional

# No usage report; no token (newer Ray's default is for clusters others can reach: these
# listen on loopback only).
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_node(
    temp: str,
    env: dict,
    cpus: int,
    head_port: Optional[int] = None,
    address: Optional[str] = None,
    resources: Optional[dict] = None,
    node_dir: Optional[str] = None,
    timeout: float = 180,
    extra: tuple = (),
) -> str:
    """Starts a head listening on `head_port`, or a node joining the head at `address`; its
    processes name `temp` (short: Ray's socket paths live under it, and a Unix socket path
    has a length limit). `node_dir`: the node's PIPE_RAY_NODE_DIR; `extra`: more `ray start`
    arguments (`--num-gpus 1` ...). Returns the head's address."""
    if (head_port is None) == (address is None):
        raise ValueError("start_node takes head_port (a head) or address (a node joining it)")
    where = ["--head", "--port", str(head_port), "--include-dashboard=false"] if head_port is not None else []
    args = where or ["--address", str(address)]
    args += ["--num-cpus", str(cpus), "--node-ip-address", "127.0.0.1", "--temp-dir", temp]
    args += ["--object-store-memory", "100000000"]
    if resources:
        args += ["--resources", json.dumps(resources)]
    args += list(extra)
    node_env = dict(env, PIPE_RAY_NODE_DIR=node_dir) if node_dir else env
    ray = shutil.which("ray") or "ray"
    subprocess.run([ray, "start", *args], check=True, env=node_env, capture_output=True, timeout=timeout)
    return address or f"127.0.0.1:{head_port}"


def own_pids(temp: str) -> list:
    """The processes of the cluster whose temp folder is `temp`: each names its session
    folder on its command line, or is one of Ray's (the agents retitle themselves
    `ray::...`; Ray Client's server names only the address) holding its log files there
    open. (A driver connected to it holds files there too: it is not the cluster's.)"""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
            if temp.encode() in cmdline:
                out.append(int(pid))
            elif (cmdline.startswith(b"ray::") or b"ray.util.client.server" in cmdline) and _holds_open(pid, temp):
                out.append(int(pid))
        except OSError:
            continue
    return out


def _holds_open(pid: str, temp: str) -> bool:
    fds = f"/proc/{pid}/fd"
    for fd in os.listdir(fds):
        try:
            if os.readlink(os.path.join(fds, fd)).startswith(temp + "/"):
                return True
        except OSError:
            continue
    return False


def stop(temp: str) -> None:
    """Ends the cluster of `temp`: TERM, then KILL what is left after 5 s."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in own_pids(temp):
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        end = time.monotonic() + 5
        while own_pids(temp) and time.monotonic() < end:
            time.sleep(0.2)
