"""Routes: invoking an endpoint (or one deployment of it), planning an invocation, and
served jobs: listing, reading (with a wait), their events (server-sent or long-polled),
step logs (whole or followed), outputs (a file, or a tar stream of a folder), canceling."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Optional

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from ...jobdb.records import TERMINAL
from ...jobdb.tokens import Token
from ...outcomes import JobState
from .. import jobs_view, submission
from ..access import visible_job
from ..guard import API
from ..refusals import BadRequest
from .context import Context
from .models import MAX_ID, JobId, JobRequest, Number

# A job in these states when the server stops is stopped by it and ends `interrupted` within
# uvicorn's grace period (or goes back to the queue): its event stream waits for that.
STOPPED_BY_THE_SERVER = (JobState.PREPARING, JobState.RUNNING, JobState.FINALIZING)


def _invocation(body: JobRequest) -> submission.Invocation:
    return submission.Invocation(body.inputs, body.tags, body.force_rerun)


def _last_event_id(value: str) -> int:
    """The sequence number a reconnecting client names in Last-Event-ID (0: none). Only
    ASCII digits up to MAX_ID: str.isdigit() also takes '²', which int() refuses, and a
    longer number overflows SQLite; either was a 500."""
    value = value.strip()
    if not value:
        return 0
    if not (value.isascii() and value.isdigit() and len(value) <= 16 and int(value) <= MAX_ID):
        raise BadRequest(
            f"Last-Event-ID {value[:40]!r} is not an event id (a number from 0 to {MAX_ID})",
            "send the id of the last event received, or no Last-Event-ID to start from the first",
            "Last-Event-ID",
        )
    return int(value)


def router(ctx: Context) -> APIRouter:
    r = APIRouter()
    auth = ctx.auth
    config = ctx.config

    def submit(endpoint: str, number: Optional[int], body: JobRequest, key: Optional[str], tok: Token):
        done = submission.submit(ctx.home(), tok, endpoint, number, _invocation(body), key, config.max_queue, ctx.pool)
        return JSONResponse(done.job, 202 if done.under_way else 200, headers={"Location": f"{API}/jobs/{done.job_id}"})

    def visible(job_id: int, tok: Token):
        return visible_job(ctx.home(), job_id, tok)

    def current(job_id: int):
        return ctx.home().jobs.get(job_id)

    def as_json(job) -> dict:
        return jobs_view.job_json(ctx.home(), job)

    @r.post(f"{API}/endpoints/{{endpoint}}/jobs", tags=["jobs"], status_code=202)
    def invoke(
        endpoint: str, body: JobRequest, idempotency_key: Optional[str] = Header(None), tok: Token = Depends(auth)
    ):
        """Invoke the endpoint's default deployment."""
        return submit(endpoint, None, body, idempotency_key, tok)

    @r.post(f"{API}/endpoints/{{endpoint}}/deployments/{{number}}/jobs", tags=["jobs"], status_code=202)
    def invoke_deployment(
        endpoint: str,
        number: Number,
        body: JobRequest,
        idempotency_key: Optional[str] = Header(None),
        tok: Token = Depends(auth),
    ):
        """Invoke one deployment of the endpoint."""
        return submit(endpoint, number, body, idempotency_key, tok)

    @r.post(f"{API}/endpoints/{{endpoint}}/plan", tags=["jobs"])
    def plan(endpoint: str, body: JobRequest, tok: Token = Depends(auth)) -> dict:
        """Which steps an invocation would run or restore; nothing is started."""
        return submission.plan(ctx.home(), tok, endpoint, _invocation(body))

    @r.get(f"{API}/jobs", tags=["jobs"])
    def list_jobs(
        endpoint: Optional[str] = None, limit: int = Query(100, ge=1, le=1000), tok: Token = Depends(auth)
    ) -> dict:
        """Served jobs, newest first (an invoke token sees only its own)."""
        return jobs_view.list_jobs(ctx.home(), tok, endpoint, limit)

    @r.get(f"{API}/jobs/{{job_id}}", tags=["jobs"])
    async def show_job(
        job_id: JobId,
        wait: float = Query(0, ge=0, le=300, description="Wait up to this many seconds for the job to end."),
        tok: Token = Depends(auth),
    ) -> dict:
        """State history, per-step outcome, output digests."""
        loop = asyncio.get_running_loop()
        job = await loop.run_in_executor(None, visible, job_id, tok)
        deadline = time.monotonic() + wait
        while job.state not in TERMINAL and time.monotonic() < deadline and not ctx.stopping():
            await asyncio.sleep(0.2)
            job = await loop.run_in_executor(None, current, job_id)
        return await loop.run_in_executor(None, as_json, job)

    @r.get(
        f"{API}/jobs/{{job_id}}/events",
        tags=["jobs"],
        responses={200: {"content": {"text/event-stream": {}, "application/json": {}}}},
    )
    async def job_events(
        job_id: JobId,
        request: Request,
        wait: Optional[float] = Query(
            None,
            ge=0,
            le=300,
            description=(
                "Long-poll: answer JSON once there are events after `after` or the job "
                "ended, waiting at most this many seconds. Without it: server-sent events."
            ),
        ),
        after: int = Query(0, ge=0, le=MAX_ID, description="Only events after this sequence number."),
        tok: Token = Depends(auth),
    ):
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, visible, job_id, tok)
        after = max(after, _last_event_id(request.headers.get("last-event-id", "")))

        def fetch(since):
            return jobs_view.events_since(ctx.home(), job_id, since)

        if wait is not None:
            deadline = time.monotonic() + wait
            while True:
                events, state = await loop.run_in_executor(None, fetch, after)
                if events or state in TERMINAL or time.monotonic() >= deadline or ctx.stopping():
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
                if await request.is_disconnected():
                    return
                if ctx.stopping() and state not in STOPPED_BY_THE_SERVER:
                    # The server stops: the client reconnects later (Last-Event-ID). A job the
                    # server is stopping is followed to its end first (the stop is set before
                    # the job is interrupted): its client learns it ended `interrupted`.
                    return
                await asyncio.sleep(0.2)
                quiet = 0.0 if events else quiet + 0.2
                if quiet >= 15:
                    quiet = 0.0
                    yield ": keep-alive\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    @r.get(f"{API}/jobs/{{job_id}}/logs/{{step}}", tags=["jobs"], responses={200: {"content": {"text/plain": {}}}})
    async def job_log(
        job_id: JobId,
        step: str,
        request: Request,
        follow: bool = Query(False, description="Keep sending as the step writes, until the job ends."),
        tok: Token = Depends(auth),
    ):
        loop = asyncio.get_running_loop()
        job = await loop.run_in_executor(None, visible, job_id, tok)
        path = await loop.run_in_executor(None, lambda: jobs_view.log_path(ctx.home(), job, step))
        if not follow:
            # Streamed from the file (its size now, up to --max-log): never the whole log in
            # memory nor read on the event loop, however many clients read a large one.
            size, chunks = await loop.run_in_executor(None, jobs_view.log_chunks, path, config.max_log)
            return StreamingResponse(
                chunks, media_type="text/plain; charset=utf-8", headers={"Content-Length": str(size)}
            )

        async def stream():
            offset = 0
            while True:
                state = (await loop.run_in_executor(None, current, job_id)).state
                data = await loop.run_in_executor(None, jobs_view.read_log, path, offset, 1 << 20)
                if data:
                    offset += len(data)
                    yield data
                    continue
                if state in TERMINAL or offset >= config.max_log or ctx.stopping() or await request.is_disconnected():
                    return
                await asyncio.sleep(0.2)

        return StreamingResponse(stream(), media_type="text/plain; charset=utf-8")

    @r.get(
        f"{API}/jobs/{{job_id}}/outputs/{{name}}",
        tags=["jobs"],
        responses={200: {"content": {"application/octet-stream": {}, "application/x-tar": {}}}},
    )
    def job_output(job_id: JobId, name: str, tok: Token = Depends(auth)):
        """An output: the file, or a tar stream of the folder."""
        out = jobs_view.output_content(ctx.home(), tok, job_id, name)
        disposition = f'attachment; filename="{out.filename}"'
        if out.is_file:
            return StreamingResponse(
                out.chunks,
                media_type="application/octet-stream",
                headers={
                    "Content-Length": str(out.size),
                    "X-Pipe-Digest": out.digest,
                    "Content-Disposition": disposition,
                },
            )
        return StreamingResponse(
            out.chunks,
            media_type="application/x-tar",
            headers={"X-Pipe-Digest": out.digest, "Content-Disposition": disposition},
        )

    @r.post(f"{API}/jobs/{{job_id}}/cancel", tags=["jobs"], status_code=202)
    def cancel(job_id: JobId, tok: Token = Depends(auth)) -> dict:
        """Cancel a queued or running job (its steps' whole process groups are stopped)."""
        return jobs_view.cancel(ctx.home(), ctx.pool, tok, job_id)

    return r
