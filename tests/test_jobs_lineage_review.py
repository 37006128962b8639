"""Review of jobs, lineage, metrics and the Pipefile loader's leftovers, as a demanding user
meets them: options given twice, odd -f arguments, outputs declared where pipe keeps its own
things. Real processes and files throughout."""

from __future__ import annotations

import os

from workspace_repo import Repo


def test_invoke_says_a_param_given_twice_is_the_last_one(repo: Repo):
    # `pipe run -p a=1 -p a=2` warns that the second replaces the first; `pipe invoke` sent the
    # last one without a word. Said before the server is asked (none listens here).
    r = repo.pipe("invoke", "score", "-p", "a=1", "-p", "a=2", "--url", "http://127.0.0.1:9", "--token", "t")
    assert r.code == 2 and "internal error" not in r.err, str(r)
    assert "warning: -p a=2 replaces -p a=1 given before it: the last given is used" in r.err, r.err
    r = repo.pipe("invoke", "score", "-p", "a=1", "-p", "a=1.0", "--url", "http://127.0.0.1:9", "--token", "t")
    assert "replaces" not in r.err, r.err  # (one value written two ways)


SWEEP = """\
version: 1
steps:
  train:
    sweep:
      search: grid
      space:
        k: {choice: [1, 2]}
      objective: {metric: acc, goal: maximize}
    inputs: {k: {type: integer}}
    command: >-
      python3 -c "import sys; open(sys.argv[1], 'w').write(sys.argv[2])" ${{outputs.metrics}} '{"METRIC": 1}'
    outputs: {metrics: build/trials}
    metrics: build/trials
  use:
    inputs: {m: "${{steps.train.best.outputs.metrics}}"}
    command: cp ${{inputs.m}} ${{outputs.x}}
    outputs: {x: build/best.json}
"""


def test_a_failed_best_task_names_its_script_once_not_its_hundred_lines_twice(repo: Repo):
    # STEP.best runs pipe's own script as `python3 -c SCRIPT`: its failure printed the script's
    # hundred lines as the command and again as what ran; `pipe lineage` of its output, one line
    # of thousands of characters; `pipe run -n`, all of it.
    repo.pipefile(SWEEP.replace("METRIC", "loss"))
    r = repo.pipe("run")
    assert "no value for 'acc'" in r.err and "internal error" not in r.err, str(r)
    assert "sys.argv[1:5]" not in r.err, r.err
    assert "  command: python3 -c <pipe's script that picks the best trial> acc maximize build/trials" in r.err, r.err
    assert "  ran:     python3 -c <pipe's script that picks the best trial> acc maximize" in r.err, r.err
    assert len(r.err.splitlines()) < 30, r.err
    repo.pipefile(SWEEP.replace("METRIC", "acc"))
    r = repo.pipe("run", "-n", "train.best")
    assert r.code == 0 and "sys.argv[1:5]" not in r.err, str(r)
    repo.pipe("run", check=True)
    r = repo.pipe("lineage", "build/trials.best")
    assert r.code == 0 and "command: python3 -c <pipe's script that picks the best trial> acc" in r.out, str(r)
    assert "sys.argv" not in r.out and max(len(line) for line in r.out.splitlines()) < 200, r.out
    r = repo.pipe("lineage", "build/trials.best", "--json")
    assert "sys.argv[1:5]" in r.out  # (the record itself, as it ran)


def _one_output(path: str) -> str:
    return f'version: 1\nsteps:\n  s:\n    command: echo hi > ${{{{outputs.o}}}}\n    outputs: {{o: "{path}"}}\n'


def test_an_output_in_git_pipe_or_at_the_pipefile_is_refused_at_its_line(repo: Repo):
    # An output at .git (or inside it) was accepted: `pipe run` replaced git's own folder with
    # the step's output, the repository's history with it. .pipe/ and the Pipefile were refused.
    import subprocess

    subprocess.run(["git", "init", "-q", str(repo.root)], check=True)
    for path, said in (
        (".git", "'.git' is git's own folder: a run would replace what git keeps there"),
        (".git/", "'.git' is git's own folder"),
        ("build/../.git", "'.git' is git's own folder"),
        (".git/hooks/pre-commit", "'.git/hooks/pre-commit' is inside .git/, git's own folder"),
        ("sub/.git", "'sub/.git' is git's own folder"),
        (".GIT/x", "'.GIT/x' is inside .GIT/, git's own folder"),
        ("b/${{inputs.k}}/.git", "is git's own folder"),
        (".pipe/x", "'.pipe/x' is inside .pipe/, which belongs to pipe"),
        ("Pipefile", "output 'o' of step 's' would overwrite the Pipefile"),
    ):
        repo.pipefile(_one_output(path))
        for command in ("validate", "run"):
            r = repo.pipe(command)
            assert r.code == 2 and "internal error" not in r.err, (path, str(r))
            assert r.err.startswith("Pipefile:5:18: output 'o' of step 's'") and said in r.err, (path, r.err)
            assert "hint: " in r.err, r.err
    assert os.path.isdir(repo.root / ".git" / "objects")  # (nothing ran)
    for path in (".gitignore", ".github/x", "build/git"):  # (only the folder itself is git's)
        repo.pipefile(_one_output(path))
        assert repo.pipe("run").code == 0, path
    repo.pipefile(
        "version: 1\nsteps:\n  s:\n    command: cat ${{inputs.h}} > ${{outputs.o}}\n"
        "    inputs: {h: .git/HEAD}\n    outputs: {o: build/head}\n"
    )
    assert repo.pipe("run").code == 0 and repo.read("build/head").startswith("ref: ")  # (reading it is fine)


def test_each_bad_expression_of_a_command_is_said_once_at_its_place(repo: Repo):
    # Only the first malformed ${{ }} of a command was reported: the next came out only once it
    # was fixed, one load at a time.
    repo.pipefile(
        "version: 1\nparams: {a: 1}\nsteps:\n  s:\n"
        "    command: echo ${{ params.a }} ${{ bogus }} ${{params.}} ${{ inputs }} $[[ ${{ inputs.x }} > ${{outputs.o}}\n"
        "    outputs: {o: build/o}\n"
    )
    for _ in range(2):  # (and the same from the spec cache)
        r = repo.pipe("validate")
        assert r.code == 2 and "internal error" not in r.err, str(r)
        lines = [line for line in r.err.splitlines() if line.startswith("Pipefile:")]
        assert lines == [
            "Pipefile:5:35: in the command of step 's': unknown expression '${{bogus}}'",
            "Pipefile:5:48: in the command of step 's': malformed expression '${{params.}}'",
            "Pipefile:5:61: in the command of step 's': malformed expression '${{inputs}}'",
            "Pipefile:5:75: in the command of step 's': unclosed '$[['",
        ], r.err
        assert "hint: write it as ${{params.NAME}}" in r.err and r.err.rstrip().endswith("4 errors."), r.err


def test_f_empty_a_folder_or_a_fifo_is_said_with_the_fix(repo: Repo):
    # `pipe run -f ""` ran the Pipefile found from here (an empty -f was taken as none given);
    # `-f FOLDER` was refused without naming the file to give; `pipe jobs -f FIFO` listed the
    # jobs of the FIFO's folder, exit 0.
    repo.pipefile(_one_output("build/o"))
    (repo.root / "sub").mkdir()
    (repo.root / "sub" / "Pipefile.yaml").write_text(_one_output("build/o"))
    os.mkfifo(repo.root / "fifo")
    for command in (["run"], ["validate"], ["status"], ["jobs"], ["jobs", "show", "last"], ["metrics", "show"]):
        r = repo.pipe(*command, "-f", "")
        assert r.code == 2 and "'' is an empty file name: give the Pipefile's path, e.g. -f Pipefile" in r.err, (
            command,
            str(r),
        )
        r = repo.pipe(*command, "-f", "sub")
        assert r.code == 2 and "'sub' is a folder: give the Pipefile in it, e.g. -f sub/Pipefile.yaml" in r.err, (
            command,
            str(r),
        )
        r = repo.pipe(*command, "-f", "fifo")
        assert r.code == 2 and "fifo: is a FIFO (named pipe), not a regular file" in r.err, (command, str(r))
        assert "hint: " in r.err and "internal error" not in r.err, str(r)
    assert not (repo.root / "build").exists()  # (nothing ran)
    r = repo.pipe("run", "--summary", "sub")  # (another path option: no word of a Pipefile)
    assert r.code == 2 and "'sub' is a directory" in r.err and "Pipefile" not in r.err, str(r)


def test_lineage_of_a_sweeps_best_names_the_trials_not_a_source(repo: Repo):
    # STEP.best reads the trials' folder whole, which no one step wrote: `pipe lineage` called it
    # a source ("(source)", "source": true), as if it were data nobody made.
    repo.pipefile(SWEEP.replace("METRIC", "acc"))
    repo.pipe("run", check=True)
    r = repo.pipe("lineage", "build/best.json")
    assert r.code == 0, str(r)
    line = next(x for x in r.out.splitlines() if "g_metrics: build/trials " in x)
    assert line.endswith("(its entries made by steps 'train[trial-1]', 'train[trial-2]' in job 1)"), r.out
    best = repo.pipe("lineage", "build/best.json", "--json").json["produced_by"]["inputs"]["m"]["produced_by"]
    folder = best["inputs"]["g_metrics"]
    assert folder["source"] is False and folder["produced_by"] is None and "train[trial-2]" in folder["note"]


def test_a_metric_name_of_a_megabyte_is_left_out_with_a_warning(repo: Repo):
    # A metrics file may name a metric with a megabyte of text: it was kept, and `pipe metrics
    # diff` against a job of many metrics padded every row to its width (545 s here, for
    # 300,000 rows). A name past MLflow's 250 characters is left out, said once.
    import time

    repo.write(
        "gen.py",
        "import json, sys\n"
        "json.dump({'acc': 1, 'x' * int(sys.argv[1]): 2, **{f'm{i}': i for i in range(2000)}}, open(sys.argv[2], 'w'))\n",
    )
    repo.pipefile(
        "version: 1\nparams: {n: 1000000}\nsteps:\n  s:\n    command: python3 gen.py ${{params.n}} ${{outputs.m}}\n"
        "    outputs: {m: build/m.json}\n    metrics: [build/m.json]\n"
    )
    r = repo.pipe("run")
    assert r.code == 0, str(r)
    assert "1 metric name(s) longer than 250 characters left out ('xxxxxxxx" in r.err and "shorten them" in r.err, r.err
    assert len(r.err) < 2000, len(r.err)
    names = set(repo.pipe("metrics", "show", "--json").json["jobs"][0]["metrics"])
    assert "s.acc" in names and len(names) == 2001 and max(len(n) for n in names) < 250, sorted(names)[:3]
    assert repo.pipe("run", "-p", "n=250").code == 0  # (250: kept)
    start = time.monotonic()
    r = repo.pipe("metrics", "diff", "1", "2")
    assert r.code == 0 and "x" * 250 in r.out, r.err
    assert max(len(line) for line in r.out.splitlines()) < 400 and time.monotonic() - start < 30


def test_metrics_history_of_an_experiment_of_no_op_jobs_says_so(repo: Repo):
    # `pipe run -e new` where everything is fresh: `pipe metrics history acc` (the last job's
    # experiment) said "no job in experiment 'new'" and then listed 'new' among the known ones.
    repo.pipefile(
        "version: 1\nsteps:\n  s:\n    command: >-\n      echo '{\"acc\": 1}' > ${{outputs.m}}\n"
        "    outputs: {m: build/m.json}\n    metrics: [build/m.json]\n"
    )
    repo.pipe("run", check=True)
    repo.pipe("run", "-e", "new", check=True)
    r = repo.pipe("metrics", "history", "acc")
    assert r.code == 2 and "no job in experiment 'new' ran or restored a step" in r.err, str(r)
    assert "hint: name an experiment whose jobs ran steps with -e" in r.err, r.err
    r = repo.pipe("metrics", "history", "acc", "-e", "nwe")
    assert r.code == 2 and "no job in experiment 'nwe'" in r.err and "'new'" in r.err, str(r)
    assert repo.pipe("metrics", "history", "acc", "-e", "ws").code == 0
