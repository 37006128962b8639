"""/api/pipeline, /api/library, /api/preview, /api/save, /api/run, /api/runs/ID."""

from __future__ import annotations

from typing import Any, Optional

from fastapi import APIRouter
from pydantic import BaseModel, Field

from .. import drafts, library, neighbourhood, pipeline_view
from ..errors_view import Refusal
from ..runs import KEEP_DONE, check_request, run_params
from .context import UiContext, UiJSON


class EditBody(BaseModel):
    base: Optional[str] = None
    operations: list = Field(default_factory=list)


class RunBody(BaseModel):
    targets: list = Field(default_factory=list)
    params: dict = Field(default_factory=dict)
    force: Any = False  # (checked by check_request: a model's bool would take "yes" or 1 as true)


def _json(doc: dict) -> UiJSON:
    """The answer written as it is: its values are plain JSON already, and FastAPI's own
    encoding walks every value of a 10,000-step graph in Python (seconds)."""
    return UiJSON(doc)


def router(ctx: UiContext) -> APIRouter:
    r = APIRouter(prefix="/api")

    @r.get("/pipeline")
    def get_pipeline(focus: Optional[str] = None, depth: Optional[str] = None):
        neighbourhood.depth_arg(depth)  # a bad depth is refused before any work
        doc = pipeline_view.pipeline_view(ctx.pipefile, ctx.graphs)
        doc["read_only"] = drafts.read_only(ctx.pipefile, doc["text"])
        if doc["ok"] and doc["read_only"] is None:
            drafts.with_matrix_values(doc)
        fresh = ctx.text_of(doc["digest"]) is None
        ctx.remember(doc["digest"], doc["text"])
        answer = _json(neighbourhood.focused(doc, focus, depth))
        if fresh and doc["ok"]:  # a text the page has not had yet: its first edit will parse it
            drafts.prepare_in_background(ctx.pipefile, doc["text"])
        return answer

    @r.get("/library")
    def get_library():
        ws = ctx.homes()
        return library.library(ctx.pipefile, ws.jobs)

    @r.post("/preview")
    def preview(body: EditBody):
        return _json(drafts.preview(ctx.pipefile, body.base, body.operations, ctx.text_of(body.base), ctx.graphs))

    @r.post("/save")
    def save(body: EditBody):
        done = drafts.save(ctx.pipefile, body.base, body.operations, ctx.text_of(body.base))
        return done

    @r.post("/run", status_code=202)
    def run(body: RunBody):
        check_request(body.targets, body.params, body.force)
        # What `pipe run` would refuse at once (a Pipefile that does not load, an unknown
        # param or target) is answered here, located, rather than as a run that failed.
        graph = pipeline_view.load_graph(ctx.pipefile, run_params(body.params))
        graph.select(body.targets)
        started = ctx.runs.start(ctx.display, body.targets, body.params, body.force)
        job = ctx.runs.wait_for_job(started, 5.0)
        waiting, holder = started.waiting()  # (no job yet: another pipe holds the workspace)
        return {"job": job, "run": started.id, "command": started.command, "waiting": waiting, "holder_pid": holder}

    @r.get("/runs/{run_id}")
    def get_run(run_id: str):
        found = ctx.runs.get(run_id)
        if found is None:
            raise Refusal(
                404,
                f"no run '{run_id}' was started by this pipe ui (it keeps its last {KEEP_DONE} finished runs)",
                "POST /api/run starts one; GET /api/jobs lists the jobs",
            )
        return found.to_json()

    return r
