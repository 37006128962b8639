"""Environments: where a step's command runs (local, venv, conda, docker).

    Environment.identity()   content, not a name: what the step key holds. Cheap and
                             side-effect free (spec content, or an image ID looked up
                             without pulling), so `pipe status` can compute it.
    Environment.check()      what must exist before anything runs (a conda, a Docker
                             daemon); raises EnvError (exit 2).
    Environment.prepare()    builds what is missing (a venv, an image), once: the
                             executor calls it when a step that needs it runs.
    Environment.start()      starts the command inside it; returns a StepProcess.

Invariant: an environment that is not completely built is never used. Builds go
into a fresh folder (or a fresh image tag) and are published by one atomic step
(a symlink renamed into place; see `cache`), under a lock so that concurrent
steps and concurrent `pipe` processes build it once.

Modules: `base` (Launch, StepProcess, Environment: the local kind), `build` (build tools and
the build lock), `cache` (built environments on disk), one module per kind (`venv`, `conda`,
`docker`; `std`: the built-in environment of std components), `gpus` (the GPU inventory),
`usage` (.pipe/environments.json: what a workspace's environments are, for prune). This
package's face is the factory below, which imports a kind's module only when a step uses
that kind; the modules import `base`, never this package, so there is no cycle.

Only `docker/daemon.py` imports the Docker SDK, and only when a Docker environment is used.
"""

from __future__ import annotations

from dataclasses import field

from .. import spec
from ..digest import Hasher
from ..lazyclass import dataclass
from .base import EnvError, Environment, Launch, StepProcess

__all__ = ["Environment", "EnvError", "EnvironmentSet", "Launch", "StepProcess", "make"]


@dataclass
class EnvironmentSet:
    """The environments of one pipeline, made on first use and shared by its steps."""

    pipefile: spec.Pipefile
    hasher: Hasher
    store_root: str
    made: dict = field(default_factory=dict)

    def get(self, name: str) -> Environment:
        env = self.made.get(name)
        if env is None:
            env = self.made[name] = make(
                self.pipefile.environments[name], self.pipefile.root, self.hasher, self.store_root
            )
        return env


def make(env_spec: spec.EnvSpec, root: str, hasher: Hasher, store_root: str) -> Environment:
    if env_spec.type == spec.ENV_VENV:
        from .venv import VenvEnvironment

        return VenvEnvironment(env_spec, root, hasher, store_root)
    if env_spec.type == spec.ENV_CONDA:
        from .conda import CondaEnvironment

        return CondaEnvironment(env_spec, root, hasher, store_root)
    if env_spec.type == spec.ENV_DOCKER:
        from .docker import DockerEnvironment

        return DockerEnvironment(env_spec, root, hasher, store_root)
    if env_spec.type == spec.ENV_STD:
        from .std import StdEnvironment

        return StdEnvironment(env_spec, root, hasher, store_root)
    return Environment(env_spec, root, hasher)
