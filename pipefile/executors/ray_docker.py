"""A Docker environment's step on a Ray worker (ray_worker.run_step calls these).

The worker runs it with the local Docker environment's own code (envs/docker): the node's
daemon builds the image from the build context shipped by digest (`use_context`: what
the local build would send, envs/docker/context.py; or finds it, by the tag and label
that hold its identity), and the container is started as on a single machine,
with the task's scratch copy of the workspace as the workspace: mounted read-only, its
staging folder and folder outputs read-write, literal output paths through views
(executors/literal.py), the same user, variables and GPU flags. Here only what differs on
a node is decided: which GPUs Ray assigned, what a node without Docker is told, what a
node whose images differ from the caller's says, and removing a container whose worker
died (`reap`).
"""

from __future__ import annotations

import os
from types import SimpleNamespace
from typing import IO, Optional

from .. import spec
from ..digest import PathDigest
from ..envs import EnvError, Launch
from .literal import LiteralView

# Said when a node cannot run a Docker step: the fix is on the cluster, not in the Pipefile.
NO_DOCKER_HINT = (
    "start Docker on every node that runs Docker steps (`docker info` there must answer for the user "
    "Ray runs as), or keep these steps on nodes that have it: give those nodes a resource "
    "(ray start --resources '{\"docker\": 1}') and the steps resources: {custom: {docker: 1}}"
)


def use_context(env, payload: dict, folder: str, tmp: str, store) -> None:
    """Make the build context the caller shipped (its objects are in the node's `store`,
    each verified on arrival) in `folder`, and have `env` build from it, with the context's
    digest the caller planned with (the identity: envs/docker/context.identity_digest)."""
    context = payload["context"]
    os.makedirs(folder)
    for rel in context["dirs"]:
        os.makedirs(os.path.join(folder, rel), exist_ok=True)
    for rel, content in context["files"]:
        store.materialize(PathDigest.from_json(content), os.path.join(folder, rel), tmp)
    env.use_context(folder, payload["env_build"]["context"])


def check_daemon(env, host: str) -> None:
    """The node's daemon answers, or the step fails naming the node and the fix."""
    try:
        env.check()
    except EnvError as e:
        raise EnvError(
            f"this node ({host}) cannot run Docker steps: {e.message}", env.spec.loc, NO_DOCKER_HINT
        ) from None


def fetch(env, log: IO[bytes]) -> None:
    """Pull what the environment names and the node lacks (as `pipe run` does before planning)."""

    def say(text: str) -> None:
        log.write(f"pipe: {text}\n".encode())
        log.flush()

    env.fetch(say)


def mismatch(env, planned: Optional[dict], planned_identity: str, host: str) -> str:
    """Why the node's environment is not the one the caller planned with, naming both."""
    here = env.build_identity()
    what = []
    if planned:
        if planned.get("image", "-") != here.get("image", "-"):
            what.append(
                f"image '{env.spec.image}' is {_short(here.get('image'))} there, {_short(planned['image'])} here"
            )
        for name, want in sorted((planned.get("from") or {}).items()):
            got = (here.get("from") or {}).get(name)
            if got != want:
                what.append(f"FROM image '{name}' is {_short(got)} there, {_short(want)} here")
    why = "; ".join(what) or "its build folder, variables or mounts differ"
    return (
        f"environment '{env.name}' is {env.identity()} on node {host}, not {planned_identity} as planned ({why}): "
        "make the same images on every node (docker load / docker build / a registry), then rerun"
    )


def _short(image_id: Optional[str]) -> str:
    return image_id[:19] if image_id else "missing"


def launch(payload: dict, work: str, views_dir: str, cwd: str, log: IO[bytes], gpus: tuple) -> tuple:
    """(Launch, LiteralView) of the container: the same mounts a local container task gets,
    made from the scratch copy `work` of the workspace; `gpus`: the ids of the node's
    devices Ray assigned to the task."""
    writable = set()
    outputs = {}
    for oname, stage_rel, ws_rel, typ in payload["outputs"]:
        # As staging.Staged.writable: the folders of the staging paths, and folder outputs.
        writable.add(os.path.dirname(os.path.join(work, stage_rel)))
        if typ == spec.URI_FOLDER:
            writable.add(os.path.join(work, ws_rel))
        outputs[oname] = SimpleNamespace(path=ws_rel, type=typ)
    writable_t = tuple(sorted(writable))
    staged = SimpleNamespace(own_stage=views_dir, node=SimpleNamespace(outputs=outputs), writable=lambda: writable_t)
    view = LiteralView(work, staged)  # type: ignore[arg-type] - the parts of Staged it reads
    step_env = dict(payload["step_env"])
    return (
        Launch(
            payload["step"],
            payload["command"],
            step_env,
            cwd,
            log,
            payload["run_id"],
            gpus,  # exactly these devices in the container, numbered from 0 (CUDA_VISIBLE_DEVICES)
            writable_t,
            (),  # (the scratch copy holds real files: nothing is behind a link out of it)
            0.0,
            payload.get("memory") or 0,
            view.make(),
        ),
        view,
    )


def reap(container_id: str) -> None:
    """Remove the container of a task whose worker died (it cannot remove its own)."""
    if not container_id:
        return
    try:
        from ..envs.docker import client

        client().containers.get(container_id).remove(force=True)
    except Exception:  # noqa: BLE001 - gone already, or no daemon: nothing left to stop
        pass
