"""The session's contract through the real CLI: `validate`, `dag` and `status` (and a dry
run) write nothing in the workspace (no spec cache, no artifact versions, no stat cache, no
environments.json, no job), and still read what `pipe run` left (the spec cache, the stat
cache); and the planner reads what was gathered for it, asking no remote itself."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time

from workspace_repo import Repo

PIPEFILE = """\
version: 1
environments:
  here: {type: local}
steps:
  prep:
    command: cat ${{inputs.src}} > ${{outputs.o}}
    inputs: {src: data/src.txt}
    outputs: {o: build/prep.txt}
  use:
    command: cat ${{inputs.m}} ${{inputs.p}} > ${{outputs.o}}
    environment: here
    inputs: {m: "${{artifacts.ds}}", p: build/prep.txt}
    outputs: {o: build/use.txt}
"""

READ_ONLY = (
    ("validate",),
    ("dag",),
    ("dag", "--format", "mermaid"),
    ("status",),
    ("status", "--json"),
    ("status", "use"),
    ("run", "--dry-run"),
)


def tree(root) -> dict:
    """Every path under `root` (folders included) -> (kind, size, mtime_ns) of its files."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            out[os.path.relpath(os.path.join(dirpath, d), root)] = "dir"
        for f in filenames:
            st = os.lstat(os.path.join(dirpath, f))
            out[os.path.relpath(os.path.join(dirpath, f), root)] = ("file", st.st_size, st.st_mtime_ns)
    return out


def unchanged(before: dict, after: dict) -> list:
    return sorted(
        f"{p}: {before.get(p)} -> {after.get(p)}" for p in set(before) | set(after) if before.get(p) != after.get(p)
    )


def _ran(repo: Repo) -> Repo:
    repo.write("data/src.txt", "one\n")
    repo.write("ds.txt", "data set\n")
    repo.pipefile(PIPEFILE)
    repo.pipe("asset", "add", "ds.txt", "--name", "ds", check=True)
    assert repo.outcomes() == {"prep": "ran", "use": "ran"}
    return repo


def test_read_only_commands_write_nothing_in_a_new_workspace(repo: Repo):
    repo.write("data/src.txt", "one\n")
    repo.pipefile(PIPEFILE.replace('"${{artifacts.ds}}"', "ds.txt"))
    repo.write("ds.txt", "data set\n")
    before = tree(repo.root)
    for args in READ_ONLY:
        r = repo.pipe(*args)
        assert r.code == 0, str(r)
        assert unchanged(before, tree(repo.root)) == [], f"pipe {' '.join(args)} wrote in the workspace"
    assert not (repo.root / ".pipe").exists()


def test_read_only_commands_write_nothing_after_a_run(repo: Repo):
    _ran(repo)
    # What would make them write: a Pipefile edited since the spec cache was kept, a source
    # edited since it was hashed, an artifact version no longer materialised.
    repo.pipefile(PIPEFILE + "# edited\n")
    repo.write("data/src.txt", "two\n")
    art = repo.root / ".pipe/artifacts/ds"
    for dirpath, _dirs, _files in os.walk(art):
        os.chmod(dirpath, 0o755)
    shutil.rmtree(art)
    before = tree(repo.root)
    for args in READ_ONLY:
        r = repo.pipe(*args)
        assert r.code == 0, str(r)
        assert unchanged(before, tree(repo.root)) == [], f"pipe {' '.join(args)} wrote in the workspace"
    # Status decided as a run decides: the artifact's version is unchanged (fresh where it is
    # read once a run puts it back), the edited source makes its readers run.
    assert repo.states() == {"prep": "run", "use": "pending"}
    assert unchanged(before, tree(repo.root)) == []
    assert repo.outcomes() == {"prep": "ran", "use": "ran"}
    assert (art / "1").exists()
    assert repo.states() == {"prep": "fresh", "use": "fresh"}


def test_status_after_a_run_reads_the_caches_it_left(repo: Repo):
    _ran(repo)
    # A digest recorded within 0.1 s of its file's mtime is "racy" and hashed again (digest.py):
    # wait that long, so the next run records entries that status may trust.
    time.sleep(0.2)
    repo.outcomes()  # the first run had no .pipe/ when it loaded: this one keeps the spec
    # Loading the YAML again or hashing a file would fail: status must need neither.
    script = (
        "import sys\n"
        "from pipefile import digest, graph\nfrom pipefile import load as loader\n"
        "def boom(*a, **k): raise RuntimeError('not from the cache')\n"
        "loader.load_lenient = loader.load = boom\n"
        "digest.hash_file = boom\n"
        "from pipefile.cli.app import main\n"
        "main(sys.argv[1:], prog_name='pipe')\n"
    )
    env = dict(os.environ, PIPE_PLAIN="1")
    p = subprocess.run(
        [sys.executable, "-c", script, "status", "--json"],
        cwd=repo.root,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    assert "not from the cache" not in p.stderr


@contextlib.contextmanager
def _planner(repo: Repo, cache=None, outside=None):
    """A Planner of the workspace's Pipefile, in process (its workspace opened, not created)."""
    from pipefile.digest import Hasher, StatCache
    from pipefile.planner import Planner
    from pipefile.speccache import load_graph
    from pipefile.workspace import Workspace

    graph = load_graph(str(repo.root / "Pipefile"), freeze=False)
    ws = Workspace(str(repo.root), create=False)
    try:
        hasher = Hasher(str(repo.root), cache if cache is not None else StatCache())
        yield Planner(graph, hasher, {}, ws.actions, ws.store, outside=outside)
    finally:
        ws.close()


def test_the_planner_reads_the_remote_answers_gathered_for_it(repo: Repo):
    """The planner asks no remote: a key its snapshot has no answer for is a miss, noted in
    `wanted`; with the answer gathered, the same decision restores from that remote."""
    from pipefile.digest import FILE, PathDigest
    from pipefile.planner import Outside
    from pipefile.rebuilder import Verdict

    repo.write("in.txt", "x\n")
    repo.pipefile("""\
        version: 1
        steps:
          s: {command: "cat in.txt > ${{outputs.o}}", inputs: {i: in.txt}, outputs: {o: out.txt}}
        """)
    with _planner(repo, outside=Outside(remote="origin")) as planner:
        first = planner.plan().decisions["s"]
        assert first.verdict == Verdict.RUN and planner.wanted == {first.key.digest}
        there = {"o": PathDigest(FILE, "a" * 32, 2)}
        planner.outside = planner.outside.with_remote_entries({first.key.digest: there})
        planner.wanted = set()
        again = planner.plan().decisions["s"]
        assert (again.verdict, again.remote, dict(again.outputs)) == (Verdict.RESTORE, "origin", there)
        assert planner.wanted == set()
    assert not (repo.root / ".pipe").exists()


def test_read_ahead_digests_the_sources_a_waiting_step_reads_within_its_budget(repo: Repo):
    """While a command runs, the scheduler has the planner digest the source files of the
    steps waiting on it: deciding such a step then reads nothing. Files made by a step, folders
    and what exceeds the budget are left to the decision."""
    from pipefile.digest import FILE, PathDigest, StatCache
    from pipefile.planner import Upstream

    repo.write("small.txt", "x\n")
    repo.write("big.txt", "y" * 3000)
    repo.write("data/a.txt", "a\n")
    repo.pipefile("""\
        version: 1
        steps:
          a: {command: "echo > ${{outputs.o}}", outputs: {o: a.txt}}
          b:
            command: "cat ${{inputs.i}} > ${{outputs.o}}"
            inputs: {i: a.txt, s: small.txt, g: big.txt, d: data}
            outputs: {o: b.txt}
        """)
    time.sleep(0.15)  # past the racy window: what is digested now is trusted from its stat later
    cache = StatCache()
    with _planner(repo, cache) as planner:
        assert planner.read_ahead("b", 1000) == 1000 - 2  # small.txt only (big.txt is past the budget)
        assert set(cache.entries) == {"small.txt"}
        assert planner.read_ahead("b", 1000) == 1000  # known now: nothing read again
        before = cache.hashed_bytes
        planner.decide("b", {"a": Upstream({"o": PathDigest(FILE, "d" * 32, 1)}, True)})
        assert cache.hashed_bytes - before == 3000 + 2  # big.txt and data/a.txt, not small.txt again


def test_read_ahead_leaves_a_source_it_cannot_read_to_the_decision(repo: Repo):
    """Reading ahead is a guess made while a command runs: a source gone or unreadable by then
    is left to the step's decision (which says so, if the step is decided at all), never an
    error of the run. (As root every file reads: the hasher is made to fail, a mock.)"""

    repo.write("src.txt", "x\n")
    repo.pipefile("""\
        version: 1
        steps:
          s: {command: "cat ${{inputs.i}} > ${{outputs.o}}", inputs: {i: src.txt}, outputs: {o: out.txt}}
        """)
    with _planner(repo) as planner:

        def unreadable(rel, contained=False):
            raise PermissionError(13, "Permission denied", rel)

        planner.hasher.digest = unreadable
        assert planner.read_ahead("s", 1000) == 1000
