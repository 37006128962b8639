"""`pipe ui`'s server: real `pipe ui` processes on 127.0.0.1 (port 0), driven with httpx.

Start-up and security (the URL line, the token, cookie, Host, Origin, --allow-remote), the
pipeline and library views, runs, jobs, events, logs, previews, cancel, compare, clone,
and the edits of the Pipefile (once pipefile.edit is there)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from workspace_repo import PIPE, REPO_ROOT, Repo, with_file_limit

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

WINE = Path(REPO_ROOT) / "examples" / "wine"
URL_LINE = re.compile(r"^pipe ui: (http://127\.0\.0\.1:(\d+))/\?token=(\S+)$")


class Ui:
    """A running `pipe ui` and an httpx client that carries its token."""

    def __init__(self, root: Path, *args: str, files: int | tuple | None = None):
        """`files`: the server's open-file limit (workspace_repo.with_file_limit)."""
        env = dict(os.environ, PIPE_PLAIN="1")
        env.pop("PIPE_UI_TOKEN", None)
        env.pop("PIPE_STORE_DIR", None)
        self.proc = subprocess.Popen(
            with_file_limit(files) + PIPE + ["ui", "--no-browser", "--port", "0", *args],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=True,
        )
        line = self.proc.stdout.readline().strip()
        m = URL_LINE.match(line)
        if not m:
            self.proc.kill()
            err = self.proc.stderr.read()
            self.proc.wait()
            self.proc.stdout.close()
            self.proc.stderr.close()
            raise AssertionError(f"no URL line: {line!r}; stderr: {err}")
        self.base, self.port, self.token = m.group(1), int(m.group(2)), m.group(3)
        self.http = httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {self.token}"}, timeout=60)

    def get(self, path: str, **kw):
        return self.http.get(path, **kw)

    def post(self, path: str, body=None, **kw):
        return self.http.post(path, json=body if body is not None else {}, **kw)

    def close(self):
        self.http.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        for f in (self.proc.stdout, self.proc.stderr):
            f.close()


@pytest.fixture
def start():
    started = []

    def _start(root, *args, files=None):
        ui = Ui(Path(root), *args, files=files)
        started.append(ui)
        return ui

    yield _start
    for ui in started:
        ui.close()


@pytest.fixture
def wine(tmp_path) -> Repo:
    root = tmp_path / "wine"
    shutil.copytree(WINE, root, ignore=shutil.ignore_patterns(".pipe", "build"))
    return Repo(root)


# --- start-up and security -------------------------------------------------------------------
def test_the_url_line_carries_a_token_and_the_page_sets_the_cookie(start, wine):
    ui = start(wine.root)
    assert len(ui.token) >= 16
    with httpx.Client(base_url=ui.base) as bare:
        page = bare.get(f"/?token={ui.token}")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        cookie = page.headers["set-cookie"]
        assert f"pipe_ui_token={ui.token}" in cookie
        assert "HttpOnly" in cookie and "Path=/" in cookie and "samesite=strict" in cookie.lower()
        # the cookie alone now opens the API
        assert bare.get("/api/pipeline").status_code == 200


def test_a_given_token_is_used(start, wine):
    ui = start(wine.root, "--token", "my-secret-token-1")
    assert ui.token == "my-secret-token-1"
    for bad in ("short", "has space here", "semi;colon-token"):
        r = wine.pipe("ui", "--no-browser", "--token", bad)
        assert r.code == 2 and "token" in r.err and r.out == "", str(r)


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong-token-123"}, {"Cookie": "pipe_ui_token=nope1234"}]
)
def test_the_api_needs_the_token(start, wine, headers):
    ui = start(wine.root)
    with httpx.Client(base_url=ui.base) as bare:
        for path in ("/api/pipeline", "/api/library", "/api/jobs"):
            r = bare.get(path, headers=headers)
            assert r.status_code == 401, path
            err = r.json()["error"]
            assert "token" in err["message"] and err["hint"] and set(err) == {"message", "hint", "file", "line"}
        assert bare.get("/?token=wrong-token-123").status_code == 401
        assert "set-cookie" not in bare.get("/?token=wrong-token-123").headers


def test_a_foreign_origin_and_a_bad_host_are_refused(start, wine):
    ui = start(wine.root)
    r = ui.get("/api/pipeline", headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and "origin" in r.json()["error"]["message"]
    r = ui.get("/api/pipeline", headers={"Origin": f"http://127.0.0.1:{ui.port + 1}"})
    assert r.status_code == 403
    assert ui.get("/api/pipeline", headers={"Origin": ui.base}).status_code == 200
    assert (
        ui.get(
            "/api/pipeline", headers={"Origin": f"http://localhost:{ui.port}", "Host": f"localhost:{ui.port}"}
        ).status_code
        == 200
    )
    odd = (b"127.0.0.1:\xb2", "127.0.0.1:" + "9" * 5000)  # ('²' read as Latin-1, 5000 digits: a 500 each)
    for host in ("evil.example", f"evil.example:{ui.port}", f"127.0.0.1:{ui.port + 1}", "127.0.0.1", *odd):
        r = ui.get("/api/pipeline", headers={"Host": host})
        assert r.status_code == 403, host
        assert "host" in r.json()["error"]["message"]
    for host in odd:
        r = ui.get("/api/pipeline", headers={"Host": host, "Origin": ui.base})
        assert r.status_code == 403, host


def test_a_host_that_is_not_loopback_needs_allow_remote(wine):
    r = wine.pipe("ui", "--no-browser", "--host", "0.0.0.0")
    assert r.code == 2, str(r)
    assert "--allow-remote" in r.err and r.out == ""


# --- the pipeline ------------------------------------------------------------------------------
def test_pipeline_params_carry_their_enum(start, repo):
    repo.pipefile(
        """\
        version: 1
        params:
          model: {type: string, default: ridge, enum: [ridge, lasso]}
          lr: 0.1
        steps:
          a:
            command: echo ${{params.model}} ${{params.lr}} > ${{outputs.o}}
            outputs: {o: build/o.txt}
        """
    )
    ui = start(repo.root)
    params = {p["name"]: p for p in ui.get("/api/pipeline").json()["params"]}
    assert params["model"]["enum"] == ["ridge", "lasso"] and params["model"]["default"] == "ridge"
    assert params["lr"]["enum"] is None


def test_the_pipeline_before_and_after_a_run_and_a_changed_param(start, wine):
    ui = start(wine.root)
    doc = ui.get("/api/pipeline").json()
    assert doc["ok"] is True and doc["errors"] == [] and doc["file"] == "Pipefile"
    assert doc["text"] == wine.read("Pipefile")
    import hashlib

    assert doc["digest"] == hashlib.sha256((wine.root / "Pipefile").read_bytes()).hexdigest()
    assert not (wine.root / ".pipe").exists()  # looking creates nothing
    nodes = {n["name"]: n for n in doc["graph"]["nodes"]}
    assert list(nodes) == ["prepare", "train", "score", "evaluate"]
    assert {n["state"] for n in nodes.values()} <= {"run", "pending"}
    assert nodes["prepare"]["state"] == "run" and nodes["prepare"]["reasons"] == ["never built in this workspace"]
    assert nodes["train"]["component"] == "train_gbm" and nodes["train"]["line"] == 59
    train_in = {i["name"]: i for i in nodes["train"]["inputs"]}
    assert train_in["train"]["binding"] == "${{steps.prepare.outputs.train}}"
    assert train_in["max_depth"]["optional"] is True
    assert {"from": "prepare", "from_port": "train", "to": "train", "to_port": "train"} in doc["graph"]["edges"]
    params = {p["name"]: p for p in doc["params"]}
    assert params["max_depth"]["description"] == "depth of each tree" and params["seed"]["default"] == 42

    wine.pipe("run", check=True)
    doc = ui.get("/api/pipeline").json()
    assert {n["name"]: n["state"] for n in doc["graph"]["nodes"]} == dict.fromkeys(nodes, "fresh")

    text = wine.read("Pipefile").replace("learning_rate: 0.1\n", "learning_rate: 0.2\n", 1)
    wine.write("Pipefile", text, dedent=False)
    nodes = {n["name"]: n for n in ui.get("/api/pipeline").json()["graph"]["nodes"]}
    assert nodes["prepare"]["state"] == "fresh"
    assert nodes["train"]["state"] == "run"
    assert "param 'learning_rate' changed: 0.1 -> 0.2" in nodes["train"]["reasons"]
    assert nodes["score"]["state"] == "pending"


def test_a_pipefile_that_does_not_parse_is_answered_with_located_errors(start, tmp_path):
    repo = Repo(tmp_path)
    repo.pipefile("version: 1\nparams:\n  lr: [0.1\nsteps:\n  a: {command: echo}\n")
    ui = start(repo.root)
    doc = ui.get("/api/pipeline").json()
    assert doc["ok"] is False and doc["graph"] is None
    assert doc["text"].startswith("version: 1")
    assert doc["errors"] and all(e["file"] == "Pipefile" and e["line"] for e in doc["errors"])
    assert set(doc["errors"][0]) >= {"message", "hint", "file", "line", "column", "step"}
    # the library still answers (the std components at least)
    assert any(i["name"] == "std/split_data@1" for i in ui.get("/api/library").json()["items"])


def test_a_pipefile_with_a_bad_step_names_the_step(start, tmp_path):
    repo = Repo(tmp_path)
    repo.pipefile(
        """\
        version: 1
        steps:
          a:
            command: echo ${{inputs.x}}
            inputs:
              x: ${{steps.nope.outputs.y}}
        """
    )
    doc = start(repo.root).get("/api/pipeline").json()
    assert doc["ok"] is False and doc["graph"] is None
    assert any(e["line"] == 6 and e["step"] == "a" for e in doc["errors"]), doc["errors"]


def test_expanded_steps_are_groups_with_their_tasks(start, tmp_path):
    repo = Repo(tmp_path)
    repo.pipefile(
        """\
        version: 1
        steps:
          train:
            matrix:
              lr: [0.1, 0.2, 0.3]
            command: echo ${{inputs.lr}} > ${{outputs.out}}
            inputs:
              lr: {type: number}
            outputs:
              out: build/out.txt
          report:
            command: ls ${{inputs.all}} > ${{outputs.r}}
            inputs:
              all: ${{steps.train.outputs.out}}
            outputs:
              r: {type: uri_file, path: build/r.txt}
        """
    )
    doc = start(repo.root).get("/api/pipeline").json()
    assert doc["ok"], doc["errors"]
    nodes = {n["name"]: n for n in doc["graph"]["nodes"]}
    group = nodes["train"]
    assert group["kind"] == "group" and group["tasks"] == {"count": 3, "states": {"run": 3}}
    assert group["reasons"] == ["3 tasks: 3 run"]
    assert len(group["children"]) == 3
    for t in group["children"]:
        assert nodes[t]["kind"] == "step" and nodes[t]["group"] == "train"
    assert nodes["report"]["kind"] == "step"
    assert any(e["from"] == "train" and e["to"] == "report" for e in doc["graph"]["edges"])


def test_a_job_s_graph_groups_its_tasks_by_outcome(start, tmp_path):
    repo = Repo(tmp_path)
    repo.pipefile(
        """\
        version: 1
        steps:
          train:
            matrix:
              lr: [0.1, 0.2]
            command: echo ${{inputs.lr}} > ${{outputs.out}}
            inputs:
              lr: {type: number}
            outputs:
              out: build/out.txt
        """
    )
    repo.pipe("run", check=True)
    shown = start(repo.root).get("/api/jobs/last").json()
    nodes = {n["name"]: n for n in shown["graph"]["nodes"]}
    group = nodes["train"]
    assert group["kind"] == "group" and group["state"] == "ran" and group["tasks"] == {"count": 2, "states": {"ran": 2}}
    assert group["seconds"] is not None and group["started"] is not None
    assert {nodes[t]["state"] for t in group["children"]} == {"ran"}


# --- the library -------------------------------------------------------------------------------
def test_the_library_has_std_components_the_pipefile_s_own_assets_and_artifacts(start, wine):
    ui = start(wine.root)
    items = ui.get("/api/library").json()["items"]
    split = next(i for i in items if i["source"] == "std" and i["name"] == "std/split_data@1")
    assert split["description"] and split["version"]
    assert [p["name"] for p in split["inputs"]] == ["data"]
    assert {o["name"] for o in split["outputs"]} == {"train", "test"}
    assert all(
        {"name", "type", "optional", "default", "description"} <= set(p) for p in split["inputs"] + split["params"]
    )
    own = next(i for i in items if i["source"] == "pipefile" and i["name"] == "train_gbm")
    assert {p["name"] for p in own["params"]} >= {"learning_rate", "seed"}
    asset = next(i for i in items if i["source"] == "asset")
    assert asset["name"] == "wine" and asset["path"] == "data/wine.csv"
    assert not [i for i in items if i["source"] == "artifact"]
    wine.pipe("run", "train", check=True)
    arts = {i["name"]: i for i in ui.get("/api/library").json()["items"] if i["source"] == "artifact"}
    assert set(arts) == {"wine-data", "wine-model"}
    assert [v["version"] for v in arts["wine-model"]["versions"]] == [1]


# --- runs, jobs, events, logs, previews ----------------------------------------------------------
def sse_events(response) -> list:
    """(event, data) of a text/event-stream answer, read to its end."""
    out, event = [], None
    for line in response.iter_lines():
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            out.append((event, json.loads(line[6:])))
    return out


def wait_run(ui, run_id: str, seconds: float = 120) -> dict:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        doc = ui.get(f"/api/runs/{run_id}").json()
        if doc["state"] == "done":
            return doc
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} still running: {doc}")


def test_a_run_gives_its_job_its_events_logs_and_output_previews(start, wine):
    ui = start(wine.root)
    r = ui.post("/api/run", {"targets": [], "params": {"learning_rate": "0.2"}, "force": False})
    assert r.status_code == 202, r.text
    started = r.json()
    assert started["command"] == "pipe run -f Pipefile -p learning_rate=0.2"
    job = started["job"]
    assert isinstance(job, int)
    with ui.http.stream("GET", f"/api/jobs/{job}/events") as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        events = sse_events(resp)
    assert events[-1] == ("end", {"job": job, "status": "succeeded"})
    done = {d["step"]: d for e, d in events if e == "step" and d["status"] == "done"}
    assert {k: d["outcome"] for k, d in done.items()} == dict.fromkeys(["prepare", "train", "score", "evaluate"], "ran")
    assert any(e == "step" and d["status"] == "running" for e, d in events)  # seen while it ran
    run = wait_run(ui, started["run"])
    assert run["exit_code"] == 0 and run["job"] == job and "evaluate" in run["output"]

    shown = ui.get(f"/api/jobs/{job}").json()
    assert shown["id"] == job and shown["params"]["learning_rate"] == 0.2 and shown["status"] == "succeeded"
    assert all(s["started"] and s["seconds"] > 0 for s in shown["steps"])
    nodes = {n["name"]: n for n in shown["graph"]["nodes"]}
    assert {n: x["state"] for n, x in nodes.items()} == dict.fromkeys(done, "ran")
    assert nodes["train"]["seconds"] > 0 and nodes["train"]["started"] >= nodes["prepare"]["started"]
    assert {"from": "train", "from_port": "model", "to": "score", "to_port": "model"} in shown["graph"]["edges"]
    assert shown["metrics"]["evaluate.accuracy"] > 0.5
    assert [j["id"] for j in ui.get("/api/jobs").json()["jobs"]] == [job]

    log = ui.get(f"/api/jobs/{job}/steps/evaluate/log")
    assert log.headers["content-type"].startswith("text/plain") and "accuracy" in log.text
    with ui.http.stream("GET", f"/api/jobs/{job}/steps/evaluate/log?follow=1") as resp:
        lines = sse_events(resp)
    assert lines[-1][0] == "end" and any("accuracy" in d["text"] for e, d in lines if e == "line")
    for bad in ("nope", "../../Pipefile", "..%2F..%2FPipefile"):
        assert ui.get(f"/api/jobs/{job}/steps/{bad}/log").status_code == 404, bad
    assert ui.get("/api/jobs/99/steps/evaluate/log").status_code == 404

    table = ui.get(f"/api/jobs/{job}/steps/prepare/outputs/train/preview").json()
    assert table["kind"] == "table" and table["columns"][-1] == "target"
    assert len(table["rows"]) == 50 and table["truncated"] is True
    metrics = ui.get(f"/api/jobs/{job}/steps/evaluate/outputs/metrics/preview").json()
    assert metrics["kind"] == "json" and json.loads(metrics["text"])["accuracy"] > 0.5
    assert metrics["text"].startswith("{\n  ")
    model = ui.get(f"/api/jobs/{job}/steps/train/outputs/model/preview").json()
    assert model["kind"] == "folder" and {e["path"] for e in model["entries"]} == {"model.pkl", "model.json"}
    inner = ui.get(f"/api/jobs/{job}/steps/train/outputs/model/preview", params={"path": "model.json"}).json()
    assert inner["kind"] == "json"
    missing = ui.get(f"/api/jobs/{job}/steps/train/outputs/nope/preview")
    assert missing.status_code == 404 and "model" in missing.json()["error"]["hint"]


def test_previews_of_images_and_parquet_tables_are_bounded(start, tmp_path):
    pytest.importorskip("matplotlib")
    pytest.importorskip("pyarrow")
    repo = Repo(tmp_path)
    repo.write(
        "make.py",
        """\
        import sys
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import pyarrow as pa, pyarrow.parquet as pq
        plt.plot([1, 2, 3], [3, 1, 2])
        plt.savefig(sys.argv[1])
        pq.write_table(pa.table({"x": list(range(500)), "y": [str(i) for i in range(500)]}), sys.argv[2])
        open(sys.argv[3], "wb").write(bytes(range(256)) * 4000)
        """,
    )
    repo.pipefile(
        """\
        version: 1
        steps:
          make:
            command: python make.py ${{outputs.plot}} ${{outputs.table}} ${{outputs.blob}}
            code: [make.py]
            outputs:
              plot: {type: uri_file, path: out/plot.png}
              table: {type: uri_file, path: out/table.parquet}
              blob: {type: uri_file, path: out/blob.bin}
        """
    )
    repo.pipe("run", check=True)
    ui = start(repo.root)
    image = ui.get("/api/jobs/1/steps/make/outputs/plot/preview").json()
    assert image["kind"] == "image" and image["data_url"].startswith("data:image/png;base64,iVBOR")
    table = ui.get("/api/jobs/1/steps/make/outputs/table/preview").json()
    assert table["kind"] == "table" and table["columns"] == ["x", "y"]
    assert table["rows"][:2] == [[0, "0"], [1, "1"]] and len(table["rows"]) == 50 and table["truncated"]
    blob = ui.get("/api/jobs/1/steps/make/outputs/blob/preview").json()
    assert blob["kind"] == "binary" and blob["size"] == 256 * 4000 and "text" not in blob


SLOW = """\
version: 1
params:
  n: 1
steps:
  slow:
    command: python -c "import time; [print('tick', i, flush=True) or time.sleep(0.2) for i in range(600)]"
    outputs:
      out: {type: uri_file, path: never.txt}
"""


def test_a_running_step_s_log_is_followed_and_the_run_cancelled(start, tmp_path):
    repo = Repo(tmp_path)
    repo.pipefile(SLOW)
    ui = start(repo.root)
    started = ui.post("/api/run", {"targets": ["slow"]}).json()
    job = started["job"]
    assert started["command"] == "pipe run -f Pipefile slow"
    lines = []
    with ui.http.stream("GET", f"/api/jobs/{job}/steps/slow/log?follow=1") as resp:
        for line in resp.iter_lines():
            if line.startswith("data: "):
                lines.append(json.loads(line[6:])["text"])
            if len(lines) == 3:
                break
    assert lines == ["tick 0", "tick 1", "tick 2"]  # while it runs
    graph = ui.get(f"/api/jobs/{job}").json()["graph"]
    assert graph["nodes"][0]["state"] == "running"
    t0 = time.monotonic()
    r = ui.post(f"/api/jobs/{job}/cancel")
    assert r.status_code == 202, r.text
    run = wait_run(ui, started["run"], 30)
    assert time.monotonic() - t0 < 15
    assert run["exit_code"] not in (0, None)
    shown = ui.get(f"/api/jobs/{job}").json()
    assert shown["status"] == "interrupted"
    assert ui.post(f"/api/jobs/{job}/cancel").status_code == 409  # over already


def test_runs_are_interrupted_when_the_server_stops(start, tmp_path):
    repo = Repo(tmp_path)
    repo.pipefile(SLOW)
    ui = start(repo.root)
    job = ui.post("/api/run", {}).json()["job"]
    with ui.http.stream("GET", f"/api/jobs/{job}/steps/slow/log?follow=1") as resp:
        next(line for line in resp.iter_lines() if line.startswith("data: "))
    ui.proc.send_signal(signal.SIGINT)
    assert ui.proc.wait(30) == 0
    shown = repo.pipe("jobs", "show", str(job), "--json", check=True).json
    assert shown["status"] == "interrupted"


def test_a_job_not_started_here_is_not_cancelled(start, tmp_path):
    repo = Repo(tmp_path)
    repo.pipefile("version: 1\nsteps:\n  a: {command: echo hi > a.txt, outputs: {o: a.txt}}\n")
    repo.pipe("run", check=True)
    ui = start(repo.root)
    r = ui.post("/api/jobs/1/cancel")
    assert r.status_code == 409 and "not started by this pipe ui" in r.json()["error"]["message"]
    assert ui.post("/api/jobs/7/cancel").status_code == 404


def test_bad_run_requests_are_refused_with_the_error_shape(start, wine):
    ui = start(wine.root)
    # ({"force": "yes"} ran with --force: the body's model read the text as true)
    for body in (
        {"targets": "train"},
        {"params": {"lr": [1]}},
        {"params": {"a\nb": "1"}},
        {"force": "yes"},
        {"force": 1},
    ):
        r = ui.post("/api/run", body)
        assert r.status_code in (400, 422), body
        assert set(r.json()["error"]) == {"message", "hint", "file", "line"}
    r = ui.post("/api/run", {"targets": ["trian"]})
    assert r.status_code == 400 and "trian" in r.json()["error"]["message"] and "train" in r.json()["error"]["hint"]
    r = ui.post("/api/run", {"params": {"seed": "many"}})
    assert r.status_code == 400 and "seed" in r.json()["error"]["message"]
    big = ui.http.post(
        "/api/preview", content=b"{" + b" " * (5 << 20) + b"}", headers={"Content-Type": "application/json"}
    )
    assert big.status_code == 413 and "error" in big.json()

    def chunks():
        for _ in range(6):
            yield b" " * (1 << 20)

    assert ui.http.post("/api/save", content=chunks()).status_code == 413  # no Content-Length: counted
    assert not (wine.root / ".pipe").exists()  # nothing was started
    assert ui.get("/api/runs/nope").status_code == 404
    assert ui.get("/api/nope").status_code == 404 and "error" in ui.get("/api/nope").json()


# --- compare and clone ----------------------------------------------------------------------------
def test_compare_two_jobs_with_a_changed_param_and_clone_one(start, wine):
    wine.pipe("run", check=True)
    wine.pipe("run", "-p", "learning_rate=0.2", check=True)
    ui = start(wine.root)
    doc = ui.get("/api/compare", params={"a": "1", "b": "2"}).json()
    assert doc["a"]["id"] == 1 and doc["b"]["id"] == 2
    assert doc["steps"] == {"only_a": [], "only_b": [], "changed": ["train", "score", "evaluate"], "same": ["prepare"]}
    props = {(p["what"], p["step"], p["name"]): p for p in doc["properties"]}
    lr = props[("param", None, "learning_rate")]
    assert (lr["a"], lr["b"], lr["same"]) == (0.1, 0.2, False)
    assert props[("param", None, "seed")]["same"] is True
    assert props[("input", "train", "learning_rate")]["same"] is False
    assert props[("input", "score", "model")]["same"] is False  # another model's digest
    assert props[("input", "prepare", "data")]["same"] is True
    assert props[("code", "train", "src/train.py")]["same"] is True
    assert props[("environment", "train", "env")]["same"] is True
    assert ("metric", "evaluate", "accuracy") in props
    assert ui.get("/api/compare", params={"a": "1", "b": "9"}).status_code == 404

    cloned = ui.post("/api/jobs/2/clone").json()
    assert cloned["lineage"]["cloned_from"] == 2 and cloned["lineage"]["params_set"] == ["learning_rate"]
    text = cloned["draft"]["text"]
    assert "  learning_rate: 0.2\n" in text and "  seed: 42            # split and model seed\n" in text
    assert cloned["draft"]["operations"] == [{"op": "set_param", "name": "learning_rate", "value": 0.2}]
    assert wine.read("Pipefile") == (WINE / "Pipefile").read_text()  # nothing written
    same = ui.post("/api/jobs/1/clone").json()
    assert same["draft"]["operations"] == [] and same["draft"]["text"] == wine.read("Pipefile")
    assert same["lineage"]["same_as_current"] is True


# --- edits of the Pipefile -------------------------------------------------------------------------
def _has_editor() -> bool:
    try:
        import pipefile.edit  # noqa: F401
    except ImportError:
        return False
    return True


needs_editor = pytest.mark.skipif(not _has_editor(), reason="pipefile.edit (branch ui-edit) is not merged yet")


def test_a_save_over_a_file_changed_on_disk_is_refused_with_the_diff(start, wine):
    ui = start(wine.root)
    doc = ui.get("/api/pipeline").json()
    wine.write("Pipefile", doc["text"].replace("seed: 42", "seed: 7"), dedent=False)
    on_disk = (wine.root / "Pipefile").read_bytes()
    for route in ("/api/save", "/api/preview"):
        r = ui.post(route, {"base": doc["digest"], "operations": [{"op": "set_param", "name": "seed", "value": 1}]})
        assert r.status_code == 409, r.text
        body = r.json()
        assert "changed on disk" in body["error"]["message"] and body["error"]["hint"]
        assert "-  seed: 42" in body["diff"] and "+  seed: 7" in body["diff"]
        import hashlib

        assert body["digest"] == hashlib.sha256(on_disk).hexdigest()
    assert (wine.root / "Pipefile").read_bytes() == on_disk


@needs_editor
def test_a_no_op_save_is_byte_identical_and_a_one_param_edit_one_line(start, wine):
    ui = start(wine.root)
    doc = ui.get("/api/pipeline").json()
    before = (wine.root / "Pipefile").read_bytes()
    mtime = os.stat(wine.root / "Pipefile").st_mtime_ns
    r = ui.post("/api/save", {"base": doc["digest"], "operations": []})
    assert r.status_code == 200 and r.json()["digest"] == doc["digest"]
    assert (wine.root / "Pipefile").read_bytes() == before and os.stat(wine.root / "Pipefile").st_mtime_ns == mtime
    ops = [{"op": "set_param", "name": "learning_rate", "value": 0.2}]
    seen = ui.post("/api/preview", {"base": doc["digest"], "operations": ops}).json()
    assert seen["changed"] is True and seen["errors"] == [] and "+  learning_rate: 0.2" in seen["diff"]
    assert (wine.root / "Pipefile").read_bytes() == before  # a preview writes nothing
    os.chmod(wine.root / "Pipefile", 0o640)
    saved = ui.post("/api/save", {"base": doc["digest"], "operations": ops})
    assert saved.status_code == 200, saved.text
    after = wine.read("Pipefile").splitlines()
    changed = [(a, b) for a, b in zip(before.decode().splitlines(), after) if a != b]
    assert changed == [("  learning_rate: 0.1", "  learning_rate: 0.2")] and len(after) == len(before.splitlines())
    assert os.stat(wine.root / "Pipefile").st_mode & 0o777 == 0o640
    assert saved.json()["digest"] == ui.get("/api/pipeline").json()["digest"]
    bad = ui.post("/api/save", {"base": saved.json()["digest"], "operations": [{"op": "nope"}]})
    assert bad.status_code == 422 and bad.json()["error"]["message"]


@needs_editor
def test_a_preview_shows_the_validation_errors_of_the_edited_text(start, wine):
    ui = start(wine.root)
    doc = ui.get("/api/pipeline").json()
    ops = [{"op": "set", "step": "score", "field": "inputs.model", "value": "${{steps.nope.outputs.model}}"}]
    seen = ui.post("/api/preview", {"base": doc["digest"], "operations": ops})
    assert seen.status_code == 200, seen.text
    errors = seen.json()["errors"]
    assert errors and any(e["step"] == "score" and e["line"] and e["file"] == "Pipefile" for e in errors), errors
    assert wine.read("Pipefile") == doc["text"]


def test_the_browser_is_opened_with_the_url_unless_no_browser(tmp_path, wine):
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$1" >> {opened}\n')
    browser.chmod(0o755)
    env = dict(os.environ, BROWSER=str(browser), PIPE_UI_TOKEN="from-the-env-123")
    proc = subprocess.Popen(
        PIPE + ["ui", "--port", "0"], cwd=wine.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        line = proc.stdout.readline().strip()
        assert URL_LINE.match(line) and line.endswith("?token=from-the-env-123")
        end = time.monotonic() + 20
        while not (opened.exists() and opened.read_text()) and time.monotonic() < end:
            time.sleep(0.1)
        assert opened.read_text().strip() == line.split(" ", 2)[2]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(15)
        proc.stdout.close()
        proc.stderr.close()


def test_a_port_in_use_is_bad_usage(wine):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        r = wine.pipe("ui", "--no-browser", "--port", str(s.getsockname()[1]))
    assert r.code == 2 and "--port" in r.err and r.out == "", str(r)
    r = wine.pipe("ui", "--no-browser", "-f", "nope.yaml")
    assert r.code == 2 and "nope.yaml" in r.err


def test_nested_steps_hang_under_a_pipeline_node():
    from pipefile.ui.pipeline_view import _nest_pipelines

    def node(name):
        return {"name": name, "kind": "step", "state": "fresh", "line": 3, "group": None, "children": None}

    nodes = [node("a"), node("etl/load"), node("etl/clean"), node("b"), node("x/y/z"), node("t[f=a/b]")]
    nodes[2]["state"] = "run"
    _nest_pipelines(nodes)
    by = {n["name"]: n for n in nodes}
    assert [n["name"] for n in nodes] == ["a", "etl", "etl/load", "etl/clean", "b", "x", "x/y", "x/y/z", "t[f=a/b]"]
    etl = by["etl"]
    assert etl["kind"] == "pipeline" and etl["children"] == ["etl/load", "etl/clean"] and etl["label"] == "etl"
    assert etl["state"] == "run" and etl["group"] is None
    assert by["etl/load"]["group"] == by["etl/clean"]["group"] == "etl" and by["b"]["group"] is None
    assert by["x"]["children"] == ["x/y"] and by["x/y"]["group"] == "x" and by["x/y"]["children"] == ["x/y/z"]
    assert by["x/y/z"]["group"] == "x/y" and by["t[f=a/b]"]["group"] is None  # a "/" inside a label


def test_a_source_deleted_after_a_look_shows_as_an_error(start, tmp_path):
    repo = Repo(tmp_path)
    repo.write("in.txt", "x\n")
    repo.pipefile(
        "version: 1\nsteps:\n  a:\n    command: cp in.txt a.txt\n    inputs: {i: in.txt}\n    outputs: {o: a.txt}\n"
    )
    ui = start(repo.root)
    assert ui.get("/api/pipeline").json()["ok"] and ui.get("/api/pipeline").json()["ok"]
    (repo.root / "in.txt").unlink()
    doc = ui.get("/api/pipeline").json()
    assert doc["ok"] is False and any("in.txt" in e["message"] and e["line"] == 5 for e in doc["errors"]), doc


def test_a_nested_pipeline_is_a_pipeline_node_with_its_steps_and_their_edges(start, tmp_path):
    repo = Repo(tmp_path)
    repo.write("data/small.csv", "a,b\n")
    repo.pipefile(
        """\
        version: 1
        components:
          train:
            type: pipeline
            inputs:
              data: uri_file
            outputs:
              model: uri_file
            steps:
              prep:
                command: cp ${{inputs.raw}} ${{outputs.clean}}
                inputs: {raw: "${{parent.inputs.data}}"}
                outputs: {clean: }
              fit:
                matrix:
                  lr: [1, 2]
                command: cp ${{inputs.clean}} ${{outputs.model}}
                inputs:
                  clean: ${{steps.prep.outputs.clean}}
                  lr: {type: number}
                outputs: {model: }
              pick:
                command: ls ${{inputs.all}} > ${{outputs.best}}
                inputs: {all: "${{steps.fit.outputs.model}}"}
                outputs: {best: "${{parent.outputs.model}}"}
        steps:
          small:
            component: train
            inputs: {data: data/small.csv}
            outputs: {model: build/small.txt}
          report:
            command: cat ${{inputs.m}} > ${{outputs.r}}
            inputs: {m: "${{steps.small.outputs.model}}"}
            outputs: {r: build/report.txt}
        """
    )
    doc = start(repo.root).get("/api/pipeline").json()
    assert doc["ok"], doc["errors"]
    nodes = {n["name"]: n for n in doc["graph"]["nodes"]}
    small = nodes["small"]
    # the step using the pipeline: a `pipeline` node with its inner steps, as its Pipefile says it
    assert small["kind"] == "pipeline" and small["tasks"] == {"count": 3, "states": {"run": 1, "pending": 2}}
    assert small["children"] == ["small/prep", "small/fit", "small/pick"]
    # its hover card counts steps, not tasks (docs/concepts.md); an inner matrix step's, tasks
    assert small["reasons"] == ["3 steps: 1 run, 2 pending"]
    assert nodes["small/fit"]["reasons"] == ["2 tasks: 2 pending"]
    assert small["component"] == "train" and small["line"] == 27
    assert [(i["name"], i["binding"]) for i in small["inputs"]] == [("data", "data/small.csv")]
    assert [(o["name"], o["path"]) for o in small["outputs"]] == [("model", "build/small.txt")]
    assert all(nodes[c]["group"] == "small" for c in small["children"])
    # an inner matrix step stays a group of its tasks, inside the pipeline node
    fit = nodes["small/fit"]
    assert fit["kind"] == "group" and fit["tasks"]["count"] == 2 and fit["label"] == "fit"
    assert all(nodes[t]["group"] == "small/fit" for t in fit["children"])

    def shown(name):  # a task as its collapsed matrix group draws it
        return "small/fit" if nodes[name]["group"] == "small/fit" else name

    edges = {(shown(e["from"]), shown(e["to"])) for e in doc["graph"]["edges"]}
    assert {("small/prep", "small/fit"), ("small/fit", "small/pick"), ("small/pick", "report")} <= edges


def test_an_azure_ml_pipeline_node_has_its_component_s_typed_ports_bound_as_the_job_binds_them(start, tmp_path):
    shutil.copytree(Path(__file__).parent / "azureml_fixtures" / "nested", tmp_path, dirs_exist_ok=True)
    doc = start(tmp_path, "-f", "pipeline.yml").get("/api/pipeline").json()
    assert doc["ok"], doc["errors"]
    nodes = {n["name"]: n for n in doc["graph"]["nodes"]}
    a, b = nodes["prep_a"], nodes["prep_b"]
    assert a["kind"] == "pipeline" and a["component"] == "prep_pipeline" and a["line"] == 16
    # its pipeline component's inputs, typed, with what the job binds (a default, or nothing)
    assert [(i["name"], i["type"], i["optional"], i["binding"]) for i in a["inputs"]] == [
        ("data", "uri_folder", False, "${{assets.raw}}"),
        ("factor", "integer", False, "${{params.scale}}"),
        ("tag", "string", True, None),
    ]
    assert [(i["name"], i["binding"]) for i in b["inputs"]] == [
        ("data", "${{assets.raw}}"),
        ("factor", 3),
        ("tag", "b"),
    ]
    # its output is where the inner step bound to it writes: a folded node's edge leaves from it
    mult = {o["name"]: o for o in nodes["prep_a/mult"]["outputs"]}
    assert [(o["name"], o["type"], o["path"]) for o in a["outputs"]] == [
        ("result", "uri_folder", mult["product"]["path"])
    ]


def test_compare_shows_an_unbound_optional_input_as_no_value():
    from pipefile.ui.compare import _value

    # as pipe's key records write them (pipefile/keys.py): a file, a value, an unbound optional input
    assert _value({"path": "a.csv", "kind": "file", "digest": "d1"}) == "d1"
    assert _value({"value": 0.7}) == 0.7
    assert _value({"none": True}) is None


@needs_editor
def test_a_save_through_a_symlinked_pipefile_keeps_the_link_and_the_mode(start, tmp_path):
    real = tmp_path / "shared"
    real.mkdir()
    (real / "Pipefile").write_text("version: 1\nparams:\n  seed: 1\nsteps:\n  a: {command: 'echo ${{params.seed}}'}\n")
    os.chmod(real / "Pipefile", 0o640)
    if os.geteuid() == 0:  # (a file of another user, saved by root: kept its owner's)
        os.chown(real / "Pipefile", 1234, 1234)
    ws = tmp_path / "ws"
    ws.mkdir()
    os.symlink(real / "Pipefile", ws / "Pipefile")
    ui = start(ws)
    doc = ui.get("/api/pipeline").json()
    saved = ui.post(
        "/api/save", {"base": doc["digest"], "operations": [{"op": "set_param", "name": "seed", "value": 2}]}
    )
    assert saved.status_code == 200, saved.text
    assert os.path.islink(ws / "Pipefile") and os.readlink(ws / "Pipefile") == str(real / "Pipefile")
    assert "  seed: 2\n" in (real / "Pipefile").read_text()
    assert os.stat(real / "Pipefile").st_mode & 0o777 == 0o640
    if os.geteuid() == 0:
        assert (os.stat(real / "Pipefile").st_uid, os.stat(real / "Pipefile").st_gid) == (1234, 1234)
    assert sorted(os.listdir(ws)) == ["Pipefile"] and sorted(os.listdir(real)) == ["Pipefile"]  # no temp file left
    assert ui.get("/api/pipeline").json()["digest"] == saved.json()["digest"]


@needs_editor
def test_saves_from_one_base_at_once_write_one_and_refuse_the_others(start, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    # enough steps that applying an edit takes a while: the saves overlap
    steps = "".join(
        f"  s{i}:\n    command: echo {i} > ${{{{outputs.o}}}}\n    outputs: {{o: build/{i}.txt}}\n" for i in range(300)
    )
    params = "".join(f"  p{i}: 0\n" for i in range(8))
    (tmp_path / "Pipefile").write_text(f"version: 1\nparams:\n{params}steps:\n{steps}")
    ui = start(tmp_path)
    doc = ui.get("/api/pipeline").json()

    def save(i):
        ops = [{"op": "set_param", "name": f"p{i}", "value": 1}]
        return ui.post("/api/save", {"base": doc["digest"], "operations": ops})

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(save, range(8)))
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] + [409] * 7, [a.text[:200] for a in answers]
    won = next(i for i, a in enumerate(answers) if a.status_code == 200)
    text = (tmp_path / "Pipefile").read_text()
    assert [p for p in range(8) if f"  p{p}: 1\n" in text] == [won]  # the file says what the 200 said


@needs_editor
def test_an_operation_nested_too_deep_is_a_422_and_the_server_goes_on(start, wine):
    ui = start(wine.root)
    doc = ui.get("/api/pipeline").json()
    deep: object = 1
    for _ in range(900):
        deep = [deep]
    for route in ("/api/preview", "/api/save"):
        r = ui.post(route, {"base": doc["digest"], "operations": [{"op": "set_param", "name": "seed", "value": deep}]})
        assert r.status_code == 422, r.text[:300]
        assert "nested more than" in r.json()["error"]["message"] and r.json()["operation"] == 0
    assert ui.get("/api/pipeline").json()["digest"] == doc["digest"]


@needs_editor
def test_odd_requests_and_a_file_that_is_not_utf8_are_refused_not_a_500(start, wine):
    ui = start(wine.root)
    doc = ui.get("/api/pipeline").json()
    raw = {"content-type": "application/json"}
    odd = [
        '{"base": "%s", "operations": [{"op": ["set_param"], "name": "seed", "value": 1}]}',
        '{"base": "%s", "operations": [{"op": "set_param", "name": "seed2", "value": "\\ud800"}]}',
        '{"base": "%s", "operations": [{"op": "add_step", "name": "' + "n" * 2000 + '", "command": "true"}]}',
    ]
    for route in ("/api/preview", "/api/save"):
        for body in odd:
            r = ui.http.post(route, content=body % doc["digest"], headers=raw)
            assert r.status_code == 422, r.text[:300]
            assert r.json()["error"]["hint"] and "bug" not in r.json()["error"]["message"]
    assert (wine.root / "Pipefile").read_text() == doc["text"]
    latin1 = doc["text"].replace("version: 1", "version: 1\n# caf\xe9").encode("latin-1")
    (wine.root / "Pipefile").write_bytes(latin1)
    for route in ("/api/preview", "/api/save"):
        r = ui.post(route, {"operations": [{"op": "set_param", "name": "seed", "value": 1}]})
        assert r.status_code == 400, r.text[:300]
        err = r.json()["error"]
        assert "not UTF-8" in err["message"] and err["file"] == "Pipefile" and err["hint"]
        assert err["line"] == latin1[: latin1.index(b"caf")].count(b"\n") + 1
    assert (wine.root / "Pipefile").read_bytes() == latin1


@needs_editor
def test_ten_thousand_operations_are_refused_as_too_much_work_not_a_busy_server(start, wine):
    ui = start(wine.root)
    doc = ui.get("/api/pipeline").json()
    big = [{"op": "add_step", "name": f"b{i}", "command": "echo " + "x" * 5000} for i in range(300)]
    small = [{"op": "add_step", "name": f"s{i}", "command": "echo"} for i in range(9700)]
    r = ui.post("/api/save", {"base": doc["digest"], "operations": big + small})
    assert r.status_code == 422, r.text[:300]
    assert "too much work" in r.json()["error"]["message"] and 100 < r.json()["operation"] < 300
    assert (wine.root / "Pipefile").read_text() == doc["text"]
    assert ui.get("/api/pipeline").status_code == 200


@needs_editor
def test_a_pipefile_on_a_read_only_file_system_is_a_400_naming_it_and_nothing_changes(start, tmp_path):
    from test_faults import tmpfs

    with tmpfs(tmp_path / "m", "4m") as mnt:
        (mnt / "Pipefile").write_text(
            "version: 1\nparams:\n  seed: 1\nsteps:\n  a: {command: 'echo ${{params.seed}}'}\n"
        )
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        ws = tmp_path / "ws"
        ws.mkdir()
        os.symlink(mnt / "Pipefile", ws / "Pipefile")
        ui = start(ws)
        doc = ui.get("/api/pipeline").json()
        ops = [{"op": "set_param", "name": "seed", "value": 2}]
        r = ui.post("/api/save", {"base": doc["digest"], "operations": ops})
        assert r.status_code == 400, r.text[:300]
        err = r.json()["error"]
        assert "cannot be written" in err["message"] and "Read-only" in err["message"] and str(mnt) in err["hint"]
        assert (mnt / "Pipefile").read_text() == doc["text"]
        assert ui.post("/api/preview", {"base": doc["digest"], "operations": ops}).status_code == 200
        ui.close()


def test_a_preview_s_path_inside_a_file_or_outside_a_folder_is_a_404(start, tmp_path):
    (tmp_path / "Pipefile").write_text(
        "version: 1\nsteps:\n  a:\n    command: mkdir -p ${{outputs.d}} && echo 1 > ${{outputs.d}}/x.txt"
        " && echo 2 > ${{outputs.f}}\n    outputs: {d: build/d, f: build/f.txt}\n"
    )
    ui = start(tmp_path)
    started = ui.post("/api/run", {})
    assert started.status_code == 202, started.text
    assert wait_run(ui, started.json()["run"])["exit_code"] == 0
    base = "/api/jobs/last/steps/a/outputs"
    assert ui.get(f"{base}/d/preview", params={"path": "x.txt"}).json()["text"] == "1\n"
    for out, sub in (("f", "x"), ("f", "../../etc/passwd"), ("d", "../../../etc/passwd"), ("d", "/etc/passwd")):
        r = ui.get(f"{base}/{out}/preview", params={"path": sub})
        assert r.status_code == 404, (out, sub, r.text[:300])
        assert r.json()["error"]["hint"]
