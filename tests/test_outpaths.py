"""Per-task output paths (issue 15, matrix): an output path of a matrix or sweep step that
uses the inputs (`build/model-${{inputs.lr}}.txt`) is rendered per task; the gathered
reference is the task STEP.gathered's folder under .pipe/gathered/. Bad input (a clash, an
input that is not an axis, a step without tasks, a foreach) is in test_validation.py's table.
"""

from __future__ import annotations

import os

PIPEFILE = """\
    version: 1
    steps:
      train:
        matrix: {{lr: {lr}}}
        inputs: {{lr: {{type: number}}}}
        command: >-
          mkdir -p build && echo "lr=${{{{inputs.lr}}}}" > ${{{{outputs.model}}}}
          && echo '{{"acc": ${{{{inputs.lr}}}}}}' > ${{{{outputs.metrics}}}}
        outputs:
          model: "build/model-${{{{inputs.lr}}}}.txt"
          metrics: "build/metrics-${{{{inputs.lr}}}}.json"
        metrics: "build/metrics-${{{{inputs.lr}}}}.json"
      one:
        inputs: {{m: "${{{{steps.train[lr=0.1].outputs.model}}}}"}}
        command: cp ${{{{inputs.m}}}} ${{{{outputs.o}}}}
        outputs: {{o: build/one.txt}}
      report:
        inputs: {{models: "${{{{steps.train.outputs.model}}}}"}}
        command: for f in $(ls ${{{{inputs.models}}}}); do echo "$f $(cat ${{{{inputs.models}}}}/$f)"; done > ${{{{outputs.o}}}}
        outputs: {{o: build/report.txt}}
"""


def pipefile(*lr) -> str:
    return PIPEFILE.format(lr=list(lr))


def ran(outcomes: dict) -> set:
    return {n for n, o in outcomes.items() if o == "ran"}


def test_each_task_writes_its_rendered_path(repo):
    repo.pipefile(pipefile(0.01, 0.1))
    got = repo.outcomes()
    assert ran(got) == {"train[lr=0.01]", "train[lr=0.1]", "one", "train.gathered", "report"}
    assert repo.read("build/model-0.01.txt") == "lr=0.01\n"
    assert repo.read("build/model-0.1.txt") == "lr=0.1\n"
    assert not repo.exists("build/model-${{inputs.lr}}.txt")
    # One task's output is its rendered path; the gathered one a folder of entries by label.
    assert repo.read("build/one.txt") == "lr=0.1\n"
    assert repo.read("build/report.txt") == "lr=0.01 lr=0.01\nlr=0.1 lr=0.1\n"
    assert sorted(os.listdir(repo.root / ".pipe/gathered/train/model")) == ["lr=0.01", "lr=0.1"]
    # Metrics inside a per-task path are read per task.
    shown = repo.pipe("metrics", "show", check=True).out
    assert "train[lr=0.01].acc" in shown and "train[lr=0.1].acc" in shown
    # A rerun runs nothing.
    assert ran(repo.outcomes()) == set()


def test_status_and_dag_show_the_rendered_paths(repo):
    repo.pipefile(pipefile(0.01, 0.1))
    dag = repo.pipe("dag", check=True).out
    assert "-> build/model-0.01.txt" in dag and "-> build/model-0.1.txt" in dag
    assert "train.gathered <- train[lr=0.01], train[lr=0.1]" in dag
    repo.outcomes()
    os.remove(repo.root / "build/model-0.1.txt")
    out = repo.pipe("status", "--tasks", check=True).out
    assert "output 'build/model-0.1.txt' is missing" in out
    # A rendered path is a target: the task that writes it.
    assert ran(repo.outcomes("build/model-0.1.txt")) == set()
    assert repo.exists("build/model-0.1.txt")


def test_adding_a_value_runs_only_its_task_and_removing_one_runs_nothing(repo):
    repo.pipefile(pipefile(0.01, 0.1))
    repo.outcomes()
    repo.pipefile(pipefile(0.01, 0.1, 0.5))
    assert ran(repo.outcomes()) == {"train[lr=0.5]", "train.gathered", "report"}
    assert repo.read("build/model-0.5.txt") == "lr=0.5\n"
    repo.pipefile(pipefile(0.1, 0.5))
    # status names what the run will remove, as for a gathered folder's stale entries.
    r = repo.pipe("status", "--json")
    assert "build/model-0.01.txt" in r.json["stale_entries"]
    assert "build/metrics-0.01.json" in r.json["stale_entries"]
    assert repo.exists("build/model-0.01.txt")
    # Removing a value runs no task of train; the gathering task and its reader rerun.
    assert ran(repo.outcomes()) == {"train.gathered", "report"}
    assert not repo.exists("build/model-0.01.txt") and not repo.exists("build/metrics-0.01.json")
    assert repo.exists("build/model-0.1.txt") and repo.exists("build/model-0.5.txt")
    assert sorted(os.listdir(repo.root / ".pipe/gathered/train/model")) == ["lr=0.1", "lr=0.5"]
    assert repo.read("build/report.txt") == "lr=0.1 lr=0.1\nlr=0.5 lr=0.5\n"
    assert ran(repo.outcomes()) == set()


def test_a_sweep_output_path_uses_its_sampled_inputs(repo):
    repo.pipefile(
        """\
        version: 1
        steps:
          train:
            sweep:
              search: grid
              space: {depth: {choice: [3, 5]}}
            inputs: {depth: {type: integer}}
            command: mkdir -p build && echo ${{inputs.depth}} > ${{outputs.o}}
            outputs: {o: "build/d${{inputs.depth}}.txt"}
        """
    )
    assert ran(repo.outcomes()) == {"train[trial-1]", "train[trial-2]"}
    assert repo.read("build/d3.txt") == "3\n" and repo.read("build/d5.txt") == "5\n"


def test_a_sweep_objective_reads_each_trials_rendered_metrics(repo):
    repo.pipefile(
        """\
        version: 1
        steps:
          train:
            sweep:
              search: grid
              space: {depth: {choice: [3, 5]}}
              objective: {metric: acc, goal: maximize}
            inputs: {depth: {type: integer}}
            command: >-
              mkdir -p build && echo '{"acc": ${{inputs.depth}}}' > ${{outputs.m}}
            outputs: {m: "build/m${{inputs.depth}}.json"}
            metrics: "build/m${{inputs.depth}}.json"
        """
    )
    repo.outcomes()
    shown = repo.pipe("sweep", "show", "train", "--json", check=True).json
    assert shown["trials"][0]["label"] == "trial-2", shown


BEST = """\
    version: 1
    steps:
      train:
        sweep:
          search: grid
          space: {{x: {{choice: {xs}}}}}
          objective: {{metric: score, goal: maximize}}
        inputs: {{x: {{type: number}}}}
        command: >-
          mkdir -p build/runs && echo "model x=${{{{inputs.x}}}}" > ${{{{outputs.model}}}} &&
          python3 -c "import json, sys; x = ${{{{inputs.x}}}}; json.dump({{'score': -(x - 1) ** 2}},
          open(sys.argv[1], 'w'))" ${{{{outputs.metrics}}}}
        outputs:
          model: "build/model-${{{{inputs.x}}}}.txt"
          metrics: "build/runs/m-${{{{inputs.x}}}}.json"
        metrics: "build/runs/m-${{{{inputs.x}}}}.json"
      use:
        inputs: {{m: "${{{{steps.train.best.outputs.model}}}}"}}
        command: cat ${{{{inputs.m}}}} > ${{{{outputs.o}}}}
        outputs: {{o: build/best.txt}}
"""


def test_the_best_trial_of_a_sweep_with_per_task_paths_is_read_and_follows_new_trials(repo):
    repo.pipefile(BEST.format(xs=[0, 3, -2]))
    got = repo.outcomes()
    assert ran(got) == {f"train[trial-{k}]" for k in (1, 2, 3)} | {"train.gathered", "train.best", "use"}
    assert repo.read("build/best.txt") == "model x=0.0\n"  # -(x-1)^2 is highest at x = 0 of these
    # the best trial's own output, copied beside the gathered folder (extension kept)
    assert repo.read(".pipe/gathered/train/model.best.txt") == repo.read("build/model-0.txt")
    assert ran(repo.outcomes()) == set()
    # More trials: only the new one runs, and it is the new best.
    repo.pipefile(BEST.format(xs=[0, 3, -2, 1]))
    assert ran(repo.outcomes()) == {"train[trial-4]", "train.gathered", "train.best", "use"}
    assert repo.read("build/best.txt") == "model x=1.0\n"
    assert ran(repo.outcomes()) == set()


MOVED = """\
    version: 1
    steps:
      m:
        matrix: {x: [2]}
        inputs: {x: {type: number}}
        command: echo m > ${{outputs.o}}
        outputs: {o: "build/a-${{inputs.x}}.txt"}
      p:
        command: echo plain > ${{outputs.o}}
        outputs: {o: build/a-1.txt}
"""


def test_a_path_a_gone_task_wrote_is_kept_when_another_step_writes_it_now(repo):
    repo.pipefile(MOVED.replace("[2]", "[1]").split("      p:")[0])
    repo.outcomes()
    repo.pipefile(MOVED)  # m[x=1] is gone; p now writes its old path
    assert ran(repo.outcomes()) == {"m[x=2]", "p"}
    r = repo.pipe("status", "--json")
    # was: every run removed p's output as the gone task's stale entry, and restored it
    assert "build/a-1.txt" not in r.json.get("stale_entries", []), str(r)
    assert repo.outcomes() == {"m[x=2]": "fresh", "p": "fresh"}
    assert repo.read("build/a-1.txt") == "plain\n"
