"""A step that writes over another step's declared output (a literal path in its command) is
caught in the same run: it fails, naming both steps and the path, and the other step's
content is put back from the store. A no-op checks nothing."""

from __future__ import annotations

import os

OVERWRITE = """
version: 1
params: {{bad: true}}
steps:
  p:
    command: "echo P > ${{{{outputs.o}}}}; echo Q > ${{{{outputs.q}}}}"
    outputs: {{o: {p_out}, q: build/q.txt}}
  x:
    command: "sleep 0.05; if [ ${{{{params.bad}}}} = true ]; then {write}; fi; echo X > ${{{{outputs.o}}}}"
    inputs: {{q: build/q.txt}}
    outputs: {{o: build/x.txt}}
  r:
    command: "cat {p_out} > ${{{{outputs.o}}}}"
    inputs: {{p: {p_out}}}
    outputs: {{o: build/r.txt}}
"""


def _steps(r) -> dict:
    return {s["name"]: s for s in r.json["steps"]}


def test_a_step_that_overwrites_another_steps_output_fails_and_the_output_is_put_back(repo):
    repo.pipefile(OVERWRITE.format(p_out="build/p.txt", write="echo BAD > build/p.txt"))
    r = repo.pipe("run", "--json", "-j", "1")
    assert r.code == 1, r
    steps = _steps(r)
    assert steps["p"]["outcome"] == "ran"
    assert steps["x"]["outcome"] == "failed", r
    err = steps["x"]["error"]
    assert "wrote over 'build/p.txt'" in err and "of step 'p'" in err and "put its content back" in err, r
    assert repo.read("build/p.txt") == "P\n"
    # r reads p.txt: checked before it started, so it never read the wrong content; the run
    # stopped at the failure.
    assert steps["r"]["outcome"] == "skipped"
    assert not repo.exists("build/r.txt")
    # The offender is not recorded nor cached: it runs, and fails, again.
    r = repo.pipe("run", "--json", "-j", "1")
    assert r.code == 1 and _steps(r)["x"]["outcome"] == "failed", r
    assert _steps(r)["p"]["outcome"] == "fresh"
    assert repo.read("build/p.txt") == "P\n"
    # Fixed, everything runs to the end.
    repo.pipe("run", "-p", "bad=false", check=True)
    assert repo.read("build/r.txt") == "P\n"


def test_with_keep_going_a_reader_runs_on_the_right_content(repo):
    repo.pipefile(OVERWRITE.format(p_out="build/p.txt", write="echo BAD > build/p.txt"))
    r = repo.pipe("run", "--json", "-j", "1", "--keep-going")
    assert r.code == 1, r
    steps = _steps(r)
    assert steps["x"]["outcome"] == "failed" and steps["r"]["outcome"] == "ran", r
    assert repo.read("build/r.txt") == "P\n"
    assert repo.read("build/p.txt") == "P\n"


def test_overwriting_a_fresh_output_and_a_folder_output(repo):
    repo.pipefile(OVERWRITE.format(p_out="build/p.txt", write="true"))
    repo.pipe("run", check=True)
    # Now x (its param changed) overwrites the output of p, which is fresh in that run.
    repo.pipefile(OVERWRITE.format(p_out="build/p.txt", write="echo BAD > build/p.txt").replace("echo X", "echo X2"))
    r = repo.pipe("run", "--json", "-j", "1", "--keep-going")
    assert r.code == 1, r
    steps = _steps(r)
    assert steps["p"]["outcome"] == "fresh" and steps["x"]["outcome"] == "failed", r
    assert "wrote over 'build/p.txt'" in steps["x"]["error"]
    assert repo.read("build/p.txt") == "P\n"
    # A folder output: a file added inside it is noticed too.
    repo.pipefile("""
        version: 1
        steps:
          p: {command: "echo P > ${{outputs.d}}/f", outputs: {d: build/pdir/}}
          x: {command: "sleep 0.05; echo BAD > build/pdir/extra; echo X > ${{outputs.o}}", inputs: {d: build/pdir},
              outputs: {o: build/x.txt}}
    """)
    r = repo.pipe("run", "--json")
    assert r.code == 1, r
    assert "build/pdir" in _steps(r)["x"]["error"], r
    assert sorted(os.listdir(repo.root / "build/pdir")) == ["f"]
    repo.pipefile("""
        version: 1
        steps:
          p: {command: "echo P > ${{outputs.d}}/f", outputs: {d: build/pdir/}}
          x: {command: "sleep 0.05; echo BAD > build/pdir/extra; echo X > ${{outputs.o}}", outputs: {o: build/x.txt}}
    """)
    r = repo.pipe("run", "--json", "-j", "1")
    assert r.code == 1, r
    assert "wrote over 'build/pdir'" in _steps(r)["x"]["error"], r
    assert sorted(os.listdir(repo.root / "build/pdir")) == ["f"]


def test_overwrite_noticed_at_the_end_of_the_run(repo):
    """Nothing reads the output after the offender ran: the end of the run notices."""
    repo.pipefile("""
        version: 1
        steps:
          p: {command: "echo P > ${{outputs.o}}", outputs: {o: p.txt}}
          x: {command: "sleep 0.05; echo BAD > p.txt; echo X > ${{outputs.o}}", inputs: {p: p.txt}, outputs: {o: x.txt}}
          y: {command: "sleep 0.05; echo BAD > x.txt; echo Y > ${{outputs.o}}", inputs: {x: x.txt}, outputs: {o: y.txt}}
    """)
    r = repo.pipe("run", "--json")
    assert r.code == 1, r
    steps = _steps(r)
    # x wrote its own input: it says so (as before), and p's content is put back all the same.
    assert steps["x"]["outcome"] == "failed" and "modified its own input 'p.txt'" in steps["x"]["error"]
    assert repo.read("p.txt") == "P\n"
    repo.pipefile("""
        version: 1
        steps:
          p: {command: "echo P > ${{outputs.o}}", outputs: {o: p.txt}}
          x: {command: "echo X > ${{outputs.o}}", inputs: {p: p.txt}, outputs: {o: x.txt}}
          y: {command: "sleep 0.05; echo BAD > p.txt; echo Y > ${{outputs.o}}", inputs: {x: x.txt}, outputs: {o: y.txt}}
    """)
    r = repo.pipe("run", "--json")
    assert r.code == 1, r
    steps = _steps(r)
    assert steps["y"]["outcome"] == "failed" and "wrote over 'p.txt', output 'o' of step 'p'" in steps["y"]["error"]
    assert repo.read("p.txt") == "P\n"
    r = repo.pipe("jobs", "show", "last", "--json")
    assert r.code == 0 and '"failed"' in r.out, r


def test_a_noop_and_a_clean_run_are_not_affected(repo):
    repo.pipefile(OVERWRITE.format(p_out="build/p.txt", write="true"))
    assert repo.outcomes() == {"p": "ran", "x": "ran", "r": "ran"}
    assert repo.outcomes() == {"p": "fresh", "x": "fresh", "r": "fresh"}
    os.remove(repo.root / "build/x.txt")
    assert repo.outcomes() == {"p": "fresh", "x": "restored", "r": "fresh"}
