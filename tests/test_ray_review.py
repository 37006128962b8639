"""Review of the Ray executor: faults found by trying it as a user would, each with the
test that failed before its fix. Tests that need a cluster start their own small one on
loopback (as tests/test_ray.py does); the others need none."""

from __future__ import annotations

from pathlib import Path

import pytest
from workspace_repo import Repo

# One xdist worker runs the Ray tests: their clusters are stopped by their own folders.
pytestmark = pytest.mark.xdist_group("ray")

ONE_STEP = """
steps:
  a:
    command: echo hi > ${{outputs.o}}
    outputs: {o: a.txt}
"""


def _repo(root: Path, text: str = ONE_STEP) -> Repo:
    root.mkdir(parents=True)
    r = Repo(root)
    r.pipefile(text)
    return r


def test_a_bad_gone_after_variable_is_a_usage_error_not_an_internal_one(tmp_path):
    """PIPE_RAY_GONE_AFTER was parsed at import: 'abc' ended the run with exit 70."""
    r = _repo(tmp_path / "ws")
    r.pipe("run", check=True)
    for bad in ("abc", "-1", "0"):
        got = r.pipe("run", "--executor", "ray", "--address", "127.0.0.1:1", env={"PIPE_RAY_GONE_AFTER": bad})
        assert got.code == 2, str(got)
        assert f"PIPE_RAY_GONE_AFTER='{bad}' is not a number of seconds" in got.err, str(got)
        assert "positive number" in got.err
    got = r.pipe("run", "--executor", "ray", "--address", "127.0.0.1:1", env={"PIPE_RAY_GONE_AFTER": "2.5"})
    assert got.code == 0, str(got)


def test_an_address_where_something_else_listens_is_refused_at_once(tmp_path):
    """The dashboard's port (an HTTP server), or a port that accepts and says nothing: the
    knock on the port passed, and ray.init waited there for minutes, saying nothing."""
    import http.server
    import socket
    import threading
    import time

    from servers import need

    try:
        import ray  # noqa: F401
    except ImportError:
        need(False, "ray is not installed (pip install 'pipefile[ray]')")

    class Quiet(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    http_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=http_server.serve_forever, daemon=True).start()
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    r = _repo(tmp_path / "ws")
    try:
        for port in (http_server.server_address[1], silent.getsockname()[1]):
            t0 = time.monotonic()
            got = r.pipe("run", "--executor", "ray", "--address", f"127.0.0.1:{port}", timeout=90)
            assert got.code == 2, str(got)
            assert f"cannot reach the Ray cluster at 127.0.0.1:{port}" in got.err, str(got)
            assert "does not answer as a Ray head does" in got.err and "6379" in got.err, str(got)
            assert time.monotonic() - t0 < 30
            assert not r.exists("a.txt")
    finally:
        http_server.shutdown()
        http_server.server_close()
        silent.close()
