"""A step's command starts the same way whichever start pipe takes: posix_spawn when pipe runs
in the workspace's folder (envs/spawn.py), Popen when it runs in a folder below (the Pipefile
found above it). Each property is checked both ways, through the real CLI."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest
from workspace_repo import PIPE, Repo

STEPS = """
version: 1
steps:
  fds:
    command: python3 -c "import os, sys; print(*sorted(os.listdir('/proc/self/fd'), key=int))" > ${{outputs.out}}
    outputs: {out: build/fds.txt}
  stdin:
    command: cat > ${{outputs.out}}
    outputs: {out: build/stdin.txt}
  signals:
    command: grep -E '^Sig(Ign|Blk)' /proc/self/status > ${{outputs.out}}
    outputs: {out: build/signals.txt}
  group:
    command: (sleep 3017 &) ; echo started > ${{outputs.out}}
    outputs: {out: build/group.txt}
"""


def _run(repo: Repo, where: str, *args: str, pass_fd: bool = False) -> subprocess.CompletedProcess:
    cwd = repo.root / where
    cwd.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PIPE_PLAIN="1")
    env.pop("PIPE_STORE_DIR", None)
    r, w = os.pipe()  # an inherited descriptor (a jobserver's, a harness's): steps must not get it
    os.set_inheritable(w, True)
    try:
        return subprocess.run(
            PIPE + ["run", "--force", *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            pass_fds=(w,) if pass_fd else (),
            stdin=subprocess.PIPE,  # (a step that reads stdin must not wait for pipe's)
        )
    finally:
        os.close(r)
        os.close(w)


@pytest.mark.parametrize("where", [".", "sub/folder"], ids=["posix_spawn", "popen"])
def test_a_command_gets_the_same_start_either_way(repo, where):
    repo.pipefile(STEPS)
    p = _run(repo, where, pass_fd=True)
    assert p.returncode == 0, p.stderr
    # Only stdin, stdout and stderr, and the listing's own descriptor.
    assert repo.read("build/fds.txt").split() == ["0", "1", "2", "3"]
    assert repo.read("build/stdin.txt") == ""  # stdin is /dev/null, not pipe's
    # Python ignores SIGPIPE and SIGXFSZ: the command has them back (`yes | head` ends `yes`).
    sig = dict(line.split(":\t") for line in repo.read("build/signals.txt").splitlines())
    assert int(sig["SigBlk"], 16) == 0
    assert not int(sig["SigIgn"], 16) & ((1 << (signal.SIGPIPE - 1)) | (1 << (signal.SIGXFSZ - 1))), sig
    assert repo.read("build/group.txt") == "started\n"
    # The background child was killed with the step's process group.
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert "sleep 3017" not in ps


@pytest.mark.parametrize(
    "command, said", [("kill -9 $$", "was killed by signal 9"), ("exit 3", "exited with status 3")]
)
@pytest.mark.parametrize("where", [".", "sub/folder"], ids=["posix_spawn", "popen"])
def test_how_a_command_ended_is_said_either_way(repo, where, command, said):
    repo.pipefile(
        f"""
        version: 1
        steps:
          ends:
            command: {command}
            outputs: {{out: build/never.txt}}
        """
    )
    p = _run(repo, where)
    assert p.returncode == 1
    assert said in p.stderr, p.stderr


def test_a_process_waited_for_while_another_thread_polls_it_is_reaped_once(tmp_path):
    # A stopped task is waited for by its own thread while processes._stop's escalation polls
    # it: whichever reaps it, the other must learn how it ended, not "no child processes".
    import threading

    from pipefile.envs.spawn import SpawnedProcess

    with open(tmp_path / "log", "wb") as log:
        for _ in range(30):
            proc = SpawnedProcess(["/bin/sh", "-c", "sleep 0.02; exit 3"], dict(os.environ), log)
            done = threading.Event()
            polled: list = []

            def poll_until_done(proc=proc, done=done, polled=polled):
                while not done.is_set():
                    polled.append(proc.poll())

            poller = threading.Thread(target=poll_until_done)
            poller.start()
            try:
                assert proc.wait() == 3
            finally:
                done.set()
                poller.join()
            assert proc.poll() == 3
            assert set(polled) <= {None, 3}


def test_a_working_folder_that_is_gone_is_named_as_the_cause(tmp_path):
    # Before: a command whose working folder was gone (the workspace moved or removed while
    # pipe ran) failed with "could not start '/bin/sh': No such file or directory" and the
    # hint to check the program's path and its '#!' line: both about the wrong thing.
    from pipefile.envs.base import EnvError, LocalProcess

    gone = str(tmp_path / "moved")
    with open(tmp_path / "log", "wb") as log, pytest.raises(EnvError) as e:
        LocalProcess(["/bin/sh", "-c", "true"], dict(os.environ), gone, log)
    assert f"could not enter the folder it runs in, {gone} (No such file or directory)" in str(e.value)
    assert "'#!'" not in str(e.value.hint) and "moved, removed" in str(e.value.hint)
    with open(tmp_path / "log", "wb") as log, pytest.raises(EnvError) as e:  # the program itself: as before
        LocalProcess([str(tmp_path / "nope.sh")], dict(os.environ), str(tmp_path), log)
    assert "No such file or directory" in str(e.value) and "'#!'" in str(e.value.hint)
