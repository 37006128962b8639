"""Choosing the executor (--executor, PIPE_EXECUTOR, settings: executor) and what every
executor honours: a step's `timeout:` (here the local one; tests/test_ray.py has Ray's)."""

from __future__ import annotations

import os
import time


def test_a_local_step_that_outlives_its_timeout_is_stopped_and_fails(repo, tmp_path):
    pidfile = tmp_path / "pid"
    repo.pipefile(f"""
        steps:
          stuck:
            command: echo $$ > {pidfile}; sleep 60; touch ${{{{outputs.o}}}}
            timeout: 1.5s
            outputs:
              o: {{path: out.txt}}
          quick:
            command: echo ok > ${{{{outputs.o}}}}
            timeout: 30
            outputs:
              o: {{path: quick.txt}}
        """)
    t0 = time.monotonic()
    r = repo.pipe("run", "-k")
    assert r.code == 1, str(r)
    assert time.monotonic() - t0 < 30
    assert "timed out: still running after 1.5s (its timeout:); stopped" in r.err
    assert repo.read("quick.txt") == "ok\n" and not repo.exists("out.txt")
    pid = int(pidfile.read_text())
    try:
        os.kill(pid, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    assert not alive


def test_executor_flags_and_variables_are_checked(repo):
    repo.pipefile("""
        steps:
          a:
            command: echo hi > ${{outputs.o}}
            outputs: {o: a.txt}
        """)
    r = repo.pipe("run", "--address", "127.0.0.1:6379")
    assert r.code == 2 and "--address is for the ray executor" in r.err and "--executor ray" in r.err, str(r)
    r = repo.pipe("run", env={"PIPE_EXECUTOR": "slurm"})
    assert r.code == 2 and "PIPE_EXECUTOR: unknown executor 'slurm'" in r.err, str(r)
    assert not repo.exists("a.txt")
    r = repo.pipe("run", env={"PIPE_EXECUTOR": "local"})
    assert r.code == 0 and repo.read("a.txt") == "hi\n", str(r)


def test_settings_executor_is_used_and_the_command_line_wins(repo):
    """The Pipefile asks for a Ray cluster where nothing listens: a run that must run a step
    says so (exit 2, before any step); --executor local runs it here."""
    repo.pipefile("""
        settings:
          executor: {type: ray, address: "127.0.0.1:1"}
        steps:
          a:
            command: echo hi > ${{outputs.o}}
            outputs: {o: a.txt}
        """)
    r = repo.pipe("run")
    assert r.code == 2, str(r)
    assert "cannot reach the Ray cluster at 127.0.0.1:1" in r.err or "needs Ray" in r.err, str(r)
    assert not repo.exists("a.txt")
    r = repo.pipe("run", "--executor", "local")
    assert r.code == 0 and repo.read("a.txt") == "hi\n", str(r)
    # Nothing to run: the cluster is never asked.
    assert repo.pipe("run").code == 0


def test_the_command_line_wins_over_variables_over_the_settings():
    from pipefile import spec
    from pipefile.executors.choice import ExecutorChoice, choose

    settings = spec.ExecutorSettings("ray", "settings:1", "settings-store")
    assert choose(None, environ={}) == ExecutorChoice("local")
    assert choose(settings, environ={}) == ExecutorChoice("ray", "settings:1", "settings-store")
    env = {"RAY_ADDRESS": "env:2", "PIPE_RAY_STORE": "env-store"}
    assert choose(settings, environ=env) == ExecutorChoice("ray", "env:2", "env-store")
    assert choose(settings, None, "cli:3", "cli-store", environ=env) == ExecutorChoice("ray", "cli:3", "cli-store")
    # PIPE_EXECUTOR=local over the Pipefile's ray; --executor ray over PIPE_EXECUTOR=local.
    assert choose(settings, environ={"PIPE_EXECUTOR": "local"}) == ExecutorChoice("local")
    assert choose(None, "ray", environ={"PIPE_EXECUTOR": "local"}).type == "ray"
