"""Sweeps (issue 15): `search: bayesian` through Optuna, and `early_termination`.

A bayesian sweep's trials are proposed while the run goes, a round of `max_parallel` at a
time, from the objective of the trials before (proposals.py); early termination stops a
trial whose curve is worse than the others' (stopping.py). Real `pipe` runs of real trial
processes; grid and random sweeps are in test_compose.py, bad input in test_validation.py.
"""

from __future__ import annotations

import os
import sqlite3
import sys

import pytest

pytest.importorskip("optuna")

BAYES = """\
    version: 1
    steps:
      train:
        sweep:
          search: bayesian
          trials: {trials}
          seed: {seed}
          max_parallel: {parallel}
          space:
            x: {{uniform: [0, 1]}}
          objective: {{metric: loss, goal: minimize}}
        inputs:
          x: {{type: number}}
        command: >-
          python3 -c "import json, sys; x = ${{{{inputs.x}}}};
          json.dump({{'loss': (x - 0.3) ** 2}}, open(sys.argv[1], 'w'))" ${{{{outputs.metrics}}}}
        outputs:
          metrics: build/trials.json
        metrics: build/trials.json
"""


def bayes(trials=20, seed=5, parallel=4) -> str:
    return BAYES.format(trials=trials, seed=seed, parallel=parallel)


def ran(outcomes: dict) -> set:
    return {n for n, o in outcomes.items() if o == "ran"}


def shown(repo) -> dict:
    got = repo.pipe("sweep", "show", "train", "--json", check=True).json
    return {t["name"]: t for t in got["trials"]} | {"": got}


def test_bayesian_finds_the_minimum_of_a_known_objective(repo):
    repo.pipefile(bayes())
    assert ran(repo.outcomes()) == {f"train[trial-{k}]" for k in range(1, 21)}
    got = shown(repo)
    best = got[got[""]["best"]]
    assert abs(best["inputs"]["x"] - 0.3) < 0.1, best
    # Every trial was proposed with its own inputs (none is left without).
    assert len({t["inputs"]["x"] for n, t in got.items() if n}) == 20


def test_bayesian_is_seeded_reruns_nothing_and_more_trials_run_only_the_new_ones(repo, tmp_path):
    from workspace_repo import Repo

    repo.pipefile(bayes(trials=8, parallel=2))
    assert len(ran(repo.outcomes())) == 8
    first = {n: t["inputs"] for n, t in shown(repo).items() if n}
    # A rerun with nothing changed proposes the same trials: all fresh, nothing runs.
    assert set(repo.outcomes().values()) == {"fresh"}
    # The same seed elsewhere: the same trials (the same history, told in the same order).
    other = Repo(tmp_path / "other")
    other.root.mkdir()
    other.pipefile(bayes(trials=8, parallel=2))
    other.outcomes()
    assert {n: t["inputs"] for n, t in shown(other).items() if n} == first
    # Another seed: other trials.
    third = Repo(tmp_path / "third")
    third.root.mkdir()
    third.pipefile(bayes(trials=8, parallel=2, seed=6))
    third.outcomes()
    assert {n: t["inputs"] for n, t in shown(third).items() if n} != first
    # Raising trials: only the new ones run, the earlier keep their inputs.
    repo.pipefile(bayes(trials=11, parallel=2))
    assert ran(repo.outcomes()) == {"train[trial-9]", "train[trial-10]", "train[trial-11]"}
    more = {n: t["inputs"] for n, t in shown(repo).items() if n}
    assert {n: more[n] for n in first} == first
    assert ran(repo.outcomes()) == set()


def test_a_failed_trial_leaves_the_later_rounds_proposed_with_keep_going(repo):
    # Trials with x >= 0.7 fail: told to the sampler as failed, the sweep goes on.
    text = bayes(trials=6, seed=3, parallel=2).replace("json.dump(", "assert x < 0.7; json.dump(")
    repo.pipefile(text)
    r = repo.pipe("run", "--keep-going", "--json")
    assert r.code == 1, str(r)
    outcomes = {s["name"]: s["outcome"] for s in r.json["steps"]}
    got = shown(repo)
    xs = {n: t["inputs"]["x"] for n, t in got.items() if n}
    assert len(xs) == 6  # every trial was proposed, after a failed one too
    assert {n for n, o in outcomes.items() if o == "failed"} == {n for n, x in xs.items() if x >= 0.7} != set()
    assert {n for n, o in outcomes.items() if o == "ran"} == {n for n, x in xs.items() if x < 0.7}
    # The same history again: the trials that succeeded are fresh, the failed ones fail again.
    again = {s["name"]: s["outcome"] for s in repo.pipe("run", "--keep-going", "--json").json["steps"]}
    assert {n for n, o in again.items() if o == "fresh"} == {n for n, x in xs.items() if x < 0.7}


def test_status_shows_later_rounds_pending_until_the_round_before_ends(repo):
    repo.pipefile(bayes(trials=5, parallel=2))
    r = repo.pipe("status", "--tasks", check=False)
    lines = {x.split()[1]: x for x in r.out.splitlines() if x.startswith(("run", "pending"))}
    assert lines["train[trial-1]"].startswith("run") and lines["train[trial-2]"].startswith("run")
    assert lines["train[trial-3]"].startswith("pending")
    assert "proposed after 'train[trial-2]' ends" in lines["train[trial-3]"]
    assert "proposed after 'train[trial-4]' ends" in lines["train[trial-5]"]
    repo.outcomes()
    r = repo.pipe("status", "--tasks", check=False)
    assert "pending" not in r.out and r.code == 0, str(r)


def test_bayesian_with_a_choice_of_strings_is_categorical(repo):
    text = """
        version: 1
        steps:
          train:
            sweep:
              search: bayesian
              trials: 6
              seed: 1
              space: {kind: {choice: [low, mid, high]}, n: {randint: [1, 4]}}
              objective: {metric: score, goal: maximize}
            inputs: {kind: {type: string}, n: {type: integer}}
            command: >-
              python3 -c "import json, sys; s = {'low': 1, 'mid': 2, 'high': 3}['${{inputs.kind}}'] * ${{inputs.n}};
              json.dump({'score': s}, open(sys.argv[1], 'w'))" ${{outputs.m}}
            outputs: {m: build/m.json}
            metrics: build/m.json
    """
    repo.pipefile(text)
    assert len(ran(repo.outcomes())) == 6
    got = shown(repo)
    for name, t in got.items():
        if name:
            assert t["inputs"]["kind"] in ("low", "mid", "high") and t["inputs"]["n"] in (1, 2, 3, 4), t


def test_without_optuna_a_bayesian_sweep_is_a_located_error_naming_the_extra(repo, tmp_path):
    # Stands in for a machine without the extra: a sitecustomize that makes `import optuna`
    # fail in the pipe process, as it fails where Optuna is not installed.
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(
        "import sys\n"
        "class _NoOptuna:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'optuna' or name.startswith('optuna.'):\n"
        "            raise ModuleNotFoundError(\"No module named 'optuna'\")\n"
        "        return None\n"
        "sys.meta_path.insert(0, _NoOptuna())\n"
    )
    text = bayes(trials=3)
    repo.pipefile(text)
    env = {"PYTHONPATH": os.pathsep.join([str(hide), os.environ["PYTHONPATH"]])}
    r = repo.pipe("run", env=env)
    assert r.code == 2, str(r)
    line = next(i for i, x in enumerate(text.splitlines(), 1) if "search: bayesian" in x)
    assert f"Pipefile:{line}:" in r.err, r.err
    assert "needs Optuna" in r.err and "pip install 'pipefile[optuna]'" in r.err
    assert not (repo.root / "build").exists()  # nothing ran


def refuse_optuna(tmp_path) -> dict:
    """The environment of a pipe process in which Optuna is installed (found) but importing it
    fails (a sitecustomize on PYTHONPATH): a process that imports it fails as where the extra
    is missing, one that does not import it is unaffected."""
    hide = tmp_path / "refuse"
    hide.mkdir(exist_ok=True)
    (hide / "sitecustomize.py").write_text(
        "import importlib.abc, importlib.machinery, sys\n"
        "class _Refuse(importlib.abc.Loader):\n"
        "    def create_module(self, spec):\n"
        "        return None\n"
        "    def exec_module(self, module):\n"
        "        raise ImportError('optuna was imported')\n"
        "class _Watch:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'optuna' or name.startswith('optuna.'):\n"
        "            return importlib.machinery.ModuleSpec(name, _Refuse())\n"
        "        return None\n"
        "sys.meta_path.insert(0, _Watch())\n"
    )
    return {"PYTHONPATH": os.pathsep.join([str(hide), os.environ["PYTHONPATH"]])}


def test_an_unchanged_bayesian_rerun_reads_its_proposals_and_never_imports_optuna(repo, tmp_path):
    repo.pipefile(bayes(trials=8, parallel=2))
    repo.pipe("status", check=True)
    assert not (repo.root / ".pipe/cache/proposals").exists()  # status keeps nothing
    assert len(ran(repo.outcomes())) == 8
    before = {n: t["inputs"] for n, t in shown(repo).items() if n}
    # Importing Optuna fails now: the rounds come from the store, all trials are fresh.
    env = refuse_optuna(tmp_path)
    r = repo.pipe("run", "--json", env=env)
    assert r.code == 0, str(r)
    assert {s["outcome"] for s in r.json["steps"]} == {"fresh"}
    r = repo.pipe("status", env=env)
    assert r.code == 0 and "up to date" in r.out, str(r)
    r = repo.pipe("sweep", "show", "train", "--json", env=env)
    assert r.code == 0, str(r)
    assert {t["name"]: t["inputs"] for t in r.json["trials"]} == before
    # A round not kept yet (one more trial) needs Optuna: the error says so.
    repo.pipefile(bayes(trials=9, parallel=2))
    r = repo.pipe("run", env=env)
    assert r.code == 2 and "needs Optuna" in r.err, str(r)


def test_kept_proposals_are_what_a_fresh_study_proposes(repo):
    import optuna

    from pipefile import proposals
    from pipefile.cache.proposal_store import ProposalStore
    from pipefile.session import load

    repo.pipefile(bayes(trials=9, parallel=2))
    repo.outcomes()
    kept = ProposalStore(str(repo.root / ".pipe/cache/proposals"), writable=False).entries()
    assert sorted(k["round"] for k in kept) == [0, 1, 2, 3, 4]  # rounds of 2, and 1 left
    e = load(str(repo.root / "Pipefile")).groups["train"].sweep
    got = shown(repo)
    for entry in kept:
        given = entry["given"]
        assert given["optuna"] == optuna.__version__ and given["seed"] == 5
        history = [(values, objective) for values, objective in given["history"]]
        assert len(history) == 2 * entry["round"]
        # A new study told the same history proposes what was kept ...
        assert proposals.propose(e, history, given["count"], given["round"]) == entry["proposals"]
        # ... which is what the trials of that round ran with.
        k = 2 * entry["round"]
        assert [got[f"train[trial-{k + i + 1}]"]["inputs"] for i in range(given["count"])] == entry["proposals"]


def test_a_kept_round_is_found_only_under_the_same_givens(tmp_path, monkeypatch):
    from pipefile import proposals, spec
    from pipefile.cache.proposal_store import ProposalStore

    e = spec.Expansion(
        spec.EXPAND_SWEEP,
        None,
        search="bayesian",
        trials=6,
        seed=4,
        space=(("x", "uniform", (0.0, 1.0)), ("k", "choice", ("a", "b"))),
        objective_metric="loss",
        objective_goal="minimize",
        max_parallel=2,
    )
    store = ProposalStore(str(tmp_path), writable=True)
    history = [({"x": 0.5, "k": "a"}, 0.04), ({"x": 0.9, "k": "b"}, None)]
    first = proposals.propose_round(e, "train", history, 2, 1, {}, store)
    assert first == proposals.propose(e, history, 2, 1)
    asked = []
    real = proposals.propose
    monkeypatch.setattr(proposals, "propose", lambda *a, **k: asked.append(1) or real(*a, **k))
    # The same givens: read, Optuna not asked.
    assert proposals.propose_round(e, "train", list(history), 2, 1, {}, store) == first and not asked
    # Any change is another key, asked again: the history (a result), the seed, the space,
    # the goal, the round, its size, or another Optuna.
    import dataclasses

    changes = [
        (e, [history[0], ({"x": 0.9, "k": "b"}, 0.36)], 2, 1),
        (dataclasses.replace(e, seed=5), history, 2, 1),
        (dataclasses.replace(e, space=(("x", "uniform", (0.0, 2.0)), ("k", "choice", ("a", "b")))), history, 2, 1),
        (dataclasses.replace(e, objective_goal="maximize"), history, 2, 1),
        (e, history, 2, 2),
        (e, history, 1, 1),
    ]
    for n, (ex, hist, count, round_index) in enumerate(changes, 1):
        proposals.propose_round(ex, "train", hist, count, round_index, {}, ProposalStore(str(tmp_path), False))
        assert len(asked) == n
    monkeypatch.setattr(proposals, "_version", "0.0.1")
    proposals.propose_round(e, "train", history, 2, 1, {}, store)
    assert len(asked) == len(changes) + 1
    # A read-only store keeps nothing; a torn file reads as a miss.
    assert len(store.entries()) == 1  # (round 1 of train: the newest givens replaced the first)
    for name in os.listdir(tmp_path):
        (tmp_path / name).write_text('{"v": 1, "key": ')
    monkeypatch.setattr(proposals, "_version", None)
    assert proposals.propose_round(e, "train", history, 2, 1, {}, store) == first
    assert len(asked) == len(changes) + 2


# --- early termination ----------------------------------------------------------------------
EARLY = """\
    version: 1
    steps:
      train:
        sweep:
          search: {search}
          {more}
          max_parallel: 1
          space:
            x: {space}
          objective: {{metric: loss, goal: {goal}}}
          early_termination: {{policy: median_stopping, evaluation_interval: 1, delay_evaluation: 2}}
        inputs:
          x: {{type: number}}
        command: >-
          python3 -c "import json, sys, time; from pipefile import log_metric; x = ${{{{inputs.x}}}};
          [log_metric('loss', {curve}, step=s) for s in range(3)]; time.sleep(2);
          json.dump({{'loss': {curve_end}}}, open(sys.argv[1], 'w'))" ${{{{outputs.metrics}}}}
        outputs:
          metrics: build/trials.json
        metrics: build/trials.json
      pick:
        inputs: {{m: "${{{{steps.train.best.outputs.metrics}}}}"}}
        command: cp ${{{{inputs.m}}}} ${{{{outputs.o}}}}
        outputs: {{o: build/best.json}}
"""


def early(search="grid", more="", space="{choice: [2, 1, 3, 4]}", goal="minimize", falling=True) -> str:
    # A falling curve (minimize: lower is better) or a rising one (maximize), offset by x, of
    # steps 0-2, then a wait: judged at step 2 alone (delay 2), against every trial before it
    # (all reported step 2), so the verdict does not depend on when the judge looks.
    curve, end = ("x + 1 / (s + 1)", "x") if falling else ("-x - 1 / (s + 1)", "-x")
    return EARLY.format(search=search, more=more, space=space, goal=goal, curve=curve, curve_end=end)


@pytest.mark.parametrize("goal", ["minimize", "maximize"])
def test_median_stopping_stops_the_bad_trials_and_the_job_succeeds(repo, goal):
    repo.pipefile(early(goal=goal, falling=goal == "minimize"))
    r = repo.pipe("run", "--json")
    assert r.code == 0, str(r)
    outcomes = {s["name"]: s["outcome"] for s in r.json["steps"]}
    # Trials run one at a time: trial-1 (x=2) alone; trial-2 (x=1) better than it; trials 3
    # and 4 (x=3, 4) worse than the median of those before at step 2.
    assert outcomes["train[trial-1]"] == "ran" and outcomes["train[trial-2]"] == "ran"
    assert outcomes["train[trial-3]"] == "stopped" and outcomes["train[trial-4]"] == "stopped"
    assert r.json["status"] == "succeeded"
    # Nothing of a stopped trial is kept; it never wins .best.
    assert sorted(os.listdir(repo.root / "build/trials.json")) == ["trial-1", "trial-2"]
    assert repo.read("build/best.json") == repo.read("build/trials.json/trial-2")
    got = shown(repo)
    assert got[""]["best"] == "train[trial-2]"
    assert got["train[trial-3]"]["stopped"] and "median" in got["train[trial-3]"]["stopped_why"]
    text = repo.pipe("sweep", "show", "train", check=True).out
    assert [x.split()[2] for x in text.splitlines() if x.startswith(("trial-3", "trial-4"))] == ["stopped"] * 2
    # A rerun keeps them stopped, running nothing (test_an_unchanged_rerun_after_stops_...).
    again = repo.outcomes()
    assert again["train[trial-3]"] == "stopped" and again["train[trial-1]"] == "fresh"
    assert ran(again) == set()


def test_sweep_show_reads_each_stopped_trials_kept_stop(repo):
    repo.pipefile(early())
    assert repo.pipe("run", check=True).code == 0
    got = shown(repo)
    # Judged at step 2: its running average of x + 1/(s+1) against the median of trials 1 and 2.
    avg = (1 + 1 / 2 + 1 / 3) / 3
    t3 = got["train[trial-3]"]
    assert t3["stopped"] and t3["objective"] is None
    assert t3["stop"]["job"] == 1 and t3["stop"]["policy"] == "median_stopping" and t3["stop"]["step"] == 2
    assert t3["stop"]["value"] == pytest.approx(3 + avg) and t3["stop"]["median"] == pytest.approx(1.5 + avg)
    assert "at step 2" in t3["stop"]["detail"] and t3["stopped_why"].startswith("stopped by median_stopping in job 1")
    assert "stop" not in got["train[trial-1]"] and "stopped" not in got["train[trial-1]"]
    text = repo.pipe("sweep", "show", "train", check=True).out
    assert "trial-3  3.0  stopped at step 2 (3.61111)" in text, text
    assert "train[trial-4]: stopped by median_stopping in job 1: at step 2 " in text, text
    # A rerun that keeps them stopped (a job of its own) still shows the stop of job 1.
    repo.pipe("run", "--force", "pick", check=True)
    assert shown(repo)["train[trial-4]"]["stop"]["job"] == 1
    # Trial 3 given other inputs is another trial, which nothing stopped; trial 4 stays stopped.
    repo.pipefile(early(space="{choice: [2, 1, 5, 4]}"))
    got = shown(repo)
    assert got["train[trial-3]"]["inputs"] == {"x": 5.0} and "stopped" not in got["train[trial-3]"], got
    assert got["train[trial-4]"]["stop"]["step"] == 2
    text = repo.pipe("sweep", "show", "train", check=True).out
    assert "trial-3  5.0  -" in text and "trial-4  4.0  stopped at step 2" in text, text


def run_steps(repo, *args) -> dict:
    r = repo.pipe("run", "--json", *args)
    assert r.code == 0, str(r)
    return {s["name"]: s for s in r.json["steps"]}


def test_an_unchanged_rerun_after_stops_runs_nothing_and_says_why(repo):
    repo.pipefile(early())
    first = run_steps(repo)
    assert {n for n, s in first.items() if s["outcome"] == "stopped"} == {"train[trial-3]", "train[trial-4]"}
    # An entry of other inputs left where a stopped trial's would be (a hand edit here; an
    # older result of the trial otherwise) must not be taken for its result.
    repo.write("build/trials.json/trial-3", '{"loss": -100}')
    again = run_steps(repo)
    # Nothing runs: the stopped trials stay stopped, the others are fresh.
    assert {n: s["outcome"] for n, s in again.items()} == {
        "train[trial-1]": "fresh",
        "train[trial-2]": "fresh",
        "train[trial-3]": "stopped",
        "train[trial-4]": "stopped",
        "train.best": "fresh",
        "pick": "fresh",
    }
    for t in ("train[trial-3]", "train[trial-4]"):
        assert again[t]["error"].startswith("stopped by median_stopping in job 1: at step 2"), again[t]
    assert sorted(os.listdir(repo.root / "build/trials.json")) == ["trial-1", "trial-2"]
    assert repo.read("build/best.json") == repo.read("build/trials.json/trial-2")
    # pipe status plans them stopped, with the reason, and the workspace is up to date.
    r = repo.pipe("status", "--tasks")
    assert r.code == 0, str(r)
    line = next(x for x in r.out.splitlines() if "train[trial-3]" in x)
    assert line.startswith("stopped") and "stopped by median_stopping in job 1" in line, r.out
    status = repo.pipe("status", "--json", check=True).json
    assert status["up_to_date"] is True
    s3 = next(s for s in status["steps"] if s["name"] == "train[trial-3]")
    assert s3["state"] == "stopped" and s3["reasons"][0]["kind"] == "stopped_before" and s3["reasons"][0]["job"] == 1
    assert repo.pipe("status", check=True).out.splitlines()[0].split()[:2] == ["fresh", "train"]
    # The curve a stopped trial streamed is recorded in the job that stopped it and in the
    # job where it stayed stopped: `pipe metrics curve` shows it.
    for job in ("1", "2"):
        curve = repo.pipe("metrics", "curve", job, "train[trial-3].loss", "--json", check=True).json
        assert [p["step"] for p in curve["points"]] == [0, 1, 2], curve
        assert curve["points"][0]["value"] == pytest.approx(3 + 1.0)
    # ... kept once: job 2 refers to job 1's points (schema 2.12), it holds no copy.
    db = sqlite3.connect(repo.root / ".pipe/jobs.db")
    try:
        assert db.execute("SELECT COUNT(*) FROM metric_points WHERE job_id = 2").fetchone()[0] == 0
        refs = db.execute("SELECT step, source_job FROM step_series WHERE job_id = 2 ORDER BY step").fetchall()
        assert refs == [(f"train[trial-{i}]", 1) for i in (1, 2, 3, 4)], refs  # fresh or stayed stopped
    finally:
        db.close()
    # The stop is kept with its evidence: the curves of the trials it was judged against.
    from pipefile.jobdb.jobs import JobStore

    store = JobStore(str(repo.root / ".pipe/jobs.db"))
    try:
        (key, policy), (job, _detail) = next(
            (k, v) for k, v in store.stops([s3_policy(repo)]).items() if k[0] == s3["key"]
        )
        kept = store.stop_of(key, policy)
    finally:
        store.close()
    assert job == 1 and kept["step"] == "train[trial-3]"
    assert kept["policy"] == {
        "policy": "median_stopping",
        "evaluation_interval": 1,
        "delay_evaluation": 2,
        "metric": "loss",
        "goal": "minimize",
    }
    ev = kept["evidence"]
    assert ev["step"] == 2 and sorted(ev["others"]) == ["train[trial-1]", "train[trial-2]"]
    assert [x for x, _ in ev["others"]["train[trial-2]"]] == [0, 1, 2]


def s3_policy(repo) -> str:
    from pipefile import stopping
    from pipefile.session import load

    return stopping.policy_of(load(str(repo.root / "Pipefile")).groups["train"])


def test_a_changed_policy_or_key_or_force_runs_a_stopped_trial_again(repo):
    repo.pipefile(early())
    run_steps(repo)
    # --force on a stopped trial runs it (and it is judged, and stopped, again: job 2).
    forced = run_steps(repo, "--force=train[trial-3]")
    assert forced["train[trial-3]"]["outcome"] == "stopped"
    assert forced["train[trial-3]"]["error"].startswith("stopped early (median stopping)")
    assert forced["train[trial-4]"]["error"].startswith("stopped by median_stopping in job 1")
    # That job did work (a trial ran, though it was stopped): `pipe jobs` shows it.
    jobs = {j["id"]: j for j in repo.pipe("jobs", "--all", "--json", check=True).json["jobs"]}
    assert jobs[2]["noop"] is False
    again = run_steps(repo)
    assert again["train[trial-3]"]["error"].startswith("stopped by median_stopping in job 2")
    assert repo.pipe("jobs", "--all", "--json", check=True).json["jobs"][0]["noop"] is True  # (job 3)
    # Another trial key (trial-3's value changed): that trial runs, the other stays stopped.
    repo.pipefile(early(space="{choice: [2, 1, 3.5, 4]}"))
    changed = run_steps(repo)
    assert changed["train[trial-3]"]["error"].startswith("stopped early (median stopping)")
    assert changed["train[trial-4]"]["error"].startswith("stopped by median_stopping in job")
    assert changed["train[trial-1]"]["outcome"] == "fresh"
    # Another policy setting: judged from step 3 on, which the trials never report: the
    # stopped trials run to the end, and an unchanged rerun runs nothing.
    repo.pipefile(early(space="{choice: [2, 1, 3.5, 4]}").replace("delay_evaluation: 2", "delay_evaluation: 3"))
    later = run_steps(repo)
    assert later["train[trial-3]"]["outcome"] == "ran" and later["train[trial-4]"]["outcome"] == "ran"
    assert later["train[trial-1]"]["outcome"] == "fresh"
    assert ran(repo.outcomes()) == set()
    # Back to the first policy: trial-4 has a result now, which comes before its old stop.
    repo.pipefile(early(space="{choice: [2, 1, 3.5, 4]}"))
    assert repo.outcomes()["train[trial-4]"] == "fresh"


def test_gc_that_drops_the_job_of_a_stop_drops_the_stop(repo):
    repo.pipefile(early())
    run_steps(repo)
    kept = run_steps(repo, "--force=train[trial-1]")  # job 2 did work: job 1 is the oldest
    assert kept["train[trial-3]"]["error"].startswith("stopped by median_stopping in job 1")
    assert repo.pipe("gc", "--keep-last", "1").code == 0
    # Its evidence is gone with job 1: the trials run, and are judged, again.
    again = run_steps(repo)
    for t in ("train[trial-3]", "train[trial-4]"):
        assert again[t]["error"].startswith("stopped early (median stopping)"), again[t]


def test_median_stopping_works_for_a_random_sweep_too(repo):
    repo.pipefile(early("random", "trials: 4\n          seed: 2", "{uniform: [0, 10]}"))
    r = repo.pipe("run", "--json")
    assert r.code == 0, str(r)
    outcomes = {s["name"]: s["outcome"] for s in r.json["steps"]}
    xs = {n: t["inputs"]["x"] for n, t in shown(repo).items() if n}
    # Each trial is judged against those before it (one runs at a time): stopped exactly
    # when its x is above the median of the earlier trials' x.
    order = [f"train[trial-{k}]" for k in range(1, 5)]
    for k, name in enumerate(order):
        before = sorted(xs[n] for n in order[:k])
        if not before:
            expect = "ran"
        else:
            mid = (before[(len(before) - 1) // 2] + before[len(before) // 2]) / 2
            expect = "stopped" if xs[name] > mid else "ran"
        assert outcomes[name] == expect, (name, xs, outcomes)


def test_the_objective_metric_trials_never_write_names_what_they_wrote(repo):
    text = bayes(trials=2, parallel=2).replace("metric: loss", "metric: accuracy")
    repo.pipefile(text)
    r = repo.pipe("run")
    assert r.code == 2, str(r)
    line = next(i for i, x in enumerate(text.splitlines(), 1) if x.strip().startswith("objective:"))
    assert f"Pipefile:{line}:" in r.err
    assert "the objective metric 'accuracy' of sweep 'train'" in r.err and "(they have: loss)" in r.err
    assert "hint:" in r.err


def test_median_stopping_judges_each_evaluation_step_after_the_delay(tmp_path):
    """The rule itself, on stream files as trials write them: judged at steps >= delay that
    are multiples of the interval, each once, however many points arrived between looks."""
    import json

    from pipefile import spec, stopping
    from pipefile.expand import Group

    e = spec.Expansion(
        spec.EXPAND_SWEEP,
        None,
        search="grid",
        objective_metric="loss",
        objective_goal="minimize",
        early_termination=("median_stopping", 2, 4),
    )
    tasks = ("t[trial-1]", "t[trial-2]", "t[trial-3]")
    group = Group(
        "t",
        spec.EXPAND_SWEEP,
        tasks,
        ("trial-1", "trial-2", "trial-3"),
        ((), (), ()),
        {},
        objective=("loss", "minimize"),
        sweep=e,
    )

    def write(task, values):
        with open(tmp_path / f"{task}.metrics.jsonl", "w") as f:
            for step, v in enumerate(values):
                f.write(json.dumps({"name": "loss", "value": v, "step": step}) + "\n")

    write(tasks[0], [1.0] * 10)
    write(tasks[1], [2.0] * 10)
    judge = stopping.Stopping({"t": group})
    # Worse than the median (1.5) from step 0, but judged only from step 4 on.
    write(tasks[2], [9.0] * 4)
    assert judge.why(tasks[2], str(tmp_path)) is None
    write(tasks[2], [9.0] * 7)  # steps 4, 5, 6 arrived at once: step 4 is judged
    why = judge.why(tasks[2], str(tmp_path))
    assert why and "at step 4" in why and "(1.5)" in why
    # A trial as good as the median is not stopped; nor is one alone.
    write(tasks[2], [1.5] * 10)
    assert stopping.Stopping({"t": group}).why(tasks[2], str(tmp_path)) is None
    assert stopping.Stopping({"t": group}).why(tasks[0], str(tmp_path / "nothing")) is None


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(pytest.main([__file__, "-q", "-n", "0", *sys.argv[1:]]))
