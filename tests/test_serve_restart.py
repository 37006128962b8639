"""The server's lifecycle and limits: the queue survives a restart (running jobs end
`interrupted`, queued ones run), queue depth (429), per-job wall time, log size, one
server per workspace, loopback by default."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time

import pytest
from serve_site import (
    SCORE,
    SCORE_PY,
    Server,
    alive,
    make_endpoints,
    require_serve_deps,
    token,
    upload,
    wait_file,
    wait_job,
    wait_state,
)
from workspace_repo import Repo


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


def test_queue_depth_holds_under_concurrent_submissions_and_sigterm_keeps_the_queue(ws, tmp_path):
    import concurrent.futures as cf

    repo, tok = ws
    server = Server(repo.root, "--workers", "1", "--max-queue", "3")
    try:
        c = server.client(tok)
        a = _slow(c, seconds=120, marker=str(tmp_path / "a.pid")).json()
        wait_state(c, a["id"], ("running",))
        step = int(wait_file(tmp_path / "a.pid"))

        def one(i):
            with server.client(tok) as cl:
                r = _slow(cl, seconds=0, spam=10 + i)  # all different: none is merged with another
                return r.status_code, r.json()

        with cf.ThreadPoolExecutor(12) as ex:
            answers = list(ex.map(one, range(12)))
        codes = sorted(code for code, _ in answers)
        assert codes == [202] * 3 + [429] * 9, codes  # the check and the insert are one transaction
        queued = [body["id"] for code, body in answers if code == 202]
        # Clients following a running and a queued job: the stop does not wait on them.
        seen: dict = {}

        def follow(job_id):
            import httpx

            # Its own client: Server.stop() closes the clients it handed out.
            with (
                httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {tok}"}, timeout=30) as cl,
                cl.stream("GET", f"/v1/jobs/{job_id}/events") as r,
            ):
                seen[job_id] = [line for line in r.iter_lines() if line.startswith(("event:", "data:"))]

        followers = [threading.Thread(target=follow, args=(j,)) for j in (a["id"], queued[0])]
        for t in followers:
            t.start()
        time.sleep(0.5)
        # SIGTERM: the running job ends interrupted (its step stopped), the queued ones stay queued.
        t0 = time.monotonic()
        assert server.stop() == 0
        assert time.monotonic() - t0 < 8, "the server waited out its grace period for open streams"
        for t in followers:
            t.join(10)
        assert seen[a["id"]][-2:] == ["event: end", 'data: {"state": "interrupted"}'], seen
        assert "event: end" not in seen[queued[0]]  # it did not end: the stream was closed
        assert not alive(step)
        states = {j: repo.pipe("jobs", "show", str(j), "--json", check=True).json["state"] for j in queued}
        assert set(states.values()) == {"queued"}, states
        assert repo.pipe("jobs", "show", str(a["id"]), "--json", check=True).json["state"] == "interrupted"
        server.start()
        c = server.client(tok)
        assert [wait_job(c, j)["state"] for j in queued] == ["completed"] * 3
    finally:
        server.stop(signal.SIGKILL)


STUBBORN = """\
name: stubborn
params:
  marker: {type: string, default: /dev/null}
steps:
  wait:
    command: trap '' INT; sleep 120 & echo $! > ${{params.marker}}; wait; echo done > ${{outputs.out}}
    outputs:
      out: {path: build/stubborn.txt, output: true}
"""


def test_a_client_following_a_job_the_server_stops_is_told_it_ended_interrupted(ws, tmp_path):
    """The server sets its stop before it interrupts the running job: a job that took a moment
    to end (a step that ignores SIGINT is stopped by SIGTERM 5 s later) had its event stream
    closed at the next poll, without the `end` its client waits for."""
    import httpx

    repo, tok = ws
    repo.write("Pipefile.stubborn", STUBBORN, dedent=False)
    repo.pipe("publish", "-f", "Pipefile.stubborn", check=True)
    server = Server(repo.root, "--workers", "1")
    try:
        c = server.client(tok)
        job = c.post("/v1/endpoints/stubborn/jobs", json={"inputs": {"marker": str(tmp_path / "s.pid")}}).json()
        wait_state(c, job["id"], ("running",))
        wait_file(tmp_path / "s.pid")
        seen: list = []

        def follow():
            with (
                httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {tok}"}, timeout=30) as cl,
                cl.stream("GET", f"/v1/jobs/{job['id']}/events") as r,
            ):
                seen.extend(line for line in r.iter_lines() if line.startswith(("event:", "data:")))

        follower = threading.Thread(target=follow)
        follower.start()
        time.sleep(0.5)
        assert server.stop() == 0
        follower.join(30)
        assert seen[-2:] == ["event: end", 'data: {"state": "interrupted"}'], seen
    finally:
        server.stop(signal.SIGKILL)


UPPER = """\
name: upper
assets:
  text: {type: uri_file, path: data/text.txt, input: true}
steps:
  upper:
    command: tr a-z A-Z < ${{inputs.t}} > ${{outputs.out}}
    inputs: {t: "${{assets.text}}"}
    outputs:
      out: {path: build/out.txt, output: true}
"""


def test_gc_waits_for_served_jobs_and_never_drops_unfinished_ones(ws, tmp_path):
    import subprocess

    from workspace_repo import PIPE

    repo, tok = ws
    repo.write("Pipefile.upper", UPPER, dedent=False)
    repo.pipe("publish", "-f", "Pipefile.upper", check=True)
    server = Server(repo.root, "--workers", "1")
    gc = None
    try:
        c = server.client(tok)
        d = c.post("/v1/uploads", content=b"hello\n").json()["digest"]
        x = wait_job(c, c.post("/v1/endpoints/upper/jobs", json={"inputs": {"text": {"upload": d}}}).json()["id"])
        assert x["state"] == "completed"
        a = _slow(c, seconds=120, spam=5).json()
        wait_state(c, a["id"], ("running",))
        # Queued behind it: a job whose input is x's output, which only x's record names.
        b = c.post("/v1/endpoints/upper/jobs", json={"inputs": {"text": {"job_output": f"{x['id']}/out"}}}).json()
        assert b["state"] == "queued"
        gc = subprocess.Popen(
            PIPE + ["gc", "--keep-last", "0", "--json"],
            cwd=repo.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 30
        err = ""
        while "served jobs" not in err:  # gc says it waits for the running job
            assert time.monotonic() < deadline and gc.poll() is None, (gc.poll(), err)
            err += gc.stderr.readline()
        time.sleep(0.5)
        assert gc.poll() is None and c.get(f"/v1/jobs/{b['id']}").json()["state"] == "queued"
        # Meanwhile new jobs and uploads are refused, not left hanging.
        busy = c.post("/v1/endpoints/upper/jobs", json={"inputs": {"text": {"upload": d}}})
        assert busy.status_code == 503 and busy.headers["retry-after"] and "gc" in busy.json()["error"]["message"]
        assert c.post("/v1/uploads", content=b"later\n").status_code == 503
        assert c.post(f"/v1/jobs/{a['id']}/cancel").status_code == 202
        out, rest = gc.communicate(timeout=60)
        assert gc.returncode == 0, err + rest
        dropped = json.loads(out)["deleted"]["jobs"]
        assert x["id"] in dropped and a["id"] in dropped and b["id"] not in dropped
        done = wait_job(c, b["id"])
        assert done["state"] == "completed", done
        assert c.get(f"/v1/jobs/{b['id']}/outputs/out").text == "HELLO\n"
    finally:
        if gc is not None and gc.poll() is None:
            gc.kill()
            gc.wait()
        server.stop()


def test_gc_forgets_old_uploads_but_keeps_what_a_kept_job_reads(ws):
    import sqlite3

    from pipefile.workspace import Workspace

    repo, tok = ws
    repo.write("Pipefile.upper", UPPER, dedent=False)
    repo.pipe("publish", "-f", "Pipefile.upper", check=True)
    bad = repo.pipe("gc", "--uploads-older-than", "soon")
    assert bad.code == 2 and "'soon' is not a duration" in bad.err and "30d" in bad.err, str(bad)
    server = Server(repo.root, "--workers", "1")
    try:
        c = server.client(tok)
        used = c.post("/v1/uploads", content=b"used\n").json()["digest"]
        unused = c.post("/v1/uploads", content=b"never used\n").json()["digest"]
        keyed = {"Idempotency-Key": "first"}
        job = wait_job(
            c,
            c.post("/v1/endpoints/upper/jobs", json={"inputs": {"text": {"upload": used}}}, headers=keyed).json()["id"],
        )
        assert job["state"] == "completed", job
        db = sqlite3.connect(repo.root / ".pipe/jobs.db")
        db.execute("UPDATE uploads SET created=created-3*86400")  # both received three days ago
        db.commit()
        db.close()
        recent = c.post("/v1/uploads", content=b"recent\n").json()["digest"]

        dry = repo.pipe("gc", "--uploads-older-than", "2d", "--dry-run", "--json", check=True).json
        assert sorted(dry["deleted"]["uploads"]) == sorted([used, unused]) and dry["dry_run"]
        assert c.head(f"/v1/uploads/{unused}").status_code == 200, "a dry run forgets nothing"
        done = repo.pipe("gc", "--uploads-older-than", "2d", "--json", check=True).json
        assert sorted(done["deleted"]["uploads"]) == sorted([used, unused])
        assert [c.head(f"/v1/uploads/{d}").status_code for d in (used, unused, recent)] == [404, 404, 200]
        w = Workspace(str(repo.root), create=False)
        try:
            assert not w.store.has(unused), "content nothing reads goes"
            assert w.store.has(used), "content a kept job read stays"
        finally:
            w.close()
        assert c.get(f"/v1/jobs/{job['id']}/outputs/out").text == "USED\n"
        # A forgotten upload is sent again before it is used again (the client asks HEAD first);
        # sending it again makes it recent.
        refused = c.post("/v1/endpoints/upper/jobs", json={"inputs": {"text": {"upload": used}}})
        assert 400 <= refused.status_code < 500 and "upload" in refused.text, refused.text
        retry = c.post("/v1/endpoints/upper/jobs", json={"inputs": {"text": {"upload": used}}}, headers=keyed)
        assert retry.status_code == 200 and retry.json()["id"] == job["id"], "a keyed retry gets its job"
        assert c.post("/v1/uploads", content=b"used\n").json()["digest"] == used
        assert repo.pipe("gc", "--uploads-older-than", "1d", "--json", check=True).json["deleted"]["uploads"] == []
        text = repo.pipe("gc", "--uploads-older-than", "1d", check=True).out
        assert "0 uploads (records)" in text, text
    finally:
        server.stop()


def test_serve_in_a_new_workspace_and_on_a_busy_port(tmp_path):
    import socket

    require_serve_deps()
    repo = Repo(tmp_path)
    repo.pipefile("""
        steps:
          a: {command: "echo hi > out.txt", outputs: {o: out.txt}}
    """)
    assert not (tmp_path / ".pipe").exists()  # never run here: serve makes .pipe/ itself
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        r = repo.pipe("serve", "--port", str(busy.getsockname()[1]), timeout=60)
    assert r.code == 2 and "could not listen" in r.err and "--port" in r.err, str(r)


def test_a_server_killed_mid_upload_leaves_nothing_of_it_after_a_restart(tmp_path):
    require_serve_deps()
    root = tmp_path / "ws"
    root.mkdir()
    repo = Repo(root)
    repo.write("Pipefile", SCORE, dedent=False)
    repo.write("src/score.py", SCORE_PY, dedent=False)
    repo.pipe("publish", check=True)
    admin = token(repo, "--scope", "admin")
    server = Server(root, "--workers", "1")
    scratch = root / ".pipe" / "serve" / "uploads"
    try:
        with socket.create_connection(("127.0.0.1", server.port)) as s:
            s.sendall(
                (
                    f"POST /v1/uploads HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {admin}\r\n"
                    "Content-Type: application/octet-stream\r\nContent-Length: 4000000\r\n\r\n"
                ).encode()
                + b"x" * 200_000
            )
            deadline = time.monotonic() + 20
            while not any(p.stat().st_size for p in scratch.glob("recv-*")):
                assert time.monotonic() < deadline, "the upload never reached the disk"
                time.sleep(0.05)
            server.stop(signal.SIGKILL)
        # What a plan and a model load of the killed server would have left too.
        (root / ".pipe" / "serve" / "plan" / "tmpx").mkdir(parents=True)
        (root / ".pipe" / ".online-x" / "model").mkdir(parents=True)
        server.start()
        assert not scratch.exists() or os.listdir(scratch) == []
        assert not (root / ".pipe" / "serve" / "plan").exists()
        assert not (root / ".pipe" / ".online-x").exists()
        c = server.client(admin)
        assert upload(c, b"0.5\n").status_code == 201  # and uploads go on as before
    finally:
        server.stop()
