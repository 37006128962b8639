"""ContentStore, ActionCache, WorkspaceState and WorkspaceLock."""

import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pipefile.cache.content_store import ContentChanged, CorruptObject
from pipefile.digest import FILE, Hasher, PathDigest
from pipefile.errors import PipefileError, WorkspaceBusy
from pipefile.workspace import ActionCache, ContentStore, WorkspaceLock, WorkspaceState


def test_objects_are_named_by_content_read_only_and_deduplicated(tmp_path):
    store = ContentStore(str(tmp_path / "s"))
    src = tmp_path / "f"
    src.write_bytes(b"data")
    d = store.put_file(str(src))
    assert store.has(d)
    mode = os.stat(store.path(d)).st_mode
    assert not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    assert store.put_file(str(src)) == d
    assert os.listdir(store.tmp) == []


def test_background_sync_stores_outputs_and_waits_for_them_at_the_end(tmp_path):
    store = ContentStore(str(tmp_path / "store"))
    store.start_background_sync()
    src = tmp_path / "out.bin"
    digests = []
    for i in range(20):
        src.write_bytes(os.urandom(100) + bytes([i]))
        digests.append(store.put_file(str(src), durable=False))
    store.stop_background_sync()
    assert all(store.complete(PathDigest(FILE, d, 0)) for d in digests)
    assert not [t for t in threading.enumerate() if t.name == "store-sync"]
    assert store.background_sync is None  # later writes are fsynced inline again
    # an object that vanished before its turn (gc, quarantine) is no error
    store.start_background_sync()
    store.background_sync.add(str(tmp_path / "gone"))
    store.stop_background_sync()


def test_put_refuses_content_that_does_not_match_the_expected_digest(tmp_path):
    store = ContentStore(str(tmp_path / "s"))
    src = tmp_path / "f"
    src.write_bytes(b"data")
    with pytest.raises(ContentChanged):
        store.put_file(str(src), expected="0" * 32)
    assert not store.has("0" * 32) and os.listdir(store.tmp) == []


def test_tree_round_trip_and_corrupt_object_detected(tmp_path):
    ws = tmp_path / "ws"
    (ws / "d/sub").mkdir(parents=True)
    (ws / "d/a").write_text("A")
    (ws / "d/sub/run.sh").write_text("#!/bin/sh\n")
    os.chmod(ws / "d/sub/run.sh", 0o755)
    store = ContentStore(str(tmp_path / "s"))
    tree = Hasher(str(ws)).tree("d")
    store.put_tree(tree, str(ws / "d"))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    pd = PathDigest("tree", tree.digest, tree.size)
    assert store.complete(pd)
    store.materialize(pd, str(tmp_path / "out"), str(scratch))
    assert (tmp_path / "out/a").read_text() == "A"
    assert os.stat(tmp_path / "out/sub/run.sh").st_mode & stat.S_IXUSR
    # Corrupt one object: a restore must refuse it rather than write wrong bytes.
    obj = store.path(tree.files[0][1])
    os.chmod(obj, 0o644)
    with open(obj, "w") as f:
        f.write("evil")
    with pytest.raises(CorruptObject):
        store.materialize(pd, str(tmp_path / "out2"), str(scratch))
    assert not (tmp_path / "out2").exists()


def test_action_cache_round_trip_and_garbage_is_a_miss(tmp_path):
    ac = ActionCache(str(tmp_path))
    outs = {"o": PathDigest(FILE, "ab" * 16, 3)}
    ac.put("k" * 32, outs, {"v": 1}, 1.5)
    assert ac.get("k" * 32) == outs
    assert ac.get("z" * 32) is None
    with open(ac.path("k" * 32), "w") as f:
        f.write("{not json")
    assert ac.get("k" * 32) is None


def test_state_of_an_older_version_is_moved_aside(tmp_path):
    path = str(tmp_path / "state.db")
    st = WorkspaceState(path)
    st.db.execute("UPDATE meta SET v='0' WHERE k='state_version'")
    st.close()
    st = WorkspaceState(path)
    assert st.steps() == {}
    assert any(n.startswith("state.db.old-") for n in os.listdir(tmp_path))


def test_state_of_a_newer_version_is_refused_and_left_alone(tmp_path):
    path = str(tmp_path / "state.db")
    st = WorkspaceState(path)
    st.db.execute("UPDATE meta SET v='999' WHERE k='state_version'")
    st.close()
    before = Path(path).read_bytes()
    with pytest.raises(PipefileError, match="newer pipe"):
        WorkspaceState(path)
    assert Path(path).read_bytes() == before


def test_lock_is_exclusive_and_released_when_its_holder_dies(tmp_path):
    path = str(tmp_path / "lock")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl,os,sys,time; fd=os.open(sys.argv[1], os.O_RDWR|os.O_CREAT);"
            "fcntl.flock(fd, fcntl.LOCK_EX); print('ok', flush=True); time.sleep(60)",
            path,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "ok"
    with pytest.raises(WorkspaceBusy):
        WorkspaceLock(path).acquire(wait=False)
    holder.kill()
    holder.wait()
    holder.stdout.close()
    lock = WorkspaceLock(path)
    lock.acquire(wait=False)
    lock.release()


def test_background_sync_is_not_woken_for_each_object_and_wait_looks_at_once(tmp_path, monkeypatch):
    # The thread looks every POLL_SECONDS (here: never, within the test), so that it does not
    # take the interpreter from a task committing its outputs; wait() makes it look now.
    from pipefile.cache import background_sync

    synced: list = []
    monkeypatch.setattr(background_sync, "_sync_or_drop", synced.append)
    monkeypatch.setattr(background_sync.BackgroundSync, "POLL_SECONDS", 60.0)
    sync = background_sync.BackgroundSync()
    for i in range(5):
        sync.add(f"object-{i}")
    time.sleep(0.2)
    assert synced == []
    sync.wait()
    assert synced == [f"object-{i}" for i in range(5)]
    sync.add("last")
    sync.close()  # what was handed over before the close is synced too
    assert synced[-1] == "last"
    assert not [t for t in threading.enumerate() if t.name == "store-sync"]
