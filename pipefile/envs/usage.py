"""What each workspace's environments are, for `pipe envs prune` in any workspace that
shares the store.

    .pipe/environments.json   {"v": 1,
                               "environments": {name: {"kind", "identity", "build"}},
                               "pipefiles": {PIPEFILE: {name: {"kind", "identity", "build"}}}}

`pipefiles` holds each Pipefile of the workspace (its path relative to the workspace) that
ran, so a run of one (`pipe run -f train.Pipefile`) never drops what another recorded;
`environments` is the last run's Pipefile's, as before (what older versions read).

Written by a run (replaced whole, by rename, only when it changes), read by prune: a
build some workspace recorded is in use, and kept.
"""

from __future__ import annotations

import json
import os

ENVIRONMENTS_FILE = "environments.json"
DEFAULT_PIPEFILE = "Pipefile"


def write_environments(state_dir: str, envs: dict, keep=(), pipefile: str = DEFAULT_PIPEFILE) -> None:
    """Record `envs` ({name: {kind, identity, build}}) of `pipefile` (its path relative to
    the workspace) in the workspace whose `.pipe/` is `state_dir`, keeping older entries of
    the names in `keep` and the other Pipefiles' records (those whose file is still there)."""
    import tempfile  # here, not at the top: a no-op run writes nothing (start-up)

    path = os.path.join(state_dir, ENVIRONMENTS_FILE)
    data = _read(state_dir)
    old_all = _by_pipefile(data, last=pipefile)
    old = old_all.get(pipefile, {})
    envs = {**{k: v for k, v in old.items() if k in keep}, **envs}
    root = os.path.dirname(os.path.abspath(state_dir))
    # A Pipefile removed since it ran no longer keeps its builds.
    by_pipefile = {p: r for p, r in old_all.items() if p != pipefile and os.path.isfile(os.path.join(root, p))}
    by_pipefile[pipefile] = envs
    new = {"v": 1, "environments": envs, "pipefiles": by_pipefile}
    if data == new:
        return
    fd, tmp = tempfile.mkstemp(dir=state_dir, prefix=".tmp-")
    with os.fdopen(fd, "w") as f:
        json.dump(new, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def _read(state_dir: str):
    try:
        with open(os.path.join(state_dir, ENVIRONMENTS_FILE)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _records(envs) -> dict:
    """The {name: record} entries of the right shape (a damaged or hand-edited file is
    replaced at the next run, never an internal error)."""
    if not isinstance(envs, dict):
        return {}
    return {k: v for k, v in envs.items() if isinstance(v, dict) and isinstance(v.get("build"), (str, type(None)))}


def _by_pipefile(data, last=None) -> dict:
    """{pipefile: {name: record}}; a file written before `pipefiles` existed holds one
    Pipefile's records, which one unknown: under `last` (None: kept whatever runs)."""
    if not isinstance(data, dict):
        return {}
    pipefiles = data.get("pipefiles")
    if not isinstance(pipefiles, dict):
        old = _records(data.get("environments"))
        return {last: old} if old else {}
    return {p: _records(r) for p, r in pipefiles.items() if isinstance(p, str)}


def read_environments(state_dir: str) -> dict:
    """{name: record} of the last run's Pipefile, as recorded; {} for a file that is not
    there or not of this shape."""
    data = _read(state_dir)
    return _records(data.get("environments")) if isinstance(data, dict) else {}


def recorded_builds(state_dir: str, skip: str = "") -> set:
    """The builds every Pipefile of the workspace recorded, less `skip`'s (a Pipefile's path
    relative to the workspace) and those of a Pipefile no longer there."""
    root = os.path.dirname(os.path.abspath(state_dir))
    out = set()
    for pipefile, recs in _by_pipefile(_read(state_dir)).items():
        if pipefile is not None and (pipefile == skip or not os.path.isfile(os.path.join(root, pipefile))):
            continue
        out.update(r["build"] for r in recs.values() if r.get("build"))
    return out


def note_made(state_dir: str, made: dict, keep=(), pipefile: str = DEFAULT_PIPEFILE) -> None:
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
    write_environments(state_dir, out, keep=keep, pipefile=pipefile)
