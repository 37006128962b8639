"""A step's metrics files, kept once per content: the `metric_sets`, `metric_values` and
`step_metrics` tables of the job database (layout: jobdb/schema.py).

A metrics file is named by metrics_files.set_digest (its path and the content of the
output it is in). The first job that records that content reads the file and keeps its
values as a set; every job of the step (a no-op's fresh step included) then refers to the
set by one `step_metrics` row, so a file of 200,000 values is neither read nor copied again
while its content stays. MetricSets holds the queries; JobStore (jobs.py) mixes it in over
its connection and reads a job's metrics through `METRICS_OF_JOB`.
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Optional, Sequence

# A job's metrics: its steps' sets, in the order of their files, and the job's own values
# (streamed series' last values; every value of a job recorded before revision 2.11).
# Ordered by step and name, then precedence: a set's value wins over a job's own (a
# metrics file names the metric the stream also named), a later file's over an earlier's.
METRICS_OF_JOB = (
    "SELECT step, name, value FROM ("
    "SELECT r.step AS step, v.name AS name, v.value AS value, r.seq AS o FROM step_metrics r "
    "JOIN metric_values v ON v.digest = r.digest WHERE r.job_id = ?1 "
    "UNION ALL SELECT step, name, value, -1 FROM metrics WHERE job_id = ?1) ORDER BY step, name, o"
)


_FEW_JOBS = 64  # metric_of_jobs looks each of this many jobs up by key; more, by one pass of each split


class MetricSets:
    """The kept metrics files of the database `self.db` (set by the class that mixes it in)."""

    db: sqlite3.Connection

    def metric_set(self, digest: str) -> Optional[tuple]:
        """(first skipped names, how many were skipped) of the kept set `digest`; None if no
        set of that content is kept."""
        row = self.db.execute("SELECT skipped FROM metric_sets WHERE digest=?", (digest,)).fetchone()
        if row is None:
            return None
        try:
            names, count = json.loads(row[0]) if row[0] else ([], 0)
            return list(names), int(count)
        except (ValueError, TypeError):
            return [], 0

    def record_metric_set(
        self, job_id: int, step: str, seq: int, digest: str, values: Optional[dict], skipped: Sequence = ()
    ) -> None:
        """Step `step` of job `job_id` recorded its `seq`-th metrics file, of content `digest`:
        its values kept as a set unless they are already (`values` None: known kept), and the
        job's reference to it, in one transaction."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            if values is not None:
                rows = [(digest, storable(k), float(v)) for k, v in values.items()]
                new = self.db.execute(
                    "INSERT OR IGNORE INTO metric_sets(digest, skipped, created) VALUES(?,?,?)",
                    (digest, json.dumps([list(skipped[:5]), len(skipped)]), time.time()),
                ).rowcount
                if new:
                    self.db.executemany("INSERT OR REPLACE INTO metric_values(digest, name, value) VALUES(?,?,?)", rows)
            self.db.execute(
                "INSERT OR REPLACE INTO step_metrics(job_id, step, seq, digest) VALUES(?,?,?,?)",
                (job_id, step, seq, digest),
            )
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def drop_unused_metric_sets(self) -> None:
        """Delete the sets no job refers to any more (gc dropped the jobs that did), inside
        the caller's transaction."""
        for table in ("metric_values", "metric_sets"):
            self.db.execute(f"DELETE FROM {table} WHERE digest NOT IN (SELECT digest FROM step_metrics)")

    def metric_names(self, job_ids: list) -> set:
        """Every "STEP.NAME" the jobs `job_ids` recorded: each kept set read once, however
        many jobs refer to it (`pipe metrics history` resolves a name among them)."""
        refs: set = set()
        names: set = set()
        if len(job_ids) > _FEW_JOBS:  # (a statement per table and chunk of ids: not two per job)
            for chunk, marks in _chunks(job_ids):
                refs.update(self.db.execute(f"SELECT step, digest FROM step_metrics WHERE job_id IN ({marks})", chunk))
                rows = self.db.execute(f"SELECT step, name FROM metrics WHERE job_id IN ({marks})", chunk)
                names.update(_full(s, n) for s, n in rows)
            job_ids = []
        for job_id in job_ids:
            refs.update(self.db.execute("SELECT step, digest FROM step_metrics WHERE job_id=?", (job_id,)))
            names.update(
                _full(s, n) for s, n in self.db.execute("SELECT step, name FROM metrics WHERE job_id=?", (job_id,))
            )
        for step, digest in refs:
            names.update(
                _full(step, n) for (n,) in self.db.execute("SELECT name FROM metric_values WHERE digest=?", (digest,))
            )
        return names

    def metric_of_jobs(self, job_ids: list, full: str) -> dict:
        """{job id: value} of the metric `full` ("STEP.NAME") for those of `job_ids` that
        recorded it, as metrics() shows it: looked up by key, not every value of every job
        read (a history over jobs of 200,000 metrics each held them all in memory)."""
        # Each split of `full` at a dot is a (step, name) it may be (a name holds dots).
        splits = [("", full)] + [(full[:i], full[i + 1 :]) for i, c in enumerate(full) if c == "."]
        if len(job_ids) > _FEW_JOBS:
            return self._metric_of_many(list(dict.fromkeys(job_ids)), splits)
        out = {}
        for job_id in job_ids:
            found = []  # (step, name, precedence, value), sorted as METRICS_OF_JOB orders them
            for step, name in splits:
                row = self.db.execute(
                    "SELECT value FROM metrics WHERE job_id=? AND step=? AND name=?", (job_id, step, name)
                ).fetchone()
                if row is not None:
                    found.append((step, name, -1, row[0]))
                found.extend(
                    (step, name, seq, value)
                    for seq, value in self.db.execute(
                        "SELECT r.seq, v.value FROM step_metrics r JOIN metric_values v "
                        "ON v.digest = r.digest AND v.name = ?3 WHERE r.job_id = ?1 AND r.step = ?2",
                        (job_id, step, name),
                    )
                )
            if found:
                out[job_id] = max(found)[3]
        return out

    def _metric_of_many(self, job_ids: list, splits: list) -> dict:
        """metric_of_jobs for many jobs: each (step, name) asked of a chunk of jobs at a time
        (by the keys, as one job's), not twice per job and split (a history of 5,000 jobs made
        20,000 statements and took a second, growing with the history)."""
        found: dict = {}  # job id -> [(step, name, precedence, value)], as metric_of_jobs sorts them
        for chunk, marks in _chunks(job_ids):
            for step, name in splits:
                rows = self.db.execute(
                    f"SELECT job_id, value FROM metrics WHERE job_id IN ({marks}) AND step=? AND name=?",
                    (*chunk, step, name),
                )
                for job_id, value in rows:
                    found.setdefault(job_id, []).append((step, name, -1, value))
                rows = self.db.execute(
                    "SELECT r.job_id, r.seq, v.value FROM step_metrics r JOIN metric_values v "
                    f"ON v.digest = r.digest AND v.name = ? WHERE r.job_id IN ({marks}) AND r.step = ?",
                    (name, *chunk, step),
                )
                for job_id, seq, value in rows:
                    found.setdefault(job_id, []).append((step, name, seq, value))
        return {job_id: max(values)[3] for job_id, values in found.items()}

    def metric_names_of_step(self, job_id: int, step: str) -> set:
        """The names step `step` of job `job_id` has recorded so far (its metrics files')."""
        rows = self.db.execute(
            "SELECT v.name FROM step_metrics r JOIN metric_values v ON v.digest = r.digest "
            "WHERE r.job_id=?1 AND r.step=?2 UNION SELECT name FROM metrics WHERE job_id=?1 AND step=?2",
            (job_id, step),
        )
        return {r[0] for r in rows}


def _chunks(job_ids: list, size: int = 500):
    """(ids, "?,?,...") of up to `size` of `job_ids` at a time: an IN list SQLite reads by the
    key, within its limit on the values of one statement."""
    for i in range(0, len(job_ids), size):
        chunk = tuple(job_ids[i : i + size])
        yield chunk, ",".join("?" * len(chunk))


def _full(step: str, name: str) -> str:
    return f"{step}.{name}" if step else name


def storable(name: str) -> str:
    """A metric name as SQLite can store it: a name the step wrote with a lone surrogate
    (JSON's "\\ud800", which no UTF-8 holds) spelled with that escape, as the file spells
    it, rather than failing the run's record (it did: an internal error, exit 70)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return name.encode("utf-8", "backslashreplace").decode("utf-8")
    return name
