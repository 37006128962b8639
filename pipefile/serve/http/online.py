"""Routes: real-time deployments of a model (`pipe deploy`): scoring rows, and reading
what is deployed. The logic is serve/online.py's.

Scoring is latency-bound: the token check, the lookup and the scoring (the first load of
a model included, in the model's own process: serve/scorer.py) run together in one call on
the thread pool, off the event loop; a
plain `def` route with the `ctx.auth` dependency would hop there twice, and each hop back
to the event loop costs a wake-up of another thread."""

from __future__ import annotations

import time
from functools import partial
from typing import Any, Optional

import anyio
import anyio.to_thread
from fastapi import APIRouter, Depends
from fastapi.security import HTTPAuthorizationCredentials

from ...jobdb.tokens import Token
from .. import online
from ..access import authenticate
from ..guard import API
from ..scorer import ScorerPool
from .context import Context
from .models import ScoreRequest, Version

SCORING_THREADS = 16  # real-time requests handled at once (their models' processes do the work)


def router(ctx: Context, scorers: ScorerPool) -> APIRouter:
    """`scorers`: the app's model processes (one pool per server, stopped with it)."""
    r = APIRouter()
    auth = ctx.auth
    # Threads of their own (not the thread pool every other route shares): requests for a model
    # busy with a hung one wait for its turn, and past these, on the event loop; no other
    # route waits for them.
    threads = anyio.CapacityLimiter(SCORING_THREADS)

    def score_rows(
        creds: Optional[HTTPAuthorizationCredentials], name: str, version: Optional[int], rows: Any, arrived: float
    ):
        home = ctx.home()  # this thread's
        tok = authenticate(home, creds.credentials if creds is not None else None)
        return online.score(home, tok, scorers, name, version, rows, arrived)

    async def run_scoring(*args) -> dict:
        # (when it arrived: its wait for a thread counts in its --score-timeout)
        return await anyio.to_thread.run_sync(partial(score_rows, *args, time.monotonic()), limiter=threads)

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
        return await run_scoring(creds, name, None, body.rows)

    @r.post(f"{API}/online/{{name}}/deployments/{{version}}/score", tags=["online"])
    async def score_version(
        name: str,
        version: Version,
        body: ScoreRequest,
        creds: Optional[HTTPAuthorizationCredentials] = Depends(ctx.bearer),
    ) -> dict:
        """Score rows with one version of the deployment."""
        return await run_scoring(creds, name, version, body.rows)

    return r
