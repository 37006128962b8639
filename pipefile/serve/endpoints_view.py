"""Endpoints and their deployments as the API shows them, and the one change it allows
(the default deployment); each checked against the token's scopes."""

from __future__ import annotations

from ..errors import PipefileError
from ..jobdb.serving import Deployment, Endpoint
from ..jobdb.tokens import Token
from .access import need_read
from .home import Home
from .refusals import Conflict, Forbidden, NotFound


def find_endpoint(home: Home, name: str) -> Endpoint:
    try:
        return home.serve.endpoint(name)
    except PipefileError as e:
        raise NotFound(e.message, e.hint) from None


def find_deployment(home: Home, name: str, number: int) -> Deployment:
    try:
        return home.serve.deployment(name, number)
    except PipefileError as e:
        raise NotFound(e.message, e.hint) from None


def list_endpoints(home: Home, tok: Token) -> dict:
    eps = home.serve.endpoints()
    if not tok.can_read_all():
        eps = [e for e in eps if tok.can_invoke(e.name)]
    return {"endpoints": [e.to_json() for e in eps]}


def show_endpoint(home: Home, tok: Token, endpoint: str) -> dict:
    need_read(tok, endpoint)
    ep = find_endpoint(home, endpoint)
    deps = home.serve.deployments(endpoint)
    out = ep.to_json()
    out["deployments"] = [d.to_json(full=False) for d in deps]
    default = next((d for d in deps if d.number == ep.default_deployment), None)
    out["inputs"] = default.manifest.get("inputs", {}) if default else {}
    out["outputs"] = default.manifest.get("outputs", {}) if default else {}
    return out


def show_deployment(home: Home, tok: Token, endpoint: str, number: int) -> dict:
    need_read(tok, endpoint)
    return find_deployment(home, endpoint, number).to_json()


def set_default_deployment(home: Home, tok: Token, endpoint: str, number: int) -> dict:
    if not tok.admin:
        raise Forbidden("changing an endpoint needs an admin token")
    find_deployment(home, endpoint, number)
    try:
        home.serve.set_default(endpoint, number)
    except PipefileError as e:
        raise Conflict(e.message, e.hint) from None
    return find_endpoint(home, endpoint).to_json()
