"""`pipe run --executor ray` on a real two-node Ray cluster on loopback (started once for the
module: a head with 2 CPUs, a second node with 1 CPU and the custom resource special_node),
with a local-path shared store. Ray missing skips the module, unless
PIPE_CI_REQUIRE_SERVICES=1 (CI), where it fails: the test extra installs it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from servers import free_port, need
from workspace_repo import PIPE, Repo

from benchmarks import raylocal

# One xdist worker runs them all: one cluster, and its `ray stop` stops no other's.
pytestmark = pytest.mark.xdist_group("ray")

try:
    import ray  # noqa: F401

    _HAVE_RAY = shutil.which("ray") is not None
except ImportError:
    _HAVE_RAY = False


@pytest.fixture(scope="module")
def cluster():
    need(_HAVE_RAY, "ray is not installed (pip install 'pipefile[ray]')")
    temp = tempfile.mkdtemp(prefix="pr", dir="/tmp")
    base = dict(os.environ, **raylocal.RAY_ENV)
    try:
        address = raylocal.start_node(temp, base, 2, head_port=free_port(), node_dir=os.path.join(temp, "node-head"))
        raylocal.start_node(
            temp, base, 1, address=address, resources={"special_node": 1}, node_dir=os.path.join(temp, "node-second")
        )
        nodes = _nodes(address, base)
        yield {"address": address, "special": nodes["special"], "head": nodes["head"], "env": base}
    finally:
        raylocal.stop(temp)
        shutil.rmtree(temp, ignore_errors=True)


def _nodes(address: str, env: dict) -> dict:
    """{"special": NODE_ID of the node with special_node, "head": the other's}, once both are up."""
    code = (
        "import json, ray, time\n"
        f"ray.init(address='{address}', logging_level='error', log_to_driver=False)\n"
        "for _ in range(120):\n"
        "    alive = [n for n in ray.nodes() if n['Alive']]\n"
        "    if len(alive) == 2: break\n"
        "    time.sleep(0.5)\n"
        "print(json.dumps({('special' if 'special_node' in n['Resources'] else 'head'): n['NodeID'] for n in alive}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(got) == {"special", "head"}, got
    return got


PIPELINE = """
steps:
  prep:
    command: python3 ${{inputs.script}} ${{inputs.data}} ${{outputs.table}}
    inputs:
      script: {type: uri_file, path: prep.py}
      data: {type: uri_folder, path: data}
    outputs:
      table: {type: uri_file, path: out/table.csv}
  report:
    command: mkdir -p ${{outputs.dir}}/sub && sort -r ${{inputs.t}} > ${{outputs.dir}}/sub/sorted.csv && echo done > ${{outputs.dir}}/flag
    inputs:
      t: "${{steps.prep.outputs.table}}"
    outputs:
      dir: {type: uri_folder, path: out/report}
  big:
    # Over the size that comes back with the result: downloaded from the shared store.
    command: python3 -c "import sys; open(sys.argv[1], 'wb').write(bytes(range(256)) * 1200)" ${{outputs.o}}
    outputs:
      o: {path: out/big.bin}
  pinned:
    command: hostname > ${{outputs.o}}
    resources: {cpus: 0.5, custom: {special_node: 1}}
    outputs:
      o: {path: out/pinned.txt}
"""


def _workspace(root: Path) -> Repo:
    root.mkdir(parents=True)
    r = Repo(root)
    r.pipefile(PIPELINE)
    r.write(
        "prep.py",
        "import os, sys\nrows = sorted(os.listdir(sys.argv[1]))\n"
        "open(sys.argv[2], 'w').write(''.join(f'{n},{open(os.path.join(sys.argv[1], n)).read()}' for n in rows))\n",
    )
    r.write("data/a.txt", "1\n")
    r.write("data/b.txt", "2\n")
    return r


def _files(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted((root / "out").rglob("*")) if p.is_file()}


def _steps(r: Repo, job: str = "last") -> dict:
    return {s["step"]: s for s in r.pipe("jobs", "show", job, "--json", check=True).json["steps"]}


def test_results_match_a_local_run_and_the_custom_resource_picks_the_node(cluster, tmp_path):
    store = tmp_path / "shared"
    on_ray = _workspace(tmp_path / "ray")
    r = on_ray.pipe(
        "run", "--json", "--executor", "ray", "--address", cluster["address"], "--store", str(store), env=cluster["env"]
    )
    assert r.code == 0, str(r)
    assert {s["worker"]["executor"] for s in r.json["steps"]} == {"ray"}
    # Only the final steps' outputs came here: prep's table, read only by `report` on the
    # cluster, stayed on the shared store (committed by digest), and status says so.
    assert not on_ray.exists("out/table.csv")
    assert on_ray.exists("out/report/flag") and on_ray.exists("out/pinned.txt")
    states = on_ray.states()
    assert states["prep"] == "restore" and states["report"] == "fresh", states
    status = on_ray.pipe("status", check=True).out
    assert str(store) in status or "remote" in status, status
    # Committed here as a local run would: a second run runs nothing, without the cluster: the
    # table stays on the shared store (not asked for: a run on the cluster asks for its final
    # steps), the rest is fresh; asked for, the table is restored from there.
    r = on_ray.pipe("run", "--json", "--executor", "ray", "--address", "127.0.0.1:1", env=cluster["env"])
    assert r.code == 0, str(r)
    assert {s["name"]: s["outcome"] for s in r.json["steps"]} == {
        "prep": "on-remote",
        "report": "fresh",
        "big": "fresh",
        "pinned": "fresh",
    }, str(r)
    r = on_ray.pipe("run", "--json", "prep", "--executor", "ray", "--address", "127.0.0.1:1", env=cluster["env"])
    assert r.code == 0 and {s["name"]: s["outcome"] for s in r.json["steps"]} == {"prep": "restored"}, str(r)
    local = _workspace(tmp_path / "local")
    local.pipe("run", check=True)
    ray_files, local_files = _files(on_ray.root), _files(local.root)
    assert set(ray_files) == {
        "out/table.csv",
        "out/report/sub/sorted.csv",
        "out/report/flag",
        "out/pinned.txt",
        "out/big.bin",
    }
    assert ray_files == local_files  # byte for byte
    steps = _steps(on_ray, "1")
    assert {s["worker"]["executor"] for s in steps.values()} == {"ray"}
    assert steps["pinned"]["worker"]["node"] == cluster["special"]
    assert _steps(local)["prep"]["worker"] == {"executor": "local"}
    shown = on_ray.pipe("jobs", "show", "1", check=True).out
    assert "worker" in shown and "ray " in shown
    r = on_ray.pipe("run", "--json", "--executor", "ray", "--address", "127.0.0.1:1", env=cluster["env"])
    assert r.code == 0 and {s["outcome"] for s in r.json["steps"]} == {"fresh"}, str(r)


def test_a_multi_node_cluster_without_a_store_is_refused_naming_the_flag(cluster, tmp_path):
    r = _workspace(tmp_path / "ws")
    got = r.pipe("run", "--executor", "ray", "--address", cluster["address"], env=cluster["env"])
    assert got.code == 2, str(got)
    assert "--store" in got.err and "2 node(s)" in got.err
    assert not r.exists("out/table.csv")


def _popen(r: Repo, *args: str, env: dict) -> subprocess.Popen:
    e = dict(env, PIPE_PLAIN="1")
    return subprocess.Popen(
        PIPE + list(args), cwd=r.root, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _wait_for(path: Path, seconds: float = 90) -> str:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.1)
    raise AssertionError(f"{path} never appeared")


def _gone(pid: int, seconds: float = 20) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def test_a_worker_killed_mid_step_is_retried_and_the_run_succeeds(cluster, tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    r = Repo(tmp_path / "ws")
    r.root.mkdir()
    # The first attempt records its Ray worker's pid ($PPID of the step's shell) and waits to
    # be killed; the second finds the mark and finishes.
    r.pipefile(f"""
        steps:
          slow:
            command: >-
              if [ ! -e {marks}/first ]; then touch {marks}/first; echo $PPID > {marks}/worker.pid; sleep 120; fi;
              echo finished > ${{{{outputs.o}}}}
            outputs:
              o: {{path: out.txt}}
        """)
    p = _popen(
        r,
        "run",
        "--executor",
        "ray",
        "--address",
        cluster["address"],
        "--store",
        str(tmp_path / "s"),
        env=cluster["env"],
    )
    try:
        worker = int(_wait_for(marks / "worker.pid"))
        os.kill(worker, signal.SIGKILL)
        out, err = p.communicate(timeout=120)
    finally:
        p.kill()
    assert p.returncode == 0, err
    assert r.read("out.txt") == "finished\n"
    log = r.read(".pipe/jobs/1/slow.log")
    assert "attempt 1 of 2: the executor failed under it" in log


def test_retries_zero_fails_on_a_dead_worker_and_a_failing_command_is_never_retried(cluster, tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    r = Repo(tmp_path / "ws")
    r.root.mkdir()
    r.pipefile(f"""
        steps:
          once:
            command: echo x >> {marks}/once.runs; echo $PPID > {marks}/worker.pid; sleep 120; touch ${{{{outputs.o}}}}
            retries: 0
            outputs:
              o: {{path: once.txt}}
          exits:
            command: echo x >> {marks}/exits.runs; exit 3
            retries: 2
            outputs:
              o: {{path: exits.txt}}
        """)
    store = ["--store", str(tmp_path / "s")]
    p = _popen(r, "run", "-k", "--executor", "ray", "--address", cluster["address"], *store, env=cluster["env"])
    try:
        os.kill(int(_wait_for(marks / "worker.pid")), signal.SIGKILL)
        out, err = p.communicate(timeout=120)
    finally:
        p.kill()
    assert p.returncode == 1, err
    assert "the executor failed under it 1 time(s)" in err
    assert (marks / "once.runs").read_text() == "x\n"
    assert (marks / "exits.runs").read_text() == "x\n"  # exit 3: the command's failure, not retried
    assert "exited with status 3" in err


def test_ctrl_c_cancels_the_ray_task_and_its_processes_are_gone(cluster, tmp_path):
    r = Repo(tmp_path / "ws")
    r.root.mkdir()
    pidfile = tmp_path / "step.pid"
    r.pipefile(f"""
        steps:
          long:
            command: echo started; echo $$ > {pidfile}; sleep 120; echo never > ${{{{outputs.o}}}}
            outputs:
              o: {{path: out.txt}}
        """)
    p = _popen(
        r,
        "run",
        "--executor",
        "ray",
        "--address",
        cluster["address"],
        "--store",
        str(tmp_path / "s"),
        env=cluster["env"],
    )
    try:
        pid = int(_wait_for(pidfile))
        # The log streams back while the step runs.
        log = r.root / ".pipe" / "jobs" / "1" / "long.log"
        assert _wait_for(log, 10) == "started"
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
    finally:
        p.kill()
    assert p.returncode not in (0, 1, 2), err  # interrupted
    assert _gone(pid), "the step's process outlived Ctrl-C"
    assert not r.exists("out.txt")


def test_timeout_cancels_a_step_on_the_cluster(cluster, tmp_path):
    r = Repo(tmp_path / "ws")
    r.root.mkdir()
    pidfile = tmp_path / "step.pid"
    r.pipefile(f"""
        steps:
          stuck:
            command: echo $$ > {pidfile}; sleep 120; touch ${{{{outputs.o}}}}
            timeout: 3s
            outputs:
              o: {{path: out.txt}}
        """)
    got = r.pipe(
        "run", "--executor", "ray", "--address", cluster["address"], "--store", str(tmp_path / "s"), env=cluster["env"]
    )
    assert got.code == 1, str(got)
    assert "timed out" in got.err
    assert _gone(int(pidfile.read_text()))


def test_a_venv_environment_is_built_on_the_node_from_the_shipped_requirements(cluster, tmp_path):
    from envsupport import pypi_reachable

    need(pypi_reachable(), "PyPI is not reachable: a venv cannot install packages here")
    r = Repo(tmp_path / "ws")
    r.root.mkdir()
    r.write("envs/req.txt", "six==1.16.0\n")
    r.pipefile("""
        environments:
          six: {type: venv, requirements: envs/req.txt}
        steps:
          a:
            command: python -c "import six, sys; print(six.__version__, sys.prefix)" > ${{outputs.o}}
            environment: six
            resources: {custom: {special_node: 1}}
            outputs: {o: out.txt}
        """)
    got = r.pipe(
        "run",
        "--executor",
        "ray",
        "--address",
        cluster["address"],
        "--store",
        str(tmp_path / "s"),
        env=cluster["env"],
        timeout=600,
    )
    assert got.code == 0, str(got)
    version, prefix = r.read("out.txt").split()
    assert version == "1.16.0"
    assert "node-second" in prefix  # built in the node's folder, not in the workspace's store
    assert not (r.root / ".pipe" / "store" / "envs").exists()


def test_a_no_op_and_a_restore_never_contact_the_cluster(tmp_path):
    """Needs no cluster: the address is one where nothing listens."""
    need(_HAVE_RAY, "ray is not installed")
    r = _workspace(tmp_path / "ws")
    r.pipe("run", check=True)
    bogus = ["--executor", "ray", "--address", "127.0.0.1:1"]
    assert {s["outcome"] for s in r.run_json(*bogus)["steps"]} == {"fresh"}
    (r.root / "out" / "table.csv").unlink()
    assert r.outcomes(*bogus)["prep"] == "restored"
    # What must run does contact it: an unreachable cluster is a clear error, before any step.
    r.write("data/c.txt", "3\n")
    got = r.pipe("run", *bogus)
    assert got.code == 2 and "cannot reach the Ray cluster at 127.0.0.1:1" in got.err, str(got)


def test_losing_the_head_fails_the_running_step_clearly_and_a_rerun_resumes(tmp_path):
    """Its own one-node cluster (its head is killed: the module's cluster goes on)."""
    need(_HAVE_RAY, "ray is not installed (pip install 'pipefile[ray]')")
    port = free_port()
    temp = tempfile.mkdtemp(prefix="ph", dir="/tmp")
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled", PIPE_RAY_GONE_AFTER="2")
    pidfile = tmp_path / "step.pid"
    r = Repo(tmp_path / "ws")
    r.root.mkdir()
    r.pipefile(f"""
        steps:
          first:
            command: echo one > ${{{{outputs.o}}}}
            outputs: {{o: first.txt}}
          second:
            command: >-
              if [ ! -e {pidfile} ]; then echo $$ > {pidfile}; sleep 120; fi; cp ${{{{inputs.i}}}} ${{{{outputs.o}}}}
            inputs: {{i: "${{{{steps.first.outputs.o}}}}"}}
            outputs: {{o: second.txt}}
        """)
    step_pid = None
    try:
        address = raylocal.start_node(temp, env, 1, head_port=port, node_dir=os.path.join(temp, "node"))
        p = _popen(r, "run", "--executor", "ray", "--address", address, "--store", str(tmp_path / "s"), env=env)
        try:
            step_pid = int(_wait_for(pidfile, 180))
            raylocal.stop(temp)  # the head, and with it the whole cluster
            out, err = p.communicate(timeout=90)
        finally:
            p.kill()
    finally:
        raylocal.stop(temp)
        if step_pid is not None:
            try:
                os.killpg(step_pid, signal.SIGKILL)  # (its worker was killed outright: nothing reaps it)
            except OSError:
                pass
        shutil.rmtree(temp, ignore_errors=True)
    assert p.returncode == 1, err
    assert "the Ray cluster went away" in err and f"127.0.0.1:{port}" in err, err
    assert "start the cluster again" in err, err
    assert not r.exists("second.txt")
    # Nothing of `second` was committed; `first` was (its output, read only on the cluster,
    # on the shared store): a rerun (here, without the cluster) resumes from there.
    assert r.outcomes("--executor", "local") == {"first": "restored", "second": "ran"}
    assert r.read("first.txt") == "one\n" and r.read("second.txt") == "one\n"


def test_a_pipefile_used_as_a_component_runs_in_its_folder_on_the_cluster(cluster, tmp_path):
    """Its inner steps (`use/INNER`) run where its relative paths mean what they say."""
    r = Repo(tmp_path / "ws")
    r.write(
        "child/Pipefile",
        """\
        assets:
          raw: {path: data.txt, input: true}
        steps:
          up:
            command: python3 up.py ${{inputs.raw}} ${{outputs.o}}
            inputs: {raw: "${{assets.raw}}"}
            code: [up.py]
            outputs: {o: {path: build/o.txt, output: true}}
        """,
    )
    r.write("child/up.py", "import sys\nopen(sys.argv[2], 'w').write(open(sys.argv[1]).read().upper())\n")
    r.write("child/data.txt", "own\n")
    r.pipefile("steps:\n  use: {component: ./child/Pipefile, outputs: {o: out/o.txt}}\n")
    store = tmp_path / "shared"
    got = r.pipe(
        "run", "--json", "--executor", "ray", "--address", cluster["address"], "--store", str(store), env=cluster["env"]
    )
    assert got.code == 0, str(got)
    assert {s["name"]: s["outcome"] for s in got.json["steps"]} == {"use/up": "ran"}
    assert r.read("out/o.txt") == "OWN\n"


def test_which_steps_land_their_outputs_here(tmp_path):
    """Needs no cluster: the targets' steps, else the final ones; and a step whose output
    another reads by a path inside it (hashed where it lies)."""
    import types

    from pipefile import graph as graph_mod
    from pipefile.executors.held import landing_steps
    from pipefile.load.document import load

    (tmp_path / "Pipefile").write_text("""
steps:
  a:
    command: mkdir -p ${{outputs.d}} && echo 1 > ${{outputs.d}}/x
    outputs: {d: {type: uri_folder, path: out/a}}
  b:
    command: cat out/a/x > ${{outputs.o}}
    inputs: {x: {type: uri_file, path: out/a/x}}
    outputs: {o: out/b.txt}
  c:
    command: cat ${{inputs.i}} > ${{outputs.o}}
    inputs: {i: "${{steps.b.outputs.o}}"}
    outputs: {o: out/c.txt}
  d:
    command: cat ${{inputs.i}} > ${{outputs.o}}
    inputs: {i: "${{steps.c.outputs.o}}"}
    outputs: {o: out/d.txt}
""")
    g = graph_mod.build(load(str(tmp_path / "Pipefile")), {}, check_exists=False)
    plan = types.SimpleNamespace(decisions={n: None for n in g.nodes})
    # a: read inside its folder by b; d: the final step. b and c: read only by digest.
    assert landing_steps(g, plan) == {"a", "d"}
    assert landing_steps(g, plan, ["c"]) == {"a", "c"}
    assert landing_steps(g, plan, ["out/b.txt"]) == {"a", "b"}


MAP = """
steps:
  each:
    foreach: {{over: "${{{{inputs.d}}}}", batch_size: 2}}
    inputs: {{d: data}}
    command: >-
      ls ${{{{inputs.d}}}} > ${{{{outputs.out}}}} &&
      for f in $(find -L ${{{{inputs.d}}}} -type f | sort); do cat $f >> ${{{{outputs.out}}}}; done
    outputs: {{out: out/batches/}}
  flaky:
    foreach: {{over: "${{{{inputs.d}}}}", retries: 1, error_threshold: 1}}
    inputs: {{d: items}}
    command: >-
      n=$(basename ${{{{inputs.d}}}}); if grep -q bad ${{{{inputs.d}}}}; then exit 4; fi;
      if [ ! -e {marks}/$n ]; then touch {marks}/$n; exit 3; fi; cp ${{{{inputs.d}}}} ${{{{outputs.out}}}}
    outputs: {{out: out/flaky/}}
  all:
    inputs: {{a: "${{{{steps.each.outputs.out}}}}", b: "${{{{steps.flaky.outputs.out}}}}"}}
    command: cat ${{{{inputs.a}}}}/* > ${{{{outputs.x}}}} && ls ${{{{inputs.b}}}} >> ${{{{outputs.x}}}}
    outputs: {{x: out/all.txt}}
"""


def _map_workspace(root: Path, marks: Path) -> Repo:
    root.mkdir(parents=True)
    marks.mkdir()
    r = Repo(root)
    r.pipefile(MAP.format(marks=marks))
    for n in ("a.txt", "b.txt", "c.txt", "e/x.txt", "e/y/z.txt"):  # e: a folder item, with a folder in it
        r.write(f"data/{n}", f"{n}\n")
    r.write("items/ok.txt", "ok\n")
    r.write("items/bad.txt", "bad\n")
    return r


def test_foreach_batches_retries_and_error_threshold_on_ray_match_a_local_run(cluster, tmp_path):
    """A batch task's folder is made on the worker from its items (which travel by digest);
    a flaky item's retry and a failure within error_threshold go as locally."""
    on_ray = _map_workspace(tmp_path / "ray", tmp_path / "ray-marks")
    got = on_ray.pipe(
        "run", "--json", "--executor", "ray", "--address", cluster["address"],
        "--store", str(tmp_path / "shared"), env=cluster["env"],
    )  # fmt: skip
    local = _map_workspace(tmp_path / "local", tmp_path / "local-marks")
    want = local.pipe("run", "--json")
    assert want.code == 0, str(want)
    assert got.code == 0, str(got)
    outcomes = {s["name"]: s["outcome"] for s in got.json["steps"]}
    assert outcomes == {s["name"]: s["outcome"] for s in want.json["steps"]}
    assert outcomes["each[batch-1]"] == outcomes["each[batch-2]"] == outcomes["all"] == "ran"
    assert outcomes["flaky[ok.txt]"] == "ran" and outcomes["flaky[bad.txt]"] == "failed"
    assert {s["worker"]["executor"] for s in got.json["steps"] if s["outcome"] == "ran"} == {"ray"}
    assert "flaky[ok.txt]: tried 2 times (1 failed first)" in got.out + got.err
    assert "flaky[bad.txt]: tried 2 times (each failed)" in got.out + got.err
    assert on_ray.read("out/all.txt") == local.read("out/all.txt")
    assert on_ray.read("out/all.txt") == "a.txt\nb.txt\na.txt\nb.txt\nc.txt\ne\nc.txt\ne/x.txt\ne/y/z.txt\nok.txt\n"


def test_gc_and_verify_keep_the_entries_of_outputs_left_on_the_shared_store(cluster, tmp_path):
    """An output left on the shared store (not in this workspace's store) is neither
    collected while the workspace refers to it, nor reported corrupt or missing."""
    store = tmp_path / "shared"
    r = _workspace(tmp_path / "ws")
    got = r.pipe("run", "--executor", "ray", "--address", cluster["address"], "--store", str(store), env=cluster["env"])
    assert got.code == 0, str(got)
    assert not r.exists("out/table.csv")  # prep's table: on the shared store only
    on_store = {p.name for p in store.rglob("*") if p.is_file()}
    gc = r.pipe("gc", "--json", check=True).json
    assert gc["deleted"]["cache_entries"] == 0, gc
    verify = r.pipe("verify", "--json", check=True).json
    assert verify["corrupt"] == [], verify
    assert "on-remote" in r.pipe("status", check=True).out or r.states()["prep"] == "restore"
    # Still restorable without the cluster, from what the store holds.
    (r.root / "out" / "report" / "flag").unlink()
    again = r.run_json("--executor", "ray", "--address", "127.0.0.1:1", env=cluster["env"])
    assert {s["name"]: s["outcome"] for s in again["steps"]}["report"] == "restored"
    again = r.run_json("prep", "--executor", "ray", "--address", "127.0.0.1:1", env=cluster["env"])
    assert {s["name"]: s["outcome"] for s in again["steps"]}["prep"] in ("restored", "fresh"), again
    assert r.read("out/table.csv") == "a.txt,1\nb.txt,2\n"
    assert {p.name for p in store.rglob("*") if p.is_file()} >= on_store
