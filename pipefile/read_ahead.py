"""Reading ahead: while the tasks a step waits on are in their commands, the source files
that step reads (files no step writes) are digested, so that deciding it, between one
command and the next, reads nothing (Planner.read_ahead)."""

from __future__ import annotations

from .graph import Graph
from .planner import Planner
from .rebuilder import Verdict

READ_AHEAD_BYTES = 1 << 20  # read ahead while commands run, at most, after each start


class ReadAhead:
    """`selected`: the steps of the run; `decisions`: theirs, as the scheduler keeps them."""

    def __init__(self, graph: Graph, planner: Planner, selected: set, decisions: dict):
        self.graph = graph
        self.planner = planner
        self.selected = selected
        self.decisions = decisions
        self._done: set = set()  # steps whose sources were read ahead (once each)

    def after_start(self, started: list) -> None:
        """Read ahead for the pending steps that wait on the tasks `started`."""
        budget = READ_AHEAD_BYTES
        for name in started:
            for dep in self.graph.dependents.get(name, ()):
                if dep in self.selected and dep not in self._done and self.decisions[dep].verdict == Verdict.PENDING:
                    self._done.add(dep)
                    budget = self.planner.read_ahead(dep, budget)
                    if budget <= 0:
                        return
