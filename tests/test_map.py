"""The parallel map (issue 15, `foreach:`) as Azure's parallel job has it: batches of
`batch_size` items, `error_threshold`, `retries`, `max_parallel`; end to end through `pipe`.
(One task per file, the glob and random folder edits: test_compose.py; bad input: the
table of test_validation.py.)"""

from __future__ import annotations

import os
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_compose import assert_built_as_from_scratch, edit_item, ran, tree

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


def test_an_item_that_fails_every_try_says_so(repo):
    repo.pipefile(THRESHOLD.format(threshold=1).replace("error_threshold: 1", "error_threshold: 1, retries: 2"))
    repo.write("data/a.txt", "a\n")
    repo.write("data/b.txt", "bad\n")
    r = repo.pipe("run")
    assert r.code == 0, str(r)
    assert "each[b.txt]: tried 3 times (each failed)" in r.out + r.err
    assert "failed first" not in r.out + r.err  # (it read as if a later try passed)


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


# --- the map record: tasks up to date without a node each (maps.py) -----------------------
MAPPED = """\
    version: 1
    steps:
      each:
        foreach: ${{inputs.d}}
        inputs: {d: data}
        command: tr a-z A-Z < ${{inputs.d}} > ${{outputs.out}}
        outputs: {out: build/out/}
      all:
        inputs: {o: "${{steps.each.outputs.out}}"}
        command: cat ${{inputs.o}}/* > ${{outputs.x}}
        outputs: {x: build/all.txt}
"""


def _age(root, names=None) -> None:
    """Move the data files' times an hour back: a file changed within a clock tick of a
    record is never settled, and tests write their files just before running."""
    old = os.path.getmtime(root / "data") - 3600
    for n in names or os.listdir(root / "data"):
        os.utime(root / "data" / n, (old, old))
    # utime sets the ctime to now, which the racy rule reads too (filehash.racy): a run that
    # started within 0.1 s of it (a quick start) settled nothing, and the test failed by chance.
    time.sleep(0.25)


def _map_rows(repo, job: int) -> int:
    steps = repo.pipe("jobs", "show", str(job), "--json", check=True).json["steps"]
    return sum(1 for s in steps if s["step"].startswith("each["))


def test_a_no_op_settles_the_map_from_its_record_and_records_it_once(repo):
    repo.pipefile(MAPPED)
    for n in "abcdef":
        repo.write(f"data/{n}.txt", f"{n}\n")
    _age(repo.root)
    assert ran(repo.outcomes()) == {f"each[{n}.txt]" for n in "abcdef"} | {"all"}
    assert repo.exists(".pipe/maps/each.json")
    got = repo.outcomes()  # every task still listed, fresh
    assert got == {**{f"each[{n}.txt]": "fresh" for n in "abcdef"}, "all": "fresh"}
    assert _map_rows(repo, 2) == 1  # the probe alone: no row per settled task
    assert repo.outcomes("each") == {f"each[{n}.txt]": "fresh" for n in "abcdef"}  # the step as a target
    assert repo.outcomes("build/out") == {f"each[{n}.txt]": "fresh" for n in "abcdef"}  # its gathered folder
    shown = repo.pipe("status", check=True).out
    assert "each  6 tasks: 6 fresh" in " ".join(shown.split("\n")[0].split()) or "6 tasks: 6 fresh" in shown
    # one added item: one task runs, the rest stay settled
    repo.write("data/g.txt", "g\n")
    assert ran(repo.outcomes()) == {"each[g.txt]", "all"}
    assert repo.read("build/all.txt") == "A\nB\nC\nD\nE\nF\nG\n"
    # a changed item (its signature differs): its task alone
    repo.write("data/b.txt", "bee\n")
    _age(repo.root, ["b.txt", "g.txt"])
    assert ran(repo.outcomes()) == {"each[b.txt]", "all"}
    assert repo.read("build/out/b.txt") == "BEE\n"
    # an output entry changed by hand: restored, as without a record
    (repo.root / "build/out/c.txt").chmod(0o644)
    (repo.root / "build/out/c.txt").write_text("tampered\n")
    got = repo.outcomes()
    assert got["each[c.txt]"] in ("restored", "ran") and repo.read("build/out/c.txt") == "C\n"
    assert ran(repo.outcomes()) == set()


def test_a_change_every_task_shares_plans_every_task_again(repo):
    repo.pipefile(MAPPED)
    for n in "abcd":
        repo.write(f"data/{n}.txt", f"{n}\n")
    _age(repo.root)
    repo.outcomes()
    repo.outcomes()
    repo.pipefile(MAPPED.replace("tr a-z A-Z", "tr a-z A-Z | rev"))
    assert ran(repo.outcomes()) == {f"each[{n}.txt]" for n in "abcd"} | {"all"}
    assert ran(repo.outcomes()) == set()
    # named and forced tasks have their nodes
    assert repo.outcomes("each[a.txt]") == {"each[a.txt]": "fresh"}
    assert ran(repo.outcomes("--force", "each")) == {f"each[{n}.txt]" for n in "abcd"}  # ("all": same input)
    # deleting an item removes its entry and runs nothing of the map
    (repo.root / "data/a.txt").unlink()
    assert ran(repo.outcomes()) == {"all"}
    assert sorted(os.listdir(repo.root / "build/out")) == ["b.txt", "c.txt", "d.txt"]


_NAMES = st.sampled_from(["a", "b", "c", "d", "e"])
_EDIT = st.tuples(st.sampled_from(["add", "delete", "modify", "touch-output"]), _NAMES, st.integers(0, 3))


@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
@given(edits=st.lists(_EDIT, min_size=1, max_size=4))
def test_random_edits_with_a_map_record_run_exactly_the_affected_tasks(edits, tmp_path_factory):
    """As test_compose's property, with the data aged so that the map record settles tasks."""
    from workspace_repo import Repo

    ws = tmp_path_factory.mktemp("ws")
    r = Repo(ws)
    r.pipefile(MAPPED)
    items = {"a": "a0", "b": "b0", "c": "c0"}
    for n, v in items.items():
        r.write(f"data/{n}.txt", v)
    _age(ws)
    r.outcomes()
    r.outcomes()  # (now with the record)
    built = set(items.items())
    for op, name, value in edits:
        want_extra = set()
        if op == "touch-output":
            if name not in items:
                continue
            out = ws / f"build/out/{name}.txt"
            out.chmod(0o644)
            out.write_text("changed by hand")
            want_extra = {f"each[{name}.txt]"}  # restored (or run): not fresh
        elif not edit_item(r, items, op, name, value):
            continue
        elif op != "delete":
            _age(ws, [f"{name}.txt"])
        got = r.outcomes()
        want = {f"each[{n}.txt]" for n, v in items.items() if (n, v) not in built}
        assert {n for n in ran(got) if n != "all"} == want, (op, name, got)
        assert {n for n, o in got.items() if n != "all" and o != "fresh"} >= want | want_extra
        assert {n for n in got if n != "all"} == {f"each[{n}.txt]" for n in items}
        built |= set(items.items())
        assert_built_as_from_scratch(ws, tmp_path_factory)


# --- a map over another step's output: expanded once that step has run --------------------
DYNAMIC = """\
    version: 1
    params: {n: 3}
    steps:
      prep:
        command: >-
          mkdir -p ${{outputs.parts}} &&
          for i in $(seq 1 ${{params.n}}); do echo $i > ${{outputs.parts}}/p$i.txt; done
        outputs: {parts: build/parts/}
      each:
        foreach: ${{inputs.d}}
        inputs: {d: "${{steps.prep.outputs.parts}}"}
        command: tr 1-9 a-i < ${{inputs.d}} > ${{outputs.out}}
        outputs: {out: build/out/}
      all:
        inputs: {o: "${{steps.each.outputs.out}}"}
        command: cat ${{inputs.o}}/* > ${{outputs.x}}
        outputs: {x: build/all.txt}
"""


def test_a_map_over_a_step_output_is_expanded_after_that_step_runs(repo):
    repo.pipefile(DYNAMIC)
    shown = repo.pipe("status", check=True).out
    assert "items known after prep runs" in shown
    assert repo.pipe("status", "--json", check=True).json["groups"][0]["items_after"] == "prep"
    got = repo.outcomes()
    assert got == {"prep": "ran", "each[p1.txt]": "ran", "each[p2.txt]": "ran", "each[p3.txt]": "ran", "all": "ran"}
    assert repo.read("build/all.txt") == "a\nb\nc\n"
    job = repo.pipe("jobs", "show", "1", "--json", check=True).json  # one job for both parts
    assert {s["step"] for s in job["steps"]} == set(got)
    # one more item upstream: one task of the map runs
    assert ran(repo.outcomes("-p", "n=4")) == {"prep", "each[p4.txt]", "all"}
    assert repo.read("build/all.txt") == "a\nb\nc\nd\n"
    assert ran(repo.outcomes("-p", "n=4")) == set()
    # one fewer: its entry goes, nothing of the map runs
    assert ran(repo.outcomes("-p", "n=2")) == {"prep", "all"}
    assert sorted(os.listdir(repo.root / "build/out")) == ["p1.txt", "p2.txt"]
    assert repo.read("build/all.txt") == "a\nb\n"


def test_a_map_over_a_step_output_with_no_items_is_an_empty_gathered_folder(repo):
    # An upstream step that makes an empty folder: the map has no task, its gathered folder
    # is empty, and what reads it runs on that (as Azure's parallel job over no mini-batch).
    repo.pipefile(DYNAMIC.replace("cat ${{inputs.o}}/*", "ls ${{inputs.o}}"))
    got = repo.outcomes("-p", "n=0")
    assert got == {"prep": "ran", "each": "ran", "all": "ran"}, got
    assert os.listdir(repo.root / "build/out") == [] and repo.read("build/all.txt") == ""
    assert ran(repo.outcomes("-p", "n=0")) == set()
    # the folder gains items: they are mapped
    assert ran(repo.outcomes("-p", "n=2")) == {"prep", "each[p1.txt]", "each[p2.txt]", "all"}
    assert repo.read("build/all.txt") == "p1.txt\np2.txt\n"
    # and empty again: the entries go, the reader's result on the empty folder comes back
    got = repo.outcomes("-p", "n=0")
    assert got == {"prep": "restored", "each": "fresh", "all": "restored"}, got
    assert os.listdir(repo.root / "build/out") == [] and repo.read("build/all.txt") == ""


def test_a_map_over_an_empty_source_folder_or_glob_is_an_empty_map(repo):
    repo.pipefile(
        """\
        version: 1
        steps:
          each:
            foreach: {over: "${{inputs.d}}", glob: "*.csv"}
            inputs: {d: data}
            command: cp ${{inputs.d}} ${{outputs.out}}
            outputs: {out: build/out/}
          all:
            inputs: {o: "${{steps.each.outputs.out}}"}
            command: ls ${{inputs.o}} > ${{outputs.x}}
            outputs: {x: build/all.txt}
        """
    )
    os.makedirs(repo.root / "data")
    assert "each  no items: an empty map" in repo.pipe("status", check=True).out
    assert repo.pipe("status", "--json", check=True).json["groups"][0]["tasks"] == 0
    assert ran(repo.outcomes()) == {"each", "all"}
    assert os.listdir(repo.root / "build/out") == [] and repo.read("build/all.txt") == ""
    repo.write("data/a.txt", "not matched\n")  # the glob still matches nothing
    assert ran(repo.outcomes()) == set()
    repo.write("data/b.csv", "b\n")
    assert ran(repo.outcomes()) == {"each[b.csv]", "all"}
    assert repo.read("build/all.txt") == "b.csv\n"
    os.remove(repo.root / "data/b.csv")
    got = repo.outcomes()
    assert got == {"each": "fresh", "all": "restored"}, got
    assert os.listdir(repo.root / "build/out") == [] and repo.read("build/all.txt") == ""


# --- a map over a list param: a task per value ----------------------------------------------
def test_a_map_over_a_list_param_runs_a_task_per_value(repo):
    repo.pipefile(
        """\
        version: 1
        params:
          cities: [paris, rome]
        steps:
          each:
            foreach: ${{inputs.city}}
            inputs: {city: "${{params.cities}}"}
            command: echo "hello ${{inputs.city}}" > ${{outputs.out}}
            outputs: {out: build/out/}
        """
    )
    assert ran(repo.outcomes()) == {"each[paris]", "each[rome]"}
    assert repo.read("build/out/rome") == "hello rome\n"
    assert ran(repo.outcomes("-p", "cities=paris,rome,oslo")) == {"each[oslo]"}
    assert ran(repo.outcomes("-p", 'cities=["paris", "rome", "oslo"]')) == set()
    assert ran(repo.outcomes("-p", "cities=rome")) == set()
    assert os.listdir(repo.root / "build/out") == ["rome"]
    # declared by type, with numbers
    repo.pipefile(
        """\
        version: 1
        params:
          sizes: {type: list, default: [1, 2.5]}
        steps:
          each:
            foreach: ${{inputs.n}}
            inputs: {n: "${{params.sizes}}"}
            command: echo ${{inputs.n}} > ${{outputs.out}}
            outputs: {out: build/sizes/}
        """
    )
    assert ran(repo.outcomes()) == {"each[1]", "each[2.5]"}
    assert repo.read("build/sizes/2.5") == "2.5\n"
