"""The environments of another Pipefile used as a component (`component: ./train/Pipefile`).

Its steps keep running where they run when that Pipefile runs alone: each environment it
declares joins the calling Pipefile's under a scoped name, `PATH:NAME` (`train/Pipefile:gpu`,
PATH from the caller's folder; a Pipefile's own names cannot hold `/` or `:`, so no caller's
name clashes with one), with its paths (a requirements or conda file, a build context, a
mount's source) made relative to the caller's folder, as its inputs and `code:` are. A step's key holds the
environment's identity (its content: envs/), never its name or where its files lie, so an
inner step has the key it has when that Pipefile runs alone.
"""

from __future__ import annotations

import dataclasses
import posixpath
from typing import Callable

from .. import spec
from ..lazyclass import dataclass


@dataclass(frozen=True)
class Scoped:
    renamed: dict  # its name -> the scoped name its steps now use
    specs: dict  # scoped name -> EnvSpec (paths relative to the calling workspace)


SCOPE_MARK = ":"  # between a Pipefile's path and its environment's name


def scoped_environments(pf: spec.Pipefile, component: str, rebase: Callable[[str], str]) -> Scoped:
    """Every environment of `pf` (the component at `component`, relative to the Pipefile
    that uses it) under its scoped name. One it got from a Pipefile it uses in turn is named
    `PATH:NAME` with PATH relative to `pf`'s folder: it is placed as `pf`'s own are (its PATH
    too). The built-in `std` stays `std` (one environment for every Pipefile)."""
    renamed: dict = {}
    specs: dict = {}
    for name, env in pf.environments.items():
        if env.type == spec.ENV_STD:
            continue
        if SCOPE_MARK in name:
            where, _, own = name.rpartition(SCOPE_MARK)
            scoped = f"{rebase(where)}{SCOPE_MARK}{own}"
        else:
            scoped = f"{component}{SCOPE_MARK}{name}"
        renamed[name] = scoped
        specs[scoped] = _placed(env, scoped, rebase)
    return Scoped(renamed, specs)


def _placed(env: spec.EnvSpec, name: str, rebase: Callable[[str], str]) -> spec.EnvSpec:
    """The environment with its workspace paths relative to the calling workspace."""
    mounts = tuple(
        m if posixpath.isabs(m.source) else dataclasses.replace(m, source=rebase(m.source)) for m in env.mounts
    )
    python = env.python
    if "/" in python and not posixpath.isabs(python):  # an interpreter by a relative path
        python = rebase(python)
    home = rebase(env.home or ".")
    return dataclasses.replace(
        env,
        name=name,
        home="" if home == "." else home,
        requirements=rebase(env.requirements),
        file=rebase(env.file),
        build=rebase(env.build),
        mounts=mounts,
        python=python,
    )
