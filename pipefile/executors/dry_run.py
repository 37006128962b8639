"""The dry run: an executor that says what would be done and does nothing."""

from __future__ import annotations

import threading
from typing import Optional

from ..graph import Node, command_text
from ..outcomes import Outcome, StepResult
from ..rebuilder import Decision


class DryRunExecutor:
    """Says what would be done, does nothing."""

    def __init__(self):
        self.cancelled = threading.Event()

    def run(self, node: Node, decision: Decision, devices: Optional[tuple] = None) -> StepResult:
        return StepResult(name=node.name, outcome=Outcome.WOULD_RUN, command=command_text(node.command))

    def restore(self, node: Node, decision: Decision, bring: bool = False) -> StepResult:
        return StepResult(name=node.name, outcome=Outcome.WOULD_RESTORE, outputs=dict(decision.outputs))

    def when_commands_run(self, hook) -> None:
        pass  # no command runs

    def cancel(self, hard: bool = False) -> None:
        self.cancelled.set()

    def close(self) -> None:
        pass

    def commands_starting(self) -> None:
        pass

    def signature(self, rel: str) -> Optional[int]:
        return None  # nothing is put in place: nothing to watch

    def changed_at(self, rel: str) -> int:
        return 0

    def put_back(self, rel: str, content) -> tuple:
        return False, []

    def forget(self, key: str) -> None:
        pass

    def follow_output(self, sink) -> None:
        pass  # nothing runs, nothing prints
