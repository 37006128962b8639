"""pipe run whose reader goes away: `pipe run | head` (a broken pipe), a terminal or ssh
session closed (SIGHUP), and `nohup pipe run` (SIGHUP ignored). Before: a broken pipe ended
the run at its next line with exit 0, the steps after it never run; SIGHUP ended pipe at once
with its step's command running on, orphaned."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import time

from workspace_repo import PIPE, Repo


def _env() -> dict:
    env = dict(os.environ)
    env.pop("PIPE_STORE_DIR", None)
    env.pop("PIPE_PLAIN", None)
    env.pop("CI", None)
    return env


def _last_job(repo: Repo) -> dict:
    r = repo.pipe("jobs", "show", "last", "--json")
    assert r.code == 0, str(r)
    return r.json


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


CHAIN = "version: 1\nsteps:\n" + "".join(
    f"  s{i}:\n    command: sleep 0.2 && echo {i} > ${{{{outputs.o}}}}\n    outputs: {{o: o{i}.txt}}\n"
    for i in range(5)
)


def test_a_run_whose_reader_goes_away_runs_to_its_end(tmp_path):
    repo = Repo(tmp_path)
    repo.pipefile(CHAIN)
    p = subprocess.Popen(
        PIPE + ["run", "-j1"], cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert p.stdout.readline()  # what `head -1` reads, then it is gone
    p.stdout.close()
    assert p.wait(timeout=60) == 0
    assert all(repo.exists(f"o{i}.txt") for i in range(5))  # was: o0.txt only, exit 0
    job = _last_job(repo)
    assert job["status"] == "succeeded" and len(job["steps"]) == 5, job


SLOW = """
version: 1
steps:
  slow:
    command: echo $$ > pid.txt && sleep 30 && echo done > ${{outputs.o}}
    outputs: {o: out.txt}
"""


def _start_in_terminal(repo: Repo) -> tuple:
    """`pipe run` on a terminal of its own (a session: SIGHUP reaches it when it closes)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: exec at once
        signal.signal(signal.SIGHUP, signal.SIG_DFL)  # (a test run under nohup, as CI's may be)
        os.chdir(repo.root)
        os.execvpe(PIPE[0], PIPE + ["run"], _env())
    deadline = time.monotonic() + 60
    while not repo.exists("pid.txt") or not repo.read("pid.txt").strip():
        assert time.monotonic() < deadline, "the step never started"
        try:
            os.read(fd, 4096)  # (drained: a full terminal would block pipe's output)
        except OSError:
            pass
        time.sleep(0.05)
    return pid, fd


def test_a_closed_terminal_stops_the_run_as_ctrl_c_does(tmp_path):
    repo = Repo(tmp_path)
    repo.pipefile(SLOW)
    pid, fd = _start_in_terminal(repo)
    step = int(repo.read("pid.txt"))
    time.sleep(0.3)
    os.close(fd)  # the terminal goes: SIGHUP
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 130  # was: killed by SIGHUP (-1)
    deadline = time.monotonic() + 15
    while not _gone(step):
        assert time.monotonic() < deadline, "the step's command runs on without pipe"
        time.sleep(0.1)
    job = _last_job(repo)
    assert job["status"] == "interrupted" and [s["step"] for s in job["steps"]] == ["slow"], job
    assert not repo.exists("out.txt") and not os.listdir(tmp_path / ".pipe" / "stage")


def test_nohup_keeps_sighup_ignored(tmp_path):
    repo = Repo(tmp_path)
    repo.pipefile(SLOW.replace("sleep 30", "sleep 1"))
    p = subprocess.Popen(
        PIPE + ["run"],
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN),  # what nohup does
    )
    deadline = time.monotonic() + 60
    while not repo.exists("pid.txt"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    p.send_signal(signal.SIGHUP)
    assert p.wait(timeout=60) == 0
    assert repo.read("out.txt") == "done\n"
    assert json.loads(repo.pipe("jobs", "show", "last", "--json").out)["status"] == "succeeded"


def test_a_run_started_with_its_stdout_or_stdin_closed_runs_and_exits_as_its_steps_say(tmp_path):
    """Python leaves a standard stream closed at start None: `pipe run >&-` ended with exit 120
    (the summary printed to None), `pipe status >&-` with 70."""
    repo = Repo(tmp_path)
    repo.pipefile(CHAIN)
    cmd = " ".join(PIPE)
    r = subprocess.run(["bash", "-c", f"{cmd} run -j1 >&- 2>/dev/null"], cwd=tmp_path, env=_env(), timeout=120)
    assert r.returncode == 0 and all(repo.exists(f"o{i}.txt") for i in range(5))
    r = subprocess.run(["bash", "-c", f"{cmd} status >&- 2>/dev/null"], cwd=tmp_path, env=_env(), timeout=120)
    assert r.returncode == 0
    r = subprocess.run(
        ["bash", "-c", f"{cmd} run --force -j1 <&- >/dev/null 2>&1"], cwd=tmp_path, env=_env(), timeout=120
    )
    assert r.returncode == 0
    assert _last_job(repo)["status"] == "succeeded"


def test_a_run_whose_stderr_or_stdout_is_open_read_only_runs_and_exits_as_its_steps_say(tmp_path):
    """`pipe run 2>&-` from a shell script on the way (pyenv's shim) left fd 2 holding that
    script, read-only, and Python took it for stderr: every message failed (EBADF) and the run
    ended `interrupted` with exit 1. `2<FILE` gives the same state without the shim."""
    repo = Repo(tmp_path)
    repo.pipefile(CHAIN)
    cmd = " ".join(PIPE)
    r = subprocess.run(["bash", "-c", f"{cmd} run -j1 2<Pipefile"], cwd=tmp_path, env=_env(), timeout=120)
    assert r.returncode == 0 and all(repo.exists(f"o{i}.txt") for i in range(5))
    assert _last_job(repo)["status"] == "succeeded"
    r = subprocess.run(["bash", "-c", f"{cmd} run --force -j1 1<Pipefile"], cwd=tmp_path, env=_env(), timeout=120)
    assert r.returncode == 0
    assert _last_job(repo)["status"] == "succeeded"
    r = subprocess.run(["bash", "-c", f"{cmd} status 1<Pipefile 2<Pipefile"], cwd=tmp_path, env=_env(), timeout=120)
    assert r.returncode == 0
