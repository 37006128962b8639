"""Submitting a job to an endpoint, and planning one: the request checked against the
token's scopes, the deployment and its input schema, then answered with the job an
Idempotency-Key was already answered with, a completed identical job whose outputs are
still stored, an identical job still under way, or a new queued job. Planning says what
an invocation would run or restore and starts nothing.

Inputs are checked and the job recorded with no `pipe gc` in between (a writer's hold
on the store), so that gc never collects an upload a new job is about to read.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import Optional

from ..errors import PipefileError
from ..jobdb.serving import Deployment, QueueFull
from ..jobdb.tokens import Token
from ..lazyclass import dataclass
from ..publish import RequestError, check_request, lay_out
from ..workspace import Workspace
from .access import artifact_view, may_read, upload_view, writer_hold
from .endpoints_view import find_deployment, find_endpoint
from .home import Home
from .jobs_view import job_json, outputs_stored
from .receiving import disk_full, no_space
from .refusals import BadRequest, Busy, Conflict, Forbidden, Invalid
from .worker import token_actions

SCRATCH = os.path.join("serve", "plan")  # plans being made, under .pipe/ (emptied at server start)


@dataclass
class Invocation:
    """What a client asks an endpoint for (the body of POST .../jobs and .../plan)."""

    inputs: dict
    tags: dict
    force_rerun: bool


@dataclass
class Submitted:
    """The answer to a submission: the job as job_json shows it, and whether it is queued
    or running (a new job, or an identical one under way) rather than one answered
    before (the same Idempotency-Key, or a completed identical job)."""

    job: dict
    under_way: bool

    @property
    def job_id(self) -> int:
        return self.job["id"]


def submit(
    home: Home,
    tok: Token,
    endpoint: str,
    number: Optional[int],
    body: Invocation,
    key: Optional[str],
    max_queue: int,
    pool=None,
) -> Submitted:
    """Invoke deployment `number` of `endpoint` (None: its default) with Idempotency-Key
    `key` (None: none); `pool` (the WorkerPool, if any) is told of a new job."""
    with writer_hold(home):
        return _submit(home, tok, endpoint, number, body, key, max_queue, pool)


def _submit(
    home: Home,
    tok: Token,
    endpoint: str,
    number: Optional[int],
    body: Invocation,
    key: Optional[str],
    max_queue: int,
    pool,
) -> Submitted:
    if not tok.can_invoke(endpoint):
        raise Forbidden(
            f"this token may not invoke endpoint '{endpoint}'",
            f"use a token with scope invoke:{endpoint} (pipe token create --scope invoke:{endpoint})",
        )
    ep = find_endpoint(home, endpoint)
    if key is not None and (not key or len(key) > 200):
        raise BadRequest("Idempotency-Key must be 1 to 200 characters")
    if len(json.dumps(body.tags)) > 4096:
        raise Invalid("tags are over 4 KB", field="tags")
    sent = {"endpoint": endpoint, "inputs": body.inputs, "tags": body.tags, "force_rerun": body.force_rerun}
    asked = number  # None: the default, whichever it is when the request comes

    def answer_key(prior, recorded: Optional[dict]) -> Submitted:
        if recorded is None:  # keyed before requests were recorded with their key: the job's own
            recorded = {
                "endpoint": prior.endpoint,
                "deployment": prior.deployment,
                **{k: prior.request.get(k) for k in ("inputs", "tags", "force_rerun")},
            }
        # A retry that asks for the default deployment is the same request even if the default
        # changed since: it gets the job the first one started, on the deployment it ran.
        same = {k: v for k, v in recorded.items() if k != "deployment"} == sent and (
            asked is None or recorded.get("deployment") == asked
        )
        if not same:
            raise Conflict(
                f"Idempotency-Key '{key}' was used for another request (job {prior.id})",
                "use a new key for a new request",
            )
        return Submitted(job_json(home, prior, reused=False), under_way=False)

    # Before the deployment is resolved and the inputs checked: a retry gets its job even if
    # the default changed, its deployment was disabled or gc forgot an upload since.
    if key is not None:
        found = home.serve.by_idempotency_key(tok.id, key)
        if found is not None:
            return answer_key(*found)
    if number is None:
        number = ep.default_deployment
        if number is None:
            raise Conflict(
                f"endpoint '{endpoint}' has no enabled deployment", "publish the pipeline again: pipe publish"
            )
    dep = find_deployment(home, endpoint, number)
    if dep.disabled:
        raise Conflict(
            f"deployment {number} of endpoint '{endpoint}' is disabled",
            f"invoke the default deployment ({ep.default_deployment})"
            if ep.default_deployment
            else "publish the pipeline again",
        )
    summary = dict(sent, deployment=dep.number)
    checked = _check_inputs(home, tok, dep, body)
    request = {
        "inputs": body.inputs,
        "params": checked.params,
        "assets": checked.assets,
        "tags": body.tags,
        "force_rerun": body.force_rerun,
    }
    if not body.force_rerun:
        prev = home.serve.reusable(checked.digest)
        if prev is not None and (tok.can_read_all() or prev.token_id == tok.id) and outputs_stored(home, prev):
            if key is not None:
                home.serve.remember_key(tok.id, key, prev.id, summary)
            return Submitted(job_json(home, prev, reused=True), under_way=False)
    # One transaction: the key, an identical job still queued or running, the queue's depth
    # and the insert, so that concurrent submissions never get past each other.
    try:
        job, how = home.serve.submit(
            endpoint,
            dep,
            tok.id,
            request,
            checked.digest,
            key,
            f"token:{tok.id}",
            max_queue=max_queue,
            merge=not body.force_rerun,
            merge_any_token=tok.can_read_all(),
            key_request=summary,
        )
    except QueueFull as e:
        raise Busy(f"the queue is full ({e.limit} jobs waiting)", "try again later", retry_after=10) from None
    if how == "key":
        found = home.serve.by_idempotency_key(tok.id, key)
        return answer_key(*(found or (job, None)))
    if how == "active":
        # The same work is already under way: its job, not a second one.
        return Submitted(job_json(home, job, reused=True), under_way=True)
    if pool is not None:
        pool.notify()
    return Submitted(job_json(home, job, reused=False), under_way=True)


def _check_inputs(home: Home, tok: Token, dep: Deployment, body: Invocation):
    """The request's inputs checked against the deployment's schema (publish.check_request)."""
    try:
        return check_request(
            home, home.serve, dep, body.inputs, lambda j: may_read(tok, j), upload_view(tok), artifact_view(tok)
        )
    except RequestError as e:
        raise Invalid(e.message, e.hint, field=e.field) from None


def plan(home: Home, tok: Token, endpoint: str, body: Invocation) -> dict:
    """Which steps an invocation of the endpoint's default deployment would run or
    restore, as this token's job would see the run cache; nothing is started."""
    from ..report.plan import status_json
    from ..session import Session, load_deployed  # the planner's weight only when a plan is asked for

    if not tok.can_invoke(endpoint):
        raise Forbidden(f"this token may not invoke endpoint '{endpoint}'")
    ep = find_endpoint(home, endpoint)
    if ep.default_deployment is None:
        raise Conflict(f"endpoint '{endpoint}' has no enabled deployment")
    dep = find_deployment(home, endpoint, ep.default_deployment)
    checked = _check_inputs(home, tok, dep, body)
    base = os.path.join(home.dir, SCRATCH)
    os.makedirs(base, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=base)
    jws = None
    try:
        pf_path = lay_out(home, dep.manifest, checked.assets, tmp)
        jws = Workspace(tmp, home=home)
        jws.actions = token_actions(jws.actions, home.serve, tok.id)  # what this token's job would see
        graph = load_deployed(pf_path, checked.params, dep.manifest.get("artifacts", {}), jws)
        pipe = Session(graph, workspace=jws)
        jws = None  # the session closes it
        try:
            result = status_json(pipe.plan((), True if body.force_rerun else frozenset()))
        finally:
            pipe.close()
    except (PipefileError, OSError) as e:
        if disk_full(e):  # (laying the deployment out: the server's disk, not the request)
            raise no_space("the plan") from None
        if not isinstance(e, PipefileError):
            raise
        raise Invalid(e.render()) from None
    finally:
        if jws is not None:
            jws.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return {"endpoint": endpoint, "deployment": dep.number, **result}
