"""Every refusal answered in one shape, `{"error": {"message", "hint"?, "field"?}}`
(guard.error_body): the logic's refusals (serve/refusals.py) and upload errors by their
kind, and FastAPI's own answers (unknown route, wrong method, a body or parameter of the
wrong shape, a body over the limit)."""

from __future__ import annotations

import sqlite3

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from ..guard import IDLE_HINT, IDLE_MESSAGE, TOO_LARGE_HINT, TOO_LARGE_MESSAGE, BodyIdle, BodyTooLarge, error_body
from ..receiving import disk_full
from ..refusals import (
    BadRequest,
    Busy,
    CannotServe,
    Conflict,
    Forbidden,
    Gone,
    Invalid,
    NoSpace,
    NotFound,
    Refused,
    TimedOut,
    TooLarge,
    Unauthenticated,
    Unavailable,
)
from ..uploads import UploadError

STATUS = {
    BadRequest: 400,
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    Gone: 410,
    TooLarge: 413,
    Invalid: 422,
    Busy: 429,
    Unavailable: 503,
    CannotServe: 503,
    NoSpace: 507,
    TimedOut: 504,
}


def status_of(e: Refused) -> int:
    for kind in type(e).__mro__:  # the most specific kind named (Unavailable before Busy)
        if kind in STATUS:
            return STATUS[kind]
    return 400  # a refusal of no named kind: the request's fault


def headers_of(e: Refused):
    if isinstance(e, Unauthenticated):
        return {"WWW-Authenticate": "Bearer"}
    if isinstance(e, Busy):
        return {"Retry-After": str(e.retry_after)}
    return None


def install(app: FastAPI, idle_timeout: float = 60.0) -> None:
    @app.exception_handler(Refused)
    async def _refused(request, e: Refused):
        return JSONResponse(error_body(e.message, e.hint, e.field), status_of(e), headers=headers_of(e))

    @app.exception_handler(UploadError)
    async def _upload_refused(request, e: UploadError):
        return JSONResponse(error_body(e.message, e.hint), e.status)

    # FastAPI's own answers (unknown route, wrong method, a body or parameter of the wrong
    # shape) in the same error shape as every other answer.
    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request, e: StarletteHTTPException):
        hint = {
            400: "send the body as UTF-8 JSON (Content-Type: application/json); GET /v1/openapi.json describes it",
            404: "GET /v1/openapi.json lists the routes",
            405: "GET /v1/openapi.json lists the methods",
        }
        message = e.detail if isinstance(e.detail, str) else "the request was refused"
        return JSONResponse(
            error_body(message, hint.get(e.status_code)), e.status_code, headers=getattr(e, "headers", None)
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request, e: RequestValidationError):
        problems = e.errors()
        sent_as = _not_json(request, problems)
        if sent_as:
            # FastAPI reads a body of another type as no JSON at all, and said only that the body
            # "should be a valid dictionary": `curl -d '{...}'` (form-encoded) met that.
            return JSONResponse(
                error_body(
                    f"body: sent as Content-Type {sent_as!r}, not as JSON",
                    "send it with Content-Type: application/json (curl: -H 'Content-Type: application/json'); "
                    "GET /v1/openapi.json describes every request",
                    "body",
                ),
                422,
            )
        where = [_where(p) for p in problems]
        message = "; ".join(f"{w}: {_what(p)}" for w, p in zip(where, problems)) or "invalid request"
        return JSONResponse(
            error_body(message, "GET /v1/openapi.json describes every request", ",".join(dict.fromkeys(where))), 422
        )

    @app.exception_handler(ClientDisconnect)
    async def _client_gone(request, e):
        # The client hung up before its body was all sent (an upload cut off): its route has
        # removed what it received; no one reads this answer, and it is no fault of the
        # server's to log with a traceback.
        return JSONResponse(
            error_body(
                "the client closed the connection before the request body was complete", "send the request again"
            ),
            400,
        )

    async def _disk(request, e: Exception):
        # A full disk met while recording a job (SQLite's "database or disk is full") or
        # writing its scratch: the server's condition, named, not a 500 with a traceback.
        if not disk_full(e):
            raise e
        return JSONResponse(
            error_body(
                "the server has no space left on its disk for this request; nothing of it was kept",
                "send it again once the server's disk has room (its operator frees some: pipe gc)",
            ),
            507,
        )

    app.add_exception_handler(OSError, _disk)
    app.add_exception_handler(sqlite3.Error, _disk)

    @app.exception_handler(BodyIdle)
    async def _idle(request, e):
        # (the connection closed: the rest of the body, should it come, is no next request)
        message = IDLE_MESSAGE.format(f"{idle_timeout:g}")
        return JSONResponse(error_body(message, IDLE_HINT), 408, headers={"Connection": "close"})

    @app.exception_handler(BodyTooLarge)
    async def _too_large(request, e: BodyTooLarge):
        # (a chunked upload counted past its limit: the same words as one whose Content-Length is)
        return JSONResponse(error_body(TOO_LARGE_MESSAGE.format(e.limit), TOO_LARGE_HINT), 413)


def _not_json(request, problems: list) -> str:
    """The request's Content-Type when the body as a whole was refused and it is not JSON
    (FastAPI parses only a JSON type, or none, as JSON), else ''."""
    kind = request.headers.get("content-type", "")[:100]  # (named in the answer: bounded)
    media = kind.split(";", 1)[0].strip().lower()
    if not media or media == "application/json" or (media.startswith("application/") and media.endswith("+json")):
        return ""
    whole = any(tuple(p.get("loc", ())) == ("body",) for p in problems)
    return kind if whole else ""


def _where(problem: dict) -> str:
    loc = problem.get("loc", ())
    if problem.get("type") == "json_invalid":
        return "body"  # its loc is ("body", the character's position): the body is at fault
    return ".".join(str(x) for x in loc[1:]) or str(loc[0] if loc else "body")


def _what(problem: dict) -> str:
    if problem.get("type") == "json_invalid":
        loc = problem.get("loc", ())
        at = f" at character {loc[1]}" if len(loc) > 1 and isinstance(loc[1], int) else ""
        why = (problem.get("ctx") or {}).get("error")
        return f"not valid JSON{at}" + (f" ({why})" if why else "")
    return str(problem.get("msg", "invalid"))
