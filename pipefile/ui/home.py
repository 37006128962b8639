"""The workspace as one request thread of `pipe ui` sees it: opened read-only (the
designer never creates `.pipe/` by looking), once per thread (an SQLite connection is
not shared between threads: see serve/home.py), and opened again once a first
`pipe run` has created the job database it lacked."""

from __future__ import annotations

import os
import threading

from ..workspace import STATE_DIR, Workspace


class WorkspacePerThread:
    """`homes()`: this thread's read-only Workspace at `root`."""

    def __init__(self, root: str):
        self.root = root
        self._db = os.path.join(root, STATE_DIR, "jobs.db")
        self._local = threading.local()

    def __call__(self) -> Workspace:
        ws = getattr(self._local, "ws", None)
        there = os.path.exists(self._db)
        if ws is None or (there and not self._local.had_db):
            if ws is not None:
                ws.close()
            ws = self._local.ws = Workspace(self.root, create=False)
            self._local.had_db = there
        return ws

    def release(self) -> None:
        """Close this thread's workspace (a thread that is about to end)."""
        ws = getattr(self._local, "ws", None)
        if ws is not None:
            self._local.ws = None
            ws.close()
