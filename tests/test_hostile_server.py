"""`pipe invoke` against a server that lies: a small threaded HTTP server on 127.0.0.1
answers as `pipe serve` would, except for the one thing each test makes it do wrong
(output names that escape --out, URLs and redirects to another origin, bodies cut short
or too long, archives with links). A second server on another port records every request
that reaches it, and whether it carried the token. The real CLI is driven where it can be;
the Client in-process for the rest."""

from __future__ import annotations

import io
import json
import os
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from serve_site import require_serve_deps

TOKEN = "pipe_0123456789ab_hostile-test-secret"
DATA = b"0.1,0\n0.9,1\n"


def xxh(data: bytes) -> str:
    import xxhash

    return xxhash.xxh3_128(data).hexdigest()


class Fake:
    """A threaded HTTP/1.1 server on 127.0.0.1. `routes[(METHOD, path)]` is a function
    of the request handler that writes the answer; every request is recorded."""

    def __init__(self):
        self.routes: dict = {}
        self.seen: list = []  # (method, path, Authorization header or None)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                self.body = self.rfile.read(n) if n else b""
                fake.seen.append((self.command, self.path, self.headers.get("Authorization")))
                route = fake.routes.get((self.command, self.path.split("?")[0]))
                if route is None:
                    send(self, 404, json.dumps({"error": {"message": f"no route {self.path}"}}).encode())
                else:
                    route(self)

            do_GET = do_POST = do_HEAD = do_PUT = _any

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def serve_job(self, outputs: dict, endpoint: str = "ep") -> None:
        """The endpoint (no inputs) and a job that has completed with these outputs."""
        self.routes[("GET", f"/v1/endpoints/{endpoint}")] = lambda h: send_json(h, {"name": endpoint, "inputs": {}})
        job = {"id": 1, "state": "completed", "url": "/v1/jobs/1", "error": None, "outputs": outputs}
        self.routes[("POST", f"/v1/endpoints/{endpoint}/jobs")] = lambda h: send_json(h, job, 202)

    def tokens(self) -> list:
        return [a for _m, _p, a in self.seen if a]


def send(h, status: int, body: bytes, headers: dict | None = None, length: int | None = None) -> None:
    """An answer; `length` announces another Content-Length than the body's (then the
    connection is closed after the body), None with headers={'Connection': 'close'} none."""
    h.send_response(status)
    headers = dict(headers or {})
    if headers.get("Connection") != "close" or length is not None:
        h.send_header("Content-Length", str(len(body) if length is None else length))
    for k, v in headers.items():
        h.send_header(k, v)
    h.end_headers()
    if h.command != "HEAD":
        h.wfile.write(body)
    if length is not None or headers.get("Connection") == "close":
        h.close_connection = True


def send_json(h, obj, status: int = 200) -> None:
    send(h, status, json.dumps(obj).encode(), {"Content-Type": "application/json"})


def file_output(url: str = "/v1/jobs/1/outputs/pred", data: bytes = DATA, **over) -> dict:
    return dict({"kind": "file", "digest": xxh(data), "size": len(data), "filename": "pred.csv", "url": url}, **over)


def tar_of(members: list) -> bytes:
    """A tar of (name, bytes | None for a folder | ('link', target))."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, content in members:
            info = tarfile.TarInfo(name)
            if content is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tf.addfile(info)
            elif isinstance(content, tuple):
                info.type, info.linkname = tarfile.SYMTYPE, content[1]
                tf.addfile(info)
            else:
                info.size, info.mode = len(content), 0o644
                tf.addfile(info, io.BytesIO(content))
    return buf.getvalue()


@pytest.fixture
def servers():
    require_serve_deps()
    hostile, foreign = Fake(), Fake()
    foreign.routes[("GET", "/steal")] = lambda h: send(h, 200, DATA)
    yield hostile, foreign
    hostile.close()
    foreign.close()


def invoke(repo, server, out: Path, *extra: str, url: str | None = None):
    return repo.pipe(
        "invoke",
        "ep",
        "--url",
        url or server.url,
        "--out",
        str(out),
        *extra,
        env={"PIPE_TOKEN": TOKEN, "PIPE_URL": ""},
        timeout=60,
    )


def tree_listing(p: Path) -> list:
    return sorted(str(x.relative_to(p)) for x in p.rglob("*")) if p.exists() else []


def client_for(server, warnings: list | None = None, url: str | None = None, timeout: float = 10):
    from pipefile.serve.client import Client

    return Client(
        url or server.url, TOKEN, timeout=timeout, warn=(warnings.append if warnings is not None else lambda m: None)
    )


def download_outputs(client, job, out_dir):
    from pipefile.serve.download import download_outputs

    return download_outputs(client, job, out_dir)


def job_of(outputs: dict) -> dict:
    return {"id": 1, "state": "completed", "outputs": outputs}


# --- output names ---------------------------------------------------------------------------
# "<tmp>" is the test's own temporary folder: a client without the checks writes there, not in /.
ESCAPING = [
    "../x",
    "<tmp>/abs",
    "a/b",
    "..",
    ".",
    "\\x",
    "a\\..\\..\\x",
    "a\0b",
    "C:x",
    "c:\\x",
    "a\nb",
    "",
    "x" * 300,
    "é" * 150,
]


def test_escaping_names_are_refused_before_anything_is_written(repo, servers, tmp_path):
    hostile, _foreign = servers
    out = tmp_path / "box" / "out"
    for name in ["../x", f"{tmp_path}/abs", "a/b", "..", "\\x", "a\0b"]:
        # A good output first: it must not be written either (all names are checked first).
        hostile.serve_job({"good": file_output("/v1/jobs/1/outputs/good"), name: file_output()})
        hostile.routes[("GET", "/v1/jobs/1/outputs/good")] = lambda h: send(h, 200, DATA)
        hostile.routes[("GET", "/v1/jobs/1/outputs/pred")] = lambda h: send(h, 200, DATA)
        hostile.seen.clear()
        r = invoke(repo, hostile, out)
        assert r.code == 2, (name, str(r))
        assert "the server named an output" in r.err and repr(name) in r.err, (name, r.err)
        assert "Traceback" not in r.err
        assert not any("/outputs/" in p for _m, p, _a in hostile.seen), name  # nothing downloaded
        assert tree_listing(tmp_path / "box") in ([], ["out"]), name
    assert set(os.listdir(tmp_path)) <= {"ws", "box"} and not (tmp_path / "box" / "x").exists()


@pytest.mark.parametrize("name", ESCAPING, ids=[repr(n)[:20] for n in ESCAPING])
def test_client_refuses_every_unsafe_name(servers, tmp_path, name):
    hostile, _foreign = servers
    name = name.replace("<tmp>", str(tmp_path))
    hostile.routes[("GET", "/v1/jobs/1/outputs/pred")] = lambda h: send(h, 200, DATA)
    from pipefile.errors import PipefileError

    c = client_for(hostile)
    try:
        with pytest.raises(PipefileError, match="the server named an output"):
            download_outputs(c, job_of({name: file_output()}), str(tmp_path / "out"))
    finally:
        c.close()
    assert hostile.seen == [] and tree_listing(tmp_path) == []


def test_names_that_collide_and_descriptions_that_lie_are_refused(servers, tmp_path):
    hostile, _foreign = servers
    from pipefile.errors import PipefileError

    c = client_for(hostile)
    try:
        # pred (a file pred.csv) and pred.csv (a folder): both would be out/pred.csv.
        both = {"pred": file_output(), "PRED.csv": dict(file_output(), kind="tree", filename="x")}
        with pytest.raises(PipefileError, match="would both be written"):
            download_outputs(c, job_of(both), str(tmp_path / "out"))
        for bad in ({"kind": "link"}, {"size": -1}, {"size": "12"}, {"size": True}, {"url": None}, {"digest": "../.."}):
            with pytest.raises(PipefileError):
                download_outputs(c, job_of({"pred": dict(file_output(), **bad)}), str(tmp_path / "out"))
        with pytest.raises(PipefileError, match="wrong shape"):
            download_outputs(c, {"outputs": ["pred"]}, str(tmp_path / "out"))
    finally:
        c.close()
    assert hostile.seen == [] and tree_listing(tmp_path) == []


# --- URLs and the token ---------------------------------------------------------------------
def test_foreign_urls_are_refused_and_never_see_the_token(repo, servers, tmp_path):
    hostile, foreign = servers
    port = foreign.url.rsplit(":", 1)[1]
    for url in (
        f"{foreign.url}/steal",
        f"//127.0.0.1:{port}/steal",
        f"http://localhost:{port}/steal",
        f"https://{hostile.url[len('http://') :]}/v1/jobs/1/outputs/pred",
    ):
        hostile.serve_job({"pred": file_output(url)})
        r = invoke(repo, hostile, tmp_path / "out")
        assert r.code == 2, (url, str(r))
        assert "not on the server" in r.err and "Traceback" not in r.err, r.err
    assert foreign.seen == []  # no request at all reached it, so no token either
    assert tree_listing(tmp_path / "out") == []


def test_urls_on_the_servers_origin_are_followed(repo, servers, tmp_path):
    hostile, _foreign = servers
    # An absolute URL on the same origin (spelt with upper case and the port) is the server.
    host = hostile.url[len("http://") :]
    hostile.serve_job(
        {
            "pred": file_output(f"HTTP://{host.upper()}/dl/pred"),
            "report": {"kind": "tree", "size": 5, "digest": "ab" * 16, "url": "/dl/report"},
        }
    )
    hostile.routes[("GET", "/dl/pred")] = lambda h: send(h, 200, DATA)
    # A redirect on the same origin is followed, with the token.
    hostile.routes[("GET", "/dl/report")] = lambda h: send(h, 302, b"", {"Location": f"{hostile.url}/dl/report2"})
    hostile.routes[("GET", "/dl/report2")] = lambda h: send(h, 200, tar_of([("sub", None), ("sub/a.txt", b"hello")]))
    out = tmp_path / "out"
    r = invoke(repo, hostile, out)
    assert r.code == 0, str(r)
    assert (out / "pred.csv").read_bytes() == DATA and (out / "report" / "sub" / "a.txt").read_bytes() == b"hello"
    assert tree_listing(out) == ["pred.csv", "report", "report/sub", "report/sub/a.txt"]  # no temporary left
    assert all(a == f"Bearer {TOKEN}" for _m, _p, a in hostile.seen) and len(hostile.seen) == 5
    assert "warning" not in r.err  # plain http, but to a loopback address


def test_redirects_to_another_origin_are_not_followed(repo, servers, tmp_path):
    hostile, foreign = servers
    port = foreign.url.rsplit(":", 1)[1]
    hostile.serve_job({"pred": file_output()})
    from pipefile.errors import PipefileError

    c = client_for(hostile)
    try:
        for status in (301, 302, 303, 307, 308):
            for target in (f"{foreign.url}/steal", f"//127.0.0.1:{port}/steal", f"http://localhost:{port}/steal"):
                hostile.routes[("GET", "/v1/jobs/1/outputs/pred")] = lambda h, s=status, t=target: send(
                    h, s, b"", {"Location": t}
                )
                with pytest.raises(PipefileError, match="not the server"):
                    download_outputs(c, job_of({"pred": file_output()}), str(tmp_path / "out"))
    finally:
        c.close()
    hostile.routes[("GET", "/v1/jobs/1/outputs/pred")] = lambda h: send(h, 302, b"", {"Location": f"{foreign.url}/"})
    r = invoke(repo, hostile, tmp_path / "out")
    assert r.code == 2 and "not the server" in r.err and "Traceback" not in r.err, str(r)
    # The first request of all, redirected: refused too.
    hostile.routes[("GET", "/v1/endpoints/ep")] = lambda h: send(h, 307, b"", {"Location": f"{foreign.url}/steal"})
    r = invoke(repo, hostile, tmp_path / "out")
    assert r.code == 2 and "not the server" in r.err, str(r)
    assert foreign.seen == [] and tree_listing(tmp_path / "out") == []
    # A redirect loop on the server itself ends cleanly.
    hostile.routes[("GET", "/v1/endpoints/ep")] = lambda h: send(h, 302, b"", {"Location": "/v1/endpoints/ep"})
    r = invoke(repo, hostile, tmp_path / "out")
    assert r.code == 2 and "loop" in r.err, str(r)


def test_httpx_would_strip_the_token_on_its_own_too(servers):
    """Defence in depth: the token is added per request, to the server's origin only."""
    hostile, foreign = servers
    c = client_for(hostile)
    try:
        c._only_origin = lambda request: None  # as if the origin check were gone
        c.http._event_hooks["request"] = []
        r = c.http.get(f"{foreign.url}/steal")
        assert r.status_code == 200
    finally:
        c.close()
    assert foreign.seen == [("GET", "/steal", None)]


def test_plain_http_to_a_non_loopback_host_warns_once(servers):
    hostile, _foreign = servers
    from pipefile.errors import PipefileError

    warnings: list = []
    c = client_for(hostile, warnings)
    try:
        with pytest.raises(PipefileError):
            c.endpoint("ep")  # 404 here: the token went, over http, to 127.0.0.1
    finally:
        c.close()
    assert warnings == []
    # 192.0.2.1 (TEST-NET-1) answers nothing: the token is attached, and the warning given,
    # before the connection is tried.
    c = client_for(hostile, warnings, url="http://192.0.2.1:9", timeout=0.5)
    try:
        for _ in range(2):
            with pytest.raises(PipefileError, match="cannot reach"):
                c.endpoint("ep")
    finally:
        c.close()
    assert len(warnings) == 1 and "plain http" in warnings[0] and "192.0.2.1" in warnings[0]
    c = client_for(hostile, warnings, url="https://192.0.2.1:9", timeout=0.5)
    try:
        with pytest.raises(PipefileError, match="cannot reach"):
            c.endpoint("ep")
    finally:
        c.close()
    assert len(warnings) == 1


def test_a_bad_url_option_is_refused(repo, tmp_path):
    require_serve_deps()
    for url in ("127.0.0.1:8080", "ftp://127.0.0.1/", "http:///v1"):
        r = invoke(repo, None, tmp_path / "out", url=url)
        assert r.code == 2 and "--url" in r.err and "Traceback" not in r.err, (url, str(r))


# --- bodies ---------------------------------------------------------------------------------
def test_truncated_and_oversized_files_leave_nothing(repo, servers, tmp_path):
    hostile, _foreign = servers
    out = tmp_path / "out"
    hostile.serve_job({"pred": file_output()})
    route = ("GET", "/v1/jobs/1/outputs/pred")
    cases = {
        # Content-Length says the job's size, the connection closes early.
        "cut": (lambda h: send(h, 200, DATA[:5], length=len(DATA)), "broke off"),
        # Content-Length larger than the job's size.
        "announced": (lambda h: send(h, 200, DATA + DATA), "announces"),
        # No Content-Length, more bytes than the job's size.
        "endless": (lambda h: send(h, 200, DATA * 1000, {"Connection": "close"}), "more than"),
        # No Content-Length, fewer bytes.
        "short": (lambda h: send(h, 200, DATA[:5], {"Connection": "close"}), "arrived"),
        # The right size, other bytes.
        "altered": (lambda h: send(h, 200, DATA.replace(b"1", b"2")), "digest"),
        # Not JSON where JSON is expected is an error too, not a crash.
        "error page": (lambda h: send(h, 500, b"<html>oops</html>"), "500"),
    }
    for what, (answer, expect) in cases.items():
        hostile.routes[route] = answer
        r = invoke(repo, hostile, out)
        assert r.code == 2 and expect in r.err and "Traceback" not in r.err, (what, str(r))
        assert tree_listing(out) == [], what  # no partial file, no temporary
    hostile.routes[route] = lambda h: send(h, 200, DATA)
    assert invoke(repo, hostile, out).code == 0
    assert tree_listing(out) == ["pred.csv"] and (out / "pred.csv").read_bytes() == DATA


def test_not_json_is_an_error_not_a_crash(repo, servers, tmp_path):
    hostile, _foreign = servers
    hostile.routes[("GET", "/v1/endpoints/ep")] = lambda h: send(h, 200, b"<html>login</html>")
    r = invoke(repo, hostile, tmp_path / "out")
    assert r.code == 2 and "not a JSON object" in r.err, str(r)


FOLDER = [("sub", None), ("sub/a.txt", b"hello"), ("b.txt", b"12345")]


def test_truncated_oversized_and_hostile_folders_leave_nothing(repo, servers, tmp_path):
    hostile, _foreign = servers
    out = tmp_path / "out"
    good = tar_of(FOLDER)
    hostile.serve_job({"report": {"kind": "tree", "size": 10, "digest": "ab" * 16, "url": "/v1/jobs/1/outputs/r"}})
    route = ("GET", "/v1/jobs/1/outputs/r")
    outside = tmp_path / "outside"
    cases = {
        "cut mid-member": (lambda h: send(h, 200, good[:1200], length=len(good)), "broke off"),
        "cut, closed": (lambda h: send(h, 200, good[:1200], {"Connection": "close"}), "cut short"),
        # Cut after the first file: a valid-looking tar with less than the folder's size.
        "cut at a member": (
            lambda h: send(h, 200, tar_of(FOLDER[:2])[: -1024 * 2 - 512], {"Connection": "close"}),
            "arrived",
        ),
        "bigger": (lambda h: send(h, 200, tar_of(FOLDER + [("c.txt", b"x" * 100)])), "more than the 10 bytes"),
        "endless": (lambda h: send(h, 200, good + b"\0" * (3 << 20), {"Connection": "close"}), "more than"),
        "link": (lambda h: send(h, 200, tar_of([("l", ("link", str(outside)))] + FOLDER)), "not a file or folder"),
        "up": (lambda h: send(h, 200, tar_of([("../outside", b"0123456789")])), ".."),
        "absolute": (lambda h: send(h, 200, tar_of([(str(outside), b"0123456789")])), "absolute"),
        "twice": (lambda h: send(h, 200, tar_of(FOLDER + [("b.txt", b"")])), "twice"),
        "garbage": (lambda h: send(h, 200, b"not a tar" * 100), "damaged"),
        # tarfile reads a chain of extended headers by recursion: a crash (exit 70), not a refusal.
        "headers in a row": (lambda h: send(h, 200, pax_chain(1000) + good), "in a row"),
        "sparse": (lambda h: send(h, 200, sparse_member() + good), "not a file or folder"),
        # Names no file system holds: one over 255 bytes, a path past PATH_MAX of short ones.
        "long name": (lambda h: send(h, 200, tar_of([("n" * 300, b"0123456789")])), "at most 255"),
        "deep path": (lambda h: send(h, 200, tar_of([("/".join(["abcdefgh"] * 600), b"0123456789")])), "too long"),
    }
    for what, (answer, expect) in cases.items():
        hostile.routes[route] = answer
        r = invoke(repo, hostile, out)
        assert r.code == 2 and expect in r.err and "Traceback" not in r.err, (what, str(r))
        assert tree_listing(out) == [] and not outside.exists(), what
    hostile.routes[route] = lambda h: send(h, 200, good)
    r = invoke(repo, hostile, out)
    assert r.code == 0, str(r)
    assert tree_listing(out) == ["report", "report/b.txt", "report/sub", "report/sub/a.txt"]


def pax_chain(n: int) -> bytes:
    """n pax extended headers in a row (each one block of header and one of data)."""
    record = b"13 comment=c\n"
    info = tarfile.TarInfo("x")
    info.type, info.size = tarfile.XHDTYPE, len(record)
    return (info.tobuf(tarfile.USTAR_FORMAT) + record + b"\0" * (512 - len(record))) * n


def sparse_member() -> bytes:
    info = tarfile.TarInfo("holes")
    info.type = tarfile.GNUTYPE_SPARSE
    return info.tobuf(tarfile.GNU_FORMAT)


def test_links_in_out_are_never_written_through(repo, servers, tmp_path):
    hostile, _foreign = servers
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    # What the old client wrote through: its fixed temporary name, and the output's own name.
    (out / "pred.csv.part").symlink_to(victim)
    hostile.serve_job({"pred": file_output()})
    hostile.routes[("GET", "/v1/jobs/1/outputs/pred")] = lambda h: send(h, 200, DATA)
    r = invoke(repo, hostile, out)
    assert r.code == 0, str(r)
    assert victim.read_text() == "keep me" and (out / "pred.csv").read_bytes() == DATA
    (out / "pred.csv").unlink()
    (out / "pred.csv").symlink_to(victim)
    r = invoke(repo, hostile, out)
    assert r.code == 2 and "already exists" in r.err, str(r)
    assert victim.read_text() == "keep me"
    # A folder output over a link to a folder outside: refused, nothing lands outside.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (out / "report").symlink_to(elsewhere)
    hostile.serve_job({"report": {"kind": "tree", "size": 10, "digest": "ab" * 16, "url": "/r"}})
    hostile.routes[("GET", "/r")] = lambda h: send(h, 200, tar_of(FOLDER))
    r = invoke(repo, hostile, out)
    assert r.code == 2 and "already exists" in r.err, str(r)
    assert list(elsewhere.iterdir()) == []


def test_a_download_is_renamed_into_place_only_when_complete(servers, tmp_path):
    """In-process: while the body streams, only a temporary name exists in --out."""
    hostile, _foreign = servers
    seen_during: list = []
    out = tmp_path / "out"

    def slow(h):
        h.send_response(200)
        h.send_header("Content-Length", str(len(DATA)))
        h.end_headers()
        h.wfile.write(DATA[:4])
        h.wfile.flush()
        import time

        time.sleep(0.3)
        seen_during.append(sorted(os.listdir(out)))
        h.wfile.write(DATA[4:])

    hostile.routes[("GET", "/v1/jobs/1/outputs/pred")] = slow
    c = client_for(hostile)
    try:
        written = download_outputs(c, job_of({"pred": file_output()}), str(out))
    finally:
        c.close()
    assert written == [str(out / "pred.csv")] and (out / "pred.csv").read_bytes() == DATA
    assert len(seen_during) == 1 and len(seen_during[0]) == 1 and seen_during[0][0].endswith(".part")
    assert "pred.csv" not in seen_during[0]
    assert sorted(os.listdir(out)) == ["pred.csv"]


# --- what is printed ------------------------------------------------------------------------
def test_events_of_the_wrong_shape_and_terminal_escapes(repo, servers, tmp_path):
    """While --wait follows a job, what the server says is printed as text, and answers of
    the wrong shape are errors (exit 2), never crashes (70)."""
    hostile, _foreign = servers
    hostile.serve_job({})
    queued = {"id": 1, "state": "queued\x1b[2J", "url": "/v1/jobs/1\x1b]0;owned\x07", "outputs": {}}
    hostile.routes[("POST", "/v1/endpoints/ep/jobs")] = lambda h: send_json(h, queued, 202)
    events = {
        "events": [
            {"seq": 1, "kind": "step", "data": {"status": "finished", "step": "s\x1b[31m"}},
            {"seq": 2, "kind": "state", "data": {"error": "\x1b[1mbad"}},
        ],
        "done": True,
    }
    hostile.routes[("GET", "/v1/jobs/1/events")] = lambda h: send_json(h, events)
    hostile.routes[("GET", "/v1/jobs/1")] = lambda h: send_json(h, {"id": 1, "state": "failed", "error": "\x1b[0m!"})
    r = repo.pipe("invoke", "ep", "--url", hostile.url, "--wait", env={"PIPE_TOKEN": TOKEN})
    assert r.code == 1 and "\x1b" not in r.err and "\\x1b[2J" in r.err, str(r)
    for bad in ({"events": [{"seq": "1"}], "done": False}, {"events": None}, ["not", "an", "object"]):
        hostile.routes[("GET", "/v1/jobs/1/events")] = lambda h, b=bad: send_json(h, b)
        r = repo.pipe("invoke", "ep", "--url", hostile.url, "--wait", env={"PIPE_TOKEN": TOKEN})
        assert r.code == 2 and ("wrong shape" in r.err or "not a JSON object" in r.err), str(r)
    hostile.routes[("POST", "/v1/endpoints/ep/jobs")] = lambda h: send_json(h, {"id": "1"}, 202)
    r = repo.pipe("invoke", "ep", "--url", hostile.url, env={"PIPE_TOKEN": TOKEN})
    assert r.code == 2 and "wrong shape" in r.err, str(r)
    hostile.routes[("GET", "/v1/endpoints/ep")] = lambda h: send_json(h, {"inputs": {"x": "param"}})
    r = repo.pipe("invoke", "ep", "-p", "x=1", "--url", hostile.url, env={"PIPE_TOKEN": TOKEN})
    assert r.code == 2 and "describes input 'x'" in r.err, str(r)


def test_the_servers_errors_are_printed_escaped(repo, servers, tmp_path):
    """An error's message and hint, a plain-text error page and the input names a hint
    suggests are the server's text: printed with control characters escaped, so they can
    neither drive the terminal (ESC, OSC) nor forge lines (newlines)."""
    hostile, _foreign = servers
    evil = "\x1b]0;owned\x07\x1b[2J\nerror: forged line\r\x9b1m"
    route = ("GET", "/v1/endpoints/ep")
    answers = {
        "json error": lambda h: send_json(h, {"error": {"message": "bad" + evil, "hint": "try" + evil}}, 422),
        "text error": lambda h: send(h, 500, ("oops" + evil).encode(), {"Content-Type": "text/plain"}),
        "error not an object": lambda h: send_json(h, {"error": "bad" + evil}, 400),
        "suggested name": lambda h: send_json(h, {"name": "ep", "inputs": {"dat" + evil: {"kind": "asset"}}}),
    }
    for what, answer in answers.items():
        hostile.routes[route] = answer
        r = repo.pipe("invoke", "ep", "-i", "data=x", "--url", hostile.url, env={"PIPE_TOKEN": TOKEN})
        assert r.code == 2 and "Traceback" not in r.err, (what, str(r))
        assert not any(c in r.err for c in "\x1b\x07\r\x9b"), (what, r.err)
        assert ("\\x1b" in r.err or "\\u001b" in r.err) and "forged line" in r.err, (what, r.err)
        assert not any(line.startswith("error: forged") for line in r.err.splitlines()), (what, r.err)


def _chunked(h, pieces, headers: dict | None = None) -> None:
    """A 200 answer sent with Transfer-Encoding: chunked (no length known in advance)."""
    h.send_response(200)
    for k, v in dict({"Content-Type": "application/json"}, **(headers or {})).items():
        h.send_header(k, v)
    h.send_header("Transfer-Encoding", "chunked")
    h.end_headers()
    try:
        for piece in pieces:
            h.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        h.wfile.write(b"0\r\n\r\n")
    except OSError:
        pass  # the client hung up: what it should do
    h.close_connection = True


def _gzip(pieces, wbits: int = 31) -> bytes:
    import zlib

    z = zlib.compressobj(9, zlib.DEFLATED, wbits)
    return b"".join(z.compress(p) for p in pieces) + z.flush()


def _peak_bytes(call) -> tuple:
    """(what call() raised or returned, the peak of Python allocations while it ran)."""
    import tracemalloc

    tracemalloc.start()
    try:
        try:
            got = call()
        except Exception as e:  # noqa: BLE001 - the caller looks at it
            got = e
        return got, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_hostile_answers_cannot_crash_or_flood_the_client(repo, servers):
    """An answer nested deeper than any of pipe serve's is refused (exit 2, never 70 from a
    RecursionError); a long answer, chunked or compressed (a gzip bomb, gzip twice), is
    refused once what it decodes to passes the cap, without holding it all in memory."""
    hostile, _foreign = servers
    from pipefile.errors import PipefileError

    route = ("GET", "/v1/endpoints/ep")
    deep = {"deep": b"[" * 200_000 + b"]" * 200_000, "deep object": b'{"a":' * 100 + b"1" + b"}" * 100}
    for what, body in deep.items():
        hostile.routes[route] = lambda h, b=body: send(h, 200, b, {"Content-Type": "application/json"})
        r = repo.pipe("invoke", "ep", "--url", hostile.url, env={"PIPE_TOKEN": TOKEN})
        assert r.code == 2 and "nested" in r.err and "Traceback" not in r.err, (what, str(r))
    # An error's body that is deep, huge or a bomb is cut, never a crash either.
    hostile.routes[route] = lambda h: send(h, 500, b"[" * 200_000)
    r = repo.pipe("invoke", "ep", "--url", hostile.url, env={"PIPE_TOKEN": TOKEN})
    assert r.code == 2 and "answered 500" in r.err and "Traceback" not in r.err, str(r)

    mib = b"a" * (1 << 20)
    big_json = [b'{"name": "ep", "inputs": {}, "x": "'] + [mib] * 64 + [b'"}']
    bomb = _gzip([b'{"name": "ep", "inputs": {}, "x": "'] + [mib] * 256 + [b'"}'])
    assert len(bomb) < 1 << 20
    floods = {
        "chunked": lambda h: _chunked(h, big_json),
        "gzip bomb": lambda h: send(h, 200, bomb, {"Content-Type": "application/json", "Content-Encoding": "gzip"}),
        "error bomb": lambda h: send(h, 500, bomb, {"Content-Encoding": "gzip"}),
    }
    for what, answer in floods.items():
        hostile.routes[route] = answer
        c = client_for(hostile)
        try:
            got, peak = _peak_bytes(lambda c=c: c.endpoint("ep"))
        finally:
            c.close()
        assert isinstance(got, PipefileError), (what, type(got))
        assert ("over" in got.message or "answered 500" in got.message) and peak < 48 << 20, (what, got, peak)
    # A redirect's body is never read (httpx would read it whole before following).
    moved = {"Location": "/v1/endpoints/moved", "Content-Encoding": "gzip"}
    hostile.routes[route] = lambda h: send(h, 302, bomb, moved)
    hostile.routes[("GET", "/v1/endpoints/moved")] = lambda h: send_json(h, {"name": "ep", "inputs": {}})
    c = client_for(hostile)
    try:
        got, peak = _peak_bytes(lambda: c.endpoint("ep"))
    finally:
        c.close()
    assert got == {"name": "ep", "inputs": {}} and peak < 48 << 20, (got, peak)
    twice = _gzip([_gzip([b'{"name": "ep", "inputs": {}}'])])
    hostile.routes[route] = lambda h: send(h, 200, twice, {"Content-Encoding": "gzip, gzip"})
    r = repo.pipe("invoke", "ep", "--url", hostile.url, env={"PIPE_TOKEN": TOKEN})
    assert r.code == 2 and "does not read" in r.err, str(r)


def test_compressed_answers_within_the_caps_are_read(repo, servers, tmp_path):
    """gzip and deflate (zlib-wrapped or bare) answers and downloads are decoded."""
    hostile, _foreign = servers
    out = tmp_path / "out"
    hostile.serve_job({"pred": file_output()})
    endpoint = json.dumps({"name": "ep", "inputs": {}}).encode()
    for coding, wbits in (("gzip", 31), ("deflate", 15), ("deflate", -15)):
        hostile.routes[("GET", "/v1/endpoints/ep")] = lambda h, w=wbits, c=coding: send(
            h, 200, _gzip([endpoint], w), {"Content-Type": "application/json", "Content-Encoding": c}
        )
        hostile.routes[("GET", "/v1/jobs/1/outputs/pred")] = lambda h, w=wbits, c=coding: send(
            h, 200, _gzip([DATA], w), {"Content-Encoding": c}
        )
        r = invoke(repo, hostile, out)
        assert r.code == 0 and (out / "pred.csv").read_bytes() == DATA, (coding, wbits, str(r))
        (out / "pred.csv").unlink()
    # A compressed download that inflates past the output's size is refused early.
    hostile.routes[("GET", "/v1/endpoints/ep")] = lambda h: send_json(h, {"name": "ep", "inputs": {}})
    bomb = _gzip([b"\0" * (1 << 20)] * 128)
    hostile.routes[("GET", "/v1/jobs/1/outputs/pred")] = lambda h: send(h, 200, bomb, {"Content-Encoding": "gzip"})
    r = invoke(repo, hostile, out)
    assert r.code == 2 and "more than" in r.err and tree_listing(out) == [], str(r)


def test_only_loopback_addresses_and_localhost_itself_count_as_loopback(servers):
    """`*.localhost` may be resolved through DNS: plain http to it warns like any other host."""
    from pipefile.serve.client import is_loopback

    assert is_loopback("localhost") and is_loopback("127.0.0.1") and is_loopback("127.8.9.1") and is_loopback("::1")
    for host in ("evil.localhost", "a.b.localhost", "localhost.example.com", "192.0.2.1", "example.com"):
        assert not is_loopback(host), host
    hostile, _foreign = servers
    from pipefile.errors import PipefileError

    warnings: list = []
    c = client_for(hostile, warnings, url="http://evil.localhost:9", timeout=0.5)
    try:
        with pytest.raises(PipefileError):
            c.endpoint("ep")
    finally:
        c.close()
    assert len(warnings) == 1 and "evil.localhost" in warnings[0], warnings
