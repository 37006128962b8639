"""What environments there are, and pruning the unused ones (`pipe envs`, `pipe envs prune`).

Two sources: the environments this Pipefile declares (with their identity, whether
they are built, their size and the steps that use them), and what is built in the
store's environment cache (venvs, conda prefixes) and, when a Docker daemon
answers, the images pipe built for this store.

A build is *used* when an environment of this Pipefile has its identity now, or
when any workspace that shares the store recorded it in its
`.pipe/environments.json` at its last run. Everything else is unused, and
`prune` removes it; so are build folders that never completed.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import field
from typing import TYPE_CHECKING, Optional

from .cache.registry import registered_workspaces
from .envs import EnvError
from .envs.cache import EnvCache, dir_size
from .envs.usage import recorded_builds
from .errors import PipefileError
from .lazyclass import dataclass
from .workspace import STATE_DIR

if TYPE_CHECKING:
    from .session import Session


@dataclass
class EnvRow:
    name: str
    kind: str
    identity: Optional[str]
    detail: str
    built: Optional[bool]
    size: Optional[int]
    steps: list
    error: Optional[str] = None
    uses: Optional[str] = None  # the std environment only: "interpreter" (the calling one) or "venv"

    def to_json(self) -> dict:
        out = {
            "name": self.name,
            "type": self.kind,
            "identity": self.identity,
            "detail": self.detail,
            "built": self.built,
            "size": self.size,
            "steps": self.steps,
            "error": self.error,
        }
        if self.uses is not None:
            out["uses"] = self.uses
        return out


@dataclass
class BuildRow:
    build_id: str
    kind: str
    name: str  # the environment name it was built for
    size: Optional[int]
    used: bool
    path: str = ""  # a cache folder, or a Docker image ID
    created: Optional[float] = None
    users: list = field(default_factory=list)  # workspace roots that recorded it

    def to_json(self) -> dict:
        return {
            "build": self.build_id,
            "type": self.kind,
            "environment": self.name,
            "size": self.size,
            "used": self.used,
            "where": self.path,
            "created": self.created,
            "used_by": self.users,
        }


def declared(pipe: Session) -> list:
    """One row per environment of the Pipefile (errors per row: a missing daemon is not fatal here)."""
    pf = pipe.graph.pipefile
    users: dict = {}
    for st in pf.steps.values():
        if st.environment:
            users.setdefault(st.environment, []).append(st.name)
    rows = []
    for name, es in pf.environments.items():
        env = pipe.envs.get(name)
        row = EnvRow(name, es.type, None, "", None, None, users.get(name, []))
        try:
            row.identity = env.identity()
            row.detail = env.describe()
            row.built = env.built()
            row.size = env.size()
            row.uses = getattr(env, "uses", None)
        except PipefileError as e:
            row.error = e.message
        rows.append(row)
    return rows


def _kept(pipe: Session) -> dict:
    """build id -> the workspaces that use it (this one: by its Pipefile now; others: by their record)."""
    keep: dict = {}
    here = os.path.realpath(pipe.root)
    for name in pipe.graph.pipefile.environments:
        env = pipe.envs.get(name)
        try:
            if env.build_identity() is not None:
                keep.setdefault(env.build_id(), []).append(here)
        except PipefileError:
            pass
    pf = pipe.graph.pipefile
    # This workspace's other Pipefiles (`pipe run -f train.Pipefile`) by their record too.
    for build in recorded_builds(pipe.ws.dir, skip=os.path.relpath(pf.path, pf.root)):
        if here not in keep.get(build, []):
            keep.setdefault(build, []).append(here)
    roots = {os.path.realpath(r) for _, r in registered_workspaces(pipe.ws.store_root)} - {here}
    for root in sorted(roots):
        for build in sorted(recorded_builds(os.path.join(root, STATE_DIR))):
            keep.setdefault(build, []).append(root)
    return keep


def builds(pipe: Session, notes: list) -> list:
    """Every build in the store's cache (and pipe-built Docker images of this store)."""
    keep = _kept(pipe)
    cache = EnvCache(pipe.ws.store_root)
    rows = []
    for build_id, path, meta in cache.entries():
        rows.append(
            BuildRow(
                build_id,
                meta.get("kind", build_id.split("-")[0]),
                meta.get("name", "?"),
                dir_size(path),
                build_id in keep,
                path,
                meta.get("created"),
                keep.get(build_id, []),
            )
        )
    if any(es.type == "docker" for es in pipe.graph.pipefile.environments.values()) or _docker_up():
        try:
            from .envs import docker as docker_env

            for image, build_id, name in docker_env.built_images(cache.dir):
                rows.append(
                    BuildRow(
                        build_id,
                        "docker",
                        name or "?",
                        image.attrs.get("Size"),
                        build_id in keep,
                        image.id,
                        None,
                        keep.get(build_id, []),
                    )
                )
        except EnvError as e:
            notes.append(f"images pipe built were not checked: {e.message}")
    return rows


def _docker_up() -> bool:
    """Whether the Docker SDK is there and the daemon answers (only then are images listed)."""
    try:
        from .envs import docker as docker_env

        docker_env.client()
        return True
    except EnvError:
        return False


def prune(pipe: Session, dry_run: bool = False) -> tuple:
    """Remove unused builds and unfinished build folders; returns (removed BuildRows, notes)."""
    notes: list = []
    removed = []
    cache = EnvCache(pipe.ws.store_root)
    for row in builds(pipe, notes):
        if row.used:
            continue
        removed.append(row)
        if dry_run:
            continue
        if row.kind == "docker":
            from .envs import docker as docker_env

            try:
                docker_env.remove_image(row.path)
            except EnvError as e:
                notes.append(e.message)
                removed.pop()
        else:
            cache.remove(row.build_id)
    for path in cache.unfinished():
        build_id = os.path.basename(path).rsplit(".", 1)[0]
        if dry_run:
            removed.append(
                BuildRow(build_id, build_id.split("-")[0], "(unfinished build)", dir_size(path), False, path)
            )
            continue
        with cache.lock(build_id):  # a build in progress holds it: wait, then look again
            if os.path.isdir(path) and path not in {p for _, p, _ in cache.entries()}:
                removed.append(
                    BuildRow(build_id, build_id.split("-")[0], "(unfinished build)", dir_size(path), False, path)
                )
                shutil.rmtree(path, ignore_errors=True)
    return removed, notes
