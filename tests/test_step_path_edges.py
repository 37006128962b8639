"""Edge cases of the path between one step's command and the next, which its speed-ups must
not change: a FIFO read as an input (digested whole), a FIFO left as an output (a located
failure, not a hang), a step that removed .pipe/stage, an object gone before its background
fsync, a process waited for by one thread while another polls it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest
import xxhash
from workspace_repo import PIPE

from pipefile.digest import Hasher


def _digest_in_thread(root, rel: str, unblock: str, seconds: float = 5.0):
    """Hasher(root).digest(rel) on a thread; if it still waits after `seconds`, the FIFO
    `unblock` is opened and closed for writing once (its reader then sees its end)."""
    got: dict = {}

    def digest():
        got["d"] = Hasher(str(root)).digest(rel)

    t = threading.Thread(target=digest, daemon=True)
    t.start()
    t.join(seconds)
    if t.is_alive():
        fd = os.open(unblock, os.O_WRONLY | os.O_NONBLOCK)  # (a reader waits in open: this succeeds)
        os.close(fd)
        t.join(seconds)
    return got.get("d")


def test_a_fifo_input_is_digested_whole_as_before(tmp_path):
    """A FIFO's size is 0: it must not take the one-read path of a small file, which read one
    byte of it, closed it (the rest is lost) and opened it again to stream it: waiting for
    a writer that had gone (a hang), or digesting what was left."""
    fifo = tmp_path / "in"
    os.mkfifo(fifo)
    payload = b"one line through a named pipe\n" * 20

    def writer():
        with open(fifo, "wb") as f:  # (waits for the digest's open)
            f.write(payload)

    w = threading.Thread(target=writer, daemon=True)
    w.start()
    d = _digest_in_thread(tmp_path, "in", str(fifo))
    w.join(5)
    assert d is not None and d.digest == xxhash.xxh3_128_hexdigest(payload)


def test_dev_null_as_an_input_digests_as_an_empty_file(tmp_path):
    os.symlink("/dev/null", tmp_path / "null")
    (tmp_path / "empty").write_bytes(b"")
    h = Hasher(str(tmp_path))
    assert h.digest("null").digest == h.digest("empty").digest


def test_a_step_that_leaves_a_fifo_as_its_output_fails_instead_of_hanging(repo):
    repo.pipefile(
        """\
        version: 1
        steps:
          s: {command: "mkfifo ${{outputs.o}}", outputs: {o: out.txt}}
        """
    )
    try:
        r = repo.pipe("run", timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("pipe run waited forever on the FIFO the step left as its output")
    assert r.code == 1, str(r)
    assert "out.txt" in r.err and "FIFO" in r.err, str(r)


@pytest.mark.parametrize("ran_before", [False, True], ids=["first-run", "restore"])
def test_a_fifo_found_at_an_outputs_path_is_replaced_not_read(repo, ran_before):
    """Something put a FIFO where a step writes (by hand, or a tool's leftover): deciding the
    step, saving what was there and restoring over it looked at it as content and opened it,
    which waits for a writer forever (`pipe status` and `pipe run` hung). It holds no output:
    the step runs (or is restored) and its output replaces it."""
    repo.pipefile(
        """\
        version: 1
        steps:
          s: {command: "echo hi > ${{outputs.o}}", outputs: {o: build/out.txt}}
        """
    )
    if ran_before:
        assert repo.pipe("run").code == 0
        os.unlink(repo.root / "build/out.txt")
    else:
        (repo.root / "build").mkdir()
    os.mkfifo(repo.root / "build/out.txt")
    try:
        status = repo.pipe("status", timeout=30)
        r = repo.pipe("run", timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("pipe waited forever on the FIFO at the output's path")
    assert status.code == 0, str(status)
    assert r.code == 0, str(r)
    assert ("restored" if ran_before else "ok") in r.err, str(r)
    assert (repo.root / "build/out.txt").read_text() == "hi\n"
    assert repo.pipe("status").code == 0


@pytest.mark.parametrize("special", ["fifo", "dev-zero-link"])
def test_a_step_that_turns_its_input_into_a_fifo_fails_instead_of_hanging(repo, special):
    """After its command, a step's inputs are checked unchanged by digesting them again: one
    it replaced with a FIFO was opened (waiting for a writer forever, deaf to SIGTERM: the
    wait is on a worker thread) and a link to /dev/zero was read without end. Neither holds
    the content the step was keyed on: the step fails, as for any input it modified."""
    make = "mkfifo in.txt" if special == "fifo" else "ln -s /dev/zero in.txt"
    repo.write("in.txt", "x\n")
    repo.pipefile(
        f"""\
        version: 1
        steps:
          s: {{command: "rm in.txt && {make} && echo b > b.txt", inputs: {{i: in.txt}}, outputs: {{o: b.txt}}}}
        """
    )
    try:
        r = repo.pipe("run", timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("pipe run waited forever re-reading the input the step replaced")
    assert r.code == 1, str(r)
    assert "modified its own input 'in.txt'" in r.err, str(r)


def test_an_input_the_user_edits_while_the_step_runs_fails_it_without_blaming_it(repo):
    """A user saving a script while a long step that reads it runs: the step's outputs are of
    one content or the other, so they are not kept (exit 1). The message said only that the
    step modified its own input; it now says that something else may have."""
    repo.write("in.txt", "x\n")
    repo.pipefile(
        """\
        version: 1
        steps:
          s: {command: "sleep 1 && cat in.txt > b.txt", inputs: {i: in.txt}, outputs: {o: b.txt}}
        """
    )
    env = dict(os.environ, PIPE_PLAIN="1")
    env.pop("PIPE_STORE_DIR", None)
    p = subprocess.Popen(
        PIPE + ["run"], cwd=repo.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    time.sleep(0.5)
    (repo.root / "in.txt").write_text("edited by the user\n")
    _, err = p.communicate(timeout=30)
    assert p.returncode == 1, err
    assert "modified its own input 'in.txt'" in err and "or something else changed it meanwhile" in err, err
    assert not (repo.root / "b.txt").exists()
    assert repo.pipe("run").code == 0 and repo.read("b.txt") == "edited by the user\n"


@pytest.mark.parametrize("special", ["fifo", "dev-zero-link"])
@pytest.mark.parametrize("args", [[], ["s"], ["--json"], ["--follow"]], ids=["all", "step", "json", "follow"])
def test_pipe_logs_does_not_read_a_fifo_or_device_in_place_of_a_log(repo, special, args):
    """A log file under .pipe/jobs/N/ replaced by a FIFO was opened by `pipe logs` (waiting for
    a writer forever) and a link to /dev/zero read into memory without end: neither is a log."""
    repo.pipefile(
        """\
        version: 1
        steps:
          s: {command: "echo hi > ${{outputs.o}}", outputs: {o: out.txt}}
        """
    )
    assert repo.pipe("run").code == 0
    log = repo.root / ".pipe/jobs/1/s.log"
    os.unlink(log)
    if special == "fifo":
        os.mkfifo(log)
    else:
        os.symlink("/dev/zero", log)
    try:
        r = repo.pipe("logs", "1", *args, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("pipe logs waited forever on the FIFO, or read the device without end")
    assert r.code == 0, str(r)
    assert "\0" not in r.out


@pytest.mark.parametrize(
    "where,command",
    [("cache/specs", "status"), ("cache/specs", "run"), ("store/actions", "gc"), ("store/workspaces", "gc")],
)
def test_a_fifo_in_place_of_a_file_of_pipes_state_is_not_waited_on(repo, where, command):
    """A file pipe keeps under .pipe/ (the spec cache's entry, an action-cache entry, the
    store's record of a workspace) replaced by a FIFO was opened: `pipe status`, `pipe run`
    and `pipe gc` waited for a writer forever. It is read as an unreadable entry instead."""
    repo.pipefile(
        """\
        version: 1
        steps:
          s: {command: "echo hi > ${{outputs.o}}", outputs: {o: out.txt}}
        """
    )
    assert repo.pipe("run").code == 0
    assert repo.pipe("run").code == 0  # (the spec cache is written by now)
    state = repo.root / ".pipe" / where
    found = [p for p in state.rglob("*") if p.is_file() and not p.name.startswith(".")]
    assert found, sorted(state.rglob("*"))
    for p in found:
        os.unlink(p)
        os.mkfifo(p)
    try:
        r = repo.pipe(command, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"pipe {command} waited forever on a FIFO under .pipe/{where}")
    assert r.code == 0, str(r)


def test_a_fifo_in_place_of_a_materialised_artifact_version_is_put_back(repo):
    """A version a step reads through ${{artifacts.NAME:V}} is checked in place before the
    run (.pipe/artifacts/NAME/V): a FIFO there was digested, and `pipe run` waited for a
    writer forever. It is put back from the store instead."""
    train = """\
        version: 1
        steps:
          train:
            command: mkdir -p ${{outputs.model}} && echo w > ${{outputs.model}}/w
            outputs: {model: {path: build/model, name: model}}
"""
    repo.pipefile(train)
    assert repo.pipe("run").code == 0
    repo.pipefile(
        train
        + """\
          use:
            command: cat ${{inputs.m}}/w > ${{outputs.o}}
            inputs: {m: "${{artifacts.model:1}}"}
            outputs: {o: build/o}
        """
    )
    r = repo.pipe("run")
    assert r.code == 0, str(r)
    version = repo.root / ".pipe/artifacts/model/1"
    for p in [*version.rglob("*"), version]:
        p.chmod(0o755)
    for p in version.iterdir():
        p.unlink()
    version.rmdir()
    os.mkfifo(version)
    try:
        r = repo.pipe("run", timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("pipe run waited forever on a FIFO in place of an artifact version")
    assert r.code == 0, str(r)
    assert (version / "w").read_text() == "w\n"


def _background_sync():
    try:
        from pipefile.cache.background_sync import BackgroundSync
    except ImportError:  # (before 23562f9 it lived in content_store.py: the same test there)
        from pipefile.cache.content_store import BackgroundSync  # type: ignore[no-redef]

    return BackgroundSync()


def test_an_object_removed_before_its_background_fsync_is_no_hang(tmp_path):
    sync = _background_sync()
    kept = tmp_path / "kept"
    kept.write_bytes(b"x")
    gone = tmp_path / "gone"
    gone.write_bytes(b"y")
    sync.add(str(gone))
    sync.add(str(kept))
    os.unlink(gone)  # (collected, or replaced by the same bytes, before the thread looked)
    done = threading.Event()

    def wait():
        sync.wait()
        sync.close()
        done.set()

    threading.Thread(target=wait, daemon=True).start()
    assert done.wait(5), "wait() did not return"
    assert kept.exists()


def test_wait_returns_at_once_rather_than_at_the_next_poll(tmp_path):
    sync = _background_sync()
    sync.POLL_SECONDS = 30.0  # (a poll that long: only wait()'s wake-up can make it look)
    f = tmp_path / "o"
    f.write_bytes(b"z")
    sync.add(str(f))
    time.sleep(0.1)  # (the thread is asleep in its poll)
    t0 = time.monotonic()
    sync.wait()
    assert time.monotonic() - t0 < 5
    sync.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="posix_spawn path: Linux")
def test_a_spawned_process_waited_for_while_polled_gives_its_status_to_both(tmp_path):
    from pipefile.envs.spawn import SpawnedProcess

    with open(tmp_path / "log", "wb") as log:
        p = SpawnedProcess(["/bin/sh", "-c", "sleep 0.3; exit 3"], dict(os.environ), log)
        seen: list = []
        stop = threading.Event()

        def poller():
            while not stop.is_set():
                seen.append(p.poll())
                time.sleep(0.005)

        t = threading.Thread(target=poller, daemon=True)
        t.start()
        assert p.wait() == 3
        time.sleep(0.05)
        stop.set()
        t.join(5)
    assert seen[-1] == 3 and set(seen) <= {None, 3}


def test_a_step_that_removed_the_stage_folder_does_not_fail_the_next_ones(repo):
    """As before 7c37106: the next task's staging folder is made again when it is gone."""
    repo.pipefile(
        """\
        version: 1
        steps:
          a: {command: "echo a > a.txt; rm -rf .pipe/stage", outputs: {o: a.txt}}
          b:
            command: "cp ${{inputs.a}} ${{outputs.o}}/x"
            inputs: {a: a.txt}
            outputs: {o: {type: uri_folder, path: bdir}}
          c: {command: "cp ${{inputs.a}} ${{outputs.o}}", inputs: {a: a.txt}, outputs: {o: c.txt}}
        """
    )
    r = repo.pipe("run", "-j", "1")
    assert r.code == 0, str(r)
    assert repo.read("bdir/x") == "a\n" and repo.read("c.txt") == "a\n"


def test_a_fifo_in_place_of_a_jobs_pipeline_file_is_not_read(tmp_path):
    """Whether a job ran an Azure ML pipeline is read from its file in the store, else from the
    workspace's (`pipe metrics`, the job page): a FIFO there was opened and waited on."""
    from types import SimpleNamespace

    from pipefile.report.metrics import is_azureml_job

    os.mkfifo(tmp_path / "pipeline.yml")
    ws = SimpleNamespace(root=str(tmp_path), store=SimpleNamespace(read=lambda digest: None))
    job = SimpleNamespace(pipefile="pipeline.yml", pipefile_digest="0" * 32)
    got: dict = {}
    t = threading.Thread(target=lambda: got.setdefault("azureml", is_azureml_job(ws, job)), daemon=True)
    t.start()
    t.join(5)
    if t.is_alive():
        os.close(os.open(tmp_path / "pipeline.yml", os.O_WRONLY | os.O_NONBLOCK))  # let it go
        t.join(5)
        pytest.fail("is_azureml_job waited for a writer on a FIFO")
    assert got == {"azureml": False}
    (tmp_path / "pipeline.yml").unlink()
    (tmp_path / "pipeline.yml").write_text("type: pipeline\njobs:\n  a: {command: echo}\n")
    assert is_azureml_job(ws, job)
