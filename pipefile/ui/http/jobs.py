"""/api/jobs, /api/jobs/ID (+ events, logs, output previews, cancel, clone), /api/compare."""

from __future__ import annotations

from typing import Optional

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse, StreamingResponse

from .. import compare, drafts, jobs_view, previews
from ..errors_view import Refusal
from .context import UiContext, UiJSON

_STREAM_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


def router(ctx: UiContext) -> APIRouter:
    r = APIRouter(prefix="/api")

    @r.get("/jobs")
    def list_jobs(experiment: Optional[str] = None, status: Optional[str] = None, limit: int = 50):
        return UiJSON(jobs_view.list_jobs(ctx.homes().jobs, experiment, status, limit))

    @r.get("/jobs/{job}")
    def show_job(job: str):
        # (written as it is, as /api/pipeline: FastAPI's encoding walked a 6,400-task job in ~0.6 s)
        return UiJSON(jobs_view.show_job(ctx.homes(), job))

    @r.get("/jobs/{job}/events")
    def job_events(job: str):
        j = jobs_view.resolve(ctx.homes(), job)
        return StreamingResponse(
            jobs_view.follow_events(ctx.homes, j.id), media_type="text/event-stream", headers=_STREAM_HEADERS
        )

    @r.get("/jobs/{job}/steps/{step:path}/log")
    def step_log(job: str, step: str, follow: int = 0):
        ws = ctx.homes()
        j = jobs_view.resolve(ws, job)
        path = jobs_view.log_path(ws, j, step)
        if not follow:
            return PlainTextResponse(jobs_view.read_log(path))
        return StreamingResponse(
            jobs_view.follow_log(ctx.homes, j.id, step, path), media_type="text/event-stream", headers=_STREAM_HEADERS
        )

    @r.get("/jobs/{job}/steps/{step:path}/outputs/{name}/preview")
    def preview_output(job: str, step: str, name: str, path: Optional[str] = None):
        ws = ctx.homes()
        return previews.preview_output(ws, jobs_view.resolve(ws, job), step, name, path)

    @r.post("/jobs/{job}/cancel", status_code=202)
    def cancel(job: str):
        j = jobs_view.resolve(ctx.homes(), job)
        run = ctx.runs.of_job(j.id)
        if run is None:
            raise Refusal(
                409,
                f"job {j.id} was not started by this pipe ui",
                "stop it where it runs (Ctrl-C in its terminal)",
            )
        if run.exit_code is not None:
            raise Refusal(409, f"job {j.id} has ended already ({j.status})", "nothing to cancel: reload the job")
        ctx.runs.cancel(run)
        return {"job": j.id, "run": run.id, "state": "cancelling"}

    @r.post("/jobs/{job}/clone")
    def clone(job: str):
        ws = ctx.homes()
        return drafts.clone_draft(ws, jobs_view.resolve(ws, job), ctx.pipefile)

    @r.get("/compare")
    def compare_jobs(a: str, b: str):
        ws = ctx.homes()
        return UiJSON(compare.compare_jobs(ws, jobs_view.resolve(ws, a), jobs_view.resolve(ws, b)))

    return r
