"""/api/jobs, /api/jobs/ID (+ events, logs, output previews, cancel, clone), /api/compare."""

from __future__ import annotations

from typing import Optional

from fastapi import APIRouter

from .. import jobs_view
from .context import UiContext


def router(ctx: UiContext) -> APIRouter:
    r = APIRouter(prefix="/api")

    @r.get("/jobs")
    def list_jobs(experiment: Optional[str] = None, status: Optional[str] = None, limit: int = 50):
        return jobs_view.list_jobs(ctx.homes().jobs, experiment, status, limit)

    return r
