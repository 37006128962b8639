"""`pipe ui`'s server: real `pipe ui` processes on 127.0.0.1 (port 0), driven with httpx.

Start-up and security (the URL line, the token, cookie, Host, Origin, --allow-remote), the
pipeline and library views, runs, jobs, events, logs, previews, cancel, compare, clone,
and the edits of the Pipefile (once pipefile.edit is there)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from workspace_repo import PIPE, REPO_ROOT, Repo

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

WINE = Path(REPO_ROOT) / "examples" / "wine"
URL_LINE = re.compile(r"^pipe ui: (http://127\.0\.0\.1:(\d+))/\?token=(\S+)$")


class Ui:
    """A running `pipe ui` and an httpx client that carries its token."""

    def __init__(self, root: Path, *args: str):
        env = dict(os.environ, PIPE_PLAIN="1")
        env.pop("PIPE_UI_TOKEN", None)
        env.pop("PIPE_STORE_DIR", None)
        self.proc = subprocess.Popen(
            PIPE + ["ui", "--no-browser", "--port", "0", *args],
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
            raise AssertionError(f"no URL line: {line!r}; stderr: {self.proc.stderr.read()}")
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

    def _start(root, *args):
        ui = Ui(Path(root), *args)
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
    for host in ("evil.example", f"evil.example:{ui.port}", f"127.0.0.1:{ui.port + 1}", "127.0.0.1"):
        r = ui.get("/api/pipeline", headers={"Host": host})
        assert r.status_code == 403, host
        assert "host" in r.json()["error"]["message"]


def test_a_host_that_is_not_loopback_needs_allow_remote(wine):
    r = wine.pipe("ui", "--no-browser", "--host", "0.0.0.0")
    assert r.code == 2, str(r)
    assert "--allow-remote" in r.err and r.out == ""


# --- the pipeline ------------------------------------------------------------------------------
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
    assert len(group["children"]) == 3
    for t in group["children"]:
        assert nodes[t]["kind"] == "step" and nodes[t]["group"] == "train"
    assert nodes["report"]["kind"] == "step"
    assert any(e["from"] == "train" and e["to"] == "report" for e in doc["graph"]["edges"])


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
    wine.pipe("run", check=True)
    arts = {i["name"]: i for i in ui.get("/api/library").json()["items"] if i["source"] == "artifact"}
    assert set(arts) == {"wine-data", "wine-model"}
    assert [v["version"] for v in arts["wine-model"]["versions"]] == [1]
