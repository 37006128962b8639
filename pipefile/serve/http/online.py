"""Routes: real-time deployments of a model (`pipe deploy`): scoring rows, and reading
what is deployed. The logic is serve/online.py's.

Scoring is latency-bound: the token check, the lookup and the scoring (the first load of
a model included, in the model's own process: serve/scorer.py) run together in one call on
the thread pool, off the event loop; a
plain `def` route with the `ctx.auth` dependency would hop there twice, and each hop back
to the event loop costs a wake-up of another thread."""

from __future__ import annotations

from typing import Any, Optional

from fastapi import APIRouter, Depends
from fastapi.security import HTTPAuthorizationCredentials
from starlette.concurrency import run_in_threadpool

from ...jobdb.tokens import Token
from .. import online
from ..access import authenticate
from ..guard import API
from ..scorer import ScorerPool
from .context import Context
from .models import ScoreRequest, Version


def router(ctx: Context, scorers: ScorerPool) -> APIRouter:
    """`scorers`: the app's model processes (one pool per server, stopped with it)."""
    r = APIRouter()
    auth = ctx.auth

    def score_rows(creds: Optional[HTTPAuthorizationCredentials], name: str, version: Optional[int], rows: Any):
        home = ctx.home()  # this thread's
        tok = authenticate(home, creds.credentials if creds is not None else None)
        return online.score(home, tok, scorers, name, version, rows)

    @r.get(f"{API}/online", tags=["online"])
    def list_online(tok: Token = Depends(auth)) -> dict:
        """The online deployments this token may score, with their default version."""
        return online.list_names(ctx.home(), tok)

    @r.get(f"{API}/online/{{name}}", tags=["online"])
    def show_online(name: str, tok: Token = Depends(auth)) -> dict:
        """A name's versions, its default, and the columns the default's model takes."""
        return online.show_name(ctx.home(), tok, name)

    @r.post(f"{API}/online/{{name}}/score", tags=["online"])
    async def score(
        name: str, body: ScoreRequest, creds: Optional[HTTPAuthorizationCredentials] = Depends(ctx.bearer)
    ) -> dict:
        """Score rows with the default version: predictions (and probabilities for a classifier)."""
        return await run_in_threadpool(score_rows, creds, name, None, body.rows)

    @r.post(f"{API}/online/{{name}}/deployments/{{version}}/score", tags=["online"])
    async def score_version(
        name: str,
        version: Version,
        body: ScoreRequest,
        creds: Optional[HTTPAuthorizationCredentials] = Depends(ctx.bearer),
    ) -> dict:
        """Score rows with one version of the deployment."""
        return await run_in_threadpool(score_rows, creds, name, version, body.rows)

    return r
