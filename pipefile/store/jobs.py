"""JobStore: every `pipe run` as a pipeline job, its steps, artifact versions and metrics.

One SQLite database, `.pipe/jobs.db` (JOBS_VERSION 2), in WAL mode:

    meta(k, v)                 holds jobs_version
    jobs(id, uid, experiment, status, started, ended, user, pid, git_commit, git_dirty,
         pipefile, pipefile_digest, code, params, targets, argv, cloned_from,
         state, endpoint, deployment, deployment_digest, token_id, request,
         request_digest, idempotency_key, error, queued)
                               one row per run; status running -> succeeded | failed |
                               interrupted (a served job: queued first, canceled too);
                               code = {path: {kind, digest}} (objects in the content
                               store), params = the resolved params. The columns from
                               `state` on (version 2) belong to jobs invoked through an
                               endpoint (store/serving.py): the lifecycle state, which
                               deployment (and its snapshot digest), which token, the
                               request, its digest (for reuse) and idempotency key
    job_steps(job_id, step, outcome, key, env, command, inputs, outputs, seconds,
              exit_code, log, error, finished, environment, gpus, gpu_model)
                               one row per step, written as soon as the step ends, so a
                               killed run keeps every step that finished; env = the
                               environment's identity (in the key), environment = its name,
                               gpus = JSON list of the device ids leased to it, gpu_model =
                               their model. These three columns are added in place to a
                               database that lacks them (pipes that predate them ignore them)
    artifacts(name, version, kind, digest, size, job_id, step, output, path, created)
                               versioned named outputs and assets: a new version only for
                               new content
    metrics(job_id, step, name, value)
    endpoints, deployments, tokens, uploads, upload_senders, action_producers, job_events,
    idempotency_keys           published endpoints and the server's records: see
                               store/serving.py (created by version 2; what a newer
                               revision adds to an older database: serving.upgrade_schema)

Version 1 databases are migrated in place (new columns and tables; existing jobs get
the state their status implies). A job left `running` by a process that no longer exists reads as `interrupted`.
A database written by a newer pipe is refused, never modified.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Optional

from ..errors import PipefileError, did_you_mean
from .lock import while_database_busy

_SORTED_JSON = json.JSONEncoder(sort_keys=True)  # what json.dumps(x, sort_keys=True) writes
JOBS_VERSION = 2
# Bump when a table, index or column is added (here, in serving.SCHEMA, in
# _add_step_columns or in serving.upgrade_schema): a database stamped with this revision skips creating them on open, so a
# run does not pay for the whole schema (nor for importing the serving module) every time.
# tests/test_jobs.py keeps it honest.
SCHEMA_REVISION = "2.3"

RUNNING, SUCCEEDED, FAILED, INTERRUPTED = "running", "succeeded", "failed", "interrupted"
QUEUED, CANCELED = "queued", "canceled"  # served jobs only
STATUSES = (QUEUED, RUNNING, SUCCEEDED, FAILED, INTERRUPTED, CANCELED)

# Columns added by version 2, in table order (a migrated table appends them in this order).
_V2_JOB_COLUMNS = (("state", "TEXT"), ("endpoint", "TEXT"), ("deployment", "INTEGER"),
                   ("deployment_digest", "TEXT"), ("token_id", "TEXT"), ("request", "TEXT"),
                   ("request_digest", "TEXT"), ("idempotency_key", "TEXT"), ("error", "TEXT"), ("queued", "REAL"))

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v TEXT);
CREATE TABLE IF NOT EXISTS jobs(
  id INTEGER PRIMARY KEY AUTOINCREMENT, uid TEXT UNIQUE, experiment TEXT, status TEXT,
  started REAL, ended REAL, user TEXT, pid INTEGER, git_commit TEXT, git_dirty INTEGER,
  pipefile TEXT, pipefile_digest TEXT, code TEXT, params TEXT, targets TEXT, argv TEXT,
  cloned_from INTEGER, 
  state TEXT, endpoint TEXT, deployment INTEGER, deployment_digest TEXT, token_id TEXT, request TEXT,
  request_digest TEXT, idempotency_key TEXT, error TEXT, queued REAL);
CREATE TABLE IF NOT EXISTS job_steps(
  job_id INTEGER, step TEXT, outcome TEXT, key TEXT, env TEXT, command TEXT, inputs TEXT,
  outputs TEXT, seconds REAL, exit_code INTEGER, log TEXT, error TEXT, finished REAL,
  environment TEXT, gpus TEXT, gpu_model TEXT,
  PRIMARY KEY(job_id, step));
CREATE TABLE IF NOT EXISTS artifacts(
  name TEXT, version INTEGER, kind TEXT, digest TEXT, size INTEGER, job_id INTEGER, step TEXT,
  output TEXT, path TEXT, created REAL, PRIMARY KEY(name, version));
CREATE INDEX IF NOT EXISTS artifacts_by_digest ON artifacts(name, digest);
CREATE TABLE IF NOT EXISTS metrics(
  job_id INTEGER, step TEXT, name TEXT, value REAL, PRIMARY KEY(job_id, step, name));
"""


@dataclass
class Job:
    id: int
    uid: str
    experiment: str
    status: str
    started: float
    ended: Optional[float]
    user: str
    pid: int
    git_commit: Optional[str]
    git_dirty: Optional[bool]
    pipefile: str
    pipefile_digest: str
    code: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    targets: list = field(default_factory=list)
    argv: list = field(default_factory=list)
    cloned_from: Optional[int] = None
    state: Optional[str] = None  # served jobs: queued, preparing, running, finalizing, completed, ...
    endpoint: Optional[str] = None
    deployment: Optional[int] = None
    deployment_digest: Optional[str] = None
    token_id: Optional[str] = None
    request: dict = field(default_factory=dict)
    request_digest: Optional[str] = None
    idempotency_key: Optional[str] = None
    error: Optional[str] = None
    queued: Optional[float] = None

    def to_json(self) -> dict:
        out = {
            "id": self.id, "uid": self.uid, "experiment": self.experiment, "status": self.status,
            "started": self.started, "ended": self.ended, "user": self.user,
            "git": {"commit": self.git_commit, "dirty": self.git_dirty} if self.git_commit else None,
            "pipefile": self.pipefile, "pipefile_digest": self.pipefile_digest, "code": self.code,
            "params": self.params, "targets": self.targets, "argv": self.argv, "cloned_from": self.cloned_from,
        }
        if self.endpoint:
            out.update(endpoint=self.endpoint, deployment=self.deployment, deployment_digest=self.deployment_digest,
                       token=self.token_id, state=self.state, error=self.error)
        return out


@dataclass
class JobStep:
    job_id: int
    step: str
    outcome: str
    key: Optional[str]
    env: Optional[str]
    command: Optional[str]
    inputs: dict
    outputs: dict
    seconds: float
    exit_code: Optional[int]
    log: Optional[str]
    error: Optional[str]
    finished: float
    environment: Optional[str] = None  # the environment's name (None: the calling shell)
    gpus: list = field(default_factory=list)  # device ids leased to the step
    gpu_model: Optional[str] = None

    def to_json(self) -> dict:
        return {k: getattr(self, k) for k in ("step", "outcome", "key", "env", "environment", "gpus", "gpu_model",
                                              "command", "inputs", "outputs", "seconds", "exit_code", "log",
                                              "error", "finished")}


@dataclass
class ArtifactVersion:
    name: str
    version: int
    kind: str
    digest: str
    size: int
    job_id: Optional[int]
    step: Optional[str]
    output: Optional[str]
    path: str
    created: float

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    def to_json(self) -> dict:
        return {"name": self.name, "version": self.version, "kind": self.kind, "digest": self.digest,
                "size": self.size, "job": self.job_id, "step": self.step, "output": self.output,
                "path": self.path, "created": self.created}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/status") as f:
            return "\nState:\tZ" not in f.read()
    except OSError:
        return True


class JobStore:
    def __init__(self, path: str, create: bool = True):
        self.path = path
        if not create and not os.path.exists(path):
            self.db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        else:
            self.db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        while_database_busy(self._check_version)  # another pipe may be creating or migrating it

    def _check_version(self) -> None:
        try:
            row = self.db.execute("SELECT v FROM meta WHERE k='jobs_version'").fetchone()
        except sqlite3.OperationalError as e:
            if "no such table" not in str(e):
                raise  # locked or busy: the caller waits and tries again
            row = None  # a new database
        except sqlite3.DatabaseError as e:
            raise PipefileError(f"{self.path} is not a readable job database ({e})",
                                hint="move it aside; pipe starts a new history") from None
        if row is not None and int(row[0]) > JOBS_VERSION:
            raise PipefileError(f"{self.path} was written by a newer pipe (job format {row[0]}, this pipe "
                                f"reads {JOBS_VERSION}); nothing was changed", hint="upgrade pipe")
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        if row is not None and int(row[0]) == JOBS_VERSION:
            stamp = self.db.execute("SELECT v FROM meta WHERE k='schema_revision'").fetchone()
            if stamp is not None and stamp[0] == SCHEMA_REVISION:
                return
        if row is not None and int(row[0]) < JOBS_VERSION:
            self._migrate()
        from .serving import SCHEMA as SERVING_SCHEMA
        from .serving import upgrade_schema

        self.db.executescript(_SCHEMA + SERVING_SCHEMA)
        self._add_step_columns()
        upgrade_schema(self.db)
        if row is None:
            self.db.execute("INSERT OR REPLACE INTO meta VALUES('jobs_version', ?)", (str(JOBS_VERSION),))
        self.db.execute("INSERT OR REPLACE INTO meta VALUES('schema_revision', ?)", (SCHEMA_REVISION,))

    def _add_step_columns(self) -> None:
        """The environment and GPU columns of job_steps, added in place where missing (older
        databases; pipes that predate them ignore them)."""
        have = {r[1] for r in self.db.execute("PRAGMA table_info(job_steps)")}
        for column in ("environment", "gpus", "gpu_model"):
            if column not in have:
                try:
                    self.db.execute(f"ALTER TABLE job_steps ADD COLUMN {column} TEXT")
                except sqlite3.OperationalError:
                    pass  # another pipe opening the database added it first

    def _migrate(self) -> None:
        """Bring an older database up to JOBS_VERSION in place, in one transaction (a
        second pipe opening it at the same time waits, then finds it migrated)."""
        from .serving import SCHEMA as SERVING_SCHEMA

        self.db.execute("BEGIN IMMEDIATE")
        try:
            version = int(self.db.execute("SELECT v FROM meta WHERE k='jobs_version'").fetchone()[0])
            if version < 2:
                have = {r[1] for r in self.db.execute("PRAGMA table_info(jobs)")}
                for name, typ in _V2_JOB_COLUMNS:
                    if name not in have:
                        self.db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {typ}")
                for stmt in SERVING_SCHEMA.split(";"):
                    if stmt.strip():
                        self.db.execute(stmt)
            self.db.execute("UPDATE meta SET v=? WHERE k='jobs_version'", (str(JOBS_VERSION),))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self.db.close()

    # --- writing ------------------------------------------------------------------------
    def begin(self, experiment: str, pipefile: str, pipefile_digest: str, code: dict, params: dict,
              targets: list, argv: list, git_commit: Optional[str], git_dirty: Optional[bool], user: str,
              cloned_from: Optional[int] = None, job_id: Optional[int] = None) -> Job:
        """A new running job; or, with `job_id`, a queued (served) job that starts now."""
        now = time.time()
        if job_id is not None:
            self.db.execute(
                "UPDATE jobs SET experiment=?, status=?, started=?, user=?, pid=?, git_commit=?, git_dirty=?, "
                "pipefile=?, pipefile_digest=?, code=?, params=?, targets=?, argv=?, cloned_from=? WHERE id=?",
                (experiment, RUNNING, now, user, os.getpid(), git_commit,
                 None if git_dirty is None else int(git_dirty), pipefile, pipefile_digest,
                 json.dumps(code, sort_keys=True), json.dumps(params, sort_keys=True), json.dumps(list(targets)),
                 json.dumps(list(argv)), cloned_from, job_id))
            return self.get(job_id)
        uid = os.urandom(4).hex()
        cur = self.db.execute(
            "INSERT INTO jobs(uid, experiment, status, started, user, pid, git_commit, git_dirty, pipefile, "
            "pipefile_digest, code, params, targets, argv, cloned_from) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (uid, experiment, RUNNING, now, user, os.getpid(), git_commit,
             None if git_dirty is None else int(git_dirty), pipefile, pipefile_digest,
             json.dumps(code, sort_keys=True), json.dumps(params, sort_keys=True), json.dumps(list(targets)),
             json.dumps(list(argv)), cloned_from))
        return self.get(cur.lastrowid)

    def record_step(self, s: JobStep) -> None:
        self.record_steps([s])

    def record_steps(self, steps: list) -> None:
        """Several rows in one transaction (one commit, not one per row)."""
        encode = _SORTED_JSON.encode  # one encoder for every row: json.dumps makes one per call
        rows = [(s.job_id, s.step, s.outcome, s.key, s.env, s.command, encode(s.inputs),
                 encode(s.outputs), s.seconds, s.exit_code, s.log, s.error, s.finished,
                 s.environment, json.dumps(list(s.gpus)) if s.gpus else None, s.gpu_model)
                for s in steps]
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.executemany(
                "INSERT OR REPLACE INTO job_steps(job_id, step, outcome, key, env, command, inputs, outputs, "
                "seconds, exit_code, log, error, finished, environment, gpus, gpu_model) "
                "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def finish(self, job_id: int, status: str) -> None:
        self.db.execute("UPDATE jobs SET status=?, ended=? WHERE id=?", (status, time.time(), job_id))

    def record_metrics(self, job_id: int, step: str, values: dict) -> None:
        self.db.executemany("INSERT OR REPLACE INTO metrics VALUES(?,?,?,?)",
                            [(job_id, step, k, float(v)) for k, v in values.items()])

    def add_version(self, name: str, kind: str, digest: str, size: int, path: str, job_id: Optional[int],
                    step: Optional[str], output: Optional[str]) -> ArtifactVersion:
        """The version of `name` with this content: the existing one, or a new one."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            row = self.db.execute("SELECT version FROM artifacts WHERE name=? AND digest=? AND kind=? "
                                  "ORDER BY version LIMIT 1", (name, digest, kind)).fetchone()
            if row is None:
                top = self.db.execute("SELECT MAX(version) FROM artifacts WHERE name=?", (name,)).fetchone()[0]
                version = (top or 0) + 1
                self.db.execute("INSERT INTO artifacts VALUES(?,?,?,?,?,?,?,?,?,?)",
                                (name, version, kind, digest, size, job_id, step, output, path, time.time()))
            else:
                version = row[0]
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return self.artifact(name, version)

    # --- reading ------------------------------------------------------------------------
    def _job(self, row) -> Job:
        (id_, uid, experiment, status, started, ended, user, pid, git_commit, git_dirty, pipefile,
         pipefile_digest, code, params, targets, argv, cloned_from, state, endpoint, deployment,
         deployment_digest, token_id, request, request_digest, idempotency_key, error, queued) = row
        if status == RUNNING and not _alive(pid):
            status = INTERRUPTED
            if state is not None:
                state = INTERRUPTED
        return Job(id_, uid, experiment or "", status, started, ended, user or "", pid, git_commit,
                   None if git_dirty is None else bool(git_dirty), pipefile or "", pipefile_digest or "",
                   json.loads(code or "{}"), json.loads(params or "{}"), json.loads(targets or "[]"),
                   json.loads(argv or "[]"), cloned_from, state, endpoint, deployment, deployment_digest,
                   token_id, json.loads(request or "{}"), request_digest, idempotency_key, error, queued)

    def get(self, job_id: int) -> Job:
        row = self.db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
        if row is None:
            raise PipefileError(f"no job {job_id}", hint="`pipe jobs` lists the jobs")
        return self._job(row)

    def jobs(self, experiment: Optional[str] = None, status: Optional[str] = None, limit: int = 0) -> list:
        """Newest first."""
        rows = [self._job(r) for r in self.db.execute("SELECT * FROM jobs ORDER BY id DESC")]
        out = [j for j in rows if (experiment is None or j.experiment == experiment)
               and (status is None or j.status == status)]
        return out[:limit] if limit else out

    def resolve(self, ref: str) -> Job:
        """A job from an id, a unique prefix of its uid, `last` or `last~N`."""
        ref = ref.strip()
        if ref == "last" or ref.startswith("last~"):
            back = int(ref[5:] or 0) if ref[5:].isdigit() or not ref[5:] else None
            if back is None:
                raise PipefileError(f"'{ref}' is not a job", hint="write last, or last~N for the N-th before it")
            row = self.db.execute("SELECT * FROM jobs ORDER BY id DESC LIMIT 1 OFFSET ?", (back,)).fetchone()
            if row is None:
                raise PipefileError("there is no such job yet" if back else "no job has run in this workspace yet",
                                    hint="run `pipe run` first" if not back else "`pipe jobs` lists the jobs")
            return self._job(row)
        if ref.isdigit():
            row = self.db.execute("SELECT * FROM jobs WHERE id=?", (int(ref),)).fetchone()
            if row is not None:
                return self._job(row)
        # A short number is a job id, never a uid prefix: "7" must not find uid 7f3a...
        short_number = ref.isdigit() and len(ref) < 4
        rows = [] if short_number else \
            self.db.execute("SELECT * FROM jobs WHERE uid LIKE ?", (ref.lower() + "%",)).fetchall()
        if len(rows) == 1:
            return self._job(rows[0])
        if len(rows) > 1:
            ids = ", ".join(str(r[0]) for r in rows[:8])
            raise PipefileError(f"'{ref}' matches several jobs ({ids})", hint="give more characters, or the id")
        known = [str(r[0]) for r in self.db.execute("SELECT id FROM jobs ORDER BY id DESC LIMIT 50")]
        known += [r[0] for r in self.db.execute("SELECT uid FROM jobs ORDER BY id DESC LIMIT 50")]
        raise PipefileError(f"no job '{ref}'", hint=did_you_mean(ref, known, "job") or "`pipe jobs` lists the jobs")

    def steps(self, job_id: int) -> list:
        rows = self.db.execute("SELECT * FROM job_steps WHERE job_id=? ORDER BY finished, step", (job_id,))
        return [self._job_step(r) for r in rows]

    def outcome_counts(self, job_id: int) -> dict:
        return dict(self.db.execute("SELECT outcome, COUNT(*) FROM job_steps WHERE job_id=? GROUP BY outcome",
                                    (job_id,)).fetchall())

    def metrics(self, job_id: int) -> dict:
        return {f"{step}.{name}" if step else name: value for step, name, value in
                self.db.execute("SELECT step, name, value FROM metrics WHERE job_id=? ORDER BY step, name",
                                (job_id,))}

    def artifact(self, name: str, version: Optional[int] = None) -> ArtifactVersion:
        if version is None:
            row = self.db.execute("SELECT * FROM artifacts WHERE name=? ORDER BY version DESC LIMIT 1",
                                  (name,)).fetchone()
        else:
            row = self.db.execute("SELECT * FROM artifacts WHERE name=? AND version=?", (name, version)).fetchone()
        if row is None:
            names = [r[0] for r in self.db.execute("SELECT DISTINCT name FROM artifacts")]
            if name not in names:
                raise PipefileError(f"no artifact '{name}'", hint=did_you_mean(name, names, "artifact")
                                    or "name an output with name: to version it")
            top = self.db.execute("SELECT MAX(version) FROM artifacts WHERE name=?", (name,)).fetchone()[0]
            raise PipefileError(f"artifact '{name}' has no version {version}", hint=f"versions are 1 to {top}")
        return ArtifactVersion(*row)

    def artifacts(self, name: Optional[str] = None) -> list:
        q = "SELECT * FROM artifacts" + (" WHERE name=?" if name else "") + " ORDER BY name, version"
        return [ArtifactVersion(*r) for r in self.db.execute(q, (name,) if name else ())]

    def versions_of(self, digest: str) -> list:
        return [ArtifactVersion(*r) for r in self.db.execute("SELECT * FROM artifacts WHERE digest=?", (digest,))]

    # --- queries for artifacts and lineage ----------------------------------------------------
    def artifact_names(self) -> list:
        """Every artifact name, sorted."""
        return [r[0] for r in self.db.execute("SELECT DISTINCT name FROM artifacts ORDER BY name")]

    def artifact_summary(self) -> list:
        """(latest ArtifactVersion, number of versions) per artifact name, sorted by name."""
        rows = self.db.execute(
            "SELECT a.*, c.n FROM artifacts a JOIN (SELECT name, MAX(version) AS top, COUNT(*) AS n "
            "FROM artifacts GROUP BY name) c ON a.name = c.name AND a.version = c.top ORDER BY a.name")
        return [(ArtifactVersion(*r[:10]), r[10]) for r in rows]

    def find_version(self, name: str, kind: str, digest: str) -> Optional[ArtifactVersion]:
        """The version of `name` that holds this content, if there is one (no error)."""
        row = self.db.execute("SELECT * FROM artifacts WHERE name=? AND digest=? AND kind=? ORDER BY version "
                              "LIMIT 1", (name, digest, kind)).fetchone()
        return ArtifactVersion(*row) if row else None

    def _job_step(self, r) -> JobStep:
        extra = tuple(r[13:16]) + (None,) * (16 - len(r))
        return JobStep(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6] or "{}"), json.loads(r[7] or "{}"),
                       r[8] or 0.0, r[9], r[10], r[11], r[12], extra[0], json.loads(extra[1] or "[]"), extra[2])

    def step_record(self, job_id: int, step: str) -> Optional[JobStep]:
        """One step of one job, or None if it was not recorded."""
        row = self.db.execute("SELECT * FROM job_steps WHERE job_id=? AND step=?", (job_id, step)).fetchone()
        return self._job_step(row) if row else None

    def steps_with_output(self, digest: Optional[str] = None, path: Optional[str] = None) -> list:
        """Recorded steps with an output of this content and/or at this path, newest job first."""
        clauses, args = [], []
        if digest:
            clauses.append("outputs LIKE ?")
            args.append(f'%"{digest}"%')
        if path:
            clauses.append("outputs LIKE ?")
            args.append(f'%{json.dumps(path)}%')
        q = "SELECT * FROM job_steps" + (" WHERE " + " AND ".join(clauses) if clauses else "") + \
            " ORDER BY job_id DESC, finished DESC"
        out = []
        for r in self.db.execute(q, args):
            s = self._job_step(r)
            if any((not digest or o.get("digest") == digest) and (not path or o.get("path") == path)
                   for o in s.outputs.values()):
                out.append(s)
        return out

    def output_paths(self) -> list:
        """Every output path any recorded step wrote, sorted (for did-you-mean hints)."""
        paths: set = set()
        for (outputs,) in self.db.execute("SELECT DISTINCT outputs FROM job_steps"):
            for o in json.loads(outputs or "{}").values():
                if o.get("path"):
                    paths.add(o["path"])
        return sorted(paths)

    def steps_with_key(self, key: str) -> list:
        """Recorded steps with this step key (the same definition and inputs), newest job first."""
        rows = self.db.execute("SELECT * FROM job_steps WHERE key=? ORDER BY job_id DESC, finished DESC", (key,))
        return [self._job_step(r) for r in rows]

    def step_keys(self) -> list:
        """The step key of every step any job ran or restored (what `pipe push --all-jobs` sends)."""
        rows = self.db.execute("SELECT DISTINCT key FROM job_steps WHERE key IS NOT NULL AND outcome IN "
                               "('ran', 'restored', 'fresh') ORDER BY key")
        return [r[0] for r in rows]
