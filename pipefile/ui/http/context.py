"""What the routers share: the workspace, the Pipefile, the token, the runs started."""

from __future__ import annotations

import os

from fastapi.responses import JSONResponse

from ..home import WorkspacePerThread
from ..pipeline_view import GraphCache, dumps
from ..runs import Runs


class UiJSON(JSONResponse):
    """Every JSON answer of the designer: a non-finite float is text (pipeline_view.dumps).
    Routes return big answers as one (a job of thousands of tasks): FastAPI's own encoding
    walks every value in Python first (0.6 s of a 6,400-task job's 6.5 MB)."""

    def render(self, content) -> bytes:
        return dumps(content, default=_encoded).encode("utf-8")


def _encoded(value):
    """A value json cannot write (a set, a dataclass, a path) as FastAPI's encoding writes it."""
    from fastapi.encoders import jsonable_encoder

    out = jsonable_encoder(value)
    if out is value:
        raise TypeError(f"{type(value).__name__} is not JSON")
    return out


def workspace_root(pipefile: str) -> str:
    """The workspace `pipe run -f` gives this file: its folder, or for an Azure ML pipeline
    that reads files above it (`code: ../src`) the folder holding all of them, where its jobs
    are recorded (else the jobs list would be empty and a run's job never found)."""
    from ...errors import PipefileError
    from ...load.azureml import workspace_of

    try:
        return workspace_of(pipefile) or os.path.dirname(pipefile)
    except PipefileError:  # (a pipeline that does not load: shown with its errors, from its folder)
        return os.path.dirname(pipefile)


class UiContext:
    def __init__(self, pipefile: str, token: str):
        self.pipefile = os.path.abspath(pipefile)
        self.root = workspace_root(self.pipefile)
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
