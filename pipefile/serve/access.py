"""Who may do what: the bearer token a request sends, and what its scopes let it read,
invoke or name. An invoke token sees only its own jobs, uploads and artifact versions
(and public ones); a job it may not read is answered as missing, so that it cannot even
learn the job exists."""

from __future__ import annotations

from typing import Optional

from ..errors import PipefileError
from ..jobdb.tokens import Token
from .home import Home
from .refusals import Forbidden, NotFound, Unauthenticated, Unavailable


def authenticate(home: Home, credentials: Optional[str]) -> Token:
    """The active token these credentials (the text after `Bearer`) name."""
    if not credentials:
        raise Unauthenticated("a token is required", "send Authorization: Bearer TOKEN (pipe token create)")
    tok = home.serve.authenticate(credentials.strip())
    if tok is None:
        raise Unauthenticated("the token is unknown, revoked or expired", "create a new one: pipe token create")
    return tok


def need_read(tok: Token, endpoint: str) -> None:
    if not (tok.can_read_all() or tok.can_invoke(endpoint)):
        raise Forbidden(f"this token may not read endpoint '{endpoint}'", f"scopes: {', '.join(tok.scopes)}")


def may_read(tok: Token, job) -> bool:
    """A served job, and this token reads everything or started it."""
    return bool(job.endpoint) and (tok.can_read_all() or job.token_id == tok.id)


def upload_view(tok: Token) -> Optional[str]:
    """Whose uploads a token may name or ask about: an admin's, all (None); else its own."""
    return None if tok.admin else tok.id


def artifact_view(tok: Token) -> Optional[str]:
    """Whose artifact versions a token may name: an admin's, all (None); else its own and
    the public ones (jobdb/artifacts.py), as with uploads and the run cache."""
    return None if tok.admin else tok.id


def visible_job(home: Home, job_id: int, tok: Token):
    """The job, if this token may see it; else NotFound (an invoke token cannot even learn
    that another's job exists)."""
    try:
        job = home.jobs.get(job_id)
    except PipefileError:
        job = None
    if job is None or not may_read(tok, job):
        raise NotFound(f"no job {job_id}", "GET /v1/jobs lists the jobs this token may see")
    return job


def writer_hold(home: Home):
    """A writer's hold on the store; while `pipe gc` runs (or waits for the jobs under
    way) the request is refused rather than left hanging."""
    w = home.gate.writer(wait=False)
    if w is None:
        raise Unavailable(
            "pipe gc is collecting this workspace's store: no new job or upload until it is done",
            "try again shortly",
            retry_after=30,
        )
    return w
