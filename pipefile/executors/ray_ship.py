"""What a Ray task reads, put on the shared store before it is submitted (executors/ray.py):
its inputs, code and environment's files, by the digests its key's manifest holds, each put
in the content store here and uploaded only where the shared store lacks it (what it has is
remembered for the run); a Docker `build:` folder as its build context, file by file; a
foreach batch task's folders of links, made again on the node."""

from __future__ import annotations

import os
from typing import Any

from ..bindings import IN_PATH, IN_VALUE
from ..cache.content_store import StoreError
from ..digest import TREE, PathDigest
from ..envs import Environment
from ..expand_map import BATCH_ROOT
from ..graph import Node
from ..rebuilder import Decision
from ..remote.run_cache import closure
from ..staging import StepFailure
from .ray_cluster import stops_when, transfer_failed

# `ex` below is the RayExecutor shipping for its task (typed Any: importing executors/ray.py
# here would be an import cycle).
RayExecutor = Any


def ship(ex: RayExecutor, node: Node, decision: Decision, env: Environment) -> tuple:
    """Put what the task reads on the shared store: ([(path, content)], [objects],
    the build context of a Docker `build:` as {"files": [(path, content)], "dirs": [...]})."""
    m = decision.key.manifest
    wanted = {v["path"]: v for v in m["inputs"].values() if "digest" in v}
    wanted.update(m["code"])
    for rel in _environment_files(env):
        d = ex.hasher.digest(rel)
        if d is not None:
            wanted[rel] = {"kind": d.kind, "digest": d.digest, "exec": d.executable}
    files, objects = [], []
    for rel, v in sorted(wanted.items()):
        content = PathDigest(v["kind"], v["digest"], 0, bool(v.get("exec")))
        files.append((rel, content.to_json()))
        objects += _stored(ex, rel, content)
    context = None
    if env.container and env.spec.build:
        key = (env.name, env.identity())
        if key not in ex._contexts:
            ex._contexts[key] = _context(ex, env)
        context, more = ex._contexts[key]
        objects += more
    with ex._store_lock:
        todo = [d for d in dict.fromkeys(objects) if d not in ex._on_store]
    if todo:
        remote = ex.cluster.remote
        missing = remote.missing_objects(todo)
        if missing:
            t = remote.upload(ex.ws.store, sorted(missing), stops_when(ex.cancelled))
            if t.failed:
                raise StepFailure(transfer_failed("upload its inputs to", t, ex.cancelled))
        with ex._store_lock:
            ex._on_store.update(todo)
    return files, list(dict.fromkeys(objects)), context


def _stored(ex: RayExecutor, rel: str, content: PathDigest) -> list:
    """The objects of workspace path `rel`'s `content`, put in the local content store."""
    store = ex.ws.store
    kept = ex._kept.get(content.digest)
    if kept is not None and not store.complete(content):  # an upstream's, left on the store
        return kept
    if not store.complete(content):
        ap = ex.abspath(rel)
        # (Ctrl-C, SIGTERM: a copy of gigabytes stops at once, its temp file removed)
        stop = ex.cancelled.is_set
        try:
            if content.kind == TREE:
                tree = ex.hasher.tree(rel)
                if tree.digest != content.digest:
                    raise StepFailure(f"input '{rel}' changed after the run was planned; run again")
                store.put_tree(tree, ap, durable=False, stop=stop)
            else:
                store.put_file(ap, content.digest, durable=False, stop=stop)
        except StoreError:
            if stop():
                raise StepFailure("interrupted") from None
            raise
    return closure(store, content)


def _context(ex: RayExecutor, env: Environment) -> tuple:
    """A Docker `build:` folder's build context, file by file, as the local build sends it
    (envs/docker/context.py: .dockerignore honoured, `.pipe/` left out): the node builds
    from exactly that, never from the whole folder. Each file is one object: an unchanged
    one is already on the shared store."""
    from ..envs.docker.context import context_paths, split

    folder = env.build_dir()
    files, dirs = split(folder, context_paths(folder, env.spec.dockerfile or ""))
    shipped, objects = [], []
    for rel in files:
        ws_rel = os.path.normpath(os.path.join(env.spec.build, rel))
        d = ex.hasher.digest(ws_rel)
        if d is None:  # (gone since it was listed)
            raise StepFailure(f"the build folder of environment '{env.name}' changed while it was shipped; run again")
        content = PathDigest(d.kind, d.digest, d.size, d.executable)
        shipped.append((rel, content.to_json()))
        objects += _stored(ex, ws_rel, content)
    return {"files": shipped, "dirs": dirs}, objects


def batches(node: Node) -> list:
    """A foreach batch task's folders of links (locally made by the session under
    .pipe/batches): [(folder, [(name, member path)])]. The members travel by digest like any
    input (the key reads each one); the worker links them into the folder there."""
    out = []
    for iname, inp in node.inputs.items():
        if inp.kind != IN_VALUE or not isinstance(inp.value, str) or not inp.value.startswith(BATCH_ROOT + "/"):
            continue
        pre = iname + "/"
        members = [(k[len(pre) :], m.path) for k, m in node.inputs.items() if k.startswith(pre) and m.kind == IN_PATH]
        out.append((inp.value, members))
    return out


def _environment_files(env: Environment) -> list:
    """The workspace files an environment is built from (a venv's requirements and what they
    include, a conda file) or mounts (a Docker environment's from the workspace)."""
    s = env.spec
    # (A Docker `build:` folder travels as its build context instead: `_context`.)
    out = [p for p in (s.requirements, s.file) if p]
    if s.requirements and hasattr(env, "_included"):
        out += [p for p, _d in env._included(s.requirements, set())]
    if env.container:
        # (An absolute source is the node's own: it must be there.)
        out += [m.source for m in s.mounts if not os.path.isabs(m.source) and not m.source.startswith("..")]
    return out
