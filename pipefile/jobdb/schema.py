"""The layout of the job database and every change to it: the one module that runs DDL.

One SQLite database, `.pipe/jobs.db` (JOBS_VERSION 2), in WAL mode:

    meta(k, v)                 holds jobs_version and schema_revision
    jobs(id, uid, experiment, status, started, ended, user, pid, git_commit, git_dirty,
         pipefile, pipefile_digest, code, params, targets, argv, cloned_from,
         state, endpoint, deployment, deployment_digest, token_id, request,
         request_digest, idempotency_key, error, queued)
                               one row per run; status running -> succeeded | failed |
                               interrupted (a served job: queued first, canceled too);
                               code = {path: {kind, digest}} (objects in the content
                               store), params = the resolved params. The columns from
                               `state` on (version 2) belong to jobs invoked through an
                               endpoint (jobdb/serving.py): the lifecycle state, which
                               deployment (and its snapshot digest), which token, the
                               request, its digest (for reuse) and idempotency key
    job_steps(job_id, step, outcome, key, env, command, inputs, outputs, seconds,
              exit_code, log, error, finished, environment, gpus, gpu_model, worker)
                               one row per step, written as soon as the step ends, so a
                               killed run keeps every step that finished; env = the
                               environment's identity (in the key), environment = its name,
                               gpus = JSON list of the device ids leased to it, gpu_model =
                               their model, worker = JSON of where it ran ({"executor":
                               "ray", "node", "host"}; {"executor": "local"}) (2.9). These
                               four columns are added in place to a database that lacks
                               them (pipes that predate them ignore them).
                               Indexed by (step, key, outcome, job_id) (revision 2.8): a
                               fresh step looks up the newest job that ran it with its key,
                               which scanned every earlier job's rows on every run
    artifacts(name, version, kind, digest, size, job_id, step, output, path, created)
                               versioned named outputs and assets: a new version only for
                               new content (jobdb/artifacts.py)
    metrics(job_id, step, name, value)
                               a job's own metric values: the last value of each series a
                               step streamed, and (before revision 2.11) every value read
                               from its steps' metrics files
    metric_sets(digest, skipped, created)
    metric_values(digest, name, value)
                               what one metrics file held, kept once per content (2.11):
                               digest = metrics_files.set_digest of the file's path and the
                               content of the output it is in; skipped = JSON [names, count]
                               of the numbers too large for a float (warned again by each
                               job that uses the set). A file is read only when its content
                               is new, and a job of a fresh step refers to the set, so a
                               no-op neither reads nor copies a huge file's values
    step_metrics(job_id, step, seq, digest)
                               the sets each step of a job recorded, seq the order of its
                               `metrics:` files (a later file's value wins); gc drops the
                               sets no job refers to (2.11)
    metric_points(job_id, step, name, seq, x, value, time)
                               the series a step streamed while it ran (pipefile/tracking.py):
                               seq orders the points, x is the step's own step number (2.5);
                               kept once, under the job that streamed it (its owner): from
                               2.12 a later job gets no copy but a step_series row
    step_series(job_id, step, source_job)
                               the series a step of a job has without having streamed them
                               (fresh, restored or stayed stopped): the points of source_job's
                               step, always their owner, never another reference; the last
                               values are still the job's own `metrics` rows (jobdb/series.py,
                               revision 2.12). gc keeps an owner's points while a kept job
                               refers to them, even once the owner's record is gone, and drops
                               them with the last reference. Copies made before 2.12 stay
                               where they are (a job's own points, read as before). A pipe
                               older than 2.12 sees no series in a job that refers to one
                               (as one older than 2.11 sees no metrics file's values), and
                               its gc drops the points of the owners it deletes
    artifact_numbers(name, version, remote)
                               the artifact versions whose number a remote's register holds
                               for this content (remote: the remote's URL, without
                               credentials); a version without a row is local: not pushed
                               yet, its number this workspace's own (revision 2.6)
    noop_jobs(job_id)          the jobs in which nothing ran, was restored or failed (every
                               step fresh or skipped), marked when the job ends; `pipe jobs`
                               hides them, `metrics history` and `gc --keep-last` do not
                               count them (revision 2.6; a table, not a `jobs` column, so
                               that pipes reading `jobs` rows whole still read them). A
                               sweep trial stopped as it ran (outcome stopped, with a log)
                               is work; one that stayed stopped (no log) is not (2.10)
    trial_stops(key, policy, job_id, step, detail, evidence, stopped)
                               the sweep trials early termination stopped (jobdb/stops.py):
                               by the trial's key and the policy's settings (JSON), the job
                               that stopped it, why, and the evidence (JSON: the step
                               judged, the values compared, the other trials' curves); gc
                               drops a job's stops with the job (revision 2.10)

The server's records (jobdb/serving.py), created by version 2:

    endpoints(name, description, default_deployment, created)
    deployments(endpoint, number, digest, manifest, description, disabled, created)
                               number counts from 1 per endpoint; digest names the
                               deployment's snapshot manifest (a JSON object in the
                               content store, also kept here as text): immutable
    tokens(id, sha256, scopes, name, created, expires, revoked, last_used, share_cache)
                               only the SHA-256 of a token is kept; scopes is a JSON list
                               of "admin", "read" or "invoke:ENDPOINT"; share_cache 1: the
                               run-cache entries its jobs made are every token's (revision 2.3)
    uploads(digest, kind, size, created)
                               content received by the server (in the content store);
                               created: when that content was last uploaded
    upload_senders(digest, token_id)
                               which tokens sent it: a token may name (and learn of) only
                               uploads it sent itself, so an upload is no oracle of what
                               others sent
    action_producers(key, token_id)
                               which tokens' served jobs ran the step with this key (and
                               so wrote its action-cache entry): a served job restores only
                               an entry no token's job made (the workspace owner's own
                               runs), one its own token made, or one an admin or sharing
                               token made, so the run cache is no oracle either (2.3)
    artifact_producers(name, version, token_id)
                               which token's served job made each artifact version: a
                               token names (and learns of) only its own versions and
                               those no token made (the owner's runs, pulls, clones) or
                               an admin or sharing token made (jobdb/artifacts.py; 2.4)
    job_events(job_id, seq, time, kind, data)
                               what happened to a served job, in order: state changes
                               and steps (the job's history and its event stream)
    idempotency_keys(token_id, key, job_id, request)
                               the job a token's Idempotency-Key was answered with (a new
                               job, or one reused or under way), and the request it came
                               with (JSON: endpoint, deployment, inputs, tags, force_rerun);
                               token_id '' for none
    online_endpoints(name, default_version, created)
    online_deployments(name, version, artifact, artifact_version, kind, digest, size,
                       model, description, disabled, created)
                               real-time deployments of a model folder (jobdb/online.py,
                               revision 2.7): version counts from 1 per name; artifact and
                               artifact_version name the artifact version deployed, digest
                               pins its content (the model served never changes); model is
                               its model.json (JSON) as read when it was deployed

Version 1 databases are migrated in place (new columns and tables; existing jobs get
the state their status implies). What a newer revision adds to an older version 2
database (tables, indexes, columns) is added when it is opened. A database written by
a newer pipe is refused, never modified.
"""

from __future__ import annotations

import sqlite3

from ..errors import PipefileError

JOBS_VERSION = 2
# Bump when a table, index or column is added (in JOBS_DDL, SERVING_DDL, add_step_columns
# or upgrade_schema): a database stamped with this revision skips creating them on open,
# so a run does not pay for the whole schema every time. tests/test_jobs.py keeps it honest.
SCHEMA_REVISION = "2.12"

# Columns added by version 2, in table order (a migrated table appends them in this order).
_V2_JOB_COLUMNS = (
    ("state", "TEXT"),
    ("endpoint", "TEXT"),
    ("deployment", "INTEGER"),
    ("deployment_digest", "TEXT"),
    ("token_id", "TEXT"),
    ("request", "TEXT"),
    ("request_digest", "TEXT"),
    ("idempotency_key", "TEXT"),
    ("error", "TEXT"),
    ("queued", "REAL"),
)

# Jobs, their steps, artifact versions and metrics.
JOBS_DDL = """
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
  environment TEXT, gpus TEXT, gpu_model TEXT, worker TEXT,
  PRIMARY KEY(job_id, step));
CREATE INDEX IF NOT EXISTS job_steps_by_key ON job_steps(step, key, outcome, job_id);
CREATE TABLE IF NOT EXISTS artifacts(
  name TEXT, version INTEGER, kind TEXT, digest TEXT, size INTEGER, job_id INTEGER, step TEXT,
  output TEXT, path TEXT, created REAL, PRIMARY KEY(name, version));
CREATE INDEX IF NOT EXISTS artifacts_by_digest ON artifacts(name, digest);
CREATE TABLE IF NOT EXISTS metrics(
  job_id INTEGER, step TEXT, name TEXT, value REAL, PRIMARY KEY(job_id, step, name));
CREATE TABLE IF NOT EXISTS metric_points(
  job_id INTEGER, step TEXT, name TEXT, seq INTEGER, x INTEGER, value REAL, time REAL,
  PRIMARY KEY(job_id, step, name, seq));
CREATE TABLE IF NOT EXISTS metric_sets(digest TEXT PRIMARY KEY, skipped TEXT, created REAL);
CREATE TABLE IF NOT EXISTS metric_values(
  digest TEXT, name TEXT, value REAL, PRIMARY KEY(digest, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS step_metrics(
  job_id INTEGER, step TEXT, seq INTEGER, digest TEXT, PRIMARY KEY(job_id, step, seq));
CREATE INDEX IF NOT EXISTS step_metrics_by_digest ON step_metrics(digest);
CREATE TABLE IF NOT EXISTS step_series(
  job_id INTEGER, step TEXT, source_job INTEGER, PRIMARY KEY(job_id, step)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS step_series_by_source ON step_series(source_job, step);
CREATE TABLE IF NOT EXISTS noop_jobs(job_id INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS artifact_numbers(name TEXT, version INTEGER, remote TEXT, PRIMARY KEY(name, version));
CREATE TABLE IF NOT EXISTS trial_stops(
  key TEXT, policy TEXT, job_id INTEGER, step TEXT, detail TEXT, evidence TEXT, stopped REAL,
  PRIMARY KEY(key, policy));
"""

# The jobs that did no work: ended well, with steps, none of which ran, was restored or
# failed (a job without a step row, such as one recorded before steps were, is not known to
# be one). Bound to one job id (marking a job as it ends), or to nothing (every ended job,
# when upgrading).
_NOOP_SELECT = (
    "SELECT j.id FROM jobs j WHERE j.status = 'succeeded' {only} "
    "AND EXISTS (SELECT 1 FROM job_steps s WHERE s.job_id = j.id) AND NOT EXISTS (SELECT 1 FROM job_steps s "
    "WHERE s.job_id = j.id AND (s.outcome IN ('ran', 'restored', 'failed') "
    "OR (s.outcome = 'stopped' AND s.log IS NOT NULL)))"
)
MARK_NOOP = "INSERT OR IGNORE INTO noop_jobs(job_id) " + _NOOP_SELECT.format(only="AND j.id = ?")
MARK_ALL_NOOP = "INSERT OR IGNORE INTO noop_jobs(job_id) " + _NOOP_SELECT.format(only="")

# The server's records (and the indexes its queries over `jobs` need).
SERVING_DDL = """
CREATE TABLE IF NOT EXISTS endpoints(
  name TEXT PRIMARY KEY, description TEXT, default_deployment INTEGER, created REAL);
CREATE TABLE IF NOT EXISTS deployments(
  endpoint TEXT, number INTEGER, digest TEXT, manifest TEXT, description TEXT, disabled INTEGER,
  created REAL, PRIMARY KEY(endpoint, number));
CREATE TABLE IF NOT EXISTS tokens(
  id TEXT PRIMARY KEY, sha256 TEXT, scopes TEXT, name TEXT, created REAL, expires REAL, revoked REAL,
  last_used REAL, share_cache INTEGER);
CREATE TABLE IF NOT EXISTS uploads(digest TEXT PRIMARY KEY, kind TEXT, size INTEGER, created REAL);
CREATE TABLE IF NOT EXISTS upload_senders(digest TEXT, token_id TEXT, PRIMARY KEY(digest, token_id));
CREATE TABLE IF NOT EXISTS action_producers(key TEXT, token_id TEXT, PRIMARY KEY(key, token_id));
CREATE TABLE IF NOT EXISTS artifact_producers(
  name TEXT, version INTEGER, token_id TEXT, PRIMARY KEY(name, version, token_id));
CREATE TABLE IF NOT EXISTS job_events(
  job_id INTEGER, seq INTEGER, time REAL, kind TEXT, data TEXT, PRIMARY KEY(job_id, seq));
CREATE INDEX IF NOT EXISTS jobs_by_request ON jobs(request_digest);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs(state);
CREATE INDEX IF NOT EXISTS jobs_by_key ON jobs(idempotency_key);
CREATE TABLE IF NOT EXISTS idempotency_keys(
  token_id TEXT, key TEXT, job_id INTEGER, request TEXT, created REAL, PRIMARY KEY(token_id, key));
CREATE TABLE IF NOT EXISTS online_endpoints(name TEXT PRIMARY KEY, default_version INTEGER, created REAL);
CREATE TABLE IF NOT EXISTS online_deployments(
  name TEXT, version INTEGER, artifact TEXT, artifact_version INTEGER, kind TEXT, digest TEXT, size INTEGER,
  model TEXT, description TEXT, disabled INTEGER, created REAL, PRIMARY KEY(name, version));
"""


def prepare(db: sqlite3.Connection, path: str) -> None:
    """Make the open database `db` (at `path`) one this pipe reads and writes: create it,
    migrate or upgrade it in place, or refuse it (unreadable, or from a newer pipe). Cheap
    when it is stamped with the current revision. Raises sqlite3.OperationalError while
    another pipe holds it (the caller waits and tries again)."""
    try:
        row = db.execute("SELECT v FROM meta WHERE k='jobs_version'").fetchone()
    except sqlite3.OperationalError as e:
        if "no such table" not in str(e):
            raise  # locked or busy: the caller waits and tries again
        row = None  # a new database
    except sqlite3.DatabaseError as e:
        raise PipefileError(
            f"{path} is not a readable job database ({e})", hint="move it aside; pipe starts a new history"
        ) from None
    if row is not None and int(row[0]) > JOBS_VERSION:
        raise PipefileError(
            f"{path} was written by a newer pipe (job format {row[0]}, this pipe "
            f"reads {JOBS_VERSION}); nothing was changed",
            hint="upgrade pipe",
        )
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    if row is not None and int(row[0]) == JOBS_VERSION:
        stamp = db.execute("SELECT v FROM meta WHERE k='schema_revision'").fetchone()
        if stamp is not None and (stamp[0] == SCHEMA_REVISION or _newer(stamp[0])):
            return  # (a newer revision holds every table of this one: upgrading it again lowered its stamp)
    if row is not None and int(row[0]) < JOBS_VERSION:
        _migrate(db)
    db.executescript(JOBS_DDL + SERVING_DDL)
    add_step_columns(db)
    upgrade_schema(db)
    if row is None:
        db.execute("INSERT OR REPLACE INTO meta(k, v) VALUES('jobs_version', ?)", (str(JOBS_VERSION),))
    db.execute("INSERT OR REPLACE INTO meta(k, v) VALUES('schema_revision', ?)", (SCHEMA_REVISION,))


def is_current(db: sqlite3.Connection) -> bool:
    """Whether `db` holds every table and column this pipe reads (prepare would change nothing)."""
    try:
        version = db.execute("SELECT v FROM meta WHERE k='jobs_version'").fetchone()
        stamp = db.execute("SELECT v FROM meta WHERE k='schema_revision'").fetchone()
    except sqlite3.DatabaseError:
        return False
    return (
        version is not None
        and str(version[0]) == str(JOBS_VERSION)
        and stamp is not None
        and (stamp[0] == SCHEMA_REVISION or _newer(stamp[0]))
    )


def _newer(revision) -> bool:
    """Whether the stamp `revision` ("2.13") is a later revision than this pipe's."""
    try:
        return tuple(int(p) for p in str(revision).split(".")) > tuple(int(p) for p in SCHEMA_REVISION.split("."))
    except ValueError:
        return False


def add_step_columns(db: sqlite3.Connection) -> None:
    """The environment, GPU and worker columns of job_steps, added in place where missing
    (older databases; pipes that predate them ignore them)."""
    have = {r[1] for r in db.execute("PRAGMA table_info(job_steps)")}
    for column in ("environment", "gpus", "gpu_model", "worker"):
        if column not in have:
            try:
                db.execute(f"ALTER TABLE job_steps ADD COLUMN {column} TEXT")
            except sqlite3.OperationalError:
                pass  # another pipe opening the database added it first


def _migrate(db: sqlite3.Connection) -> None:
    """Bring an older database up to JOBS_VERSION in place, in one transaction (a
    second pipe opening it at the same time waits, then finds it migrated)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        version = int(db.execute("SELECT v FROM meta WHERE k='jobs_version'").fetchone()[0])
        if version < 2:
            have = {r[1] for r in db.execute("PRAGMA table_info(jobs)")}
            for name, typ in _V2_JOB_COLUMNS:
                if name not in have:
                    db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {typ}")
            for stmt in SERVING_DDL.split(";"):
                if stmt.strip():
                    db.execute(stmt)
        db.execute("UPDATE meta SET v=? WHERE k='jobs_version'", (str(JOBS_VERSION),))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def upgrade_schema(db: sqlite3.Connection) -> None:
    """What CREATE TABLE IF NOT EXISTS cannot do for an older database (run while its
    revision is not the current one): the tokens.share_cache column, the no-op marks of
    the jobs that ended before they were kept (read from their steps), and the producers of
    the entries served jobs wrote and of the artifact versions they made before either was
    recorded, read from the job history (the steps a token's job ran, the job that made a
    version), so that upgrading does not hand them to every token."""
    have = {r[1] for r in db.execute("PRAGMA table_info(tokens)")}
    if "share_cache" not in have:
        try:
            db.execute("ALTER TABLE tokens ADD COLUMN share_cache INTEGER")
        except sqlite3.OperationalError:
            pass  # another pipe opening the database added it first
    db.execute(MARK_ALL_NOOP)
    # An entry a local run (the owner's) also made stays everyone's, as it is when made now.
    db.execute(
        "INSERT OR IGNORE INTO action_producers(key, token_id) "
        "SELECT s.key, j.token_id FROM job_steps s JOIN jobs j ON j.id = s.job_id "
        "WHERE j.endpoint IS NOT NULL AND j.token_id IS NOT NULL AND s.key IS NOT NULL AND s.outcome = 'ran' "
        "AND s.key NOT IN (SELECT s2.key FROM job_steps s2 JOIN jobs j2 ON j2.id = s2.job_id "
        "WHERE j2.endpoint IS NULL AND s2.outcome = 'ran' AND s2.key IS NOT NULL)"
    )
    # A version is its first job's: later jobs of other tokens with the same content got the
    # same version then, and lose sight of it now (they send the data again).
    db.execute(
        "INSERT OR IGNORE INTO artifact_producers(name, version, token_id) "
        "SELECT a.name, a.version, j.token_id FROM artifacts a JOIN jobs j ON j.id = a.job_id "
        "WHERE j.endpoint IS NOT NULL AND j.token_id IS NOT NULL"
    )
