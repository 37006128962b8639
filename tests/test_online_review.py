"""Real-time scoring whose model's own code misbehaves (hangs, changes between versions):
real models pickled from a module of the workspace, deployed, scored over HTTP by a real
`pipe serve` (serve/scorer.py: each model in a process of its own)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from serve_site import Server, require_serve_deps, token
from workspace_repo import Repo

pytest.importorskip("sklearn")
pytest.importorskip("pandas")

# A model class of the workspace: it hangs on a row whose `a` is 13 (a sleep, an endless
# loop or a blocked read, as `how` says), and answers VALUE otherwise.
CUSTOM = """\
import os, time

VALUE = {value}


class Model:
    def __init__(self, tag):
        self.tag = tag  # (another tag: other pickle bytes, another digest)

    def predict(self, x):
        if float(x["a"].iloc[0]) == 13:
            how = os.environ.get("HANG_HOW", "sleep")
            if how == "sleep":
                time.sleep(3600)
            elif how == "loop":
                while True:
                    pass
            elif how == "exit":
                os._exit(3)
            else:
                os.read(os.open(os.environ["HANG_FIFO"], os.O_RDONLY), 1)
        return [float(VALUE)] * len(x)
"""

MAKE = """\
import sys
from custom import Model
from stdlib_components._lib.models import ModelInfo, save_model

save_model(sys.argv[1], Model(sys.argv[1]), ModelInfo("custom", "regression", "y", ["a"]))
"""


def _model(repo: Repo, value: int, folder: str, name: str) -> None:
    repo.write("custom.py", CUSTOM.format(value=value), dedent=False)
    for cached in (repo.root / "__pycache__").glob("custom*"):
        cached.unlink()  # (a rewrite within the same second: never the old bytecode)
    subprocess.run([sys.executable, "make.py", folder], cwd=repo.root, check=True, timeout=120)
    repo.pipe("asset", "add", folder, "--name", name, check=True)


@pytest.fixture
def ws(tmp_path):
    require_serve_deps()
    root = tmp_path / "ws"
    root.mkdir()
    repo = Repo(root)
    repo.write("Pipefile", "steps: {}\n")
    repo.write("make.py", MAKE, dedent=False)
    return repo


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # (a zombie not yet reaped is as good as gone)
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


def _scorer_pids(server_pid: int) -> set:
    """The processes `pipe serve` started (its model processes)."""
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(server_pid)], capture_output=True, text=True).stdout
    return {int(p) for p in out.split()}


@pytest.mark.parametrize("how", ["sleep", "loop"])
def test_a_hanging_model_is_answered_504_and_the_next_request_works(ws, how):
    # Before: the request (and a thread of the server, and with `loop` a CPU) was held for
    # ever: the model was scored in the server's own process, where nothing can stop it.
    _model(ws, 7, "models/m", "m")
    ws.pipe("deploy", "hang", "--model", "m", check=True)
    tok = token(ws, "--scope", "invoke:hang")
    server = Server(ws.root, "--score-timeout", "3s", env={"HANG_HOW": how})
    try:
        client = server.client(tok)
        r = client.post("/v1/online/hang/score", json={"rows": [{"a": 1.0}]})
        assert r.status_code == 200 and r.json()["predictions"] == [7.0], r.text
        (first,) = _scorer_pids(server.proc.pid)
        started = time.monotonic()
        r = client.post("/v1/online/hang/score", json={"rows": [{"a": 13.0}]}, timeout=60)
        took = time.monotonic() - started
        assert r.status_code == 504, r.text
        err = r.json()["error"]
        assert err["message"] == (
            "scoring the rows with online deployment 'hang' version 1 (m:1) took longer than 3s "
            "(--score-timeout): its process was stopped"
        )
        assert "--score-timeout" in err["hint"]
        assert 2.5 < took < 20, took
        assert not _alive(first)  # the hung scorer is gone, not left spinning
        r = client.post("/v1/online/hang/score", json={"rows": [{"a": 2.0}]})  # a fresh one
        assert r.status_code == 200 and r.json()["predictions"] == [7.0], r.text
        assert r.json()["version"] == 1
    finally:
        assert server.stop() == 0
    assert not any(_alive(p) for p in _scorer_pids(server.proc.pid))


def test_a_model_that_ends_its_process_is_503_and_the_next_request_works(ws):
    _model(ws, 7, "models/m", "m")
    ws.pipe("deploy", "quits", "--model", "m", check=True)
    tok = token(ws, "--scope", "invoke:quits")
    server = Server(ws.root, env={"HANG_HOW": "exit"})
    try:
        client = server.client(tok)
        r = client.post("/v1/online/quits/score", json={"rows": [{"a": 13.0}]})
        assert r.status_code == 503, r.text
        err = r.json()["error"]
        assert (
            err["message"] == "the process scoring with online deployment 'quits' version 1 (m:1) exited with status 3"
        )
        assert "the next request starts it again" in err["hint"]
        r = client.post("/v1/online/quits/score", json={"rows": [{"a": 1.0}]})
        assert r.status_code == 200 and r.json()["predictions"] == [7.0], r.text
    finally:
        assert server.stop() == 0


def test_a_model_blocked_on_a_read_does_not_outlive_a_killed_server(ws, tmp_path):
    # A model blocked on a read of a fifo no one writes; the server is killed (-9): its
    # model's process ends by itself rather than stay blocked for good.
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    _model(ws, 7, "models/m", "m")
    ws.pipe("deploy", "hang", "--model", "m", check=True)
    tok = token(ws, "--scope", "invoke:hang")
    server = Server(ws.root, "--score-timeout", "30s", env={"HANG_HOW": "read", "HANG_FIFO": str(fifo)})
    import httpx

    try:
        client = server.client(tok)
        with pytest.raises(httpx.ReadTimeout):
            client.post("/v1/online/hang/score", json={"rows": [{"a": 13.0}]}, timeout=8)
        (scorer,) = _scorer_pids(server.proc.pid)
        assert _alive(scorer)
    finally:
        server.stop(sig=9)
    deadline = time.monotonic() + 10
    while _alive(scorer) and time.monotonic() < deadline:
        time.sleep(0.2)
    alive = _alive(scorer)
    if alive:
        os.kill(scorer, 9)
    assert not alive


def test_a_model_is_loaded_once_per_version_and_a_new_version_runs_its_own_code(ws):
    # Before: the server unpickled every model in its own process, so the model's module
    # (custom.py) was imported once for good: version 2, made by custom.py saying VALUE = 2,
    # answered 1, the code version 1 had imported (stale).
    _model(ws, 1, "models/v1", "v1")
    ws.pipe("deploy", "c", "--model", "v1", check=True)
    tok = token(ws, "--scope", "invoke:c")
    server = Server(ws.root)
    try:
        client = server.client(tok)
        for _ in range(3):
            r = client.post("/v1/online/c/score", json={"rows": [{"a": 1.0}]})
            assert r.status_code == 200 and r.json()["predictions"] == [1.0], r.text
        first = _scorer_pids(server.proc.pid)
        _model(ws, 2, "models/v2", "v2")
        ws.pipe("deploy", "c", "--model", "v2", "--set-default", check=True)
        r = client.post("/v1/online/c/score", json={"rows": [{"a": 1.0}]})
        assert r.status_code == 200, r.text
        assert (r.json()["version"], r.json()["predictions"]) == (2, [2.0])
        # version 1 still answers as it was loaded, by the one process that loaded it once
        r = client.post("/v1/online/c/deployments/1/score", json={"rows": [{"a": 1.0}]})
        assert r.json()["predictions"] == [1.0]
        assert len(first) == 1 and first < _scorer_pids(server.proc.pid)
    finally:
        server.stop()


def test_requests_waiting_for_a_hung_model_hold_up_no_other_route(ws):
    # Before: each request for the hung model waited for its turn on a thread of the pool that
    # every route shares (40 threads): 100 of them left none, and listing jobs waited seconds.
    import concurrent.futures as cf

    _model(ws, 7, "models/m", "m")
    ws.pipe("deploy", "hang", "--model", "m", check=True)
    tok = token(ws, "--scope", "admin")
    server = Server(ws.root, "--score-timeout", "6s")
    try:
        client = server.client(tok)
        assert client.post("/v1/online/hang/score", json={"rows": [{"a": 1.0}]}).status_code == 200  # loaded

        def hung(_):
            return server.client(tok).post("/v1/online/hang/score", json={"rows": [{"a": 13.0}]}, timeout=60)

        with cf.ThreadPoolExecutor(100) as pool:
            answers = [pool.submit(hung, i) for i in range(100)]
            time.sleep(2)
            started = time.monotonic()
            r = client.get("/v1/jobs")
            took = time.monotonic() - started
            assert r.status_code == 200 and took < 1.5, took
            assert {a.result().status_code for a in answers} == {504}
    finally:
        server.stop()


def test_a_score_timeout_of_a_hundred_years_scores(ws):
    # Before: --score-timeout 36500d (what a duration may be) overflowed poll()'s milliseconds
    # and the lock's wait: every request was a 500, OverflowError. (ScorerPool without HTTP.)
    from sklearn.dummy import DummyRegressor

    from pipefile.jobdb.online import OnlineStore
    from pipefile.serve.home import Home
    from pipefile.serve.scorer import ScorerPool
    from stdlib_components._lib.models import ModelInfo, save_model

    est = DummyRegressor(strategy="constant", constant=7.0).fit([[0.0], [1.0]], [0.0, 1.0])
    save_model(str(ws.root / "models" / "d"), est, ModelInfo("dummy", "regression", "y", ["a"]))
    ws.pipe("asset", "add", "models/d", "--name", "d", check=True)
    ws.pipe("deploy", "long", "--model", "d", check=True)
    home = Home(str(ws.root))
    pool = ScorerPool(score_timeout=36500 * 86400.0)
    try:
        dep = OnlineStore(home.jobs).deployment("long")
        for _ in range(2):  # the first loads, the second waits its turn on the lock
            assert pool.score(home, dep, [{"a": 1.0}])["predictions"] == [7.0]
    finally:
        pool.close()
