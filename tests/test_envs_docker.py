"""Docker environments, for real: a local daemon and images built here (no registry needed).

The test image is a busybox root file system imported with `docker import`; `build:`
environments build FROM it. Every tag made here carries this process's id, and is
removed at the end, so parallel test runs do not disturb each other.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest
from envsupport import busybox_rootfs, docker_client, remove_test_images
from workspace_repo import PIPE

TAG = f"{os.getpid()}"


@pytest.fixture(scope="session")
def docker():
    c = docker_client()
    yield c
    c.close()


@pytest.fixture(scope="session")
def busybox(docker):
    """The name of a tiny image with sh, cat, id, sleep... (busybox)."""
    repo = "pipefile-test/busybox"
    docker.api.import_image_from_data(busybox_rootfs(), repository=repo, tag=TAG)
    yield f"{repo}:{TAG}"
    remove_test_images(docker, TAG)


def containers_of(docker, step: str) -> list:
    return docker.containers.list(all=True, sparse=True, filters={"label": f"org.pipefile.step={step}"})


def test_docker_step_runs_as_the_user_with_the_workspace_mounted(repo, docker, busybox, tmp_path):
    repo.write("data/in.txt", "hello\n")
    (tmp_path / "elsewhere.txt").write_text("outside\n")
    os.symlink(tmp_path / "elsewhere.txt", repo.root / "data/link.txt")
    repo.write("extra/note.txt", "from a mount\n")
    repo.pipefile(f"""
        environments:
          bb:
            type: docker
            image: {busybox}
            network: none
            env: {{GREETING: hi}}
            mounts: ["extra:/extra"]
        steps:
          read:
            command: >-
              cat ${{{{inputs.i}}}} /extra/note.txt ${{{{inputs.link}}}} > ${{{{outputs.o}}}};
              echo "$GREETING $(id -u):$(id -g) $PIPE_STEP" >> ${{{{outputs.o}}}};
              ls /sys/class/net >> ${{{{outputs.o}}}};
              echo to-the-log
            inputs: {{i: data/in.txt, link: data/link.txt}}
            outputs: {{o: out/read.txt}}
            environment: bb
          folder:
            command: echo a > out/folder/a.txt  # make-style: the folder output's own path is writable
            outputs: {{d: out/folder/}}
            environment: bb
          staged:
            command: echo b > ${{{{outputs.d}}}}/b.txt
            outputs: {{d: out/staged/}}
            environment: bb
          write_input:
            command: echo changed > data/in.txt
            environment: bb
          write_mount:
            command: echo changed > /extra/note.txt
            environment: bb
    """)
    r = repo.pipe("run", "-k")
    assert r.code == 1, str(r)
    uid = f"{os.getuid()}:{os.getgid()}"
    assert repo.read("out/read.txt") == f"hello\nfrom a mount\noutside\nhi {uid} read\nlo\n"  # network: none -> only lo
    assert os.stat(repo.root / "out/read.txt").st_uid == os.getuid()
    assert repo.read("out/folder/a.txt") == "a\n" and repo.read("out/staged/b.txt") == "b\n"
    assert "to-the-log" in (repo.root / ".pipe/jobs/1/read.log").read_text()
    # Inputs and extra mounts are read-only.
    assert "step 'write_input' exited with status" in r.err and "Read-only file system" in r.err
    assert "note: write_input: in a container the workspace is read-only but for the step's declared outputs" in r.err
    assert "step 'write_mount' exited with status" in r.err
    assert repo.read("data/in.txt") == "hello\n" and repo.read("extra/note.txt") == "from a mount\n"
    assert "in env bb (docker:" in r.err  # a failure names the environment
    assert not containers_of(docker, "read") and not containers_of(docker, "write_input")
    job = repo.pipe("jobs", "show", "1", "--json").json
    steps = {s["step"]: s for s in job["steps"]}
    assert steps["read"]["environment"] == "bb" and steps["read"]["env"].startswith("docker:")


def test_docker_steps_write_literal_output_paths_as_local_steps_do(repo, docker, busybox):
    """`echo x > build/direct.txt` works in a container as it does locally (docs/pipefile.md,
    "literal paths work too"), and the rest of the workspace stays read-only."""
    repo.write("build/data.txt", "data\n")
    repo.write("build/sub/keep.txt", "keep\n")
    repo.write("top.txt", "top\n")
    repo.pipefile(f"""
        environments:
          bb: {{type: docker, image: {busybox}, network: none}}
        steps:
          direct:
            command: >-
              cat build/data.txt top.txt > build/direct.txt;
              echo staged > ${{{{outputs.s}}}};
              echo d > build/dir/d.txt;
              echo root > root.txt;
              ls build > build/listing.txt
            inputs: {{i: build/data.txt, t: top.txt}}
            outputs: {{o: build/direct.txt, s: build/staged.txt, d: build/dir/, r: root.txt, l: build/listing.txt}}
            environment: bb
          stray:
            command: echo x > build/stray.txt; echo y > ${{{{outputs.o}}}}
            outputs: {{o: build/o2.txt}}
            environment: bb
          overwrite:
            command: echo changed > build/data.txt; echo x > ${{{{outputs.o}}}}
            outputs: {{o: build/o3.txt}}
            environment: bb
          nested:
            command: echo changed > build/sub/keep.txt
            outputs: {{o: build/o4.txt}}
            environment: bb
    """)
    r = repo.pipe("run", "-k", "direct", "stray")
    assert r.code == 0, str(r)
    assert repo.read("build/direct.txt") == "data\ntop\n"
    assert repo.read("build/staged.txt") == "staged\n" and repo.read("build/dir/d.txt") == "d\n"
    assert repo.read("root.txt") == "root\n"
    assert "data.txt" in repo.read("build/listing.txt") and "sub" in repo.read("build/listing.txt")
    assert os.stat(repo.root / "build/direct.txt").st_uid == os.getuid()
    # A file that is not an output is not kept, and the user is told.
    assert not repo.exists("build/stray.txt") and repo.read("build/o2.txt") == "y\n"
    assert "wrote 'build/stray.txt', which is not one of its outputs: not kept" in r.err, str(r)
    # Nothing else in the workspace can be written, next to an output or below.
    r = repo.pipe("run", "-k", "overwrite", "nested")
    assert r.code == 1, str(r)
    assert r.err.count("Read-only file system") >= 2, str(r)
    # The command as it ran, and what its staging path stands for, as for a local step.
    assert "  ran:     echo changed > build/data.txt; echo x > .pipe/stage/overwrite/overwrite.o.o3.txt" in r.err
    assert "           .pipe/stage/overwrite/overwrite.o.o3.txt = build/o3.txt" in r.err
    assert repo.read("build/data.txt") == "data\n" and repo.read("build/sub/keep.txt") == "keep\n"
    # Fresh on the next run, as a local step.
    r = repo.pipe("run", "direct", "stray")
    assert r.code == 0 and ": 2 fresh" in r.err, str(r)
    assert not list((repo.root / ".pipe/stage").iterdir())


def test_docker_build_is_built_once_keyed_by_its_context_and_pruned(repo, docker, busybox):
    # The image's own user is not ours (65534 is not the uid running the tests, root or not):
    # the step must still run as the calling uid:gid, and its outputs belong to the caller.
    repo.write(
        "envs/bb/Dockerfile", f"FROM {busybox}\nLABEL pipefile-test={TAG}\nRUN echo v1 > /version\nUSER 65534:65534\n"
    )
    repo.pipefile("""
        environments:
          built: {type: docker, build: envs/bb}
        steps:
          a: {command: "cat /version > ${{outputs.o}}", outputs: {o: out/a.txt}, environment: built}
          b: {command: 'cat /version > ${{outputs.o}}/v; echo "$(id -u):$(id -g)" > ${{outputs.o}}/id',
              outputs: {o: out/b/}, environment: built}
          c: {command: "echo local > ${{outputs.o}}", outputs: {o: out/c.txt}}
    """)
    r = repo.pipe("run", "-j", "2")
    assert r.code == 0, str(r)
    assert repo.read("out/a.txt") == repo.read("out/b/v") == "v1\n"
    assert repo.read("out/b/id") == f"{os.getuid()}:{os.getgid()}\n" and os.getuid() != 65534
    for p in ("out/a.txt", "out/b", "out/b/id"):
        st = os.stat(repo.root / p)
        assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid()), p
    logs = [(repo.root / f".pipe/jobs/1/{s}.log").read_text() for s in ("a", "b")]
    assert sum("Successfully built" in text for text in logs) == 1  # two steps, one build
    envs = repo.pipe("envs", "--json").json["environments"]
    assert envs[0]["built"] is True and envs[0]["steps"] == ["a", "b"]
    assert repo.outcomes() == {"a": "fresh", "b": "fresh", "c": "fresh"}

    repo.write(
        "envs/bb/Dockerfile", f"FROM {busybox}\nLABEL pipefile-test={TAG}\nRUN echo v2 > /version\nUSER 65534:65534\n"
    )
    st = repo.pipe("status", "--json").json["steps"]
    reasons = {s["name"]: [x["kind"] for x in s["reasons"]] for s in st}
    assert reasons == {"a": ["env_changed"], "b": ["env_changed"], "c": []}
    assert repo.outcomes() == {"a": "ran", "b": "ran", "c": "fresh"}
    assert repo.read("out/a.txt") == "v2\n"
    builds = repo.pipe("envs", "--json").json["builds"]
    assert [b["used"] for b in builds if b["type"] == "docker"].count(False) == 1
    r = repo.pipe("envs", "prune")
    assert r.code == 0 and "removed 1 unused" in r.out, str(r)
    builds = repo.pipe("envs", "--json").json["builds"]
    assert [b["used"] for b in builds if b["type"] == "docker"] == [True]


def test_retagging_an_image_to_new_content_reruns_its_steps(repo, docker, busybox):
    name = f"pipefile-test/retag:{TAG}"
    docker.images.get(busybox).tag("pipefile-test/retag", TAG)
    repo.pipefile(f"""
        environments:
          img: {{type: docker, image: "{name}"}}
          other: {{type: docker, image: "{busybox}"}}
        steps:
          a: {{command: "ls /marker > ${{{{outputs.o}}}} 2>&1 || true", outputs: {{o: out/a.txt}}, environment: img}}
          b: {{command: "echo b > ${{{{outputs.o}}}}", outputs: {{o: out/b.txt}}, environment: other}}
          c: {{command: "echo c > ${{{{outputs.o}}}}", outputs: {{o: out/c.txt}}}}
    """)
    assert repo.outcomes() == {"a": "ran", "b": "ran", "c": "ran"}
    assert repo.states() == {"a": "fresh", "b": "fresh", "c": "fresh"}
    repo.write("ctx/Dockerfile", f"FROM {busybox}\nRUN touch /marker\n")
    docker.images.build(path=str(repo.root / "ctx"), tag=name, labels={"pipefile-test": TAG}, rm=True, forcerm=True)
    st = repo.pipe("status", "--json").json["steps"][0]
    assert st["state"] == "run" and st["reasons"][0]["kind"] == "env_changed"
    assert repo.outcomes() == {"a": "ran", "b": "fresh", "c": "fresh"}  # exactly the steps of the re-tagged image
    assert repo.read("out/a.txt") == "/marker\n"


def test_a_failing_docker_build_shows_its_log(repo, docker, busybox):
    repo.write("envs/bad/Dockerfile", f"FROM {busybox}\nLABEL pipefile-test={TAG}\nRUN echo about-to-fail && exit 3\n")
    repo.pipefile("""
        environments:
          bad: {type: docker, build: envs/bad}
        steps:
          a: {command: "echo never > ${{outputs.o}}", outputs: {o: out/a.txt}, environment: bad}
    """)
    r = repo.pipe("run")
    assert r.code == 1, str(r)
    assert "docker build of environment 'bad' failed" in r.err
    assert "about-to-fail" in r.err and "exit 3" in r.err  # the build's log is shown
    assert not repo.exists("out/a.txt")
    assert not docker.images.list(filters={"label": "org.pipefile.env=bad"})


def test_an_image_that_does_not_exist_is_an_error_before_anything_runs(repo, docker):
    repo.pipefile(f"""
        environments:
          gone: {{type: docker, image: "pipefile-test/no-such-image:{TAG}"}}
        steps:
          local: {{command: "echo hi > ${{{{outputs.o}}}}", outputs: {{o: out/l.txt}}}}
          a: {{command: echo never, environment: gone}}
    """)
    r = repo.pipe("run")
    assert r.code == 2, str(r)
    assert "Pipefile:3:3: image 'pipefile-test/no-such-image" in r.err and "could not be pulled" in r.err
    assert "hint: fix the image name" in r.err
    assert not repo.exists("out/l.txt")
    # The same for the base image of a build: pulled (here: tried) before planning, never by the build.
    repo.write("envs/b/Dockerfile", f"FROM pipefile-test/no-such-base:{TAG}\nRUN true\n")
    repo.pipefile("""
        environments:
          built: {type: docker, build: envs/b}
        steps:
          local: {command: "echo hi > ${{outputs.o}}", outputs: {o: out/l.txt}}
          a: {command: echo never, environment: built}
    """)
    r = repo.pipe("run")
    assert r.code == 2, str(r)
    assert (
        f"Pipefile:3:3: image 'pipefile-test/no-such-base:{TAG}' (FROM in envs/b/Dockerfile) of environment "
        f"'built' is not on this machine and could not be pulled"
    ) in r.err, str(r)
    assert not repo.exists("out/l.txt")
    assert repo.pipe("status").code == 0  # status pulls nothing, and does not fail for it


def _wait_for_container(docker, step: str, p, seconds: float = 60.0):
    """Until the step's container runs; fails with pipe's output if pipe ends first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if [c for c in containers_of(docker, step) if c.status == "running"]:
            return
        if p.poll() is not None:
            out, err = p.communicate()
            raise AssertionError(f"pipe ended (exit {p.returncode}) before the container ran:\n{out}\n{err}")
        time.sleep(0.2)
    raise AssertionError("timed out waiting for the container")


def _start_pipe(repo, *args):
    env = dict(os.environ, PIPE_PLAIN="1")
    env.pop("PIPE_STORE_DIR", None)
    return subprocess.Popen(
        PIPE + list(args), cwd=repo.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_ctrl_c_and_kill_leave_no_container_behind(repo, docker, busybox):
    step = f"sleeper{TAG}"
    repo.pipefile(f"""
        environments:
          bb: {{type: docker, image: "{busybox}"}}
        steps:
          {step}: {{command: "sleep 300 && echo done > ${{{{outputs.o}}}}", outputs: {{o: out/s.txt}}, environment: bb}}
    """)
    # Ctrl-C: the container is stopped and removed, the run reports interrupted.
    p = _start_pipe(repo, "run")
    _wait_for_container(docker, step, p)
    t0 = time.monotonic()
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    # At once, as a local step: the whole command gets the SIGINT, not only its shell (which
    # would wait for `sleep` until pipe's SIGTERM/SIGKILL escalation, 5 seconds later).
    assert time.monotonic() - t0 < 4.0
    assert containers_of(docker, step) == []
    assert not repo.exists("out/s.txt")

    # kill -9 of pipe: the container outlives it, and the next run removes it.
    p = _start_pipe(repo, "run")
    _wait_for_container(docker, step, p)
    p.kill()
    p.communicate(timeout=30)
    assert len(containers_of(docker, step)) == 1
    repo.pipefile(f"""
        environments:
          bb: {{type: docker, image: "{busybox}"}}
        steps:
          {step}: {{command: "echo done > ${{{{outputs.o}}}}", outputs: {{o: out/s.txt}}, environment: bb}}
    """)
    r = repo.pipe("run")
    assert r.code == 0, str(r)
    assert containers_of(docker, step) == []
    assert repo.read("out/s.txt") == "done\n"


def test_ctrl_c_during_a_silent_docker_build_stops_at_once(repo, docker, busybox):
    """A RUN that prints nothing for a long time: Ctrl-C does not wait for it, and the daemon,
    seeing pipe go, cancels the build (no image, no build container left)."""
    repo.write("envs/slow/Dockerfile", f"FROM {busybox}\nLABEL pipefile-test={TAG}\nRUN sleep 120 # {TAG}\n")
    repo.pipefile("""
        environments:
          slow: {type: docker, build: envs/slow}
        steps:
          a: {command: "echo never > ${{outputs.o}}", outputs: {o: out/a.txt}, environment: slow}
    """)
    p = _start_pipe(repo, "run")
    try:
        log = repo.root / ".pipe/jobs/1/a.log"
        deadline = time.monotonic() + 60
        while not (log.exists() and "Running in" in log.read_text()):
            assert p.poll() is None and time.monotonic() < deadline, p.communicate()
            time.sleep(0.1)
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()  # its connection closes: the daemon cancels the build
            p.communicate()
    assert p.returncode == 130, err
    assert time.monotonic() - t0 < 4.0, err
    assert "building image for environment 'slow': interrupted" in err
    base = docker.images.get(busybox).id
    deadline = time.monotonic() + 30
    while docker.containers.list(all=True, filters={"ancestor": base}):
        assert time.monotonic() < deadline, "the build's container outlived the cancelled build"
        time.sleep(0.2)
    assert not docker.images.list(filters={"label": "org.pipefile.env=slow"})


def test_no_docker_daemon_says_how_to_start_one(repo):
    pytest.importorskip("docker")
    repo.pipefile("""
        environments:
          bb: {type: docker, image: busybox}
        steps:
          a: {command: echo hi, environment: bb}
    """)
    for cmd in (["run"], ["status"]):
        # (with ResourceWarnings shown: the SDK's socket of a failed connect was left open)
        env = {"DOCKER_HOST": f"unix://{repo.root}/no-docker.sock", "PYTHONWARNINGS": "always::ResourceWarning"}
        r = repo.pipe(*cmd, env=env)
        assert r.code == 2, str(r)
        assert "ResourceWarning" not in r.err, str(r)
        assert "there is no daemon socket there" in r.err, str(r)
        assert "cannot reach the Docker daemon at unix://" in r.err, str(r)
        assert "hint: start the Docker daemon" in r.err
        assert r.err.count("cannot reach") == 1
    assert json.loads(repo.pipe("jobs", "--json").out)["jobs"] == []  # nothing ran


def test_docker_steps_request_exactly_their_leased_gpus_simulated(repo, docker, busybox):
    """Simulated devices: the daemon here has no NVIDIA runtime, so the device request for the
    leased id reaches Docker and is refused with a hint; the step fails, nothing is left."""
    if "nvidia" in json.dumps(docker.info().get("Runtimes", {})):
        pytest.skip("this daemon has the NVIDIA runtime: the real GPU test covers it")
    repo.pipefile(f"""
        environments:
          bb: {{type: docker, image: "{busybox}"}}
        steps:
          gpu{TAG}: {{command: "echo $CUDA_VISIBLE_DEVICES > ${{{{outputs.o}}}}", outputs: {{o: out/g.txt}},
                     environment: bb, resources: {{gpus: 1}}}}
          cpu{TAG}: {{command: "echo [$CUDA_VISIBLE_DEVICES] > ${{{{outputs.o}}}}", outputs: {{o: out/c.txt}},
                     environment: bb}}
    """)
    r = repo.pipe("run", "-k", env={"PIPE_GPUS": "3"})
    assert r.code == 1, str(r)
    assert f"step 'gpu{TAG}' failed after" in r.err and "GPU 3)" in r.err
    assert "install the NVIDIA Container Toolkit" in r.err
    assert repo.read("out/c.txt") == "[]\n"  # no device request, and no GPU visible
    assert containers_of(docker, f"gpu{TAG}") == []


def test_build_dot_sends_the_workspace_less_dockerignore_and_pipe_state(repo, docker, busybox):
    """`build: .` (a Dockerfile at the workspace's root): the daemon is sent the workspace as
    the build context, with what .dockerignore leaves out, and pipe's .pipe/, left out."""
    repo.write("Dockerfile", f"FROM {busybox}\nLABEL pipefile-test={TAG}\nCOPY . /ctx\n")
    repo.write(".dockerignore", "data\nout\n")  # (out/: a step's output may not be in the context)
    repo.write("app.txt", "app\n")
    repo.write("data/big.txt", "left out\n")
    repo.write("sub/.pipe/x", "a nested workspace's state\n")
    repo.pipefile("""
        environments:
          here: {type: docker, build: ./}
        steps:
          ls: {command: "(cd /ctx && find . | sort) > ${{outputs.o}}", outputs: {o: out/ls.txt}, environment: here}
    """)
    r = repo.pipe("run")
    assert r.code == 0, str(r)
    assert repo.read("out/ls.txt") == ".\n./.dockerignore\n./Dockerfile\n./Pipefile\n./app.txt\n./sub\n"
