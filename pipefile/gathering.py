"""Gathering the outside: what a plan needs from beyond the workspace, taken once, before
planning, into the planner's `Outside` snapshot.

Environment identities (a missing image pulled first, with `fetch`, so that keys hold its
ID), the GPU pool and its model, and which remote's run cache answers. The planner asks
the outside world nothing itself (plan purely, act separately): whatever it must know is
here, or a lookup error kept for the decision that needs it.
"""

from __future__ import annotations

from typing import Iterable, Optional

from .envs import gpus as gpus_mod
from .errors import PipefileError, raise_all
from .planner import Outside


def gather_outside(
    graph,
    envs,
    ws,
    remote=None,
    remote_cache=None,
    on_remote_error=None,
    targets: Iterable[str] = (),
    say=None,
    fetch: bool = True,
    strict: bool = True,
    gpus: Optional[str] = None,
) -> Outside:
    """The `Outside` of the plan of `targets` in `graph`, with its `EnvironmentSet` and
    `Workspace`; `remote` (a transport.Remote) and its `remote_cache` when the run has one
    (on_remote_error(RemoteError): told when it cannot be used); `gpus`: `--gpus`.

    strict (a run): every environment the selected steps use can be used (its tool or
    daemon is there; with `fetch`, a missing image is pulled), and the GPUs asked for
    exist; the errors of all of them together, before anything runs. Builds happen later,
    when a step needs them. Not strict (status): a lookup that fails is kept, and raised
    only where a decision needs it."""
    names = graph.select(targets)
    steps = [graph.nodes[n].step for n in names]
    used = list(dict.fromkeys(s.environment for s in steps if s.environment))
    identities: dict = {}
    errors: list = []
    if remote is not None and graph.artifacts:
        from . import version_numbers

        errors += version_numbers.bound_clashes(ws, remote, graph.pipefile, graph.artifacts, on_remote_error)
        raise_all(errors)
    for env_name in used:
        env = envs.get(env_name)
        try:
            if strict:
                env.check()
                if fetch and hasattr(env, "fetch"):
                    env.fetch(say or (lambda text: None))
            identities[env_name] = env.identity()
        except PipefileError as e:
            identities[env_name] = e
            if not any(e.message == x.message for x in errors):  # one unreachable daemon: said once
                errors.append(e)
    if strict:
        raise_all(errors)
    pool, model, gpu_error = None, None, None
    if any(s.resources.gpus or s.key_includes for s in steps):  # detection costs: only when asked
        try:
            pool = tuple(gpus_mod.pool(gpus))
            model = gpus_mod.model_of(pool)
        except PipefileError as e:
            if strict and any(s.resources.gpus for s in steps):
                raise
            gpu_error = e
    return Outside(identities, pool, model, gpu_error, remote_cache.name if remote_cache is not None else None)
