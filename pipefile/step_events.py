"""What the scheduler tells whoever follows a run: each task started and finished, and
messages for the user (the report, the job being recorded, a served job's events). Called
from the thread that takes the scheduler's turn (turns.py): any thread, one at a time."""

from __future__ import annotations

from typing import Optional, Protocol

from .outcomes import StepResult
from .rebuilder import Decision


class Events(Protocol):
    def started(self, name: str, decision: Decision) -> None: ...

    def finished(self, result: StepResult, decision: Optional[Decision]) -> None: ...

    def message(self, text: str) -> None: ...


class NoEvents:
    def started(self, name, decision):
        pass

    def finished(self, result, decision):
        pass

    def message(self, text):
        pass
