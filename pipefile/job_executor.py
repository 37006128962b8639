"""The executor a job's tasks run and restore with, made for that job: the local one, or
Ray's on a cluster (with the cluster a `--executor ray` choice names, and which outputs
held on its shared store land here). Imported only by a run that does something: `pipe
status` and a run whose steps are all fresh pay for none of it.
"""

from __future__ import annotations

import functools

from .executors.choice import ExecutorChoice
from .planner import Plan
from .rebuilder import Verdict

RAY_DEFAULT_JOBS = 64  # steps in flight on a cluster at once, unless -j says (Ray queues the rest)


def make_executor(session, job, log_dir: str, leave: frozenset, cluster, plan: Plan):
    """The executor that runs and restores the steps of `job` for a `session.Session` (its
    workspace, hasher, environments, request and run-cache fetcher): Ray's when `cluster`
    is given, else the local one; early termination of sweep trials attached."""
    from . import stopping
    from .executors.local import LocalExecutor

    req, graph, ws = session.request, session.graph, session.ws
    if cluster is not None:
        from .executors.held import landing_steps
        from .executors.ray import RayExecutor

        make = functools.partial(RayExecutor, cluster=cluster, land=landing_steps(graph, plan, req.targets))
    else:
        make = LocalExecutor
    executor = make(
        ws,
        session.hasher,
        f"{job.id}-{job.uid}",
        log_dir,
        req.step_env,
        session.fetcher,
        leave,
        environments=session.envs,
        outputs={p: s for p, (s, _) in graph.producers.items()},
    )
    executor.stopping = stopping.for_graph(
        graph,
        plan.decisions,
        lambda task, key, outcome: ws.jobs.series_of_key(task, key, before=job.id, outcome=outcome),
    )
    return executor


def ray_cluster(root: str, choice: ExecutorChoice):
    """The cluster and shared store `choice` names (a store named but not defined is an
    error now; nothing is contacted until a step must run)."""
    from .executors.ray import RayCluster
    from .remote import config as remotes

    store = remotes.resolve(root, choice.store) if choice.store else None
    try:
        default = remotes.resolve(root, None)
    except remotes.RemoteConfigError:
        if store is None:
            raise
        default = None  # (the run says what is wrong with it, where it uses it)
    return RayCluster(choice.address, store, default)


def runs_something(plan: Plan) -> bool:
    """Whether any task of `plan` may run (a cluster is connected to only then)."""
    return any(d.verdict in (Verdict.RUN, Verdict.PENDING) for d in plan.decisions.values())
