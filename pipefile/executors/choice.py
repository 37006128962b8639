"""Which executor runs a run's steps, from (first wins) the command line (--executor,
--address, --store), the variables PIPE_EXECUTOR, RAY_ADDRESS and PIPE_RAY_STORE, and the
Pipefile's `settings: {executor: ...}`; the default is the local executor."""

from __future__ import annotations

import os
from typing import Mapping, NamedTuple, Optional

from .. import spec
from ..errors import PipefileError, did_you_mean

LOCAL = "local"
RAY = "ray"


class ExecutorChoice(NamedTuple):
    type: str = LOCAL
    address: str = ""  # ray: "" = a cluster running here, else a local instance started for the run
    store: Optional[str] = None  # ray: a remote's name, a URL or a path; None: not given


def choose(
    settings: Optional[spec.ExecutorSettings],
    executor: Optional[str] = None,
    address: Optional[str] = None,
    store: Optional[str] = None,
    environ: Optional[Mapping[str, str]] = None,
) -> ExecutorChoice:
    env = os.environ if environ is None else environ
    # (no ExecutorSettings() made for a Pipefile without settings: a no-op builds no spec class)
    kind = executor or env.get("PIPE_EXECUTOR") or (settings.type if settings else "local")
    if kind not in spec.EXECUTOR_TYPES:
        where = "--executor" if executor else "PIPE_EXECUTOR"
        raise PipefileError(
            f"{where}: unknown executor '{kind}'",
            hint=did_you_mean(kind, spec.EXECUTOR_TYPES, "executor") or f"one of: {', '.join(spec.EXECUTOR_TYPES)}",
        )
    if kind != RAY:
        if address or store:
            raise PipefileError(
                f"{'--address' if address else '--store'} is for the ray executor",
                hint="add --executor ray (or settings: {executor: ray} in the Pipefile)",
            )
        return ExecutorChoice(kind)
    return ExecutorChoice(
        RAY,
        address or env.get("RAY_ADDRESS") or (settings.address if settings else "") or "",
        store or env.get("PIPE_RAY_STORE") or (settings.store if settings else "") or None,
    )
