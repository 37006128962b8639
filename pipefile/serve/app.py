"""The REST API, versioned under /v1 (OpenAPI at /v1/openapi.json).

Every route but /v1/health (and the OpenAPI document) needs a bearer token (`pipe
token create`). Scopes: `admin` may do anything; `read` may read every endpoint and
job; `invoke:EP` may upload, invoke EP, read EP, and read only the jobs it started.

Before any route runs, `guard.RequestGuard` checks Host, Origin and body size.
"""

from __future__ import annotations

import asyncio
import json
import os
import tarfile
import tempfile
import threading
import time
from typing import Annotated, Any, Optional

from fastapi import Depends, FastAPI, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..digest import E_EXEC, E_LINK, E_TREE, FILE, PathDigest
from ..errors import PipefileError
from ..publish import RequestError, check_request, lay_out
from ..store import STATE_DIR, Workspace
from ..store.cas import ContentStore
from ..store.lock import ServeGate
from ..store.jobs import QUEUED, JobStore
from ..store.serving import ACTIVE, TERMINAL, QueueFull, ServeStore, Token
from .guard import API, BodyTooLarge, error_body
from .uploads import UploadError, archive_kind, store_upload
from .worker import WorkerPool, token_actions

MAX_ID = 2**53  # ids and numbers past this are not ones SQLite (or JSON clients) can hold
JobId = Annotated[int, Path(ge=1, le=MAX_ID, description="A job id.")]
Number = Annotated[int, Path(ge=1, le=MAX_ID, description="A deployment number.")]


class ServeConfig(BaseModel):
    root: str
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 2
    allowed_hosts: list = []
    max_upload: int = 2 * 2**30
    max_unpacked: int = 8 * 2**30
    max_body: int = 2**20
    max_queue: int = 100
    max_log: int = 100 * 2**20
    job_timeout: float = 3600.0
    pass_env: list = []


class ApiError(Exception):
    def __init__(self, status: int, message: str, hint: Optional[str] = None, headers: Optional[dict] = None,
                 field: str = ""):
        super().__init__(message)
        self.status, self.message, self.hint, self.headers, self.field = status, message, hint, headers, field


# --- request bodies (they make the OpenAPI schema) --------------------------------------------
class JobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inputs: dict[str, Any] = Field(default_factory=dict, description=(
        'Input name -> a literal (params), or {"upload": DIGEST}, {"artifact": "NAME:VERSION"} or '
        '{"job_output": "JOB/OUTPUT"} (data inputs).'))
    tags: dict[str, str] = Field(default_factory=dict, description="Free labels kept with the job.")
    force_rerun: bool = Field(False, description="Run every step even if an identical job completed.")

    @model_validator(mode="after")
    def _valid_unicode(self):
        # JSON may spell a lone surrogate ("\ud800"), which no file, log or command can hold.
        _check_unicode(self.inputs, "inputs")
        _check_unicode(self.tags, "tags")
        return self


def _check_unicode(value, where: str) -> None:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"{where} holds text that is not valid Unicode (a lone surrogate)") from None
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_unicode(k, where)
            _check_unicode(v, f"{where}.{k}" if isinstance(k, str) and k.isprintable() and k.isascii() else where)
    elif isinstance(value, list):
        for v in value:
            _check_unicode(v, where)


class EndpointPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    default_deployment: int = Field(..., ge=1, le=MAX_ID, description="The deployment that invocations of the endpoint get.")


# --- the home workspace, per thread -------------------------------------------------------------
class _Home:
    """What a request handler needs of the serving workspace, opened once per thread."""

    def __init__(self, root: str):
        self.root = root
        self.dir = os.path.join(root, STATE_DIR)
        ws = Workspace(root)  # creates what is missing, then let go
        self.store_root = ws.store_root
        self.jobs_dir = ws.jobs_dir
        ws.close()
        self.store = ContentStore(self.store_root)
        self.jobs = JobStore(os.path.join(self.dir, "jobs.db"))
        self.serve = ServeStore(self.jobs)
        self.gate = ServeGate(self.dir)  # uploads and submissions write while no `pipe gc` runs

    def job_dir(self, job_id: int) -> str:
        return os.path.join(self.jobs_dir, str(job_id))


def create_app(config: ServeConfig, pool: Optional[WorkerPool] = None) -> FastAPI:
    local = threading.local()

    def home() -> _Home:
        h = getattr(local, "home", None)
        if h is None:
            h = local.home = _Home(config.root)
        return h

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app):
        if pool is not None:
            pool.start()
        try:
            yield
        finally:
            if pool is not None:
                await asyncio.get_running_loop().run_in_executor(None, pool.stop)

    app = FastAPI(title="pipe endpoints", version=__version__, openapi_url=f"{API}/openapi.json",
                  docs_url=f"{API}/docs", redoc_url=None, lifespan=lifespan,
                  description="Batch endpoints published with `pipe publish` (docs/endpoints.md).")

    @app.exception_handler(ApiError)
    async def _api_error(request, e: ApiError):
        return JSONResponse(error_body(e.message, e.hint, e.field), e.status, headers=e.headers)

    # FastAPI's own answers (unknown route, wrong method, a body or parameter of the wrong
    # shape) in the same error shape as every other answer.
    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request, e: StarletteHTTPException):
        hint = {404: "GET /v1/openapi.json lists the routes", 405: "GET /v1/openapi.json lists the methods"}
        message = e.detail if isinstance(e.detail, str) else "the request was refused"
        return JSONResponse(error_body(message, hint.get(e.status_code)), e.status_code,
                            headers=getattr(e, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request, e: RequestValidationError):
        problems = e.errors()
        where = [".".join(str(x) for x in p.get("loc", ())[1:]) or str(p.get("loc", ("body",))[0])
                 for p in problems]
        message = "; ".join(f"{w}: {p.get('msg', 'invalid')}" for w, p in zip(where, problems)) or "invalid request"
        return JSONResponse(error_body(message, "GET /v1/openapi.json describes every request",
                                       ",".join(dict.fromkeys(where))), 422)

    @app.exception_handler(BodyTooLarge)
    async def _too_large(request, e):
        return JSONResponse(error_body("the request body is over the server's limit",
                                        "send less, or raise the server's --max-upload / --max-body"), 413)

    bearer = HTTPBearer(auto_error=False, description="A token from `pipe token create`.")

    def auth(creds: Optional[HTTPAuthorizationCredentials] = Depends(bearer)) -> Token:
        if creds is None or not creds.credentials:
            raise ApiError(401, "a token is required", "send Authorization: Bearer TOKEN (pipe token create)",
                           {"WWW-Authenticate": "Bearer"})
        tok = home().serve.authenticate(creds.credentials.strip())
        if tok is None:
            raise ApiError(401, "the token is unknown, revoked or expired", "create a new one: pipe token create",
                           {"WWW-Authenticate": "Bearer"})
        return tok

    def stopping() -> bool:
        """The server is stopping: waits and streams end now rather than hold it up."""
        return pool is not None and pool.stopping()

    def gc_free(h: _Home):
        """A writer's hold on the store; while `pipe gc` runs (or waits for the jobs under
        way) the request is refused rather than left hanging."""
        w = h.gate.writer(wait=False)
        if w is None:
            raise ApiError(503, "pipe gc is collecting this workspace's store: no new job or upload until it is "
                                "done", "try again shortly", {"Retry-After": "30"})
        return w

    def need_read(tok: Token, endpoint: str) -> None:
        if not (tok.can_read_all() or tok.can_invoke(endpoint)):
            raise ApiError(403, f"this token may not read endpoint '{endpoint}'", f"scopes: {', '.join(tok.scopes)}")

    def get_endpoint(name: str):
        try:
            return home().serve.endpoint(name)
        except PipefileError as e:
            raise ApiError(404, e.message, e.hint) from None

    def get_deployment(name: str, number: int):
        try:
            return home().serve.deployment(name, number)
        except PipefileError as e:
            raise ApiError(404, e.message, e.hint) from None

    def visible_job(job_id: int, tok: Token):
        """The job, if this token may see it; else 404 (an invoke token cannot even learn
        that another's job exists)."""
        try:
            job = home().jobs.get(job_id)
        except PipefileError:
            job = None
        if job is None or not _may_read(tok, job):
            raise ApiError(404, f"no job {job_id}", "GET /v1/jobs lists the jobs this token may see")
        return job

    def job_json(job, reused: Optional[bool] = None) -> dict:
        h = home()
        steps = h.jobs.steps(job.id)
        history = [dict(e["data"], time=e["time"]) for e in h.serve.events(job.id) if e["kind"] == "state"]
        outputs = {}
        try:
            dep = h.serve.deployment(job.endpoint, job.deployment)
            by_step = {s.step: s for s in steps}
            for name, o in dep.manifest.get("outputs", {}).items():
                rec = by_step.get(o["step"])
                content = (rec.outputs if rec else {}).get(o["output"], {})
                if "digest" in content:
                    outputs[name] = {"kind": content["kind"], "digest": content["digest"], "size": content["size"],
                                     "filename": os.path.basename(o["path"]),
                                     "url": f"{API}/jobs/{job.id}/outputs/{name}"}
        except PipefileError:
            pass
        req = job.request or {}
        out = {"id": job.id, "uid": job.uid, "endpoint": job.endpoint, "deployment": job.deployment,
               "deployment_digest": job.deployment_digest, "state": job.state, "error": job.error,
               "created": job.queued, "started": job.started if job.state not in (QUEUED,) else None,
               "ended": job.ended, "token": job.token_id, "inputs": req.get("inputs", {}),
               "params": req.get("params", {}), "tags": req.get("tags", {}),
               "force_rerun": bool(req.get("force_rerun")), "history": history,
               "steps": [{"step": s.step, "outcome": s.outcome, "seconds": s.seconds, "exit_code": s.exit_code,
                          "error": s.error, "key": s.key} for s in steps],
               "outputs": outputs, "url": f"{API}/jobs/{job.id}"}
        if reused is not None:
            out["reused"] = reused
        return out

    # --- health and endpoints ---------------------------------------------------------------
    @app.get(f"{API}/health", tags=["server"])
    def health() -> dict:
        """Whether the server is up (no token needed)."""
        return {"status": "ok", "version": __version__}

    @app.get(f"{API}/endpoints", tags=["endpoints"])
    def list_endpoints(tok: Token = Depends(auth)) -> dict:
        eps = home().serve.endpoints()
        if not tok.can_read_all():
            eps = [e for e in eps if tok.can_invoke(e.name)]
        return {"endpoints": [e.to_json() for e in eps]}

    @app.get(f"{API}/endpoints/{{endpoint}}", tags=["endpoints"])
    def show_endpoint(endpoint: str, tok: Token = Depends(auth)) -> dict:
        need_read(tok, endpoint)
        ep = get_endpoint(endpoint)
        deps = home().serve.deployments(endpoint)
        out = ep.to_json()
        out["deployments"] = [d.to_json(full=False) for d in deps]
        default = next((d for d in deps if d.number == ep.default_deployment), None)
        out["inputs"] = default.manifest.get("inputs", {}) if default else {}
        out["outputs"] = default.manifest.get("outputs", {}) if default else {}
        return out

    @app.get(f"{API}/endpoints/{{endpoint}}/deployments/{{number}}", tags=["endpoints"])
    def show_deployment(endpoint: str, number: Number, tok: Token = Depends(auth)) -> dict:
        need_read(tok, endpoint)
        return get_deployment(endpoint, number).to_json()

    @app.patch(f"{API}/endpoints/{{endpoint}}", tags=["endpoints"])
    def patch_endpoint(endpoint: str, body: EndpointPatch, tok: Token = Depends(auth)) -> dict:
        if not tok.admin:
            raise ApiError(403, "changing an endpoint needs an admin token")
        get_deployment(endpoint, body.default_deployment)
        try:
            home().serve.set_default(endpoint, body.default_deployment)
        except PipefileError as e:
            raise ApiError(409, e.message, e.hint) from None
        return get_endpoint(endpoint).to_json()

    # --- uploads ------------------------------------------------------------------------------
    @app.post(f"{API}/uploads", tags=["uploads"], status_code=201,
              openapi_extra={"requestBody": {"content": {"application/octet-stream": {"schema": {
                  "type": "string", "format": "binary"}}}, "required": True}})
    async def upload(request: Request, kind: str = Query("", description="file, tar or zip (default: by "
                                                                          "Content-Type)"),
                     tok: Token = Depends(auth)) -> dict:
        """Store a file, or the folder a tar/zip archive holds; answers its digest."""
        if not (tok.admin or tok.invoke_endpoints()):
            raise ApiError(403, "uploading needs an invoke or admin token")
        try:
            what = archive_kind(request.headers.get("content-type", ""), kind)
        except UploadError as e:
            raise ApiError(e.status, e.message, e.hint) from None
        h = home()
        scratch = os.path.join(h.dir, "serve", "uploads")
        os.makedirs(scratch, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=scratch, prefix="recv-")
        size = 0
        try:
            with os.fdopen(fd, "wb") as f:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > config.max_upload:
                        raise ApiError(413, f"the upload is over the limit of {config.max_upload} bytes",
                                       "raise the server's --max-upload")
                    f.write(chunk)
            def keep():
                # Stored and recorded with no `pipe gc` in between (it would see an object
                # that nothing names yet).
                with gc_free(h):
                    got = store_upload(h, tmp, what, scratch, config.max_unpacked)
                    home().serve.add_upload(got.digest, got.kind, got.size, tok.id)
                return got

            try:
                got = await asyncio.get_running_loop().run_in_executor(None, keep)
            except UploadError as e:
                raise ApiError(e.status, e.message, e.hint) from None
        finally:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
        return {"digest": got.digest, "kind": got.kind, "size": got.size}

    @app.head(f"{API}/uploads/{{digest}}", tags=["uploads"])
    def has_upload(digest: str, tok: Token = Depends(auth)) -> Response:
        """200 if this token uploaded this content (and it is still stored), else 404: skip
        re-uploading. An admin token sees every upload; others only their own."""
        if not (tok.admin or tok.invoke_endpoints()):
            raise ApiError(403, "asking for uploads needs an invoke or admin token")
        up = home().serve.upload(digest, _upload_view(tok))
        if up is None or not home().store.complete(PathDigest(up[0], digest, up[1])):
            return Response(status_code=404)
        return Response(status_code=200, headers={"X-Pipe-Kind": up[0], "X-Pipe-Size": str(up[1])})

    # --- jobs ---------------------------------------------------------------------------------
    def submit(endpoint: str, number: Optional[int], body: JobRequest, key: Optional[str], tok: Token):
        # The inputs are checked and the job recorded with no `pipe gc` in between.
        with gc_free(home()):
            return _submit(endpoint, number, body, key, tok)

    def _submit(endpoint: str, number: Optional[int], body: JobRequest, key: Optional[str], tok: Token):
        if not tok.can_invoke(endpoint):
            raise ApiError(403, f"this token may not invoke endpoint '{endpoint}'",
                           f"use a token with scope invoke:{endpoint} (pipe token create --scope invoke:{endpoint})")
        h = home()
        ep = get_endpoint(endpoint)
        if number is None:
            number = ep.default_deployment
            if number is None:
                raise ApiError(409, f"endpoint '{endpoint}' has no enabled deployment",
                               "publish the pipeline again: pipe publish")
        dep = get_deployment(endpoint, number)
        if dep.disabled:
            raise ApiError(409, f"deployment {number} of endpoint '{endpoint}' is disabled",
                           f"invoke the default deployment ({ep.default_deployment})" if ep.default_deployment
                           else "publish the pipeline again")
        if key is not None and (not key or len(key) > 200):
            raise ApiError(400, "Idempotency-Key must be 1 to 200 characters")
        if len(json.dumps(body.tags)) > 4096:
            raise ApiError(422, "tags are over 4 KB", field="tags")
        summary = {"endpoint": endpoint, "deployment": dep.number, "inputs": body.inputs, "tags": body.tags,
                   "force_rerun": body.force_rerun}

        def answer_key(prior, recorded: Optional[dict]):
            if recorded is None:  # keyed before requests were recorded with their key: the job's own
                recorded = {"endpoint": prior.endpoint, "deployment": prior.deployment,
                            **{k: prior.request.get(k) for k in ("inputs", "tags", "force_rerun")}}
            if recorded != summary:
                raise ApiError(409, f"Idempotency-Key '{key}' was used for another request (job {prior.id})",
                               "use a new key for a new request")
            return JSONResponse(job_json(prior, reused=False), 200, headers={"Location": f"{API}/jobs/{prior.id}"})

        if key is not None:  # before the inputs are checked: a retry gets its job even if gc forgot an upload since
            found = h.serve.by_idempotency_key(tok.id, key)
            if found is not None:
                return answer_key(*found)
        try:
            checked = check_request(h, h.serve, dep, body.inputs, lambda j: _may_read(tok, j), _upload_view(tok))
        except RequestError as e:
            raise ApiError(422, e.message, e.hint, field=e.field) from None
        request = {"inputs": body.inputs, "params": checked.params, "assets": checked.assets, "tags": body.tags,
                   "force_rerun": body.force_rerun}
        if not body.force_rerun:
            prev = h.serve.reusable(checked.digest)
            if prev is not None and (tok.can_read_all() or prev.token_id == tok.id) and _outputs_stored(h, prev):
                if key is not None:
                    h.serve.remember_key(tok.id, key, prev.id, summary)
                return JSONResponse(job_json(prev, reused=True), 200, headers={"Location": f"{API}/jobs/{prev.id}"})
        # One transaction: the key, an identical job still queued or running, the queue's depth
        # and the insert, so that concurrent submissions never get past each other.
        try:
            job, how = h.serve.submit(endpoint, dep, tok.id, request, checked.digest, key, f"token:{tok.id}",
                                      max_queue=config.max_queue, merge=not body.force_rerun,
                                      merge_any_token=tok.can_read_all(), key_request=summary)
        except QueueFull as e:
            raise ApiError(429, f"the queue is full ({e.limit} jobs waiting)", "try again later",
                           {"Retry-After": "10"}) from None
        if how == "key":
            found = h.serve.by_idempotency_key(tok.id, key)
            return answer_key(*(found or (job, None)))
        if how == "active":
            # The same work is already under way: its job, not a second one.
            return JSONResponse(job_json(job, reused=True), 202, headers={"Location": f"{API}/jobs/{job.id}"})
        if pool is not None:
            pool.notify()
        return JSONResponse(job_json(job, reused=False), 202, headers={"Location": f"{API}/jobs/{job.id}"})

    def _outputs_stored(h: _Home, job) -> bool:
        data = job_json(job)
        return all(h.store.complete(PathDigest(o["kind"], o["digest"], o["size"])) for o in data["outputs"].values())

    @app.post(f"{API}/endpoints/{{endpoint}}/jobs", tags=["jobs"], status_code=202)
    def invoke(endpoint: str, body: JobRequest, idempotency_key: Optional[str] = Header(None),
               tok: Token = Depends(auth)):
        """Invoke the endpoint's default deployment."""
        return submit(endpoint, None, body, idempotency_key, tok)

    @app.post(f"{API}/endpoints/{{endpoint}}/deployments/{{number}}/jobs", tags=["jobs"], status_code=202)
    def invoke_deployment(endpoint: str, number: Number, body: JobRequest,
                          idempotency_key: Optional[str] = Header(None), tok: Token = Depends(auth)):
        """Invoke one deployment of the endpoint."""
        return submit(endpoint, number, body, idempotency_key, tok)

    @app.post(f"{API}/endpoints/{{endpoint}}/plan", tags=["jobs"])
    def plan(endpoint: str, body: JobRequest, tok: Token = Depends(auth)) -> dict:
        """Which steps an invocation would run or restore; nothing is started."""
        from ..report.plan import status_json
        from ..session import Session, load_deployed

        if not tok.can_invoke(endpoint):
            raise ApiError(403, f"this token may not invoke endpoint '{endpoint}'")
        h = home()
        ep = get_endpoint(endpoint)
        if ep.default_deployment is None:
            raise ApiError(409, f"endpoint '{endpoint}' has no enabled deployment")
        dep = get_deployment(endpoint, ep.default_deployment)
        try:
            checked = check_request(h, h.serve, dep, body.inputs, lambda j: _may_read(tok, j), _upload_view(tok))
        except RequestError as e:
            raise ApiError(422, e.message, e.hint, field=e.field) from None
        base = os.path.join(h.dir, "serve", "plan")
        os.makedirs(base, exist_ok=True)
        tmp = tempfile.mkdtemp(dir=base)
        jws = None
        try:
            pf_path = lay_out(h, dep.manifest, checked.assets, tmp)
            jws = Workspace(tmp, home=h)
            jws.actions = token_actions(jws.actions, h.serve, tok.id)  # what this token's job would see
            graph = load_deployed(pf_path, checked.params, dep.manifest.get("artifacts", {}), jws)
            pipe = Session(graph, workspace=jws)
            jws = None  # the session closes it
            try:
                result = status_json(pipe.plan((), True if body.force_rerun else frozenset()))
            finally:
                pipe.close()
        except PipefileError as e:
            raise ApiError(422, e.render()) from None
        finally:
            import shutil

            if jws is not None:
                jws.close()
            shutil.rmtree(tmp, ignore_errors=True)
        return {"endpoint": endpoint, "deployment": dep.number, **result}

    @app.get(f"{API}/jobs", tags=["jobs"])
    def list_jobs(endpoint: Optional[str] = None, limit: int = Query(100, ge=1, le=1000),
                  tok: Token = Depends(auth)) -> dict:
        """Served jobs, newest first (an invoke token sees only its own)."""
        jobs = home().serve.served_jobs(endpoint, None if tok.can_read_all() else tok.id, limit)
        return {"jobs": [{"id": j.id, "uid": j.uid, "endpoint": j.endpoint, "deployment": j.deployment,
                          "state": j.state, "created": j.queued, "ended": j.ended, "token": j.token_id,
                          "url": f"{API}/jobs/{j.id}"} for j in jobs]}

    @app.get(f"{API}/jobs/{{job_id}}", tags=["jobs"])
    async def show_job(job_id: JobId, wait: float = Query(0, ge=0, le=300,
                                                         description="Wait up to this many seconds for the job "
                                                                     "to end."),
                       tok: Token = Depends(auth)) -> dict:
        """State history, per-step outcome, output digests."""
        loop = asyncio.get_running_loop()
        job = await loop.run_in_executor(None, visible_job, job_id, tok)
        deadline = time.monotonic() + wait
        while job.state not in TERMINAL and time.monotonic() < deadline and not stopping():
            await asyncio.sleep(0.2)
            job = await loop.run_in_executor(None, home().jobs.get, job_id)
        return await loop.run_in_executor(None, job_json, job)

    @app.get(f"{API}/jobs/{{job_id}}/events", tags=["jobs"],
             responses={200: {"content": {"text/event-stream": {}, "application/json": {}}}})
    async def job_events(job_id: JobId, request: Request,
                         wait: Optional[float] = Query(None, ge=0, le=300, description=(
                             "Long-poll: answer JSON once there are events after `after` or the job "
                             "ended, waiting at most this many seconds. Without it: server-sent events.")),
                         after: int = Query(0, ge=0, le=MAX_ID, description="Only events after this sequence number."),
                         tok: Token = Depends(auth)):
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, visible_job, job_id, tok)
        last_id = request.headers.get("last-event-id", "")
        if last_id.isdigit():
            after = max(after, int(last_id))

        def fetch(since):
            # The state first: a job that has ended has written its last event already.
            h = home()
            state = h.jobs.get(job_id).state
            return h.serve.events(job_id, since), state

        if wait is not None:
            deadline = time.monotonic() + wait
            while True:
                events, state = await loop.run_in_executor(None, fetch, after)
                if events or state in TERMINAL or time.monotonic() >= deadline or stopping():
                    return {"events": events, "state": state, "done": state in TERMINAL}
                await asyncio.sleep(0.2)

        async def stream():
            since = after
            quiet = 0.0
            while True:
                events, state = await loop.run_in_executor(None, fetch, since)
                for e in events:
                    since = e["seq"]
                    yield f"id: {e['seq']}\nevent: {e['kind']}\ndata: {json.dumps(dict(e['data'], time=e['time']))}\n\n"
                if state in TERMINAL:
                    yield f"event: end\ndata: {json.dumps({'state': state})}\n\n"
                    return
                if stopping() or await request.is_disconnected():
                    return  # the server stops: the client reconnects later (Last-Event-ID)
                await asyncio.sleep(0.2)
                quiet = 0.0 if events else quiet + 0.2
                if quiet >= 15:
                    quiet = 0.0
                    yield ": keep-alive\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    @app.get(f"{API}/jobs/{{job_id}}/logs/{{step}}", tags=["jobs"],
             responses={200: {"content": {"text/plain": {}}}})
    async def job_log(job_id: JobId, step: str, request: Request,
                      follow: bool = Query(False, description="Keep sending as the step writes, until the job "
                                                              "ends."),
                      tok: Token = Depends(auth)):
        loop = asyncio.get_running_loop()
        job = await loop.run_in_executor(None, visible_job, job_id, tok)
        dep = await loop.run_in_executor(None, get_deployment, job.endpoint, job.deployment)
        if step not in dep.manifest.get("steps", []):  # never a path built from what the client sent
            from ..errors import did_you_mean

            raise ApiError(404, f"job {job_id} has no step '{step}'",
                           did_you_mean(step, dep.manifest.get("steps", []), "step"))
        path = os.path.join(home().job_dir(job_id), f"{step}.log")
        if not follow:
            try:
                with open(path, "rb") as f:
                    data = f.read(config.max_log)
            except FileNotFoundError:
                data = b""
            return Response(data, media_type="text/plain; charset=utf-8")

        async def stream():
            offset = 0
            while True:
                state = (await loop.run_in_executor(None, home().jobs.get, job_id)).state
                try:
                    with open(path, "rb") as f:
                        f.seek(offset)
                        data = f.read(1 << 20)
                except FileNotFoundError:
                    data = b""
                if data:
                    offset += len(data)
                    yield data
                    continue
                if state in TERMINAL or offset >= config.max_log or stopping() or await request.is_disconnected():
                    return
                await asyncio.sleep(0.2)

        return StreamingResponse(stream(), media_type="text/plain; charset=utf-8")

    @app.get(f"{API}/jobs/{{job_id}}/outputs/{{name}}", tags=["jobs"],
             responses={200: {"content": {"application/octet-stream": {}, "application/x-tar": {}}}})
    def job_output(job_id: JobId, name: str, tok: Token = Depends(auth)):
        """An output: the file, or a tar stream of the folder."""
        job = visible_job(job_id, tok)
        outputs = job_json(job)["outputs"]
        if name not in outputs:
            from ..errors import did_you_mean

            dep = get_deployment(job.endpoint, job.deployment)
            declared = dep.manifest.get("outputs", {})
            if name in declared:
                raise ApiError(409, f"job {job_id} has no content for output '{name}' (it is {job.state})",
                               "wait for the job to complete")
            raise ApiError(404, f"job {job_id} has no output '{name}'", did_you_mean(name, declared, "output"))
        o = outputs[name]
        store = home().store
        content = PathDigest(o["kind"], o["digest"], o["size"])
        if not store.complete(content):
            raise ApiError(410, f"the content of output '{name}' is no longer in the store", "invoke again")
        base = os.path.basename(get_deployment(job.endpoint, job.deployment).manifest["outputs"][name]["path"])
        if o["kind"] == FILE:
            def chunks():
                with open(store.path(o["digest"]), "rb") as f:
                    while True:
                        b = f.read(1 << 20)
                        if not b:
                            return
                        yield b
            return StreamingResponse(chunks(), media_type="application/octet-stream", headers={
                "Content-Length": str(o["size"]), "X-Pipe-Digest": o["digest"],
                "Content-Disposition": f'attachment; filename="{_safe_name(base)}"'})
        return StreamingResponse(_tar_stream(store, o["digest"]), media_type="application/x-tar", headers={
            "X-Pipe-Digest": o["digest"], "Content-Disposition": f'attachment; filename="{_safe_name(base)}.tar"'})

    @app.post(f"{API}/jobs/{{job_id}}/cancel", tags=["jobs"], status_code=202)
    def cancel(job_id: JobId, tok: Token = Depends(auth)) -> dict:
        """Cancel a queued or running job (its steps' whole process groups are stopped)."""
        job = visible_job(job_id, tok)
        if not (tok.admin or (job.token_id == tok.id and tok.can_invoke(job.endpoint))):
            raise ApiError(403, "canceling a job needs an admin token or the invoke token that started it")
        s = home().serve
        if job.state in TERMINAL:
            raise ApiError(409, f"job {job_id} has already ended ({job.state})")
        if not s.set_state(job_id, "canceled", "canceled by request", only_from=(QUEUED,)):
            if not (pool is not None and pool.cancel(job_id, "canceled", "canceled by request")):
                # Active in the database, but no worker here has it: a stale record.
                s.set_state(job_id, "canceled", "canceled by request", only_from=ACTIVE)
        return job_json(home().jobs.get(job_id))

    return app


def _upload_view(tok: Token) -> Optional[str]:
    """Whose uploads a token may name or ask about: an admin's, all (None); else its own."""
    return None if tok.admin else tok.id


def _may_read(tok: Token, job) -> bool:
    """A served job, and this token reads everything or started it."""
    return bool(job.endpoint) and (tok.can_read_all() or job.token_id == tok.id)


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name) or "output"


class _Chunks:
    """A write-only file for tarfile's stream mode, read out between members."""

    def __init__(self):
        self.parts: list = []

    def write(self, b) -> int:
        self.parts.append(bytes(b))
        return len(b)

    def take(self) -> bytes:
        out = b"".join(self.parts)
        self.parts = []
        return out


def _tar_stream(store, digest: str):
    buf = _Chunks()
    with tarfile.open(fileobj=buf, mode="w|", format=tarfile.PAX_FORMAT) as tf:
        for rel, kind, d, size in store.walk(digest):
            info = tarfile.TarInfo(rel)
            info.mtime = 0
            if kind == E_TREE:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tf.addfile(info)
            elif kind == E_LINK:
                continue  # a link that pointed nowhere: nothing to send
            else:
                info.size, info.mode = size, 0o755 if kind == E_EXEC else 0o644
                with open(store.path(d), "rb") as f:
                    tf.addfile(info, f)
            data = buf.take()
            if data:
                yield data
    yield buf.take()
