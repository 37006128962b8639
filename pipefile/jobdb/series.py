"""The series steps streamed while they ran, kept once: the `metric_points` and
`step_series` tables of the job database (layout: jobdb/schema.py, revision 2.12).

The job whose step streamed a series (it ran, or was stopped as it ran) keeps its points
under its own id: it is the series' owner. A later job in which that step is fresh,
restored or stayed stopped refers to the owner by one `step_series` row, and gets the last
values as its own metrics, as before; a no-op of a pipeline whose steps streamed 100,000
points no longer copies them (it copied ~5.7 MB into jobs.db each time, and its record was
refused). A reference always names the owner itself, never another reference, so one
lookup finds the points. gc keeps an owner's points while a kept job refers to them
(`drop_unused_series`), even after the owner's own record went.

StreamedSeries holds the queries; JobStore (jobs.py) mixes it in over its connection.
"""

from __future__ import annotations

import sqlite3
from typing import Optional

from .metric_sets import storable

# The steps of a job's own points, and the names of one step's, each found by one probe of
# the primary key (job_id, step, name, seq) past the one before: not every point read.
_STEPS = (
    "WITH RECURSIVE s(step) AS ("
    "SELECT MIN(step) FROM metric_points WHERE job_id = ?1 "
    "UNION ALL SELECT (SELECT MIN(p.step) FROM metric_points p WHERE p.job_id = ?1 AND p.step > s.step) "
    "FROM s WHERE s.step IS NOT NULL) SELECT step FROM s WHERE step IS NOT NULL"
)
_NAMES = (
    "WITH RECURSIVE n(name) AS ("
    "SELECT MIN(name) FROM metric_points WHERE job_id = ?1 AND step = ?2 "
    "UNION ALL SELECT (SELECT MIN(p.name) FROM metric_points p WHERE p.job_id = ?1 AND p.step = ?2 "
    "AND p.name > n.name) FROM n WHERE n.name IS NOT NULL) SELECT name FROM n WHERE name IS NOT NULL"
)
_LAST_POINTS = (
    "WITH RECURSIVE n(name) AS ("
    "SELECT MIN(name) FROM metric_points WHERE job_id = ?1 AND step = ?2 "
    "UNION ALL SELECT (SELECT MIN(p.name) FROM metric_points p WHERE p.job_id = ?1 AND p.step = ?2 "
    "AND p.name > n.name) FROM n WHERE n.name IS NOT NULL) "
    "SELECT n.name, (SELECT p.value FROM metric_points p WHERE p.job_id = ?1 AND p.step = ?2 "
    "AND p.name = n.name ORDER BY p.seq DESC LIMIT 1) FROM n WHERE n.name IS NOT NULL"
)

# The newest job before ?3 in which step ?1 had key ?2 and was fresh or restored: its
# reference to the owner's points, or its copy of them made before 2.12, leads to them (one
# probe of job_steps_by_key for each outcome: not every job of that key).
_KEPT_SERIES = (
    "SELECT MAX(job_id) FROM job_steps WHERE step = ?1 AND key = ?2 AND job_id < ?3 "
    "AND outcome IN ('fresh', 'restored', 'on-remote')"
)


class StreamedSeries:
    """The streamed series of the database `self.db` (set by the class that mixes it in)."""

    db: sqlite3.Connection

    def record_series(self, job_id: int, step: str, series: dict, last: Optional[dict] = None) -> None:
        """{name: [(step, value, time), ...]} step `step` of job `job_id` streamed, kept in
        order under the job's own id, and `last` ({name: value}) as its own metrics, in one
        transaction (row by row, autocommitted, 100,000 points took seconds, and a killed run
        could leave half a series, or a series without the metrics it ends in)."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute("DELETE FROM step_series WHERE job_id=? AND step=?", (job_id, step))
            self.db.execute("DELETE FROM metric_points WHERE job_id=? AND step=?", (job_id, step))
            self.db.executemany(
                "INSERT INTO metric_points(job_id, step, name, seq, x, value, time) VALUES(?,?,?,?,?,?,?)",
                [
                    (job_id, step, storable(name), seq, x, value, stamp)
                    for name, points in series.items()
                    for seq, (x, value, stamp) in enumerate(points)
                ],
            )
            if last:
                self.db.executemany(
                    "INSERT OR REPLACE INTO metrics(job_id, step, name, value) VALUES(?,?,?,?)",
                    [(job_id, step, storable(k), float(v)) for k, v in last.items()],
                )
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def refer_series(self, job_id: int, step: str, owner: int, last: dict) -> None:
        """Step `step` of job `job_id` has the series job `owner` streamed for it (a fresh,
        restored or still stopped step), and `last` ({name: value}) as its own metrics: the
        reference and the values in one transaction, so that a killed run leaves both or
        neither."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute(
                "INSERT OR REPLACE INTO step_series(job_id, step, source_job) VALUES(?,?,?)", (job_id, step, owner)
            )
            self.db.executemany(
                "INSERT OR REPLACE INTO metrics(job_id, step, name, value) VALUES(?,?,?,?)",
                [(job_id, step, storable(k), float(v)) for k, v in last.items()],
            )
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def any_series_before(self, job_id: int) -> bool:
        """Whether any job before `job_id` streamed a series (one step of the primary key):
        where none did, a run's fresh steps need not look for the job that ran each of them."""
        return self.db.execute("SELECT 1 FROM metric_points WHERE job_id<? LIMIT 1", (job_id,)).fetchone() is not None

    def series_owner(self, step: str, key: str, before: int, outcome: str = "ran") -> Optional[int]:
        """The job whose points hold what `step` streamed in the newest earlier job that ran it
        with `key` (outcome "stopped": that stopped it, or where it stayed stopped, and so
        refers to the job that did); None if that job has no series of the step."""
        row = self.db.execute(
            "SELECT MAX(job_id) FROM job_steps WHERE step=? AND key=? AND outcome=? AND job_id<?",
            (step, key, outcome, before),
        ).fetchone()
        if (not row or row[0] is None) and outcome == "ran":
            # The job that ran it is gone (gc --keep-last), its points kept for a kept job that
            # refers to them (or holds a copy, before 2.12): that job leads to them. (Without
            # this a no-op after the gc lost the step's series and its last values.)
            row = self.db.execute(_KEPT_SERIES, (step, key, before)).fetchone()
        if not row or row[0] is None:
            return None
        return self._owner(row[0], step)

    def _owner(self, job_id: int, step: str) -> Optional[int]:
        ref = self.db.execute("SELECT source_job FROM step_series WHERE job_id=? AND step=?", (job_id, step)).fetchone()
        owner = job_id if ref is None else ref[0]
        # (the primary key leads with job_id, step: one probe)
        has = self.db.execute("SELECT 1 FROM metric_points WHERE job_id=? AND step=? LIMIT 1", (owner, step)).fetchone()
        return owner if has is not None else None

    def series_of_step(self, owner: int, step: str) -> dict:
        """{name: points} that `step` of job `owner` streamed (its own points)."""
        out: dict = {}
        # This step's points only (the primary key leads with job_id, step): not the whole
        # job's, read again for each of its steps.
        for name, x, value, stamp in self.db.execute(
            "SELECT name, x, value, time FROM metric_points WHERE job_id=? AND step=? ORDER BY name, seq",
            (owner, step),
        ):
            out.setdefault(name, []).append((x, value, stamp))
        return out

    def last_points(self, owner: int, step: str) -> dict:
        """{name: last value} of each series `step` of job `owner` streamed, without reading
        the points before: each name found by one probe of the primary key (job_id, step,
        name, seq) past the one before, its last point by one more (a GROUP BY read every
        point: ~11 ms a step of 100,000, in every no-op that refers to it)."""
        rows = self.db.execute(_LAST_POINTS, (owner, step))
        return {name: value for name, value in rows}

    def series_of_key(self, step: str, key: str, before: int, outcome: str = "ran") -> dict:
        """{name: points} that `step` streamed in the newest earlier job that ran it with `key`
        (outcome "stopped": that stopped it, or where it stayed stopped, that curve)."""
        owner = self.series_owner(step, key, before, outcome)
        return {} if owner is None else self.series_of_step(owner, step)

    def series(self, job_id: int) -> dict:
        """{"STEP.NAME": [(step, value, time), ...]} of every series the job's steps streamed
        or got from the job that streamed them, in step and name order. A step with a
        reference reads the owner's points (a copy made before 2.12 stays its own)."""
        refs = dict(self.db.execute("SELECT step, source_job FROM step_series WHERE job_id=?", (job_id,)))
        parts: dict = {}
        for step, name, x, value, stamp in self.db.execute(
            "SELECT step, name, x, value, time FROM metric_points WHERE job_id=? ORDER BY step, name, seq",
            (job_id,),
        ):
            if step not in refs:
                parts.setdefault((step, name), []).append((x, value, stamp))
        for step, owner in refs.items():
            for name, points in self.series_of_step(owner, step).items():
                parts[(step, name)] = points
        return self._by_full_name(parts)

    @staticmethod
    def _by_full_name(parts: dict) -> dict:
        # (sorted as SQLite sorts the text: UTF-8 keeps the order of code points; a STEP.NAME
        # two (step, name) pairs spell is their points one after the other, as it always was)
        out: dict = {}
        for step, name in sorted(parts):
            out.setdefault(f"{step}.{name}", []).extend(parts[(step, name)])
        return out

    def series_names(self, job_id: int) -> dict:
        """{"STEP.NAME": [(step, name), ...]} of the job's series, without reading a point:
        what `pipe metrics curve` resolves a name among before it reads the one it shows."""
        refs = dict(self.db.execute("SELECT step, source_job FROM step_series WHERE job_id=?", (job_id,)))
        owners = {step: job_id for (step,) in self.db.execute(_STEPS, (job_id,)) if step not in refs}
        owners.update(refs)
        pairs = [(step, name) for step, owner in owners.items() for (name,) in self.db.execute(_NAMES, (owner, step))]
        out: dict = {}
        for step, name in sorted(pairs):
            out.setdefault(f"{step}.{name}", []).append((step, name))
        return out

    def series_points(self, job_id: int, pairs: list) -> list:
        """The points of the series `pairs` (an entry of series_names) of job `job_id`."""
        points: list = []
        for step, name in pairs:
            ref = self.db.execute(
                "SELECT source_job FROM step_series WHERE job_id=? AND step=?", (job_id, step)
            ).fetchone()
            points.extend(
                self.db.execute(
                    "SELECT x, value, time FROM metric_points WHERE job_id=? AND step=? AND name=? ORDER BY seq",
                    (job_id if ref is None else ref[0], step, name),
                ).fetchall()
            )
        return points

    def drop_series_of(self, job_ids: list) -> None:
        """Inside the caller's transaction, as gc deletes the jobs `job_ids`: their references,
        and the points no job refers to any more: theirs, unless a kept job refers to them
        (those stay, under the deleted owner's id, until the last such job goes), and the
        points of owners deleted before that only these jobs still referred to."""
        held: set = set()
        for job_id in job_ids:
            held.update(
                self.db.execute("SELECT source_job, step FROM step_series WHERE job_id=?", (job_id,)).fetchall()
            )
            held.update(
                (job_id, s)
                for (s,) in self.db.execute("SELECT DISTINCT step FROM metric_points WHERE job_id=?", (job_id,))
            )
        self.db.executemany("DELETE FROM step_series WHERE job_id=?", [(i,) for i in job_ids])
        gone = set(job_ids)
        for owner, step in sorted(held):
            if owner not in gone and self.db.execute("SELECT 1 FROM jobs WHERE id=?", (owner,)).fetchone():
                continue  # (a kept job's own points)
            if self.db.execute(
                "SELECT 1 FROM step_series WHERE source_job=? AND step=? LIMIT 1", (owner, step)
            ).fetchone():
                continue  # a kept job refers to them
            self.db.execute("DELETE FROM metric_points WHERE job_id=? AND step=?", (owner, step))
