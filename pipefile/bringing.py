"""Outputs a run left on a remote, brought in for a task that must run after all.

A step restorable only from a remote whose outputs nothing in the run reads here stays
there (planner.left_on_remote). When a task that reads them must run after all (a restore
that ran its step instead, with other bytes, made it run), they are brought in first: once,
whichever reader comes first. Running on anything else would record a lie: the reader's
key holds the remote's digests.
"""

from __future__ import annotations

import threading
from dataclasses import field
from typing import Optional

from .executors.protocol import Executor
from .graph import Graph, Node
from .lazyclass import dataclass
from .outcomes import Outcome, StepResult
from .rebuilder import Decision


@dataclass
class Left:
    """A step whose outputs this run left on the remote."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    here: bool = False  # brought in since


def run_after_bringing(
    executor: Executor, graph: Graph, node: Node, decision: Decision, devices: Optional[tuple], brought: list
) -> StepResult:
    """Run `node` (on a worker's thread) once what it reads that this run left on a remote,
    `brought` as (step, Left, its decision), is here."""
    for dep, entry, dep_decision in brought:
        with entry.lock:  # a second reader waits until the first has put it in place
            if entry.here:
                continue
            r = executor.restore(graph.nodes[dep], dep_decision, bring=True)
            if r.outcome != Outcome.RESTORED:
                return StepResult(
                    name=node.name,
                    outcome=Outcome.FAILED,
                    error=(
                        f"cannot run: the outputs of '{dep}' could not be brought from remote "
                        f"'{dep_decision.remote}' ({r.error}); run that step here first (`pipe run {dep}` "
                        f"runs it when its restore fails), then this one again"
                    ),
                )
            entry.here = True
    return executor.run(node, decision, devices)
