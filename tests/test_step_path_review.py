"""Probes of the step path's speed-ups (review rev36), kept as guards: a source read ahead while
a command runs (read_ahead.py) and then edited by the user is seen by the step that reads it; a
command started by posix_spawn finds what Popen gives it (envs/spawn.py)."""

from __future__ import annotations

import os
import subprocess
import time

import pytest
from workspace_repo import PIPE, Repo


def _wait_for(path, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not os.path.exists(path):
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.01)


def test_a_source_edited_while_an_earlier_command_runs_is_seen_by_the_step_that_reads_it(repo: Repo):
    # b waits on a; while a's command runs, b's source is read ahead. The user then rewrites it
    # with the same size, its mtime set back as `cp -p` does: b must run on the new text.
    repo.pipefile(
        """\
        version: 1
        steps:
          a: {command: "touch started; while [ ! -e go ]; do sleep 0.01; done; echo a > a.txt", outputs: {o: a.txt}}
          b: {command: "cat a.txt src.txt > b.txt", inputs: {a: a.txt, s: src.txt}, outputs: {o: b.txt}}
        """
    )
    src = repo.write("src.txt", "one\n")
    old = time.time() - 3600
    os.utime(src, (old, old))
    env = dict(os.environ, PIPE_PLAIN="1")
    env.pop("PIPE_STORE_DIR", None)
    p = subprocess.Popen(PIPE + ["run"], cwd=repo.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for(repo.root / "started")
        time.sleep(0.05)  # (read ahead by now, in the usual case: the probe holds either way)
        src.write_text("two\n")
        os.utime(src, (old, old))
        (repo.root / "go").touch()
        out, err = p.communicate(timeout=60)
    finally:
        p.kill()
    assert p.returncode == 0, err
    assert repo.read("b.txt") == "a\ntwo\n"
    assert repo.outcomes() == {"a": "fresh", "b": "fresh"}


SPAWNED = """\
version: 1
steps:
  made:
    command: umask > ${{outputs.o}}; pwd -P >> ${{outputs.o}}; echo "$PIPE_STEP" >> ${{outputs.o}}
    outputs: {o: build/made.txt}
  listed:
    command: [./tool.sh, "a b", "$HOME", "${{outputs.o}}"]
    outputs: {o: build/listed.txt}
  missing:
    command: [./nope.sh]
    outputs: {o: build/never.txt}
"""


@pytest.mark.parametrize("where", [".", "sub"], ids=["posix_spawn", "popen"])
def test_umask_folder_arguments_and_a_missing_program_are_the_same_either_start(repo: Repo, where):
    """envs/spawn.py starts a command with posix_spawn where pipe runs in the workspace's folder,
    with Popen elsewhere: what the command finds (umask, folder, its arguments as listed, no
    shell) and what pipe says of a program that is not there must not depend on which."""
    repo.pipefile(SPAWNED)
    tool = repo.write("tool.sh", '#!/bin/sh\nprintf "%s|" "$1" "$2" > "$3"\n')
    tool.chmod(0o755)
    (repo.root / "sub").mkdir()
    env = dict(os.environ, PIPE_PLAIN="1")
    env.pop("PIPE_STORE_DIR", None)
    p = subprocess.run(
        ["sh", "-c", 'umask 027 && exec "$@"', "sh", *PIPE, "run", "-k"],
        cwd=repo.root / where,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 1, p.stderr
    assert repo.read("build/made.txt") == f"0027\n{os.path.realpath(repo.root)}\nmade\n"
    assert (repo.root / "build/made.txt").stat().st_mode & 0o777 == 0o640
    assert repo.read("build/listed.txt") == "a b|$HOME|"
    assert "step 'missing' failed" in p.stderr and "could not start './nope.sh': No such file or directory" in p.stderr
