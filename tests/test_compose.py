"""Composition (issue 15): matrix, sweep and parallel map (foreach) steps, end to end.

Each expanded step becomes tasks `STEP[LABEL]`, each with its own key, outputs, log and
metrics; `${{steps.STEP.outputs.X}}` is the gathered folder (one entry per task). What must
hold: adding a value or item runs exactly the new tasks; removing one runs nothing (its
entry goes; a reader of the gathered folder reruns); the gathered folder always equals a
clean build's. Bad input is tested in test_validation.py's table.
"""

from __future__ import annotations

import itertools
import os
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

MATRIX = """\
    version: 1
    steps:
      train:
        matrix:
          lr: {lr}
          depth: {depth}
        inputs:
          lr: {{type: number}}
          depth: {{type: integer}}
        command: >-
          mkdir -p ${{{{outputs.model}}}} && echo "lr=${{{{inputs.lr}}}} depth=${{{{inputs.depth}}}}"
          > ${{{{outputs.model}}}}/m.txt && echo '{{"acc": ${{{{inputs.depth}}}}}}' > ${{{{outputs.metrics}}}}
        outputs:
          model: build/model/
          metrics: build/metrics.json
        metrics: build/metrics.json
      report:
        inputs:
          models: ${{{{steps.train.outputs.model}}}}
        command: ls ${{{{inputs.models}}}} > ${{{{outputs.out}}}}
        outputs:
          out: build/report.txt
"""


def matrix(lr, depth) -> str:
    return MATRIX.format(lr=list(lr), depth=list(depth))


def labels(lr, depth) -> set:
    return {f"lr={a},depth={b}" for a, b in itertools.product(lr, depth)}


def ran(outcomes: dict) -> set:
    return {n for n, o in outcomes.items() if o == "ran"}


def tree(root) -> dict:
    """{relative path: bytes} of every file under `root`."""
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = fh.read()
    return out


def edit_item(r, items: dict, op: str, name: str, value) -> bool:
    """`op` (add, delete, modify) on the map's item data/NAME.txt, `items` kept as the folder
    holds them; False where it does not apply (nothing done)."""
    if op == "delete":
        if name not in items or len(items) == 1:
            return False
        del items[name]
        (r.root / f"data/{name}.txt").unlink()
        return True
    if (op == "add") == (name in items):
        return False
    items[name] = f"{name}{value}"
    r.write(f"data/{name}.txt", items[name])
    return True


def assert_built_as_from_scratch(ws, tmp_path_factory) -> None:
    """What `ws` built (its build/) is what a new workspace of its Pipefile and data builds."""
    from workspace_repo import Repo

    clean = tmp_path_factory.mktemp("clean")
    shutil.copy(ws / "Pipefile", clean / "Pipefile")
    shutil.copytree(ws / "data", clean / "data")
    Repo(clean).outcomes()
    assert tree(ws / "build") == tree(clean / "build")
    shutil.rmtree(clean)


def test_matrix_runs_one_task_per_combination_and_gathers_them(repo):
    repo.pipefile(matrix([0.01, 0.1], [3, 5]))
    got = repo.outcomes()
    want = {f"train[{x}]" for x in labels([0.01, 0.1], [3, 5])}
    assert ran(got) == want | {"report"}
    # Axes in declaration order; one entry per task in the gathered folder.
    assert sorted(os.listdir(repo.root / "build/model")) == sorted(labels([0.01, 0.1], [3, 5]))
    assert repo.read("build/model/lr=0.1,depth=5/m.txt") == "lr=0.1 depth=5\n"
    assert repo.read("build/report.txt").split() == sorted(labels([0.01, 0.1], [3, 5]))
    # Each task's metrics are recorded as TASK.NAME.
    shown = repo.pipe("metrics", "show", check=True).out
    assert "train[lr=0.01,depth=3].acc" in shown and "train[lr=0.1,depth=5].acc" in shown
    # status groups the tasks of one step; --tasks lists them.
    out = repo.pipe("status", check=True).out
    assert out.splitlines()[0].split() == ["fresh", "train", "4", "tasks:", "4", "fresh"]
    assert "train[lr=0.01,depth=3]" in repo.pipe("status", "--tasks", check=True).out
    assert repo.pipe("status", "--json", check=True).json["groups"] == [
        {"name": "train", "kind": "matrix", "tasks": 4, "states": {"fresh": 4}}
    ]


def test_a_task_is_a_target_and_the_step_names_all_its_tasks(repo):
    repo.pipefile(matrix([0.01, 0.1], [3]))
    assert set(repo.outcomes("train[lr=0.1,depth=3]")) == {"train[lr=0.1,depth=3]"}
    got = repo.outcomes("train")
    assert got == {"train[lr=0.01,depth=3]": "ran", "train[lr=0.1,depth=3]": "fresh"}
    # The gathered folder as a target: every task.
    assert set(repo.outcomes("build/model")) == set(got)
    # --force STEP forces each of its tasks; --force TASK that one.
    assert ran(repo.outcomes("train", "--force", "train")) == set(got)
    assert ran(repo.outcomes("train", "--force", "train[lr=0.1,depth=3]")) == {"train[lr=0.1,depth=3]"}


def test_adding_a_value_runs_only_the_new_tasks_and_removing_one_runs_nothing(repo):
    repo.pipefile(matrix([0.01, 0.1], [3]))
    repo.outcomes()
    repo.pipefile(matrix([0.01, 0.1, 0.5], [3]))
    assert ran(repo.outcomes()) == {"train[lr=0.5,depth=3]", "report"}
    repo.pipefile(matrix([0.01, 0.5], [3]))
    # status says what the run will remove (it removes nothing itself).
    r = repo.pipe("status", "--check")
    assert r.code == 1 and "will remove 2 gathered entries of tasks that are gone (build/metrics.json/lr=0.1" in r.out
    assert repo.pipe("status", "--json").json["stale_entries"] == [
        "build/metrics.json/lr=0.1,depth=3",
        "build/model/lr=0.1,depth=3",
    ]
    # Nothing of train runs; its entry is gone; the reader of the gathered folder reruns.
    assert ran(repo.outcomes()) == {"report"}
    assert sorted(os.listdir(repo.root / "build/model")) == ["lr=0.01,depth=3", "lr=0.5,depth=3"]
    assert repo.read("build/report.txt").split() == ["lr=0.01,depth=3", "lr=0.5,depth=3"]
    assert ran(repo.outcomes()) == set()


def test_one_task_read_by_name(repo):
    repo.pipefile(
        matrix([0.01, 0.1], [3])
        + """\
      best:
        inputs:
          m: ${{steps.train[lr=0.1,depth=3].outputs.model}}
        command: cp ${{inputs.m}}/m.txt ${{outputs.out}}
        outputs:
          out: build/best.txt
"""
    )
    got = repo.outcomes("best")
    assert set(got) == {"train[lr=0.1,depth=3]", "best"}  # only the task it reads
    assert repo.read("build/best.txt") == "lr=0.1 depth=3\n"


def test_include_and_exclude(repo):
    pad = " " * 10
    text = matrix([1, 2], [3, 4]).replace(
        f"{pad}depth: [3, 4]\n",
        f"{pad}depth: [3, 4]\n{pad}exclude: [{{lr: 2, depth: 4}}]\n{pad}include: [{{lr: 9, depth: 9}}]\n",
    )
    repo.pipefile(text)
    repo.outcomes()
    assert sorted(os.listdir(repo.root / "build/model")) == [
        "lr=1,depth=3",
        "lr=1,depth=4",
        "lr=2,depth=3",
        "lr=9,depth=9",
    ]


def test_a_matrix_over_a_component_sets_its_required_inputs_per_task(repo):
    repo.pipefile("""
        version: 1
        components:
          train:
            inputs:
              lr: {type: number}
              tag: {type: string, default: x}
            outputs:
              model: {type: uri_file}
            command: echo ${{inputs.lr}} ${{inputs.tag}} > ${{outputs.model}}
        steps:
          t:
            component: train
            matrix: {lr: [0.1, 0.2], tag: [a]}
            outputs: {model: build/model}
    """)
    assert ran(repo.outcomes()) == {"t[lr=0.1,tag=a]", "t[lr=0.2,tag=a]"}
    assert repo.read("build/model/lr=0.2,tag=a") == "0.2 a\n"


_VALUES = st.lists(st.sampled_from([1, 2, 3, 4]), min_size=1, max_size=3, unique=True)


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(edits=st.lists(st.tuples(_VALUES, _VALUES), min_size=2, max_size=3))
def test_random_matrices_run_exactly_the_new_tasks_and_gather_as_a_clean_build(edits, tmp_path_factory):
    from workspace_repo import Repo

    ws = tmp_path_factory.mktemp("ws")
    r = Repo(ws)
    done: set = set()  # the combinations built in this workspace at some point
    for lr, depth in edits:
        r.pipefile(matrix(lr, depth))
        got = r.outcomes()
        want = {f"train[{x}]" for x in labels(lr, depth) - done}
        assert {n for n in ran(got) if n != "report"} == want, (lr, depth, got)
        done |= labels(lr, depth)
        clean = tmp_path_factory.mktemp("clean")
        shutil.copy(ws / "Pipefile", clean / "Pipefile")
        Repo(clean).outcomes()
        assert tree(ws / "build") == tree(clean / "build")
        shutil.rmtree(clean)


# --- foreach ------------------------------------------------------------------------------
FOREACH = """\
    version: 1
    steps:
      each:
        foreach: {over: "${{inputs.d}}", glob: "*.txt"}
        inputs: {d: data}
        command: tr a-z A-Z < ${{inputs.d}} > ${{outputs.out}}
        outputs: {out: build/out/}
      all:
        inputs: {o: "${{steps.each.outputs.out}}"}
        command: cat ${{inputs.o}}/* > ${{outputs.x}}
        outputs: {x: build/all.txt}
"""


def test_foreach_maps_each_file_and_keeps_names(repo):
    repo.pipefile(FOREACH)
    for n in ("a", "b", "c"):
        repo.write(f"data/{n}.txt", f"{n}\n")
    repo.write("data/skip.csv", "not mapped\n")
    got = repo.outcomes()
    assert ran(got) == {"each[a.txt]", "each[b.txt]", "each[c.txt]", "all"}
    assert sorted(os.listdir(repo.root / "build/out")) == ["a.txt", "b.txt", "c.txt"]
    assert repo.read("build/out/b.txt") == "B\n"
    assert repo.read("build/all.txt") == "A\nB\nC\n"
    repo.write("data/d.txt", "d\n")
    assert ran(repo.outcomes()) == {"each[d.txt]", "all"}
    (repo.root / "data/a.txt").unlink()
    assert ran(repo.outcomes()) == {"all"}
    assert repo.read("build/all.txt") == "B\nC\nD\n"
    assert ran(repo.outcomes()) == set()


_NAMES = st.sampled_from(["a", "b", "c", "d", "e"])
_EDIT = st.tuples(st.sampled_from(["add", "delete", "modify"]), _NAMES, st.integers(0, 3))


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(edits=st.lists(_EDIT, min_size=1, max_size=4))
def test_random_folder_edits_run_exactly_the_affected_tasks(edits, tmp_path_factory):
    from workspace_repo import Repo

    ws = tmp_path_factory.mktemp("ws")
    r = Repo(ws)
    r.pipefile(FOREACH)
    items = {"a": "0", "b": "0"}
    for n, v in items.items():
        r.write(f"data/{n}.txt", v)
    r.outcomes()
    built = {(n, v) for n, v in items.items()}  # contents some run has built (restorable)
    for op, name, value in edits:
        if not edit_item(r, items, op, name, value):
            continue
        got = r.outcomes()
        want = {f"each[{n}.txt]" for n, v in items.items() if (n, v) not in built}
        assert {n for n in ran(got) if n != "all"} == want, (op, name, got)
        assert all(o in ("ran", "fresh", "restored") for o in got.values())
        built |= set(items.items())
        assert_built_as_from_scratch(ws, tmp_path_factory)


# --- sweep --------------------------------------------------------------------------------
SWEEP = """\
    version: 1
    steps:
      train:
        sweep:
          search: {search}
          {trials}
          seed: 7
          space:
            x: {space}
          objective: {{metric: score, goal: {goal}}}
        inputs:
          x: {{type: number}}
        command: >-
          python3 -c "import json, sys; x = ${{{{inputs.x}}}};
          json.dump({{'score': -(x - 1) ** 2, 'x': x}}, open(sys.argv[1], 'w'))" ${{{{outputs.metrics}}}}
        outputs:
          metrics: build/trials.json
        metrics: build/trials.json
"""


def sweep(search="random", trials=4, space="{uniform: [-2, 2]}", goal="maximize") -> str:
    return SWEEP.format(search=search, trials=f"trials: {trials}" if trials else "", space=space, goal=goal)


def test_a_grid_sweep_picks_the_best_trial_of_a_known_objective(repo):
    repo.pipefile(sweep("grid", 0, "{choice: [0, 3, 1, -2]}"))
    assert ran(repo.outcomes()) == {f"train[trial-{k}]" for k in (1, 2, 3, 4)}
    got = repo.pipe("sweep", "show", "train", "--json", check=True).json
    assert got["best"] == "train[trial-3]"  # x = 1 maximises -(x - 1)^2
    assert [t["inputs"]["x"] for t in got["trials"]] == [1.0, 0.0, 3.0, -2.0]  # best first
    assert got["trials"][0]["objective"] == 0.0
    shown = repo.pipe("sweep", "show", "train", check=True).out
    assert shown.splitlines()[1].split()[:2] == ["trial-3", "1.0"] and "best: train[trial-3]" in shown
    # minimize: the worst of the above is now the best
    repo.pipefile(sweep("grid", 0, "{choice: [0, 3, 1, -2]}", goal="minimize"))
    assert repo.pipe("sweep", "show", "train", "--json", check=True).json["best"] == "train[trial-4]"


def test_the_best_trial_s_output_is_read_by_name_and_follows_the_objective(repo):
    text = """
        version: 1
        steps:
          train:
            sweep:
              search: grid
              space: {x: {choice: [0, 3, 1, -2]}}
              objective: {metric: score, goal: GOAL}
            inputs: {x: {type: number}}
            command: >-
              mkdir -p ${{outputs.model}} && echo "model x=${{inputs.x}}" > ${{outputs.model}}/m.txt &&
              python3 -c "import json, sys; x = ${{inputs.x}}; json.dump({'score': -(x - 1) ** 2},
              open(sys.argv[1], 'w'))" ${{outputs.metrics}}
            outputs: {model: build/model/, metrics: build/trials.json}
            metrics: build/trials.json
          use:
            inputs: {m: "${{steps.train.best.outputs.model}}"}
            command: cat ${{inputs.m}}/m.txt > ${{outputs.o}}
            outputs: {o: build/best.txt}
    """
    repo.pipefile(text.replace("GOAL", "maximize"))
    assert ran(repo.outcomes()) == {f"train[trial-{k}]" for k in (1, 2, 3, 4)} | {"train.best", "use"}
    assert repo.read("build/best.txt") == "model x=1.0\n"
    assert sorted(os.listdir(repo.root / "build/model")) == ["trial-1", "trial-2", "trial-3", "trial-4"]
    assert ran(repo.outcomes()) == set()
    # Another goal: no trial runs again; the pick and its reader do.
    repo.pipefile(text.replace("GOAL", "minimize"))
    assert ran(repo.outcomes()) == {"train.best", "use"}
    assert repo.read("build/best.txt") == "model x=-2.0\n"


def test_a_random_sweep_is_seeded_and_more_trials_run_only_the_new_ones(repo, tmp_path):
    from workspace_repo import Repo

    repo.pipefile(sweep(trials=3))
    assert ran(repo.outcomes()) == {"train[trial-1]", "train[trial-2]", "train[trial-3]"}
    first = {t["name"]: t["inputs"] for t in repo.pipe("sweep", "show", "train", "--json", check=True).json["trials"]}
    # The same seed elsewhere: the same trials, so the same keys.
    other = Repo(tmp_path / "other")
    other.root.mkdir()
    other.pipefile(sweep(trials=3))
    other.outcomes()
    again = {t["name"]: t["inputs"] for t in other.pipe("sweep", "show", "train", "--json", check=True).json["trials"]}
    assert again == first
    assert len({v["x"] for v in first.values()}) == 3
    # More trials: only the new ones run; a rerun runs nothing.
    repo.pipefile(sweep(trials=5))
    assert ran(repo.outcomes()) == {"train[trial-4]", "train[trial-5]"}
    assert ran(repo.outcomes()) == set()
    more = {t["name"]: t["inputs"] for t in repo.pipe("sweep", "show", "train", "--json", check=True).json["trials"]}
    assert {k: more[k] for k in first} == first


def test_an_objective_metric_the_trials_never_write_is_a_located_error(repo):
    text = sweep(trials=2).replace("metric: score", "metric: accuracy")
    repo.pipefile(text)
    r = repo.pipe("run")
    assert r.code == 2, str(r)
    # Located at objective: (where the metric is named), after the trials ran.
    line = next(i for i, x in enumerate(text.splitlines(), 1) if x.strip().startswith("objective:"))
    assert f"Pipefile:{line}:" in r.err
    assert "the objective metric 'accuracy' of sweep 'train'" in r.err and "(they have: score, x)" in r.err
    assert "hint:" in r.err


def test_max_parallel_limits_the_trials_running_at_once(repo, tmp_path):
    probe = tmp_path / "probe"
    probe.mkdir()
    pad = " " * 10
    text = sweep(trials=4).replace("seed: 7", f"seed: 7\n{pad}max_parallel: 1")
    # Each trial counts the trials running beside it (markers in a folder outside the workspace).
    text = text.replace(
        "command: >-\n",
        "command: >-\n"
        f"{pad}touch {probe}/$PIPE_STEP.run; ls {probe} | grep -c run >> {probe}/counts; sleep 0.3;\n"
        f"{pad}rm -f {probe}/*.run;\n",
    )
    repo.pipefile(text)
    repo.outcomes("-j", "4")
    counts = [int(x) for x in (probe / "counts").read_text().split()]
    assert len(counts) == 4 and max(counts) == 1, counts


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(pytest.main([__file__, "-q", "-n", "0"]))


def test_an_exclude_naming_a_value_not_on_its_axis_is_refused(repo):
    # A typo there (lr: 0.3 for 0.2) excluded nothing: the combination meant to be left out ran.
    pad = " " * 10
    text = matrix([0.1, 0.2], [3, 4]).replace(
        f"{pad}depth: [3, 4]\n", f"{pad}depth: [3, 4]\n{pad}exclude: [{{lr: 0.3}}]\n"
    )
    repo.pipefile(text)
    r = repo.pipe("validate")
    assert r.code == 2, str(r)
    assert "names lr: 0.3, not a value of that axis" in r.err and "use one of 0.1, 0.2" in r.err, str(r)
    # 2 for 2.0 (an integer for a whole number), as the tasks read it: the same value.
    repo.pipefile(text.replace("[0.1, 0.2]", "[1.0, 2.0]").replace("{lr: 0.3}", "{lr: 2}"))
    assert repo.pipe("validate").code == 0


def test_a_folder_output_written_as_one_file_gets_a_note_with_the_fix(repo):
    # `> ${{outputs.o}}` where the path ends with `/`: the shell's "Is a directory" was all the
    # user saw, for a matrix step's every task (each task's entry is then a folder).
    repo.pipefile("""
        steps:
          fit:
            matrix: {a: [1, 2]}
            inputs: {a: {type: integer}}
            command: echo ${{inputs.a}} > ${{outputs.o}}
            outputs: {o: build/fit/}
          fine:
            command: mkdir -p ${{outputs.o}} && cat ${{outputs.o}}
            outputs: {o: build/fine/}
    """)
    r = repo.pipe("run", "-k")
    assert r.code == 1, str(r)
    note = (
        "output 'o' is a folder (its path ends with '/', or its type is uri_folder), and the command left it empty: "
        "write files inside it (${{outputs.o}}/NAME), or declare a file path (no '/')"
    )
    assert f"note: fit[a=1]: {note}" in r.out + r.err and f"note: fit[a=2]: {note}" in r.out + r.err, str(r)
    # Another failure naming a folder ("Is a directory" from cat) whose output it did not write as
    # a file: the note too (the output is empty), as it says what the output must hold.
    assert "note: fine:" in r.out + r.err


def test_an_empty_include_or_exclude_combination_is_refused(repo):
    # `exclude: [{}]` excluded nothing and `include: [{}]` added nothing, without a word.
    pad = " " * 10
    for key in ("include", "exclude"):
        repo.pipefile(
            matrix([0.1, 0.2], [3, 4]).replace(f"{pad}depth: [3, 4]\n", f"{pad}depth: [3, 4]\n{pad}{key}: [{{}}]\n")
        )
        r = repo.pipe("validate")
        assert r.code == 2, str(r)
        assert (
            f"each item of {key}: of the matrix of step 'train' must be a mapping of axis to value, not empty" in r.err
        )


def test_a_failure_on_another_folder_gets_no_folder_output_note(repo):
    # `cat data/d` failing ("cat: data/d: Is a directory") before the step wrote its folder
    # output: the note told the user to write files inside the output, not the real cause.
    repo.pipefile("""
        steps:
          b:
            command: cat data/d && touch ${{outputs.o}}/x
            outputs: {o: build/b/}
    """)
    repo.write("data/d/keep", "")
    r = repo.pipe("run")
    assert r.code == 1 and "cat: data/d: Is a directory" in r.out + r.err, str(r)
    assert "note: b:" not in r.out + r.err, str(r)
