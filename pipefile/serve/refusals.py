"""Why the server refuses a request, as typed errors the request logic raises
(serve/access.py, submission.py, jobs_view.py, ...) and the HTTP layer alone turns
into status codes and headers (serve/http/errors.py).

Each carries the message, a hint (the fix) and, for a refused part of the request,
the field it names.
"""

from __future__ import annotations

from typing import Optional


class Refused(Exception):
    """A request the server refuses; `field` names the part of the request at fault."""

    def __init__(self, message: str, hint: Optional[str] = None, field: str = ""):
        super().__init__(message)
        self.message, self.hint, self.field = message, hint, field


class BadRequest(Refused):
    """The request is malformed in a way no schema caught (an Idempotency-Key's length)."""


class Unauthenticated(Refused):
    """No token, or one that is unknown, revoked or expired."""


class Forbidden(Refused):
    """The token is valid but its scopes do not allow this."""


class NotFound(Refused):
    """No such endpoint, deployment, job, step or output (or none this token may see)."""


class Conflict(Refused):
    """The request is at odds with the state of what it names (a disabled deployment,
    a job that has ended, an Idempotency-Key used for another request)."""


class Gone(Refused):
    """What the request names existed, but its content is no longer stored."""


class TooLarge(Refused):
    """The request's data is over one of the server's limits."""


class Invalid(Refused):
    """The request is well formed but its content is wrong (inputs, tags)."""


class NoSpace(Refused):
    """The server's disk is full: what the request sent could not be kept (HTTP 507)."""


class CannotServe(Refused):
    """What the request names exists but the server cannot use it (a model that does not
    load, a library the server lacks): the fix is the server's, not the client's."""


class TimedOut(Refused):
    """The server gave up waiting on the request's own work (a real-time model's code that
    ran past `--score-timeout`): HTTP 504."""


class Busy(Refused):
    """Not now: try again after `retry_after` seconds (a full queue, a `pipe gc` under way)."""

    def __init__(self, message: str, hint: Optional[str] = None, retry_after: int = 10):
        super().__init__(message, hint)
        self.retry_after = retry_after


class Unavailable(Busy):
    """The workspace's store is being collected: no new job or upload until it is done."""
