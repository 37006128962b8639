"""A real `pipe serve` under a small open-file limit (standing for a large machine's many
steps and clients): a job's steps, the connections held and the files each streams are
shared out of one budget, so the server never runs out of files (`Too many open files`)."""

from __future__ import annotations

import socket
import time

from serve_site import SLOW, Server, require_serve_deps, token, wait_job
from workspace_repo import Repo


def _wide(n: int) -> str:
    """A pipeline of `n` steps that run at once (a hundredth of a CPU each), a few seconds each."""
    steps = "".join(
        f"  s{i}:\n"
        f"    command: sleep 3 && echo {i} > ${{{{outputs.out{i}}}}}\n"
        f"    resources: {{cpus: 0.01}}\n"
        f"    outputs:\n      out{i}: {{path: build/s{i}.txt, output: true}}\n"
        for i in range(n)
    )
    return f"name: wide\nsteps:\n{steps}"


def test_a_jobs_steps_and_the_connections_together_stay_within_the_open_file_limit(tmp_path):
    # Before: the server held up to 3/4 of the open-file limit in connections whatever else
    # it had open, and each job ran as many steps at once as the limit left when it started,
    # each counted alone: a job running while clients held connections went past the limit
    # ("Too many open files": a step, the job database or accept failed). The server now
    # shares the limit out: what it has open, each worker's job and its steps, and the
    # connections it holds and accepts at once get the rest. (A small limit stands for a
    # large machine's many steps.)
    require_serve_deps()
    root = tmp_path / "ws"
    root.mkdir()
    repo = Repo(root)
    repo.write("Pipefile", _wide(8), dedent=False)
    repo.pipe("publish", check=True)
    tok = token(repo, "--scope", "admin")
    server = Server(root, "--workers", "1", "--idle-timeout", "20s", files=130)  # (soft and hard: it raises a soft one)
    socks = []
    try:
        c = server.client(tok)
        job = c.post("/v1/endpoints/wide/jobs", json={}).json()
        deadline = time.monotonic() + 30
        while not any(e.get("status") == "started" for e in _step_events(c, job["id"])):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        c.close()
        for _ in range(150):  # connections the server holds while the steps run
            try:
                socks.append(socket.create_connection(("127.0.0.1", server.port), timeout=5))
            except OSError:
                break
        time.sleep(4)
        for s in socks:
            s.close()
        done = wait_job(server.client(tok), job["id"], timeout=120)
        assert done["state"] == "completed", (done, server.output()[-3000:])
    finally:
        for s in socks:
            s.close()
        server.stop()
    assert server.output().count("Too many open files") == 0, server.output()[-3000:]


def _step_events(c, job_id: int) -> list:
    r = c.get(f"/v1/jobs/{job_id}/events", params={"wait": 1})
    return [e.get("data", e) for e in r.json()["events"]]


def test_clients_reading_a_log_slowly_never_leave_the_server_without_files(tmp_path):
    # Before: the connection cap counted one file a connection, but a client reading a log
    # (or an output) holds two while the answer streams (the socket and the file), and each
    # request thread keeps the job database open: clients reading a large log slowly took the
    # server past its open-file limit ("Too many open files": accept, the database, the log
    # failed) though it held no more connections than its cap.
    require_serve_deps()
    root = tmp_path / "ws"
    root.mkdir()
    repo = Repo(root)
    repo.write("Pipefile", SLOW, dedent=False)
    repo.pipe("publish", check=True)
    tok = token(repo, "--scope", "admin")
    server = Server(root, "--workers", "1", "--idle-timeout", "30s", files=200)  # (soft and hard: it raises a soft one)
    socks = []
    try:
        c = server.client(tok)
        job = c.post("/v1/endpoints/slow/jobs", json={"inputs": {"seconds": 0, "spam": 30_000_000}}).json()
        assert wait_job(c, job["id"])["state"] == "completed"
        c.close()
        ask = (
            f"GET /v1/jobs/{job['id']}/logs/wait HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            f"Authorization: Bearer {tok}\r\n\r\n"
        ).encode()
        for _ in range(120):  # each asks for the 30 MB log and reads none of it
            try:
                s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                s.sendall(ask)
                socks.append(s)
            except OSError:
                break
        time.sleep(3)
        for s in socks:
            s.close()
        socks = []
        r = server.client(tok).get(f"/v1/jobs/{job['id']}")
        assert r.status_code == 200, r.text
    finally:
        for s in socks:
            s.close()
        server.stop()
    logged = server.output()
    assert logged.count("Too many open files") == 0 and logged.count("Traceback") == 0, logged[-3000:]
