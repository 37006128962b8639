"""Store maintenance: `pipe gc` deletes only what nothing kept needs; `pipe verify` finds
and quarantines corrupt objects, after which the step runs again instead of restoring."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from workspace_repo import PIPE, Repo

from pipefile.digest import PathDigest
from pipefile.workspace import Workspace

PIPEFILE = """
version: 1
params:
  a: 0
  b: 0
steps:
  first:
    command: echo a=${{params.a}} > ${{outputs.o}}
    outputs:
      o: {path: build/first.txt, name: first}
  second:
    command: cat ${{inputs.i}} > ${{outputs.o}} && echo b=${{params.b}} >> ${{outputs.o}}
    inputs:
      i: ${{steps.first.outputs.o}}
    outputs:
      o: {path: build/second.txt, name: model}
"""


def _objects(root: Path) -> set:
    return {p for p in (root / ".pipe/store/objects").rglob("*") if p.is_file()}


def _entries(root: Path) -> set:
    return set((root / ".pipe/store/actions").rglob("*.json"))


def _needed(root: Path) -> list:
    """Problems: anything a kept job, an artifact version, a kept cache entry or the
    workspace's current state needs that is not complete in the store."""
    ws = Workspace(str(root), create=False)
    bad = []
    try:
        store = ws.store
        for job in ws.jobs.jobs():
            if not store.has(job.pipefile_digest):
                bad.append(f"job {job.id}: Pipefile snapshot")
            for path, d in job.code.items():
                if not store.complete(PathDigest.from_json(d)):
                    bad.append(f"job {job.id}: code {path}")
            for s in ws.jobs.steps(job.id):
                for name, d in s.outputs.items():
                    if "digest" in d and not store.complete(PathDigest.from_json(d)):
                        bad.append(f"job {job.id} step {s.step}: output {name}")
                if s.key and s.outcome in ("ran", "restored", "fresh") and ws.actions.get(s.key) is None:
                    bad.append(f"job {job.id} step {s.step}: run-cache entry {s.key[:12]}")
        for v in ws.jobs.artifacts():
            if not store.complete(PathDigest(v.kind, v.digest, v.size)):
                bad.append(f"artifact {v.ref}")
        for rec in ws.state.steps().values():
            for out in rec.outputs.values():
                if not store.complete(out.content):
                    bad.append(f"current output {out.path}")
        for entry in (root / ".pipe/store/actions").rglob("*.json"):
            key = entry.parent.name + entry.name[:-5]
            outs = ws.actions.get(key)
            if outs is not None and not all(store.complete(d) for d in outs.values()):
                bad.append(f"cache entry {key[:12]} points at a missing object")
    finally:
        ws.close()
    return bad


def test_gc_deletes_what_nothing_references_and_says_how_much(repo):
    repo.pipefile(PIPEFILE)
    assert repo.outcomes() == {"first": "ran", "second": "ran"}
    ws = Workspace(str(repo.root))
    stray = ws.store.put_bytes(b"nobody needs me" * 10)
    ws.close()
    before = _objects(repo.root)
    r = repo.pipe("gc", "--dry-run")
    assert r.code == 0, r
    assert "would delete 1 object (150 B)" in r.out, r
    assert _objects(repo.root) == before
    r = repo.pipe("gc", "--json")
    assert r.code == 0, r
    assert r.json["deleted"]["objects"] == 1 and r.json["deleted"]["bytes"] == 150
    assert r.json["deleted"]["cache_entries"] == 0 and r.json["deleted"]["jobs"] == []
    after = _objects(repo.root)
    assert before - after == {repo.root / ".pipe/store/objects" / stray[:2] / stray[2:]}
    assert _needed(repo.root) == []
    os.remove(repo.root / "build/second.txt")
    assert repo.outcomes() == {"first": "fresh", "second": "restored"}
    r = repo.pipe("gc")
    assert "deleted 0 objects (0 B), 0 run-cache entries" in r.out, r


def test_keep_last_drops_old_jobs_and_their_cache_entries_but_keeps_artifact_versions(repo):
    repo.pipefile(PIPEFILE)
    repo.outcomes("-p", "a=1")
    repo.outcomes("-p", "a=2")
    repo.outcomes("-p", "a=3")
    assert (repo.root / ".pipe/jobs/1").is_dir()
    r = repo.pipe("gc", "--keep-last", "1")
    assert r.code == 0, r
    assert "2 jobs (records and logs)" in r.out, r
    jobs = repo.pipe("jobs", "--json").json["jobs"]
    assert [j["id"] for j in jobs] == [3]
    assert not (repo.root / ".pipe/jobs/1").exists() and not (repo.root / ".pipe/jobs/2").exists()
    assert _needed(repo.root) == []
    # Every version of every artifact is still complete, though its job is gone.
    ws = Workspace(str(repo.root), create=False)
    try:
        versions = ws.jobs.artifacts()
        assert sorted(v.ref for v in versions) == ["first:1", "first:2", "first:3", "model:1", "model:2", "model:3"]
        assert all(ws.store.complete(PathDigest(v.kind, v.digest, v.size)) for v in versions)
    finally:
        ws.close()
    # The old params' cache entries were pruned: those steps run again; the kept job restores.
    assert repo.outcomes("-p", "a=1") == {"first": "ran", "second": "ran"}
    assert repo.outcomes("-p", "a=3") == {"first": "restored", "second": "restored"}


def test_keep_last_reads_only_the_records_it_keeps(repo):
    """--keep-last chose by parsing every job record whole, twice (2.4 s of 20,000 jobs'
    JSON for --keep-last 10): it reads ids to choose, and only the kept jobs' records. A
    dropped record that no longer parses (as reading it would fail) shows it is not read."""
    import sqlite3

    repo.pipefile(PIPEFILE)
    for a in (1, 2, 3):
        repo.outcomes("-p", f"a={a}")
    db = sqlite3.connect(repo.root / ".pipe/jobs.db")
    db.execute("UPDATE jobs SET params = '{', code = '{' WHERE id = 1")
    db.commit()
    db.close()
    r = repo.pipe("gc", "--keep-last", "1")
    assert r.code == 0 and "2 jobs (records and logs)" in r.out, r
    assert [j["id"] for j in repo.pipe("jobs", "--json").json["jobs"]] == [3]
    assert repo.outcomes("-p", "a=2") == {"first": "ran", "second": "ran"}  # (its entries went with it)


def test_keep_last_removes_the_log_folders_a_stopped_gc_left(repo):
    """A gc killed after committing the records' deletion and before removing the folders
    (rmdir is most of the time of a gc of 20,000 jobs) left .pipe/jobs/ID for good: the next
    gc removed only the folders of the jobs it dropped itself. It removes those too now."""
    import sqlite3

    repo.pipefile(PIPEFILE)
    for a in (1, 2, 3):
        repo.outcomes("-p", f"a={a}")
    db = sqlite3.connect(repo.root / ".pipe/jobs.db")  # (what the killed gc committed)
    for table, column in (("job_steps", "job_id"), ("jobs", "id")):
        db.execute(f"DELETE FROM {table} WHERE {column} = 1")
    db.commit()
    db.close()
    os.mkdir(repo.root / ".pipe/jobs/99")  # (an id never handed out: not pipe's, left alone)
    r = repo.pipe("gc", "--keep-last", "2", "--dry-run", "--json")
    assert r.code == 0 and r.json["deleted"]["job_folders"] == [1] and r.json["deleted"]["jobs"] == [], r
    assert (repo.root / ".pipe/jobs/1").is_dir()
    r = repo.pipe("gc", "--keep-last", "2")
    assert r.code == 0 and "0 jobs (records and logs), 1 leftover job log folder" in r.out, r
    assert not (repo.root / ".pipe/jobs/1").exists()
    assert (repo.root / ".pipe/jobs/2").is_dir() and (repo.root / ".pipe/jobs/99").is_dir()


def test_keep_last_zero_keeps_the_current_workspace(repo):
    repo.pipefile(PIPEFILE)
    repo.outcomes("-p", "a=1")
    repo.outcomes("-p", "a=2")
    r = repo.pipe("gc", "--keep-last", "0")
    assert r.code == 0, r
    assert repo.pipe("jobs", "--json").json["jobs"] == []
    assert _needed(repo.root) == []
    os.remove(repo.root / "build/second.txt")
    assert repo.outcomes("-p", "a=2") == {"first": "fresh", "second": "restored"}


def test_gc_prunes_entries_that_point_at_missing_objects(repo):
    repo.pipefile(PIPEFILE)
    repo.outcomes()
    (obj,) = [p for p in _objects(repo.root) if p.read_bytes() == b"a=0\nb=0\n"]
    obj.unlink()
    r = repo.pipe("gc", "--json")
    assert r.code == 0, r
    assert r.json["deleted"]["cache_entries"] == 1
    assert not [b for b in _needed(repo.root) if "points at a missing object" in b]
    os.remove(repo.root / "build/second.txt")
    assert repo.outcomes() == {"first": "fresh", "second": "ran"}


def test_gc_waits_for_a_running_pipe(repo):
    repo.pipefile(PIPEFILE)
    repo.outcomes()
    ws = Workspace(str(repo.root))
    ws.lock.acquire()
    env = dict(os.environ, PIPE_PLAIN="1")
    env.pop("PIPE_STORE_DIR", None)
    p = subprocess.Popen(
        PIPE + ["gc"], cwd=repo.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    err = ""
    try:
        # (read until gc says it waits: a fixed second was too short for its start on a busy machine)
        deadline = time.monotonic() + 60
        while "waiting for another pipe process" not in err:
            assert time.monotonic() < deadline and p.poll() is None, (p.poll(), err)
            err += p.stderr.readline()
        assert p.poll() is None  # still waiting for the lock
    finally:
        ws.close()  # releases the lock
    out, rest = p.communicate(timeout=60)
    assert p.returncode == 0, err + rest
    assert "deleted 0 objects" in out


def test_gc_in_a_workspace_without_state(repo):
    repo.pipefile(PIPEFILE)
    r = repo.pipe("gc")
    assert r.code == 0 and "nothing to collect" in r.out, r
    assert not (repo.root / ".pipe").exists()


def test_verify_reports_and_quarantines_a_corrupt_object_then_run_reruns_the_step(repo):
    repo.pipefile(PIPEFILE)
    repo.outcomes()
    r = repo.pipe("verify")
    assert r.code == 0 and "all intact" in r.out, r
    (obj,) = [p for p in _objects(repo.root) if p.read_bytes() == b"a=0\nb=0\n"]
    os.chmod(obj, 0o644)
    obj.write_bytes(b"a=9\nb=9\n")  # same size, wrong content
    digest = obj.parent.name + obj.name
    r = repo.pipe("verify")
    assert r.code == 1, r
    assert f"object {digest[:12]} is corrupt" in r.err, r
    assert "1 corrupt and quarantined" in r.out, r
    assert not obj.exists()
    assert (repo.root / ".pipe/store/corrupt" / digest).read_bytes() == b"a=9\nb=9\n"
    r = repo.pipe("verify", "--json")
    assert r.code == 0 and r.json["corrupt"] == [], r
    # The workspace copy is intact, so nothing to do; without it, the step runs (no restore).
    assert repo.outcomes() == {"first": "fresh", "second": "fresh"}
    os.remove(repo.root / "build/second.txt")
    assert repo.outcomes() == {"first": "fresh", "second": "ran"}
    assert repo.read("build/second.txt") == "a=0\nb=0\n"
    assert obj.read_bytes() == b"a=0\nb=0\n"  # stored again, correctly
    os.remove(repo.root / "build/second.txt")
    assert repo.outcomes() == {"first": "fresh", "second": "restored"}


def test_verify_checks_tree_manifests_too(repo):
    repo.pipefile("""
        version: 1
        steps:
          make:
            command: mkdir -p ${{outputs.d}} && echo x > ${{outputs.d}}/x.txt
            outputs: {d: build/d}
        """)
    repo.outcomes()
    manifests = [p for p in _objects(repo.root) if p.read_bytes().startswith(b"pipefile-tree-1\n")]
    assert len(manifests) == 1
    os.chmod(manifests[0], 0o644)
    manifests[0].write_bytes(manifests[0].read_bytes().replace(b"x.txt", b"y.txt"))
    r = repo.pipe("verify", "--json")
    assert r.code == 1, r
    assert [c["digest"] for c in r.json["corrupt"]] == [manifests[0].parent.name + manifests[0].name]


# --- property: gc never deletes what is kept ------------------------------------------------
_op = st.one_of(
    st.tuples(st.just("run"), st.integers(0, 2), st.integers(0, 1)),
    st.tuples(st.just("gc"), st.one_of(st.none(), st.integers(0, 3)), st.just(0)),
)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=st.lists(_op, min_size=2, max_size=7))
def test_gc_never_deletes_what_a_kept_job_version_or_the_workspace_needs(history):
    with tempfile.TemporaryDirectory() as tmp:
        repo = Repo(Path(tmp))
        repo.pipefile(PIPEFILE)
        for op, x, y in history:
            if op == "run":
                repo.outcomes("-p", f"a={x}", "-p", f"b={y}")
            else:
                args = ["gc"] if x is None else ["gc", "--keep-last", str(x)]
                r = repo.pipe(*args)
                assert r.code == 0, r
                assert _needed(repo.root) == []
                if x is not None:
                    assert len(repo.pipe("jobs", "--json", "-n", "0").json["jobs"]) <= x
        assert _needed(repo.root) == []
        # Every kept job can be had again without running anything.
        for job in repo.pipe("jobs", "--json", "-n", "0").json["jobs"]:
            if job["status"] != "succeeded":
                continue
            p = job["params"]
            outcomes = repo.outcomes("-p", f"a={p['a']}", "-p", f"b={p['b']}")
            assert set(outcomes.values()) <= {"restored", "fresh"}, (job, outcomes)
