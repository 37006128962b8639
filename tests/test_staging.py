"""Staging: a run killed with SIGKILL while a step runs leaves nothing behind that the next run
does not repair, also when the step's output lives on another file system (where the previous
output is moved aside into a `.pipe-STEP-*` folder beside it, not into `.pipe/scratch`)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time

import pytest
from workspace_repo import PIPE, Repo


@contextlib.contextmanager
def _tmpfs(mnt):
    """A real second file system at `mnt` (mounting needs root, as CI has)."""
    mnt.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {r.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.fixture
def build_elsewhere(repo):
    """The workspace on the normal disk; its `build/` folder a tmpfs mount."""
    with _tmpfs(repo.root / "build"):
        assert os.stat(repo.root / "build").st_dev != os.stat(repo.root).st_dev
        yield repo


PIPEFILES = {
    "file": """
        version: 1
        params: {v: 1, wait: 0}
        steps:
          make:
            command: echo ${{params.v}} > ${{outputs.o}} && touch started && sleep ${{params.wait}}
            outputs: {o: build/out.txt}
    """,
    "folder": """
        version: 1
        params: {v: 1, wait: 0}
        steps:
          make:
            command: echo ${{params.v}} > ${{outputs.o}}/f && touch started && sleep ${{params.wait}}
            outputs: {o: build/out/}
    """,
}
CONTENT = {"file": "build/out.txt", "folder": "build/out/f"}


def _kill_mid_step(repo: Repo, *args: str) -> None:
    """Start `pipe run ARGS`, and kill -9 its process group once the step is sleeping."""
    env = dict(os.environ, PIPE_PLAIN="1")
    env.pop("PIPE_STORE_DIR", None)
    p = subprocess.Popen(
        PIPE + ["run", *args],
        cwd=repo.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.time() + 30
    while not (repo.root / "started").exists():
        assert p.poll() is None, p.communicate()
        assert time.time() < deadline, "the step never started"
        time.sleep(0.05)
    os.killpg(p.pid, signal.SIGKILL)
    p.communicate()
    (repo.root / "started").unlink()


def _beside(repo: Repo) -> list:
    return sorted(n for n in os.listdir(repo.root / "build") if n.startswith(".pipe-"))


@pytest.mark.parametrize("kind", ["file", "folder"])
@pytest.mark.parametrize("then", ["put-back", "replaced"])
def test_kill_9_mid_step_on_another_file_system_is_repaired_by_the_next_run(build_elsewhere, kind, then):
    repo = build_elsewhere
    repo.pipefile(PIPEFILES[kind])
    assert repo.outcomes() == {"make": "ran"}
    assert repo.read(CONTENT[kind]) == "1\n"
    (repo.root / "started").unlink()
    _kill_mid_step(repo, "-p", "v=2", "-p", "wait=30")
    assert _beside(repo), "the killed step should have moved the previous output aside, beside it"
    assert repo.pipe("status").code == 0  # status only looks
    if then == "put-back":
        # The previous output is put back first: the step, as before, is fresh (nothing runs).
        assert repo.outcomes() == {"make": "fresh"}
        assert repo.read(CONTENT[kind]) == "1\n"
    else:
        assert repo.outcomes("-p", "v=3") == {"make": "ran"}
        assert repo.read(CONTENT[kind]) == "3\n"
    assert _beside(repo) == []
    assert os.listdir(repo.root / "build") == [os.path.basename(CONTENT[kind].split("/")[1])]
    # The store and the state agree with the workspace: nothing to do, and nothing left to repair.
    args = () if then == "put-back" else ("-p", "v=3")
    assert repo.states(*args) == {"make": "fresh"}
    assert repo.outcomes(*args) == {"make": "fresh"}
    assert not os.listdir(repo.root / ".pipe/beside")
