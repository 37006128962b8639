"""What the routers share: the workspace, the Pipefile, the token, the runs started."""

from __future__ import annotations

import os

from ..home import WorkspacePerThread
from ..pipeline_view import GraphCache
from ..runs import Runs


class UiContext:
    def __init__(self, pipefile: str, token: str):
        self.pipefile = os.path.abspath(pipefile)
        self.root = os.path.dirname(self.pipefile)
        self.token = token
        self.homes = WorkspacePerThread(self.root)
        self.runs = Runs(self.root, self.homes)
        self.graphs = GraphCache()
        self._texts: dict = {}  # digest -> a Pipefile text the page was given (a conflict's diff)

    def remember(self, digest: str, text: str) -> None:
        self._texts[digest] = text
        while len(self._texts) > 32:
            self._texts.pop(next(iter(self._texts)))

    def text_of(self, digest):
        return self._texts.get(digest)

    @property
    def display(self) -> str:
        """The Pipefile as `pipe run -f` is given it, from the workspace root."""
        return os.path.relpath(self.pipefile, self.root)
