"""ServeStore: published endpoints and their deployments, access tokens (jobdb/tokens.py), uploads, who
made each run-cache entry, and the job queue with its events and idempotency keys, in
the job database (`.pipe/jobs.db`; the tables and their layout: jobdb/schema.py).

A served job is a row of `jobs` (jobdb/jobs.py) with `state` set. The queue is the
set of jobs in state `queued`, taken oldest first by `claim`, so it survives a
restart of the server. A ServeStore is handed the JobStore whose database it shares
(this module does not import jobs.py).
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import time
from typing import Optional

from ..errors import PipefileError, did_you_mean
from ..lazyclass import dataclass
from ..outcomes import JobState, JobStatus
from .records import ACTIVE, STATUS_OF, TERMINAL, Job, job_from_row
from .tokens import ADMIN, Token, TokenIndex, valid_endpoint_name


class QueueFull(Exception):
    """The queue holds `limit` jobs already: the submission is refused (HTTP 429)."""

    def __init__(self, limit: int):
        super().__init__(f"the queue is full ({limit} jobs waiting)")
        self.limit = limit


@dataclass
class Deployment:
    endpoint: str
    number: int
    digest: str
    manifest: dict
    description: str
    disabled: bool
    created: float

    def to_json(self, full: bool = True) -> dict:
        out = {
            "endpoint": self.endpoint,
            "number": self.number,
            "digest": self.digest,
            "description": self.description,
            "disabled": self.disabled,
            "created": self.created,
        }
        if full:
            out["inputs"] = self.manifest.get("inputs", {})
            out["outputs"] = self.manifest.get("outputs", {})
            out["steps"] = self.manifest.get("steps", [])
        return out


@dataclass
class Endpoint:
    name: str
    description: str
    default_deployment: Optional[int]
    created: float

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "default_deployment": self.default_deployment,
            "created": self.created,
        }


class ServeStore(TokenIndex):
    """Endpoints, deployments, tokens, uploads and the queue, over a JobStore's database."""

    def __init__(self, jobs):
        """`jobs`: the JobStore (jobdb/jobs.py) whose connection this store shares; its
        `get` answers for the jobs the queue hands out."""
        self.jobs = jobs
        self.db: sqlite3.Connection = jobs.db

    def _tx(self):
        return _Transaction(self.db)

    # --- endpoints and deployments ------------------------------------------------------
    def endpoint(self, name: str) -> Endpoint:
        row = self.db.execute("SELECT * FROM endpoints WHERE name=?", (name,)).fetchone()
        if row is None:
            names = [r[0] for r in self.db.execute("SELECT name FROM endpoints")]
            raise PipefileError(
                f"no endpoint '{name}'",
                hint=did_you_mean(name, names, "endpoint") or "publish one with `pipe publish --endpoint NAME`",
            )
        return Endpoint(*row[:4])

    def endpoints(self) -> list:
        return [Endpoint(*r[:4]) for r in self.db.execute("SELECT * FROM endpoints ORDER BY name")]

    def publish(self, endpoint: str, digest: str, manifest: dict, description: str, set_default: bool) -> Deployment:
        """A new deployment numbered after the last one; the endpoint is created on first
        publish (its first deployment becomes the default)."""
        if not valid_endpoint_name(endpoint):
            raise PipefileError(
                f"'{endpoint}' is not a valid endpoint name",
                hint="use letters, digits, '_' and '-' (at most 64), starting with a letter or '_'",
            )
        now = time.time()
        with self._tx():
            row = self.db.execute("SELECT default_deployment FROM endpoints WHERE name=?", (endpoint,)).fetchone()
            if row is None:
                self.db.execute(
                    "INSERT INTO endpoints(name, description, default_deployment, created) VALUES(?,?,?,?)",
                    (endpoint, description, None, now),
                )
            top = self.db.execute("SELECT MAX(number) FROM deployments WHERE endpoint=?", (endpoint,)).fetchone()[0]
            number = (top or 0) + 1
            self.db.execute(
                "INSERT INTO deployments(endpoint, number, digest, manifest, description, disabled, created)"
                " VALUES(?,?,?,?,?,?,?)",
                (endpoint, number, digest, json.dumps(manifest, sort_keys=True), description, 0, now),
            )
            if row is None or row[0] is None or set_default:
                self.db.execute("UPDATE endpoints SET default_deployment=? WHERE name=?", (number, endpoint))
            if description:
                # The endpoint's own description is the first one given: a deployment's says
                # what that deployment is, and does not rename the endpoint.
                self.db.execute(
                    "UPDATE endpoints SET description=? WHERE name=? AND COALESCE(description, '')=''",
                    (description, endpoint),
                )
        return self.deployment(endpoint, number)

    def deployment(self, endpoint: str, number: int) -> Deployment:
        row = self.db.execute("SELECT * FROM deployments WHERE endpoint=? AND number=?", (endpoint, number)).fetchone()
        if row is None:
            self.endpoint(endpoint)  # names the endpoint when it is the one that is unknown
            top = self.db.execute("SELECT MAX(number) FROM deployments WHERE endpoint=?", (endpoint,)).fetchone()[0]
            raise PipefileError(
                f"endpoint '{endpoint}' has no deployment {number}",
                hint=f"its deployments are 1 to {top}" if top else "publish one first",
            )
        return self._deployment(row)

    @staticmethod
    def _deployment(row) -> Deployment:
        return Deployment(row[0], row[1], row[2], json.loads(row[3]), row[4] or "", bool(row[5]), row[6])

    def deployments(self, endpoint: str) -> list:
        self.endpoint(endpoint)
        return [
            self._deployment(r)
            for r in self.db.execute("SELECT * FROM deployments WHERE endpoint=? ORDER BY number", (endpoint,))
        ]

    def set_default(self, endpoint: str, number: int) -> Deployment:
        d = self.deployment(endpoint, number)
        if d.disabled:
            raise PipefileError(
                f"deployment {number} of endpoint '{endpoint}' is disabled",
                hint="a disabled deployment cannot be the default; publish again instead",
            )
        self.db.execute("UPDATE endpoints SET default_deployment=? WHERE name=?", (number, endpoint))
        return d

    def disable(self, endpoint: str, number: int) -> Deployment:
        self.deployment(endpoint, number)
        with self._tx():
            self.db.execute("UPDATE deployments SET disabled=1 WHERE endpoint=? AND number=?", (endpoint, number))
            ep = self.endpoint(endpoint)
            if ep.default_deployment == number:
                # The newest deployment still enabled becomes the default; none left: none.
                row = self.db.execute(
                    "SELECT MAX(number) FROM deployments WHERE endpoint=? AND disabled=0", (endpoint,)
                ).fetchone()
                self.db.execute("UPDATE endpoints SET default_deployment=? WHERE name=?", (row[0], endpoint))
        return self.deployment(endpoint, number)

    # --- uploads ------------------------------------------------------------------------
    def add_upload(self, digest: str, kind: str, size: int, token_id: Optional[str] = None) -> None:
        """Record an upload sent with token `token_id`; `created` is when this content was
        last uploaded (what `pipe gc --uploads-older-than` goes by)."""
        with self._tx():
            self.db.execute(
                "INSERT INTO uploads(digest, kind, size, created)"
                " VALUES(?,?,?,?) ON CONFLICT(digest) DO UPDATE SET created=excluded.created",
                (digest, kind, size, time.time()),
            )
            if token_id is not None:
                self.db.execute(
                    "INSERT OR IGNORE INTO upload_senders(digest, token_id) VALUES(?,?)", (digest, token_id)
                )

    def upload(self, digest: str, token_id: Optional[str] = None) -> Optional[tuple]:
        """(kind, size) of an upload, or None; with `token_id`, only one that token sent."""
        if token_id is None:
            row = self.db.execute("SELECT kind, size FROM uploads WHERE digest=?", (digest,)).fetchone()
        else:
            row = self.db.execute(
                "SELECT u.kind, u.size FROM uploads u JOIN upload_senders s ON s.digest=u.digest "
                "WHERE u.digest=? AND s.token_id=?",
                (digest, token_id),
            ).fetchone()
        return (row[0], row[1]) if row else None

    def forget_uploads(self, digests: list) -> None:
        """Drop the records of these uploads (their content is gc's to judge)."""
        with self._tx():
            for table in ("uploads", "upload_senders"):
                self.db.executemany(f"DELETE FROM {table} WHERE digest=?", [(d,) for d in digests])

    # --- who made each run-cache entry ---------------------------------------------------
    def note_producer(self, key: str, token_id: str) -> None:
        """A served job of `token_id` is about to write the action-cache entry `key`:
        recorded first, so that no other token ever sees the entry unattributed."""
        self.db.execute("INSERT OR IGNORE INTO action_producers(key, token_id) VALUES(?,?)", (key, token_id))

    def entry_is_public(self, key: str) -> bool:
        """Whether every token may use this entry: no token's job made it (the owner's own
        runs, a pull from a remote), or an admin or sharing token's job did."""
        return self._entry_visible(key, None)

    def may_use_entry(self, key: str, tok: Token) -> bool:
        """Whether a job of `tok` may restore the entry `key`: an admin token any; another
        token a public one (entry_is_public) or one a job of its own made."""
        return tok.admin or self._entry_visible(key, tok.id)

    def _entry_visible(self, key: str, token_id: Optional[str]) -> bool:
        rows = self.db.execute(
            "SELECT p.token_id, t.scopes, t.share_cache FROM action_producers p "
            "LEFT JOIN tokens t ON t.id = p.token_id WHERE p.key=?",
            (key,),
        ).fetchall()
        if not rows:
            return True
        for producer, scopes, share in rows:
            if producer == token_id or share or (scopes and ADMIN in json.loads(scopes)):
                return True
        return False

    # --- the queue ----------------------------------------------------------------------
    def submit(
        self,
        endpoint: str,
        dep: Deployment,
        token_id: Optional[str],
        request: dict,
        request_digest: str,
        idempotency_key: Optional[str],
        user: str,
        max_queue: Optional[int] = None,
        merge: bool = False,
        merge_any_token: bool = False,
        key_request: Optional[dict] = None,
    ) -> tuple:
        """Queue a job: (job, how), in one transaction, so that concurrent submissions
        see each other. `how`:

        - "key": a job was already submitted by this token with this Idempotency-Key
          (returned as is; the caller compares the requests);
        - "active": with `merge`, an identical request (same request digest) is still
          queued or running: that job, not a second one. Only a job of this token, or
          of any token with `merge_any_token`;
        - "new": queued now.

        With `max_queue`, a full queue raises QueueFull instead (nothing is written). The
        key, when given, is remembered with `key_request` for the job answered."""
        now = time.time()
        with self._tx():
            if idempotency_key is not None:
                prior = self._by_key(token_id, idempotency_key)
                if prior is not None:
                    return self.jobs.get(prior[0]), "key"
            if merge:
                q = "SELECT id FROM jobs WHERE request_digest=? AND state IN (?,?,?,?)"
                args: list = [request_digest, JobState.QUEUED, *ACTIVE]
                if not merge_any_token:
                    q += " AND token_id IS ?"
                    args.append(token_id)
                row = self.db.execute(q + " ORDER BY id LIMIT 1", args).fetchone()
                if row is not None:
                    if idempotency_key is not None:
                        self._remember_key(token_id, idempotency_key, row[0], key_request)
                    return self.jobs.get(row[0]), "active"
            if max_queue is not None and self.queued_count() >= max_queue:
                raise QueueFull(max_queue)
            cur = self.db.execute(
                "INSERT INTO jobs(uid, experiment, status, started, user, pid, pipefile, pipefile_digest, code, "
                "params, targets, argv, state, endpoint, deployment, deployment_digest, token_id, request, "
                "request_digest, idempotency_key, queued) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    secrets.token_hex(4),
                    f"{endpoint}:{dep.number}",
                    JobStatus.QUEUED,
                    now,
                    user,
                    os.getpid(),
                    dep.manifest.get("pipefile", ""),
                    dep.manifest.get("files", {}).get(dep.manifest.get("pipefile", ""), {}).get("digest", ""),
                    "{}",
                    json.dumps(request.get("params", {}), sort_keys=True),
                    "[]",
                    "[]",
                    JobState.QUEUED,
                    endpoint,
                    dep.number,
                    dep.digest,
                    token_id,
                    json.dumps(request, sort_keys=True),
                    request_digest,
                    idempotency_key,
                    now,
                ),
            )
            job_id = cur.lastrowid
            self._event(job_id, "state", {"state": JobState.QUEUED})
            if idempotency_key is not None:
                self._remember_key(token_id, idempotency_key, job_id, key_request)
        return self.jobs.get(job_id), "new"

    def claim(self, pid: int) -> Optional[Job]:
        """The oldest queued job, now `preparing` (atomically: two workers never get the same)."""
        with self._tx():
            row = self.db.execute(
                "SELECT id FROM jobs WHERE state=? ORDER BY id LIMIT 1", (JobState.QUEUED,)
            ).fetchone()
            if row is None:
                return None
            self.db.execute(
                "UPDATE jobs SET state=?, status=?, pid=? WHERE id=?",
                (JobState.PREPARING, JobStatus.RUNNING, pid, row[0]),
            )
            self._event(row[0], "state", {"state": JobState.PREPARING})
        return self.jobs.get(row[0])

    def set_state(self, job_id: int, state: str, error: Optional[str] = None, only_from=None) -> bool:
        """Move a job to `state` (with an event); with `only_from`, only from one of those
        states. Returns whether it moved."""
        with self._tx():
            row = self.db.execute("SELECT state FROM jobs WHERE id=?", (job_id,)).fetchone()
            if row is None or (only_from is not None and row[0] not in only_from) or row[0] in TERMINAL:
                return False
            if state in TERMINAL:
                self.db.execute(
                    "UPDATE jobs SET state=?, status=?, error=?, ended=? WHERE id=?",
                    (state, STATUS_OF[state], error, time.time(), job_id),
                )
            else:
                self.db.execute(
                    "UPDATE jobs SET state=?, status=? WHERE id=?",
                    (state, JobStatus.QUEUED if state == JobState.QUEUED else JobStatus.RUNNING, job_id),
                )
            self._event(job_id, "state", dict({"state": state}, **({"error": error} if error else {})))
        return True

    def event(self, job_id: int, kind: str, data: dict) -> None:
        self._event(job_id, kind, data)

    def _event(self, job_id: int, kind: str, data: dict) -> None:
        # One statement: the next sequence number and the row together, whoever else writes.
        self.db.execute(
            "INSERT INTO job_events(job_id, seq, time, kind, data)"
            " SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, ?, ? FROM job_events WHERE job_id=?",
            (job_id, time.time(), kind, json.dumps(data, sort_keys=True), job_id),
        )

    def events(self, job_id: int, after: int = 0) -> list:
        return [
            {"seq": r[0], "time": r[1], "kind": r[2], "data": json.loads(r[3])}
            for r in self.db.execute(
                "SELECT seq, time, kind, data FROM job_events WHERE job_id=? AND seq>? ORDER BY seq", (job_id, after)
            )
        ]

    def interrupt_active(self) -> list:
        """At server start: jobs a previous server was running are cut off (interrupted)."""
        ids = [r[0] for r in self.db.execute("SELECT id FROM jobs WHERE state IN (?,?,?)", ACTIVE)]
        for job_id in ids:
            self.set_state(job_id, JobState.INTERRUPTED, "the server stopped while the job ran")
        return ids

    def queued_count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM jobs WHERE state=?", (JobState.QUEUED,)).fetchone()[0]

    def reusable(self, request_digest: str) -> Optional[Job]:
        row = self.db.execute(
            "SELECT id FROM jobs WHERE request_digest=? AND state=? ORDER BY id DESC LIMIT 1",
            (request_digest, JobState.COMPLETED),
        ).fetchone()
        return self.jobs.get(row[0]) if row else None

    def by_idempotency_key(self, token_id: Optional[str], key: str) -> Optional[tuple]:
        """(job, the request the key came with, or None if not recorded) or None."""
        found = self._by_key(token_id, key)
        if found is None:
            return None
        try:
            return self.jobs.get(found[0]), found[1]
        except PipefileError:
            return None  # the job was deleted (pipe gc --keep-last): the key is free again

    def remember_key(self, token_id: Optional[str], key: str, job_id: int, request: Optional[dict]) -> None:
        self._remember_key(token_id, key, job_id, request)

    def _remember_key(self, token_id, key, job_id, request) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO idempotency_keys(token_id, key, job_id, request, created) VALUES(?,?,?,?,?)",
            (token_id or "", key, job_id, json.dumps(request, sort_keys=True) if request else None, time.time()),
        )

    def _by_key(self, token_id: Optional[str], key: str) -> Optional[tuple]:
        row = self.db.execute(
            "SELECT job_id, request FROM idempotency_keys WHERE token_id=? AND key=?", (token_id or "", key)
        ).fetchone()
        if row is not None:
            return row[0], json.loads(row[1]) if row[1] else None
        row = self.db.execute(
            "SELECT id FROM jobs WHERE idempotency_key=? AND token_id IS ? ORDER BY id LIMIT 1", (key, token_id)
        ).fetchone()
        return (row[0], None) if row else None

    def served_jobs(self, endpoint: Optional[str] = None, token_id: Optional[str] = None, limit: int = 100) -> list:
        q, args = "SELECT * FROM jobs WHERE state IS NOT NULL", []
        if endpoint:
            q += " AND endpoint=?"
            args.append(endpoint)
        if token_id:
            q += " AND token_id=?"
            args.append(token_id)
        q += " ORDER BY id DESC LIMIT ?"
        args.append(limit)
        return [job_from_row(r, self.jobs.path) for r in self.db.execute(q, args)]


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error): writers queue up instead of failing."""

    def __init__(self, db):
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, typ, value, tb):
        self.db.execute("COMMIT" if typ is None else "ROLLBACK")
        return False
