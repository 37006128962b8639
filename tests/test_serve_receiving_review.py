"""A real `pipe serve` on 127.0.0.1 receiving requests as a hostile or broken client sends
them: a body cut off by a hang-up or never finished. Each gets a 4xx (or nothing, once the
client is gone), leaves nothing half written, and no traceback in the server's log."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import subprocess
import tarfile
import time

import pytest
from serve_site import SCORE, SCORE_PY, Server, require_serve_deps, token, upload
from workspace_repo import PIPE, Repo


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    require_serve_deps()
    root = tmp_path_factory.mktemp("receiving") / "ws"
    root.mkdir()
    repo = Repo(root)
    repo.write("Pipefile", SCORE, dedent=False)
    repo.write("src/score.py", SCORE_PY, dedent=False)
    repo.pipe("publish", check=True)
    server = Server(root, "--workers", "1")
    yield repo, server, token(repo, "--scope", "admin")
    server.stop()


def _send(server: Server, tok: str, head: str, body: bytes) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    s.sendall(
        (f"{head} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nAuthorization: Bearer {tok}\r\n").encode()
        + b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
        + body
    )
    return s


def _scratch(repo: Repo) -> list:
    folder = repo.root / ".pipe" / "serve" / "uploads"
    return sorted(os.listdir(folder)) if folder.is_dir() else []


@pytest.mark.parametrize("route", ["/v1/uploads", "/v1/endpoints/score/jobs"])
def test_a_client_hanging_up_mid_body_leaves_nothing_and_no_traceback(site, route):
    # Before: the upload's file was removed, but starlette's ClientDisconnect went up out of
    # the route: "Exception in ASGI application" and a traceback in the server's log for a
    # client that merely hung up.
    repo, server, tok = site
    before = server.output()
    s = _send(server, tok, f"POST {route}", b'{"inputs": ' + b" " * 1000)
    deadline = time.monotonic() + 20
    if route == "/v1/uploads":
        while not _scratch(repo):  # the server is receiving it
            assert time.monotonic() < deadline
            time.sleep(0.01)
    s.close()
    while _scratch(repo):  # the upload's file is removed
        assert time.monotonic() < deadline, _scratch(repo)
        time.sleep(0.05)
    # the server answers on; what it logged meanwhile holds no traceback
    assert server.client(tok).get("/v1/health").status_code == 200
    time.sleep(0.5)
    logged = server.output()[len(before) :]
    assert "Traceback" not in logged and "Exception in ASGI" not in logged, logged


@pytest.fixture(scope="module")
def impatient(tmp_path_factory):
    require_serve_deps()
    root = tmp_path_factory.mktemp("impatient") / "ws"
    root.mkdir()
    repo = Repo(root)
    repo.write("Pipefile", SCORE, dedent=False)
    repo.write("src/score.py", SCORE_PY, dedent=False)
    repo.pipe("publish", check=True)
    server = Server(root, "--workers", "1", "--idle-timeout", "1s")
    yield repo, server, token(repo, "--scope", "admin")
    server.stop()


def _answer(s: socket.socket) -> bytes:
    data = b""
    while True:
        got = s.recv(65536)
        if not got:
            return data  # the server closed the connection after its answer
        data += got


@pytest.mark.parametrize("route", ["/v1/uploads", "/v1/endpoints/score/jobs"])
def test_a_body_shorter_than_its_content_length_is_a_408_not_a_connection_held_for_ever(impatient, route):
    # Before: the server waited for the rest for as long as the client kept the connection
    # open (no answer, ever), holding the connection and, for an upload, a file of what came.
    repo, server, tok = impatient
    before = server.output()
    s = _send(server, tok, f"POST {route}", b'{"inputs": ' + b" " * 1000)
    started = time.monotonic()
    try:
        answer = _answer(s)
    finally:
        s.close()
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:300]
    assert b"nothing came for 1 seconds" in answer and time.monotonic() - started < 15, answer
    assert _scratch(repo) == []
    logged = server.output()[len(before) :]
    assert "Traceback" not in logged, logged


def test_a_slow_upload_that_keeps_sending_is_taken(impatient):
    # The timeout is of silence, not of the whole body: a byte every 0.3 s is slow but alive.
    repo, server, tok = impatient
    s = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    try:
        s.sendall(
            (
                f"POST /v1/uploads HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nAuthorization: Bearer {tok}\r\n"
                "Content-Length: 6\r\nConnection: close\r\n\r\n"
            ).encode()
        )
        for byte in b"abcdef":
            time.sleep(0.3)
            s.sendall(bytes([byte]))
        answer = _answer(s)
    finally:
        s.close()
    assert answer.startswith(b"HTTP/1.1 201 "), answer[:300]
    assert b'"size":6' in answer, answer


@contextlib.contextmanager
def _tmpfs(mnt, size: str):
    """A small real file system, to fill up (needs root, as CI has)."""
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {r.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


class _Server(Server):
    def __init__(self, root, log_dir, *args: str):
        self.root, self.args, self.env, self.files, self.clients = root, args, None, None, []
        self.log_path = log_dir / f"serve-{time.monotonic_ns()}.log"
        self.start()


def test_an_upload_the_servers_disk_cannot_hold_is_a_507_that_keeps_nothing(tmp_path):
    # Before: 500 Internal Server Error, and the store's "no space left" error with its
    # traceback in the server's log.
    require_serve_deps()
    with _tmpfs(tmp_path / "disk", "6m") as mnt:
        root = mnt / "ws"
        root.mkdir()
        repo = Repo(root)
        repo.write("Pipefile", SCORE, dedent=False)
        repo.write("src/score.py", SCORE_PY, dedent=False)
        repo.pipe("publish", check=True)
        tok = token(repo, "--scope", "admin")
        server = _Server(root, tmp_path, "--workers", "1")  # (its log off the small disk)
        try:
            c = server.client(tok)
            tar = io.BytesIO()
            with tarfile.open(fileobj=tar, mode="w") as tf:
                for i in range(2):  # fits as received; not once unpacked and stored too
                    data = os.urandom(1_200_000)
                    info = tarfile.TarInfo(f"f{i}")
                    info.size = len(data)
                    tf.addfile(info, io.BytesIO(data))
            for body, kind in (
                (os.urandom(8 << 20), "application/octet-stream"),
                (tar.getvalue(), "application/x-tar"),
            ):
                r = upload(c, body, kind)
                assert r.status_code == 507, (r.status_code, r.text)
                err = r.json()["error"]
                assert "no space left to store the upload; nothing of it was kept" in err["message"], err
                assert err["hint"], err
                assert _scratch(repo) == []
                assert os.listdir(root / ".pipe" / "store" / "tmp") == []
            r = upload(c, b"1\n2\n")  # what fits is still taken
            assert r.status_code == 201, r.text
            data = r.json()["digest"]
            # A job asked for once the disk is full: 507 too (SQLite's "database or disk is
            # full" was a 500), and it is not recorded.
            with open(mnt / "filler", "wb", buffering=0) as f:
                with contextlib.suppress(OSError):
                    while True:
                        f.write(b"\0" * 4096)
            r = c.post("/v1/endpoints/score/jobs", json={"inputs": {"data": {"upload": data}}})
            assert r.status_code == 507, (r.status_code, r.text)
            assert "no space left on its disk" in r.json()["error"]["message"], r.text
            # and a plan (it lays the deployment out to plan it): it was a 422, as if the request were wrong
            r = c.post("/v1/endpoints/score/plan", json={"inputs": {"data": {"upload": data}}})
            assert r.status_code == 507, (r.status_code, r.text)
            os.unlink(mnt / "filler")
            assert c.get("/v1/jobs").json()["jobs"] == []
            assert "Traceback" not in server.output(), server.output()
        finally:
            server.stop()


def test_a_chunked_upload_over_the_limit_is_told_the_limit_as_one_with_a_content_length_is(tmp_path):
    # Before: "the request body is over the server's limit", no number, when the body came
    # chunked (counted as it arrived); with a Content-Length it said the limit.
    require_serve_deps()
    repo = Repo(tmp_path)
    repo.write("Pipefile", SCORE, dedent=False)
    repo.write("src/score.py", SCORE_PY, dedent=False)
    tok = token(repo, "--scope", "admin")
    server = Server(tmp_path, "--max-upload", "1KiB")
    try:
        c = server.client(tok)
        r = c.post("/v1/uploads", content=iter([b"x" * 800, b"x" * 800]))  # an iterator: sent chunked
        assert r.status_code == 413, r.text
        assert r.json()["error"]["message"] == "the request body is over the limit of 1024 bytes", r.text
        r = c.post("/v1/uploads", content=b"x" * 1600)
        assert r.status_code == 413 and r.json()["error"]["message"].endswith("limit of 1024 bytes"), r.text
        assert _scratch(repo) == []
    finally:
        server.stop()


BIG_FILE = """\
name: bigfile
params:
  size: 1
steps:
  make:
    command: head -c ${{params.size}} /dev/zero > ${{outputs.blob}}
    outputs:
      blob: {path: build/blob.bin, output: true}
"""


def test_a_download_killed_half_way_leaves_a_part_file_the_next_download_removes(tmp_path):
    # Before: `pipe invoke --out DIR` killed (kill -9) while an output arrived left its
    # .blob.bin.RANDOM.part in DIR for ever: nothing removed it.
    require_serve_deps()
    root = tmp_path / "ws"
    root.mkdir()
    repo = Repo(root)
    repo.write("Pipefile", BIG_FILE, dedent=False)
    repo.pipe("publish", check=True)
    tok = token(repo, "--scope", "admin")
    server = Server(root, "--workers", "1")
    out = tmp_path / "out"
    env = dict(os.environ, PIPE_PLAIN="1", PIPE_TOKEN=tok)
    args = ["invoke", "bigfile", "--url", server.url, "-p", f"size={64 << 20}", "--out", str(out)]
    try:
        proc = subprocess.Popen(PIPE + args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        stopped = False
        try:
            deadline = time.monotonic() + 120
            while not (out.is_dir() and [n for n in os.listdir(out) if n.endswith(".part")]):
                assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
                time.sleep(0.005)
            # The server stopped mid-stream: the client waits for the rest until it is killed.
            os.killpg(server.proc.pid, signal.SIGSTOP)
            stopped = True
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
        finally:
            proc.kill()
            proc.communicate()
            if stopped:
                os.killpg(server.proc.pid, signal.SIGCONT)
        parts = [n for n in os.listdir(out) if n.endswith(".part")]
        assert parts and not (out / "blob.bin").exists(), os.listdir(out)
        # A part file a download on another machine writes (its pid none of this one's; it
        # holds the lock): left alone. The killed one's: removed by the next download.
        held = out / ".blob.bin.pipe-999999999-x.part"
        held.write_bytes(b"")
        fd = os.open(held, os.O_RDONLY)
        try:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX)
            r = subprocess.run(PIPE + args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
            assert r.returncode == 0, r.stderr
        finally:
            os.close(fd)
        assert sorted(os.listdir(out)) == sorted(["blob.bin", held.name]), os.listdir(out)
        assert (out / "blob.bin").stat().st_size == 64 << 20
    finally:
        server.stop()


def test_a_part_file_naming_an_impossible_pid_is_left_alone_not_an_internal_error(tmp_path):
    # The next download into --out looks at each .NAME.pipe-PID-RANDOM.part there: a PID past
    # what the OS can hold (a name pipe never made) raised OverflowError from os.kill, so
    # `pipe invoke --out DIR` was an internal error (exit 70) for a file of the user's folder.
    from pipefile.serve.download import remove_dead_parts

    odd = tmp_path / ".x.pipe-99999999999999999999-a.part"
    odd.write_text("mine\n")
    dead = tmp_path / ".x.pipe-999999999-b.part"  # (a dead download's: removed as before)
    dead.write_text("")
    assert remove_dead_parts(str(tmp_path)) == [dead.name]
    assert odd.read_text() == "mine\n"


def _closed_by_server(socks: list) -> int:
    """How many of `socks` the server has closed (a read gives end of file at once)."""
    n = 0
    for s in socks:
        s.setblocking(False)
        try:
            n += s.recv(1) == b""
        except BlockingIOError:
            pass  # open, nothing sent
        except OSError:
            n += 1  # reset
    return n


def _health_within(server: Server, seconds: float) -> bool:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.url}/v1/health", timeout=2).status_code == 200:
                return True
        time.sleep(0.2)
    return False


def test_idle_connections_are_closed_and_never_leave_the_server_without_files(tmp_path):
    # Before: connections that sent nothing were held for ever; 300 of them under `ulimit -n
    # 256` left the server no file to accept with: it answered no one (not /v1/health) until
    # the client went away. Now a connection on which no request begins for --idle-timeout is
    # closed, and past --max-connections (default: 3/4 of the open-file limit) as it opens.
    require_serve_deps()
    root = tmp_path / "ws"
    root.mkdir()
    Repo(root).write("Pipefile", "steps: {}\n", dedent=False)
    server = Server(root, "--idle-timeout", "2s", files=256)
    socks = []
    try:
        for _ in range(300):
            with contextlib.suppress(OSError):
                socks.append(socket.create_connection(("127.0.0.1", server.port), timeout=5))
        # Those past the cap are closed as they open, the rest within two idle timeouts; the
        # server answers meanwhile or after.
        assert _health_within(server, 10), server.output()[-3000:]
        deadline = time.monotonic() + 10
        while _closed_by_server(socks) < len(socks):
            assert time.monotonic() < deadline, f"{len(socks) - _closed_by_server(socks)} idle connections held"
            time.sleep(0.2)
        # A connection that sends its request's head a byte at a time, slower than the timeout allows.
        slow = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        for byte in b"GET /v1/health HTTP/1.1\r\n":
            try:
                slow.sendall(bytes([byte]))
            except OSError:
                break  # closed: what should happen
            time.sleep(0.2)
        assert _closed_by_server([slow]) == 1
        slow.close()
    finally:
        for s in socks:
            s.close()
        server.stop()
    # Nor did those queued past the cap take the last files while waiting to be closed
    # (accepted 2048 at a time, uvicorn's backlog): accept failed, logged once for each.
    assert server.output().count("Too many open files") == 0, server.output()[-3000:]


def test_max_connections_caps_what_the_server_holds(tmp_path):
    require_serve_deps()
    root = tmp_path / "ws"
    root.mkdir()
    Repo(root).write("Pipefile", "steps: {}\n", dedent=False)
    server = Server(root, "--max-connections", "20")
    socks = []
    try:
        socks = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(30)]
        time.sleep(0.5)
        assert _closed_by_server(socks) == 10
    finally:
        for s in socks:
            s.close()
    assert _health_within(server, 10)  # (once they went away: the cap counts what is open)
    server.stop()


def test_the_server_raises_its_open_file_limit(tmp_path):
    # Before: `pipe serve` kept the soft open-file limit it was started with (often 1,024)
    # though the hard one allowed more, and shares it out between its connections and its
    # jobs' steps. It now raises the soft limit to the hard one (at most leases.SERVER_FILES);
    # a hard limit set is kept.
    require_serve_deps()
    root = tmp_path / "ws"
    root.mkdir()
    Repo(root).write("Pipefile", "steps: {}\n", dedent=False)
    server = Server(root, files=(256, 600))
    try:
        with open(f"/proc/{server.proc.pid}/limits") as f:
            line = next(x for x in f if x.startswith("Max open files"))
        assert line.split()[3:5] == ["600", "600"]
    finally:
        server.stop()
