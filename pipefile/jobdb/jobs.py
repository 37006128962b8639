"""JobStore: every `pipe run` as a job, its steps and metrics, in `.pipe/jobs.db`
(layout and migrations: jobdb/schema.py). Artifact versions are answered by the same
store (jobdb/artifacts.py, mixed in); the server's records by a ServeStore over it
(jobdb/serving.py), which this module never imports.

A job left `running` by a process that no longer exists reads as `interrupted`.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from typing import Optional

from .. import lazyre, names
from ..errors import PipefileError, did_you_mean
from ..outcomes import JobStatus
from . import schema
from .artifacts import MAX_ID, ArtifactIndex
from .busy import connect_read_only, opened, while_database_busy
from .metric_sets import METRICS_OF_JOB, MetricSets, storable
from .records import Job, JobStep, job_from_row, step_from_row
from .series import StreamedSeries
from .stops import TrialStops

_SORTED_JSON = json.JSONEncoder(sort_keys=True)  # what json.dumps(x, sort_keys=True) writes
_NUMBER = lazyre.Pattern(r"[0-9]+")


class JobStore(ArtifactIndex, TrialStops, MetricSets, StreamedSeries):
    def __init__(self, path: str, create: bool = True, read_only: bool = False):
        """read_only: `path` may not be written (a read-only mount): it is read as it is, and one
        of an older layout is read from a copy in memory, brought up to date there."""
        self.path = path
        if not create and not os.path.exists(path):
            self.db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        elif read_only:
            opened(path)
            self.db = connect_read_only(path)
            if schema.is_current(self.db):
                return
            copy = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            self.db.backup(copy)
            self.db.close()
            self.db = copy
        else:
            self.db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
            opened(path)  # (named if SQLite later finds it damaged or locked)
        # another pipe may be creating or migrating it
        while_database_busy(lambda: schema.prepare(self.db, self.path))

    def close(self) -> None:
        self.db.close()

    # --- writing ------------------------------------------------------------------------
    def begin(
        self,
        experiment: str,
        pipefile: str,
        pipefile_digest: str,
        code: dict,
        params: dict,
        targets: list,
        argv: list,
        git_commit: Optional[str],
        git_dirty: Optional[bool],
        user: str,
        cloned_from: Optional[int] = None,
        job_id: Optional[int] = None,
    ) -> Job:
        """A new running job; or, with `job_id`, a queued (served) job that starts now."""
        now = time.time()
        # The row's values, in the column order both statements below name them.
        values = (
            experiment,
            JobStatus.RUNNING,
            now,
            user,
            os.getpid(),
            git_commit,
            None if git_dirty is None else int(git_dirty),
            pipefile,
            pipefile_digest,
            json.dumps(code, sort_keys=True),
            json.dumps(params, sort_keys=True),
            json.dumps(list(targets)),
            json.dumps(list(argv)),
            cloned_from,
        )
        if job_id is not None:
            self.db.execute(
                "UPDATE jobs SET experiment=?, status=?, started=?, user=?, pid=?, git_commit=?, git_dirty=?, "
                "pipefile=?, pipefile_digest=?, code=?, params=?, targets=?, argv=?, cloned_from=? WHERE id=?",
                (*values, job_id),
            )
            return self.get(job_id)
        cur = self.db.execute(
            "INSERT INTO jobs(uid, experiment, status, started, user, pid, git_commit, git_dirty, pipefile, "
            "pipefile_digest, code, params, targets, argv, cloned_from) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (os.urandom(4).hex(), *values),
        )
        return self.get(cur.lastrowid)

    def record_step(self, s: JobStep) -> None:
        self.record_steps([s])

    def record_steps(self, steps: list) -> None:
        """Several rows in one transaction (one commit, not one per row)."""
        encode = _SORTED_JSON.encode  # one encoder for every row: json.dumps makes one per call
        rows = [
            (
                s.job_id,
                s.step,
                s.outcome,
                s.key,
                s.env,
                s.command,
                encode(s.inputs),
                encode(s.outputs),
                s.seconds,
                s.exit_code,
                s.log,
                s.error,
                s.finished,
                s.environment,
                json.dumps(list(s.gpus)) if s.gpus else None,
                s.gpu_model,
                encode(s.worker) if s.worker else None,
            )
            for s in steps
        ]
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.executemany(
                "INSERT OR REPLACE INTO job_steps(job_id, step, outcome, key, env, command, inputs, outputs, "
                "seconds, exit_code, log, error, finished, environment, gpus, gpu_model, worker) "
                "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                rows,
            )
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def finish(self, job_id: int, status: str) -> None:
        """End the job; one in which no step ran, was restored or failed is marked a no-op."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute("UPDATE jobs SET status=?, ended=? WHERE id=?", (status, time.time(), job_id))
            self.db.execute(schema.MARK_NOOP, (job_id,))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def cut_off(self, job_ids: list) -> None:
        """The jobs of runs killed meanwhile (their pipe died: kill -9, a crash) are interrupted,
        if they still read as running; a served job's is the server's to say."""
        if job_ids:
            self.db.executemany(
                "UPDATE jobs SET status=? WHERE id=? AND status=? AND state IS NULL",
                [(JobStatus.INTERRUPTED, i, JobStatus.RUNNING) for i in job_ids],
            )

    def record_metrics(self, job_id: int, step: str, values: dict) -> None:
        """Values of the job's own (a streamed series' last value): a metrics file's are a
        set (record_metric_set)."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.executemany(
                "INSERT OR REPLACE INTO metrics(job_id, step, name, value) VALUES(?,?,?,?)",
                [(job_id, step, storable(k), float(v)) for k, v in values.items()],
            )
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    # --- reading ------------------------------------------------------------------------
    def _job(self, row, noop: Optional[set] = None) -> Job:
        job = job_from_row(row, self.path)
        if noop is None:
            job.noop = self.db.execute("SELECT 1 FROM noop_jobs WHERE job_id=?", (job.id,)).fetchone() is not None
        else:
            job.noop = job.id in noop
        return job

    def get(self, job_id: int) -> Job:
        row = self.db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
        if row is None:
            raise PipefileError(f"no job {job_id}", hint="`pipe jobs` lists the jobs")
        return self._job(row)

    def jobs(
        self,
        experiment: Optional[str] = None,
        status: Optional[str] = None,
        limit: int = 0,
        work_only: bool = False,
        before: Optional[int] = None,
        problems: Optional[list] = None,
    ) -> list:
        """Newest first; work_only: without the jobs in which nothing ran or was restored;
        before: only jobs older than that id; problems: a damaged record (a JSON column cut
        short or edited by hand) is listed with what could be read, its error added there
        (without, it is the error). Filtered by SQLite and read only up to `limit`:
        reading every job of a long history whole (twice for `pipe jobs`) took 0.7 s and
        140 MB for 5,000 jobs, growing with the history however few were shown."""
        where, args = self._job_filter(experiment, status, before)
        if work_only:
            where.append("n.job_id IS NULL")
        rows = self.db.execute(
            "SELECT j.*, n.job_id IS NOT NULL FROM jobs j LEFT JOIN noop_jobs n ON n.job_id = j.id"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY j.id DESC",
            args,
        )
        out = []
        try:
            for r in rows:
                job = job_from_row(r, self.path, problems)
                job.noop = bool(r[-1])
                if status is not None and job.status != status:
                    continue  # (a running row whose process is gone reads interrupted)
                out.append(job)
                if limit and len(out) >= limit:
                    break
        finally:
            rows.close()  # (a statement left unfinished would keep its read open)
        return out

    @staticmethod
    def _job_filter(experiment: Optional[str], status: Optional[str], before: Optional[int]) -> tuple:
        """(SQL conditions on `jobs j`, their values) for jobs() and count_noop()."""
        where: list = []
        args: list = []
        if experiment is not None:
            where.append("COALESCE(j.experiment, '') = ?")
            args.append(experiment)
        if status is not None:
            # A running job whose process is gone reads interrupted: its row still says running.
            where.append("j.status IN (?, ?)" if status == JobStatus.INTERRUPTED else "j.status = ?")
            args.extend([status, JobStatus.RUNNING] if status == JobStatus.INTERRUPTED else [status])
        if before is not None:
            where.append("j.id < ?")
            args.append(min(before, MAX_ID))
        return where, args

    def count_noop(self, experiment: Optional[str] = None, status: Optional[str] = None) -> int:
        """How many jobs jobs(experiment, status) lists that did no work (`pipe jobs` hides them)."""
        where, args = self._job_filter(experiment, status, None)
        return self.db.execute(
            "SELECT COUNT(*) FROM jobs j JOIN noop_jobs n ON n.job_id = j.id"
            + (" WHERE " + " AND ".join(where) if where else ""),
            args,
        ).fetchone()[0]

    def experiments(self) -> list:
        """Every experiment a job was recorded in, sorted."""
        return [
            r[0]
            for r in self.db.execute("SELECT DISTINCT experiment FROM jobs WHERE experiment IS NOT NULL ORDER BY 1")
        ]

    def noop_ids(self) -> set:
        """The ids of the jobs in which nothing ran, was restored or failed."""
        return {r[0] for r in self.db.execute("SELECT job_id FROM noop_jobs")}

    def last_with_work(self, before: Optional[int] = None, pipefile: Optional[str] = None) -> Optional[Job]:
        """The newest job (before job `before`; of the Pipefile `pipefile`, as jobs record it,
        if given) that ran, restored or failed something."""
        row = self.db.execute(
            "SELECT * FROM jobs WHERE id NOT IN (SELECT job_id FROM noop_jobs) AND id < ? "
            + ("AND pipefile = ? " if pipefile is not None else "")
            + "ORDER BY id DESC LIMIT 1",
            (MAX_ID if before is None else before,) + ((pipefile,) if pipefile is not None else ()),
        ).fetchone()
        return self._job(row) if row else None

    def resolve(self, ref: str) -> Job:
        """A job from an id, a unique prefix of its uid, `last` or `last~N`."""
        ref = ref.strip()
        if not ref:  # (as a uid prefix, '' matched every job: the only one was taken without a word)
            raise PipefileError(
                "no job given (JOB is empty)", hint="name a job by its id, a prefix of its uid, or last"
            )
        if ref == "last" or ref.startswith("last~"):
            # ASCII digits only ('²'.isdigit() is true, int('²') fails), and no more than SQLite's
            # integers hold: a larger N is simply further back than any job.
            back = int(ref[5:] or 0) if _NUMBER.fullmatch(ref[5:]) or not ref[5:] else None
            if back is None:
                raise PipefileError(f"'{ref}' is not a job", hint="write last, or last~N for the N-th before it")
            row = (
                None
                if back > MAX_ID
                else self.db.execute("SELECT * FROM jobs ORDER BY id DESC LIMIT 1 OFFSET ?", (back,)).fetchone()
            )
            if row is None:
                raise PipefileError(
                    "there is no such job yet" if back else "no job has run in this workspace yet",
                    hint="run `pipe run` first" if not back else "`pipe jobs` lists the jobs",
                )
            return self._job(row)
        number = bool(_NUMBER.fullmatch(ref))
        if number and int(ref) <= MAX_ID:
            row = self.db.execute("SELECT * FROM jobs WHERE id=?", (int(ref),)).fetchone()
            if row is not None:
                return self._job(row)
        # A short number is a job id, never a uid prefix: "7" must not find uid 7f3a...
        short_number = number and len(ref) < 4
        rows = (
            []
            if short_number or not ref.isascii()  # (uids are hex; one not UTF-8 cannot go to SQLite)
            else self.db.execute("SELECT * FROM jobs WHERE uid LIKE ?", (ref.lower() + "%",)).fetchall()
        )
        if len(rows) == 1:
            return self._job(rows[0])
        if len(rows) > 1:
            ids = ", ".join(str(r[0]) for r in rows[:8])
            raise PipefileError(f"'{ref}' matches several jobs ({ids})", hint="give more characters, or the id")
        # A close id for a number, a close uid otherwise: one list of both, sorted as text
        # ('10' before '2', ids among uids), read as nothing a user could act on. A number of 4
        # digits or more may be a uid (one in forty is all digits): its close uid first.
        close = None
        for column in ("uid", "id") if number and not short_number else ("id",) if number else ("uid",):
            known = [str(r[0]) for r in self.db.execute(f"SELECT {column} FROM jobs ORDER BY id DESC LIMIT 50")]
            close = did_you_mean(ref, known)
            if close and close.startswith("did you mean"):
                break
        low, high = self.db.execute("SELECT MIN(id), MAX(id) FROM jobs").fetchone()
        span = (
            "no job has run in this workspace yet"
            if low is None
            else f"the only job here is {low}"
            if low == high
            else f"the jobs here are {low} to {high}"
        )
        raise PipefileError(
            f"no job '{names.shown(ref)}'",
            hint=(close + "; " if close and close.startswith("did you mean") else "")
            + f"{span}: name one by its id, a prefix of its uid, last or last~N (`pipe jobs --all` lists them)",
        )

    def steps(self, job_id: int) -> list:
        rows = self.db.execute("SELECT * FROM job_steps WHERE job_id=? ORDER BY finished, step", (job_id,))
        return [self._job_step(r) for r in rows]

    def outcome_counts(self, job_id: int) -> dict:
        return dict(
            self.db.execute(
                "SELECT outcome, COUNT(*) FROM job_steps WHERE job_id=? GROUP BY outcome", (job_id,)
            ).fetchall()
        )

    def metrics(self, job_id: int) -> dict:
        """{"STEP.NAME": value} of the job, sorted by step and name."""
        rows = self.db.execute(METRICS_OF_JOB, (job_id,))
        return {f"{step}.{name}" if step else name: value for step, name, value in rows}

    def _job_step(self, r) -> JobStep:
        return step_from_row(r, self.path)

    def step_record(self, job_id: int, step: str) -> Optional[JobStep]:
        """One step of one job, or None if it was not recorded."""
        row = self.db.execute("SELECT * FROM job_steps WHERE job_id=? AND step=?", (job_id, step)).fetchone()
        return self._job_step(row) if row else None

    def steps_with_output(
        self, digest: Optional[str] = None, path: Optional[str] = None, jobs: Optional[tuple] = None
    ) -> list:
        """Recorded steps with an output of this content and/or at this path, newest job first;
        `jobs`: only those of job ids from jobs[0] up to (not including) jobs[1]."""
        # instr, not LIKE: LIKE folds case and reads '_' and '%' in a path as wildcards (the
        # rows are checked below all the same), and took twice as long over every step row.
        clauses, args = [], []
        if digest:
            clauses.append("instr(outputs, ?) > 0")
            args.append(f'"{digest}"')
        if path:
            clauses.append("instr(outputs, ?) > 0")
            args.append(json.dumps(path))
        if jobs is not None:
            clauses.append("job_id >= ? AND job_id < ?")
            args.extend(jobs)
        q = (
            "SELECT * FROM job_steps"
            + (" WHERE " + " AND ".join(clauses) if clauses else "")
            + " ORDER BY job_id DESC, finished DESC"
        )
        out = []
        for r in self.db.execute(q, args):
            s = self._job_step(r)
            if any(
                (not digest or o.get("digest") == digest) and (not path or o.get("path") == path)
                for o in s.outputs.values()
            ):
                out.append(s)
        return out

    def newest_step_with_output(self, digest: Optional[str] = None, path: Optional[str] = None) -> Optional[JobStep]:
        """The first of steps_with_output(digest, path), looked for among the newest jobs first
        (64 of them, then 16 times as many each time): what lineage asks is most often made in
        a recent job, and every step row of a long history (a million) took a second to read."""
        # (two queries: each is one probe of the primary key; MIN and MAX in one read every row)
        high = self.db.execute("SELECT MAX(job_id) FROM job_steps").fetchone()[0]
        if high is None:
            return None
        low = self.db.execute("SELECT MIN(job_id) FROM job_steps").fetchone()[0]
        top, span = high + 1, 64
        while True:
            bottom = max(low, top - span)
            found = self.steps_with_output(digest, path, (bottom, top))
            if found or bottom <= low:
                return found[0] if found else None
            top, span = bottom, span * 16

    def output_paths(self) -> list:
        """Every output path any recorded step wrote, sorted (for did-you-mean hints)."""
        try:  # SQLite reads the JSON: 20,000 jobs' rows parsed in Python took 1.5 s of a hint
            rows = self.db.execute(
                "SELECT DISTINCT e.value ->> 'path' FROM job_steps, json_each(job_steps.outputs) e "
                "WHERE e.type = 'object' AND json_type(e.value, '$.path') = 'text'"
            )
            return sorted(p for (p,) in rows if p)
        except sqlite3.OperationalError:  # an SQLite without JSON, a record that is no JSON: as before
            pass
        paths: set = set()
        for (outputs,) in self.db.execute("SELECT DISTINCT outputs FROM job_steps"):
            for o in json.loads(outputs or "{}").values():
                if o.get("path"):
                    paths.add(o["path"])
        return sorted(paths)

    def steps_with_key(self, key: str, step: Optional[str] = None, outcome: Optional[str] = None) -> list:
        """Recorded steps with this step key (the same definition and inputs), newest job first;
        only those of step `step` that ended `outcome`, if given: then one range of the index
        job_steps_by_key, not every step row (lineage asks it of each fresh or restored step)."""
        if step is not None and outcome is not None:
            rows = self.db.execute(
                "SELECT * FROM job_steps WHERE step=? AND key=? AND outcome=? ORDER BY job_id DESC, finished DESC",
                (step, key, outcome),
            )
        else:
            rows = self.db.execute("SELECT * FROM job_steps WHERE key=? ORDER BY job_id DESC, finished DESC", (key,))
        return [self._job_step(r) for r in rows if step is None or r[1] == step]

    def step_keys(self) -> list:
        """The step key of every step any job ran or restored (what `pipe push --all-jobs` sends)."""
        rows = self.db.execute(
            "SELECT DISTINCT key FROM job_steps WHERE key IS NOT NULL AND outcome IN "
            "('ran', 'restored', 'fresh') ORDER BY key"
        )
        return [r[0] for r in rows]
