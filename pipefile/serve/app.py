"""The REST API, versioned under /v1 (OpenAPI at /v1/openapi.json): `create_app`
assembles the routers of serve/http/ into one FastAPI app.

Every route but /v1/health (and the OpenAPI document) needs a bearer token (`pipe
token create`). Scopes: `admin` may do anything; `read` may read every endpoint and
job; `invoke:EP` may upload, invoke EP, read EP, and read only the jobs it started.

Before any route runs, `guard.RequestGuard` checks Host, Origin and body size. What a
request does is decided by HTTP-free modules (access, endpoints_view, submission,
jobs_view, receiving, online), which the routers only call.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import Optional

from fastapi import FastAPI
from pydantic import BaseModel

from .. import __version__
from .guard import API
from .http import endpoints, errors, jobs, online, uploads
from .http.context import Context
from .scorer import ScorerPool
from .worker import WorkerPool


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
    idle_timeout: float = 60.0  # seconds a request body may send nothing (guard.py); a request's head may take
    max_connections: Optional[int] = None  # connections held at once (None: from the open-file limit: server.py)
    pass_env: list = []
    score_timeout: float = 30.0  # seconds a real-time request's rows may take (serve/scorer.py)


def create_app(config: ServeConfig, pool: Optional[WorkerPool] = None) -> FastAPI:
    ctx = Context(config, pool)
    scorers = ScorerPool(config.score_timeout)

    @asynccontextmanager
    async def lifespan(app):
        if pool is not None:
            pool.start()
        try:
            yield
        finally:
            scorers.close()  # the models' processes end with the server
            if pool is not None:
                await asyncio.get_running_loop().run_in_executor(None, pool.stop)

    app = FastAPI(
        title="pipe endpoints",
        version=__version__,
        openapi_url=f"{API}/openapi.json",
        docs_url=f"{API}/docs",
        redoc_url=None,
        lifespan=lifespan,
        description=(
            "Batch endpoints published with `pipe publish`, and real-time deployments of a model "
            "made with `pipe deploy` (`pipe help endpoints`)."
        ),
    )
    errors.install(app, config.idle_timeout)
    # In this order: it is the order of the paths in the OpenAPI document.
    for routes in (endpoints, uploads, jobs):
        app.include_router(routes.router(ctx))
    app.include_router(online.router(ctx, scorers))
    return app
