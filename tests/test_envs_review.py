"""Step environments under review: faults found by trying them, one test each.

Real `pipe` runs in temporary workspaces; venvs are built offline (a wheel made here).
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from workspace_repo import PIPE


def _wheel(path: Path, value: str) -> None:
    """A minimal pure-Python wheel of package `foo` 1.0 whose foo.VALUE is `value`."""
    files = {
        "foo.py": f"VALUE = {value!r}\n",
        "foo-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: foo\nVersion: 1.0\n",
        "foo-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    record = []
    with zipfile.ZipFile(path, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
            h = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
            record.append(f"{name},sha256={h},{len(text)}")
        z.writestr("foo-1.0.dist-info/RECORD", "\n".join(record + ["foo-1.0.dist-info/RECORD,,"]) + "\n")


def _identity(repo, name: str) -> str:
    rows = repo.pipe("envs", "--json", check=True).json["environments"]
    return next(r["identity"] for r in rows if r["name"] == name)


def test_a_wheel_named_by_path_is_part_of_the_venv_identity(repo):
    # Was: only the requirements file's text was keyed, so a wheel rebuilt under the same
    # name left the venv (and the steps' outputs) as they were: stale.
    _wheel(repo.root / "wheels/foo-1.0-py3-none-any.whl", "one")
    repo.write("req.txt", "./wheels/foo-1.0-py3-none-any.whl  # built here\n")
    repo.pipefile("""
        environments:
          v: {type: venv, requirements: req.txt}
        steps:
          a: {command: 'python -c "import foo; print(foo.VALUE)" > ${{outputs.o}}', outputs: {o: out/a.txt}, environment: v}
    """)
    assert repo.outcomes(timeout=300) == {"a": "ran"}
    assert repo.read("out/a.txt").strip() == "one"
    assert repo.outcomes() == {"a": "fresh"}
    _wheel(repo.root / "wheels/foo-1.0-py3-none-any.whl", "two")
    st = {s["name"]: s for s in repo.pipe("status", "--json").json["steps"]}
    assert [r["kind"] for r in st["a"]["reasons"]] == ["env_changed"], st["a"]
    assert repo.outcomes(timeout=300) == {"a": "ran"}
    assert repo.read("out/a.txt").strip() == "two"


def test_a_package_folder_is_keyed_by_its_content_not_by_what_building_it_writes(repo):
    repo.write("pkg/foo/__init__.py", "VALUE = 1\n")
    repo.write("pkg/pyproject.toml", "[project]\nname = 'foo'\nversion = '1.0'\n")
    repo.pipefile("""
        environments:
          v: {type: venv, packages: ["./pkg", "-e ./editable", "six==1.16.0"]}
        steps:
          a: {command: 'true', environment: v}
    """)
    first = _identity(repo, "v")
    # What setuptools leaves in a package folder when pip builds it: not content.
    repo.write("pkg/build/lib/foo/__init__.py", "VALUE = 1\n")
    repo.write("pkg/foo.egg-info/PKG-INFO", "Name: foo\n")
    # An editable folder is installed in place: its edits are live, no rebuild is due.
    repo.write("editable/mod.py", "X = 2\n")
    assert _identity(repo, "v") == first
    repo.write("pkg/foo/__init__.py", "VALUE = 2\n")
    assert _identity(repo, "v") != first


def test_the_build_context_identity_covers_every_file_the_sdk_sends(tmp_path):
    # Was: a backslash read as an escape (the SDK, which sends the build, reads it as itself),
    # and a folder skipped whole where the SDK still sends what is in it ('!a' after 'a/**'):
    # files the build sees left out of the identity, so editing them rebuilt nothing: stale.
    # And `**/a` followed into 'x/a/...' where the SDK does not look (a rebuild for nothing).
    sdk = pytest.importorskip("docker.utils.build")
    from pipefile.digest import Hasher
    from pipefile.envs.docker.context import identity_digest

    files = ["Dockerfile", "x y/f", "x\\ y/g", "a/data", "a/sub/f", "b/a/f", "b/a/d.py", "c/keep/f"]
    cases = [["x\\ y"], ["a/**", "!a", "**/a"], ["**/a", "!**/d.py"], ["*", "!Dockerfile", "!**/keep"]]
    for f in files:
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_text(f)
    for patterns in cases:
        (tmp_path / ".dockerignore").write_text("\n".join(patterns) + "\n")
        sent = set(sdk.exclude_paths(str(tmp_path), list(patterns), "Dockerfile"))
        base = identity_digest(Hasher(str(tmp_path)), ".")
        for f in files:
            (tmp_path / f).write_text(f + " changed")
            changed = identity_digest(Hasher(str(tmp_path)), ".") != base
            assert changed == (f in sent), (patterns, f, sorted(sent))
            (tmp_path / f).write_text(f)


def test_an_output_in_a_dockerignored_folder_the_sdk_never_enters_loads(repo):
    # Was: the check matched the output's own path only, so `!**/keep` seemed to bring
    # out/keep back into the context; the SDK never looks inside out/ (no `!` line starts
    # with it), so the output is not sent, and the Pipefile was refused (exit 2) for nothing.
    repo.write("Dockerfile", "FROM scratch\n")
    repo.write(".dockerignore", "out\n!**/keep\n")
    repo.pipefile("""
        environments:
          img: {type: docker, build: .}
        steps:
          a: {command: 'echo > ${{outputs.o}}', outputs: {o: out/keep}}
          b: {command: 'true', environment: img}
    """)
    r = repo.pipe("validate")
    assert r.code == 0, str(r)
    sdk = pytest.importorskip("docker.utils.build")
    (repo.root / "out").mkdir()
    (repo.root / "out/keep").write_text("x")
    assert "out/keep" not in sdk.exclude_paths(str(repo.root), ["out", "!**/keep"], "Dockerfile")


def test_a_venv_whose_python_is_gone_is_built_again_not_reused(repo):
    # Was: a published venv was trusted for ever; once the Python it links to was removed (or
    # upgraded in place), every step in it failed, run after run, with nothing to say why.
    repo.pipefile("""
        environments:
          v: {type: venv}
        steps:
          a: {command: 'python -c "import sys; print(sys.prefix)" > ${{outputs.o}}', outputs: {o: out/a.txt}, environment: v}
    """)
    assert repo.outcomes(timeout=300) == {"a": "ran"}
    prefix = Path(repo.read("out/a.txt").strip())
    for exe in (prefix / "bin").glob("python*"):
        exe.unlink()  # (what removing the Python it was made from leaves: links to nothing)
        exe.symlink_to("/nonexistent/python3")
    (row,) = repo.pipe("envs", "--json", check=True).json["environments"]
    assert row["built"] is False
    assert repo.outcomes("--force", timeout=300) == {"a": "ran"}
    assert "is broken" in (repo.root / ".pipe/jobs/2/a.log").read_text()
    assert Path(repo.read("out/a.txt").strip()) != prefix and not prefix.exists()


def test_the_std_environment_runs_with_an_interpreter_whose_path_holds_shell_characters(repo, tmp_path):
    # Was: the `python` shim of the std environment named the interpreter inside double
    # quotes, so a `$` or a `"` in its path was read by the shell: exit 127, "not found".
    std = pytest.importorskip("pipefile.envs.std")
    if std.missing(std.installed()):
        pytest.skip("this interpreter lacks the std requirements: the std environment would be a venv")
    odd = tmp_path / 'py$HOME "x"'
    odd.mkdir()
    (odd / "python").symlink_to(os.path.realpath(sys.executable))
    repo.pipefile("""
        steps:
          a: {command: 'python -c "import sys; print(sys.executable)" > ${{outputs.o}}', outputs: {o: out/a.txt}, environment: std}
    """)
    r = repo.pipe("run", python=str(odd / "python"))
    assert r.code == 0, str(r)
    assert repo.read("out/a.txt").strip() == str(odd / "python")


_PROXY = """
import socket, sys, threading
srv = socket.socket(socket.AF_UNIX)
srv.bind(sys.argv[1])
srv.listen(64)
def pump(a, b):
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
while True:
    c, _ = srv.accept()
    u = socket.socket(socket.AF_UNIX)
    u.connect(sys.argv[2])
    threading.Thread(target=pump, args=(c, u), daemon=True).start()
    threading.Thread(target=pump, args=(u, c), daemon=True).start()
"""


def test_a_docker_daemon_that_goes_away_mid_step_fails_the_step_instead_of_hanging(repo, tmp_path):
    # Was: waiting for the container retried at once, for ever, on every error: with the daemon
    # gone, pipe spun at full CPU and not even Ctrl-C or SIGTERM ended it.
    from envsupport import busybox_rootfs, docker_client, need

    client = docker_client()
    sock = "/var/run/docker.sock"
    need(os.path.exists(sock) and not os.environ.get("DOCKER_HOST"), "the daemon is not at its local socket")
    image = f"pipefile-test/busybox-review:{os.getpid()}"
    client.api.import_image_from_data(busybox_rootfs(), repository=image.split(":")[0], tag=image.split(":")[1])
    step = f"gone{os.getpid()}"
    # The daemon this pipe talks to is a forwarder to the real one, killed while the step runs.
    front = str(tmp_path / "d.sock")
    proxy = subprocess.Popen([sys.executable, "-c", _PROXY, front, sock])
    try:
        for _ in range(50):
            if os.path.exists(front):
                break
            time.sleep(0.1)
        repo.pipefile(f"""
            environments:
              bb: {{type: docker, image: "{image}"}}
            steps:
              {step}: {{command: 'sleep 60; echo > ${{{{outputs.o}}}}', outputs: {{o: out/s.txt}}, environment: bb}}
        """)
        env = dict(os.environ, PIPE_PLAIN="1", DOCKER_HOST=f"unix://{front}")
        env.pop("PIPE_STORE_DIR", None)
        p = subprocess.Popen(PIPE + ["run"], cwd=repo.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while not client.containers.list(filters={"label": f"org.pipefile.step={step}"}):
            assert time.monotonic() < deadline and p.poll() is None, "the step's container never ran"
            time.sleep(0.2)
        proxy.kill()
        proxy.wait()
        try:
            p.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            raise AssertionError("pipe hung once the daemon was gone") from None
        assert p.returncode == 1
        assert "Docker daemon has not answered" in (repo.root / f".pipe/jobs/1/{step}.log").read_text()
    finally:
        proxy.kill()
        for c in client.containers.list(all=True, filters={"label": f"org.pipefile.step={step}"}):
            c.remove(force=True)
        client.images.remove(image, force=True)


def test_a_step_asking_for_a_gpu_is_told_what_nvidia_smi_said(repo, tmp_path, monkeypatch):
    # Was: "no GPU was found (neither NVML nor nvidia-smi sees one)" whatever nvidia-smi said,
    # so a driver that does not answer read as a machine without GPUs.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "nvidia-smi"  # a fake nvidia-smi (no GPU here): the driver's usual complaint
    fake.write_text(
        "#!/bin/sh\necho 'NVIDIA-SMI has failed because it could not communicate with the driver.'\nexit 9\n"
    )
    fake.chmod(0o755)
    monkeypatch.delenv("PIPE_GPUS", raising=False)
    repo.pipefile("""
        steps:
          a: {command: 'true', resources: {gpus: 1}}
    """)
    r = repo.pipe("run", env={"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"})
    assert r.code == 2, str(r)
    assert "Pipefile:3:" in r.err and "exited with status 9: NVIDIA-SMI has failed" in r.err, str(r)


def test_what_nvidia_smi_says_is_shown_escaped_in_any_encoding(repo, tmp_path, monkeypatch):
    # Was: exit 70 (UnicodeDecodeError) on a byte that is not UTF-8, and a terminal escape in
    # its message reached the terminal raw.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "nvidia-smi"  # a fake nvidia-smi (no GPU here)
    fake.write_bytes(b"#!/bin/sh\nprintf '\\033]0;PWNED\\007bad \\377 driver\\n'\nexit 9\n")
    fake.chmod(0o755)
    monkeypatch.delenv("PIPE_GPUS", raising=False)
    path = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    repo.pipefile("""
        steps:
          a: {command: 'true', resources: {gpus: 1}}
    """)
    r = repo.pipe("run", env=path)
    assert r.code == 2, str(r)
    assert "exited with status 9: \\x1b]0;PWNED\\x07bad \ufffd driver" in r.err and "\x1b" not in r.err, str(r)


def test_a_dockerignore_that_is_not_utf8_is_an_error_naming_it(repo):
    # Was: the identity and the load check read no patterns at all (the whole folder counted),
    # while the build failed on it with "'utf-8' codec can't decode byte 0xff": exit 1, no file named.
    repo.write("img/Dockerfile", "FROM scratch\n")
    (repo.root / "img/.dockerignore").write_bytes(b"data\n\xff\xfe\n")
    repo.pipefile("""
        environments:
          img: {type: docker, build: img}
        steps:
          b: {command: 'true', environment: img}
    """)
    r = repo.pipe("validate")
    assert r.code == 2, str(r)
    assert "img/.dockerignore is not UTF-8 text" in r.err and "save it as UTF-8" in r.err, str(r)


def _two_fake_gpus(tmp_path) -> dict:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "nvidia-smi"  # a fake nvidia-smi (no GPU here): two devices
    fake.write_text("#!/bin/sh\necho '0, Fake A100'\necho '1, Fake A100'\n")
    fake.chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def test_gpus_hidden_by_the_callers_cuda_visible_devices_are_not_handed_out(repo, tmp_path, monkeypatch):
    # Was: detection (NVML, nvidia-smi) sees every device of the machine, so a pipe run with
    # CUDA_VISIBLE_DEVICES=1 (inside a step that leased GPU 1, or told to keep off the others)
    # handed GPU 0 to its steps: shared with whoever held it.
    path = _two_fake_gpus(tmp_path)
    monkeypatch.delenv("PIPE_GPUS", raising=False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    repo.pipefile("""
        steps:
          a: {command: 'echo "$CUDA_VISIBLE_DEVICES" > ${{outputs.o}}', resources: {gpus: 1}, outputs: {o: a.txt}}
          b: {command: 'true', resources: {gpus: 2}}
    """)
    r = repo.pipe("run", "a", env=dict(path, CUDA_VISIBLE_DEVICES="1"))
    assert r.code == 0, str(r)
    assert (repo.root / "a.txt").read_text().strip() == "1"
    r = repo.pipe("run", "b", env=dict(path, CUDA_VISIBLE_DEVICES="1"))
    assert r.code == 2 and "asks for 2 GPUs, but this machine has 1 (1)" in r.err, str(r)
    r = repo.pipe("run", "b", env=dict(path, CUDA_VISIBLE_DEVICES="-1"))
    assert r.code == 2 and "CUDA_VISIBLE_DEVICES='-1' hides the 2 detected" in r.err, str(r)
    r = repo.pipe("run", "b", env=path)  # (unset: every device detected, as before)
    assert r.code == 0, str(r)


def test_a_venv_python_path_that_is_no_python_says_so(repo):
    # Was: `/bin/true -m venv DIR` exits 0 having made nothing, and the step failed with a bare
    # "No such file or directory: .../bin/python", saying nothing of the python: it was given.
    repo.pipefile("""
        environments:
          v: {type: venv, python: /bin/true}
        steps:
          a: {command: 'true', environment: v}
    """)
    r = repo.pipe("run", env={"PATH": "/usr/bin:/bin"})  # (no uv: `python -m venv`)
    assert r.code == 1, str(r)
    assert "making its venv with python '/bin/true' left no" in r.err, str(r)
    assert "the path of a Python interpreter" in r.err, str(r)
    assert not list((repo.root / ".pipe/store/envs/builds").iterdir())  # (nothing half-made kept)


def test_an_image_name_docker_cannot_read_gets_a_fix(repo):
    # Was: "cannot look up image 'UPPER/Case:tag': ... invalid reference format: repository name
    # must be lowercase" with no hint: the one error of the kind that said no fix.
    from envsupport import docker_client

    docker_client()  # (skips where no Docker daemon answers)
    repo.pipefile("""
        environments:
          bad: {type: docker, image: "UPPER/Case:tag", network: none}
        steps:
          t: {command: 'true', environment: bad}
    """)
    r = repo.pipe("run")
    assert r.code == 2 and "Pipefile:3:" in r.err and "cannot look up image 'UPPER/Case:tag'" in r.err, str(r)
    assert "hint: fix the image name" in r.err and "lowercase" in r.err, str(r)


def test_an_environment_variable_pipe_also_sets_for_the_step_is_no_internal_error(repo):
    # Was: "internal error: TypeError(dict() got multiple values for keyword argument
    # 'MLFLOW_TRACKING_URI')": a step rendered as on Azure ML is given one by pipe (where its
    # metrics are gathered), and an environment setting it too could not start any such step.
    repo.pipefile("""
        environments:
          e: {type: local, env: {MLFLOW_TRACKING_URI: "file:///nowhere", MINE: kept}}
          v: {type: venv, env: {MLFLOW_TRACKING_URI: "file:///nowhere", MINE: kept}}
        steps:
          a: {command: 'echo "$MINE $MLFLOW_TRACKING_URI" > ${{outputs.o}}', render: azureml, environment: e, outputs: {o: a.txt}}
          b: {command: 'echo "$MINE $MLFLOW_TRACKING_URI" > ${{outputs.o}}', render: azureml, environment: v, outputs: {o: b.txt}}
    """)
    r = repo.pipe("run", timeout=300)
    assert r.code == 0, str(r)
    for out in ("a.txt", "b.txt"):
        mine, uri = repo.read(out).split()
        assert mine == "kept" and uri.startswith("file://") and uri.endswith("/mlruns"), (out, uri)


def test_a_fifo_as_a_requirements_file_is_an_error_not_a_hang(repo):
    # Was: `pipe status` (and every run) hung for ever, reading a FIFO named as the requirements
    # file or by one of its -r lines, waiting for a writer that never comes.
    repo.pipefile("""
        environments:
          v: {type: venv, requirements: req.txt}
        steps:
          a: {command: 'true', environment: v}
    """)
    os.mkfifo(repo.root / "inc.txt")
    repo.write("req.txt", "-r inc.txt\n")
    r = repo.pipe("status", timeout=20)
    assert r.code == 0 and "never built" in r.out, str(r)
    (repo.root / "req.txt").unlink()
    os.mkfifo(repo.root / "req.txt")
    r = repo.pipe("status", timeout=20)
    assert r.code == 2, str(r)
    assert "Pipefile:3:" in r.err and "requirements file 'req.txt' of environment 'v' is not a file" in r.err, str(r)


def test_a_dockerignore_that_is_a_fifo_is_an_error_not_a_hang(repo):
    # Was: every load (pipe validate, status, run) hung for ever opening it, waiting for a writer.
    repo.write("img/Dockerfile", "FROM scratch\n")
    os.mkfifo(repo.root / "img/.dockerignore")
    repo.pipefile("""
        environments:
          img: {type: docker, build: img}
        steps:
          b: {command: 'true', environment: img}
    """)
    r = repo.pipe("validate", timeout=20)
    assert r.code == 2, str(r)
    assert "img/.dockerignore is not a file" in r.err and "make it a regular file" in r.err, str(r)


def test_a_dockerfile_that_is_a_fifo_is_an_error_not_a_hang(repo):
    # Was: pipe run hung for ever before planning, opening it to find the images it builds FROM.
    from envsupport import docker_client

    docker_client()  # (skips where no Docker daemon answers)
    (repo.root / "img").mkdir()
    os.mkfifo(repo.root / "img/Dockerfile")
    repo.pipefile("""
        environments:
          img: {type: docker, build: img}
        steps:
          b: {command: 'true', environment: img}
    """)
    r = repo.pipe("run", timeout=30)
    assert r.code == 2 and "Pipefile:3:" in r.err and "which has no img/Dockerfile" in r.err, str(r)


def _real_socket():
    host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    return host[len("unix://") :] if host.startswith("unix://") else None


class _Daemon:
    """The daemon a pipe talks to: a forwarder (at `front`) to the real one, stopped and started
    again by the test as a daemon that goes away and comes back."""

    def __init__(self, front: str, real: str):
        self.front, self.real, self.proc = front, real, None

    def up(self) -> None:
        if os.path.exists(self.front):
            os.unlink(self.front)
        self.proc = subprocess.Popen([sys.executable, "-c", _PROXY, self.front, self.real])
        for _ in range(50):
            if os.path.exists(self.front):
                return
            time.sleep(0.1)

    def down(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


def _left_containers_setup(repo, tmp_path):
    from envsupport import busybox_rootfs, docker_client, need

    client = docker_client()
    real = _real_socket()
    need(real is not None and os.path.exists(real), "the daemon is not at a local unix socket")
    image = f"pipefile-test/busybox-left:{os.getpid()}"
    client.api.import_image_from_data(busybox_rootfs(), repository=image.split(":")[0], tag=image.split(":")[1])
    step = f"left{os.getpid()}"
    daemon = _Daemon(str(tmp_path / "d.sock"), real)
    env = dict(os.environ, PIPE_PLAIN="1", DOCKER_HOST=f"unix://{daemon.front}")
    env.pop("PIPE_STORE_DIR", None)

    def pipefile(command):
        repo.pipefile(f"""
            environments:
              bb: {{type: docker, image: "{image}"}}
            steps:
              {step}: {{command: '{command}', outputs: {{o: out/s.txt}}, environment: bb}}
        """)

    def ours(**kw):
        return client.containers.list(filters={"label": f"org.pipefile.step={step}"}, **kw)

    def start_pipe():
        p = subprocess.Popen(PIPE + ["run"], cwd=repo.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while not ours():
            assert time.monotonic() < deadline and p.poll() is None, "the step's container never ran"
            time.sleep(0.2)
        return p

    def cleanup():
        daemon.down()
        for c in ours(all=True):
            c.remove(force=True)
        client.images.remove(image, force=True)

    return daemon, env, pipefile, ours, start_pipe, cleanup


def test_a_container_given_up_when_the_daemon_went_away_is_removed_by_the_next_run(repo, tmp_path):
    # Was: the step was given up (status 125) and its container, which could not be removed
    # then, was never removed: still running its command (writing in the step's mounts)
    # after pipe had moved on, then kept for ever, as the run that left it had ended normally.
    daemon, env, pipefile, ours, start_pipe, cleanup = _left_containers_setup(repo, tmp_path)
    try:
        daemon.up()
        pipefile("sleep 120; echo > ${{outputs.o}}")
        p = start_pipe()
        daemon.down()
        p.communicate(timeout=90)
        assert p.returncode == 1
        # Its command was stopped (it would write on in the step's mounts), though pipe could
        # not tell the daemon, which keeps the container, exited, for the next run to remove.
        deadline = time.monotonic() + 15
        while ours() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert ours() == [] and len(ours(all=True)) == 1
        log = next((repo.root / ".pipe/jobs").glob("*/left*.log")).read_text()
        assert "its command, still running, was stopped" in log, log
        daemon.up()
        pipefile("echo done > ${{outputs.o}}")
        r = subprocess.run(PIPE + ["run"], cwd=repo.root, env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert ours(all=True) == []
        assert not (repo.root / ".pipe/containers").exists()
    finally:
        cleanup()


def test_containers_of_a_killed_pipe_are_removed_once_the_daemon_answers_again(repo, tmp_path):
    # Was: the run after a kill -9 found no daemon, so removed no container, and let the
    # killed run go all the same: its containers were never removed.
    daemon, env, pipefile, ours, start_pipe, cleanup = _left_containers_setup(repo, tmp_path)
    try:
        daemon.up()
        pipefile("sleep 120; echo > ${{outputs.o}}")
        p = start_pipe()
        p.kill()
        p.communicate(timeout=30)
        daemon.down()
        r = subprocess.run(PIPE + ["run"], cwd=repo.root, env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 2 and "cannot reach the Docker daemon" in r.stderr, r.stderr
        assert len(ours(all=True)) == 1  # (its command was stopped by that run, as a local step's is)
        daemon.up()
        pipefile("echo done > ${{outputs.o}}")
        r = subprocess.run(PIPE + ["run"], cwd=repo.root, env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert ours(all=True) == []
        assert not (repo.root / ".pipe/containers").exists()
    finally:
        cleanup()


def test_a_pipefile_used_as_a_component_keeps_its_venv_and_reads_its_paths_from_its_folder(repo):
    # Was: a component's environment held paths relative to the calling workspace in its
    # identity (an interpreter's path, the -r files, a wheel by path; a docker mount's source
    # too), so its steps had other keys than when that Pipefile runs on its own (environments.md
    # says the identity is the same): a second venv built, every step run again. And pip ran
    # in the calling workspace, where `./wheels/...` named by the component is not.
    _wheel(repo.root / "train/wheels/foo-1.0-py3-none-any.whl", "inner")
    repo.write("train/req.txt", "-r more.txt\n")
    repo.write("train/more.txt", "./wheels/foo-1.0-py3-none-any.whl\n")
    (repo.root / "train/bin").mkdir(parents=True)
    os.symlink(sys.executable, repo.root / "train/bin/py")
    repo.write(
        "train/Pipefile",
        """
        environments:
          v: {type: venv, requirements: req.txt, python: bin/py}
        steps:
          a: {command: 'python -c "import foo; print(foo.VALUE)" > ${{outputs.o}}', outputs: {o: {path: out/a.txt, output: true}}, environment: v}
        """,
    )
    repo.pipefile("""
        steps:
          t: {component: ./train/Pipefile}
    """)
    alone = repo.pipe("-C", "train", "envs", "--json", check=True).json["environments"]
    used = repo.pipe("envs", "--json", check=True).json["environments"]
    assert [r["identity"] for r in used if r["name"] == "train/Pipefile:v"] == [alone[0]["identity"]]
    r = repo.pipe("run", timeout=300)
    assert r.code == 0, str(r)


def test_a_damaged_environments_record_is_replaced_not_an_internal_error(repo, tmp_path):
    # Was: .pipe/environments.json holding another shape (a list, a record that is no object,
    # a build that is no string: a hand edit, a bad copy) made every run that used an
    # environment, and `pipe envs prune` in any workspace sharing the store, exit 70.
    store = str(tmp_path / "store")
    other = tmp_path / "other"
    other.mkdir()
    (other / "Pipefile").write_text("steps:\n  b: {command: 'true'}\n")
    repo.pipefile("""
        environments:
          e: {type: local, env: {MODE: fast}}
        steps:
          a: {command: 'echo $MODE > ${{outputs.o}}', outputs: {o: out/a.txt}, environment: e}
    """)
    env = {"PIPE_STORE_DIR": store}
    assert repo.pipe("run", env=env).code == 0
    record = repo.root / ".pipe/environments.json"
    for damaged in ('{"v": 1, "environments": [1]}', '{"v": 1, "environments": {"e": {"build": [1]}, "f": 5}}', "[]"):
        record.write_text(damaged)
        r = subprocess.run(
            PIPE + ["envs", "prune", "--dry-run"],
            cwd=other,
            env=dict(os.environ, PIPE_STORE_DIR=store, PIPE_PLAIN="1"),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 0, (damaged, r.stderr)
        r = repo.pipe("run", "--force", env=env)
        assert r.code == 0, (damaged, str(r))
        assert repo.read("out/a.txt") == "fast\n"


def test_a_damaged_build_record_in_the_store_is_listed_not_an_internal_error(repo, tmp_path):
    # Was: a build's pipe-env.json that is not an object (or whose fields are of other types)
    # made `pipe envs` and `pipe envs prune` exit 70.
    store = tmp_path / "store"
    envs = store / "envs"
    (envs / "builds/venv-0123.ab").mkdir(parents=True)
    os.symlink("builds/venv-0123.ab", envs / "venv-0123")
    repo.pipefile("steps:\n  a: {command: 'true'}\n")
    env = {"PIPE_STORE_DIR": str(store)}
    for damaged in ("[1]", '{"kind": 5, "name": [1], "created": "x"}'):
        (envs / "builds/venv-0123.ab/pipe-env.json").write_text(damaged)
        r = repo.pipe("envs", env=env)
        assert r.code == 0 and "venv-0123" in r.out, (damaged, str(r))
        r = repo.pipe("envs", "--json", env=env)
        assert r.code == 0 and r.json["builds"][0]["type"] == "venv", (damaged, str(r))
        assert repo.pipe("envs", "prune", "--dry-run", env=env).code == 0


def test_an_environment_that_failed_to_build_is_not_built_again_for_each_step_of_the_run(repo):
    # Was: each step that needed it built it again, and failed again: a pip resolution that
    # fails after minutes cost that many minutes per step, with -k (docs: built once).
    true = shutil.which("true")
    repo.pipefile(f"""
        environments:
          v: {{type: venv, python: "{true}"}}
        steps:
          a: {{command: 'true', environment: v}}
          b: {{command: 'true', environment: v}}
          c: {{command: 'true', environment: v}}
    """)
    r = repo.pipe("run", "-k", "-j1", timeout=300)
    assert r.code == 1, str(r)
    logs = {s: (repo.root / f".pipe/jobs/1/{s}.log").read_text() for s in "abc"}
    assert sum("building venv environment 'v'" in t for t in logs.values()) == 1, logs
    built = next(s for s, t in logs.items() if "building venv environment 'v'" in t)
    assert r.err.count("failed to build earlier in this run (its output is in") == 2, r.err
    assert f"its output is in .pipe/jobs/1/{built}.log" in r.err
    # The next run tries again.
    r = repo.pipe("run", "-k", "-j1", timeout=300)
    assert "building venv environment 'v'" in r.err


def test_a_dockerfile_outside_its_build_folder_is_said_to_be_so(repo):
    # Was: "'../Dockerfile.gpu' is outside the workspace (the Pipefile's folder)" for a file
    # that is in the workspace, beside the build folder; and an absolute path was "relative to
    # the Pipefile's folder", where dockerfile: is relative to the build folder.
    from workspace_repo import validation_errors

    repo.write("envs/Dockerfile.gpu", "FROM scratch\n")
    repo.write("envs/img/Dockerfile", "FROM scratch\n")
    for df, said in [
        ("../Dockerfile.gpu", "'../Dockerfile.gpu' is outside the build folder 'envs/img'"),
        ("/abs/Dockerfile", "'/abs/Dockerfile' is an absolute path; it is relative to the build folder 'envs/img'"),
    ]:
        repo.pipefile(f"""
            environments:
              b: {{type: docker, build: envs/img, dockerfile: "{df}"}}
            steps:
              s: {{command: 'true', environment: b}}
        """)
        errors = validation_errors(repo.root)
        assert [e.message for e in errors] == [f"dockerfile of environment 'b': {said}"], errors


def test_requirements_edited_while_the_run_goes_on_are_not_built_under_the_old_key(repo):
    # Was: the venv was built from the requirements as they were when a step first needed it,
    # but the steps' keys held them as they were when the run planned them: the outputs of the
    # edited requirements were recorded under the old key, and once the file was edited back,
    # `pipe run` called them fresh: stale.
    _wheel(repo.root / "wheels/one/foo-1.0-py3-none-any.whl", "one")
    _wheel(repo.root / "wheels/two/foo-1.0-py3-none-any.whl", "two")
    repo.write("req.txt", "./wheels/one/foo-1.0-py3-none-any.whl\n")
    repo.pipefile("""
        environments:
          v: {type: venv, requirements: req.txt}
        steps:
          edit:
            command: echo ./wheels/two/foo-1.0-py3-none-any.whl > req.txt && echo > ${{outputs.o}}
            outputs: {o: out/edit.txt}
          use:
            command: python -c "import foo; print(foo.VALUE)" > ${{outputs.o}}
            inputs: {e: out/edit.txt}
            outputs: {o: out/use.txt}
            environment: v
    """)
    r = repo.pipe("run", timeout=300)
    assert r.code == 1 and "changed since this run planned its steps" in r.err, str(r)
    repo.write("req.txt", "./wheels/one/foo-1.0-py3-none-any.whl\n")
    r = repo.pipe("run", "use", timeout=300)
    assert r.code == 0, str(r)
    assert repo.read("out/use.txt").strip() == "one"


def test_two_mounts_on_one_target_are_an_error_when_the_pipefile_loads(repo):
    # Was: accepted by `pipe validate`; Docker refused the container only when a step started
    # ("Duplicate mount point"), after the steps before it had run.
    from workspace_repo import validation_errors

    for mounts, said in [
        ('["a:/data", "b:/data/"]', "mount 'b:/data/' of environment 'd': '/data' is mounted twice"),
        ('["a:/"]', "mount 'a:/' of environment 'd': the target '/' is the container's own root"),
    ]:
        repo.pipefile(f"""
            environments:
              d: {{type: docker, image: busybox, mounts: {mounts}}}
            steps:
              s: {{command: 'true', environment: d}}
        """)
        assert [e.message for e in validation_errors(repo.root)] == [said]


def test_a_run_of_another_pipefile_keeps_this_workspaces_records(repo, tmp_path):
    # Was: `pipe run -f train.Pipefile` replaced .pipe/environments.json with its own
    # environments only, and prune never read this workspace's record: `pipe envs prune`
    # (of Pipefile) then removed the venv train.Pipefile's steps are built in.
    repo.write("req.txt", "# nothing to install\n")
    repo.pipefile("""
        environments:
          a: {type: venv}
        steps:
          s: {command: 'echo a > ${{outputs.o}}', outputs: {o: out/a.txt}, environment: a}
    """)
    repo.write(
        "train.Pipefile",
        """
        environments:
          b: {type: venv, requirements: req.txt}
        steps:
          t: {command: 'echo b > ${{outputs.o}}', outputs: {o: out/b.txt}, environment: b}
        """,
    )
    assert repo.outcomes("-f", "train.Pipefile", timeout=300) == {"t": "ran"}
    assert repo.outcomes(timeout=300) == {"s": "ran"}
    builds = repo.pipe("envs", "--json", check=True).json["builds"]
    assert len(builds) == 2 and all(b["used"] for b in builds), builds
    r = repo.pipe("envs", "prune", check=True)
    assert "no unused environment builds" in r.out, str(r)
    assert repo.outcomes("-f", "train.Pipefile") == {"t": "fresh"}
    # The other way round too, and the record of a Pipefile removed no longer keeps its build.
    assert "no unused" in repo.pipe("envs", "prune", "-f", "train.Pipefile", check=True).out
    (repo.root / "train.Pipefile").unlink()
    r = repo.pipe("envs", "prune", check=True)
    assert "removed 1 unused" in r.out and "(b," in r.out, str(r)


# A forwarder that, on SIGUSR1, stops taking connections (its socket gone) while those it
# has go on: a daemon shutting down, whose last answers reach the requests made before.
_CLOSING_PROXY = """
import os, signal, socket, sys, threading
srv = socket.socket(socket.AF_UNIX)
srv.bind(sys.argv[1])
srv.listen(64)
def close(*_):
    os.unlink(sys.argv[1])
    srv.close()
signal.signal(signal.SIGUSR1, close)
def pump(a, b):
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
while True:
    try:
        c, _ = srv.accept()
    except OSError:
        break
    u = socket.socket(socket.AF_UNIX)
    u.connect(sys.argv[2])
    threading.Thread(target=pump, args=(c, u), daemon=True).start()
    threading.Thread(target=pump, args=(u, c), daemon=True).start()
threading.Event().wait()
"""


def test_a_docker_daemon_stopped_with_sigterm_is_said_not_read_as_the_steps_failure(repo, tmp_path):
    # Was: a dockerd stopped with SIGTERM stops its containers first, so the step's command
    # died of a SIGTERM it never got from pipe, and the step read "exited with status 143",
    # its log empty: the command's own failure, to all appearances.
    import signal as signals

    from envsupport import busybox_rootfs, docker_client, need

    client = docker_client()
    real = _real_socket()
    need(real is not None and os.path.exists(real), "the daemon is not at a local unix socket")
    image = f"pipefile-test/busybox-term:{os.getpid()}"
    client.api.import_image_from_data(busybox_rootfs(), repository=image.split(":")[0], tag=image.split(":")[1])
    step = f"term{os.getpid()}"
    front = str(tmp_path / "d.sock")
    proxy = subprocess.Popen([sys.executable, "-c", _CLOSING_PROXY, front, real])
    try:
        for _ in range(50):
            if os.path.exists(front):
                break
            time.sleep(0.1)
        repo.pipefile(f"""
            environments:
              bb: {{type: docker, image: "{image}"}}
            steps:
              {step}: {{command: 'sleep 60; echo > ${{{{outputs.o}}}}', outputs: {{o: out/s.txt}}, environment: bb}}
        """)
        env = dict(os.environ, PIPE_PLAIN="1", DOCKER_HOST=f"unix://{front}")
        env.pop("PIPE_STORE_DIR", None)
        p = subprocess.Popen(
            PIPE + ["run"], cwd=repo.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 60
        while not (running := client.containers.list(filters={"label": f"org.pipefile.step={step}"})):
            assert time.monotonic() < deadline and p.poll() is None, "the step's container never ran"
            time.sleep(0.2)
        time.sleep(1.0)  # (pipe is waiting for it)
        proxy.send_signal(signals.SIGUSR1)  # the daemon shuts down: no new connection...
        time.sleep(0.2)
        running[0].kill(signal="SIGTERM")  # ...and stops its containers
        out, err = p.communicate(timeout=90)
        assert p.returncode == 1, err
        log = (repo.root / f".pipe/jobs/1/{step}.log").read_text()
        assert "the Docker daemon went away while the step ran" in log, (log, out, err)
        assert "exited with status 143" not in out + err, out + err
    finally:
        proxy.kill()
        proxy.wait()
        for c in client.containers.list(all=True, filters={"label": f"org.pipefile.step={step}"}):
            c.remove(force=True)
        client.images.remove(image, force=True)


def test_a_step_that_ends_of_a_sigterm_while_the_daemon_answers_keeps_its_status(repo, tmp_path):
    # The other side of the above: the daemon still answers, so 143 is the command's own.
    from envsupport import busybox_rootfs, docker_client

    client = docker_client()
    image = f"pipefile-test/busybox-own:{os.getpid()}"
    client.api.import_image_from_data(busybox_rootfs(), repository=image.split(":")[0], tag=image.split(":")[1])
    try:
        repo.pipefile(f"""
            environments:
              bb: {{type: docker, image: "{image}"}}
            steps:
              a: {{command: 'kill -TERM $$', environment: bb}}
        """)
        r = repo.pipe("run", timeout=120)
        assert r.code == 1 and "status 143" in r.out + r.err, str(r)
        assert "went away" not in repo.read(".pipe/jobs/1/a.log")
    finally:
        client.images.remove(image, force=True)


def test_containers_of_a_served_job_whose_server_was_killed_are_removed_by_the_next_serve(tmp_path):
    # Was: `pipe serve` killed with -9 while a job ran a docker step: the restart stopped the
    # step's processes and removed the job's working folder, which held the only record of
    # its run, so its container was never removed (exited, kept for ever).
    import signal as signals

    from envsupport import busybox_rootfs, docker_client
    from serve_site import Server, require_serve_deps, token, wait_state
    from workspace_repo import Repo

    require_serve_deps()
    client = docker_client()
    image = f"pipefile-test/busybox-serve:{os.getpid()}"
    client.api.import_image_from_data(busybox_rootfs(), repository=image.split(":")[0], tag=image.split(":")[1])
    step = f"served{os.getpid()}"
    root = tmp_path / "ws"
    root.mkdir()
    repo = Repo(root)
    repo.pipefile(f"""
        name: boxed
        environments:
          bb: {{type: docker, image: "{image}", network: none}}
        steps:
          {step}:
            command: sleep 120; echo done > ${{{{outputs.out}}}}
            outputs:
              out: {{path: build/out.txt, output: true}}
            environment: bb
    """)

    def ours():
        return client.containers.list(all=True, filters={"label": f"org.pipefile.step={step}"})

    try:
        repo.pipe("publish", check=True)
        tok = token(repo, "--scope", "admin")
        server = Server(repo.root)
        try:
            c = server.client(tok)
            job = c.post("/v1/endpoints/boxed/jobs", json={}).json()
            wait_state(c, job["id"], ("running",), timeout=60)
            deadline = time.monotonic() + 60
            while not ours():
                assert time.monotonic() < deadline, "the step's container never ran"
                time.sleep(0.2)
            server.stop(signals.SIGKILL)
            assert len(ours()) == 1
            server.start()
            deadline = time.monotonic() + 30
            while ours() and time.monotonic() < deadline:
                time.sleep(0.2)
            assert ours() == [], "the killed server's container was kept"
        finally:
            server.stop(signals.SIGKILL)
    finally:
        for k in ours():
            k.remove(force=True)
        client.images.remove(image, force=True)


def test_a_build_context_link_pointed_elsewhere_at_the_same_content_rebuilds_the_image(repo, tmp_path):
    # Was: the identity of a build: folder (one with no .dockerignore, or a folder that its
    # .dockerignore keeps whole) counted a link as what it points to, while the build is sent
    # the link itself: a link pointed at another file of the same content (here one outside
    # the context, which the image cannot reach) kept the old image, and its steps fresh.
    from envsupport import busybox_rootfs, docker_client

    client = docker_client()
    base = f"pipefile-test/busybox-link:{os.getpid()}"
    client.api.import_image_from_data(busybox_rootfs(), repository=base.split(":")[0], tag=base.split(":")[1])
    outside = tmp_path / "outside.txt"
    outside.write_text("hello\n")
    try:
        repo.write("img/Dockerfile", f"FROM {base}\nCOPY . /app\n")
        repo.write("img/a.txt", "hello\n")
        repo.write("img/sub/b.txt", "hello\n")
        os.symlink("a.txt", repo.root / "img/cfg")
        os.symlink("b.txt", repo.root / "img/sub/cfg")
        repo.pipefile("""
            environments:
              img: {type: docker, build: img}
            steps:
              s: {command: 'cat /app/cfg /app/sub/cfg > ${{outputs.o}}', outputs: {o: out/s.txt}, environment: img}
        """)
        seen = {_identity(repo, "img")}
        (repo.root / "img/cfg").unlink()
        os.symlink(outside, repo.root / "img/cfg")  # the same content, out of the context
        seen.add(_identity(repo, "img"))
        assert len(seen) == 2, "a link pointed elsewhere left the image's identity as it was"
        # A folder that the .dockerignore keeps whole: its links are keyed as links too.
        repo.write("img/.dockerignore", "*.md\n")
        seen.add(_identity(repo, "img"))
        (repo.root / "img/sub/cfg").unlink()
        os.symlink(outside, repo.root / "img/sub/cfg")
        seen.add(_identity(repo, "img"))
        assert len(seen) == 4, "a link in a folder kept whole left the image's identity as it was"
        # A link renamed, or a second link to one target: both are what the build is sent.
        os.rename(repo.root / "img/sub/cfg", repo.root / "img/sub/cfg2")
        seen.add(_identity(repo, "img"))
        os.symlink(outside, repo.root / "img/sub/cfg3")
        seen.add(_identity(repo, "img"))
        assert len(seen) == 6
    finally:
        client.images.remove(base, force=True)  # (nothing was built: identities only)


def test_requirements_named_through_environment_variables_are_part_of_the_venv_identity(repo, tmp_path):
    # Was: pip expands ${NAME} in requirements files, but the identity read `-r ${REQS}/more.txt`
    # and `${WHEELS}/foo.whl` as they are written: the file and the wheel pip installs were not
    # keyed, so a wheel rebuilt (or an included file edited) left the venv and its steps stale.
    _wheel(tmp_path / "wheels/foo-1.0-py3-none-any.whl", "one")
    (tmp_path / "reqs").mkdir()
    (tmp_path / "reqs/more.txt").write_text("${WHEELS}/foo-1.0-py3-none-any.whl\n")
    repo.write("req.txt", "-r ${REQS}/more.txt\n")
    repo.pipefile("""
        environments:
          v: {type: venv, requirements: req.txt}
        steps:
          a: {command: 'python -c "import foo; print(foo.VALUE)" > ${{outputs.o}}', outputs: {o: out/a.txt}, environment: v}
    """)
    env = {"REQS": str(tmp_path / "reqs"), "WHEELS": str(tmp_path / "wheels")}
    assert repo.outcomes(timeout=300, env=env) == {"a": "ran"}
    assert repo.read("out/a.txt").strip() == "one"
    assert repo.outcomes(env=env) == {"a": "fresh"}
    _wheel(tmp_path / "wheels/foo-1.0-py3-none-any.whl", "two")
    assert repo.outcomes(timeout=300, env=env) == {"a": "ran"}
    assert repo.read("out/a.txt").strip() == "two"
    (tmp_path / "reqs/more.txt").write_text("${WHEELS}/foo-1.0-py3-none-any.whl  # edited\n")
    st = {s["name"]: s for s in repo.pipe("status", "--json", env=env).json["steps"]}
    assert [r["kind"] for r in st["a"]["reasons"]] == ["env_changed"], st["a"]


def test_a_requirements_include_split_over_two_lines_is_part_of_the_venv_identity(repo):
    # Was: pip joins a line ending with a backslash to the next one, but the identity read
    # `-r \` and `  more.txt` apart: the included file was not keyed, its edits went unseen.
    repo.write("req.txt", "-r \\\n    more.txt\n")
    repo.write("more.txt", "# one\n")
    repo.pipefile("""
        environments:
          v: {type: venv, requirements: req.txt}
        steps:
          a: {command: 'true', environment: v}
    """)
    before = _identity(repo, "v")
    repo.write("more.txt", "# two\n")
    assert _identity(repo, "v") != before
