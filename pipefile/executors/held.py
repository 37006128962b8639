"""Outputs the Ray executor left on its shared store, and the steps whose outputs it must
land in the workspace.

A step that ran on the cluster and whose outputs nothing here needs now (no target of the
run asked for them; only other steps on the cluster read them, by digest) is committed to
the action cache by its digests, verified present on the shared store, and its run-cache
entry is written there too; its workspace paths are left empty. `.pipe/ray-store` names that
store, so that later runs and `pipe status` in this workspace consult its run cache as a
remote's: such an output is then `restore (remote ...)` when a run needs it, or stays on the
store (`on-remote`) when none does. Never stale: a step whose outputs are absent is never
taken for fresh.

Small on purpose: the session reads the record at start-up of every run.
"""

from __future__ import annotations

import json
import os
from typing import Optional

RECORD = "ray-store"  # in .pipe/


def held_store(pipe_dir: str):
    """The shared store (a RemoteSpec) that holds outputs of this workspace, or None."""
    path = os.path.join(pipe_dir, RECORD)
    if not os.path.exists(path):
        return None
    from ..remote import config as remotes

    try:
        with open(path) as f:
            got = json.load(f)
        name, url = str(got["name"]), str(got["url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # unreadable: as if none (those outputs run again when needed)
    try:
        if name in remotes.load(os.path.dirname(pipe_dir)).remotes:
            return remotes.resolve(os.path.dirname(pipe_dir), name)
    except Exception:  # noqa: BLE001 - a broken remotes file: the URL alone still reaches it
        pass
    return remotes.RemoteSpec(name, url, {}, "")


def note_store(pipe_dir: str, spec) -> None:
    """Remember that `spec` holds outputs of this workspace (written atomically)."""
    url = spec.url
    if "://" not in url and not os.path.isabs(url):
        url = os.path.abspath(os.path.join(os.path.dirname(pipe_dir), url))
    tmp = os.path.join(pipe_dir, f".{RECORD}.{os.getpid()}")
    with open(tmp, "w") as f:
        json.dump({"name": spec.name, "url": url}, f)
    os.replace(tmp, os.path.join(pipe_dir, RECORD))


def final_steps(graph, plan) -> set:
    """The steps of `plan` no other step of it reads: what a run with no targets asks for."""
    names = set(plan.decisions)
    return {n for n in names if not any(d in names for d in graph.dependents.get(n, ()))}


def landing_steps(graph, plan, targets=()) -> Optional[set]:
    """The steps of `plan` whose outputs must be in the workspace after the run: those asked
    for (by name or output path; with no targets, those no other step of the run reads), those
    with `metrics:` files (the job records them from here), and every step one of whose outputs
    another step reads by a path inside or around it (such a path is hashed where it lies)."""
    names = set(plan.decisions)
    targets = list(targets)
    if targets:
        land = {n for t in targets for n in graph.resolve_targets(t)}
    else:
        land = final_steps(graph, plan)
    for n in names:
        node = graph.nodes[n]
        if node.step.metrics:  # the job reads its metrics files here when it ends
            land.add(n)
        for path in node.read_paths():
            if path in graph.producers:
                continue
            for d in node.deps:
                for out in graph.nodes[d].outputs.values():
                    o = out.path
                    if path.startswith(o + "/") or o.startswith(path + "/") or path in (".", ""):
                        land.add(d)
    return land
