"""The server's lifecycle and limits: the queue survives a restart (running jobs end
`interrupted`, queued ones run), queue depth (429), per-job wall time, log size, one
server per workspace, loopback by default."""

from __future__ import annotations

import signal
import time

import pytest

from conftest import Repo
from serve_helpers import Server, alive, make_endpoints, require_serve_deps, token, wait_file, wait_job, wait_state


@pytest.fixture
def ws(tmp_path):
    require_serve_deps()
    root = tmp_path / "ws"
    root.mkdir()
    repo = Repo(root)
    make_endpoints(repo)
    return repo, token(repo, "--scope", "admin")


def _slow(c, **inputs):
    return c.post("/v1/endpoints/slow/jobs", json={"inputs": inputs})


def test_restart_mid_queue(ws, tmp_path):
    repo, tok = ws
    server = Server(repo.root, "--workers", "1", "--max-queue", "2")
    try:
        c = server.client(tok)
        a = _slow(c, seconds=120, marker=str(tmp_path / "a.pid")).json()
        wait_state(c, a["id"], ("running",))
        orphan = int(wait_file(tmp_path / "a.pid"))
        b = _slow(c, seconds=0, spam=1).json()
        d = _slow(c, seconds=0, spam=2).json()
        assert b["state"] == d["state"] == "queued"
        full = _slow(c, seconds=0, spam=3)
        assert full.status_code == 429 and full.headers["retry-after"]
        server.stop(signal.SIGKILL)  # a crash: nothing is cleaned up
        assert alive(orphan)
        server.start()
        c = server.client(tok)
        assert wait_job(c, a["id"])["state"] == "interrupted"
        assert wait_job(c, b["id"])["state"] == "completed"
        assert wait_job(c, d["id"])["state"] == "completed"
        deadline = time.monotonic() + 10
        while alive(orphan) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(orphan), "a step of the killed server kept running"
        assert "interrupted" in server.output()
        # A clean stop (SIGTERM) ends running jobs interrupted too.
        e = _slow(c, seconds=120, spam=4).json()
        wait_state(c, e["id"], ("running",))
        assert server.stop() == 0
        shown = repo.pipe("jobs", "show", str(e["id"]), "--json", check=True).json
        assert shown["state"] == "interrupted" and shown["status"] == "interrupted"
        assert repo.pipe("jobs", "-s", "interrupted", check=True).out.count("slow:1") == 2
    finally:
        server.stop(signal.SIGKILL)


def test_wall_time_and_log_limits(ws):
    repo, tok = ws
    server = Server(repo.root, "--job-timeout", "2s", "--max-log", "4KiB")
    try:
        c = server.client(tok)
        t0 = time.monotonic()
        slow = wait_job(c, _slow(c, seconds=60).json()["id"])
        assert slow["state"] == "failed" and "longer than" in slow["error"] and time.monotonic() - t0 < 20
        chatty = wait_job(c, _slow(c, seconds=30, spam=100000).json()["id"])
        assert chatty["state"] == "failed" and "log" in chatty["error"], chatty
        fine = wait_job(c, _slow(c, seconds=0, spam=100).json()["id"])
        assert fine["state"] == "completed"
        log = c.get(f"/v1/jobs/{fine['id']}/logs/wait")
        assert log.text == "x" * 100
    finally:
        server.stop()


def test_one_server_per_workspace_on_loopback(ws):
    repo, tok = ws
    server = Server(repo.root)
    try:
        second = repo.pipe("serve", "--port", "1", timeout=30)
        assert second.code == 2 and "another `pipe serve`" in second.err
        # Bound to 127.0.0.1 only (hex 0100007F in /proc/net/tcp).
        with open("/proc/net/tcp") as f:
            listening = [line.split() for line in f.read().splitlines()[1:]]
        mine = [f[1] for f in listening if f[3] == "0A" and int(f[1].split(":")[1], 16) == server.port]
        assert mine == [f"0100007F:{server.port:04X}"]
    finally:
        server.stop()
