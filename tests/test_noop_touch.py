"""The no-op record's answer to touched files (pipefile/noop_touch.py): a file whose times
changed and whose content did not is read again and the run answered from the record, as the
normal path would answer it; anything else declines. Never stale: a content change, whatever
it did to the times, is never answered from the record."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_noop_record import (
    SETTLE,
    _imports,
    _job_rows,
    _last_job,
    _normal,
    _recorded,
    _run,
    _same_as_normal,
    _settle,
    _text,
    _workspace,
)
from workspace_repo import PIPE, Repo


def _settled(repo: Repo) -> Repo:
    _workspace(repo)
    _settle(repo)
    return repo


@pytest.mark.parametrize(
    "touched", ["data/in.txt", "prep.txt", "model.txt", "report.txt", "Pipefile", "data/in.txt prep.txt Pipefile"]
)
def test_a_touch_is_answered_from_the_record_as_the_normal_path_answers(repo, touched):
    _settled(repo)
    for rel in touched.split():
        os.utime(repo.root / rel)
    assert _same_as_normal(repo), "a touch is answered from the record"


def test_a_file_saved_again_with_the_same_text_is_answered(repo):
    _settled(repo)
    path = repo.root / "data" / "in.txt"
    tmp = path.with_name("in.txt.new")
    tmp.write_text(path.read_text())
    os.replace(tmp, path)  # (another inode, as an editor's save)
    assert _same_as_normal(repo)


@pytest.mark.parametrize("edit", ["content", "same_size", "same_size_old_times", "mode", "link", "code_folder"])
def test_what_is_more_than_a_touch_declines(repo, edit):
    _settled(repo)
    path = repo.root / "data" / "in.txt"
    old = os.stat(path)
    if edit == "content":
        path.write_text("hello, world\n")
    elif edit == "same_size":
        path.write_text("HELLO\n")
    elif edit == "same_size_old_times":  # a content change that puts the times back
        path.write_text("HELLO\n")
        os.utime(path, ns=(old.st_atime_ns, old.st_mtime_ns))
    elif edit == "mode":
        os.chmod(path, 0o755)
    elif edit == "link":  # the same content, through a link
        (repo.root / "data" / "real.txt").write_text(path.read_text())
        path.unlink()
        os.symlink("real.txt", path)
    elif edit == "code_folder":  # a file in a listed folder: the listing decides, as before
        os.utime(repo.root / "src" / "train.py")
    r, answered = _run(repo)
    assert not answered, str(r)
    assert r.code == 0, str(r)
    if edit not in ("link", "code_folder"):
        assert " ran" in r.err, str(r)


def test_after_a_touch_the_next_no_op_is_answered_by_stats_alone(repo):
    _settled(repo)
    path = repo.root / "data" / "in.txt"
    os.utime(path)
    r, answered = _run(repo)  # (right after the touch: read again now, and by the next answer)
    assert answered and "3 fresh" in r.err, str(r)
    time.sleep(SETTLE)
    r, answered = _run(repo)
    assert answered, str(r)
    assert _recorded(repo)[9] == ()  # nothing left to read again
    r, answered = _run(repo)
    assert answered, str(r)


def test_the_answer_to_a_touch_imports_no_loader_yaml_session_or_planner(repo):
    _settled(repo)
    os.utime(repo.root / "data" / "in.txt")
    env = dict(os.environ, PIPE_PLAIN="1")
    env.pop("PIPE_STORE_DIR", None)
    before = _recorded(repo)[5]
    p = subprocess.run(
        [*PIPE[:1], "-X", "importtime", *PIPE[1:], "run"], cwd=repo.root, capture_output=True, text=True, env=env
    )
    assert p.returncode == 0, p.stderr
    assert _recorded(repo)[5] == before  # answered from the record (rewritten: same job rows)
    floor = subprocess.run([PIPE[0], "-X", "importtime", "-c", "pass"], capture_output=True, text=True, env=env)
    imported = _imports(p.stderr) - _imports(floor.stderr)
    assert {"pipefile.noop_touch", "pipefile.filehash", "xxhash"} <= imported
    for heavy in ("yaml", "json", "pipefile.digest", "pipefile.load", "pipefile.session", "pipefile.planner"):
        assert heavy not in imported, heavy


def _state_row(repo: Repo, rel: str):
    db = sqlite3.connect(repo.root / ".pipe" / "state.db")
    try:
        return db.execute("SELECT size, mtime_ns, ctime_ns, ino, digest FROM stat WHERE path=?", (rel,)).fetchone()
    finally:
        db.close()


def test_a_touched_big_file_is_read_once_and_its_stat_row_kept_for_the_normal_path(repo):
    from pipefile import noop_touch

    repo.pipefile(
        "version: 1\nsteps:\n  size:\n    command: wc -c < data/big.bin > size.txt\n"
        "    inputs: {d: data/big.bin}\n    outputs: {out: size.txt}\n"
    )
    big = repo.root / "data" / "big.bin"
    big.parent.mkdir(parents=True)
    with open(big, "wb") as f:
        f.truncate(noop_touch.WORTH_SAVING)
    repo.pipe("run", check=True)
    _settle(repo)
    os.utime(big)
    time.sleep(SETTLE)
    before = _state_row(repo, "data/big.bin")
    r, answered = _run(repo)
    assert answered and "1 fresh" in r.err, str(r)
    # The answer wrote the stat cache's row of now: the normal path will not read the file again.
    st_ = os.stat(big)
    row = _state_row(repo, "data/big.bin")
    assert row != before and row == (st_.st_size, st_.st_mtime_ns, st_.st_ctime_ns, st_.st_ino, before[4])
    r = _normal(repo)
    assert "1 fresh" in r.err and _state_row(repo, "data/big.bin") == row, str(r)


def test_a_small_touched_file_leaves_the_stat_cache_to_the_normal_path(repo):
    _settled(repo)
    path = repo.root / "data" / "in.txt"
    before = _state_row(repo, "data/in.txt")
    os.utime(path)
    r, answered = _run(repo)
    assert answered, str(r)
    assert _state_row(repo, "data/in.txt") == before  # (reading it again costs less than the write)
    r = _normal(repo)
    assert "3 fresh" in r.err, str(r)
    st_ = os.stat(path)
    assert _state_row(repo, "data/in.txt")[:4] == (st_.st_size, st_.st_mtime_ns, st_.st_ctime_ns, st_.st_ino)


def test_the_constants_shared_with_digest_and_the_workspace_state_agree():
    from pipefile import digest, noop_record, noop_touch
    from pipefile.workspace import state

    assert noop_touch.STATE_VERSION == str(state.STATE_VERSION)
    assert noop_touch.RACY_NS == noop_record.RACY_NS == digest._RACY_NS
    assert noop_touch.RACY_COARSE_NS == noop_record.RACY_COARSE_NS == digest._RACY_COARSE_NS


# --- the property: chains of touches and changes, each run plain (the record rewritten as it goes) ---

_EDITS = st.sampled_from(
    [
        "touch",
        "touch_output",
        "touch_pipefile",
        "touch_same_size",
        "same_size_old_times",
        "content_then_back",
        "replaced_same",
        "touch_back",
        "nothing",
    ]
)


def _edit(repo: Repo, edit: str, rnd: int) -> None:
    data = repo.root / "data" / "in.txt"
    if edit in ("touch", "touch_output", "touch_pipefile"):
        os.utime(repo.root / {"touch": "data/in.txt", "touch_output": "prep.txt", "touch_pipefile": "Pipefile"}[edit])
    elif edit in ("touch_same_size", "same_size_old_times"):
        old = os.stat(data)
        text = data.read_text()
        data.write_text(text.swapcase() if text.swapcase() != text else text[::-1])
        if edit == "same_size_old_times":
            os.utime(data, ns=(old.st_atime_ns, old.st_mtime_ns))
    elif edit == "content_then_back":  # new content, then the old one again (a new signature)
        text = data.read_text()
        data.write_text(f"other {rnd}\n")
        data.write_text(text)
    elif edit == "replaced_same":
        tmp = data.with_name("in.txt.new")
        tmp.write_text(data.read_text())
        os.replace(tmp, data)
    elif edit == "touch_back":
        old = os.stat(data)
        os.utime(data, ns=(old.st_atime_ns, old.st_mtime_ns - 10**9))


def _normal_in_a_copy(repo: Repo, copy) -> tuple:
    """The normal path's answer on a copy of the workspace as it is now (times kept): the
    workspace itself keeps its record for the next plain run."""
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(repo.root, copy, symlinks=True)
    other = Repo(copy)
    r = _normal(other)
    return r, _job_rows(other, _last_job(other))


@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.tuples(_EDITS, st.integers(0, 1000), st.booleans()), min_size=3, max_size=7))
def test_chains_of_touches_are_answered_as_the_normal_path_or_declined(tmp_path_factory, steps):
    root = tmp_path_factory.mktemp("ws")
    copy = root.parent / (root.name + "-copy") / root.name  # (the same name: the experiment's)
    repo = _settled(Repo(root))
    for edit, rnd, then_wait in steps:
        _edit(repo, edit, rnd)
        if then_wait:
            time.sleep(SETTLE)
        fast, answered = _run(repo)
        assert fast.code == 0, str(fast)
        if not answered:
            continue  # (the normal path ran: it left the record of now, or none)
        assert " ran" not in fast.err
        slow, rows = _normal_in_a_copy(repo, copy)
        assert (fast.code, _text(fast.out), _text(fast.err)) == (slow.code, _text(slow.out), _text(slow.err))
        assert "3 fresh" in slow.err, f"answered from the record, but the normal path says:\n{slow}"
        assert _job_rows(repo, _last_job(repo)) == rows


def _many_sources(repo: Repo, folder: str) -> None:
    """20 steps, each reading its own source in `folder` (enough for the load to list it),
    run once."""
    steps = "\n".join(
        f"  s{i}: {{command: 'cat ${{{{inputs.i}}}} > ${{{{outputs.o}}}}', inputs: {{i: {folder}l{i}.txt}}, "
        f"outputs: {{o: build/s{i}.txt}}}}"
        for i in range(20)
    )
    repo.pipefile("version: 1\nsteps:\n" + steps + "\n")
    for i in range(20):
        repo.write(f"{folder}l{i}.txt", f"leaf {i}\n")
    repo.pipe("run", check=True)


def test_a_touched_source_among_many_in_one_folder_is_answered(repo):
    """Where a folder holds many sources, the load lists it once (landing.FolderEntries) for
    their names: the record depends on those names, not on every file's times in it, so a
    touched source there is answered as any other; a file added or removed there declines."""
    _many_sources(repo, "leaves/")
    _settle(repo)
    os.utime(repo.root / "leaves" / "l7.txt")
    assert _same_as_normal(repo), "a touch is answered from the record"
    _settle(repo)
    repo.write("leaves/extra.txt", "not read by any step\n")
    assert not _run(repo)[1]  # a new name in the listed folder: the normal path decides


def test_sources_listed_at_the_workspace_root_leave_a_record(repo):
    """Many sources at the workspace's top: its folder is listed for their names and looked at
    itself (it holds .pipe/, whose times change on every run): the record is still written and
    answers."""
    _many_sources(repo, "")
    _settle(repo)
    assert _same_as_normal(repo), "answered from the record"
    _settle(repo)
    os.utime(repo.root / "l3.txt")
    assert _same_as_normal(repo), "a touch there is answered too"


def test_a_listed_folder_changed_during_the_traced_run_leaves_no_record(tmp_path):
    """Never stale: the load lists a folder for its names (landing.FolderEntries); an entry
    there made a link while the run goes on changes the folder's own times, and a record of
    that run (whose answers were taken before the change) is not written."""
    from pipefile import noop_trace
    from pipefile.landing import FolderEntries

    out = tmp_path / "out"
    out.mkdir()
    for i in range(20):
        (out / f"f{i}.txt").write_text(f"{i}\n")
    (tmp_path / ".pipe").mkdir()
    time.sleep(0.15)  # (past the racy window: nothing here changed near the run's start)
    rec = noop_trace.Recording(["run"])
    rec.start()
    try:
        entries = FolderEntries(str(tmp_path), [f"out/f{i}.txt" for i in range(20)])
        assert not entries.islink("out/f3.txt")
        os.unlink(out / "f3.txt")
        os.symlink("f4.txt", out / "f3.txt")  # (another program, while the run goes on)
    finally:
        rec.stop()
    assert rec.paths[str(out)] == "n"
    assert rec._signatures(str(tmp_path / ".pipe"), str(tmp_path), {}) is None
