"""The parallel map (issue 15, `foreach:`) as Azure's parallel job has it: batches of
`batch_size` items, `error_threshold`, `retries`, `max_parallel`; end to end through `pipe`.
(One task per file, the glob and random folder edits: test_compose.py; bad input: the
table of test_validation.py.)"""

from __future__ import annotations

import os

from test_compose import ran, tree

BATCHED = """\
    version: 1
    steps:
      each:
        foreach: {over: "${{inputs.d}}", batch_size: 2}
        inputs: {d: data}
        command: ls ${{inputs.d}} > ${{outputs.out}} && cat ${{inputs.d}}/* >> ${{outputs.out}}
        outputs: {out: build/out/}
      all:
        inputs: {o: "${{steps.each.outputs.out}}"}
        command: cat ${{inputs.o}}/* > ${{outputs.x}}
        outputs: {x: build/all.txt}
"""


def test_batches_hold_batch_size_files_and_an_added_file_reruns_only_the_last(repo):
    repo.pipefile(BATCHED)
    for n in ("a", "b", "c", "d", "e"):
        repo.write(f"data/{n}.txt", f"{n}\n")
    assert ran(repo.outcomes()) == {"each[batch-1]", "each[batch-2]", "each[batch-3]", "all"}
    assert sorted(os.listdir(repo.root / "build/out")) == ["batch-1", "batch-2", "batch-3"]
    assert repo.read("build/out/batch-2") == "c.txt\nd.txt\nc\nd\n"  # the command saw a folder of 2
    assert repo.read("build/out/batch-3") == "e.txt\ne\n"
    repo.write("data/f.txt", "f\n")  # sorts last: joins the last batch
    assert ran(repo.outcomes()) == {"each[batch-3]", "all"}
    assert repo.read("build/out/batch-3") == "e.txt\nf.txt\ne\nf\n"
    repo.write("data/g.txt", "g\n")  # the last batch is full: a new one
    assert ran(repo.outcomes()) == {"each[batch-4]", "all"}
    repo.write("data/c.txt", "C\n")  # a changed file reruns its batch only
    assert ran(repo.outcomes()) == {"each[batch-2]", "all"}
    assert repo.read("build/out/batch-2") == "c.txt\nd.txt\nC\nd\n"
    assert ran(repo.outcomes()) == set()
    # a file replaced by another (a new inode, as editors save): its batch folder follows
    (repo.root / "data/d.txt").unlink()
    repo.write("data/d.txt", "D\n")
    assert ran(repo.outcomes()) == {"each[batch-2]", "all"}
    assert repo.read("build/out/batch-2") == "c.txt\nd.txt\nC\nD\n"
    # the gathered output equals a clean build's
    clean = repo.root / "clean"
    clean.mkdir()
    (clean / "Pipefile").write_text((repo.root / "Pipefile").read_text())
    os.symlink(repo.root / "data", clean / "data")
    from workspace_repo import Repo

    Repo(clean).outcomes()
    assert tree(clean / "build") == tree(repo.root / "build")


def test_a_batch_task_is_a_target_and_status_lists_the_batches(repo):
    repo.pipefile(BATCHED)
    for n in ("a", "b", "c"):
        repo.write(f"data/{n}.txt", f"{n}\n")
    assert ran(repo.outcomes("each[batch-2]")) == {"each[batch-2]"}
    assert repo.read("build/out/batch-2") == "c.txt\nc\n"
    states = repo.pipe("status", "--json", "--tasks", check=True).json
    assert "each[batch-1]" in str(states) and "each[batch-2]" in str(states)


THRESHOLD = """\
    version: 1
    steps:
      each:
        foreach: {{over: "${{{{inputs.d}}}}", error_threshold: {threshold}}}
        inputs: {{d: data}}
        command: "! grep -q bad ${{{{inputs.d}}}} && cp ${{{{inputs.d}}}} ${{{{outputs.out}}}}"
        outputs: {{out: build/out/}}
      all:
        inputs: {{o: "${{{{steps.each.outputs.out}}}}"}}
        command: ls ${{{{inputs.o}}}} > ${{{{outputs.x}}}}
        outputs: {{x: build/all.txt}}
"""


def _five_with_two_bad(repo):
    for n in ("a", "b", "c", "d", "e"):
        repo.write(f"data/{n}.txt", "bad\n" if n in ("b", "d") else f"{n}\n")


def test_failures_within_the_error_threshold_leave_the_step_ok_with_the_items_that_succeeded(repo):
    repo.pipefile(THRESHOLD.format(threshold=2))
    _five_with_two_bad(repo)
    got = repo.run_json()
    outcomes = {s["name"]: s["outcome"] for s in got["steps"]}
    assert outcomes["each[b.txt]"] == outcomes["each[d.txt]"] == "failed"  # the job says which failed
    assert outcomes["all"] == "ran"
    assert repo.read("build/all.txt") == "a.txt\nc.txt\ne.txt\n"
    job = repo.pipe("jobs", "show", "1", "--json", check=True).json
    assert job["status"] == "succeeded"
    # an item that succeeded before and fails now: its old entry leaves the gathered output
    repo.write("data/a.txt", "bad\n")
    repo.write("data/b.txt", "b\n")
    repo.pipe("run", check=True)
    assert repo.read("build/all.txt") == "b.txt\nc.txt\ne.txt\n"


def test_failures_past_the_error_threshold_fail_the_step(repo):
    repo.pipefile(THRESHOLD.format(threshold=1))
    _five_with_two_bad(repo)
    r = repo.pipe("run", "--json")
    assert r.code == 1, str(r)
    outcomes = {s["name"]: s["outcome"] for s in r.json["steps"]}
    assert outcomes["each[b.txt]"] == outcomes["each[d.txt]"] == "failed"
    assert outcomes["all"] == "skipped"


def test_any_number_of_failures_with_threshold_minus_one(repo):
    repo.pipefile(THRESHOLD.format(threshold=-1))
    for n in ("a", "b", "c"):
        repo.write(f"data/{n}.txt", "bad\n" if n != "a" else "a\n")
    repo.pipe("run", check=True)
    assert repo.read("build/all.txt") == "a.txt\n"


def test_a_flaky_item_succeeds_on_a_retry(repo):
    repo.pipefile(
        """\
        version: 1
        steps:
          each:
            foreach: {over: "${{inputs.d}}", retries: 2, max_parallel: 1}
            inputs: {d: data}
            command: >-
              n=$(basename ${{inputs.d}}); if [ ! -e tries/$n ]; then mkdir -p tries; touch tries/$n; exit 3; fi;
              cp ${{inputs.d}} ${{outputs.out}}
            outputs: {out: build/out/}
        """
    )
    for n in ("a", "b"):
        repo.write(f"data/{n}.txt", f"{n}\n")
    got = repo.outcomes()
    assert got == {"each[a.txt]": "ran", "each[b.txt]": "ran"}
    assert repo.read("build/out/b.txt") == "b\n"
    # without retries the same flaky item fails
    repo.write("data/c.txt", "c\n")
    repo.pipefile(repo.read("Pipefile").replace("retries: 2", "retries: 0"))
    assert repo.pipe("run").code == 1


def test_max_parallel_limits_a_map(repo):
    # Each task notes how many run beside it (a marker file per running task).
    repo.pipefile(
        """\
        version: 1
        steps:
          each:
            foreach: {over: "${{inputs.d}}", max_parallel: 1}
            inputs: {d: data}
            command: >-
              mkdir -p running && touch running/$(basename ${{inputs.d}}) && sleep 0.2 &&
              ls running | wc -l > ${{outputs.out}} && rm running/$(basename ${{inputs.d}})
            outputs: {out: build/out/}
        """
    )
    for n in ("a", "b", "c"):
        repo.write(f"data/{n}.txt", f"{n}\n")
    repo.pipe("run", "-j", "3", check=True)
    assert {repo.read(f"build/out/{n}.txt").strip() for n in ("a", "b", "c")} == {"1"}
