"""Batch endpoints and real-time deployments as a user finds them: what a deployment's
snapshot must hold for its jobs to run, and how the server answers a model that fails.
Real `pipe publish`, `pipe serve` and HTTP on 127.0.0.1."""

from __future__ import annotations

import pytest
from serve_site import Server, require_serve_deps, token, wait_job
from workspace_repo import Repo

TRAIN = """\
name: train
params:
  k: 2
steps:
  fit:
    command: echo "VERSION k=${{params.k}}" > ${{outputs.model}}
    outputs:
      model: {path: build/model.txt, output: true}
"""

USES_TRAIN = """\
name: comp
steps:
  t:
    component: ./train/Pipefile
    outputs: {model: build/model.txt}
  use:
    command: cat ${{inputs.m}} > ${{outputs.o}}
    inputs: {m: "${{steps.t.outputs.model}}"}
    outputs:
      o: {path: build/o.txt, output: true}
"""

IN_VENV = """\
name: venvp
environments:
  e: {type: venv, requirements: envs/req.txt}
steps:
  s:
    environment: e
    command: python -c "print('in venv')" > ${{outputs.o}}
    outputs:
      o: {path: build/o.txt, output: true}
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    require_serve_deps()
    root = tmp_path_factory.mktemp("endpoints_review") / "ws"
    root.mkdir()
    repo = Repo(root)
    repo.write("train/Pipefile", TRAIN.replace("VERSION", "v1"), dedent=False)
    repo.write("Pipefile", USES_TRAIN, dedent=False)
    repo.write("Pipefile.venv", IN_VENV, dedent=False)
    # a requirements file that pulls in another (-r): both are read to make the venv
    repo.write("envs/req.txt", "-r base.txt\n", dedent=False)
    repo.write("envs/base.txt", "# nothing to install\n", dedent=False)
    tok = token(repo)
    server = Server(root, "--workers", "2")
    yield repo, server, tok
    server.stop()


def _invoke(server: Server, tok: str, endpoint: str) -> dict:
    c = server.client(tok)
    r = c.post(f"/v1/endpoints/{endpoint}/jobs", json={"inputs": {}, "force_rerun": True})
    assert r.status_code in (200, 202), r.text
    return wait_job(c, r.json()["id"], timeout=240)


def _output(server: Server, tok: str, job: dict, name: str) -> str:
    r = server.client(tok).get(f"/v1/jobs/{job['id']}/outputs/{name}")
    assert r.status_code == 200, r.text
    return r.text


def test_a_pipefile_used_as_a_component_is_in_the_snapshot_and_its_edit_is_a_new_deployment(site):
    # Before: the snapshot held the calling Pipefile only, so every job failed to load
    # ("uses './train/Pipefile' as a component, but no such file exists"), and editing
    # train/Pipefile published nothing new ("already holds this snapshot").
    repo, server, tok = site
    r = repo.pipe("publish", "--json", check=True)
    assert r.json["number"] == 1 and r.json["new"]
    job = _invoke(server, tok, "comp")
    assert job["state"] == "completed", job
    assert _output(server, tok, job, "o") == "v1 k=2\n"

    repo.write("train/Pipefile", TRAIN.replace("VERSION", "v2"), dedent=False)
    r = repo.pipe("publish", "--set-default", "--json", check=True)
    assert r.json["number"] == 2 and r.json["new"], r.out
    job = _invoke(server, tok, "comp")
    assert job["state"] == "completed" and job["deployment"] == 2, job
    assert _output(server, tok, job, "o") == "v2 k=2\n"  # the served pipeline is the edited one


def test_an_environments_requirements_files_are_in_the_snapshot(site):
    # Before: the job failed making its environment ("the requirements file 'envs/req.txt'
    # of environment 'e' does not exist").
    repo, server, tok = site
    repo.pipe("publish", "-f", "Pipefile.venv", check=True)
    job = _invoke(server, tok, "venvp")
    assert job["state"] == "completed", job
    assert _output(server, tok, job, "o") == "in venv\n"


MAKE_MODELS = """\
import operator
import pandas as pd
from sklearn.dummy import DummyRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from stdlib_components._lib.models import ModelInfo, save_model

# Loads, but fails on every row with a KeyError: it picks a column its rows never have.
fails = Pipeline([("pick", FunctionTransformer(func=operator.itemgetter(["zz"]))), ("m", DummyRegressor())])
fails.fit(pd.DataFrame({"a": [1.0, 2.0], "zz": [1.0, 2.0]}), [1.0, 2.0])
save_model("models/fails", fails, ModelInfo("pipeline", "regression", "y", ["a"]))
# Loads as a pickle, but is no model (no predict): refused when loaded
save_model("models/no_predict", Pipeline([("t", FunctionTransformer())]), ModelInfo("p", "regression", "y", ["a"]))
"""


def test_a_model_that_fails_on_the_rows_is_answered_in_the_error_shape_naming_it(site):
    # Before: a bare `500 Internal Server Error` (text/plain), nothing said, nothing logged.
    pytest.importorskip("sklearn")
    import subprocess
    import sys

    repo, server, tok = site
    repo.write("make_models.py", MAKE_MODELS, dedent=False)
    subprocess.run([sys.executable, "make_models.py"], cwd=repo.root, check=True, timeout=120)
    for name in ("fails", "no_predict"):
        repo.pipe("asset", "add", f"models/{name}", "--name", name, check=True)
        repo.pipe("deploy", name, "--model", name, check=True)
    c = server.client(tok)
    r = c.post("/v1/online/fails/score", json={"rows": [{"a": 1.0}]})
    assert r.status_code == 503, r.text
    err = r.json()["error"]
    assert "online deployment 'fails' version 1 (fails:1) failed scoring the rows: KeyError" in err["message"]
    assert "pipe deploy fails" in err["hint"]

    # A model that does not load names the artifact, never the server's scratch copy of it.
    r = c.post("/v1/online/no_predict/score", json={"rows": [{"a": 1.0}]})
    assert r.status_code == 503, r.text
    message = r.json()["error"]["message"]
    assert "no_predict:1/model.pkl" in message and ".online-" not in message and str(repo.root) not in message


@pytest.mark.parametrize("route", ["/v1/endpoints/comp/jobs", "/v1/online/fails/score"])
def test_a_body_that_is_not_json_is_named_as_such(site, route):
    # Before: `{"message": "11: JSON decode error", "field": "11"}`: a character's position
    # given as the field at fault, and no word of the body.
    _repo, server, tok = site
    r = server.client(tok).post(route, content=b'{"inputs": ', headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["field"] == "body", err
    assert err["message"].startswith("body: not valid JSON at character 11"), err
    assert err["hint"]
    # A body that is not UTF-8 is FastAPI's 400: it said "There was an error parsing the body", no hint.
    r = server.client(tok).post(route, content=b'{"inputs": "\xff"}', headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "UTF-8 JSON" in r.json()["error"]["hint"], r.text


TWO_PIPELINES = """\
from pipefile import dsl

say = dsl.command(name="say", command="echo ${{inputs.word}} > ${{outputs.o}}",
                  inputs={"word": dsl.Input(type="string")}, outputs={"o": dsl.Output(type="uri_file")})


@dsl.pipeline(name="first")
def first():
    one = say(word="one")


@dsl.pipeline(name="second")
def second():
    two = say(word="two")


pipeline = first()
other = second()
"""


def test_a_python_pipeline_published_by_its_object_name_serves_that_object(site):
    # Before: the snapshot named the module alone (build.py), so each job loaded its default
    # object `pipeline`: another pipeline than the one published ran.
    repo, server, tok = site
    repo.write("build.py", TWO_PIPELINES, dedent=False)
    repo.pipe("publish", "-f", "build.py:other", "--endpoint", "other", check=True)
    job = _invoke(server, tok, "other")
    assert job["state"] == "completed", job
    assert [s["step"] for s in job["steps"]] == ["two"], job["steps"]
    # the module's default object publishes as before, as its own endpoint
    repo.pipe("publish", "-f", "build.py", "--endpoint", "first", check=True)
    job = _invoke(server, tok, "first")
    assert [s["step"] for s in job["steps"]] == ["one"], job["steps"]


def test_the_modules_a_python_pipeline_imports_from_its_folder_are_in_the_snapshot(site):
    # Before: only the pipeline's module was; a job imported `helpers` from the server's own
    # folder (on its sys.path), the workspace as it is now: an edit made after publishing
    # changed what the deployment ran, and a server started elsewhere failed to load it.
    repo, server, tok = site
    repo.write("helpers.py", 'WORD = "published"\n', dedent=False)
    repo.write("words/__init__.py", "", dedent=False)
    repo.write("words/more.py", 'SUFFIX = "-too"\n', dedent=False)
    source = "from helpers import WORD\nfrom words.more import SUFFIX\n" + TWO_PIPELINES
    source = source.replace('word="one"', "word=WORD + SUFFIX").replace("> ${{outputs.o}}", "| tee ${{outputs.o}}")
    repo.write("helped.py", source, dedent=False)
    repo.pipe("publish", "-f", "helped.py", "--endpoint", "helped", check=True)
    repo.write("helpers.py", 'WORD = "edited-after"\n', dedent=False)
    repo.write("words/more.py", 'SUFFIX = "-after"\n', dedent=False)
    job = _invoke(server, tok, "helped")
    assert job["state"] == "completed", job
    log = server.client(tok).get(f"/v1/jobs/{job['id']}/logs/one")
    assert log.status_code == 200, log.text
    assert "published-too" in log.text and "after" not in log.text, log.text


def test_a_long_pipefile_name_publishes_as_its_first_64_characters(tmp_path):
    # Before: `pipe publish` without --endpoint refused it (exit 2) with a hint that named
    # neither the limit nor --endpoint: the name was the user's Pipefile name, all letters.
    repo = Repo(tmp_path)
    repo.write("Pipefile", f"name: {'a' * 60}-{'b' * 20}\nsteps:\n  s:\n    command: echo hi\n", dedent=False)
    r = repo.pipe("publish", "--json", check=True)
    assert r.json["endpoint"] == "a" * 60 + "-bbb"
    r = repo.pipe("publish", "--endpoint", "c" * 65)
    assert r.code == 2 and "(at most 64)" in r.err, str(r)


def test_a_conda_file_and_a_docker_build_folder_are_in_the_snapshot(tmp_path):
    # (Neither conda nor Docker is needed: publishing makes no environment.) Before, a job's
    # folder had neither, so its environment could not be made.
    from pipefile.jobdb.serving import ServeStore
    from pipefile.workspace import Workspace

    repo = Repo(tmp_path)
    repo.write("envs/env.yml", "name: x\ndependencies: [python]\n", dedent=False)
    repo.write("dock/Dockerfile", "FROM scratch\n", dedent=False)
    repo.write(
        "Pipefile",
        """\
name: envs
environments:
  c: {type: conda, file: envs/env.yml}
  d: {type: docker, build: dock}
steps:
  a:
    environment: c
    command: echo a > ${{outputs.a}}
    outputs:
      a: {path: build/a.txt, output: true}
  b:
    environment: d
    command: echo b > ${{outputs.b}}
    outputs:
      b: {path: build/b.txt, output: true}
""",
        dedent=False,
    )
    repo.pipe("publish", check=True)
    ws = Workspace(str(tmp_path))
    try:
        files = ServeStore(ws.jobs).deployment("envs", 1).manifest["files"]
    finally:
        ws.close()
    assert files["envs/env.yml"]["kind"] == "file" and files["dock"]["kind"] == "tree", files


MAKE_CONSTANT_MODELS = """\
from sklearn.dummy import DummyRegressor
from stdlib_components._lib.models import ModelInfo, save_model

for n in (1, 2, 3):
    est = DummyRegressor(strategy="constant", constant=float(n)).fit([[0.0], [1.0]], [0.0, 1.0])
    save_model(f"models/const{n}", est, ModelInfo("dummy", "regression", "y", ["a"]))
"""


def test_the_model_cache_keeps_the_models_used_most_recently_not_every_one(site):
    # Before: every model a server ever scored with stayed in its memory for good (a model
    # deployed each day: one more each day). Driven without HTTP, as test_online's cache test.
    pytest.importorskip("sklearn")
    import subprocess
    import sys

    from pipefile.jobdb.online import OnlineStore
    from pipefile.serve.home import Home
    from pipefile.serve.scorer import ScorerPool

    repo, _server, _tok = site
    repo.write("make_constant_models.py", MAKE_CONSTANT_MODELS, dedent=False)
    subprocess.run([sys.executable, "make_constant_models.py"], cwd=repo.root, check=True, timeout=120)
    for n in (1, 2, 3):
        repo.pipe("asset", "add", f"models/const{n}", "--name", f"const{n}", check=True)
        repo.pipe("deploy", f"const{n}", "--model", f"const{n}", check=True)
    home = Home(str(repo.root))
    deps = [OnlineStore(home.jobs).deployment(f"const{n}") for n in (1, 2, 3)]
    pool = ScorerPool(limit=2)  # (serve/scorer.py: a model's process holds it)
    row = [{"a": 0.0}]
    try:
        for d in deps[:2]:
            pool.score(home, d, row)
        first = pool.pids()
        pool.score(home, deps[0], row)  # used again: the most recent now
        pool.score(home, deps[2], row)  # a third: the least recently used (const2) goes
        assert set(pool.pids()) == {deps[0].digest, deps[2].digest}
        assert pool.pids()[deps[0].digest] == first[deps[0].digest]
        assert pool.score(home, deps[1], row)["predictions"] == [2.0]  # loaded again when asked again
        assert pool.pids()[deps[1].digest] != first[deps[1].digest]
    finally:
        pool.close()


def test_deploy_refuses_a_model_whose_feature_columns_name_one_twice(tmp_path):
    # Before: it deployed, and every row sent was refused `422 rows[0]: ` (nothing said):
    # a row, a JSON object, cannot hold a column twice.
    pytest.importorskip("sklearn")
    import subprocess
    import sys

    repo = Repo(tmp_path)
    repo.write("Pipefile", "steps:\n  s:\n    command: echo hi\n", dedent=False)
    repo.write(
        "make.py",
        "from sklearn.dummy import DummyRegressor\n"
        "from stdlib_components._lib.models import ModelInfo, save_model\n"
        "est = DummyRegressor().fit([[0.0, 0.0]], [1.0])\n"
        'save_model("twice", est, ModelInfo("dummy", "regression", "y", ["a", "a"]))\n',
        dedent=False,
    )
    subprocess.run([sys.executable, "make.py"], cwd=tmp_path, check=True, timeout=120)
    repo.pipe("asset", "add", "twice", "--name", "twice", check=True)
    r = repo.pipe("deploy", "twice", "--model", "twice")
    assert r.code == 2 and "feature_columns names 'a' more than once" in r.err, str(r)


def test_a_folder_a_venvs_packages_install_by_path_is_in_the_snapshot(tmp_path):
    # Before: only a venv with a requirements file had its local sources snapshotted; one
    # with `packages: [./pkgs/mypkg]` alone had none, and its job could not make the venv.
    from pipefile.jobdb.serving import ServeStore
    from pipefile.workspace import Workspace

    repo = Repo(tmp_path)
    repo.write("pkgs/mypkg/pyproject.toml", '[project]\nname = "mypkg"\nversion = "0.1"\n', dedent=False)
    repo.write(
        "Pipefile",
        """\
name: pk
environments:
  e: {type: venv, packages: ["./pkgs/mypkg"]}
steps:
  s:
    environment: e
    command: echo hi > ${{outputs.o}}
    outputs:
      o: {path: build/o.txt, output: true}
""",
        dedent=False,
    )
    repo.pipe("publish", check=True)
    ws = Workspace(str(tmp_path))
    try:
        files = ServeStore(ws.jobs).deployment("pk", 1).manifest["files"]
    finally:
        ws.close()
    assert files.get("pkgs/mypkg", {}).get("kind") == "tree", files


def test_a_port_in_use_is_an_error_and_never_announced_as_serving(tmp_path):
    # Before: `serving WS at http://127.0.0.1:PORT/v1` was printed, then the error.
    import socket
    import subprocess

    from workspace_repo import PIPE

    require_serve_deps()
    repo = Repo(tmp_path)
    repo.write("Pipefile", "steps:\n  s:\n    command: echo hi\n", dedent=False)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        p = subprocess.run(
            PIPE + ["serve", "--port", str(port)], cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
    assert p.returncode == 2, p.stderr
    assert f"could not listen on 127.0.0.1:{port}" in p.stderr and "serving" not in p.stderr, p.stderr


def test_a_server_that_listens_says_so(site):
    _repo, server, _tok = site
    assert f"at http://127.0.0.1:{server.port}/v1" in server.output()


def test_a_component_file_a_python_pipeline_loads_is_in_the_snapshot(site):
    # Before: dsl.load_component("comp/say.yaml") read a file the snapshot did not hold: a
    # job failed to load the module (no such component file).
    repo, server, tok = site
    repo.write(
        "comp/say.yaml",
        "name: say\ninputs:\n  word: string\noutputs:\n  o: uri_file\n"
        "command: echo ${{inputs.word}}-v1 | tee ${{outputs.o}}\n",
        dedent=False,
    )
    repo.write(
        "loads.py",
        'from pipefile import dsl\nsay = dsl.load_component("comp/say.yaml")\n\n\n'
        '@dsl.pipeline(name="loads")\ndef loads():\n    one = say(word="w")\n\n\npipeline = loads()\n',
        dedent=False,
    )
    repo.pipe("publish", "-f", "loads.py", check=True)
    repo.write("comp/say.yaml", repo.read("comp/say.yaml").replace("-v1", "-edited"), dedent=False)
    job = _invoke(server, tok, "loads")
    assert job["state"] == "completed", job
    log = server.client(tok).get(f"/v1/jobs/{job['id']}/logs/one")
    assert "w-v1" in log.text and "edited" not in log.text, log.text
