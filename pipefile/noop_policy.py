"""Whether a `pipe run` may leave a no-op record (noop_record.py says what one is): the
request, the graph and the run's result decide it. Asked by the session, before planning
(to stop tracing a run no record can come of) and after the run (to write the record)."""

from __future__ import annotations

from . import spec
from .load.pymodule import is_module_ref
from .rebuilder import Verdict


def may_stand_for_a_noop(session) -> bool:
    """What of `stands_for_a_noop` the request and the graph decide before planning: where
    they rule a record out, the session stops tracing at once (tracing every stat of a plan
    over a 100,000-item map cost it ~0.3 s of CPU for nothing)."""
    req, graph, pf = session.request, session.graph, session.graph.pipefile
    if req.dry_run or req.push or req.mlflow or req.forced or req.job_id is not None or req.step_env is not None:
        return False
    if req.cloned_from is not None or session.gpu_override is not None:
        return False
    # (Named assets and outputs are fine: a no-op finds each content's version there already,
    # which the record checks as it answers. Versions read by `${{artifacts.NAME}}` are not.)
    if graph.groups or graph.artifacts or graph.proposed:
        return False
    if is_module_ref(pf.path):
        # A Python Pipefile: what it builds is known only by running it (a date, a random
        # seed, what it fetched ...), so the spec cache keeps none, and no record stands for it.
        return False
    return not (
        any(e.type != spec.ENV_LOCAL for e in pf.environments.values())
        or any(
            n.step.resources.gpus or n.step.key_includes or n.step.environment not in ("", *pf.environments)
            for n in graph.nodes.values()
        )
    )


def stands_for_a_noop(session, plan, summary, cluster, warnings) -> bool:
    """Whether the next run, with every file as it is now, would be this run again: every
    step fresh, and nothing decided from outside the files a record can stat (a remote,
    environments, GPUs, artifact versions, maps, sweeps and matrices, MLflow ...)."""
    if cluster is not None or session._second or session.remote is not None or session.remote_problems or warnings:
        return False
    if session.envs.made or summary.failed or summary.interrupted or summary.settled:
        return False
    if not may_stand_for_a_noop(session):
        return False
    # (A fresh step whose workspace record this run wrote again, found in the run cache, is
    # shown as it is ("fresh  NAME"); the next run finds it recorded and shows nothing.)
    return bool(plan.decisions) and all(d.verdict == Verdict.FRESH and not d.record for d in plan.decisions.values())


def artifact_names(session) -> tuple:
    """The artifacts whose versions a no-op of this graph looks up (named assets, named
    outputs): it records a new version where none holds the content of now. The record
    keeps their versions as they are, and declines when they are not (noop_record.py)."""
    graph = session.graph
    names = {a.artifact for a in graph.pipefile.assets.values() if a.artifact}
    names.update(o.artifact for n in graph.nodes.values() for o in n.outputs.values() if o.artifact)
    return tuple(sorted(names))
