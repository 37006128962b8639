"""A folder remote that holds what pipe never writes there, through the real CLI: a FIFO, a
device (a link to /dev/zero), a folder or a sparse giant where an entry, an object, a folder
manifest, the layout marker or an artifact record should be; and an object cut short. None
may hang pipe, fill its memory or disk, or cost more than the one thing it damages; a push
replaces what it can tell is damaged."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import stat
import threading
import time
from pathlib import Path

import pytest
import servers
import xxhash
from test_remote import make_workspace, outcomes, push, remote_objects, side_model_report
from test_remote import sftp as sftp  # noqa: F401 - the fixture, used by name
from workspace_repo import Repo

ALL = ("prepare", "train", "evaluate")


def _shared(tmp_path, *names) -> tuple:
    cache = tmp_path / "cache"
    repos = []
    for n in names:
        ws = make_workspace(tmp_path / n)
        ws.pipe("remote", "add", "team", str(cache), "--default", check=True)
        repos.append(ws)
    return (cache, *repos)


def _key(repo: Repo, step: str) -> str:
    return {s["name"]: s["key"] for s in repo.pipe("status", "--json").json["steps"]}[step]


def _entry(cache, repo: Repo, step: str):
    k = _key(repo, step)
    return cache / "actions" / k[:2] / (k[2:] + ".json")


def _object(cache, digest: str):
    return cache / "objects" / digest[:2] / digest[2:]


def _replace(path, how: str) -> None:
    """Put what pipe never writes in place of `path`."""
    os.chmod(path, 0o644)
    path.unlink()
    if how == "fifo":
        os.mkfifo(path)
    elif how == "zero":
        os.symlink("/dev/zero", path)  # endless bytes, and no size to tell
    elif how == "folder":
        path.mkdir()
    elif how == "sparse":
        with open(path, "wb") as f:
            f.truncate(1 << 30)  # a GiB that takes no disk here


def _run(repo: Repo, *args) -> dict:
    r = repo.pipe("run", "--json", *args, timeout=60)  # (a FIFO opened for reading waits forever)
    assert r.code == 0 and "internal error" not in r.err, str(r)
    return r


def _store_temps(repo: Repo) -> list:
    return list((repo.root / ".pipe" / "store" / "tmp").iterdir())


@pytest.mark.parametrize("how", ["fifo", "zero", "folder", "sparse"])
def test_a_damaged_entry_costs_only_its_step_and_the_next_push_replaces_it(tmp_path, how):
    cache, first, second = _shared(tmp_path, "first", "second")
    outcomes(first)
    push(first)
    _replace(_entry(cache, first, "train"), how)

    r = _run(second)
    got = {s["name"]: s["outcome"] for s in r.json["steps"]}
    # The rest of the remote stays in use: evaluate (same model bytes) is still restored.
    assert got == {"prepare": "restored", "train": "ran", "evaluate": "restored"}, str(r)
    assert "working locally" not in r.err, str(r)

    r = first.pipe("push", "--json", timeout=60)
    if how == "folder":  # a folder cannot be replaced by a file: that entry alone fails, named
        assert (
            r.code == 1 and r.json["entries"] == 0 and any(_key(first, "train")[:12] in e for e in r.json["errors"])
        ), str(r)
        assert _entry(cache, first, "train").is_dir()
        return
    assert r.code == 0 and r.json["entries"] == 1, str(r)
    assert stat.S_ISREG(os.lstat(_entry(cache, first, "train")).st_mode)
    third = make_workspace(tmp_path / "third")
    third.pipe("remote", "add", "team", str(cache), "--default", check=True)
    assert outcomes(third) == dict.fromkeys(ALL, "restored")


@pytest.mark.parametrize("how", ["fifo", "zero", "folder"])
def test_a_damaged_object_is_refused_run_instead_and_replaced_by_the_next_push(tmp_path, how):
    cache, first, second = _shared(tmp_path, "first", "second")
    outcomes(first)
    push(first)
    weights = xxhash.xxh3_128_hexdigest(first.read("build/model/weights.bin").encode())
    _replace(_object(cache, weights), how)

    r = _run(second)
    got = {s["name"]: s["outcome"] for s in r.json["steps"]}
    assert got["train"] == "ran" and got["prepare"] == "restored" and weights[:12] in r.err, str(r)
    assert second.read("build/model/weights.bin") == first.read("build/model/weights.bin")
    assert not _store_temps(second)

    # A plain push takes the entry's objects to be there (one read per entry, not a stat per
    # object); --repair checks them and replaces the damaged one.
    assert first.pipe("push", "--json", timeout=60).json["objects"] == 0
    r = first.pipe("push", "--json", "--repair", timeout=60)
    if how == "folder":  # refused, named; never moved inside the folder
        assert r.code == 1 and any(weights[:12] in e for e in r.json["errors"]), str(r)
        assert not any(_object(cache, weights).iterdir())
        return
    assert r.code == 0 and r.json["objects"] == 1, str(r)
    third = make_workspace(tmp_path / "third")
    third.pipe("remote", "add", "team", str(cache), "--default", check=True)
    assert outcomes(third) == dict.fromkeys(ALL, "restored")


@pytest.mark.parametrize("how", ["zero", "sparse", "fifo"])
def test_a_folder_manifest_that_never_ends_is_refused_before_it_fills_the_disk(tmp_path, how):
    cache, first, second = _shared(tmp_path, "first", "second")
    outcomes(first)
    push(first)
    tree = json.loads(_entry(cache, first, "train").read_text())["outputs"]["model"]["digest"]
    _replace(_object(cache, tree), how)
    r = _run(second)
    got = {s["name"]: s["outcome"] for s in r.json["steps"]}
    assert got["train"] == "ran" and "refused" in r.err, str(r)
    assert not _store_temps(second)
    r = second.pipe("pull", "--json", timeout=60)
    assert r.code == 0, str(r)  # (train is built here now: nothing to pull)


def test_an_object_cut_short_on_the_remote_is_replaced_by_the_next_push(tmp_path):
    cache, first, second = _shared(tmp_path, "first", "second")
    outcomes(first)
    push(first)
    path = remote_objects(str(cache))[xxhash.xxh3_128_hexdigest(first.read("build/model/weights.bin").encode())]
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:  # as a copy made with other tools and interrupted leaves it
        f.truncate(10)
    r = first.pipe("push", "--json", "--repair")
    assert r.code == 0 and r.json["objects"] == 1, str(r)
    assert outcomes(second) == dict.fromkeys(ALL, "restored")


def test_a_fifo_in_place_of_the_layout_marker_or_a_record_never_hangs(tmp_path):
    cache, first, second = _shared(tmp_path, "first", "second")
    outcomes(first)
    push(first)
    for rel in ("artifacts/model/tree-" + "0" * 32 + ".json", "versions/model/1.json"):
        (cache / rel).parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(cache / rel)
    r = second.pipe("pull", "--json", "--all-jobs", timeout=60)
    assert r.code == 0 and r.json["entries"] == 3, str(r)

    (cache / "pipe-remote.json").write_text("[" * 100000 + "]" * 100000)  # (was exit 70: RecursionError)
    for args in (("pull",), ("push",)):
        r = second.pipe(*args, timeout=60)
        assert r.code == 1 and "layout marker pipe-remote.json is not one pipe writes" in r.err, str(r)
        assert "hint:" in r.err and "internal error" not in r.err, str(r)

    _replace(cache / "pipe-remote.json", "fifo")
    third = make_workspace(tmp_path / "third")
    third.pipe("remote", "add", "team", str(cache), "--default", check=True)
    r = _run(third)
    assert "pipe-remote.json is a FIFO" in r.err and "working locally" in r.err, str(r)
    for args in (("pull",), ("push",)):
        r = third.pipe(*args, timeout=60)
        assert r.code == 1 and "pipe-remote.json is a FIFO" in r.err and "hint:" in r.err, str(r)


def test_a_fifo_in_place_of_a_version_number_fails_that_claim_not_the_push(tmp_path):
    ws = Repo(tmp_path / "ws")
    ws.root.mkdir()
    ws.pipefile("""
        version: 1
        steps:
          train:
            command: mkdir -p ${{outputs.model}} && echo weights > ${{outputs.model}}/w
            outputs: {model: {path: build/model, name: model}}
        """)
    outcomes(ws)
    cache = tmp_path / "cache"
    (cache / "versions" / "model").mkdir(parents=True)
    os.mkfifo(cache / "versions" / "model" / "1.json")
    r = ws.pipe("push", "--json", "--remote", str(cache), timeout=60)
    assert r.code == 1 and r.json["entries"] == 1 and r.json["artifacts"] == 1, str(r)
    assert any("version 1 of model is a FIFO" in e for e in r.json["errors"]), str(r)


# --- a remote that stops answering ---------------------------------------------------------
@pytest.fixture
def stalled():
    """A server on 127.0.0.1 that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    held: list = []

    def accept():
        while True:
            try:
                held.append(sock.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()
        for c in held:
            c.close()


def test_an_http_remote_that_stalls_times_out_and_the_run_works_locally(tmp_path, stalled):
    servers.need(importlib.util.find_spec("aiohttp") is not None, "aiohttp (fsspec's http) not installed")
    first = make_workspace(tmp_path / "first")
    url = f"http://127.0.0.1:{stalled}/cache"
    env = {"PIPE_REMOTE_TIMEOUT": "1"}
    t0 = time.monotonic()
    r = first.pipe("run", "--json", "--remote", url, env=env, timeout=60)
    assert r.code == 0 and {s["outcome"] for s in r.json["steps"]} == {"ran"}, str(r)
    assert "unreachable" in r.err and "working locally" in r.err, str(r)
    r = first.pipe("pull", "--remote", url, env=env, timeout=60)
    assert r.code == 1 and "unreachable" in r.err and "hint:" in r.err, str(r)
    assert time.monotonic() - t0 < 40
    r = first.pipe("pull", "--remote", url, env={"PIPE_REMOTE_TIMEOUT": "soon"}, timeout=60)
    assert r.code == 2 and "PIPE_REMOTE_TIMEOUT='soon' is not a number of seconds" in r.err, str(r)


def test_an_sftp_server_blocked_on_a_fifo_times_out(tmp_path, sftp):
    first, second = make_workspace(tmp_path / "first"), make_workspace(tmp_path / "second")
    for ws in (first, second):
        ws.pipe("remote", "add", "team", sftp.url("fifo-cache"), "--default", *sftp.options(), check=True)
    outcomes(first)
    push(first)
    entry = Path(sftp.base) / "fifo-cache" / "actions" / _key(first, "train")[:2]
    entry = entry / (_key(first, "train")[2:] + ".json")
    _replace(entry, "fifo")  # sftp-server's open() of it waits for a writer forever
    try:
        r = second.pipe("run", "--json", env={"PIPE_REMOTE_TIMEOUT": "2"}, timeout=60)
        assert r.code == 0 and "working locally" in r.err and "unreachable" in r.err, str(r)
        assert second.read("build/score.txt") == first.read("build/score.txt")
    finally:
        try:  # let the server's blocked open() go
            os.close(os.open(entry, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass


# --- credentials ---------------------------------------------------------------------------
@pytest.mark.parametrize("ch", ["/", "?", "#"])
def test_a_password_written_raw_with_a_url_delimiter_is_never_shown(tmp_path, ch):
    """urllib ends the host at '/', '?' or '#': `me:Se/cretXYZ@host` has no password for it,
    so the password was printed (whole, or the part before the delimiter) and could be
    committed."""
    ws = make_workspace(tmp_path / "ws")
    url = f"sftp://me:Se{ch}cretXYZ@127.0.0.1:9/cache"
    seen = []
    for args in (
        ("remote", "add", "pw", url),
        ("remote", "add", "pw", url, "--local"),
        ("push", "--remote", url),
        ("pull", "--remote", url),
        ("run", "--remote", url),
    ):
        r = ws.pipe(*args)
        assert r.code == 2 and "percent-encode" in r.err and "me:***@127.0.0.1:9/cache" in r.err, str(r)
        seen.append(r)
    assert not (ws.root / ".pipe-remotes.yaml").exists()
    # Written by hand into the local file: listed and used, never shown.
    ws.write(".pipe/remotes.yaml", f"version: 1\nremotes:\n  pw: {{url: '{url}'}}\n")
    seen += [ws.pipe("remote", "list"), ws.pipe("push", "--remote", "pw")]
    assert seen[-1].code == 2 and "percent-encode" in seen[-1].err, str(seen[-1])
    for r in seen:
        assert "cretXYZ" not in r.out + r.err and f"Se{ch}" not in r.out + r.err, str(r)


# --- a step left on the remote ---------------------------------------------------------------
def test_a_step_left_on_the_remote_that_cannot_be_brought_names_the_fix(tmp_path):
    """report reads side and model; `pipe run report model` leaves side on the remote. When
    model's restore fails (it runs instead) and side's objects are damaged too, report cannot
    run on side's content: it fails saying how to get side here, and that works."""
    a, b, cache = side_model_report(tmp_path)
    for f in ("build/model.txt", "build/side.txt"):
        path = remote_objects(str(cache))[xxhash.xxh3_128_hexdigest(a.read(f).encode())]
        os.chmod(path, 0o644)
        Path(path).write_text("damaged")
    r = b.pipe("run", "report", "model")
    assert r.code == 1 and "could not be brought" in r.err and "pipe run side" in r.err, str(r)
    assert b.pipe("run", "side").code == 0
    assert b.pipe("run", "report", "model").code == 0
    assert b.read("build/report.txt") == "side v2" + b.read("build/model.txt")


@pytest.mark.parametrize("how", ["fifo", "zero"])
def test_a_local_object_that_is_no_file_is_set_aside_by_a_push_not_left_to_fail_each(tmp_path, how):
    """Was: 'object ... is missing from the local store', no hint, the FIFO left in place, so
    every push failed alike and `pipe run` (the step fresh) never stored it again."""
    cache, first, second = _shared(tmp_path, "first", "second")
    outcomes(first)
    weights = xxhash.xxh3_128_hexdigest(first.read("build/model/weights.bin").encode())
    _replace(first.root / ".pipe" / "store" / "objects" / weights[:2] / weights[2:], how)

    r = first.pipe("push", "--json", timeout=60)
    assert r.code == 1 and any(f"local object {weights[:12]} is not a regular file" in e for e in r.json["errors"])
    assert not _object(cache, weights).exists() and (first.root / ".pipe" / "store" / "corrupt" / weights).exists()
    r = first.pipe("push", timeout=60)  # the entry is skipped, saying how to store its outputs again
    assert r.code == 0 and "pipe run train --force stores them again" in r.err + r.out, str(r)
    assert first.pipe("run", "train", "--force", timeout=60).code == 0
    assert first.pipe("push", timeout=60).code == 0
    assert outcomes(second) == dict.fromkeys(ALL, "restored")


def test_a_fifo_in_place_of_an_object_the_background_sync_holds_is_no_hang(tmp_path):
    """Was: the store's background fsync opened the FIFO for reading, which waits for a writer
    for ever, and a run waits for that thread before it ends."""
    import threading

    from pipefile.cache.background_sync import BackgroundSync

    sync = BackgroundSync()
    kept, fifo = tmp_path / "kept", tmp_path / "fifo"
    kept.write_bytes(b"x")
    os.mkfifo(fifo)  # (as if put in place of an object after it was stored, before its fsync)
    sync.add(str(fifo))
    sync.add(str(kept))
    done = threading.Event()

    def wait():
        sync.wait()
        sync.close()
        done.set()

    threading.Thread(target=wait, daemon=True).start()
    assert done.wait(10), "wait() did not return"
    assert kept.exists() and not fifo.exists()  # (dropped, as an object whose fsync failed is)
