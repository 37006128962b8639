"""`pipe deploy` and `pipe publish` as a demanding user finds them: a deploy killed half way
leaves nothing for ever, and a deployment that cannot run where it is served is refused
when it is made. Real `pipe` processes in temporary workspaces."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import time

from workspace_repo import PIPE, Repo

MODEL = dict(
    format="pipefile-sklearn-model",
    format_version=1,
    estimator="x",
    task="regression",
    label="y",
    feature_columns=["a"],
)


def _model_folder(repo: Repo, rel: str) -> None:
    os.makedirs(repo.root / rel)
    with open(repo.root / rel / "model.json", "w") as f:
        json.dump(MODEL, f)
    (repo.root / rel / "model.pkl").write_bytes(b"not read by pipe deploy")


def _leftovers(repo: Repo) -> list:
    return sorted(n for n in os.listdir(repo.root / ".pipe") if n.startswith(".deploy-"))


def test_a_deploy_killed_while_it_reads_the_model_leaves_a_folder_the_next_deploy_removes(tmp_path):
    # Before: `pipe deploy` read model.json in .pipe/.deploy-RANDOM and removed it after; a
    # deploy killed (kill -9) meanwhile left it there for ever: nothing removed it.
    from pipefile.digest import hash_file
    from pipefile.workspace import Workspace

    repo = Repo(tmp_path)
    repo.write("Pipefile", "steps: {}\n", dedent=False)
    _model_folder(repo, "models/stuck")
    _model_folder(repo, "models/small")
    (repo.root / "models/small/model.json").write_text(json.dumps(dict(MODEL, label="z")))  # another object
    repo.pipe("asset", "add", "models/stuck", "--name", "stuck", check=True)
    repo.pipe("asset", "add", "models/small", "--name", "small", check=True)
    # The store's copy of stuck's model.json made 64 MB (of spaces, then not JSON): the deploy
    # reads and writes it into its folder, and reads it again there, for long enough to be
    # killed in the middle. (A FIFO there made it wait for ever: refused now, see
    # tests/test_store_hostile.py.) Tried again if it ended before it was seen at work.
    ws = Workspace(str(tmp_path))
    try:
        obj = ws.store.path(hash_file(str(repo.root / "models/stuck/model.json")))
    finally:
        ws.close()
    os.chmod(os.path.dirname(obj), 0o755)
    os.chmod(obj, 0o644)
    with open(obj, "wb") as f:
        f.write(b" " * (64 << 20) + b"x")
    env = dict(os.environ, PIPE_PLAIN="1")
    env.pop("PIPE_STORE_DIR", None)
    for _attempt in range(5):
        proc = subprocess.Popen(
            PIPE + ["deploy", "stuck", "--model", "stuck"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 60
            while not _leftovers(repo) and proc.poll() is None:  # its folder is there: it reads the model
                assert time.monotonic() < deadline, "the deploy neither made its folder nor ended"
                time.sleep(0.001)
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.kill()
            proc.communicate()
        if _leftovers(repo):
            break
    dead = _leftovers(repo)
    assert dead, "the deploy ended before it was killed: no folder left to check"
    # A folder a deploy on another machine sharing the workspace holds (its pid is none of
    # this machine's: its lock tells): left alone.
    held = repo.root / ".pipe" / ".deploy-999999999-held"
    held.mkdir()
    fd = os.open(held, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        r = repo.pipe("deploy", "small", "--model", "small", check=True)
        assert "deployed small:1 as 'small' version 1" in r.out, str(r)
        assert _leftovers(repo) == [held.name], "the killed deploy's folder is still there"
    finally:
        os.close(fd)
    # Once no one holds it (its deploy died too), the next deploy removes it.
    repo.pipe("deploy", "small", "--model", "small", check=True)
    assert _leftovers(repo) == []


OUTSIDE = """\
import os
import sys

sys.path.insert(0, SHARED)
from helpers import WORD

from pipefile import dsl

say = dsl.command(name="say", command="echo ${{inputs.word}} | tee ${{outputs.o}}",
                  inputs={"word": dsl.Input(type="string")}, outputs={"o": dsl.Output(type="uri_file")})


@dsl.pipeline(name="outside")
def outside():
    one = say(word=WORD)


pipeline = outside()
"""


def test_a_python_pipeline_importing_a_module_from_outside_the_workspace_is_refused_where_no_job_finds_it(tmp_path):
    # Before: `pipe publish -f build.py` took the snapshot (files inside the workspace only)
    # and said nothing; every job of the deployment then failed to load:
    # "ModuleNotFoundError: No module named 'helpers'".
    from serve_site import Server, require_serve_deps, token, wait_job

    require_serve_deps()
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "helpers.py").write_text('WORD = "from-shared"\n')
    root = tmp_path / "ws"
    root.mkdir()
    repo = Repo(root)
    repo.write("Pipefile", "steps: {}\n", dedent=False)
    # Found relative to the module (the usual way): a job runs the snapshot's copy elsewhere.
    relative = 'os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "shared")'
    repo.write("build.py", OUTSIDE.replace("SHARED", relative), dedent=False)
    r = repo.pipe("publish", "-f", "build.py", "--endpoint", "rel")
    assert r.code == 2, str(r)
    assert "build.py" in r.err and str(tmp_path / "shared" / "helpers.py") in r.err, r.err
    assert "No module named 'helpers'" in r.err and "move what it reads into the workspace" in r.err, r.err
    assert "endpoint 'rel'" not in repo.pipe("endpoints").out
    # Found by an absolute path, it is found by the jobs too: published, and it runs.
    repo.write("build.py", OUTSIDE.replace("SHARED", repr(str(tmp_path / "shared"))), dedent=False)
    repo.pipe("publish", "-f", "build.py", "--endpoint", "abs", check=True)
    # Moved into the workspace, the relative import publishes (the snapshot holds it) and runs.
    # (another module name: the server keeps a module imported from outside its job's folder
    # for the process, as Python keeps an installed package)
    repo.write("words.py", 'WORD = "from-workspace"\n', dedent=False)
    inside = OUTSIDE.replace("SHARED", "os.path.dirname(os.path.abspath(__file__))").replace("helpers", "words")
    repo.write("build.py", inside, dedent=False)
    repo.pipe("publish", "-f", "build.py", "--endpoint", "inside", check=True)
    tok = token(repo)
    server = Server(root, "--workers", "1")
    try:
        c = server.client(tok)
        for endpoint, word in (("abs", "from-shared"), ("inside", "from-workspace")):
            r = c.post(f"/v1/endpoints/{endpoint}/jobs", json={"inputs": {}})
            assert r.status_code in (200, 202), r.text
            job = wait_job(c, r.json()["id"], timeout=120)
            assert job["state"] == "completed", job
            log = c.get(f"/v1/jobs/{job['id']}/logs/one")
            assert log.status_code == 200 and word in log.text, (log.text, job["steps"])
    finally:
        server.stop()


IN_VENV = """\
name: venvp
environments:
  e: {type: venv, requirements: envs/req.txt, packages: PACKAGES}
steps:
  s:
    environment: e
    command: python -c "print('in venv')" > ${{outputs.o}}
    outputs:
      o: {path: build/o.txt, output: true}
"""


def test_a_venv_pulling_in_a_file_outside_the_workspace_by_a_relative_path_is_refused_at_publish(tmp_path):
    # Before: published; the snapshot held envs/req.txt but not the ../shared/base.txt it
    # pulls in with -r, and every job failed: "building venv environment 'e': python exited
    # with status 1".
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "base.txt").write_text("# nothing to install\n")
    root = tmp_path / "ws"
    root.mkdir()
    repo = Repo(root)
    repo.write("Pipefile", IN_VENV.replace("PACKAGES", "[]"), dedent=False)
    repo.write("envs/req.txt", "-r ../../shared/base.txt\n", dedent=False)
    r = repo.pipe("publish")
    assert r.code == 2, str(r)
    assert "Pipefile:3:" in r.err and "envs/req.txt names '../../shared/base.txt', outside the workspace" in r.err, (
        r.err
    )
    assert "hint: move it into the workspace" in r.err, r.err
    # an editable install from there, and what `packages:` installs from by a relative path, likewise
    repo.write("envs/req.txt", "-e ../shared/pkg\n", dedent=False)
    r = repo.pipe("publish")
    assert r.code == 2 and "envs/req.txt names '../shared/pkg', outside the workspace" in r.err, str(r)
    repo.write("envs/req.txt", "# nothing\n", dedent=False)
    repo.write("Pipefile", IN_VENV.replace("PACKAGES", "[../shared/pkg]"), dedent=False)
    r = repo.pipe("publish")
    assert r.code == 2 and "packages names '../shared/pkg', outside the workspace" in r.err, str(r)
    # By its absolute path, each job finds it where it is: published.
    repo.write("Pipefile", IN_VENV.replace("PACKAGES", "[]"), dedent=False)
    repo.write("envs/req.txt", f"-r {tmp_path / 'shared' / 'base.txt'}\n", dedent=False)
    repo.pipe("publish", check=True)


def test_a_scratch_folder_naming_an_impossible_pid_is_left_alone_not_an_internal_error(tmp_path):
    # A deploy first removes what dead deploys left in .pipe/ (.deploy-PID-RANDOM): a PID past
    # what the OS can hold raised OverflowError from os.kill, an internal error (exit 70).
    from pipefile.deploy import remove_dead_scratch

    odd = tmp_path / ".deploy-99999999999999999999-a"
    odd.mkdir()
    dead = tmp_path / ".deploy-999999999-b"
    dead.mkdir()
    assert remove_dead_scratch(str(tmp_path)) == [str(dead)]
    assert odd.is_dir()
