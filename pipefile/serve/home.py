"""The serving workspace as a request sees it: its content store, job database and the
gate that holds `pipe gc` off, opened once per thread (SQLite connections are not
shared between threads)."""

from __future__ import annotations

import os
import threading

from ..cache.content_store import ContentStore
from ..jobdb.jobs import JobStore
from ..jobdb.serving import ServeStore
from ..workspace import STATE_DIR, Workspace
from ..workspace.lock import ServeGate


class Home:
    """What a request handler needs of the serving workspace."""

    def __init__(self, root: str):
        self.root = root
        self.dir = os.path.join(root, STATE_DIR)
        ws = Workspace(root)  # creates what is missing, then let go
        self.store_root = ws.store_root
        self.jobs_dir = ws.jobs_dir
        ws.close()
        self.store = ContentStore(self.store_root)
        self.jobs = JobStore(os.path.join(self.dir, "jobs.db"))
        self.serve = ServeStore(self.jobs)
        self.gate = ServeGate(self.dir)  # uploads and submissions write while no `pipe gc` runs

    def job_dir(self, job_id: int) -> str:
        return os.path.join(self.jobs_dir, str(job_id))


class HomePerThread:
    """`homes()`: this thread's Home of the workspace at `root`, opened on first use."""

    def __init__(self, root: str):
        self.root = root
        self._local = threading.local()

    def __call__(self) -> Home:
        h = getattr(self._local, "home", None)
        if h is None:
            h = self._local.home = Home(self.root)
        return h
