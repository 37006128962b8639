"""Artifact versions in the workspace: resolving `${{artifacts.NAME[:V]}}` bindings to
stored versions, materialising them read-only under `.pipe/artifacts/NAME/VERSION`,
writing a version elsewhere (`pipe artifacts get`) and adding external data as an asset
version (`pipe asset add`).

Resolving reads the job database and the store and writes nothing (`pipe validate`,
`dag` and `status` resolve too); materialising is the session's act, under the
workspace lock, before a run plans. A materialised version is built aside and renamed
into place, so a reader never sees one half-written.
"""

from __future__ import annotations

import os
import stat
from typing import Optional

from . import graph as graph_mod
from . import load as loader
from . import names, spec
from .digest import FILE, TREE, Hasher, PathDigest, StatCache
from .errors import PipefileError
from .workspace import STATE_DIR, Workspace

# --- artifacts: versions bound to inputs, fetched and registered -------------------------
ARTIFACTS_DIR = "artifacts"  # .pipe/artifacts/NAME/VERSION: versions read by steps, read-only


def artifact_bindings(pf) -> list:
    """(step, input name, Binding) of every ${{artifacts...}} input, in declaration order."""
    return [
        (st, iname, b) for st in pf.steps.values() for iname, b in st.inputs.items() if b.kind == spec.BIND_ARTIFACT
    ]


def resolve_artifacts(pf, errors: list) -> dict:
    """Resolve every artifact binding to a stored version (`latest`: the newest now);
    problems go to `errors`. Writes nothing: `materialize_bound` puts the versions in place.

    Opens the job database only when the Pipefile binds artifacts (the no-op path of
    other pipelines is untouched)."""
    bindings = artifact_bindings(pf)
    if not bindings:
        return {}
    out: dict = {}
    ws = Workspace(pf.root, create=False)
    try:
        for st, iname, b in bindings:
            key = (b.ref, b.version)
            if key in out:
                continue
            what = f"input '{iname}' of step '{st.name}' reads {b.describe()}"
            try:
                v = ws.jobs.artifact(b.ref, int(b.version) if b.version else None)
                out[key] = _resolved(ws, v)
            except PipefileError as e:
                hint = e.hint
                made_here = _made_here(pf, b.ref) if "no artifact" in e.message else None
                if made_here is not None:
                    hint = made_here
                elif "no artifact" in e.message and not ws.jobs.artifact_names():
                    hint = (
                        "no artifact has been stored in this workspace yet: name an output (name: ...) "
                        "and run it, or `pipe asset add PATH --name NAME`"
                    )
                errors.append(PipefileError(f"{what}, but {e.message}", b.loc, hint))
    finally:
        ws.close()
    return out


def _made_here(pf, name: str):
    """The hint for an artifact this Pipefile itself names that has no version yet: a binding
    is resolved before the run that would make its first one, so it can never get there."""
    import shlex

    for a in pf.assets.values():
        if a.artifact == name:
            return (
                f"'{name}' is the name of asset '{a.name}' here, whose first version a run makes "
                f"only after its bindings are resolved: to read the asset's current data bind "
                f"${{{{assets.{a.name}}}}}; to read stored versions, add the first one: "
                f"pipe asset add {shlex.quote(a.path)} --name {name}"
            )
    for st in pf.steps.values():
        for o in st.outputs.values():
            if o.artifact == name:
                return (
                    f"'{name}' is output '{o.name}' of step '{st.name}' here and has no stored version "
                    f"yet (none is made while this binding stops every run): bind "
                    f"${{{{steps.{st.name}.outputs.{o.name}}}}} to read what the run makes"
                )
    return None


def pin_artifacts(pf, errors: list) -> dict:
    """{"NAME:VERSION" or "NAME:latest": version record} of every artifact binding, as
    resolved now (a published deployment keeps reading these versions)."""
    bindings = artifact_bindings(pf)
    if not bindings:
        return {}
    out: dict = {}
    ws = Workspace(pf.root, create=False)
    try:
        for st, iname, b in bindings:
            key = f"{b.ref}:{b.version or 'latest'}"
            if key in out:
                continue
            try:
                v = ws.jobs.artifact(b.ref, int(b.version) if b.version else None)
                stored_content(ws, v)
            except PipefileError as e:
                errors.append(
                    PipefileError(
                        f"input '{iname}' of step '{st.name}' reads {b.describe()}, but {e.message}", b.loc, e.hint
                    )
                )
                continue
            out[key] = v.to_json()
    finally:
        ws.close()
    return out


def pinned_artifacts(pf, pinned: dict, ws: Optional[Workspace], errors: list) -> dict:
    """The artifact bindings of a published deployment, resolved to the versions it pinned
    (whose content must be in the store of `ws`)."""
    from .jobdb.artifacts import ArtifactVersion

    out: dict = {}
    for st, iname, b in artifact_bindings(pf):
        rec = pinned.get(f"{b.ref}:{b.version or 'latest'}")
        if rec is None or ws is None:
            errors.append(
                PipefileError(
                    f"input '{iname}' of step '{st.name}' reads {b.describe()}, which the deployment did not pin",
                    b.loc,
                    "publish the pipeline again",
                )
            )
            continue
        v = ArtifactVersion(
            rec["name"],
            rec["version"],
            rec["kind"],
            rec["digest"],
            rec["size"],
            rec.get("job"),
            rec.get("step"),
            rec.get("output"),
            rec.get("path", ""),
            rec.get("created", 0.0),
        )
        try:
            out[(b.ref, b.version)] = _resolved(ws, v)
        except PipefileError as e:
            errors.append(
                PipefileError(
                    f"input '{iname}' of step '{st.name}' reads {b.describe()}, but {e.message}", b.loc, e.hint
                )
            )
    return out


def _resolved(ws: Workspace, v) -> graph_mod.ResolvedArtifact:
    """Version `v` as a binding reads it; its content must be in the store unless it is in
    place already (a stat: the content of a copy in place is checked when a run begins)."""
    rel = _artifact_rel(v.name, v.version)
    if not os.path.lexists(os.path.join(ws.root, rel)):
        stored_content(ws, v)
    return graph_mod.ResolvedArtifact(v.name, v.version, v.kind, v.digest, v.size, rel)


def materialize_bound(ws: Workspace, hasher: Hasher, artifacts) -> None:
    """With the workspace held: every resolved version (graph.ResolvedArtifact) readable in
    place, as recorded; one missing, or changed where it is materialised, is put back (a
    stat each when all is well)."""
    _remove_unfinished(ws)
    for art in artifacts:
        d = hasher.digest(art.path, data_only=True)  # (a FIFO there: put back, never read)
        if d is None or d.kind != art.kind or d.digest != art.digest:
            materialize_version(ws, ws.jobs.artifact(art.name, art.version), replace=True)


def _remove_unfinished(ws: Workspace) -> None:
    """With the workspace held: remove the versions a killed pipe was materialising (the
    `.tmp-*` folders beside them, each a partial copy of a version, read-only)."""
    top = os.path.join(ws.dir, ARTIFACTS_DIR)
    try:
        names = os.listdir(top)
    except OSError:
        return  # (none materialised in this workspace: one failed stat)
    for name in names:
        try:
            left = [e.path for e in os.scandir(os.path.join(top, name)) if e.name.startswith(".tmp-")]
        except OSError:
            continue
        for path in left:
            try:
                remove_read_only(path)
            except OSError:
                pass  # tried again by the next run


def _artifact_rel(name: str, version: int) -> str:
    return f"{STATE_DIR}/{ARTIFACTS_DIR}/{name}/{version}"


def _make_read_only(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        for dirpath, _dirnames, filenames in os.walk(path):
            for f in filenames:
                fp = os.path.join(dirpath, f)
                if not os.path.islink(fp):
                    os.chmod(fp, 0o555 if os.stat(fp).st_mode & 0o111 else 0o444)
        for dirpath, _dirs, _files in sorted(os.walk(path), key=lambda w: -len(w[0])):
            os.chmod(dirpath, 0o555)
    else:
        os.chmod(path, 0o555 if os.stat(path).st_mode & 0o111 else 0o444)


def remove_read_only(path: str) -> None:
    """Delete a file or folder that `_make_read_only` protected."""
    import shutil

    if not os.path.lexists(path):
        return
    if os.path.isdir(path) and not os.path.islink(path):
        for dirpath, _dirs, _files in os.walk(path):
            os.chmod(dirpath, 0o755)
        shutil.rmtree(path)
    else:
        os.unlink(path)


def stored_content(ws: Workspace, v) -> PathDigest:
    """The content of artifact version `v`, checked to be complete in the store."""
    content = PathDigest(v.kind, v.digest, v.size)
    if not ws.store.complete(content):
        raise PipefileError(
            f"the content of {v.ref} ({v.digest[:12]}) is no longer complete in the store at {ws.store_root}",
            hint=f"run the step that made it again (job {v.job_id}): pipe run --force {v.step} "
            f"(it may be fresh, so a plain `pipe run` would not); a step that is not "
            f"deterministic gives a new version"
            if v.step
            else f"add the data again: pipe asset add {v.path} --name {v.name}",
        )
    return content


def materialize_version(ws: Workspace, v, replace: bool = False) -> graph_mod.ResolvedArtifact:
    """Make artifact version `v` readable at .pipe/artifacts/NAME/VERSION (read-only).

    Built aside and renamed into place, so a reader never sees it half-written; an
    existing copy is kept unless `replace` (`materialize_bound` checks its content)."""
    import tempfile  # here, not at the top: a no-op run writes nothing (start-up)

    rel = _artifact_rel(v.name, v.version)
    dest = os.path.join(ws.root, rel)
    resolved = graph_mod.ResolvedArtifact(v.name, v.version, v.kind, v.digest, v.size, rel)
    if os.path.lexists(dest) and not replace:
        return resolved
    content = stored_content(ws, v)
    parent = os.path.dirname(dest)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix=".tmp-")
    try:
        built = os.path.join(tmp, "x")
        ws.store.materialize(content, built, tmp)
        _make_read_only(built)
        is_dir = os.path.isdir(built)
        if is_dir:
            os.chmod(built, 0o755)  # moving a folder to another parent needs write access to it
        if replace and os.path.lexists(dest):
            if os.path.isdir(dest) and not os.path.islink(dest):
                os.chmod(dest, 0o755)
            os.replace(dest, os.path.join(tmp, "old"))
        try:
            os.rename(built, dest)
        except OSError:
            if not os.path.lexists(dest):  # another pipe put it there first: keep theirs
                raise
        else:
            if is_dir:
                os.chmod(dest, 0o555)
    finally:
        remove_read_only(tmp)
    return resolved


def get_artifact(ws: Workspace, v, dest: str) -> None:
    """Write version `v` at `dest` (a new path; never over anything)."""
    if os.path.lexists(dest):
        raise PipefileError(
            f"'{dest}' already exists; nothing was written",
            hint="choose another path with -o, or move the existing one away first",
        )
    content = stored_content(ws, v)
    if dest.endswith(("/", os.sep)) and v.kind != "tree":  # (abspath drops the slash: a file would be written)
        raise PipefileError(
            f"'{names.shown(dest)}' names a folder (it ends in '/'), and {v.ref} is a file; nothing was written",
            hint="give the path of the file to write, e.g. " + names.shown(os.path.join(dest, v.name)),
        )
    where = os.path.abspath(dest)
    parent = os.path.dirname(where)
    try:
        os.makedirs(parent, exist_ok=True)
        ws.store.materialize(content, where, parent)
    except OSError as e:  # a file on the way, /proc, no permission, a full disk: the user's to fix
        at = f" ({names.shown(e.filename)})" if isinstance(e.filename, str) else ""
        raise PipefileError(
            f"cannot write {v.ref} at '{names.shown(dest)}': {e.strerror or e}{at}; nothing was written there",
            hint="give -o a path in a folder that can be made and written",
        ) from None


def add_asset(ws: Workspace, path: str, name: str) -> tuple:
    """Store external data (a file or folder) as a version of asset artifact `name`.

    Returns (ArtifactVersion, True if it is a new version)."""
    if not loader.valid_artifact_name(name):
        raise PipefileError(
            f"'{name}' is not a valid artifact name",
            hint=loader.ARTIFACT_NAME_HINT,
        )
    ap = os.path.abspath(path)
    if not os.path.exists(ap):
        raise PipefileError(
            f"there is no file or folder at '{names.shown(path)}'", hint="give the path of the data to add"
        )
    if not names.is_utf8(ap):  # (its path is kept in the job database, as UTF-8 text)
        raise names.not_utf8(ap, "the asset's data")
    mode = os.stat(ap).st_mode
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):  # (hashing /dev/zero never ends; a FIFO waits for a writer)
        what = "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
        raise PipefileError(
            f"'{names.shown(path)}' is {what}, not a file or a folder; nothing was added",
            hint="give the path of a file or a folder of data (copy what it gives into a file first)",
        )
    inside = os.path.relpath(ap, ws.root)
    if inside == STATE_DIR or inside.startswith(STATE_DIR + os.sep):
        raise PipefileError(f"'{path}' is inside {STATE_DIR}/, pipe's own state", hint="add data from elsewhere")
    made = [v for v in ws.jobs.artifacts(name) if v.step]
    if made:
        raise PipefileError(
            f"artifact '{name}' is an output of step '{made[-1].step}'; an asset needs a name of its own",
            hint="choose another --name (pipe artifacts lists the names in use)",
        )
    hasher = Hasher(ws.root, StatCache())
    if os.path.isdir(ap):
        tree = hasher.tree(ap)
        ws.store.put_tree(tree, ap)
        kind, digest, size = TREE, tree.digest, tree.size
    else:
        d = hasher.digest(ap)
        ws.store.put_file(ap, d.digest)
        kind, digest, size = FILE, d.digest, d.size
    shown = inside.replace(os.sep, "/") if not inside.startswith("..") else ap
    existing = ws.jobs.find_version(name, kind, digest)
    if existing is not None:
        return existing, False
    return ws.jobs.add_version(name, kind, digest, size, shown, None, None, None), True
