"""The store and crash safety, reviewed as a user meets them through the real CLI: what a
pull, a killed run, a full disk or a hand-made file in the store leaves behind."""

from __future__ import annotations

import os
import time

import pytest
import xxhash
from test_remote import make_workspace, outcomes

ALL = ("prepare", "train", "evaluate")


@pytest.mark.parametrize("how", ["fifo", "zero"])
def test_pull_fetches_an_object_whose_local_copy_is_no_file(tmp_path, how):
    """Was: a FIFO (or a link to /dev/zero) in place of an object in the LOCAL store counted as
    present, so `pipe pull` said ok without fetching it and the next run ran the step again
    instead of restoring it. It is set aside and fetched."""
    cache = tmp_path / "cache"
    first, second = make_workspace(tmp_path / "first"), make_workspace(tmp_path / "second")
    for ws in (first, second):
        ws.pipe("remote", "add", "team", str(cache), "--default", check=True)
    outcomes(first)
    assert first.pipe("push").code == 0
    weights = xxhash.xxh3_128_hexdigest(first.read("build/model/weights.bin").encode())
    obj = second.root / ".pipe" / "store" / "objects" / weights[:2] / weights[2:]
    obj.parent.mkdir(parents=True, exist_ok=True)
    if how == "fifo":
        os.mkfifo(obj)
    else:
        os.symlink("/dev/zero", obj)

    r = second.pipe("pull", "--json", timeout=60)
    assert r.code == 0 and r.json["ok"], str(r)
    assert obj.is_file() and not obj.is_symlink(), "the object was not fetched"
    assert xxhash.xxh3_128_hexdigest(obj.read_bytes()) == weights
    assert outcomes(second) == dict.fromkeys(ALL, "restored")


def test_part_files_of_the_older_download_layout_are_removed_once_a_day_old(tmp_path):
    """Was: a `pipe invoke --out DIR` killed half way by a pipe before the PID was in the name
    (.NAME.RANDOM.part) left its file or folder in DIR for ever: the cleanup matched only
    .NAME.pipe-PID-RANDOM.part. Such a name holds no PID and its writer no lock, so only age
    tells: a day old, it goes; a newer one, a link, or a name of another shape stays."""
    from pipefile.serve.download import remove_dead_parts

    old = time.time() - 2 * 24 * 3600
    stale_file = tmp_path / ".model.bin.k2x9_q0a.part"
    stale_file.write_bytes(b"half")
    stale_dir = tmp_path / ".images.ab12cd34.part"
    (stale_dir / "sub").mkdir(parents=True)
    (stale_dir / "sub" / "a.png").write_bytes(b"x")
    fresh = tmp_path / ".model.bin.zz99yy88.part"  # (an older pipe's download may be under way)
    fresh.write_bytes(b"now")
    mine = tmp_path / ".notes.part"  # (not a download's name)
    mine.write_text("keep")
    link = tmp_path / ".x.abcdefgh.part"
    os.symlink(mine, link)
    for p in (stale_file, stale_dir, mine):
        os.utime(p, (old, old))
    os.utime(link, (old, old), follow_symlinks=False)

    assert sorted(remove_dead_parts(str(tmp_path))) == sorted([stale_file.name, stale_dir.name])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([fresh.name, mine.name, link.name])


SAVES = """
version: 1
steps:
  a:
    command: python -c "import sys; open(sys.argv[1], 'w').write(open('in.txt').read())" ${{outputs.o}}
    inputs: {i: in.txt}
    outputs: {o: build/a.txt}
"""


def test_gc_dry_run_forgets_no_workspace_and_gc_names_those_it_forgets(tmp_path):
    """Was: `pipe gc --dry-run` dropped the store's record of a workspace that was not where it
    was noted (moved, or on a disk not mounted), so once it was back the next gc deleted what
    only it kept (here a saved hand edit: `pipe recover` failed); and a real gc forgot it
    without a word. A dry run forgets nothing and names what it would forget; gc names it."""
    from workspace_repo import Repo

    env = {"PIPE_STORE_DIR": str(tmp_path / "store")}
    a, b = Repo(tmp_path / "a"), Repo(tmp_path / "b")
    for ws in (a, b):
        ws.root.mkdir()
        ws.pipefile(SAVES)
        ws.write("in.txt", ws.root.name)
        assert ws.pipe("run", env=env).code == 0
    a.write("build/a.txt", "a hand edit")
    a.write("in.txt", "a2")
    r = a.pipe("run", env=env)
    assert r.code == 0 and "saved the previous content" in r.err, str(r)
    saved = xxhash.xxh3_128_hexdigest(b"a hand edit")

    away = tmp_path / "away"
    os.rename(a.root, away)
    r = b.pipe("gc", "--dry-run", env=env)
    assert r.code == 0 and f"would forget workspace {a.root}" in r.err, str(r)
    os.rename(away, a.root)
    assert b.pipe("gc", env=env).code == 0
    r = a.pipe("recover", saved[:12], "-o", "back.txt", env=env)
    assert r.code == 0 and a.read("back.txt") == "a hand edit", str(r)

    os.rename(a.root, away)
    r = b.pipe("gc", "--json", env=env)
    assert r.code == 0 and r.json["forgotten_workspaces"] == [str(a.root)], str(r)
    assert b.pipe("gc", "--json", env=env).json["forgotten_workspaces"] == []


@pytest.mark.parametrize("blocker", ["build", "build/sub"])
def test_a_file_where_an_outputs_folder_goes_is_named_with_the_fix(repo, blocker):
    """Was: 'step a failed: Not a directory: .../build/sub' (a file 'build' in the way: the
    path named was not the one at fault) or 'File exists: .../build/sub' (a FIFO there), the
    OS's words with no fix. The part that is no folder is named, and what to do."""
    repo.pipefile("""
        version: 1
        steps:
          a: {command: "echo hi > ${{outputs.o}}", outputs: {o: build/sub/a.txt}}
    """)
    (repo.root / os.path.dirname(blocker)).mkdir(exist_ok=True, parents=True)
    os.mkfifo(repo.root / blocker)
    r = repo.pipe("run", timeout=60)
    assert r.code == 1, str(r)
    assert f"'{blocker}' is a file, not a folder; move it away or remove it" in r.err, str(r)
    os.unlink(repo.root / blocker)
    assert repo.outcomes() == {"a": "ran"} and repo.read("build/sub/a.txt") == "hi\n"


@pytest.mark.parametrize("where", [".pipe/beside/deadbeef", ".pipe/scratch/prev-x/origin"])
def test_a_fifo_in_the_recovery_journal_is_no_hang(repo, where):
    """Was: every `pipe run` hung for ever before planning: recovery after a killed run opened a
    journal entry of a folder beside an output (.pipe/beside/TOKEN), or the note of where moved-
    aside content came from (.pipe/scratch/prev-*/origin), with open(): a FIFO there waits for a
    writer. Such an entry names nothing of pipe's: it goes, and the run goes on."""
    repo.pipefile("""
        version: 1
        steps:
          a: {command: "echo hi > ${{outputs.o}}", outputs: {o: a.txt}}
    """)
    assert repo.outcomes() == {"a": "ran"}
    (repo.root / os.path.dirname(where)).mkdir(parents=True, exist_ok=True)
    os.mkfifo(repo.root / where)
    r = repo.pipe("run", "--json", timeout=45)
    assert r.code == 0 and [s["outcome"] for s in r.json["steps"]] == ["fresh"], str(r)
    assert not os.path.lexists(repo.root / where)


def test_a_fifo_as_the_clone_record_is_no_hang(repo):
    """Was: every pipe command that opens the workspace (pipe run, a no-op too) hung for ever
    reading .pipe/clone.json (which names a clone's original store) with open(): a FIFO there
    waits for a writer. It is read as a regular file only; a FIFO is unreadable, as a damaged
    record is: an ordinary workspace with its own store."""
    repo.pipefile("""
        version: 1
        steps:
          a: {command: "echo hi > ${{outputs.o}}", outputs: {o: a.txt}}
    """)
    assert repo.outcomes() == {"a": "ran"}
    os.mkfifo(repo.root / ".pipe" / "clone.json")
    r = repo.pipe("run", "--json", timeout=45)
    assert r.code == 0 and [s["outcome"] for s in r.json["steps"]] == ["fresh"], str(r)


@pytest.mark.parametrize("what", ["fifo", "folder"])
def test_saved_log_that_is_no_file_is_named_and_loses_no_hand_edit(repo, what):
    """Was: a FIFO as .pipe/saved.log (the list of hand edits pipe saved before replacing them)
    hung pipe gc, pipe recover, and a run that saved a hand edit (open() waits for a reader or a
    writer); a folder there was an internal error. Now each says what is in the way and the fix
    (exit 2; the run's step fails, the edit left in place); once it is gone the edit is saved and
    listed. The note is written before the content is stored: stored but not noted (a crash, or
    this failure between the two), the next run found it stored and did not note it, so
    `pipe recover` never listed it and gc deleted it."""
    repo.pipefile("""
        version: 1
        steps:
          a: {command: "cat in.txt > ${{outputs.o}}", inputs: {i: in.txt}, outputs: {o: a.txt}}
    """)
    repo.write("in.txt", "1\n")
    assert repo.outcomes() == {"a": "ran"}
    log = repo.root / ".pipe" / "saved.log"
    os.mkfifo(log) if what == "fifo" else log.mkdir()
    for cmd in ("gc", "recover"):
        r = repo.pipe(cmd, timeout=30)
        assert r.code == 2 and "saved.log: pipe keeps a file of its own there" in r.err and "hint:" in r.err, str(r)
    repo.write("a.txt", "a hand edit\n")
    repo.write("in.txt", "2\n")
    r = repo.pipe("run", timeout=30)
    assert r.code == 1 and "saved.log: pipe keeps a file of its own there" in r.err, str(r)
    assert repo.read("a.txt") == "a hand edit\n"
    os.unlink(log) if what == "fifo" else log.rmdir()
    assert repo.outcomes() == {"a": "ran"} and repo.read("a.txt") == "2\n"
    edit = xxhash.xxh3_128_hexdigest(b"a hand edit\n")
    assert edit[:12] in repo.pipe("recover").out
    assert repo.pipe("gc").code == 0
    r = repo.pipe("recover", edit[:12], "-o", "back.txt")
    assert r.code == 0 and repo.read("back.txt") == "a hand edit\n", str(r)


@pytest.mark.parametrize("name", ["state.db", "jobs.db"])
def test_a_fifo_as_a_database_is_named_not_taken_for_a_failing_disk(repo, name):
    """Was: 'cannot write .pipe/state.db: disk I/O error', hint 'check that disk (its health,
    permissions and free space)': SQLite's words for a FIFO, which send the user to a sound
    disk. What is in the way is named, with the fix (exit 2, as for a folder there)."""
    repo.pipefile("""
        version: 1
        steps:
          a: {command: "echo hi > ${{outputs.o}}", outputs: {o: a.txt}}
    """)
    assert repo.outcomes() == {"a": "ran"}
    db = repo.root / ".pipe" / name
    db.unlink()
    os.mkfifo(db)
    r = repo.pipe("run", timeout=30)
    assert r.code == 2 and f"{name}: pipe keeps a file of its own there, and a FIFO is in its place" in r.err, str(r)
    assert "check that disk" not in r.err
    db.unlink()
    assert repo.pipe("run", timeout=60).code == 0
