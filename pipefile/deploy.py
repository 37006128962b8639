"""`pipe deploy`: register a real-time deployment of a model folder (docs/endpoints.md,
"Real-time deployments").

The model is an artifact version (a named output of a step, e.g. std/train_model's
`model`): a folder holding model.json (the format of stdlib_components/_lib/models.py)
and model.pkl. The deployment pins that version's content digest, so it serves the same
bytes whatever the artifact's newer versions hold; `pipe gc` keeps them.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from dataclasses import asdict

from .artifacts import stored_content
from .digest import TREE
from .errors import PipefileError
from .jobdb.online import OnlineDeployment, OnlineStore
from .lineage import parse_ref
from .pids import remove_abandoned
from .workspace import Workspace

MODEL_FILES = ("model.json", "model.pkl")
SCRATCH_PREFIX = ".deploy-"  # + PID-: a deploy's folder under .pipe/, flocked while it reads model.json
LEGACY_SCRATCH_AGE = 3600  # seconds: a folder of an older pipe (no pid in its name) is this old before it goes


def remove_dead_scratch(state_dir: str) -> list:
    """Remove the folders deploys killed half way (kill -9, a crash) left in `state_dir`;
    returns their paths. One is a dead deploy's when the process its name gives is gone
    and no one holds its lock; a live deploy's is left alone (its pid is alive, and it
    holds the lock from just after it made the folder until it removes it)."""
    import time

    removed = []
    try:
        entries = [e for e in os.scandir(state_dir) if e.name.startswith(SCRATCH_PREFIX)]
    except OSError:
        return removed
    for e in entries:
        owner = e.name[len(SCRATCH_PREFIX) :].split("-", 1)[0]
        pid = int(owner) if owner.isascii() and owner.isdigit() else None
        if pid is None:  # an older pipe's (.deploy-RANDOM): its deploy took seconds; an hour old, it is dead
            try:
                if time.time() - e.stat(follow_symlinks=False).st_mtime < LEGACY_SCRATCH_AGE:
                    continue
            except OSError:
                continue
        if remove_abandoned(e.path, pid, lambda p: shutil.rmtree(p, ignore_errors=True), os.O_DIRECTORY):
            removed.append(e.path)
    return removed


def _scratch(ws: Workspace) -> tuple:
    """(folder, fd holding its lock): a new folder under .pipe/ named after this process.
    The leftovers of dead deploys go first: nothing else would ever remove them."""
    remove_dead_scratch(ws.dir)
    path = tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-", dir=ws.dir)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return path, fd


def model_info(ws: Workspace, v) -> dict:
    """The model.json of artifact version `v`, checked to be a model folder's; an error
    saying what is wrong (and how to make one) otherwise."""
    from stdlib_components._lib.errors import ComponentError
    from stdlib_components._lib.models import FORMAT_VERSION, MODEL_FORMAT, read_model_info

    how = (
        "deploy a model folder: the `model` output of std/train_model, or a folder written by "
        "save_model, made a versioned artifact by `name:` on the step's output"
    )
    if v.kind != TREE:
        raise PipefileError(f"{v.ref} is a file, not a model folder", hint=how)
    stored_content(ws, v)  # complete in the store, or an error saying how to make it again
    entries = {rel: digest for rel, kind, digest, _size in ws.store.walk(v.digest) if "/" not in rel}
    missing = [f for f in MODEL_FILES if f not in entries]
    if missing:
        raise PipefileError(
            f"{v.ref} is not a model folder: it has no {' and no '.join(missing)}",
            hint=f"{how} (it holds model.json, of the {MODEL_FORMAT} format, and model.pkl)",
        )
    # read_model_info reads a folder: give it model.json alone (the estimator may be large).
    scratch, held = _scratch(ws)
    try:
        with open(os.path.join(scratch, "model.json"), "wb") as f:
            f.write(ws.store.read(entries["model.json"]))
        try:
            info = read_model_info(scratch)
        except ComponentError as e:
            # its message names the scratch copy; the artifact version is what the user knows
            message = e.message.replace(scratch + os.sep, "").replace(scratch, v.ref).removeprefix("model: ")
            raise PipefileError(f"{v.ref}: {message}", hint=e.hint or how) from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        os.close(held)
    if not isinstance(info.format_version, int) or info.format_version > FORMAT_VERSION:
        raise PipefileError(
            f"{v.ref}: model.json has format version {info.format_version!r}; this pipe reads {FORMAT_VERSION}",
            hint="upgrade pipe",
        )
    columns = info.feature_columns
    if not isinstance(columns, list) or not columns or not all(isinstance(c, str) for c in columns):
        raise PipefileError(f"{v.ref}: model.json's feature_columns is not a list of column names", hint=how)
    twice = sorted({c for c in columns if columns.count(c) > 1})
    if twice:  # a row is an object: it cannot hold a column twice, so none would ever fit
        raise PipefileError(
            f"{v.ref}: model.json's feature_columns names {', '.join(map(repr, twice))} more than once", hint=how
        )
    if info.task not in ("classification", "regression"):
        raise PipefileError(
            f"{v.ref}: model.json's task is {info.task!r}, not 'classification' or 'regression'", hint=how
        )
    return json.loads(json.dumps(asdict(info), default=str))


def deploy(ws: Workspace, name: str, model_ref: str, description: str = "", set_default: bool = False) -> tuple:
    """(OnlineDeployment, True if new): a new version of `name` serving artifact version
    `model_ref` (NAME or NAME:VERSION, newest when unversioned), unless the newest
    version of `name` already serves exactly that content (then it, unchanged)."""
    artifact, version = parse_ref(model_ref)
    v = ws.jobs.artifact(artifact, version)
    info = model_info(ws, v)
    store = OnlineStore(ws.jobs)
    try:
        existing = store.deployments(name)
    except PipefileError:
        existing = []
    if existing and existing[-1].digest == v.digest and not existing[-1].disabled:
        if set_default:
            store.set_default(name, existing[-1].version)
        return existing[-1], False
    dep: OnlineDeployment = store.add(name, v.name, v.version, v.kind, v.digest, v.size, info, description, set_default)
    return dep, True
