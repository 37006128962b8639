"""History that stays useful, through the real CLI: a job in which nothing ran or was
restored is kept but marked; `pipe jobs` hides it (and says how many it hid), `--all`
shows it; `metrics history` and `gc --keep-last` count only jobs that did work; `pipe logs
last` after a no-op shows the last job that ran something. Older databases get the mark
when they are opened."""

from __future__ import annotations

import sqlite3

PIPEFILE = """
version: 1
params:
  lr: 0.1
steps:
  train:
    command: python train.py ${{params.lr}} ${{outputs.scores}}
    outputs: {scores: build/scores.json}
    metrics: [build/scores.json]
"""
TRAIN = """
import json, sys
print("training at", sys.argv[1])
json.dump({"acc": float(sys.argv[1]) * 2}, open(sys.argv[2], "w"))
"""


def history(repo) -> list:
    """(the jobs of `pipe jobs --json`, how many it hid)"""
    r = repo.pipe("jobs", "--json")
    assert r.code == 0, str(r)
    return [j["id"] for j in r.json["jobs"]], r.json["hidden"]


def two_trainings_and_no_ops(repo) -> None:
    """Jobs 1 (lr 0.1, ran), 2 and 3 (no-ops), 4 (lr 0.2, ran), 5 (no-op)."""
    repo.pipefile(PIPEFILE)
    repo.write("train.py", TRAIN)
    assert repo.outcomes() == {"train": "ran"}
    assert repo.outcomes() == {"train": "fresh"}
    assert repo.outcomes() == {"train": "fresh"}
    assert repo.outcomes("-p", "lr=0.2") == {"train": "ran"}
    assert repo.outcomes("-p", "lr=0.2") == {"train": "fresh"}


def test_no_op_jobs_are_kept_marked_and_hidden_by_default(repo):
    two_trainings_and_no_ops(repo)
    assert history(repo) == ([4, 1], 3)
    r = repo.pipe("jobs")
    assert r.code == 0 and "3 jobs in which nothing ran or was restored are hidden" in r.err, str(r)
    assert "--all" in r.err
    r = repo.pipe("jobs", "--all", "--json")
    assert [(j["id"], j["noop"]) for j in r.json["jobs"]] == [(5, True), (4, False), (3, True), (2, True), (1, False)]
    assert r.json["hidden"] == 0
    # A no-op job is still a job: shown, resolved, its steps recorded.
    r = repo.pipe("jobs", "show", "5", "--json")
    assert r.code == 0 and r.json["noop"] is True and r.json["steps"][0]["outcome"] == "fresh"
    # A restore is work: a job that restored an output is shown.
    (repo.root / "build" / "scores.json").unlink()
    assert repo.outcomes("-p", "lr=0.2") == {"train": "restored"}
    assert history(repo) == ([6, 4, 1], 3)


def test_metrics_history_and_gc_keep_last_count_only_jobs_that_did_work(repo):
    two_trainings_and_no_ops(repo)
    r = repo.pipe("metrics", "history", "acc", "--json")
    assert r.code == 0, str(r)
    assert [p["id"] for p in r.json["jobs"]] == [1, 4], r.out
    r = repo.pipe("gc", "--keep-last", "2", "--json")
    assert r.code == 0, str(r)
    r = repo.pipe("jobs", "--all", "--json")
    # Both trainings stay; the no-ops after the oldest kept one stay too (they cost nothing).
    assert [j["id"] for j in r.json["jobs"]] == [5, 4, 3, 2, 1]
    r = repo.pipe("gc", "--keep-last", "1", "--json")
    assert r.code == 0, str(r)
    r = repo.pipe("jobs", "--all", "--json")
    assert [j["id"] for j in r.json["jobs"]] == [5, 4]
    # --help says what N counts, as the docs do.
    assert "last N jobs that did work" in " ".join(repo.pipe("gc", "--help").out.split())


def test_logs_last_after_a_no_op_shows_the_last_job_that_ran_something(repo):
    two_trainings_and_no_ops(repo)
    r = repo.pipe("logs", "last")
    assert r.code == 0 and "training at 0.2" in r.out, str(r)
    assert "the last job (5) ran nothing" in r.err and "showing job 4" in r.err, str(r)
    r = repo.pipe("logs", "3")
    assert r.code == 0 and "training" not in r.out, str(r)
    assert "job 3 ran nothing" in r.err and "pipe logs 1" in r.err, str(r)


def test_an_older_database_gets_the_no_op_marks_when_opened(repo):
    two_trainings_and_no_ops(repo)
    db = sqlite3.connect(repo.root / ".pipe" / "jobs.db")
    db.execute("DROP TABLE noop_jobs")
    db.execute("UPDATE meta SET v='2.4' WHERE k='schema_revision'")
    db.commit()
    db.close()
    assert history(repo) == ([4, 1], 3)
