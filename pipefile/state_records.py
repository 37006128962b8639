"""The state records of the tasks a run has ended, written in batches.

A task that ran or was restored is recorded in the workspace state (`.pipe/state.db`)
last, after its outputs are stored and its run-cache entry is written (the commit
protocol, docs/architecture.md). The scheduler hands each ended task here, and writes what
is held once the tasks it started next are in their commands: one transaction for all of
them, overlapping a command instead of sitting between two. A record lost to a crash costs
the next run a re-hash of those outputs, never a wrong answer (their entry is there).
"""

from __future__ import annotations

from typing import Callable, Optional

from .graph import Graph
from .rebuilder import Decision
from .workspace.lock import is_disk_error
from .workspace.state import OutputRecord


class PendingRecords:
    """`state`: the WorkspaceState (None: a dry run, which records nothing); `take_stats`:
    the stat-cache entries to write with the records; `say`: a warning for the user."""

    def __init__(self, graph: Graph, state, take_stats: Callable[[], dict], say: Callable[[str], None]):
        self.graph = graph
        self.state = state
        self.take_stats = take_stats
        self.say = say
        self._pending: list = []  # (name, decision, outputs)

    def __bool__(self) -> bool:
        return bool(self._pending)

    def add(self, name: str, decision: Optional[Decision], outputs: Optional[dict]) -> None:
        if decision is not None and decision.key is not None and outputs is not None:
            self._pending.append((name, decision, outputs))

    def forget(self, name: str) -> None:
        """Drop the record of `name`, one still waiting to be written included (its outputs
        were written over: it is decided again next time)."""
        self._pending[:] = [p for p in self._pending if p[0] != name]
        if self.state is not None:
            self.state.forget_step(name)

    def write(self) -> None:
        """What is held, in the workspace state in one transaction."""
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        if self.state is None:
            return
        records = []
        for name, decision, outputs in batch:
            node = self.graph.nodes[name]
            recs = {n: OutputRecord(node.outputs[n].path, outputs[n]) for n in node.outputs}
            records.append((name, decision.key.digest, decision.key.manifest, recs))
        try:
            self.state.record_steps(records, stats=self.take_stats())
        except Exception as e:  # noqa: BLE001
            if not is_disk_error(e):
                raise
            # A lost record is harmless (the next run checks the step against the run cache);
            # the disk being full will fail the next step that writes, with its own message.
            one = len(records) == 1
            names = ", ".join(f"'{r[0]}'" for r in records)
            self.say(
                f"warning: could not record {'step' if one else 'steps'} {names} in .pipe/state.db ({e}); "
                f"the next run checks {'it' if one else 'them'} again"
            )
