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


def _model_folder(repo: Repo, rel: str, padding: int = 0) -> None:
    # A long `notes` field (a key pipe does not read) makes model.json slow to copy and parse.
    os.makedirs(repo.root / rel)
    with open(repo.root / rel / "model.json", "w") as f:
        json.dump(dict(MODEL, notes="x" * padding), f)
    (repo.root / rel / "model.pkl").write_bytes(b"not read by pipe deploy")


def _leftovers(repo: Repo) -> list:
    return sorted(n for n in os.listdir(repo.root / ".pipe") if n.startswith(".deploy-"))


def test_a_deploy_killed_while_it_reads_the_model_leaves_a_folder_the_next_deploy_removes(tmp_path):
    # Before: `pipe deploy` read model.json in .pipe/.deploy-RANDOM and removed it after; a
    # deploy killed (kill -9) meanwhile left it there for ever: nothing removed it.
    repo = Repo(tmp_path)
    repo.write("Pipefile", "steps: {}\n", dedent=False)
    _model_folder(repo, "models/big", padding=96 << 20)
    _model_folder(repo, "models/small")
    repo.pipe("asset", "add", "models/big", "--name", "big", check=True)
    repo.pipe("asset", "add", "models/small", "--name", "small", check=True)
    env = dict(os.environ, PIPE_PLAIN="1")
    env.pop("PIPE_STORE_DIR", None)
    proc = subprocess.Popen(
        PIPE + ["deploy", "big", "--model", "big"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not _leftovers(repo):  # its folder is there: the deploy is reading the model
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.001)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.communicate()
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
