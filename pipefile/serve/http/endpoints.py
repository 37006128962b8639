"""Routes: the server's health, and reading endpoints and deployments (changing the
default deployment with an admin token)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from ... import __version__
from ...jobdb.tokens import Token
from .. import endpoints_view
from ..guard import API
from .context import Context
from .models import EndpointPatch, Number


def router(ctx: Context) -> APIRouter:
    r = APIRouter()
    auth = ctx.auth

    @r.get(f"{API}/health", tags=["server"])
    def health() -> dict:
        """Whether the server is up (no token needed)."""
        return {"status": "ok", "version": __version__}

    @r.get(f"{API}/endpoints", tags=["endpoints"])
    def list_endpoints(tok: Token = Depends(auth)) -> dict:
        return endpoints_view.list_endpoints(ctx.home(), tok)

    @r.get(f"{API}/endpoints/{{endpoint}}", tags=["endpoints"])
    def show_endpoint(endpoint: str, tok: Token = Depends(auth)) -> dict:
        return endpoints_view.show_endpoint(ctx.home(), tok, endpoint)

    @r.get(f"{API}/endpoints/{{endpoint}}/deployments/{{number}}", tags=["endpoints"])
    def show_deployment(endpoint: str, number: Number, tok: Token = Depends(auth)) -> dict:
        return endpoints_view.show_deployment(ctx.home(), tok, endpoint, number)

    @r.patch(f"{API}/endpoints/{{endpoint}}", tags=["endpoints"])
    def patch_endpoint(endpoint: str, body: EndpointPatch, tok: Token = Depends(auth)) -> dict:
        return endpoints_view.set_default_deployment(ctx.home(), tok, endpoint, body.default_deployment)

    return r
