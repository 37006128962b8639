"""pipe processes that meet (several at once in a workspace or a store), and runs killed at any moment."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

import pytest
from workspace_repo import PIPE

CHAIN = """\
version: 1
steps:
  a: {command: "echo a > a.txt", outputs: {out: a.txt}}
  b: {command: "cat a.txt > b.txt", inputs: {a: a.txt}, outputs: {out: b.txt}}
  c: {command: "cat b.txt > c.txt", inputs: {b: b.txt}, outputs: {out: c.txt}}
"""


def _env(extra=None):
    e = dict(os.environ, PIPE_PLAIN="1")
    e.pop("PIPE_STORE_DIR", None)
    e.update(extra or {})
    return e


def _start(root, *args, env=None):
    return subprocess.Popen(
        PIPE + list(args),
        cwd=root,
        env=_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def test_three_runs_started_at_once_in_a_new_workspace(repo):
    # They make .pipe/ and its databases together; then each waits for the workspace in turn.
    repo.pipefile(CHAIN)
    ps = [_start(repo.root, "run") for _ in range(3)]
    outs = [p.communicate(timeout=120) for p in ps]
    for p, (out, err) in zip(ps, outs):
        assert p.returncode == 0, (out, err)
        assert "Traceback" not in err and "locked" not in err, err
    assert repo.states() == {"a": "fresh", "b": "fresh", "c": "fresh"}


def _wait_for(path, p, seconds=30):
    deadline = time.time() + seconds
    while not path.exists():
        assert p.poll() is None, p.communicate()
        assert time.time() < deadline
        time.sleep(0.02)


@pytest.mark.parametrize(
    "output, write",
    [
        ("out.txt", "echo partial > out.txt"),  # a file written where it is declared, as make does
        ("out", "mkdir -p out && echo partial > out/p.txt"),  # a folder, likewise
    ],
)
def test_an_output_a_killed_step_began_where_nothing_was_is_removed_not_saved(repo, output, write):
    # The step writes part of its output in place, then waits (until `go` exists; not an input).
    repo.pipefile(
        f"""\
        version: 1
        steps:
          s:
            command: "{write}; touch started; while [ ! -e go ]; do sleep 0.05; done; echo done >> {output if output.endswith(".txt") else output + "/f.txt"}"
            outputs: {{o: {output}}}
        """
    )
    p = _start(repo.root, "run")
    _wait_for(repo.root / "started", p)
    os.killpg(p.pid, signal.SIGKILL)
    p.communicate()
    repo.write("go", "")
    r = repo.pipe("run")
    assert r.code == 0, str(r)
    # What the killed step had begun is not content of the user's: never saved, never listed.
    assert "saved the previous content" not in r.out + r.err, str(r)
    assert repo.pipe("recover").out.strip() == "nothing was saved in this workspace"
    assert repo.states() == {"s": "fresh"}


def test_gc_waiting_for_a_run_keeps_what_a_new_workspace_of_the_store_made_meanwhile(tmp_path):
    store = str(tmp_path / "store")
    env = {"PIPE_STORE_DIR": store}
    a, b = tmp_path / "a", tmp_path / "b"
    for root in (a, b):
        root.mkdir()
    # A's run holds A's lock until `go` exists, so the gc started in A waits.
    (a / "Pipefile").write_text(
        'version: 1\nsteps:\n  s: {command: "touch started; while [ ! -e go ]; do sleep 0.05; done; echo a > a.txt",'
        " outputs: {o: a.txt}}\n"
    )
    (b / "Pipefile").write_text(
        'version: 1\nsteps:\n  m: {command: "echo model-b > m.txt", outputs: {o: {path: m.txt, name: model}}}\n'
    )
    run_a = _start(a, "run", env=env)
    _wait_for(a / "started", run_a)
    gc = _start(a, "gc", env=env)
    deadline = time.time() + 30
    err = b""
    while b"waiting for another pipe process" not in err:  # gc has listed the store's workspaces
        assert time.time() < deadline and gc.poll() is None
        err += gc.stderr.buffer.read1(100) if hasattr(gc.stderr, "buffer") else b""
    # Meanwhile a workspace new to the store runs for the first time, and makes a version.
    r = subprocess.run(PIPE + ["run"], cwd=b, env=_env(env), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    (a / "go").write_text("")
    for p in (run_a, gc):
        out, rest = p.communicate(timeout=60)
        assert p.returncode == 0, (out, rest)
    # What B made is still in the store: its job's Pipefile snapshot and its artifact version.
    out = tmp_path / "got.txt"
    r = subprocess.run(
        PIPE + ["artifacts", "get", "model:1", "-o", str(out)], cwd=b, env=_env(env), capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    r = subprocess.run(
        PIPE + ["clone", "last", "-o", str(tmp_path / "c")], cwd=b, env=_env(env), capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr


def test_a_workspace_new_to_the_store_writes_nothing_while_a_gc_of_the_store_decides(tmp_path):
    import fcntl

    store = tmp_path / "store"
    (store / "workspaces").mkdir(parents=True)
    b = tmp_path / "b"
    b.mkdir()
    (b / "Pipefile").write_text('version: 1\nsteps:\n  s: {command: "echo b > b.txt", outputs: {o: b.txt}}\n')
    # What a `pipe gc` of another workspace holds while it decides and deletes.
    fd = os.open(store / "workspaces" / ".gc-lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        p = _start(b, "run", env={"PIPE_STORE_DIR": str(store)})
        time.sleep(1.0)
        assert p.poll() is None  # noted in the store, and waiting
        assert not (store / "objects").exists() or not any((store / "objects").iterdir())
        assert not (b / "b.txt").exists()
    finally:
        os.close(fd)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert (b / "b.txt").read_text() == "b\n"


def test_a_killed_runs_job_is_interrupted_even_when_its_pid_is_taken_again(repo):
    import sqlite3

    repo.pipefile(
        'version: 1\nsteps:\n  s: {command: "touch started; while [ ! -e go ]; do sleep 0.05; done; echo s > s.txt",'
        " outputs: {o: s.txt}}\n"
    )
    p = _start(repo.root, "run")
    _wait_for(repo.root / "started", p)
    os.killpg(p.pid, signal.SIGKILL)
    p.communicate()
    # Pids are reused: another process (this one, here) now has the dead pipe's.
    db = sqlite3.connect(repo.root / ".pipe" / "jobs.db")
    db.execute("UPDATE jobs SET pid=? WHERE id=1", (os.getpid(),))
    db.commit()
    db.close()
    assert repo.pipe("jobs", "show", "1", "--json").json["status"] == "running"  # (what the pid alone says)
    repo.write("go", "")
    assert repo.outcomes() == {"s": "ran"}
    # The next run, holding the workspace, knows the killed run's job ended.
    assert repo.pipe("jobs", "show", "1", "--json").json["status"] == "interrupted"


def _processes_naming(text: str) -> list:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if text.encode() in f.read():  # (a zombie's is empty)
                    found.append(int(pid))
        except OSError:
            pass
    return found


def test_the_build_tools_of_a_killed_run_are_stopped_by_the_next_run(repo):
    repo.pipefile(
        """\
        version: 1
        environments:
          v: {type: venv}
        steps:
          s: {command: 'python -c "print(1)" > ${{outputs.o}}', outputs: {o: s.txt}, environment: v}
          t: {command: 'echo t > ${{outputs.o}}', outputs: {o: t.txt}}
        """
    )
    builds = str(repo.root / ".pipe" / "store" / "envs" / "builds")
    p = _start(repo.root, "run", "s")
    deadline = time.time() + 30
    while not _processes_naming(builds):  # the build's tool (python -m venv) is under way
        assert time.time() < deadline and p.poll() is None
        time.sleep(0.05)
    os.killpg(p.pid, signal.SIGKILL)  # pipe's group: the tool runs in a group of its own
    p.communicate()
    left = _processes_naming(builds)
    try:
        assert left  # the tool lives on (it would finish its build, seconds later, for no one)
        assert repo.outcomes("t") == {"t": "ran"}  # its recovery stops what the killed run left
        deadline = time.time() + 0.5
        while _processes_naming(builds) and time.time() < deadline:
            time.sleep(0.05)
        assert not _processes_naming(builds)
    finally:
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def test_a_restore_killed_on_another_file_system_leaves_nothing_beside_the_output(repo, tmp_path):
    from test_faults import tmpfs

    with tmpfs(tmp_path / "m", "64m") as mnt:
        os.symlink(mnt, repo.root / "build")
        repo.pipefile(
            """
            version: 1
            steps:
              many:
                command: python -c "[open(f'${{outputs.d}}/{i}', 'w').write(str(i)) for i in range(500)]"
                outputs: {d: build/dir/}
            """
        )
        assert repo.outcomes() == {"many": "ran"}
        shutil.rmtree(mnt / "dir")
        p = _start(repo.root, "run")  # restores build/dir: its content is built beside it, then renamed
        deadline = time.time() + 30
        while not [n for n in os.listdir(mnt) if n.startswith(".pipe")]:
            assert time.time() < deadline and p.poll() is None
            time.sleep(0.001)
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        assert repo.outcomes() == {"many": "restored"}
        assert os.listdir(mnt) == ["dir"] and len(os.listdir(mnt / "dir")) == 500


def test_publish_stores_nothing_while_a_gc_holds_the_workspace(repo):
    import fcntl

    repo.write("models/model.txt", "m")
    repo.pipefile(
        """\
        steps:
          a:
            command: cat ${{inputs.m}} > ${{outputs.o}}
            inputs: {m: models/model.txt}
            outputs: {o: {path: out.txt, output: true}}
        """
    )
    repo.pipe("status", check=True)
    (repo.root / ".pipe").mkdir(exist_ok=True)
    # What `pipe gc` holds while it decides and deletes: the snapshot publish stores (the
    # Pipefile, models/model.txt), named by no job, would be deleted under it.
    fd = os.open(repo.root / ".pipe" / "serve-gate", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        p = _start(repo.root, "publish", "--endpoint", "sc")
        time.sleep(1.0)
        assert p.poll() is None, p.communicate()
        objects = repo.root / ".pipe" / "store" / "objects"
        assert not objects.exists() or not any(objects.iterdir())
    finally:
        os.close(fd)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert "published endpoint 'sc' deployment 1" in out


def test_a_version_a_killed_run_was_materialising_is_removed_by_the_next_run(repo):
    (repo.root / "data").mkdir()
    for i in range(1000):
        (repo.root / "data" / str(i)).write_text(str(i))
    repo.pipefile("version: 1\nsteps: {}\n")
    repo.pipe("asset", "add", "data", "--name", "ds", check=True)
    shutil.rmtree(repo.root / "data")
    repo.pipefile(
        "version: 1\nsteps:\n  use: {command: 'ls ${{inputs.d}} | wc -l > ${{outputs.o}}',"
        ' inputs: {d: "${{artifacts.ds}}"}, outputs: {o: n.txt}}\n'
    )
    p = _start(repo.root, "run")
    versions = repo.root / ".pipe" / "artifacts" / "ds"
    deadline = time.time() + 30
    while not (versions.exists() and [n for n in os.listdir(versions) if n.startswith(".tmp-")]):
        assert time.time() < deadline and p.poll() is None, p.communicate()
        time.sleep(0.001)
    os.killpg(p.pid, signal.SIGKILL)  # while ds:1 is copied out of the store, read-only
    p.communicate()
    assert repo.outcomes() == {"use": "ran"}
    assert repo.read("n.txt").strip() == "1000"
    assert os.listdir(versions) == ["1"]  # the killed run's partial copy is gone


def test_envs_prune_waits_for_a_run_whose_steps_use_an_environment(repo):
    # train.yml's step runs in a venv (no requirements: built offline) until `go` exists; the
    # Pipefile, which `pipe envs prune` reads, declares no environment, and train.yml is removed
    # while the run goes on (a Pipefile's record keeps its builds only while it exists): once the
    # run is over, that build is unused.
    repo.write(
        "train.yml",
        """\
        version: 1
        environments:
          v: {type: venv}
        steps:
          t:
            command: 'touch started; while [ ! -e go ]; do sleep 0.05; done; python -c "import sys; print(sys.prefix)" > ${{outputs.o}}'
            outputs: {o: t.txt}
            environment: v
        """,
    )
    repo.pipefile("version: 1\nsteps:\n  p: {command: 'echo p > ${{outputs.o}}', outputs: {o: p.txt}}\n")
    run = _start(repo.root, "run", "-f", "train.yml")
    _wait_for(repo.root / "started", run, seconds=120)
    prune = _start(repo.root, "envs", "prune")
    time.sleep(1.0)
    (repo.root / "train.yml").unlink()
    (repo.root / "go").write_text("")
    for p in (run, prune):
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, (out, err)
    assert "waiting for another pipe process" in err and "removed 1 unused environment build(s)" in out
    # The step ran in its environment to the end: it was not removed under it.
    assert "/.pipe/store/envs/builds/venv-" in repo.read("t.txt")


def test_a_clone_killed_half_way_leaves_nothing_that_the_next_clone_keeps(repo, tmp_path):
    (repo.root / "data").mkdir()
    for i in range(1000):
        (repo.root / "data" / str(i)).write_text(str(i))
    repo.pipefile(
        "version: 1\nsteps:\n  n: {command: 'ls data | wc -l > ${{outputs.o}}', inputs: {d: data}, outputs: {o: n.txt}}\n"
    )
    repo.pipe("run", check=True)
    into = tmp_path / "clones"
    into.mkdir()
    p = _start(repo.root, "clone", "last", "-o", str(into / "one"))
    deadline = time.time() + 30
    while not [n for n in os.listdir(into) if n.startswith(".pipe-clone-")]:
        assert time.time() < deadline and p.poll() is None, p.communicate()
        time.sleep(0.001)
    os.killpg(p.pid, signal.SIGKILL)  # while the data is copied into the half-built clone
    p.communicate()
    r = repo.pipe("clone", "last", "-o", str(into / "two"))
    assert r.code == 0, str(r)
    assert os.listdir(into) == ["two"]  # the killed clone's half-built folder is gone
