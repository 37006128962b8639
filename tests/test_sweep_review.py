"""A sweep's run end to end through the real CLI: which trial `STEP.best` copies and which
`pipe sweep show` names (they must agree), and what in a gathered folder is a trial."""

from __future__ import annotations

import json

# Eleven trials; trial-2 and trial-10 tie on the best `acc` (2 sorts after 10 as text).
TIED = """\
version: 1
steps:
  train:
    sweep:
      search: grid
      space:
        k: {choice: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]}
      objective: {metric: acc, goal: GOAL}
    inputs: {k: {type: integer}}
    code: [w.py]
    command: python3 w.py ${{inputs.k}} ${{outputs.metrics}}
    outputs: {metrics: build/trials}
    metrics: build/trials
  use:
    inputs: {m: "${{steps.train.best.outputs.metrics}}"}
    command: cp ${{inputs.m}} ${{outputs.x}}
    outputs: {x: build/best.json}
"""

TIED_WRITER = """\
import json, sys
k = int(sys.argv[1])
best = 1 if "GOAL" == "maximize" else -1
json.dump({"acc": best if k in (2, 10) else 0, "k": k}, open(sys.argv[2], "w"))
"""


def test_a_tie_goes_to_the_same_trial_in_best_and_in_sweep_show(repo):
    for goal in ("maximize", "minimize"):
        repo.pipefile(TIED.replace("GOAL", goal))
        repo.write("w.py", TIED_WRITER.replace("GOAL", goal))
        r = repo.pipe("run")
        assert r.code == 0, str(r)
        shown = repo.pipe("sweep", "show", "train", "--json")
        assert shown.code == 0, str(shown)
        assert shown.json["best"] == "train[trial-2]", shown.out
        # (was: train.best took the first label sorted as text, trial-10, while `pipe sweep
        # show` named trial-2: the reader got another trial than the one shown as best)
        assert json.loads(repo.read("build/best.json"))["k"] == 2, (goal, str(r))


def test_a_dotfile_in_the_gathered_folder_is_no_trial_for_best(repo):
    repo.pipefile(TIED.replace("GOAL", "maximize"))
    repo.write("w.py", TIED_WRITER.replace("GOAL", "maximize"))
    repo.pipe("run", check=True)
    repo.write("build/trials/.DS_Store", "\0\0\0\1Bud1")  # (a file browser's, in the folder)
    r = repo.pipe("run", "--force=train.best")
    # (was: exit 1, "trial .DS_Store: no value for 'acc' in its metrics")
    assert r.code == 0, str(r)
    assert json.loads(repo.read("build/best.json"))["k"] == 2


FAILING = """\
version: 1
steps:
  train:
    sweep:
      search: grid
      space:
        k: {choice: [1, 2, 3]}
      objective: {metric: acc, goal: maximize}
    inputs: {k: {type: integer}}
    code: [w.py]
    command: python3 w.py ${{inputs.k}} ${{outputs.metrics}}
    outputs: {metrics: build/trials}
    metrics: build/trials
"""

GOOD = 'import sys\nk = int(sys.argv[1])\nopen(sys.argv[2], "w").write(\'{"acc": %d}\' % (10 if k == 2 else k))\n'


def test_a_trial_whose_last_run_failed_is_not_ranked_by_the_file_an_earlier_run_left(repo):
    repo.pipefile(FAILING)
    repo.write("w.py", GOOD)
    repo.pipe("run", check=True)
    assert repo.pipe("sweep", "show", "train", "--json").json["best"] == "train[trial-2]"
    # The code changes and trial-2 now fails: its entry from the first run stays in the workspace
    repo.write("w.py", "import sys\nif sys.argv[1] == '2': sys.exit('diverged')\n" + GOOD)
    r = repo.pipe("run", "--keep-going")
    assert r.code == 1, str(r)
    assert repo.exists("build/trials/trial-2")
    shown = repo.pipe("sweep", "show", "train", "--json").json
    # (was: best train[trial-2], objective 10, from the first run's file)
    assert shown["best"] == "train[trial-3]", shown
    t2 = next(t for t in shown["trials"] if t["name"] == "train[trial-2]")
    assert t2["objective"] is None and t2["failed"] is True, t2
    assert "failed in job 2" in t2["failed_why"], t2
    text = repo.pipe("sweep", "show", "train")
    assert text.code == 0 and "best: train[trial-3]" in text.out, str(text)
    assert "train[trial-2]: failed in job 2" in text.out, str(text)
    # The code back as it was: trial-2 is fresh again (its entry is its result), best again
    repo.write("w.py", GOOD)
    repo.pipe("run", check=True)
    shown = repo.pipe("sweep", "show", "train", "--json").json
    assert shown["best"] == "train[trial-2]", shown
    assert all("failed" not in t for t in shown["trials"]), shown


def test_a_trial_that_failed_is_no_objective_error_for_the_file_an_earlier_run_left(repo):
    repo.pipefile(FAILING)
    repo.write("w.py", GOOD)
    repo.pipe("run", check=True)
    # The objective renamed, the trials write it, but trial-2 now fails: its old file has `acc`
    repo.pipefile(FAILING.replace("metric: acc", "metric: f1"))
    repo.write("w.py", "import sys\nif sys.argv[1] == '2': sys.exit('diverged')\n" + GOOD.replace('"acc"', '"f1"'))
    r = repo.pipe("run", "--keep-going")
    # (was: exit 2, "the objective metric 'f1' ... is not known for train[trial-2]: its metrics
    # ... have no 'f1' (they have: acc)", at the objective: a trial that failed, not a Pipefile mistake)
    assert r.code == 1, str(r)
    assert "not known for" not in r.err, r.err
    assert "diverged" in r.err, r.err


def test_sweep_show_prints_a_choice_with_an_escape_or_a_line_break_escaped_on_its_row(repo):
    repo.pipefile(
        """\
        version: 1
        steps:
          train:
            sweep:
              search: grid
              space:
                c: {choice: ["\\e[31mred", "line\\nbreak"]}
              objective: {metric: acc, goal: minimize}
            inputs: {c: {type: string}}
            command: >-
              echo '{"acc": 1}' > ${{outputs.m}}
            outputs: {m: build/m}
            metrics: build/m
        """
    )
    repo.pipe("run", check=True)
    out = repo.pipe("sweep", "show", "train", check=True).out
    # (was: the raw ESC, which recolours the terminal, and a line break that made a row `break  1`)
    assert "\x1b" not in out, repr(out)
    lines = out.splitlines()
    assert any(x.startswith("trial-1") and "\\x1b[31mred" in x for x in lines), out
    assert any(x.startswith("trial-2") and "line\\nbreak" in x for x in lines), out
    assert len(lines) == 4, out  # the head, two trials, best


def test_a_bayesian_sweep_output_path_that_uses_the_inputs_is_a_located_error(repo):
    repo.pipefile(
        """\
        version: 1
        steps:
          train:
            sweep:
              search: bayesian
              trials: 4
              space:
                k: {randint: [1, 100]}
              objective: {metric: acc, goal: maximize}
            inputs: {k: {type: integer}}
            command: >-
              echo '{"acc": ${{inputs.k}}}' > ${{outputs.m}}
            outputs: {m: "build/m-${{inputs.k}}.json"}
            metrics: "build/m-${{inputs.k}}.json"
        """
    )
    for cmd in ("run", "status", "validate"):
        r = repo.pipe(cmd)
        # (was: exit 70, "internal error: KeyError('k')": its values are not known when paths are made)
        assert r.code == 2, (cmd, str(r))
        assert "Pipefile:13:" in r.err and "bayesian sweep proposes" in r.err, (cmd, r.err)
        assert "hint: write a path without inputs" in r.err, r.err


def test_a_trial_whose_rendered_path_moves_leaves_no_file_behind(repo):
    text = """\
        version: 1
        steps:
          train:
            sweep:
              search: grid
              space:
                k: {choice: [1, 2, 3]}
              objective: {metric: acc, goal: maximize}
            inputs: {k: {type: integer}}
            command: >-
              echo '{"acc": ${{inputs.k}}}' > ${{outputs.m}}
            outputs: {m: "build/m-${{inputs.k}}.json"}
            metrics: "build/m-${{inputs.k}}.json"
        """
    repo.pipefile(text)
    repo.pipe("run", check=True)
    # trial-2 is now k=3: its old path build/m-2.json is written by no task of today
    repo.pipefile(text.replace("[1, 2, 3]", "[1, 3]"))
    r = repo.pipe("status", "--json")
    assert r.code == 0, str(r)
    assert r.json.get("stale_entries") == ["build/m-2.json"], r.out
    repo.pipe("run", check=True)
    # (was: left there, a k=2 result no trial has any more, never named by pipe status)
    assert sorted(p.name for p in (repo.root / "build").iterdir()) == ["m-1.json", "m-3.json"]


def test_median_stopping_reads_each_finished_trials_curve_once(tmp_path, monkeypatch):
    import os
    import types

    from pipefile import stopping, tracking
    from pipefile.filenames import log_file

    tasks = [f"train[trial-{k}]" for k in range(1, 101)]

    def write(task, points):
        with open(tracking.stream_path(os.path.join(tmp_path, log_file(task))), "a") as f:
            for s, v in points:
                f.write(json.dumps({"name": "loss", "value": v, "step": s, "time": 0}) + "\n")

    for k, t in enumerate(tasks[1:], 2):  # 99 finished trials, 20 steps each
        write(t, [(s, k + 1 / (s + 1)) for s in range(20)])
    group = types.SimpleNamespace(
        sweep=types.SimpleNamespace(early_termination=("median_stopping", 1, 0)),
        objective=("loss", "minimize"),
        tasks=tuple(tasks),
    )
    judge = stopping.Stopping({"train": group})
    from pipefile import filehash

    reads = []
    real = filehash.open_regular
    # (a spy: the real opener of a stream file, counted)
    monkeypatch.setattr(filehash, "open_regular", lambda path, *a: reads.append(path) or real(path, *a))
    for s in range(20):  # trial-1, the best, reports a step at a time and is looked at after each
        write(tasks[0], [(s, 1 / (s + 1))])
        assert judge.judge(tasks[0], str(tmp_path)) is None
    # (was: every finished trial's whole stream read again at each step judged: 20 x 99 reads)
    assert len(reads) <= 20 + 99 + 5, len(reads)
    # A trial worse than the median is still stopped, with the others' curves up to the step.
    write(tasks[0], [(20, 500.0)])
    write(tasks[1], [(20, 2.0)])
    stop = judge.judge(tasks[0], str(tmp_path))
    assert stop is not None and stop["evidence"]["step"] == 20, stop
    assert stop["evidence"]["others"] == {tasks[1]: [[s, 2 + 1 / (s + 1)] for s in range(20)] + [[20, 2.0]]}


def test_a_run_of_another_step_reads_no_objective_of_trials_out_of_date(repo):
    text = "version: 1\nsteps:\n  prep: {command: echo hi > build/prep.txt, outputs: {o: build/prep.txt}}\n"
    repo.pipefile(text + FAILING.split("steps:\n", 1)[1])
    repo.write("w.py", GOOD)
    repo.pipe("run", check=True)
    # The objective renamed with the code that writes it: the trials are out of date, not run yet
    repo.pipefile(text + FAILING.split("steps:\n", 1)[1].replace("metric: acc", "metric: f1"))
    repo.write("w.py", GOOD.replace('"acc"', '"f1"'))
    r = repo.pipe("run", "prep")
    # (was: exit 2, "the objective metric 'f1' ... is not known for train[trial-1]", read from
    # the files of trials this run neither ran nor found fresh)
    assert r.code == 0, str(r)
    r = repo.pipe("run")
    assert r.code == 0, str(r)
    # Still said for a trial the run found fresh whose file lacks the metric
    repo.pipefile(text + FAILING.split("steps:\n", 1)[1].replace("metric: acc", "metric: auc"))
    r = repo.pipe("run", "prep")
    assert r.code == 0, str(r)  # (the trials are not part of this run)
    r = repo.pipe("run")
    assert r.code == 2 and "is not known for train[trial-1]" in r.err, str(r)


def test_sweep_show_json_is_json_with_an_infinite_choice(repo):
    repo.pipefile(
        """\
        version: 1
        steps:
          train:
            sweep:
              search: grid
              space:
                clip: {choice: [.inf, 1]}
              objective: {metric: acc, goal: minimize}
            inputs: {clip: {type: number}}
            command: >-
              echo '{"acc": 1}' > ${{outputs.m}}
            outputs: {m: build/m}
            metrics: build/m
        """
    )
    repo.pipe("run", check=True)
    out = repo.pipe("sweep", "show", "train", "--json", check=True).out

    def no_constant(name):
        raise ValueError(f"{name} is not JSON")

    # (was: "clip": Infinity, which a strict JSON reader (jq, JSON.parse) refuses)
    got = json.loads(out, parse_constant=no_constant)
    assert [t["inputs"]["clip"] for t in got["trials"]] == ["inf", 1.0], got


def test_an_objective_whose_key_holds_a_dot_is_read_alike_by_best_show_and_bayesian(repo):
    # {"val.acc": ...}: flattened it is named val.acc, as {"val": {"acc": ...}} is
    repo.pipefile(TIED.replace("GOAL", "maximize").replace("metric: acc", "metric: val.acc"))
    repo.write("w.py", TIED_WRITER.replace("GOAL", "maximize").replace('"acc"', '"val.acc"'))
    r = repo.pipe("run")
    # (was: train.best failed, "no value for 'val.acc' in its metrics (KeyError: 'val')",
    # while pipe sweep show ranked the same files)
    assert r.code == 0, str(r)
    assert json.loads(repo.read("build/best.json"))["k"] == 2
    assert repo.pipe("sweep", "show", "train", "--json").json["best"] == "train[trial-2]"
    # A bayesian sweep tells the sampler each trial's value (was: None, as if every trial failed)
    repo.pipefile(
        """\
        version: 1
        steps:
          train:
            sweep:
              search: bayesian
              trials: 3
              space:
                k: {randint: [1, 9]}
              objective: {metric: val.acc, goal: maximize}
            inputs: {k: {type: integer}}
            code: [w.py]
            command: python3 w.py ${{inputs.k}} ${{outputs.metrics}}
            outputs: {metrics: build/bayes}
            metrics: build/bayes
        """
    )
    repo.pipe("run", check=True)
    told = [
        o
        for p in (repo.root / ".pipe/cache/proposals").iterdir()
        for _inputs, o in json.loads(p.read_text())["given"]["history"]
    ]
    assert told and all(o is not None for o in told), told


def test_best_reads_yaml_keys_and_values_as_sweep_show_does(repo):
    # STEP.best read a trial's YAML with PyYAML's keys (None for `null:`, True for `yes:`)
    # after metrics keys became the text a file writes: `pipe sweep show` ranked objective
    # `val.null` while train.best failed, "no value for 'val.null' (KeyError)"; and it took a
    # number written as text ("0.95") that sweep show does not count as one.
    repo.pipefile(
        TIED.replace("GOAL", "maximize")
        .replace("metric: acc", "metric: val.null")
        .replace("build/best.json", "build/best.yaml")
    )
    repo.write(
        "w.py",
        "import sys\nk = int(sys.argv[1])\n"
        "open(sys.argv[2], 'w').write('val:\\n  null: %s\\n  yes: 1\\nk: %d\\n' % (1 if k in (2, 10) else 0, k))\n",
    )
    r = repo.pipe("run")
    assert r.code == 0, str(r)
    assert "k: 2\n" in repo.read("build/best.yaml")
    assert repo.pipe("sweep", "show", "train", "--json").json["best"] == "train[trial-2]"
    from pipefile.outpaths import PICK_BEST

    folder = repo.root / "texts"
    folder.mkdir()
    (folder / "trial-1").write_text('{"acc": 0.5}')
    (folder / "trial-2").write_text('{"acc": "0.95"}')
    import subprocess
    import sys

    got = subprocess.run(
        [sys.executable, "-c", PICK_BEST, "acc", "maximize", str(folder), ""], capture_output=True, text=True
    )
    assert got.returncode == 1 and "trial trial-2: no value for 'acc'" in got.stderr, got
    assert '"0.95", not a number' in got.stderr, got.stderr


def test_a_bayesian_sweep_is_told_what_sweep_show_ranks(repo):
    # The sampler read a trial's objective by its own means: the first MiB only (a larger file
    # was no JSON: told None, as if the trial failed, though sweep show ranked it) and a
    # number written as text ("0.3") as a number (sweep show: "not a finite number").
    repo.pipefile(
        """\
        version: 1
        steps:
          train:
            sweep:
              search: bayesian
              trials: 2
              space:
                k: {randint: [1, 9]}
              objective: {metric: acc, goal: maximize}
            inputs: {k: {type: integer}}
            code: [w.py]
            command: python3 w.py ${{inputs.k}} ${{outputs.metrics}}
            outputs: {metrics: build/bayes}
            metrics: build/bayes
        """
    )
    big = "{" + ", ".join(f'"pad{i}": {i}' for i in range(120_000)) + ', "acc": 0.5}'
    repo.write("big.json", big)
    repo.write("w.py", "import shutil, sys\nshutil.copyfile('big.json', sys.argv[2])\n")
    repo.pipe("run", check=True)

    def told() -> list:
        return [
            o
            for p in (repo.root / ".pipe/cache/proposals").iterdir()
            for _inputs, o in json.loads(p.read_text())["given"]["history"]
        ]

    assert told() == [0.5], told()  # (the first trial's, told when the second was proposed)
    for p in (repo.root / ".pipe/cache/proposals").iterdir():
        p.unlink()
    repo.write("w.py", "import sys\nopen(sys.argv[2], 'w').write('{\"acc\": \"0.3\"}')\n")
    r = repo.pipe("run")
    assert r.code == 2 and "gives 'acc' as \"0.3\", not a finite number" in r.err, str(r)
    assert told() == [None], told()


def test_sweep_show_says_why_no_trial_is_best_when_each_gave_nan_or_inf(repo):
    # Each trial wrote NaN or an infinity: sweep show listed them as '-' (not built) and said
    # "best: not known yet (no trial has written its objective): run the sweep", which is no
    # fix; train.best said "each failed or was stopped early, or none ran", and none had.
    repo.pipefile(TIED.replace("GOAL", "maximize").replace("[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]", "[1, 2, 3]"))
    repo.write(
        "w.py",
        "import sys\nk = sys.argv[1]\nopen(sys.argv[2], 'w').write('acc: %s\\n' % {'1': '.nan', '2': '.inf', '3': '-.inf'}[k])\n",
    )
    r = repo.pipe("run")
    assert r.code == 2, str(r)
    assert "no trial has a finite value for 'acc': trial-1 (nan), trial-2 (inf), trial-3 (-inf)" in r.err, r.err
    out = repo.pipe("sweep", "show", "train", check=True).out
    rows = [line.split(None, 2) for line in out.splitlines()[1:4]]
    assert [row[2] for row in rows] == ["no number"] * 3, out
    assert "best: none (no trial gives 'acc' as a finite number, as said below)" in out, out
    assert "run the sweep" not in out
    # a whole number reads in full (was 2.02312e+07)
    repo.write("w.py", "import sys\nopen(sys.argv[2], 'w').write('acc: %d\\n' % (20231200 + int(sys.argv[1])))\n")
    repo.pipe("run", check=True)
    out = repo.pipe("sweep", "show", "train", check=True).out
    assert out.splitlines()[1].split() == ["trial-3", "3", "20231203"], out
