"""Faults: a full disk, a corrupt or missing object in the store, a damaged cache entry."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess

import pytest
from workspace_repo import Repo

STEP = """
version: 1
steps:
  make:
    command: {command}
    inputs: {{i: in.txt}}
    outputs: {{o: build/out.bin}}
"""


def _objects(root) -> list:
    store = root / ".pipe/store/objects"
    return [p for p in store.rglob("*") if p.is_file()]


def _object_holding(root, content: bytes):
    (obj,) = [p for p in _objects(root) if p.read_bytes() == content]
    return obj


@contextlib.contextmanager
def tmpfs(mnt, size: str):
    """A small real file system, to fill up (needs root, as CI has)."""
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {r.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.fixture
def small_disk(tmp_path):
    """A workspace on a 3 MB tmpfs."""
    with tmpfs(tmp_path / "disk", "3m") as mnt:
        yield Repo(mnt)


def test_full_disk_fails_the_step_keeps_previous_output_and_store_consistent(small_disk):
    repo = small_disk
    repo.write("in.txt", "1")
    repo.pipefile(STEP.format(command="head -c 1000 /dev/zero > ${{outputs.o}}"))
    assert repo.outcomes() == {"make": "ran"}
    objects_before = sorted(_objects(repo.root))
    # 2 MB fits in the staging area, but not a second time in the store.
    repo.pipefile(STEP.format(command="head -c 2000000 /dev/urandom > ${{outputs.o}}"))
    r = repo.pipe("run")
    assert r.code == 1, r
    assert "no space left on the device" in r.err, r
    assert os.path.getsize(repo.root / "build/out.bin") == 1000  # the previous good output
    # Nothing half-written entered the store (the job's Pipefile snapshot did, whole).
    assert set(objects_before) <= set(_objects(repo.root))
    assert all(p.stat().st_size < 100_000 for p in _objects(repo.root))
    assert not list((repo.root / ".pipe/store/tmp").iterdir())
    assert repo.states() == {"make": "run"}
    # With the old command back, everything is as it was.
    repo.pipefile(STEP.format(command="head -c 1000 /dev/zero > ${{outputs.o}}"))
    assert repo.outcomes() == {"make": "fresh"}


def test_corrupt_object_is_quarantined_and_the_step_runs_instead(repo):
    repo.write("in.txt", "1")
    repo.pipefile(STEP.format(command="cat ${{inputs.i}} > ${{outputs.o}}"))
    assert repo.outcomes() == {"make": "ran"}
    os.remove(repo.root / "build/out.bin")
    obj = _object_holding(repo.root, b"1")
    os.chmod(obj, 0o644)
    obj.write_text("X")  # same size, wrong content
    r = repo.pipe("run", "--json")
    assert r.code == 0, r
    assert r.json["steps"][0]["outcome"] == "ran"
    assert "is corrupt" in r.err and "ran the step instead" in r.err
    assert repo.read("build/out.bin") == "1"
    assert (repo.root / ".pipe/store/corrupt").is_dir()
    assert obj.read_text() == "1"  # stored again, correctly
    os.remove(repo.root / "build/out.bin")
    assert repo.outcomes() == {"make": "restored"}


def test_missing_object_means_run_not_restore(repo):
    repo.write("in.txt", "1")
    repo.pipefile(STEP.format(command="cat ${{inputs.i}} > ${{outputs.o}}"))
    repo.outcomes()
    os.remove(repo.root / "build/out.bin")
    obj = _object_holding(repo.root, b"1")
    os.chmod(obj, 0o644)
    obj.unlink()
    assert repo.states() == {"make": "run"}
    assert repo.outcomes() == {"make": "ran"}


def test_damaged_action_cache_entry_is_a_miss(repo):
    repo.write("in.txt", "1")
    repo.pipefile(STEP.format(command="cat ${{inputs.i}} > ${{outputs.o}}"))
    repo.outcomes()
    (entry,) = (repo.root / ".pipe/store/actions").rglob("*.json")
    entry.write_text("{truncated")
    os.remove(repo.root / "build/out.bin")
    assert repo.outcomes() == {"make": "ran"}


def test_lost_workspace_state_is_rebuilt_from_the_cache_without_running(repo):
    repo.write("in.txt", "1")
    repo.pipefile(STEP.format(command="cat ${{inputs.i}} > ${{outputs.o}}"))
    repo.outcomes()
    for name in os.listdir(repo.root / ".pipe"):
        if name.startswith("state.db"):
            os.remove(repo.root / ".pipe" / name)
    assert repo.outcomes() == {"make": "fresh"}
    assert repo.states() == {"make": "fresh"}


@pytest.fixture
def small_mount(tmp_path):
    """A 1 MB tmpfs, mounted beside the workspace."""
    with tmpfs(tmp_path / "small", "1m") as mnt:
        yield mnt


def test_a_hand_edit_that_cannot_be_saved_is_left_where_it_is(repo, small_mount):
    env = {"PIPE_STORE_DIR": str(small_mount / "store")}
    repo.pipefile("""
        version: 1
        params: {n: 1}
        steps:
          a: {command: "echo ${{params.n}} > ${{outputs.o}}", outputs: {o: build/a.txt}}
    """)
    assert repo.outcomes(env=env) == {"a": "ran"}
    big = os.urandom(1_500_000)  # too big for the store's disk
    (repo.root / "build/a.txt").write_bytes(big)
    r = repo.pipe("run", "-p", "n=2", env=env)
    assert r.code == 1 and "no space left" in r.err, r
    assert (repo.root / "build/a.txt").read_bytes() == big  # never deleted unsaved


def test_outputs_in_a_folder_on_another_file_system(repo, small_mount):
    os.symlink(small_mount, repo.root / "build")
    repo.pipefile("""
        version: 1
        steps:
          staged: {command: "echo A > ${{outputs.o}}", outputs: {o: build/a.txt}}
          literal: {command: "echo L > build/lit.txt", outputs: {o: build/lit.txt}}
          folder: {command: "echo F > ${{outputs.d}}/f", outputs: {d: build/dir/}}
    """)
    assert set(repo.outcomes().values()) == {"ran"}
    assert (small_mount / "a.txt").read_text() == "A\n"
    assert (small_mount / "lit.txt").read_text() == "L\n"
    assert set(repo.outcomes("--force").values()) == {"ran"}
    for name in ("a.txt", "lit.txt"):
        os.remove(small_mount / name)
    shutil.rmtree(small_mount / "dir")
    assert set(repo.outcomes().values()) == {"restored"}
    assert (small_mount / "dir/f").read_text() == "F\n"
    assert sorted(os.listdir(small_mount)) == ["a.txt", "dir", "lit.txt"]  # no temp folders left


def _fill(mnt) -> None:
    """Take every free block of the file system at `mnt` (file `filler`)."""
    fd = os.open(mnt / "filler", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        for chunk in (65536, 4096, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * chunk)
            except OSError:
                pass
    finally:
        os.close(fd)


def test_full_disk_before_any_step_is_a_user_error_and_loses_nothing(small_disk):
    repo = small_disk
    repo.write("in.txt", "1")
    repo.pipefile(STEP.format(command="cat ${{inputs.i}} > ${{outputs.o}}"))
    # A new workspace on a full disk: .pipe/ cannot even be made.
    _fill(repo.root)
    r = repo.pipe("run")
    assert r.code == 2, r
    assert "no space left on the device" in r.err and "PIPE_STORE_DIR" in r.err and "internal error" not in r.err, r
    os.remove(repo.root / "filler")
    shutil.rmtree(repo.root / ".pipe")
    assert repo.outcomes() == {"make": "ran"}
    # A used workspace: opening the state database (its -wal and -shm files) fails.
    for name in os.listdir(repo.root / ".pipe"):
        if name.endswith(("-wal", "-shm")):
            os.remove(repo.root / ".pipe" / name)
    _fill(repo.root)
    repo.pipefile(STEP.format(command="cat ${{inputs.i}} ${{inputs.i}} > ${{outputs.o}}"))
    r = repo.pipe("run")
    assert r.code == 2, r
    assert "no space left on the device to write" in r.err and "state.db" in r.err, r
    os.remove(repo.root / "filler")
    assert repo.read("build/out.bin") == "1"  # nothing ran, nothing lost
    r = repo.pipe("jobs", "--json")
    assert r.code == 0 and len(r.json["jobs"]) == 1, r  # the history is intact
    assert repo.outcomes() == {"make": "ran"}
    assert repo.read("build/out.bin") == "11"


def test_a_full_disk_while_a_small_output_is_stored_names_the_output(small_disk):
    # A small output is stored from memory (read once): a full disk there still names it.
    repo = small_disk
    repo.write("in.txt", "1")
    repo.pipefile(
        STEP.format(command="head -c 40000 /dev/urandom > ${{outputs.o}}; head -c 4000000 /dev/zero > filler || true")
    )
    r = repo.pipe("run")
    assert r.code == 1, r
    assert "no space left on the device while storing" in r.err and "build/out.bin" in r.err, r
    assert "tree manifest" not in r.err, r
    assert not list((repo.root / ".pipe/store/tmp").iterdir())


@pytest.mark.parametrize("folder", ["jobs", "scratch", "running", "store", "store/tmp"])
def test_a_file_where_pipe_keeps_a_folder_is_a_user_error_naming_it(repo, folder):
    """A file in place of one of .pipe/'s folders (a copy gone wrong, a hand edit) was an
    internal error (exit 70: FileExistsError). It is the user's to fix, named, exit 2."""
    repo.write("in.txt", "1")
    repo.pipefile(STEP.format(command="cat ${{inputs.i}} > ${{outputs.o}}"))
    assert repo.outcomes() == {"make": "ran"}
    there = repo.root / ".pipe" / folder
    shutil.rmtree(there)
    there.write_text("not a folder")
    repo.write("in.txt", "2")
    r = repo.pipe("run")
    assert r.code == 2, r
    assert f"{there}: pipe keeps a folder of its own there" in r.err and f"rm {there}" in r.err, r
    assert "internal error" not in r.err, r
    assert repo.read("build/out.bin") == "1"  # nothing ran
    there.unlink()
    assert repo.outcomes() == {"make": "ran"}
    assert repo.read("build/out.bin") == "2"


@pytest.mark.parametrize("what", ["file", "fifo"])
def test_a_file_or_fifo_in_place_of_the_stage_folder_is_replaced(repo, what):
    """.pipe/stage is emptied by every run (what a killed run staged): a FIFO in its place was
    opened by that clean-up and `pipe run` waited forever. What is there goes; the run goes on."""
    repo.write("in.txt", "1")
    repo.pipefile(STEP.format(command="cat ${{inputs.i}} > ${{outputs.o}}"))
    assert repo.outcomes() == {"make": "ran"}
    stage = repo.root / ".pipe/stage"
    shutil.rmtree(stage)
    if what == "file":
        stage.write_text("x")
    else:
        os.mkfifo(stage)
    repo.write("in.txt", "2")
    try:
        r = repo.pipe("run", timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("pipe run waited forever on a FIFO at .pipe/stage")
    assert r.code == 0, r
    assert stage.is_dir() and repo.read("build/out.bin") == "2"


@pytest.mark.parametrize("name", ["state.db", "jobs.db", "lock"])
@pytest.mark.parametrize("command", [["run"], ["status"], ["gc", "--dry-run"]])
def test_a_folder_where_pipe_keeps_a_file_is_a_user_error_naming_it(repo, name, command):
    """A folder in place of a database or the lock was an internal error (exit 70: SQLite's
    "unable to open database file", IsADirectoryError)."""
    repo.write("in.txt", "1")
    repo.pipefile(STEP.format(command="cat ${{inputs.i}} > ${{outputs.o}}"))
    assert repo.outcomes() == {"make": "ran"}
    there = repo.root / ".pipe" / name
    there.unlink()
    there.mkdir()
    r = repo.pipe(*command)
    if name == "lock" and command == ["status"]:
        assert r.code == 0, r  # (status takes no lock)
        return
    assert r.code == 2, r
    assert f"{there}: pipe keeps a file of its own there, and a folder is in its place" in r.err, r
    assert f"rm -r {there}" in r.err and "internal error" not in r.err, r


def test_a_job_folder_that_is_a_file_shows_no_logs(repo):
    repo.write("in.txt", "1")
    repo.pipefile(STEP.format(command="echo said; cat ${{inputs.i}} > ${{outputs.o}}"))
    assert repo.outcomes() == {"make": "ran"}
    folder = repo.root / ".pipe/jobs/1"
    shutil.rmtree(folder)
    folder.write_text("x")
    for args in (["logs", "1"], ["logs", "1", "make"], ["logs", "1", "--json"]):
        r = repo.pipe(*args, timeout=30)
        assert r.code == 0 and "internal error" not in r.err, r


def test_gc_with_a_damaged_workspace_record_or_register(repo):
    """A record of the store's register that names no path (a NUL in it) was an internal error
    of `pipe gc` (ValueError); the register being a file, another (NotADirectoryError)."""
    repo.write("in.txt", "1")
    repo.pipefile(STEP.format(command="cat ${{inputs.i}} > ${{outputs.o}}"))
    assert repo.outcomes() == {"make": "ran"}
    register = repo.root / ".pipe/store/workspaces"
    (record,) = [p for p in register.iterdir() if not p.name.startswith(".")]
    record.write_bytes(b"\0garbage")
    r = repo.pipe("gc")
    assert r.code == 0 and "internal error" not in r.err, r
    assert not record.exists()  # (it named no workspace: dropped, as a gone workspace's)
    assert repo.outcomes() == {"make": "fresh"}  # (and the workspace notes itself again)
    assert record.exists()
    shutil.rmtree(register)
    register.write_text("x")
    r = repo.pipe("gc")
    assert r.code == 2 and f"{register}: the store keeps a folder there" in r.err, r
    assert "pipe run" in r.err and "internal error" not in r.err, r
