"""Access tokens for `pipe serve`, in the `tokens` table of the job database: a token's
scopes, life and use. Only a token's SHA-256 is stored; its text is shown once, when it is
made, and checked in constant time.

`TokenIndex` is the part of ServeStore (jobdb/serving.py) that keeps them: it works on
the ServeStore's connection (`self.db`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sqlite3
import time
from typing import Optional

from ..errors import PipefileError, did_you_mean
from ..lazyclass import dataclass

TOKEN_PREFIX = "pipe_"
ADMIN, READ, INVOKE = "admin", "read", "invoke"  # the scopes: invoke is written invoke:ENDPOINT


def valid_endpoint_name(name: str) -> bool:
    import re

    return bool(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\-]{0,63}", name or ""))


@dataclass
class Token:
    id: str
    scopes: list
    name: str
    created: float
    expires: Optional[float]
    revoked: Optional[float]
    last_used: Optional[float]
    share_cache: bool = False  # the run-cache entries its jobs make are usable by every token

    @property
    def admin(self) -> bool:
        return ADMIN in self.scopes

    def can_read_all(self) -> bool:
        return ADMIN in self.scopes or READ in self.scopes

    def can_invoke(self, endpoint: str) -> bool:
        return ADMIN in self.scopes or f"{INVOKE}:{endpoint}" in self.scopes

    def invoke_endpoints(self) -> list:
        return [s.split(":", 1)[1] for s in self.scopes if s.startswith(INVOKE + ":")]

    def state(self, now: Optional[float] = None) -> str:
        if self.revoked:
            return "revoked"
        if self.expires is not None and (now or time.time()) >= self.expires:
            return "expired"
        return "active"

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "scopes": self.scopes,
            "created": self.created,
            "expires": self.expires,
            "revoked": self.revoked,
            "last_used": self.last_used,
            "state": self.state(),
            "share_cache": self.share_cache,
        }


def check_scope(scope: str) -> str:
    """A valid scope, or an error naming the forms."""
    if scope in (ADMIN, READ):
        return scope
    if scope.startswith(INVOKE + ":"):
        ep = scope.split(":", 1)[1]
        if ep and valid_endpoint_name(ep):
            return scope
    raise PipefileError(
        f"'{scope}' is not a token scope", hint="use admin, read, or invoke:ENDPOINT (repeat --scope for several)"
    )


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


_DUMMY_HASH = _sha256("no such token")


class TokenIndex:
    """Making, listing, revoking and checking tokens (mixed into ServeStore)."""

    db: sqlite3.Connection

    def create_token(
        self, scopes: list, name: str = "", expires: Optional[float] = None, share_cache: bool = False
    ) -> tuple:
        """(Token, the secret token text): the text is shown once and never stored."""
        scopes = sorted({check_scope(s) for s in scopes})
        if not scopes:
            raise PipefileError("a token needs at least one scope", hint="--scope admin, read or invoke:ENDPOINT")
        now = time.time()
        tid = secrets.token_hex(6)
        text = f"{TOKEN_PREFIX}{tid}_{secrets.token_urlsafe(32)}"
        self.db.execute(
            "INSERT INTO tokens(id, sha256, scopes, name, created, expires, revoked, last_used, "
            "share_cache) VALUES(?,?,?,?,?,?,?,?,?)",
            (tid, _sha256(text), json.dumps(scopes), name, now, expires, None, None, int(share_cache)),
        )
        return self.token(tid), text

    def token(self, tid: str) -> Token:
        row = self.db.execute(
            "SELECT id, scopes, name, created, expires, revoked, last_used, share_cache FROM tokens WHERE id=?", (tid,)
        ).fetchone()
        if row is None:
            ids = [r[0] for r in self.db.execute("SELECT id FROM tokens")]
            raise PipefileError(
                f"no token '{tid}'", hint=did_you_mean(tid, ids, "token") or "`pipe token list` lists the tokens"
            )
        return Token(row[0], json.loads(row[1]), row[2] or "", row[3], row[4], row[5], row[6], bool(row[7]))

    def tokens(self) -> list:
        return [self.token(r[0]) for r in self.db.execute("SELECT id FROM tokens ORDER BY created")]

    def revoke(self, tid: str) -> Token:
        self.token(tid)
        self.db.execute("UPDATE tokens SET revoked=? WHERE id=? AND revoked IS NULL", (time.time(), tid))
        return self.token(tid)

    def authenticate(self, text: str) -> Optional[Token]:
        """The active token whose SHA-256 matches `text`, or None (unknown, revoked, expired)."""
        tid = ""
        if text.startswith(TOKEN_PREFIX) and text.count("_") >= 2:
            tid = text[len(TOKEN_PREFIX) :].split("_", 1)[0]
        row = self.db.execute("SELECT sha256 FROM tokens WHERE id=?", (tid,)).fetchone() if tid else None
        stored = row[0] if row else _DUMMY_HASH
        # Constant time: how much of a guess matches must not show in how long the answer takes.
        same = hmac.compare_digest(_sha256(text), stored)
        if not same or row is None:
            return None
        tok = self.token(tid)
        if tok.state() != "active":
            return None
        now = time.time()
        if tok.last_used is None or now - tok.last_used > 60:  # a write per minute, not per request
            try:
                self.db.execute("UPDATE tokens SET last_used=? WHERE id=?", (now, tid))
            except sqlite3.OperationalError:
                pass  # a busy database must not refuse a valid token
        return tok
