"""`pipe invoke`'s client (serve/client.py) against a server that answers slowly: a real
socket server on 127.0.0.1 that says nothing, or sends its answer a few bytes at a time;
the Client driven in-process with a short timeout (the command's is 60s)."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from serve_site import require_serve_deps

from pipefile.errors import PipefileError

BODY = b'{"name": "ep", "inputs": {}}' + b" " * 40


class Slow:
    """Answers every request after `silent` seconds of nothing, then its headers, then the
    body `drip` bytes at a time, one piece every `gap` seconds."""

    def __init__(self, silent: float = 0.0, gap: float = 0.0, drip: int = len(BODY), body: bytes = BODY):
        self.silent, self.gap, self.drip, self.body = silent, gap, drip, body
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn) -> None:
        with conn:
            try:
                conn.recv(65536)
                if self.stop.wait(self.silent):
                    return
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(self.body)
                )
                for i in range(0, len(self.body), self.drip):
                    conn.sendall(self.body[i : i + self.drip])
                    if self.stop.wait(self.gap):
                        return
            except OSError:
                pass

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


@pytest.fixture
def client_of():
    require_serve_deps()
    from pipefile.serve.client import Client

    made = []

    def make(server: Slow, timeout: float) -> Client:
        made.append(server)
        return Client(server.url, "pipe_0123456789ab_x", timeout=timeout, warn=lambda m: None)

    yield make
    for s in made:
        s.close()


def test_an_answer_sent_a_byte_at_a_time_is_refused_after_twice_the_timeout(client_of):
    # Before: each byte came within the timeout, which httpx counts per read, so the answer
    # (up to 16 MiB) held `pipe invoke` for as long as the server cared to drip it: here 34s,
    # of a hostile server 16 MiB times the timeout.
    client = client_of(Slow(gap=0.5, drip=1), timeout=1.5)
    started = time.monotonic()
    with pytest.raises(PipefileError) as refused:
        client.endpoint("ep")
    took = time.monotonic() - started
    assert refused.value.message.startswith("endpoint 'ep': the server's answer came too slowly (")
    assert refused.value.message.endswith("s; an answer may take 3s and one more for every 16 KiB); refused"), (
        refused.value.message
    )
    assert "run the command again" in refused.value.hint
    assert took < 8, took


def test_a_large_answer_over_a_slow_link_is_read_whole(client_of):
    # 240 KiB at 40 KiB/s: six seconds, past twice the timeout, but steadily above 16 KiB/s.
    body = b'{"name": "ep", "inputs": {}, "pad": "' + b"x" * (240 << 10) + b'"}'
    client = client_of(Slow(gap=0.2, drip=8 << 10, body=body), timeout=1)
    assert client.endpoint("ep")["pad"] == "x" * (240 << 10)


def test_an_answer_that_comes_at_once_after_a_wait_is_read(client_of):
    client = client_of(Slow(silent=1.0), timeout=3)
    assert client.endpoint("ep") == {"name": "ep", "inputs": {}}


def test_a_server_that_says_nothing_is_named_slow_not_unreachable(client_of):
    # Before: "cannot reach http://... (timed out)", hint "is `pipe serve` running there?":
    # it was reached, and answered nothing.
    client = client_of(Slow(silent=30), timeout=1)
    with pytest.raises(PipefileError) as refused:
        client.endpoint("ep")
    assert refused.value.message == f"endpoint 'ep': {client.base} sent no answer within 1s"
    assert refused.value.hint == "the server is busy or stuck: run the command again later"


@pytest.mark.parametrize("name", ["../score", "score/../../jobs/1", "sc ore", ""])
def test_an_endpoint_name_that_is_none_is_refused_before_anything_is_sent(tmp_path, name):
    # Before: the name went into the URL as it was: '../score' was answered "the server
    # answered 404: Not Found" (the route /v1/score), nothing saying the name was at fault.
    require_serve_deps()
    from workspace_repo import Repo

    server = Slow()
    seen = []
    server._answer = lambda conn: (seen.append(conn), conn.close())  # type: ignore[method-assign]
    try:
        r = Repo(tmp_path).pipe("invoke", name, "--url", server.url, "--token", "pipe_0123456789ab_x")
    finally:
        server.close()
    assert r.code == 2 and f"error: '{name}' is not an endpoint name" in r.err, str(r)
    assert "pipe endpoints" in r.err and seen == []
