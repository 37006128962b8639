"""A sweep some of whose trials fail, through the real CLI: with --keep-going `STEP.best` (and
what reads it) picks among the trials that succeeded, as `pipe sweep show` names; without it a
failure stops the run as before; and what `STEP.best` reads of a trial is bounded."""

from __future__ import annotations

import json
import os

SWEEP = """\
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
  use:
    inputs: {m: "${{steps.train.best.outputs.metrics}}"}
    command: cp ${{inputs.m}} ${{outputs.x}}
    outputs: {x: build/best.json}
"""

# trial-3 is the best (acc 10) when it succeeds; $FAIL names the trials that fail (a flaky
# failure: their keys stay the same from one run to the next)
WRITER = """\
import os, sys
k = int(sys.argv[1])
if str(k) in os.environ.get("FAIL", "").split(","):
    sys.exit(f"diverged {k}")
open(sys.argv[2], "w").write('{"acc": %d, "k": %d}' % (10 if k == 3 else k, k))
"""


def _setup(repo) -> None:
    repo.pipefile(SWEEP)
    repo.write("w.py", WRITER)


def _show(repo) -> dict:
    r = repo.pipe("sweep", "show", "train", "--json")
    assert r.code == 0, str(r)
    return r.json


def _outcomes(repo, *args, env=None, expect=0) -> dict:
    r = repo.pipe("run", "--json", *args, env=env)
    assert r.code == expect, str(r)
    return {s["name"]: s for s in r.json["steps"]}


def test_keep_going_picks_the_best_of_the_trials_that_succeeded_and_again_once_one_succeeds(repo):
    _setup(repo)
    r = repo.pipe("run", "--keep-going", env={"FAIL": "3"})
    # (was: exit 1 with train.best and use skipped, "'train[trial-3]' did not succeed")
    assert r.code == 1, str(r)
    assert "FAILED   train[trial-3]" in r.err, str(r)
    assert "ok       train.best" in r.err and "ok       use" in r.err, str(r)
    assert "left out 1 of 3, which failed: train[trial-3]" in r.err, str(r)  # the warning names it
    assert json.loads(repo.read("build/best.json"))["k"] == 2
    shown = _show(repo)
    assert shown["best"] == "train[trial-2]", shown  # the same trial as train.best
    t3 = next(t for t in shown["trials"] if t["name"] == "train[trial-3]")
    # (was: no "failed" for a trial that failed in its first run: it had no file)
    assert t3["failed"] is True and "failed in job 1" in t3["failed_why"], t3
    # The job records what was considered: train.best's log in job 1
    log = repo.read(".pipe/jobs/1/train.best.log")
    assert "considered 2 trials: trial-1, trial-2" in log, log
    # Unchanged and still failing: trial-3 runs again, train.best and use stay as they are
    steps = _outcomes(repo, "--keep-going", env={"FAIL": "3"}, expect=1)
    assert steps["train[trial-3]"]["outcome"] == "failed"
    assert steps["train.best"]["outcome"] == "fresh" and steps["use"]["outcome"] == "fresh", steps
    # trial-3 now succeeds: train.best must pick again (it wins), and so runs use
    steps = _outcomes(repo)
    assert steps["train[trial-3]"]["outcome"] == "ran"
    assert steps["train.best"]["outcome"] == "ran" and steps["use"]["outcome"] == "ran", steps
    assert json.loads(repo.read("build/best.json"))["k"] == 3
    assert _show(repo)["best"] == "train[trial-3]"
    # ... and after that nothing runs
    steps = _outcomes(repo)
    assert {s["outcome"] for s in steps.values()} == {"fresh"}, steps


def test_a_trial_failing_on_rerun_leaves_out_the_result_an_earlier_run_left(repo):
    _setup(repo)
    repo.pipe("run", check=True)
    assert json.loads(repo.read("build/best.json"))["k"] == 3
    # trial-3 runs again (same key) and fails: its entry in build/trials is the earlier run's
    r = repo.pipe("run", "--keep-going", "--force=train[trial-3]", env={"FAIL": "3"})
    assert r.code == 1, str(r)
    # (an entry left in the folder would make train.best read trial-3 as if it had succeeded)
    assert not repo.exists("build/trials/trial-3")
    assert json.loads(repo.read("build/best.json"))["k"] == 2, str(r)
    assert _show(repo)["best"] == "train[trial-2]"
    # The failure passes: its result is back (restored from the cache), and best with it
    steps = _outcomes(repo)
    assert steps["train[trial-3]"]["outcome"] in ("restored", "ran"), steps
    assert steps["train.best"]["outcome"] in ("restored", "ran"), steps  # (picked so before: cached)
    assert json.loads(repo.read("build/best.json"))["k"] == 3
    assert _show(repo)["best"] == "train[trial-3]"


def test_without_keep_going_a_failed_trial_still_stops_the_run(repo):
    _setup(repo)
    steps = _outcomes(repo, env={"FAIL": "3"}, expect=1)
    assert steps["train[trial-3]"]["outcome"] == "failed"
    assert steps["train.best"]["outcome"] == "skipped" and steps["use"]["outcome"] == "skipped", steps
    assert not repo.exists("build/best.json")


def test_every_trial_failed_fails_best_saying_so(repo):
    _setup(repo)
    steps = _outcomes(repo, "--keep-going", env={"FAIL": "1,2,3"}, expect=1)
    best = steps["train.best"]
    # (was: skipped, "'train[trial-1]' did not succeed")
    assert best["outcome"] == "failed", best
    assert "every trial of sweep 'train' failed (train[trial-1], train[trial-2], train[trial-3])" in best["error"]
    assert steps["use"]["outcome"] == "skipped"
    assert _show(repo)["best"] is None


def test_best_reads_no_more_of_a_trial_s_metrics_file_than_pipe_reads_of_one(repo):
    _setup(repo)
    # trial-2 writes a metrics file of 65 MiB (valid JSON: read whole, it would be parsed)
    repo.write(
        "w.py",
        WRITER.replace(
            "open(sys.argv[2]",
            "if k == 2:\n    open(sys.argv[2], 'w').write('{\"acc\": 2, \"pad\": \"' + 'x' * (65 << 20) + '\"}')\n"
            "    sys.exit(0)\nopen(sys.argv[2]",
        ),
    )
    steps = _outcomes(repo, "--keep-going", expect=2)
    # (was: train.best read all 65 MiB and went on: a 2 GB file was read whole)
    assert steps["train.best"]["outcome"] == "failed", steps["train.best"]
    log = repo.read(steps["train.best"]["log"])
    assert "trial trial-2: its metrics file 'build/trials/trial-2' is larger than 64 MiB" in log, log
    assert os.path.getsize(repo.root / "build/trials/trial-2") > 64 << 20


def test_sweep_show_says_there_is_no_best_when_every_trial_failed_not_to_run_the_sweep(repo):
    _setup(repo)
    assert repo.pipe("run", "--keep-going", env={"FAIL": "1,2,3"}).code == 1
    r = repo.pipe("sweep", "show", "train")
    assert r.code == 0, str(r)
    # (was: "best: not known yet (no trial has written its objective): run the sweep", as if
    # none had run: each one ran and failed, as the lines below it say)
    assert "best: none (every trial failed or was stopped early" in r.out, r.out
    assert "train[trial-1]: failed in job 1" in r.out, r.out


SLOW_LINES = """k = int(sys.argv[1])
if str(k) == os.environ.get("SLOW"):
    import time
    time.sleep(60)
"""


def test_ctrl_c_in_a_keep_going_run_keeps_the_entry_of_the_trial_it_stopped(repo, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    _setup(repo)
    # $SLOW names a trial that takes a minute (Ctrl-C comes while it runs)
    repo.write("w.py", WRITER.replace("k = int(sys.argv[1])\n", SLOW_LINES))
    repo.pipe("run", check=True)
    env = dict(os.environ, PIPE_PLAIN="1", SLOW="3")
    env.pop("PIPE_STORE_DIR", None)
    started = tmp_path / "out.txt"
    with open(started, "w") as out:
        p = subprocess.Popen(
            [sys.executable, "-m", "pipefile", "run", "--keep-going", "--force=train[trial-3]"],
            cwd=repo.root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 60
            while "run      train[trial-3]" not in started.read_text() and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(1.0)  # (its command under way)
            os.killpg(p.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the whole group
            assert p.wait(timeout=60) == 130, started.read_text()
        finally:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
    # (a trial Ctrl-C stopped is no failed trial to leave out: the run ends, the workspace keeps
    # what it had, the earlier run's result of the same key included)
    assert json.loads(repo.read("build/trials/trial-3"))["k"] == 3, started.read_text()


def test_a_failed_trial_whose_entry_cannot_be_removed_holds_best_back_without_an_internal_error(repo):
    import shutil
    import subprocess

    _setup(repo)
    repo.pipe("run", check=True)
    entry = str(repo.root / "build/trials/trial-3")
    # An entry nothing may remove (root's chattr +i; here only where the file system has it)
    if not shutil.which("chattr") or subprocess.run(["chattr", "+i", entry], capture_output=True).returncode:
        import pytest

        pytest.skip("needs chattr +i (root, a file system with immutable files)")
    try:
        r = repo.pipe("run", "--keep-going", "--force=train[trial-3]", env={"FAIL": "3"})
    finally:
        subprocess.run(["chattr", "-i", entry], check=True)
    # (was: exit 70, "internal error: PermissionError(1, 'Operation not permitted')")
    assert r.code == 1, str(r)
    assert "FAILED   train[trial-3]" in r.err, str(r)
    assert "note: train[trial-3]: not left out of train.best: its earlier entry could not be removed" in r.err
    # its entry, still there, would be read as its result: train.best does not go on
    assert "skipped  train.best ('train[trial-3]' did not succeed)" in r.err, str(r)


BAYESIAN = """\
version: 1
steps:
  train:
    sweep:
      search: bayesian
      trials: 3
      seed: 3
      space:
        x: {uniform: [0, 1]}
      objective: {metric: acc, goal: maximize}
    inputs: {x: {type: number}}
    code: [w.py]
    command: python3 w.py ${{inputs.x}} ${{outputs.metrics}}
    outputs: {metrics: build/trials}
    metrics: build/trials
"""

# $FAILX: the inputs (as the command gets them) of the trials that fail
BAYESIAN_WRITER = """\
import os, sys
if sys.argv[1] in os.environ.get("FAILX", "").split(","):
    sys.exit("diverged")
open(sys.argv[2], "w").write('{"acc": %s}' % sys.argv[1])
"""


def test_sweep_show_gives_the_inputs_a_failed_bayesian_trial_of_the_last_round_ran_with(repo):
    import pytest

    pytest.importorskip("optuna")
    repo.pipefile(BAYESIAN)
    repo.write("w.py", BAYESIAN_WRITER)
    repo.pipe("run", check=True)  # (what trial-3 is proposed, seed 3: the same again below)
    x3 = next(t for t in _show(repo)["trials"] if t["name"] == "train[trial-3]")["inputs"]["x"]
    # Again from scratch, with trial-3 (one round of its own, the last) failing
    import shutil

    shutil.rmtree(repo.root / ".pipe")
    shutil.rmtree(repo.root / "build")
    r = repo.pipe("run", env={"FAILX": repr(float(x3))})
    assert r.code == 1 and "FAILED   train[trial-3]" in r.err, str(r)
    t3 = next(t for t in _show(repo)["trials"] if t["name"] == "train[trial-3]")
    # (was: "inputs": {} and `-` in the table: a round proposed only after the last trial built)
    assert t3["failed"] is True and t3["inputs"] == {"x": x3}, t3
    assert f"trial-3  {x3:g}" in repo.pipe("sweep", "show", "train").out


# A sweep whose output path uses the inputs (gathered by the task train.gathered), with early
# termination: trials one at a time, x = 2, 1, 3; trial-3's curve is worse than the median
# at step 2 and it is stopped. $FAIL names the values whose trials fail; $GOOD the value
# whose trial reports a low curve (not stopped) and ends with the best loss.
PER_TRIAL = """\
version: 1
steps:
  train:
    sweep:
      search: grid
      max_parallel: 1
      space:
        x: {choice: [2, 1, 3]}
      objective: {metric: loss, goal: minimize}
      early_termination: {policy: median_stopping, evaluation_interval: 1, delay_evaluation: 2}
    inputs: {x: {type: integer}}
    code: [w.py]
    command: python3 w.py ${{inputs.x}} ${{outputs.metrics}}
    outputs: {metrics: "build/m-${{inputs.x}}.json"}
    metrics: "build/m-${{inputs.x}}.json"
  pick:
    inputs: {m: "${{steps.train.best.outputs.metrics}}"}
    command: cp ${{inputs.m}} ${{outputs.o}}
    outputs: {o: build/best.json}
"""

PER_TRIAL_WRITER = """\
import json, os, sys, time
from pipefile import log_metric
x = int(sys.argv[1])
good = str(x) == os.environ.get("GOOD")
for s in range(3):
    log_metric("loss", (0 if good else x) + 1 / (s + 1), step=s)
time.sleep(1.5)  # (judged at step 2 while it waits)
if str(x) in os.environ.get("FAIL", "").split(","):
    sys.exit(f"diverged {x}")
json.dump({"loss": 0 if good else x, "x": x}, open(sys.argv[2], "w"))
"""


def _per_trial(repo, extra: str = "") -> None:
    repo.pipefile(PER_TRIAL + extra)
    repo.write("w.py", PER_TRIAL_WRITER)


def test_a_step_reading_a_stopped_trial_s_own_output_is_told_it_was_stopped(repo):
    _per_trial(
        repo,
        '  one:\n    inputs: {m: "${{steps.train[trial-3].outputs.metrics}}"}\n'
        "    command: cp ${{inputs.m}} ${{outputs.o}}\n    outputs: {o: build/one.json}\n",
    )
    steps = _outcomes(repo, "--keep-going", expect=1)
    assert steps["train[trial-3]"]["outcome"] == "stopped", steps
    err = steps["one"]["error"]
    # (was: "input 'build/m-3.json' does not exist (and no step produces it)": a trial does)
    assert "input 'build/m-3.json' was not made: 'train[trial-3]' was stopped early, so it has no output" in err
    assert "pipe run --force='train[trial-3]'" in err, err


def test_per_trial_paths_a_stopped_trial_is_left_out_of_the_gathered_folder_and_best(repo):
    _per_trial(repo)
    steps = _outcomes(repo)
    assert steps["train[trial-3]"]["outcome"] == "stopped", steps
    # (was: train.gathered failed, "input 'build/m-3.json' does not exist", best and pick skipped)
    assert steps["train.gathered"]["outcome"] == "ran" and steps["pick"]["outcome"] == "ran", steps
    assert sorted(os.listdir(repo.root / ".pipe/gathered/train/metrics")) == ["trial-1", "trial-2"]
    assert json.loads(repo.read("build/best.json"))["x"] == 1
    # Its lineage says which trial was left out (its input in the key has no content)
    r = repo.pipe("lineage", "build/best.json")
    assert r.code == 0 and "metrics/trial-3: build/m-3.json (left out: the trial ended without it)" in r.out, str(r)
    # Unchanged: nothing runs (trial-3 stays stopped, the gathering without it is fresh)
    steps = _outcomes(repo)
    assert {s["outcome"] for s in steps.values()} == {"fresh", "stopped"}, steps
    # trial-3 runs again and finishes (the best now): the gathering's key changed, it re-gathers
    steps = _outcomes(repo, "--force=train[trial-3]", env={"GOOD": "3"})
    assert steps["train[trial-3]"]["outcome"] == "ran", steps
    assert steps["train.gathered"]["outcome"] == "ran" and steps["pick"]["outcome"] == "ran", steps
    assert sorted(os.listdir(repo.root / ".pipe/gathered/train/metrics")) == ["trial-1", "trial-2", "trial-3"]
    assert json.loads(repo.read("build/best.json"))["x"] == 3
    steps = _outcomes(repo)
    assert {s["outcome"] for s in steps.values()} == {"fresh"}, steps


def test_per_trial_paths_keep_going_leaves_a_failed_trial_out_and_still_fails_the_run(repo):
    _per_trial(repo)
    # Without --keep-going the failure stops the run: nothing gathered
    steps = _outcomes(repo, env={"FAIL": "2"}, expect=1)
    assert steps["train[trial-1]"]["outcome"] == "failed", steps
    assert steps["train.gathered"]["outcome"] == "skipped" and steps["pick"]["outcome"] == "skipped", steps
    r = repo.pipe("run", "--keep-going", env={"FAIL": "1"})
    # (was: train.gathered failed on the failed trial's path; best and pick never ran)
    assert r.code == 1, str(r)
    assert "FAILED   train[trial-2]" in r.err and "ok       pick" in r.err, str(r)
    assert "left out 1 of 3, which failed: train[trial-2]" in r.err, str(r)
    assert sorted(os.listdir(repo.root / ".pipe/gathered/train/metrics")) == ["trial-1"]
    assert json.loads(repo.read("build/best.json"))["x"] == 2
    # It succeeds later: re-gathered, picked again; then a no-op
    steps = _outcomes(repo)
    assert steps["train[trial-2]"]["outcome"] == "ran" and steps["train.gathered"]["outcome"] == "ran", steps
    assert json.loads(repo.read("build/best.json"))["x"] == 1
    steps = _outcomes(repo)
    assert {s["outcome"] for s in steps.values()} == {"fresh", "stopped"}, steps


def test_sweep_show_takes_a_trials_stop_from_its_own_records_only(repo):
    # trial_ends looked a trial's last result up by its key alone: every step row of the
    # history read for each trial, and a record of another step with that key taken as this
    # trial's. A sweep renamed (its trials' keys unchanged: they hold no step name) under
    # another policy was shown stopped for its predecessor's stop, though it never ran.
    _per_trial(repo)
    assert _outcomes(repo)["train[trial-3]"]["outcome"] == "stopped"
    text = repo.read("Pipefile").replace("  train:\n", "  tune:\n").replace("steps.train.best", "steps.tune.best")
    repo.pipefile(text.replace("delay_evaluation: 2", "delay_evaluation: 5"))
    r = repo.pipe("sweep", "show", "tune", "--json")
    assert r.code == 0, str(r)
    assert [t["name"] for t in r.json["trials"] if t.get("stopped")] == [], r.json
    assert len(r.json["trials"]) == 3, r.json


def test_a_failed_trial_counts_in_the_median_with_the_values_it_reported(repo):
    # What a user expects, and docs/pipefile.md now says: a trial that failed is judged with
    # the points it reported before it failed (its measurements at those steps; leaving it out
    # would make a verdict depend on whether a look came before or after the failure). Trials
    # x = 9 (fails after reporting ~9.6 at step 2), 1 (~1.6), 3 (~3.6): the median of the other
    # two at step 2 is ~5.6, so trial-3 runs to its end; without the failed trial it was 1.6.
    repo.pipefile(PER_TRIAL.replace("[2, 1, 3]", "[9, 1, 3]"))
    repo.write("w.py", PER_TRIAL_WRITER)
    steps = _outcomes(repo, "--keep-going", env={"FAIL": "9"}, expect=1)
    assert steps["train[trial-1]"]["outcome"] == "failed", steps["train[trial-1]"]
    assert steps["train[trial-3]"]["outcome"] == "ran", steps["train[trial-3]"]
    assert repo.exists("build/m-3.json") and not repo.exists("build/m-9.json")
