"""Outputs and symbolic links: where an output really lands is checked, not just its text.

Nothing a step's outputs put in place may land inside .pipe/ (or a store elsewhere), on the
workspace, on another output or on what a step reads. A link that was there before the run
is checked before anything runs (exit 2); one made during the run fails the step that would
write through it (exit 1). Either way .pipe/ and the previous outputs stay intact.
"""

from __future__ import annotations

import os
import sqlite3

import pytest

ONE = """
version: 1
steps:
  s: {{command: "echo S > ${{{{outputs.o}}}}", outputs: {{o: {path}}}}}
"""


def _history_intact(repo, jobs: int) -> None:
    """.pipe/jobs.db and state.db are still SQLite databases holding what they held."""
    db = sqlite3.connect(repo.root / ".pipe/jobs.db")
    assert db.execute("SELECT count(*) FROM jobs").fetchone()[0] == jobs
    db.close()
    db = sqlite3.connect(repo.root / ".pipe/state.db")
    db.execute("SELECT count(*) FROM steps").fetchone()
    db.close()


@pytest.fixture
def used(repo):
    """A workspace with one job in its history (so there is something to lose)."""
    repo.write("keep.txt", "k")
    repo.pipefile(ONE.format(path="first.txt"))
    assert repo.outcomes() == {"s": "ran"}
    return repo


def _refused(repo, *where: str):
    r = repo.pipe("run")
    assert r.code == 2, r
    assert "Pipefile:" in r.err and "hint:" in r.err, r
    for w in where:
        assert w in r.err, r
    return r


def test_folder_link_into_dot_pipe_is_refused_before_the_run(used):
    repo = used
    os.symlink(".pipe", repo.root / "out")
    repo.pipefile(ONE.format(path="out/jobs.db"))
    _refused(repo, "output 'o' of step 's' ('out/jobs.db')", "through the link 'out' -> '.pipe'", "inside .pipe/")
    _history_intact(repo, 1)
    assert repo.pipe("validate").code == 2  # validate says the same
    assert repo.pipe("jobs").code == 0


def test_link_to_a_folder_inside_dot_pipe(used):
    repo = used
    os.symlink(".pipe/store", repo.root / "st")
    repo.pipefile(ONE.format(path="st/x.txt"))
    _refused(repo, "'st' -> '.pipe/store'", "inside .pipe/")
    assert not (repo.root / ".pipe/store/x.txt").exists()


def test_nested_links_are_followed(used):
    repo = used
    (repo.root / "real").mkdir()
    os.symlink("real", repo.root / "a")
    os.symlink("../.pipe", repo.root / "real/b")  # a/b -> real/b -> .pipe
    repo.pipefile(ONE.format(path="a/b/state.db"))
    _refused(repo, "('a/b/state.db')", "inside .pipe/")
    _history_intact(repo, 1)


def test_file_link_at_the_output_path_into_dot_pipe_is_refused(used):
    repo = used
    os.symlink(".pipe/jobs.db", repo.root / "o.db")
    repo.pipefile(ONE.format(path="o.db"))
    _refused(repo, "('o.db')", "it is a link to '.pipe/jobs.db'", "inside .pipe/")
    _history_intact(repo, 1)


def test_file_link_at_the_output_path_elsewhere_is_replaced_not_written_through(used):
    repo = used
    os.symlink("keep.txt", repo.root / "o.txt")
    repo.pipefile(ONE.format(path="o.txt"))
    assert repo.outcomes() == {"s": "ran"}
    assert not os.path.islink(repo.root / "o.txt") and repo.read("o.txt") == "S\n"
    assert repo.read("keep.txt") == "k"


def test_dangling_links(used):
    repo = used
    os.symlink("nowhere", repo.root / "out")  # a folder on the way that points to nothing
    repo.pipefile(ONE.format(path="out/x.txt"))
    _refused(repo, "'out' is a link to 'nowhere', which does not exist")
    assert not (repo.root / "nowhere").exists()
    os.remove(repo.root / "out")
    os.symlink("nowhere", repo.root / "o.txt")  # at the output's own path: replaced
    repo.pipefile(ONE.format(path="o.txt"))
    assert repo.outcomes() == {"s": "ran"}
    assert repo.read("o.txt") == "S\n" and not (repo.root / "nowhere").exists()


def test_link_around_the_workspace_is_refused(used):
    repo = used
    os.symlink("..", repo.root / "up")
    repo.pipefile(ONE.format(path=f"up/{repo.root.name}"))
    _refused(repo, "the workspace or a folder around it")
    assert (repo.root / "keep.txt").exists()


def test_link_outside_the_workspace_is_allowed(used, tmp_path):
    """A folder link to another disk is how big outputs go to a scratch disk (documented)."""
    repo = used
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    os.symlink(scratch, repo.root / "build")
    repo.pipefile(ONE.format(path="build/x.txt"))
    assert repo.outcomes() == {"s": "ran"}
    assert (scratch / "x.txt").read_text() == "S\n"


def test_link_into_another_workspaces_dot_pipe_is_refused(used, tmp_path):
    repo = used
    other = tmp_path / "other"
    (other / ".pipe").mkdir(parents=True)
    (other / ".pipe/jobs.db").write_text("theirs")
    os.symlink(other / ".pipe", repo.root / "out")
    repo.pipefile(ONE.format(path="out/jobs.db"))
    _refused(repo, "another workspace's .pipe/")
    assert (other / ".pipe/jobs.db").read_text() == "theirs"


def test_link_into_a_store_kept_elsewhere_is_refused(repo, tmp_path):
    store = tmp_path / "store"
    env = {"PIPE_STORE_DIR": str(store)}
    repo.pipefile(ONE.format(path="first.txt"))
    assert repo.outcomes(env=env) == {"s": "ran"}
    os.symlink(store, repo.root / "out")
    repo.pipefile(ONE.format(path="out/objects"))
    r = repo.pipe("run", env=env)
    assert r.code == 2 and "inside pipe's store" in r.err, r
    assert (store / "objects").is_dir() and any((store / "objects").rglob("*"))


def test_link_to_a_plain_folder_inside_the_workspace_is_allowed(used):
    repo = used
    (repo.root / "results").mkdir()
    os.symlink("results", repo.root / "out")
    repo.pipefile(ONE.format(path="out/x.txt"))
    assert repo.outcomes() == {"s": "ran"}
    assert repo.read("results/x.txt") == "S\n"
    assert repo.outcomes() == {"s": "fresh"}


def test_link_onto_a_source_or_another_output_is_refused(used):
    repo = used
    repo.write("data/raw.txt", "raw")
    os.symlink("data", repo.root / "alias")
    repo.pipefile("""
        version: 1
        steps:
          read: {command: "cat data/raw.txt > ${{outputs.o}}", inputs: {d: data}, outputs: {o: build/r.txt}}
          gen: {command: "echo G > ${{outputs.o}}", outputs: {o: alias/raw.txt}}
    """)
    _refused(repo, "output 'o' of step 'gen' ('alias/raw.txt')", "input 'd' of step 'read' ('data')")
    assert repo.read("data/raw.txt") == "raw"
    os.remove(repo.root / "alias")
    (repo.root / "build").mkdir()
    os.symlink("build", repo.root / "alias")
    repo.pipefile("""
        version: 1
        steps:
          one: {command: "echo 1 > ${{outputs.o}}", outputs: {o: build/r.txt}}
          two: {command: "echo 2 > ${{outputs.o}}", outputs: {o: alias/r.txt}}
    """)
    _refused(repo, "output 'o' of step 'two' ('alias/r.txt')", "output 'o' of step 'one' ('build/r.txt')")


UPSTREAM_LINKS = """
version: 1
params: {{link: false}}
steps:
  a:
    command: "if [ ${{{{params.link}}}} = true ]; then rm -rf out && ln -s {target} out; fi; echo A > ${{{{outputs.o}}}}"
    outputs: {{o: a.txt}}
  b:
    command: "cat ${{{{inputs.i}}}} > ${{{{outputs.o}}}}"
    inputs: {{i: a.txt}}
    outputs: {{o: out/jobs.db}}
"""


def test_link_made_by_an_upstream_step_during_the_run_fails_the_step(repo):
    repo.pipefile(UPSTREAM_LINKS.format(target=".pipe"))
    assert repo.outcomes() == {"a": "ran", "b": "ran"}
    r = repo.pipe("run", "--json", "-p", "link=true")
    assert r.code == 1, r
    steps = {s["name"]: s for s in r.json["steps"]}
    assert steps["a"]["outcome"] == "ran" and steps["b"]["outcome"] == "failed"
    assert "will not write output 'out/jobs.db'" in steps["b"]["error"]
    assert "through the link 'out' -> '.pipe'" in steps["b"]["error"]
    _history_intact(repo, 2)
    # The link is still there: the next run refuses before running anything.
    assert repo.pipe("run", "-p", "link=true").code == 2


def test_link_made_during_the_run_elsewhere_in_the_workspace_fails_too(repo):
    """Where outputs land was checked before the run; a link made since is never followed."""
    (repo.root / "elsewhere").mkdir()
    repo.pipefile(UPSTREAM_LINKS.format(target="elsewhere"))
    assert repo.outcomes() == {"a": "ran", "b": "ran"}
    r = repo.pipe("run", "--json", "-p", "link=true")
    assert r.code == 1, r
    (b,) = [s for s in r.json["steps"] if s["name"] == "b"]
    assert "made during this run" in b["error"], r
    assert not (repo.root / "elsewhere/jobs.db").exists()


def test_link_made_by_the_step_itself_while_it_runs(used):
    repo = used
    repo.pipefile("""
        version: 1
        steps:
          s: {command: "rmdir out && ln -s .pipe out && echo S > ${{outputs.o}}", outputs: {o: out/jobs.db}}
    """)
    r = repo.pipe("run")
    assert r.code == 1 and "will not write output 'out/jobs.db'" in r.err, r
    _history_intact(repo, 2)
    assert not (repo.root / ".pipe/jobs.db").read_bytes().startswith(b"S\n")


def test_restore_through_a_link_made_during_the_run(repo):
    """A restore checks too: the upstream step makes the link, the next step is restored."""
    repo.pipefile(UPSTREAM_LINKS.format(target=".pipe"))
    assert repo.outcomes() == {"a": "ran", "b": "ran"}
    os.remove(repo.root / "out/jobs.db")  # b (same input) will be restored after a runs
    r = repo.pipe("run", "--json", "-p", "link=true")
    assert r.code == 1, r
    (b,) = [s for s in r.json["steps"] if s["name"] == "b"]
    assert b["outcome"] == "failed" and "will not write output 'out/jobs.db'" in b["error"], r
    _history_intact(repo, 2)


def test_a_killed_run_is_never_rolled_back_through_a_link_it_made(repo):
    """A run killed after its step made a link: the next run's roll-back of what that step had
    moved aside must not follow the link into .pipe/."""
    repo.pipefile("""
        version: 1
        params: {kill: false}
        steps:
          s:
            command: >-
              if [ ${{params.kill}} = true ]; then rm -rf out && ln -s .pipe out && kill -9 $(cat .pipe/running/*);
              sleep 5; fi; echo S > ${{outputs.o}}
            outputs: {o: out/jobs.db}
    """)
    assert repo.outcomes() == {"s": "ran"}
    r = repo.pipe("run", "-p", "kill=true")
    assert r.code == -9, r
    assert os.path.islink(repo.root / "out")
    # The next run (the output moved elsewhere meanwhile) cleans up after the killed one.
    repo.pipefile("""
        version: 1
        steps:
          s: {command: "echo S > ${{outputs.o}}", outputs: {o: other.txt}}
    """)
    assert repo.outcomes() == {"s": "ran"}
    _history_intact(repo, 3)


def test_a_scratch_disk_link_holds_outputs_that_later_steps_read(repo, tmp_path):
    """Was: refused before the run (exit 2): 'output ... would be written at SCRATCH/x.txt
    through the link build -> SCRATCH: that is input i of step b (build/x.txt)', when a step
    read, by its own path, the output the link sends elsewhere: a scratch disk held only
    outputs that nothing reads."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    os.symlink(scratch, repo.root / "build")
    repo.pipefile("""
        version: 1
        steps:
          a: {command: "echo A > ${{outputs.o}}", outputs: {o: build/x.txt}}
          d: {command: "echo D > ${{outputs.o}}/f.txt", outputs: {o: build/d/}}
          b:
            command: "cat ${{inputs.i}} ${{inputs.j}}/f.txt > ${{outputs.o}}"
            inputs: {i: "${{steps.a.outputs.o}}", j: "${{steps.d.outputs.o}}"}
            outputs: {o: build/y.txt}
    """)
    assert repo.outcomes() == {"a": "ran", "d": "ran", "b": "ran"}
    assert (scratch / "y.txt").read_text() == "A\nD\n"
    assert repo.outcomes() == {"a": "fresh", "d": "fresh", "b": "fresh"}
