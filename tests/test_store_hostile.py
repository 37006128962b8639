"""Something other than a file where the store keeps an object (a FIFO, put there by hand or by
a tool run in the wrong folder): reading it waited for a writer for ever. `pipe run` restoring
that output, `pipe verify` and `pipe deploy` hung, and Ctrl-C could not stop them. Now the
object is moved aside as a corrupt one is, and what needed it is made again or refused.
Real `pipe` processes in temporary workspaces, each under a time limit."""

from __future__ import annotations

import json
import os
import threading

import pytest
from workspace_repo import Repo

from pipefile.digest import hash_file
from pipefile.workspace import Workspace

PIPEFILE = """\
version: 1
steps:
  make:
    command: "mkdir -p d && echo inside > d/x.txt && echo top > out.txt"
    outputs: {o: out.txt, d: d}
"""


def _fifo_in_place_of(repo: Repo, content_of: str) -> str:
    """Replace the store's object holding the content of workspace file `content_of` with a
    FIFO; its path."""
    ws = Workspace(str(repo.root))
    try:
        obj = ws.store.path(hash_file(str(repo.root / content_of)))
    finally:
        ws.close()
    os.chmod(os.path.dirname(obj), 0o755)
    os.unlink(obj)
    os.mkfifo(obj)
    return obj


@pytest.fixture
def built(tmp_path) -> Repo:
    repo = Repo(tmp_path)
    repo.write("Pipefile", PIPEFILE, dedent=False)
    repo.pipe("run", check=True)
    return repo


@pytest.mark.parametrize("output", ["out.txt", "d/x.txt"])
def test_a_fifo_in_place_of_an_object_to_restore_is_moved_aside_and_the_step_runs(built: Repo, output):
    obj = _fifo_in_place_of(built, output)
    os.unlink(built.root / output)
    r = built.pipe("run", timeout=60)  # (before: it waited on the FIFO until killed)
    assert r.code == 0, str(r)
    assert "is not a regular file" in r.err and "ran the step instead" in r.err, str(r)
    assert built.read(output).strip() in ("top", "inside")
    # The FIFO went to corrupt/; the object is a regular file again, stored by the run.
    corrupt = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(obj))), "corrupt")
    assert os.listdir(corrupt) == [os.path.basename(os.path.dirname(obj)) + os.path.basename(obj)]
    assert os.path.isfile(obj)
    assert built.pipe("verify", check=True).code == 0


def test_verify_moves_a_fifo_object_aside_and_says_what_it_is(built: Repo):
    obj = _fifo_in_place_of(built, "out.txt")
    r = built.pipe("verify", timeout=60)
    assert r.code == 1, str(r)
    assert "is corrupt (it is not a regular file); moved it to" in r.err, str(r)
    assert not os.path.lexists(obj)
    _fifo_in_place_of(built, "d/x.txt")
    r = built.pipe("verify", "--json", timeout=60)
    assert r.code == 1, str(r)
    assert [c["actual"] for c in r.json["corrupt"]] == ["not a regular file"]


def test_deploy_of_a_model_whose_stored_file_is_a_fifo_is_refused_not_waited_on(tmp_path):
    repo = Repo(tmp_path)
    repo.write("Pipefile", "steps: {}\n", dedent=False)
    model = dict(format="pipefile-sklearn-model", format_version=1, estimator="x", task="regression")
    repo.write("m/model.json", json.dumps(dict(model, label="y", feature_columns=["a"])), dedent=False)
    repo.write("m/model.pkl", "not read by pipe deploy", dedent=False)
    repo.pipe("asset", "add", "m", "--name", "m", check=True)
    _fifo_in_place_of(repo, "m/model.json")
    r = repo.pipe("deploy", "m", "--model", "m", timeout=60)
    assert r.code == 2, str(r)
    assert "is not a regular file" in r.err and "hint:" in r.err and "Traceback" not in r.err, str(r)


def test_a_served_outputs_download_refuses_a_fifo_object_instead_of_holding_its_thread(tmp_path):
    # In process: the generators `pipe serve` streams a job's output with (a file; a folder's tar).
    from pipefile.cache.content_store import ContentStore
    from pipefile.digest import E_FILE, TREE_MAGIC, hash_bytes
    from pipefile.filehash import NotARegularFile
    from pipefile.serve.jobs_view import _file_chunks, _tar_stream

    store = ContentStore(str(tmp_path / "store"))
    inner = hash_bytes(b"inner\n")
    store.put_bytes(b"inner\n")
    manifest = TREE_MAGIC + json.dumps([["x.txt", E_FILE, inner, 6]]).encode()
    folder = store.put_bytes(manifest)
    os.unlink(store.path(inner))
    os.mkfifo(store.path(inner))
    for stream in (_file_chunks(store.path(inner)), _tar_stream(store, folder)):
        assert isinstance(_within(10, lambda s=stream: list(s)), NotARegularFile)


def _within(seconds: float, fn):
    """What `fn()` raised, in a thread given `seconds` (before: it waited on the FIFO for ever)."""
    raised: list = []

    def run():
        try:
            fn()
        except BaseException as e:  # noqa: BLE001 - handed to the test
            raised.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), "still waiting on the FIFO"
    return raised[0] if raised else None


def test_gc_dry_run_changes_nothing_even_where_a_folder_manifest_is_a_fifo(built: Repo):
    # The marking reads every folder manifest a record names: one found to be a FIFO was moved
    # to corrupt/ by `pipe gc --dry-run`, which promises to change nothing.
    from pipefile.workspace import Workspace

    ws = Workspace(str(built.root))
    try:
        job = ws.jobs.jobs(limit=1)[0]
        folder = ws.jobs.step_record(job.id, "make").outputs["d"]["digest"]
        obj = ws.store.path(folder)
    finally:
        ws.close()
    os.chmod(os.path.dirname(obj), 0o755)
    os.unlink(obj)
    os.mkfifo(obj)
    r = built.pipe("gc", "--dry-run", timeout=60)
    assert r.code == 0, str(r)
    assert os.path.exists(obj) and not os.path.isfile(obj), "the dry run moved the FIFO"
