"""Probes of a real `pipe serve` on 127.0.0.1 as a careless or hostile client would drive
it: request headers and archive member names the server cannot use are answered 4xx
naming what is wrong (never a 500), and readers of large logs, outputs and archives cost
the server bounded memory and never hold up the others. (The open-file limit:
test_serve_files_review.py; a server killed mid-upload: test_serve_restart.py.)"""

from __future__ import annotations

import concurrent.futures as cf
import io
import os
import socket
import struct
import tarfile
import time
import zipfile

import pytest
from serve_site import SCORE, SCORE_PY, SLOW, Server, require_serve_deps, token, upload, wait_job
from workspace_repo import Repo

BIG = """\
    name: big
    params:
      size: 1
    steps:
      make:
        command: >-
          mkdir -p ${{outputs.folder}}/sub && head -c ${{params.size}} /dev/zero > ${{outputs.folder}}/sub/blob &&
          echo hi > ${{outputs.folder}}/small.txt
        outputs:
          folder: {path: build/folder/, output: true}
    """


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    require_serve_deps()
    root = tmp_path_factory.mktemp("review") / "ws"
    root.mkdir()
    repo = Repo(root)
    repo.write("Pipefile", SCORE, dedent=False)
    repo.write("src/score.py", SCORE_PY, dedent=False)
    repo.pipe("publish", check=True)
    repo.write("Pipefile.slow", SLOW, dedent=False)
    repo.pipe("publish", "-f", "Pipefile.slow", check=True)
    repo.write("Pipefile.big", BIG)
    repo.pipe("publish", "-f", "Pipefile.big", check=True)
    server = Server(root, "--workers", "1")
    yield repo, server, token(repo, "--scope", "admin")
    server.stop()


def _error(r, status: int) -> dict:
    assert r.status_code == status, (r.status_code, r.text)
    return r.json()["error"]


def test_a_last_event_id_that_names_no_event_is_refused_not_a_500(site):
    repo, server, admin = site
    c = server.client(admin)
    d = upload(c, b"0.2\n0.8\n").json()["digest"]
    job = c.post("/v1/endpoints/score/jobs", json={"inputs": {"data": {"upload": d}}}).json()
    wait_job(c, job["id"])
    url = f"/v1/jobs/{job['id']}/events"
    # '²' is a digit to str.isdigit() but not to int(); 40 digits overflow SQLite.
    for bad in ("²".encode("latin-1"), b"9" * 40, b"abc", b"-1"):
        for params in ({"wait": 0}, {}):  # long-poll and server-sent events
            err = _error(c.get(url, params=params, headers={"Last-Event-ID": bad}), 400)
            assert "Last-Event-ID" in err["message"] and err["hint"] and err["field"] == "Last-Event-ID"
    # A real one still resumes after that event.
    events = c.get(url, params={"wait": 0}).json()["events"]
    resumed = c.get(url, params={"wait": 0}, headers={"Last-Event-ID": str(events[0]["seq"])}).json()["events"]
    assert resumed == events[1:]
    assert "Traceback" not in server.output()


def _peak_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))


def test_readers_of_a_large_log_do_not_each_hold_it_in_the_servers_memory(site):
    """GET .../logs/STEP sent the whole log (up to --max-log, 100 MiB) as one body read on
    the event loop: eight readers of a 32 MB log took the server ~250 MB more memory and
    stalled every other request meanwhile."""
    repo, server, admin = site
    c = server.client(admin)
    size = 32_000_000
    job = c.post("/v1/endpoints/slow/jobs", json={"inputs": {"seconds": 0, "spam": size}}).json()
    assert wait_job(c, job["id"])["state"] == "completed"
    before = _peak_rss_kib(server.proc.pid)

    def read(_):
        with c.stream("GET", f"/v1/jobs/{job['id']}/logs/wait") as r:
            assert r.status_code == 200 and int(r.headers["content-length"]) == size
            return sum(len(b) for b in r.iter_bytes())

    with cf.ThreadPoolExecutor(8) as pool:
        assert list(pool.map(read, range(8))) == [size] * 8
    grown_mib = (_peak_rss_kib(server.proc.pid) - before) / 1024
    assert grown_mib < 100, f"the server's peak memory grew by {grown_mib:.0f} MiB"
    # A log that is not a regular file (docs/jobs.md) is still an empty one, never waited on.
    log = repo.root / ".pipe" / "jobs" / str(job["id"]) / "wait.log"
    log.unlink()
    os.mkfifo(log)
    for params in ({}, {"follow": 1}):
        r = c.get(f"/v1/jobs/{job['id']}/logs/wait", params=params, timeout=10)
        assert r.status_code == 200 and r.content == b"", r.text


def test_downloads_of_a_folder_with_a_large_file_do_not_each_hold_it_in_memory(site):
    """A folder output is sent as a tar stream; each of its files was copied whole into
    memory before any of it was sent."""
    repo, server, admin = site
    c = server.client(admin)
    size = 32_000_001  # not a whole number of tar blocks: the padding is checked too
    job = c.post("/v1/endpoints/big/jobs", json={"inputs": {"size": size}}).json()
    assert wait_job(c, job["id"])["state"] == "completed"
    before = _peak_rss_kib(server.proc.pid)

    def fetch(_):
        members = []
        with c.stream("GET", f"/v1/jobs/{job['id']}/outputs/folder") as r:
            assert r.status_code == 200 and r.headers["content-type"] == "application/x-tar"
            with tarfile.open(fileobj=_Reader(r), mode="r|") as tf:
                for m in tf:
                    n = 0
                    if m.isreg():
                        f = tf.extractfile(m)
                        while b := f.read(1 << 20):
                            n += len(b)
                    members.append((m.name, m.type, n))
        return sorted(members)

    with cf.ThreadPoolExecutor(8) as pool:
        got = list(pool.map(fetch, range(8)))
    assert (
        got
        == [[("small.txt", tarfile.REGTYPE, 3), ("sub", tarfile.DIRTYPE, 0), ("sub/blob", tarfile.REGTYPE, size)]] * 8
    )
    grown_mib = (_peak_rss_kib(server.proc.pid) - before) / 1024
    assert grown_mib < 100, f"the server's peak memory grew by {grown_mib:.0f} MiB"


class _Reader:
    """A streamed response as a file object for tarfile's stream mode."""

    def __init__(self, r):
        self.it = r.iter_bytes()
        self.buf = b""

    def read(self, n: int) -> bytes:
        while len(self.buf) < n:
            more = next(self.it, b"")
            if not more:
                break
            self.buf += more
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


def test_archive_uploads_being_unpacked_do_not_hold_up_reading_a_job(site):
    """An archive is unpacked and hashed on a thread after it arrived; those threads were
    the event loop's default executor, which also reads every job, event and log for the
    async routes: a handful of small archives of many files at once (one more than it has
    threads) held GET /v1/jobs/ID until one of them was done."""
    repo, server, admin = site
    c = server.client(admin)
    d = upload(c, b"0.5\n").json()["digest"]
    job = c.post("/v1/endpoints/score/jobs", json={"inputs": {"data": {"upload": d}}}).json()
    wait_job(c, job["id"])
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w:gz", format=tarfile.GNU_FORMAT) as tf:
        for i in range(2000):  # empty files: inodes, no data on disk
            info = tarfile.TarInfo(f"d{i // 500}/f{i}")
            tf.addfile(info)
    body = b.getvalue()
    n = min(32, (os.cpu_count() or 1) + 4) + 1  # asyncio's default executor, and one more

    def send(_):
        u = server.client(admin)
        return u.post("/v1/uploads", content=body, headers={"Content-Type": "application/x-tar"}).status_code

    with cf.ThreadPoolExecutor(n) as pool:
        sent = [pool.submit(send, i) for i in range(n)]
        # Every archive arrived (n-1 of them, at least): they are being unpacked, or wait to be.
        deadline = time.monotonic() + 60
        while _received(repo.root / ".pipe/serve/uploads", len(body)) < n - 1 and not any(f.done() for f in sent):
            assert time.monotonic() < deadline, "the uploads never arrived"
            time.sleep(0.02)
        t = time.monotonic()
        assert c.get(f"/v1/jobs/{job['id']}").status_code == 200
        took = time.monotonic() - t
        busy = sum(not f.done() for f in sent)
        assert [f.result() for f in sent] == [201] * n
    assert took < 2 or busy == 0, f"reading a job took {took:.1f}s while {busy} uploads were unpacked"


def _received(scratch, size: int) -> int:
    """How many uploads in `scratch` have all their `size` bytes on disk."""
    n = 0
    for p in scratch.glob("recv-*"):
        try:
            n += p.stat().st_size == size
        except FileNotFoundError:
            pass  # done with meanwhile
    return n


def test_a_host_header_with_a_port_that_is_no_number_is_a_400_not_a_500(site):
    repo, server, admin = site
    for host in (b"127.0.0.1:\xb2", b"127.0.0.1:" + b"9" * 5000, b"[::1]:8x"):
        for origin in (b"", b"Origin: http://127.0.0.1\r\n"):
            with socket.create_connection(("127.0.0.1", server.port)) as s:
                s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: " + host + b"\r\n" + origin + b"Connection: close\r\n\r\n")
                answer = b""
                while chunk := s.recv(65536):
                    answer += chunk
            assert answer.startswith(b"HTTP/1.1 400 ") and b"names no valid port" in answer, answer[:300]
    # A Host without a port, or with an empty one, is still served.
    for host in (b"127.0.0.1", b"127.0.0.1:"):
        with socket.create_connection(("127.0.0.1", server.port)) as s:
            s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: " + host + b"\r\nConnection: close\r\n\r\n")
            assert s.recv(65536).startswith(b"HTTP/1.1 200 ")


def _tar(names, fmt=tarfile.PAX_FORMAT) -> bytes:
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=fmt, encoding="utf-8", errors="surrogateescape") as tf:
        for n in names:
            info = tarfile.TarInfo(n)
            info.size = 1
            tf.addfile(info, io.BytesIO(b"x"))
    return b.getvalue()


def _zip(names, flag_utf8_bytes: bytes = b"") -> bytes:
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w") as z:
        for n in names:
            z.writestr(n, "x")
    data = b.getvalue()
    if flag_utf8_bytes:  # the name's bytes replaced by ones that are not UTF-8, flagged UTF-8 still
        data = data.replace(names[0].encode(), flag_utf8_bytes)
        for sig, at in ((b"PK\x01\x02", 8), (b"PK\x03\x04", 6)):  # central and local header flags
            i = data.find(sig) + at
            data = data[:i] + struct.pack("<H", struct.unpack_from("<H", data, i)[0] | 0x800) + data[i + 2 :]
    return data


def test_archive_member_names_the_server_cannot_hold_are_refused_not_a_500(site):
    repo, server, admin = site
    c = server.client(admin)
    deep = "/".join(["abcdefgh"] * 600)  # every name short, the path past what Linux takes
    tar, zip_ = {"Content-Type": "application/x-tar"}, {"Content-Type": "application/zip"}
    cases = [
        (_tar(["a" * 300]), tar, "300 bytes"),
        (_tar([deep]), tar, "too long"),
        (_tar(["ok/b\udcffd"], fmt=tarfile.GNU_FORMAT), tar, "not valid UTF-8"),
        (_zip(["z" * 300]), zip_, "300 bytes"),
        (_zip([deep]), zip_, "too long"),
        (_zip(["abXc"], flag_utf8_bytes=b"ab\xffc"), zip_, "not valid UTF-8"),
    ]
    for body, headers, said in cases:
        err = _error(c.post("/v1/uploads", content=body, headers=headers), 400)
        assert said in err["message"] and err["hint"], err
    assert os.listdir(repo.root / ".pipe" / "serve" / "uploads") == []  # nothing of them kept
    # Odd but valid names are a folder like any other.
    ok = c.post("/v1/uploads", content=_tar(["\u202egnp.exe", "d/e\u0301", "n" * 255]), headers=tar)
    assert ok.status_code == 201, ok.text
    assert "Traceback" not in server.output()


def test_a_retry_with_its_idempotency_key_gets_its_job_after_the_default_changed(site):
    """The same key with the same body is the same job (docs/endpoints.md), also when
    `pipe endpoints set-default` or `disable` ran between the request and its retry (the
    client cannot tell: the first answer may never have reached it)."""
    repo, server, admin = site
    c = server.client(admin)
    d = upload(c, b"0.4\n0.45\n").json()["digest"]
    body = {"inputs": {"data": {"upload": d}, "label": "retry"}}
    first = c.post("/v1/endpoints/score/jobs", json=body, headers={"Idempotency-Key": "k-default"})
    pinned = c.post(
        "/v1/endpoints/score/deployments/1/jobs", json=dict(body, tags={"n": "1"}), headers={"Idempotency-Key": "k-1"}
    )
    assert first.status_code == 202 and pinned.status_code == 202, (first.text, pinned.text)
    job = wait_job(c, first.json()["id"])
    assert job["deployment"] == 1
    repo.write("src/score.py", SCORE_PY.replace('f"{r},', 'f"v2 {r},'), dedent=False)
    repo.pipe("publish", "--set-default", check=True)  # deployment 2 is the default now
    again = c.post("/v1/endpoints/score/jobs", json=body, headers={"Idempotency-Key": "k-default"})
    assert again.status_code == 200 and again.json()["id"] == job["id"], again.text
    repo.pipe("endpoints", "disable", "score", "1", check=True)
    for path, b, key in (
        ("/v1/endpoints/score/jobs", body, "k-default"),
        ("/v1/endpoints/score/deployments/1/jobs", dict(body, tags={"n": "1"}), "k-1"),
    ):
        again = c.post(path, json=b, headers={"Idempotency-Key": key})
        assert again.status_code == 200 and again.json()["deployment"] == 1, again.text
    # Still the same key with another request is a conflict: another deployment named, other tags.
    other = c.post(
        "/v1/endpoints/score/deployments/2/jobs", json=dict(body, tags={"n": "1"}), headers={"Idempotency-Key": "k-1"}
    )
    assert other.status_code == 409, other.text
    assert c.post("/v1/endpoints/score/jobs", json=body, headers={"Idempotency-Key": "k-1"}).status_code == 409
    # A new request (no key) gets the new default.
    fresh = c.post("/v1/endpoints/score/jobs", json=body)
    assert fresh.status_code == 202 and fresh.json()["deployment"] == 2


@pytest.mark.parametrize("route", ["/v1/endpoints/score/jobs", "/v1/online/score/score"])
def test_a_json_body_sent_as_another_content_type_names_the_type(site, route):
    # Before: `curl -d '{...}'` (form-encoded: curl's default) was answered "body: Input should
    # be a valid dictionary or object to extract fields from", which says nothing of the cause.
    repo, server, tok = site
    c = server.client(tok)
    for kind in ("application/x-www-form-urlencoded", "text/plain; charset=utf-8"):
        r = c.post(route, content=b'{"inputs": {}, "rows": [{}]}', headers={"Content-Type": kind})
        assert r.status_code == 422, r.text
        err = r.json()["error"]
        assert err["message"] == f"body: sent as Content-Type {kind!r}, not as JSON", err
        assert "Content-Type: application/json" in err["hint"] and err["field"] == "body"
    # JSON, and JSON of a +json type, are read as before (here: refused for what they hold)
    for kind in ("application/json", "application/vnd.api+json"):
        r = c.post(route, content=b"[1]", headers={"Content-Type": kind})
        assert r.status_code == 422 and "Content-Type" not in r.json()["error"]["message"], r.text


def test_an_out_folder_the_outputs_could_never_reach_is_refused_before_the_job_runs(site, tmp_path):
    # Before: `--out ""` (`--out "$OUT"` with OUT unset) was taken as no --out: the job was
    # submitted, nothing downloaded, exit 0; and an --out under a file was found out only
    # once the job had run. Both are exit 2 now, naming the part at fault, with no job sent.
    repo, server, tok = site
    c = server.client(tok)
    before = len(c.get("/v1/jobs", params={"limit": 1000}).json()["jobs"])
    (tmp_path / "afile").write_text("x")
    env = {"PIPE_TOKEN": tok, "PIPE_URL": server.url}
    for out, message in (
        ("", "error: --out is empty"),
        (str(tmp_path / "afile" / "sub"), f"error: --out '{tmp_path}/afile/sub': '{tmp_path}/afile' is not a folder"),
        ("/dev/null", "error: --out '/dev/null': '/dev/null' is not a folder"),
    ):
        r = repo.pipe("invoke", "slow", "-p", "seconds=0", "--out", out, env=env)
        assert r.code == 2 and message in r.err, (out, str(r))
    assert len(c.get("/v1/jobs", params={"limit": 1000}).json()["jobs"]) == before
    # a folder yet to be made, under ones that are not there yet either, is fine
    r = repo.pipe("invoke", "slow", "-p", "seconds=0", "--out", str(tmp_path / "new" / "deep"), env=env)
    assert r.code == 0 and (tmp_path / "new" / "deep" / "out.txt").read_text() == "done\n", str(r)
