"""What every router of one app shares: the server's configuration, its worker pool,
this thread's view of the workspace, and the bearer-token dependency."""

from __future__ import annotations

from typing import Optional

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ...jobdb.tokens import Token
from ..access import authenticate
from ..home import HomePerThread


class Context:
    def __init__(self, config, pool=None):
        self.config = config  # app.ServeConfig
        self.pool = pool  # worker.WorkerPool, or None (no jobs run: tests of the API alone)
        self.home = HomePerThread(config.root)
        bearer = HTTPBearer(auto_error=False, description="A token from `pipe token create`.")

        def auth(creds: Optional[HTTPAuthorizationCredentials] = Depends(bearer)) -> Token:
            return authenticate(self.home(), creds.credentials if creds is not None else None)

        self.auth = auth  # a route's `tok: Token = Depends(ctx.auth)`
        # the credentials alone, for a route that checks them on a thread of its own choosing
        # (serve/http/online.py: one hop to the thread pool per request, not two)
        self.bearer = bearer

    def stopping(self) -> bool:
        """The server is stopping: waits and streams end now rather than hold it up."""
        return self.pool is not None and self.pool.stopping()
