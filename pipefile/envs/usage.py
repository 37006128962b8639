"""What each workspace's environments are, for `pipe envs prune` in any workspace that
shares the store.

    .pipe/environments.json   {"v": 1, "environments": {name: {"kind", "identity", "build"}}}

Written by a run (replaced whole, by rename, only when it changes), read by prune: a
build some workspace recorded is in use, and kept.
"""

from __future__ import annotations

import json
import os

ENVIRONMENTS_FILE = "environments.json"


def write_environments(state_dir: str, envs: dict, keep=()) -> None:
    """Record `envs` ({name: {kind, identity, build}}) in the workspace whose `.pipe/` is
    `state_dir`, keeping older entries of the names in `keep`."""
    import tempfile  # here, not at the top: a no-op run writes nothing (start-up)

    path = os.path.join(state_dir, ENVIRONMENTS_FILE)
    old = read_environments(state_dir)
    envs = {**{k: v for k, v in old.items() if k in keep}, **envs}
    if old == envs:
        return
    fd, tmp = tempfile.mkstemp(dir=state_dir, prefix=".tmp-")
    with os.fdopen(fd, "w") as f:
        json.dump({"v": 1, "environments": envs}, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def read_environments(state_dir: str) -> dict:
    """{name: record} as recorded; {} for a file that is not there or not of this shape (a
    damaged or hand-edited one is replaced at the next run, never an internal error)."""
    try:
        with open(os.path.join(state_dir, ENVIRONMENTS_FILE)) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    envs = data.get("environments") if isinstance(data, dict) else None
    if not isinstance(envs, dict):
        return {}
    return {k: v for k, v in envs.items() if isinstance(v, dict) and isinstance(v.get("build"), (str, type(None)))}


def note_made(state_dir: str, made: dict, keep=()) -> None:
    """Record what the environments a run made ({name: Environment}) are now; one whose
    identity cannot be known is left as it was recorded (`keep`: the names still declared)."""
    from ..errors import PipefileError

    out = {}
    for name, env in made.items():
        try:
            out[name] = {
                "kind": env.kind,
                "identity": env.identity(),
                "build": env.build_id() if env.build_identity() is not None else None,
            }
        except PipefileError:
            continue
    write_environments(state_dir, out, keep=keep)
