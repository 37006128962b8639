"""The designer's FastAPI app: `create_app` assembles the routers of ui/http/, the one
error shape (`{"error": {"message", "hint", "file", "line"}}`), and the page at `/`
(pipefile/ui/static/, built by the front end; a small page saying so until it is).

Host, Origin and the token are checked before any route by guard.UiGuard (server.py
wraps the app in it); what a request does is decided by the HTTP-free modules of ui/."""

from __future__ import annotations

import os

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.staticfiles import StaticFiles

from .. import __version__
from ..errors import PipefileError
from .errors_view import Refusal, body_of, error_body
from .guard import COOKIE, token_matches
from .http import jobs, pipeline
from .http.context import UiContext, UiJSON

STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")

NOT_BUILT = """<!doctype html><html><head><meta charset="utf-8"><title>pipe ui</title></head>
<body style="font-family: system-ui, sans-serif; margin: 3em">
<h1>pipe ui</h1><p>The front end is not built in this installation
(<code>pipefile/ui/static/index.html</code> is missing). The API answers under
<code>/api/</code> (see <code>pipe help ui</code>).</p></body></html>
"""


def create_app(ctx: UiContext) -> FastAPI:
    app = FastAPI(
        title="pipe ui",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
        default_response_class=UiJSON,
    )
    _install_errors(app)
    app.include_router(pipeline.router(ctx))
    app.include_router(jobs.router(ctx))

    @app.get("/", include_in_schema=False)
    def index(request: Request):
        page = os.path.join(STATIC, "index.html")
        if os.path.isfile(page):
            with open(page, "rb") as f:
                resp: Response = HTMLResponse(f.read())
        else:
            resp = HTMLResponse(NOT_BUILT)
        resp.headers["Cache-Control"] = "no-store"
        given = request.query_params.get("token")
        if token_matches(given, ctx.token):  # the guard let it in; keep it for the page's API calls
            resp.set_cookie(COOKIE, ctx.token, httponly=True, samesite="strict", path="/")
        return resp

    if os.path.isdir(STATIC):  # the built front end's other files (assets/, icons): after every route
        app.mount("/", StaticFiles(directory=STATIC), name="static")
    return app


def _install_errors(app: FastAPI) -> None:
    @app.exception_handler(Refusal)
    async def _refused(request, e: Refusal):
        return JSONResponse(dict(body_of(e), **e.extra), e.status)

    @app.exception_handler(PipefileError)
    async def _bad_input(request, e: PipefileError):
        return JSONResponse(body_of(e), 400)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request, e: StarletteHTTPException):
        message = e.detail if isinstance(e.detail, str) else "the request was refused"
        hint = "GET /api/openapi.json lists the routes" if e.status_code in (404, 405) else None
        return JSONResponse(error_body(message, hint), e.status_code)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request, e: RequestValidationError):
        problems = e.errors()
        where = [".".join(str(x) for x in p.get("loc", ())[1:]) or "body" for p in problems]
        message = "; ".join(f"{w}: {p.get('msg', 'invalid')}" for w, p in zip(where, problems)) or "invalid request"
        return JSONResponse(error_body(message, "docs/ui.md describes every request"), 422)
