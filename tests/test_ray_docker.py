"""Docker environments on the Ray executor, for real: the two-node cluster of test_ray.py (a
local-path shared store) and this machine's Docker daemon, which both nodes use. Images are
built FROM a busybox root file system imported here (no registry is reachable). Ray or Docker
missing skips, unless PIPE_CI_REQUIRE_SERVICES=1 (CI), where it fails."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

import pytest
from servers import free_port
from test_envs_docker import TAG, busybox, docker  # noqa: F401 - fixtures: the daemon, the test image
from test_ray import _files, _popen, _wait_for, cluster  # noqa: F401 - cluster: a fixture
from workspace_repo import Repo

from benchmarks import raylocal

pytestmark = pytest.mark.xdist_group("ray")


def _workspace(root: Path, busybox: str, steps: str, envs: str = "") -> Repo:  # noqa: F811 - the image's name
    root.mkdir(parents=True)
    r = Repo(root)
    r.write("envs/bb/Dockerfile", f"FROM {busybox}\nCOPY greeting.txt /greeting.txt\nLABEL pipefile-test={TAG}\n")
    r.write("envs/bb/greeting.txt", "built on the node\n")
    r.write("envs/bad/Dockerfile", f"FROM {busybox}\nLABEL pipefile-test={TAG}\nRUN echo breaking && exit 3\n")
    r.write("data/in.txt", "hello\n")
    r.write("extra/note.txt", "from a mount\n")
    # (Every line indented by 8 more than the YAML says: dedented as one text.)
    r.pipefile(
        """
        environments:
          bb: {type: docker, build: envs/bb, network: none, env: {GREETING: hi}, mounts: ["extra:/extra"]}
          bad: {type: docker, build: envs/bad}
"""
        + envs
        + """        steps:
"""
        + steps
    )
    return r


STEPS = """
          made:
            command: >-
              cat /greeting.txt ${{inputs.i}} /extra/note.txt > ${{outputs.o}};
              echo "$GREETING $(id -u):$(id -g) $PIPE_STEP" >> ${{outputs.o}};
              echo to-the-log
            inputs: {i: data/in.txt}
            outputs: {o: out/made.txt}
            environment: bb
          literal:
            command: cat ${{inputs.m}} > out/literal.txt; mkdir -p ${{outputs.d}}/sub && echo d > ${{outputs.d}}/sub/d.txt
            inputs: {m: "${{steps.made.outputs.o}}"}
            outputs: {l: out/literal.txt, d: out/dir/}
            environment: bb
"""


def _run_ray(r: Repo, cluster: dict, store: Path, *args: str):  # noqa: F811
    return r.pipe(
        "run", "--json", *args, "--executor", "ray", "--address", cluster["address"], "--store", str(store),
        env=cluster["env"], timeout=300,
    )  # fmt: skip


def _containers(docker, step: str) -> list:  # noqa: F811
    return docker.containers.list(all=True, sparse=True, filters={"label": f"org.pipefile.step={step}"})


def test_a_docker_step_on_the_cluster_matches_a_local_run_and_restores_without_it(cluster, busybox, tmp_path):  # noqa: F811
    on_ray = _workspace(tmp_path / "ray", busybox, STEPS)
    r = _run_ray(on_ray, cluster, tmp_path / "shared")
    assert r.code == 0, str(r)
    steps = {s["name"]: s for s in r.json["steps"]}
    assert {s["worker"]["executor"] for s in steps.values()} == {"ray"}
    local = _workspace(tmp_path / "local", busybox, STEPS)
    local.pipe("run", "--executor", "local", check=True)
    uid = f"{os.getuid()}:{os.getgid()}"
    assert local.read("out/made.txt") == f"built on the node\nhello\nfrom a mount\nhi {uid} made\n"
    # `made` is read only by `literal` on the cluster: its output stayed on the shared store.
    assert not on_ray.exists("out/made.txt")
    ray_files, local_files = _files(on_ray.root), _files(local.root)
    del local_files["out/made.txt"]
    assert set(ray_files) == {"out/literal.txt", "out/dir/sub/d.txt"}
    assert ray_files == local_files  # byte for byte
    job = {s["step"]: s for s in on_ray.pipe("jobs", "show", "1", "--json", check=True).json["steps"]}
    assert job["literal"]["worker"]["executor"] == "ray" and job["literal"]["env"].startswith("docker:")
    assert (
        job["literal"]["env"]
        == {s["step"]: s for s in local.pipe("jobs", "show", "1", "--json").json["steps"]}["literal"]["env"]
    )  # the same identity on the node as here
    assert "to-the-log" in (on_ray.root / ".pipe/jobs/1/made.log").read_text()  # streamed back
    # A second run needs no cluster (nothing listens at that address): fresh, or restored.
    (on_ray.root / "out/literal.txt").unlink()
    again = on_ray.pipe("run", "--json", "--executor", "ray", "--address", "127.0.0.1:1", env=cluster["env"])
    assert again.code == 0, str(again)
    outcomes = {s["name"]: s["outcome"] for s in again.json["steps"]}
    assert outcomes["literal"] == "restored" and outcomes["made"] in ("fresh", "restored"), outcomes
    assert on_ray.read("out/literal.txt") == local.read("out/literal.txt")


def test_a_docker_step_timed_out_on_the_cluster_leaves_no_container(cluster, busybox, docker, tmp_path):  # noqa: F811
    step = f"stuck{TAG}"
    r = _workspace(
        tmp_path / "ws",
        busybox,
        f"""
          {step}:
            command: echo started; sleep 120; echo never > ${{{{outputs.o}}}}
            timeout: 3s
            outputs: {{o: out.txt}}
            environment: bb
        """,
    )
    got = _run_ray(r, cluster, tmp_path / "s")
    assert got.code == 1, str(got)
    assert "timed out" in got.err
    assert "started" in (r.root / ".pipe/jobs/1" / f"{step}.log").read_text()
    assert not _containers(docker, step)
    assert not r.exists("out.txt")


def test_ctrl_c_removes_the_container_of_a_docker_step_on_the_cluster(cluster, busybox, docker, tmp_path):  # noqa: F811
    step = f"long{TAG}"
    r = _workspace(
        tmp_path / "ws",
        busybox,
        f"""
          {step}:
            command: echo started; sleep 120; echo never > ${{{{outputs.o}}}}
            outputs: {{o: out.txt}}
            environment: bb
        """,
    )
    args = ("run", "--executor", "ray", "--address", cluster["address"], "--store", str(tmp_path / "s"))
    p = _popen(r, *args, env=cluster["env"])
    try:
        assert _wait_for(r.root / ".pipe/jobs/1" / f"{step}.log", 120).endswith("started")
        assert _containers(docker, step)  # (running, on the node's daemon)
        p.send_signal(signal.SIGINT)
        _out, err = p.communicate(timeout=60)
    finally:
        p.kill()
    assert p.returncode not in (0, 1, 2), err  # interrupted
    end = time.monotonic() + 20
    while _containers(docker, step) and time.monotonic() < end:
        time.sleep(0.2)
    assert not _containers(docker, step), "the step's container outlived Ctrl-C"


def test_a_failed_image_build_on_the_node_is_a_clear_step_failure(cluster, busybox, tmp_path):  # noqa: F811
    r = _workspace(
        tmp_path / "ws",
        busybox,
        """
          broken:
            command: echo never > ${{outputs.o}}
            outputs: {o: out.txt}
            environment: bad
        """,
    )
    got = _run_ray(r, cluster, tmp_path / "s")
    assert got.code == 1, str(got)
    assert "step 'broken'" in got.err and "docker build of environment 'bad' failed" in got.err, got.err
    assert "on node " in got.err and "fix the Dockerfile" in got.err
    assert "breaking" in (r.root / ".pipe/jobs/1/broken.log").read_text()  # the build's output came back
    assert not r.exists("out.txt")


@contextlib.contextmanager
def _one_node(*args: str, **node_env: str):
    """A one-node cluster started with `args`, its node's processes with `node_env` set."""
    port = free_port()
    temp = tempfile.mkdtemp(prefix="prd", dir="/tmp")
    base = dict(os.environ, **raylocal.RAY_ENV)
    node = dict(base, **{k: v.format(temp=temp) for k, v in node_env.items()})
    try:
        raylocal.start_node(temp, node, 1, head_port=port, node_dir=os.path.join(temp, "node"), extra=args)
        yield {"address": f"127.0.0.1:{port}", "env": base}
    finally:
        raylocal.stop(temp)
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture
def cluster_without_docker():
    """A node that reaches no Docker daemon (this machine's stays the caller's: it plans with it)."""
    with _one_node(DOCKER_HOST="unix://{temp}/no-docker.sock") as c:
        yield c


def test_a_node_without_docker_fails_the_step_naming_the_node_and_the_fix(cluster_without_docker, busybox, tmp_path):  # noqa: F811
    r = _workspace(
        tmp_path / "ws",
        busybox,
        """
          a:
            command: echo x > ${{outputs.o}}
            outputs: {o: out.txt}
            environment: bb
        """,
    )
    got = r.pipe(
        "run", "--executor", "ray", "--address", cluster_without_docker["address"],
        env=cluster_without_docker["env"], timeout=300,
    )  # fmt: skip
    assert got.code == 1, str(got)
    assert "cannot run Docker steps: cannot reach the Docker daemon" in got.err, got.err
    assert "on node " in got.err and "start Docker on every node that runs Docker steps" in got.err
    assert not r.exists("out.txt")


def test_a_docker_step_gets_the_gpus_ray_assigned_and_no_others(busybox, tmp_path):  # noqa: F811
    """A node that declares two GPUs (there are none here): a step asking for one gets a device
    request for the one Ray assigned (this daemon has no GPU runtime, so starting it fails
    saying so, as locally); a step asking for none sees no CUDA_VISIBLE_DEVICES."""
    r = _workspace(
        tmp_path / "ws",
        busybox,
        """
          nogpu:
            command: echo "[${CUDA_VISIBLE_DEVICES-unset}]" > ${{outputs.o}}
            outputs: {o: out/none.txt}
            environment: bb
          gpu:
            command: echo never > ${{outputs.o}}
            resources: {gpus: 1}
            outputs: {o: out/gpu.txt}
            environment: bb
        """,
    )
    with _one_node("--num-gpus", "2") as c:
        got = r.pipe("run", "-k", "--executor", "ray", "--address", c["address"], env=c["env"], timeout=300)
    assert got.code == 1, str(got)
    assert r.read("out/none.txt") == "[unset]\n"
    assert "could not start the container of step 'gpu'" in got.err, got.err
    assert "NVIDIA Container Toolkit" in got.err


def test_a_node_whose_image_differs_from_the_planned_one_fails_naming_both(cluster, busybox, docker, tmp_path):  # noqa: F811
    """The image is re-tagged between planning and the step's start on the node (the nodes
    share this daemon): the node's identity is not the caller's, and the step says both."""
    import io

    moving = f"pipefile-test/moving:{TAG}"
    docker.images.get(busybox).tag(moving)
    other, _ = docker.images.build(
        fileobj=io.BytesIO(f"FROM {busybox}\nLABEL pipefile-test={TAG} other=1\n".encode()), rm=True
    )
    planned = docker.images.get(moving).id
    marker = tmp_path / "retagged"
    r = Repo(tmp_path / "ws")
    r.root.mkdir()
    r.pipefile(f"""
        environments:
          mv: {{type: docker, image: "{moving}"}}
        steps:
          first:
            command: echo waiting; while [ ! -e {marker} ]; do sleep 0.1; done; echo x > ${{{{outputs.o}}}}
            outputs: {{o: first.txt}}
          second:
            command: cat ${{{{inputs.i}}}} > ${{{{outputs.o}}}}
            inputs: {{i: "${{{{steps.first.outputs.o}}}}"}}
            outputs: {{o: second.txt}}
            environment: mv
        """)
    args = ("run", "--executor", "ray", "--address", cluster["address"], "--store", str(tmp_path / "s"))
    p = _popen(r, *args, env=cluster["env"])
    try:
        assert _wait_for(r.root / ".pipe/jobs/1/first.log", 120) == "waiting"
        other.tag(moving)  # planned with busybox's ID; the node now finds the other one
        marker.write_text("")
        _out, err = p.communicate(timeout=120)
    finally:
        p.kill()
    assert p.returncode == 1, err
    assert "environment 'mv' is docker:" in err and "as planned" in err, err
    assert f"image '{moving}' is {other.id[:19]} there, {planned[:19]} here" in err, err
    assert "make the same images on every node" in err
    assert not r.exists("second.txt")


def test_the_container_of_a_killed_worker_is_removed_by_the_next_step_on_its_node(cluster, busybox, docker, tmp_path):  # noqa: F811
    """The Ray worker under a Docker step is killed: it cannot remove its container; the retry,
    on the same node (pinned there), removes it before it runs."""
    import glob

    step = f"reaped{TAG}"
    marks = tmp_path / "marks"
    marks.mkdir()
    r = _workspace(
        tmp_path / "ws",
        busybox,
        f"""
          {step}:
            command: >-
              if [ ! -e {marks}/first ]; then echo x > {marks}/first; sleep 120; fi; echo finished > ${{{{outputs.o}}}}
            outputs: {{o: out.txt}}
            resources: {{cpus: 0.5, custom: {{special_node: 1}}}}
            environment: marked
        """,
        f'          marked: {{type: docker, build: envs/bb, mounts: ["{marks}:{marks}:rw"]}}\n',
    )
    args = ("run", "--executor", "ray", "--address", cluster["address"], "--store", str(tmp_path / "s"))
    p = _popen(r, *args, env=cluster["env"])
    try:
        end = time.monotonic() + 120
        while not (marks / "first").exists() and p.poll() is None and time.monotonic() < end:
            time.sleep(0.1)
        assert (marks / "first").exists(), p.communicate(timeout=60)
        fields: list = []
        end = time.monotonic() + 30
        while len(fields) < 3 and time.monotonic() < end:  # "WORKER_PID PROCESS_GROUP CONTAINER"
            owners = glob.glob(f"/tmp/pr*/node-second/scratch/{step}-*/.pipe-owner")
            fields = Path(owners[0]).read_text().split() if owners else []
            time.sleep(0.1)
        assert len(fields) == 3, fields
        os.kill(int(fields[0]), signal.SIGKILL)
        _out, err = p.communicate(timeout=180)
    finally:
        p.kill()
    assert p.returncode == 0, err
    assert r.read("out.txt") == "finished\n"
    assert "attempt 1 of 2: the executor failed under it" in r.read(f".pipe/jobs/1/{step}.log")
    assert not docker.containers.list(all=True, filters={"id": fields[2]})
    assert not _containers(docker, step)


def _tree_bytes(root: Path) -> dict:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def test_a_workspace_build_folder_ships_its_build_context_only(cluster, busybox, tmp_path):  # noqa: F811
    """`build: .` (a Dockerfile at the workspace's root) and a build folder inside it with its
    own .dockerignore: the node builds from what the local build would send (.dockerignore
    honoured, .pipe/ left out); what they leave out never reaches the shared store, and an
    unchanged file is not uploaded again."""
    r = _workspace(
        tmp_path / "ws",
        busybox,
        """
          whole:
            command: (cd /ctx && find . | sort) > ${{outputs.o}}; cat /ctx/app.txt >> ${{outputs.o}}
            outputs: {o: out/whole.txt}
            environment: root
          part:
            command: (cd /sub && find . | sort) > ${{outputs.o}}
            outputs: {o: out/part.txt}
            environment: sub
        """,
        "          root: {type: docker, build: .}\n          sub: {type: docker, build: envs/sub}\n",
    )
    r.write("Dockerfile", f"FROM {busybox}\nLABEL pipefile-test={TAG}\nCOPY . /ctx\n")
    r.write(".dockerignore", "big\nenvs\n# a comment\nout\n")
    r.write("app.txt", "the app\n")
    r.write("envs/sub/Dockerfile", f"FROM {busybox}\nLABEL pipefile-test={TAG}\nCOPY . /sub\n")
    r.write("envs/sub/.dockerignore", "*.bin\n")
    r.write("envs/sub/keep.txt", "kept\n")
    big = os.urandom(3 << 20)  # left out by both .dockerignore files: never uploaded
    (r.root / "big").mkdir()
    (r.root / "big/data.bin").write_bytes(big)
    (r.root / "envs/sub/weights.bin").write_bytes(big)
    store = tmp_path / "shared"
    got = _run_ray(r, cluster, store)
    assert got.code == 0, str(got)
    whole = r.read("out/whole.txt")
    assert "./app.txt" in whole and "./Dockerfile" in whole and "./data/in.txt" in whole, whole
    assert "big" not in whole and ".pipe" not in whole and "./envs" not in whole, whole
    assert whole.endswith("the app\n")
    assert r.read("out/part.txt") == ".\n./.dockerignore\n./Dockerfile\n./keep.txt\n"
    shipped = _tree_bytes(store)
    assert sum((store / p).stat().st_size for p in shipped) < len(big), "a left-out file was uploaded"
    # The same identity on the node as here: the job record's is the one planned.
    steps = {s["step"]: s for s in r.pipe("jobs", "show", "1", "--json", check=True).json["steps"]}
    assert steps["whole"]["worker"]["executor"] == "ray" and steps["whole"]["env"].startswith("docker:")
    # Run again (a changed command): what is on the shared store already is not sent again.
    r.write("Pipefile", r.read("Pipefile").replace("cat /ctx/app.txt", "cat /ctx/app.txt /ctx/app.txt"))
    again = _run_ray(r, cluster, store)
    assert again.code == 0, str(again)
    assert r.read("out/whole.txt").endswith("the app\nthe app\n")
    after = _tree_bytes(store)
    assert {p: after.get(p) for p in shipped} == shipped  # (rewritten files would have new times)


def test_an_image_build_on_the_node_streams_to_the_step_log_as_it_goes(cluster, busybox, tmp_path):  # noqa: F811
    # (A RUN line never built before: no cached layer. Quoted: the echoed command line, in the
    # log first, must not hold the words it prints.)
    nonce = f"{TAG}-{time.time_ns()}"
    r = _workspace(
        tmp_path / "ws",
        busybox,
        """
          slow:
            command: echo ran > ${{outputs.o}}
            outputs: {o: out.txt}
            environment: slowbuild
        """,
        "          slowbuild: {type: docker, build: envs/slow}\n",
    )
    r.write(
        "envs/slow/Dockerfile",
        f'FROM {busybox}\nLABEL pipefile-test={TAG}\nRUN echo be"gins-{nonce}" && sleep 8 && echo en"ds-{nonce}"\n',
    )
    args = ("run", "--executor", "ray", "--address", cluster["address"], "--store", str(tmp_path / "s"))
    p = _popen(r, *args, env=cluster["env"])
    log = r.root / ".pipe/jobs/1/slow.log"
    try:
        end = time.monotonic() + 120
        text = ""
        while f"begins-{nonce}" not in text and p.poll() is None and time.monotonic() < end:
            time.sleep(0.1)
            text = log.read_text() if log.exists() else ""
        assert f"begins-{nonce}" in text, p.communicate(timeout=60)
        assert f"ends-{nonce}" not in text, "the build's output came back only when it ended"
        _out, err = p.communicate(timeout=120)
    finally:
        p.kill()
    assert p.returncode == 0, err
    assert f"ends-{nonce}" in log.read_text() and r.read("out.txt") == "ran\n"
