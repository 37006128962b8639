"""Review of the Ray executor: faults found by trying it as a user would, each with the
test that failed before its fix. Tests that need a cluster start their own small one on
loopback (as tests/test_ray.py does); the others need none."""

from __future__ import annotations

from pathlib import Path

import pytest
from workspace_repo import Repo

# One xdist worker runs the Ray tests: their clusters are stopped by their own folders.
pytestmark = pytest.mark.xdist_group("ray")

ONE_STEP = """
steps:
  a:
    command: echo hi > ${{outputs.o}}
    outputs: {o: a.txt}
"""


def _repo(root: Path, text: str = ONE_STEP) -> Repo:
    root.mkdir(parents=True)
    r = Repo(root)
    r.pipefile(text)
    return r


def test_a_bad_gone_after_variable_is_a_usage_error_not_an_internal_one(tmp_path):
    """PIPE_RAY_GONE_AFTER was parsed at import: 'abc' ended the run with exit 70."""
    r = _repo(tmp_path / "ws")
    r.pipe("run", check=True)
    for bad in ("abc", "-1", "0"):
        got = r.pipe("run", "--executor", "ray", "--address", "127.0.0.1:1", env={"PIPE_RAY_GONE_AFTER": bad})
        assert got.code == 2, str(got)
        assert f"PIPE_RAY_GONE_AFTER='{bad}' is not a number of seconds" in got.err, str(got)
        assert "positive number" in got.err
    got = r.pipe("run", "--executor", "ray", "--address", "127.0.0.1:1", env={"PIPE_RAY_GONE_AFTER": "2.5"})
    assert got.code == 0, str(got)


def test_an_address_where_something_else_listens_is_refused_at_once(tmp_path):
    """The dashboard's port (an HTTP server), or a port that accepts and says nothing: the
    knock on the port passed, and ray.init waited there for minutes, saying nothing."""
    import http.server
    import socket
    import threading
    import time

    from servers import need

    try:
        import ray  # noqa: F401
    except ImportError:
        need(False, "ray is not installed (pip install 'pipefile[ray]')")

    class Quiet(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    http_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=http_server.serve_forever, daemon=True).start()
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    r = _repo(tmp_path / "ws")
    try:
        for port in (http_server.server_address[1], silent.getsockname()[1]):
            t0 = time.monotonic()
            got = r.pipe("run", "--executor", "ray", "--address", f"127.0.0.1:{port}", timeout=90)
            assert got.code == 2, str(got)
            assert f"cannot reach the Ray cluster at 127.0.0.1:{port}" in got.err, str(got)
            assert "does not answer as a Ray head does" in got.err and "6379" in got.err, str(got)
            assert time.monotonic() - t0 < 30
            assert not r.exists("a.txt")
    finally:
        http_server.shutdown()
        http_server.server_close()
        silent.close()


@pytest.fixture(scope="module")
def head():
    """A one-node cluster on loopback (2 CPUs, no GPU, no custom resource), stopped by its
    own folder (never `ray stop`, which stops every cluster of the machine)."""
    import os
    import shutil
    import tempfile

    from servers import free_port, need

    from benchmarks import raylocal

    need(shutil.which("ray") is not None, "ray is not installed (pip install 'pipefile[ray]')")
    temp = tempfile.mkdtemp(prefix="prr", dir="/tmp")
    env = dict(os.environ, **raylocal.RAY_ENV)
    try:
        client = free_port()  # (Ray Client's, not the default 10001 another cluster may hold)
        address = raylocal.start_node(
            temp,
            env,
            2,
            head_port=free_port(),
            node_dir=os.path.join(temp, "node"),
            extra=("--ray-client-server-port", str(client)),
        )
        yield {"address": address, "env": env, "temp": temp, "client": f"ray://127.0.0.1:{client}"}
    finally:
        raylocal.stop(temp)
        shutil.rmtree(temp, ignore_errors=True)


def _on(head: dict, tmp_path: Path) -> list:
    return ["--executor", "ray", "--address", head["address"], "--store", str(tmp_path / "shared")]


def test_sigterm_stops_the_steps_on_the_cluster_as_ctrl_c_does(head, tmp_path):
    """ray.init put its own SIGTERM handler in (sys.exit(15)): `kill` of a run on the cluster
    ended pipe with exit 15, the job not recorded interrupted, instead of as Ctrl-C."""
    import os
    import signal
    import subprocess
    import sys
    import time

    pidfile = tmp_path / "step.pid"
    r = _repo(
        tmp_path / "ws",
        f"""
        steps:
          long:
            command: echo $$ > {pidfile}; sleep 120; echo never > ${{{{outputs.o}}}}
            outputs: {{o: out.txt}}
        """,
    )
    p = subprocess.Popen(
        [sys.executable, "-m", "pipefile", "run", *_on(head, tmp_path)],
        cwd=r.root,
        env=dict(head["env"], PIPE_PLAIN="1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        end = time.monotonic() + 120
        while not (pidfile.exists() and pidfile.read_text().strip()) and time.monotonic() < end:
            time.sleep(0.1)
        pid = int(pidfile.read_text())
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=60)
    finally:
        p.kill()
    assert p.returncode == 130, f"exit {p.returncode}\n{out}\n{err}"
    end = time.monotonic() + 20
    while time.monotonic() < end:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the step's process outlived SIGTERM")
    assert not r.exists("out.txt")
    jobs = r.pipe("jobs", "show", "1", "--json", check=True).json
    assert jobs["status"] == "interrupted", jobs


def test_a_request_no_node_can_hold_fails_clearly_instead_of_hanging(head, tmp_path):
    """Ray keeps such a task pending forever: the run hung, silently."""
    r = _repo(
        tmp_path / "ws",
        """
        steps:
          typo:
            command: echo x > ${{outputs.o}}
            resources: {custom: {nosuch_node: 1}}
            outputs: {o: typo.txt}
          gpu:
            command: echo x > ${{outputs.o}}
            resources: {gpus: 1}
            outputs: {o: gpu.txt}
          fine:
            command: echo ok > ${{outputs.o}}
            outputs: {o: fine.txt}
        """,
    )
    env = dict(head["env"], PIPE_RAY_UNPLACED_AFTER="3")
    got = r.pipe("run", "-k", *_on(head, tmp_path), env=env, timeout=150)
    assert got.code == 1, str(got)
    assert "no node of the Ray cluster can run it: it asks for CPU 1, nosuch_node 1" in got.err, str(got)
    assert "it asks for CPU 1, GPU 1" in got.err, str(got)
    assert "PIPE_RAY_UNPLACED_AFTER" in got.err
    assert r.read("fine.txt") == "ok\n"
    assert not r.exists("typo.txt") and not r.exists("gpu.txt")
    assert "waiting up to 3s for one to join" in r.read(".pipe/jobs/1/typo.log")


def _peak_kb(r: Repo, args: list, env: dict) -> tuple:
    """(exit code, the highest resident size of `pipe ARGS` in KB): a wrapper waits for it,
    its output thrown away (a flood of log would fill the test's memory instead)."""
    import os
    import subprocess
    import sys

    code = (
        "import resource, subprocess, sys\n"
        "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode\n"
        "print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    e = dict(os.environ, **env, PIPE_PLAIN="1")
    out = subprocess.run(
        [sys.executable, "-c", code, sys.executable, "-m", "pipefile", *args],
        cwd=r.root,
        env=e,
        capture_output=True,
        text=True,
        timeout=300,
    )
    rc, kb = out.stdout.split()
    return int(rc), int(kb)


def test_a_flood_of_log_comes_back_in_bounded_pieces(head, tmp_path):
    """The worker sent all the log a command wrote between two looks (and all it wrote
    after the last one) as one piece: 400 MB printed at once was one 400 MB object, in the
    worker's memory, the object store's and the caller's."""
    size = 400_000_000
    small = _repo(tmp_path / "small", ONE_STEP)
    rc, base = _peak_kb(small, ["run", *_on(head, tmp_path)], head["env"])
    assert rc == 0
    r = _repo(
        tmp_path / "ws",
        f"""
        steps:
          loud:
            command: head -c {size} /dev/zero; echo done > ${{{{outputs.o}}}}
            outputs: {{o: loud.txt}}
        """,
    )
    rc, peak = _peak_kb(r, ["run", *_on(head, tmp_path)], head["env"])
    assert rc == 0
    assert r.read("loud.txt") == "done\n"
    assert os_size(r.root / ".pipe" / "jobs" / "1" / "loud.log") == size  # all of it, in order
    # KB: one piece at a time (and the object store's pages read), not the 400 MB at once
    # (about 780 MB more than the one-line run before the fix; about 110 MB after).
    assert peak - base < 300_000, (base, peak)


def os_size(p: Path) -> int:
    return p.stat().st_size


EMPTY_FOLDERS = """
steps:
  mk:
    command: mkdir -p ${{outputs.d}}
    outputs: {d: {type: uri_folder, path: out/d}}
  use:
    command: ls ${{inputs.d}} | wc -l > ${{outputs.o}}
    inputs: {d: "${{steps.mk.outputs.d}}"}
    outputs: {o: out/n.txt}
  last:
    command: "true"
    outputs: {e: {type: uri_folder, path: out/empty}}
"""


def test_an_empty_folder_output_is_an_output_on_the_cluster_as_locally(head, tmp_path):
    """A folder output the command left empty is a good output locally; on the cluster, one
    left on the shared store (read only by a step there) failed `did not write its output`."""
    local = _repo(tmp_path / "local", EMPTY_FOLDERS)
    want = local.pipe("run", "--json")
    assert want.code == 0, str(want)
    r = _repo(tmp_path / "ws", EMPTY_FOLDERS)
    got = r.pipe("run", "--json", *_on(head, tmp_path), env=head["env"])
    assert got.code == 0, str(got)
    assert {s["name"]: s["outcome"] for s in got.json["steps"]} == {"mk": "ran", "use": "ran", "last": "ran"}
    assert r.read("out/n.txt") == local.read("out/n.txt") == "0\n"
    assert (r.root / "out" / "empty").is_dir()
    # Committed: a second run runs nothing; `mk`'s folder comes back when asked for.
    again = r.pipe("run", "--json", "mk", *_on(head, tmp_path), env=head["env"])
    assert again.code == 0, str(again)
    assert {s["name"]: s["outcome"] for s in again.json["steps"]}["mk"] in ("restored", "fresh"), str(again)
    assert (r.root / "out" / "d").is_dir()


def test_a_ray_client_or_dashboard_address_is_refused_naming_the_head_address(head, tmp_path):
    """A ray:// address (Ray Client) failed each step with `internal error: RuntimeError
    ('Streaming ... not supported when using Ray Client')`; an http:// one was Ray's to
    interpret."""
    r = _repo(tmp_path / "ws")
    for address in (head["client"], "http://" + head["address"]):
        got = r.pipe("run", "--executor", "ray", "--address", address, env=head["env"], timeout=90)
        assert got.code == 2, str(got)
        assert f"cannot run steps on the Ray cluster at {address}" in got.err, str(got)
        assert "HOST:PORT" in got.err and "6379" in got.err, str(got)
        assert not r.exists("a.txt")


def test_a_store_folder_that_cannot_be_made_is_a_clear_error(head, tmp_path):
    """--store naming a folder that cannot be made (under /proc) ended the run with exit 70
    (FileNotFoundError from making the store's layout)."""
    r = _repo(tmp_path / "ws")
    got = r.pipe(
        "run", "--executor", "ray", "--address", head["address"], "--store", "/proc/nope/store", env=head["env"]
    )
    assert got.code == 2, str(got)
    assert "cannot use the shared store" in got.err and "/proc/nope" in got.err, str(got)
    assert "--store" in got.err and "internal error" not in got.err
    assert not r.exists("a.txt")


def _holding(temp: str) -> list:
    """Live processes with a file under `temp` open (what a stopped cluster must not leave)."""
    import os

    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if not f.read():  # (exiting: its files are being closed)
                    continue
            links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        except OSError:
            continue
        if any(link.startswith(temp + "/") for link in links):
            out.append(int(pid))
    return out


def test_stopping_a_test_cluster_leaves_none_of_its_processes():
    """benchmarks/raylocal.stop found a cluster's processes by their command line, and the
    dashboard and runtime-env agents retitle themselves (`ray::DashboardAgent`): each test
    module left them running (they ignore SIGTERM)."""
    import os
    import shutil
    import signal
    import tempfile
    import time

    from servers import free_port, need

    from benchmarks import raylocal

    need(shutil.which("ray") is not None, "ray is not installed (pip install 'pipefile[ray]')")
    temp = tempfile.mkdtemp(prefix="prs", dir="/tmp")
    env = dict(os.environ, **raylocal.RAY_ENV)
    try:
        raylocal.start_node(temp, env, 1, head_port=free_port())
        raylocal.stop(temp)
        end = time.monotonic() + 10
        while _holding(temp) and time.monotonic() < end:  # (those killed take a moment to go)
            time.sleep(0.2)
        left = _holding(temp)
        assert left == [], [Path(f"/proc/{p}/cmdline").read_bytes()[:80] for p in left]
    finally:
        for pid in _holding(temp):
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(temp, ignore_errors=True)


FOLDER_READ_ON_THE_CLUSTER = """
steps:
  many:
    command: mkdir -p ${{outputs.d}}/sub && for i in 1 2 3; do echo $i > ${{outputs.d}}/sub/f$i.txt; done
    outputs: {d: {type: uri_folder, path: out/many}}
  use:
    command: cat ${{inputs.d}}/sub/*.txt > ${{outputs.o}}
    inputs: {d: "${{steps.many.outputs.d}}"}
    outputs: {o: out/all.txt}
"""


def test_a_folder_output_left_on_the_store_is_read_by_the_next_step(head, tmp_path):
    """Staging made an empty folder at the path of a folder output left on the shared
    store, and it stayed there: the step of the run that read it hashed that empty folder
    and failed `modified its own input 'out/many'` (only an empty folder output passed)."""
    local = _repo(tmp_path / "local", FOLDER_READ_ON_THE_CLUSTER)
    assert local.pipe("run").code == 0
    r = _repo(tmp_path / "ws", FOLDER_READ_ON_THE_CLUSTER)
    got = r.pipe("run", "--json", *_on(head, tmp_path), env=head["env"])
    assert got.code == 0, str(got)
    assert {s["name"]: s["outcome"] for s in got.json["steps"]} == {"many": "ran", "use": "ran"}
    assert r.read("out/all.txt") == local.read("out/all.txt") == "1\n2\n3\n"
    assert not r.exists("out/many")  # left on the store: nothing (not an empty folder) here
    again = r.pipe("run", "--json", *_on(head, tmp_path), env=head["env"])
    assert again.code == 0, str(again)
    # Committed: nothing runs again; asked for, the folder comes back from the store.
    assert {s["name"]: s["outcome"] for s in again.json["steps"]} == {"many": "on-remote", "use": "fresh"}, str(again)
    back = r.pipe("run", "many", *_on(head, tmp_path), env=head["env"])
    assert back.code == 0, str(back)
    assert r.read("out/many/sub/f2.txt") == "2\n"


SERIES = """
steps:
  train:
    sweep:
      search: grid
      max_parallel: 1
      space:
        x: {choice: [2, 1, 3, 4]}
      objective: {metric: loss, goal: minimize}
      early_termination: {policy: median_stopping, evaluation_interval: 1, delay_evaluation: 2}
    inputs:
      x: {type: number}
    command: >-
      python3 -c "import json, sys, time; from pipefile import log_metric; x = ${{inputs.x}};
      [log_metric('loss', x + 1 / (s + 1), step=s) for s in range(3)]; time.sleep(3);
      json.dump({'loss': x}, open(sys.argv[1], 'w'))" ${{outputs.metrics}}
    outputs:
      metrics: build/trials.json
    metrics: build/trials.json
"""


def test_a_series_streamed_on_a_node_is_recorded_and_early_termination_judges_it(head, tmp_path):
    """The worker ran the command without PIPE_METRICS_STREAM: `pipefile.log_metric` said
    'not inside a pipe step' and recorded nothing, so the job had no series (`pipe metrics
    curve`) and a sweep's early_termination never stopped a trial on the cluster (every
    trial ran to its end). Now the stream comes back as it is written, beside the step's log:
    the same outcomes and curves as a local run."""
    local = _repo(tmp_path / "local", SERIES)
    want = local.pipe("run", "--json")
    assert want.code == 0, str(want)
    r = _repo(tmp_path / "ws", SERIES)
    got = r.pipe("run", "--json", *_on(head, tmp_path), env=head["env"], timeout=300)
    assert got.code == 0, str(got)
    outcomes = {s["name"]: s["outcome"] for s in got.json["steps"]}
    assert outcomes == {s["name"]: s["outcome"] for s in want.json["steps"]}, str(got)
    assert outcomes["train[trial-3]"] == outcomes["train[trial-4]"] == "stopped", str(got)
    assert "not inside a pipe step" not in got.err
    for repo in (r, local):
        curve = repo.pipe("metrics", "curve", "1", "train[trial-1].loss", "--json", check=True).json
        assert [(p["step"], p["value"]) for p in curve["points"]] == [(0, 3.0), (1, 2.5), (2, 2 + 1 / 3)]
    assert sorted(p.name for p in (r.root / "build" / "trials.json").iterdir()) == ["trial-1", "trial-2"]


METRICS_FILE_READ_ON_THE_CLUSTER = """
steps:
  train:
    command: >-
      echo model > ${{outputs.model}} && echo '{"acc": 0.9}' > ${{outputs.m}}
    outputs: {model: out/model.bin, m: out/metrics.json}
    metrics: [out/metrics.json]
  use:
    command: cat ${{inputs.model}} > ${{outputs.o}}
    inputs: {model: "${{steps.train.outputs.model}}"}
    outputs: {o: out/used.txt}
"""


def test_a_step_with_metrics_files_lands_them_so_the_job_records_them(head, tmp_path):
    """A step with `metrics:` files that only cluster steps read had its outputs left on the
    shared store: the job read its metrics files from the workspace, found nothing
    ('metrics file ... cannot be read: No such file') and recorded none of them."""
    r = _repo(tmp_path / "ws", METRICS_FILE_READ_ON_THE_CLUSTER)
    got = r.pipe("run", *_on(head, tmp_path), env=head["env"])
    assert got.code == 0, str(got)
    assert "cannot be read" not in got.err, str(got)
    shown = r.pipe("metrics", "show", "1", "--json", check=True).json
    assert shown["jobs"][0]["metrics"] == {"train.acc": 0.9}, shown
    assert r.read("out/metrics.json") == '{"acc": 0.9}\n'


def test_with_a_default_remote_other_than_the_store_every_output_lands(head, tmp_path):
    """Outputs left on a --store are found by later runs through .pipe/ray-store only where
    the workspace has no default remote (later runs consult that instead): with one, the
    store's outputs were lost to them, and `pipe status` said `run` for those steps and the
    next run ran them again with nothing changed."""
    r = _repo(
        tmp_path / "ws",
        """
        steps:
          a:
            command: echo A > ${{outputs.o}}
            outputs: {o: a.txt}
          b:
            command: cat ${{inputs.x}} ${{inputs.x}} > ${{outputs.o}}
            inputs: {x: "${{steps.a.outputs.o}}"}
            outputs: {o: b.txt}
        """,
    )
    r.pipe("remote", "add", "team", str(tmp_path / "team"), "--default", check=True)
    got = r.pipe("run", *_on(head, tmp_path), env=head["env"])
    assert got.code == 0, str(got)
    status = r.pipe("status", env=head["env"])
    assert status.code == 0 and "all 2 steps up to date" in status.out + status.err, str(status)
    assert r.read("a.txt") == "A\n" and r.read("b.txt") == "A\nA\n"
    r.write("b.txt", "edited\n")
    again = r.pipe("run", "--json", *_on(head, tmp_path), env=head["env"])
    assert again.code == 0, str(again)
    assert {s["name"]: s["outcome"] for s in again.json["steps"]} == {"a": "fresh", "b": "restored"}, str(again)


AZURE_STEP = """
steps:
  train:
    render: azureml
    code: [src]
    command: python3 train.py ${{outputs.model}}
    outputs:
      model: {type: uri_folder, path: out/model}
      artifacts: {type: uri_folder, path: out/artifacts}
"""

TRAIN = """
import os, sys
os.makedirs(sys.argv[1], exist_ok=True)
open(os.path.join(sys.argv[1], "m.txt"), "w").write(os.path.basename(os.getcwd()) + "\\n")
open("outputs/note.txt", "w").write("note\\n")
"""


def test_an_imported_azure_ml_step_runs_on_the_cluster_as_locally(head, tmp_path):
    """An imported Azure ML step (render: azureml) runs in a fresh copy of its code with
    ./outputs kept in its artifacts output; on the cluster it ran in the workspace's copy
    (python: can't open file '.../ws/train.py', exit 1), the working folder made on the
    caller, and the caller's empty ./outputs would have been moved over the node's."""
    files = {}
    for name, args in (("local", []), ("ws", _on(head, tmp_path))):
        r = _repo(tmp_path / name, AZURE_STEP)
        r.write("src/train.py", TRAIN)
        got = r.pipe("run", *args, env=head["env"])
        assert got.code == 0, str(got)
        out = r.root / "out"
        files[name] = {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    assert files["ws"] == files["local"], files
    assert files["ws"]["model/m.txt"] == b"code\n" and files["ws"]["artifacts/outputs/note.txt"] == b"note\n"


def test_an_unchanged_rerun_on_the_cluster_downloads_nothing_left_on_the_store(head, tmp_path):
    """A run on the cluster with no targets lands its final steps' outputs and leaves the
    others on the shared store; the next run with no targets asked for every step, so an
    unchanged rerun downloaded all of those (hundreds of MB of intermediates, each time)."""
    r = _repo(
        tmp_path / "ws",
        """
        steps:
          big:
            command: head -c 3000000 /dev/urandom > ${{outputs.o}}
            outputs: {o: big.bin}
          use:
            command: wc -c < ${{inputs.b}} > ${{outputs.o}}
            inputs: {b: "${{steps.big.outputs.o}}"}
            outputs: {o: use.txt}
        """,
    )
    assert r.pipe("run", *_on(head, tmp_path), env=head["env"]).code == 0
    assert not r.exists("big.bin") and r.read("use.txt").strip() == "3000000"
    again = r.pipe("run", "--json", *_on(head, tmp_path), env=head["env"])
    assert again.code == 0, str(again)
    assert {s["name"]: s["outcome"] for s in again.json["steps"]} == {"big": "on-remote", "use": "fresh"}, str(again)
    assert not r.exists("big.bin") and "downloaded " not in again.err.replace("not downloaded", "")
    # Asked for, it comes back.
    got = r.pipe("run", "big", *_on(head, tmp_path), env=head["env"])
    assert got.code == 0 and (r.root / "big.bin").stat().st_size == 3000000, str(got)


@pytest.fixture(scope="module")
def token_head():
    """A one-node cluster on loopback that requires Ray's authentication token (newer Ray's
    RAY_AUTH_MODE=token), its node manager on a known port (another of Ray's ports, no head)."""
    import os
    import shutil
    import tempfile

    from servers import free_port, need

    from benchmarks import raylocal

    need(shutil.which("ray") is not None, "ray is not installed (pip install 'pipefile[ray]')")
    try:
        from ray._raylet import AuthenticationTokenLoader  # noqa: F401
    except ImportError:
        need(False, "this Ray has no token authentication")
    temp = tempfile.mkdtemp(prefix="prt", dir="/tmp")
    token = "0123456789abcdef" * 4
    # HOME: no ~/.ray/auth_token of the user's is read, nor one written by Ray.
    env = dict(os.environ, **dict(raylocal.RAY_ENV, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token, HOME=temp))
    node_port = free_port()
    try:
        address = raylocal.start_node(
            temp,
            env,
            1,
            head_port=free_port(),
            node_dir=os.path.join(temp, "node"),
            extra=("--ray-client-server-port", str(free_port()), "--node-manager-port", str(node_port)),
        )
        yield {"address": address, "env": env, "token": token, "node_port": node_port, "home": temp}
    finally:
        raylocal.stop(temp)
        shutil.rmtree(temp, ignore_errors=True)


def test_a_cluster_refusing_the_token_is_told_at_once_and_exit_2(token_head, tmp_path):
    """A head that requires a token, given none, a wrong one, or one Ray does not send
    (RAY_AUTH_MODE unset here): ray.init retried for about 20 s, printing a line of its own a
    second, then pipe said `cannot reach the Ray cluster ... Failed to connect`, naming no
    token; RAY_AUTH_MODE=token with no token at all was an internal error (exit 70). Another
    of Ray's ports (a node manager's: gRPC, no head) took as long."""
    import time

    r = _repo(tmp_path / "ws")
    args = ["run", "--executor", "ray", "--address", token_head["address"], "--store", str(tmp_path / "shared")]
    # (no RAY_AUTH_*: what is asked of each case is set below; HOME has no token file)
    base = {k: v for k, v in token_head["env"].items() if not k.startswith("RAY_AUTH")}
    cases = [
        ({"RAY_AUTH_MODE": "token"}, "authentication token"),  # (said by Ray, as it sees none)
        ({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "f" * 64}, "refused the one given (from RAY_AUTH_TOKEN)"),
        ({"RAY_AUTH_TOKEN": token_head["token"]}, "RAY_AUTH_MODE is not 'token' here"),
        ({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(tmp_path / "none")}, "RAY_AUTH_TOKEN_PATH is set"),
    ]
    for extra, said in cases:
        t0 = time.monotonic()
        got = r.pipe(*args, env=dict(base, **extra), timeout=90)
        took = time.monotonic() - t0
        assert got.code == 2, f"{extra}: {got}"
        assert said in got.err and "ray get-auth-token" in got.err, f"{extra}: {got}"
        assert "gcs_client" not in got.err, f"{extra}: Ray's own retries were printed: {got}"
        assert took < 15, f"{extra}: {took:.1f}s"
        assert not r.exists("a.txt")
    t0 = time.monotonic()
    got = r.pipe("run", "--executor", "ray", "--address", f"127.0.0.1:{token_head['node_port']}", env=base, timeout=90)
    assert got.code == 2 and "does not answer as a Ray head does" in got.err, str(got)
    assert time.monotonic() - t0 < 15
    got = r.pipe(*args, env=dict(base, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token_head["token"]), timeout=120)
    assert got.code == 0 and r.read("a.txt") == "hi\n", str(got)


def test_a_token_file_here_leaves_a_cluster_without_tokens_working(head, tmp_path):
    """The token check looked for a token file regardless of RAY_AUTH_MODE before ray.init;
    Ray kept it loaded, and the driver's own server then refused every step's streamed result
    from a cluster without tokens (`Missing authorization header`): the run hung."""
    home = tmp_path / "home"
    (home / ".ray").mkdir(parents=True)
    (home / ".ray" / "auth_token").write_text("0123456789abcdef" * 4)
    r = _repo(tmp_path / "ws")
    got = r.pipe("run", *_on(head, tmp_path), env=dict(head["env"], HOME=str(home)), timeout=90)
    assert got.code == 0 and r.read("a.txt") == "hi\n", str(got)


def _stop_while(r: Repo, args: list, env: dict, started, sig) -> tuple:
    """Run `pipe run ARGS`, send `sig` once `started()` holds; (exit code, seconds it took to stop)."""
    import subprocess
    import sys
    import time

    p = subprocess.Popen(
        [sys.executable, "-m", "pipefile", "run", *args],
        cwd=r.root,
        env=dict(env, PIPE_PLAIN="1"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        end = time.monotonic() + 240
        while not started() and p.poll() is None and time.monotonic() < end:
            time.sleep(0.05)
        assert p.poll() is None, "the run ended before the transfer was seen"
        p.send_signal(sig)
        t0 = time.monotonic()
        rc = p.wait(timeout=120)
        return rc, time.monotonic() - t0
    finally:
        p.kill()


def _files_in(folder: Path) -> list:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def test_ctrl_c_or_sigterm_mid_transfer_stops_at_once_leaving_no_object(head, tmp_path):
    """Ctrl-C while a step's input was being uploaded to the shared store (or SIGTERM while
    its output was being downloaded) waited for the transfer to end: gigabytes, half a
    minute here, before the run stopped."""
    import os
    import signal

    shared = tmp_path / "shared"
    up = _repo(
        tmp_path / "up",
        """
        steps:
          a:
            command: wc -c < ${{inputs.d}} > ${{outputs.o}}
            inputs: {d: data.bin}
            outputs: {o: a.txt}
        """,
    )
    with open(up.root / "data.bin", "wb") as f:
        f.truncate(2 << 30)  # (sparse here: only its copies cost)
    # (an object's temp file: not the store's layout file, written through tmp/ when it is made)
    uploading = lambda: any(not p.name.startswith("pipe-remote") for p in _files_in(shared / "tmp"))  # noqa: E731
    rc, took = _stop_while(up, _on(head, tmp_path), head["env"], uploading, signal.SIGINT)
    assert rc == 130 and took < 10, (rc, took)
    assert not _files_in(shared / "objects") and not _files_in(shared / "tmp")
    assert not up.exists("a.txt")
    assert up.pipe("jobs", "show", "1", "--json", check=True).json["status"] == "interrupted"

    down = _repo(
        tmp_path / "down",
        """
        steps:
          a:
            command: truncate -s 2G ${{outputs.o}}
            outputs: {o: big.bin}
        """,
    )
    tmp = down.root / ".pipe" / "store" / "tmp"
    downloading = lambda: any(p.name.startswith("dl-") for p in _files_in(tmp))  # noqa: E731
    rc, took = _stop_while(down, _on(head, tmp_path), head["env"], downloading, signal.SIGTERM)
    assert rc == 130 and took < 10, (rc, took)
    assert not down.exists("big.bin") and not _files_in(tmp)
    assert not [p for p in _files_in(down.root / ".pipe" / "store" / "objects") if os.path.getsize(p) >= 1 << 30]
    assert down.pipe("jobs", "show", "1", "--json", check=True).json["status"] == "interrupted"


def test_a_dsl_step_imports_from_the_workspace_folders_on_pythonpath_on_the_cluster(head, tmp_path):
    """A DSL step whose function imports a module of the workspace's `src/`, found here
    through PYTHONPATH: the module travels with the step (its key holds it), but the node ran
    the step with its own PYTHONPATH only: ModuleNotFoundError there, the step ok locally."""
    import os

    r = _repo(tmp_path / "ws", "")
    (r.root / "Pipefile").unlink()
    r.write("src/mylib.py", "def twice(x):\n    return 2 * x\n")
    r.write("pipes/__init__.py", "")
    r.write(
        "pipes/steps.py",
        """
        from pipefile import dsl


        @dsl.command_component
        def make(out: dsl.Output(type="uri_file")):
            from mylib import twice

            with open(out, "w") as f:
                f.write(f"{twice(21)}\\n")
        """,
    )
    r.write(
        "build.py",
        """
        from pipes.steps import make

        from pipefile import dsl


        @dsl.pipeline(name="p")
        def p():
            m = make()
            m.outputs.out.path = "out.txt"


        pipeline = p()
        """,
    )
    env = dict(head["env"], PYTHONPATH=os.pathsep.join([head["env"].get("PYTHONPATH", ""), str(r.root / "src")]))
    got = r.pipe("run", "-f", "build.py", *_on(head, tmp_path), env=env, timeout=120)
    assert got.code == 0 and r.read("out.txt") == "42\n", str(got)
    # The same key as a local run: nothing runs again here.
    again = r.run_json("-f", "build.py", env=env)
    assert [s["outcome"] for s in again["steps"]] == ["fresh"], again


def test_a_worker_whose_transfer_a_cancelled_task_interrupted_transfers_again(tmp_path):
    """The worker process keeps its shared store's client for the tasks it runs; a task
    cancelled mid-transfer (a sweep trial stopped early) left it interrupted, and each later
    task on that worker failed with 'could not fetch its inputs: transfers stopped
    (interrupted)'. (No cluster: the worker's own client cache, in this process.)"""
    from pipefile.cache.content_store import ContentStore
    from pipefile.executors import ray_worker
    from pipefile.remote.config import RemoteSpec

    spec = RemoteSpec("shared", str(tmp_path / "shared"))
    first = ray_worker._remote(spec)
    first.ensure_layout()
    here = ContentStore(str(tmp_path / "here"))
    digest = here.put_bytes(b"an input\n")
    assert not first.upload(here, [digest]).failed
    first.cancel()  # (as a cancelled task's interrupted transfer leaves it)
    node = ContentStore(str(tmp_path / "node"))
    got = ray_worker._remote(spec).download(node, [digest])
    assert not got.failed, got.failed[0][1].render()
    assert node.read(digest) == b"an input\n"


def test_a_retry_after_its_node_died_fails_clearly_when_no_node_left_can_hold_it(tmp_path):
    """A step whose request only one node could hold, that node killed under it (kill -9 of
    its raylet): the retry was submitted unwatched (its request had been placed once), and
    Ray left it pending forever, the run hung. It is watched again, and fails once no live
    node could hold it for PIPE_RAY_UNPLACED_AFTER seconds; --json's summary stays JSON. Its
    own cluster (a node is killed)."""
    import json
    import os
    import shutil
    import signal
    import tempfile
    import time

    from servers import free_port, need
    from workspace_repo import PIPE

    from benchmarks import raylocal

    need(shutil.which("ray") is not None, "ray is not installed (pip install 'pipefile[ray]')")
    temp = tempfile.mkdtemp(prefix="prn", dir="/tmp")
    env = dict(os.environ, **raylocal.RAY_ENV, PIPE_RAY_UNPLACED_AFTER="3", PIPE_PLAIN="1")
    marks = tmp_path / "marks"
    marks.mkdir()
    r = _repo(
        tmp_path / "ws",
        f"""
        steps:
          there:
            command: echo $PPID > {marks}/worker; echo $$ > {marks}/step; sleep 120; echo x > ${{{{outputs.o}}}}
            outputs: {{o: there.txt}}
            resources: {{custom: {{only_there: 1}}}}
        """,
    )
    import subprocess

    step = None
    try:
        address = raylocal.start_node(temp, env, 1, head_port=free_port(), node_dir=os.path.join(temp, "n1"))
        raylocal.start_node(
            temp, env, 1, address=address, resources={"only_there": 1}, node_dir=os.path.join(temp, "n2")
        )
        args = ["run", "--json", "--executor", "ray", "--address", address, "--store", str(tmp_path / "shared")]
        p = subprocess.Popen(
            PIPE + args, cwd=r.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            end = time.monotonic() + 180
            while not (marks / "step").exists() or not (marks / "step").read_text().strip():
                assert time.monotonic() < end and p.poll() is None, "the step never started"
                time.sleep(0.1)
            step = int((marks / "step").read_text())
            worker = (marks / "worker").read_text().strip()
            with open(f"/proc/{worker}/stat") as f:
                raylet = int(f.read().rsplit(")", 1)[1].split()[1])  # (the worker's parent)
            with open(f"/proc/{raylet}/cmdline", "rb") as f:
                assert b"raylet" in f.read()
            os.kill(raylet, signal.SIGKILL)
            out, err = p.communicate(timeout=150)  # (hung before: Ray kept the retry pending)
        finally:
            p.kill()
    finally:
        raylocal.stop(temp)
        if step is not None:
            try:
                os.killpg(step, signal.SIGKILL)  # (its worker died with the node: nothing reaps it)
            except OSError:
                pass
        shutil.rmtree(temp, ignore_errors=True)
    assert p.returncode == 1, err
    assert "no node of the Ray cluster can run it" in err and "only_there 1" in err, err
    # What Ray's driver prints of the dead node (its raylet's last log lines) went to stdout,
    # before the summary: --json's was no JSON any more.
    assert json.loads(out)["steps"][0]["outcome"] == "failed", out[:2000]
    log = r.read(".pipe/jobs/1/there.log")
    assert "attempt 1 of 2: the executor failed under it" in log, log
    assert not r.exists("there.txt")


def test_ctrl_c_while_a_large_input_is_stored_here_stops_at_once_leaving_nothing(head, tmp_path):
    """Before its upload, a step's input is copied into the content store here: Ctrl-C during
    that copy (a gigabyte, over ten seconds on a slow disk) waited for it to end."""
    import signal

    r = _repo(
        tmp_path / "ws",
        """
        steps:
          a:
            command: wc -c < ${{inputs.d}} > ${{outputs.o}}
            inputs: {d: data.bin}
            outputs: {o: a.txt}
        """,
    )
    with open(r.root / "data.bin", "wb") as f:
        f.truncate(1 << 30)  # (sparse here: only its copy costs)
    tmp = r.root / ".pipe" / "store" / "tmp"
    copying = lambda: any(p.name.startswith("obj-") and p.stat().st_size > 0 for p in _files_in(tmp))  # noqa: E731
    rc, took = _stop_while(r, _on(head, tmp_path), head["env"], copying, signal.SIGINT)
    assert rc == 130 and took < 5, (rc, took)
    assert not _files_in(tmp), _files_in(tmp)
    assert not [p for p in _files_in(r.root / ".pipe" / "store" / "objects") if p.stat().st_size >= 1 << 30]
    assert not _files_in(tmp_path / "shared" / "objects")
    assert not r.exists("a.txt")
    assert r.pipe("jobs", "show", "1", "--json", check=True).json["status"] == "interrupted"


def test_a_node_whose_folder_cannot_be_made_fails_the_step_naming_it_and_the_fix(tmp_path, monkeypatch):
    """A node whose PIPE_RAY_NODE_DIR cannot be made (a path under a file, a full or read-only
    disk) failed every step with 'failed on the worker: NotADirectoryError: [Errno 20] Not a
    directory: ...', naming neither the node, nor the variable, nor the fix. (No cluster: the
    task's function, in this process, its node named as Ray would.)"""
    from pipefile.executors import ray_worker

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("PIPE_RAY_NODE_DIR", str(blocker / "node"))
    monkeypatch.setattr(ray_worker, "_node_dir", None)
    monkeypatch.setattr(ray_worker, "_here", {"node": "n1", "host": "worker-7"})  # (Ray's runtime context)
    kind, got = next(ray_worker.run_step({"step": "a"}))
    assert kind == "done" and got["host"] == "worker-7", got
    assert got["error"].startswith(
        f"on node worker-7: cannot use the node's folder {blocker / 'node'} (PIPE_RAY_NODE_DIR)"
    )
    assert "Not a directory" in got["error"] and "a folder it can write" in got["error"], got["error"]
