"""Routes: real-time deployments of a model (`pipe deploy`): scoring rows, and reading
what is deployed. The logic is serve/online.py's; plain `def` routes, so FastAPI runs
them (and the first load of a model) on its thread pool, off the event loop."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from ...jobdb.tokens import Token
from .. import online
from ..guard import API
from .context import Context
from .models import ScoreRequest, Version


def router(ctx: Context) -> APIRouter:
    r = APIRouter()
    auth = ctx.auth
    models = online.ModelCache()  # one per app, so one per server process

    @r.get(f"{API}/online", tags=["online"])
    def list_online(tok: Token = Depends(auth)) -> dict:
        """The online deployments this token may score, with their default version."""
        return online.list_names(ctx.home(), tok)

    @r.get(f"{API}/online/{{name}}", tags=["online"])
    def show_online(name: str, tok: Token = Depends(auth)) -> dict:
        """A name's versions, its default, and the columns the default's model takes."""
        return online.show_name(ctx.home(), tok, name)

    @r.post(f"{API}/online/{{name}}/score", tags=["online"])
    def score(name: str, body: ScoreRequest, tok: Token = Depends(auth)) -> dict:
        """Score rows with the default version: predictions (and probabilities for a classifier)."""
        return online.score(ctx.home(), tok, models, name, None, body.rows)

    @r.post(f"{API}/online/{{name}}/deployments/{{version}}/score", tags=["online"])
    def score_version(name: str, version: Version, body: ScoreRequest, tok: Token = Depends(auth)) -> dict:
        """Score rows with one version of the deployment."""
        return online.score(ctx.home(), tok, models, name, version, body.rows)

    return r
