"""A run's rounds for maps: a `foreach:` over a folder that a step of the same run makes.

The first plan runs the makers of such folders (with what they need); then the graph is
made again with those folders listed, and the rest of the request is planned and run in
the same job. Also what a map leaves between runs: a gathered folder's entries of tasks
that are gone, the batch folders tasks read, and the record of settled tasks (maps.py).

`MapRounds` is mixed into `session.Session`, whose state it reads and moves on (the graph,
the plan, the records): a map's rounds are part of one run, kept here to be read as one.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any, Optional

from . import artifacts as artifacts_mod
from .planner import Plan

if TYPE_CHECKING:  # (a run's: `pipe status` imports none of the scheduler)
    from .scheduler import RunSummary, Scheduler


class MapRounds:
    # (the Session's, read and set here)
    graph: Any
    root: str
    ws: Any
    request: Any
    executor: Any
    _records: Any
    _second: bool
    _started_ns: Optional[int]

    def _makers_first(self, plan: Plan) -> Plan:
        """The plan of only the makers of maps' folders, when the request maps over a folder a
        step must make first (that step runs, then the map is expanded from the folder:
        `_then_the_maps`); else `plan` itself."""
        from .maps import makers_first

        first = makers_first(self.graph, plan)
        if not first:
            return plan
        self._second = True
        return self.plan(first, self.request.forced)

    def _remove_stale_entries(self) -> None:
        """A gathered folder (of a matrix, sweep or foreach) holds one entry per task: the entry
        of a task that is gone (a value or item removed) goes, and nothing runs for it."""
        if not self.graph.groups:
            return
        from .expand import stale_entries
        from .outpaths import per_task_records

        records = per_task_records(self.ws, self.graph.groups)
        for rel in stale_entries(self.root, self.graph.groups, records, lambda p: not self.graph.is_source(p)):
            artifacts_mod.remove_read_only(os.path.join(self.root, rel))
        from .expand_map import BATCH_ROOT
        from .mapruns import link_batches

        link_batches(self.root, self.graph.groups, BATCH_ROOT)  # the folders batch tasks read

    def _then_the_maps(self, first: RunSummary, sched: Scheduler, recorder) -> RunSummary:
        """After the makers of maps' folders ran: the graph again, with those folders listed,
        and the rest of the request planned and run in the same job."""
        from .scheduler import RunSummary
        from .staging import Landings

        self._second = False
        self.graph = self.graph.full(settled=True)
        self._records = None
        self._remove_stale_entries()  # (entries of items the maker no longer makes)
        plan = self.plan(self.request.targets, self.request.forced)
        plan = Plan({n: d for n, d in plan.decisions.items() if n not in first.results})
        recorder.graph = self.graph
        outputs = {p: s for p, (s, _) in self.graph.producers.items()}
        self.executor.landings = Landings(self.root, outputs, self.ws.store_root)
        sched.graph = self.graph
        sched.planner = self._redecider()
        then = sched.execute(plan)
        return RunSummary(
            {**first.results, **then.results},
            {**first.decisions, **then.decisions},
            then.interrupted,
            first.seconds + then.seconds,
            first.errors + then.errors,
        )

    def _record_maps(self, summary: RunSummary) -> None:
        if self.graph.groups and not summary.interrupted:
            from . import maps

            maps.update(self.root, self.graph, summary, self._started_ns or time.time_ns())

    def _note_settled(self, summary: RunSummary) -> None:
        if self.graph.full is not None:
            from .maps import settled_tasks

            summary.settled = settled_tasks(self.graph, summary.decisions)
