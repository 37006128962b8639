"""Edits of the Pipefile from the designer (`POST /api/preview`, `POST /api/save`) and a
job cloned into a draft (`POST /api/jobs/ID/clone`).

The edits themselves are pipefile.edit's (`apply_edits`: minimal patches, comments and
layout kept); here: the base the page loaded against what is on disk (a save over a
file changed since is refused with the diff), the edited text validated as `pipe
validate` would (nothing written), and an atomic write that keeps the file's mode."""

from __future__ import annotations

import os
import threading
from typing import Optional

from ..errors import PipefileError, SourceLoc
from .errors_view import Refusal, errors_json
from .pipeline_view import file_digest, gc_paused


def _edit_module():
    try:
        from .. import edit
    except ImportError:  # the editor is another part of the package; say so, not crash
        raise Refusal(
            501,
            "this installation has no Pipefile editor (pipefile.edit)",
            "upgrade pipefile; edit the Pipefile in a text editor meanwhile",
        ) from None
    return edit


def prepare_in_background(path: str, text: str) -> None:
    """The Pipefile's text read as its first edit will read it, on a thread of its own
    while the page draws (a 10,000-step file takes a second to parse): the first preview
    then only reads back its own change. Without the editor, nothing."""
    try:
        from ..edit import prepare
    except ImportError:
        return
    threading.Thread(target=prepare, args=(text, _display(path)), name="pipe-ui-prepare", daemon=True).start()


def with_matrix_values(doc: dict) -> None:
    """Each matrix step's group node gets `matrix`: {axis: [value, ...]}, the values as the
    Pipefile writes them (not its tasks' combinations, which include:/exclude: change): what
    the properties pane edits (`set`, `matrix.AXIS`). Read as the editor reads the text (its
    first edit reuses it); left out where the text does not read so."""
    nodes = [n for n in (doc.get("graph") or {}).get("nodes") or () if n.get("kind") == "group"]
    if not nodes or "matrix" not in doc.get("text", ""):
        return
    from ..edit import parsed
    from ..load import yamlsafe

    lf = doc["text"].replace("\r\n", "\n").replace("\r", "\n").removeprefix("\ufeff")  # (as edit/apply.py keys it)
    try:
        data = parsed.data(lf, lambda t: yamlsafe.load(t, doc["file"], numbers=True))
    except Exception:  # noqa: BLE001 (an edit says what is wrong with the text, located)
        return
    steps = data.get("steps") if isinstance(data, dict) else None
    for n in nodes:
        body = steps.get(n["name"]) if isinstance(steps, dict) else None
        matrix = body.get("matrix") if isinstance(body, dict) else None
        if isinstance(matrix, dict):
            axes = {a: v for a, v in matrix.items() if a not in ("include", "exclude") and isinstance(v, list)}
            n["matrix"] = {str(a): [x for x in v if isinstance(x, (str, int, float, bool))] for a, v in axes.items()}


def _read(path: str) -> bytes:
    from .. import load as loader

    return loader.read_bytes(path)


def _decoded(path: str, data: bytes) -> str:
    """The file's text, line ends as they are; a file that is not UTF-8 is the loader's
    located error (a 400), not an exception of the server."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        from ..load import yamlsafe

        yamlsafe.decode(data, _display(path))  # raises, naming the line and the byte
        raise


def _display(path: str) -> str:
    return os.path.basename(path)


def diff_text(old: str, new: str, name: str) -> str:
    from ..edit.diff import unified_lines

    return "".join(unified_lines(old.splitlines(True), new.splitlines(True), f"a/{name}", f"b/{name}"))


def _check_base(path: str, data: bytes, base: Optional[str], base_text: Optional[str] = None) -> None:
    """A base that is not what is on disk: 409, with what changed on disk."""
    if base is None or base == file_digest(data):
        return
    raise Refusal(
        409,
        f"{_display(path)} changed on disk since the page loaded it",
        "your edits were not written: apply them to the file as it is now (the page offers to), or drop them",
        extra={
            "diff": diff_text(base_text or "", data.decode("utf-8", "replace"), _display(path))
            if base_text is not None
            else "",
            "digest": file_digest(data),
        },
    )


def _apply(path: str, text: str, operations: list):
    edit = _edit_module()
    if not isinstance(operations, list) or not all(isinstance(o, dict) for o in operations):
        raise Refusal(422, "'operations' must be a list of objects", "see the edit operations in docs/ui.md")
    if operations:
        _check_editable(path, text)
    try:
        return edit.apply_edits(text, operations, path=_display(path))
    except edit.EditError as e:
        extra = {"errors": errors_json(e), "operation": e.index}
        # (a value that is no value, NaN say, is bad input, as it is given to POST /api/run)
        status = 400 if isinstance(e, edit.BadValue) else 422
        raise Refusal(status, e.message, e.hint, extra=extra, loc=e.loc) from None


_PYTHON = "a pipeline written in Python"
_AZUREML = "an Azure ML pipeline job"
_AZUREML_JOB = "an Azure ML job"  # (a command or sweep job on its own: load/azureml/standalone.py)


def _foreign(path: str, text: str) -> Optional[str]:
    """What the pipeline file at `path` is when it is no Pipefile the editor may write: the
    editor writes a Pipefile's keys, which on an Azure ML pipeline job would be keys Azure ML
    ignores (a param set as `params:`, the edit lost), and a Python pipeline is no YAML."""
    from ..load import pymodule
    from ..load.azureml.pipeline import looks_like

    if pymodule.is_module_ref(path):
        return _PYTHON
    if not looks_like(text):
        return None
    return _AZUREML if "\njobs:" in "\n" + text else _AZUREML_JOB


def _instead(name: str, kind: str) -> str:
    how = f"pipe export {name}" if kind == _PYTHON else f"pipe import azureml {name}"
    return f"edit {name} in a text editor, or write it as a Pipefile ({how} -o Pipefile) and open that"


def read_only(path: str, text: str) -> Optional[dict]:
    """`GET /api/pipeline`'s `read_only`: why the designer does not edit this file (a Python
    pipeline, an Azure ML job), as `{"message", "hint"}`, or None. Said when the page opens
    it, so that no edit is made there first only to be refused."""
    kind = _foreign(path, text)
    if kind is None:
        return None
    name = _display(path)
    return {
        "message": f"{name} is {kind}: the designer shows and runs it, but edits Pipefiles only",
        "hint": _instead(name, kind),
    }


def _check_editable(path: str, text: str) -> None:
    """Both kinds of _foreign are shown and run by the designer, and edited in their own files."""
    kind = _foreign(path, text)
    if kind is not None:
        name = _display(path)
        raise Refusal(
            422,
            f"{name} is {kind}: the designer edits Pipefiles only"
            + (" (its edits would write keys Azure ML ignores)" if kind in (_AZUREML, _AZUREML_JOB) else ""),
            _instead(name, kind),
            extra={"operation": None},
            loc=SourceLoc(name),
        )


def validate_text(path: str, text: str, built: Optional[list] = None, composed: Optional[tuple] = None) -> list:
    """`pipe validate`'s errors of `text` as the Pipefile at `path` (nothing written).
    `built`: a list the graph is appended to when it could be built (as `load_graph`
    builds it: a caller may keep it for that text). `composed`: the edit's read-back of
    the text (`Edited.composed`), so that its YAML is not composed a second time."""
    from .. import artifacts, graph
    from .. import load as loader

    errors: list = []
    try:
        pf, found = loader.load_lenient(path, text.encode("utf-8"), composed=composed)
    except PipefileError as e:
        return errors_json(e)
    errors += found
    values = loader.resolve_params(pf, {}, errors)
    bound = artifacts.resolve_artifacts(pf, errors)
    if errors:
        errors += graph.check_partial(pf, values, bound)
    else:
        try:
            g = graph.build(pf, values, artifacts=bound)
        except PipefileError as e:
            errors.append(e)
        else:
            if built is not None:
                built.append(g)
    return [x for e in errors for x in errors_json(e)]


def preview(path: str, base: Optional[str], operations: list, base_text: Optional[str] = None, graphs=None) -> dict:
    """`graphs`: a pipeline_view.GraphCache offered the edited text's graph (a save of
    this edit then reloads without loading the file again)."""
    with gc_paused():
        return _preview(path, base, operations, base_text, graphs)


def _preview(path: str, base: Optional[str], operations: list, base_text: Optional[str], graphs) -> dict:
    data = _read(path)
    _check_base(path, data, base, base_text)
    text = _decoded(path, data)
    edited = _apply(path, text, operations)
    digest = file_digest(edited.text.encode("utf-8"))
    built: list = []
    if graphs is not None and graphs.valid(digest):
        # this very text was validated (the page's check of a draft, then the diff before
        # its save), and nothing it reads changed since: 10,000 steps are not read again
        errors: list = []
    else:
        errors = validate_text(path, edited.text, built, edited.composed)
    if graphs is not None and built and not errors:
        graphs.offer(digest, built[0])
    if edited.changed:
        # The page's next change is applied to this text: its editor tree read now, between
        # the user's changes, rather than by that next preview (0.6 s of a 2,000-step file's).
        prepare_in_background(path, edited.text)
    return {
        "diff": edited.diff,
        "text": edited.text,
        "digest": digest,
        "changed": bool(edited.changed),
        "errors": errors,
    }


# One save at a time: two saves from one base must not both pass the base check and the
# second silently drop the first's edit (the second gets the 409 instead).
_SAVING = threading.Lock()


def save(path: str, base: Optional[str], operations: list, base_text: Optional[str] = None) -> dict:
    """Writes the edited Pipefile (atomically, its mode kept); a no-op writes nothing."""
    with _SAVING:
        data = _read(path)
        _check_base(path, data, base, base_text)
        text = _decoded(path, data)
        edited = _apply(path, text, operations)
        if not edited.changed or edited.text == text:
            return {"digest": file_digest(data), "diff": "", "changed": False}
        new = edited.text.encode("utf-8")
        # (an editor's save while the edit was applied: checked again just before the rename)
        try:
            write_atomic(path, new, unchanged=lambda: _check_base(path, _read(path), file_digest(data), text))
        except OSError as e:  # (a read-only file system, a folder it may not write, a full disk)
            where = os.path.dirname(os.path.realpath(path))
            raise PipefileError(
                f"{_display(path)} cannot be written: {e.strerror or e} (nothing was changed)",
                hint=f"make {where} writable by this user (a temporary file is written there, then renamed)",
            ) from None
        return {"digest": file_digest(new), "diff": edited.diff, "changed": True}


def write_atomic(path: str, data: bytes, unchanged=None) -> None:
    """A reader sees the old file or the new, whole (wholefile.replace_whole). A Pipefile that
    is a symbolic link is written through it (the file it names is replaced, the link stays).
    `unchanged`: called just before the rename, to refuse it."""
    from ..wholefile import replace_whole

    replace_whole(os.path.realpath(path), data, before_rename=unchanged)


def clone_draft(ws, job, pipefile: str) -> dict:
    """Job `job` as a draft: the Pipefile it ran (its snapshot), with the job's params as
    the params' defaults and its `${{artifacts.NAME}}` bindings pinned to the versions it
    read (as `pipe clone` writes it); `operations`: the set_param edits that give the
    current Pipefile the job's params. Nothing is written."""
    from .. import clone, clone_text, spec
    from .. import load as loader
    from ..digest import canonical_json

    if not job.pipefile_digest or not ws.store.has(job.pipefile_digest):
        raise Refusal(
            410,
            f"job {job.id}'s Pipefile snapshot is no longer in the store",
            "it was deleted (pipe gc); that job cannot be cloned",
        )
    _check_clonable(job, pipefile)
    text = ws.store.read(job.pipefile_digest).decode("utf-8", "replace")
    where = os.path.join(ws.root, job.pipefile)
    warnings: list = []
    pf, _errors = loader.load_lenient(where, text.encode("utf-8"))

    def differs(p, value) -> bool:
        return p.default is spec.MISSING or canonical_json(p.default) != canonical_json(value)

    changed = {n: job.params[n] for n, p in pf.params.items() if n in job.params and differs(p, job.params[n])}
    pins = clone.artifact_pins(ws, job, pf, warnings)
    kind = _foreign(where, text)
    if kind is not None and (changed or pins):  # (no Pipefile's params: mapping to write them in)
        warnings.append(f"{job.pipefile} is {kind}: the draft's text is the job's as it ran, its params not written in")
        changed, pins = {}, {}
    if changed:
        text = clone_text.set_param_defaults(text, changed)
    if pins:
        text = clone_text.pin_artifacts(text, pins)
    operations = []
    try:
        now, _errors = loader.load_lenient(pipefile)
        current = now.params
    except PipefileError:
        current = {}
    for n, value in sorted(job.params.items()):
        p = current.get(n)
        if p is None or differs(p, value):
            operations.append({"op": "set_param", "name": n, "value": value})
    return {
        "draft": {"text": text, "digest": file_digest(text.encode("utf-8")), "operations": operations},
        "lineage": {
            "cloned_from": job.id,
            "uid": job.uid,
            "experiment": job.experiment,
            "pipefile": job.pipefile,
            "pipefile_digest": job.pipefile_digest,
            "params": dict(job.params),
            "params_set": sorted(changed),
            "pinned": [f"{s}.{i}={n}:{v}" for (s, i), (n, v) in sorted(pins.items())],
            "same_as_current": job.pipefile_digest == file_digest_of(pipefile),
            "warnings": warnings,
        },
    }


def _check_clonable(job, pipefile: str) -> None:
    """A clone is a draft of the open pipeline (its params set to the job's): refused, with
    how to run the job's params instead, when the editor may not write that file."""
    try:
        current = _decoded(pipefile, _read(pipefile))
    except (PipefileError, UnicodeDecodeError):
        return  # (the draft's preview says what is wrong with the file)
    kind = _foreign(pipefile, current)
    if kind is None:
        return
    import shlex

    from .runs import run_argv

    name = _display(pipefile)
    again = "pipe " + shlex.join(run_argv(name, (), dict(sorted(job.params.items()))))
    raise Refusal(
        409,
        f"job {job.id} cannot be cloned to a draft: {name} is {kind}, which the designer does not edit",
        f"run with the job's params again (`{again}`), or {_instead(name, kind)}",
        loc=SourceLoc(name),
    )


def file_digest_of(path: str) -> Optional[str]:
    """The Pipefile's content digest as the job database keeps it (the store's)."""
    from ..digest import Hasher

    path = os.path.abspath(path)
    try:
        d = Hasher(os.path.dirname(path)).digest(os.path.basename(path))
    except (OSError, PipefileError):
        return None
    return d.digest if d is not None else None
