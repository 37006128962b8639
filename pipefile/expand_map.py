"""A `foreach:` step's items (expand.py makes them tasks): the entries of a folder (a path,
an asset, another step's folder output), batches of them, or a list param's values; the
placeholder node of a map whose folder a step has not made yet; the checks that a list
param is only mapped over. Listing a folder is the only outside look (one scandir: names
and kinds, no stat)."""

from __future__ import annotations

import dataclasses
import fnmatch
import os
import shlex
from typing import Optional

from . import names, spec, template
from .errors import PipefileError
from .filenames import file_name
from .spec import BIND_ASSET, BIND_PARAM, BIND_PATH, BIND_STEP_OUTPUT

# Where the session links a batch's items (below the workspace's .pipe/): the folder a
# task's command gets for its input.
BATCH_ROOT = ".pipe/batches"


def batch_folder(step: str, label: str) -> str:
    return f"{BATCH_ROOT}/{file_name(step)}/{label}"  # (bounded: a long step name)


def task_read(pf: spec.Pipefile, st: spec.Step) -> bool:
    """Whether a step reads one task of `st` by name (then each of its tasks is a node)."""
    prefix = st.name + "["
    return any(
        b.kind == BIND_STEP_OUTPUT and b.ref.startswith(prefix)
        for other in pf.steps.values()
        for b in other.inputs.values()
    )


VALUE_ITEM = "value"  # the kind of a foreach item that is a list param's value
# The most tasks one map may make (docs/pipefile.md). Planning holds ~5 KB a task (first
# plan, measured: 40,000 items, 236 MB), so this is ~2.5 GB; benchmarks/foreach.py maps
# 100,000. Without it a folder of millions was listed and planned until memory ran out.
# (Above a matrix's or sweep's 100,000, load/task_limits.py: a map's unchanged items are
# settled by a stat on a no-op, not planned, so a folder that big stays quick to rerun.)
MAX_TASKS = 500_000
MAX_TASKS_ENV = "PIPE_FOREACH_MAX_TASKS"


def max_tasks() -> int:
    """MAX_TASKS, or PIPE_FOREACH_MAX_TASKS (a bigger machine may plan more); read when a map
    is listed, so a bad value is a usage error naming it."""
    text = os.environ.get(MAX_TASKS_ENV, "").strip()
    if not text:
        return MAX_TASKS
    if not (text.isascii() and text.isdigit() and 0 < int(text) < 10**12):
        raise PipefileError(
            f"{MAX_TASKS_ENV}={text[:40]!r} is not a number of tasks",
            hint=f"set it to a whole number above 0 (default {MAX_TASKS}), or unset it",
        )
    return int(text)


def _too_many(st: spec.Step, count: int, what: str, limit: int, values: bool = False) -> PipefileError:
    per = st.expand.batch_size or 1
    tasks = -(-count // per)
    batch = f" in batches of {per}" if per > 1 else ""
    fix = (
        "split the list into several list params (a step mapping each)"
        if values
        else "split the items into several folders (a step for each), or give batch_size: N so that one task "
        f"takes N items (batch_size: {-(-count // limit)} makes {limit:,} tasks or fewer)"
    )
    return PipefileError(
        f"foreach of step '{st.name}' maps over {count:,} items{batch} ({what}): {tasks:,} tasks, more than "
        f"the {limit:,} a map may make",
        st.expand.loc,
        f"{fix}; or raise {MAX_TASKS_ENV}",
    )


def foreach_items(pf: spec.Pipefile, st: spec.Step, check_exists: bool, errors: list, params) -> Optional[list]:
    """[(workspace path, uri_file or uri_folder)] of the entries of the mapped folder, by
    name; or [(value, VALUE_ITEM)] of a list param's values, in order."""
    e = st.expand
    b = st.inputs[e.over]
    if b.kind == BIND_PARAM:
        return _list_items(pf, st, check_exists, errors, params)
    if b.kind == BIND_ASSET:
        folder = pf.assets[b.ref].path
    elif b.kind == BIND_PATH:
        folder = b.ref
    elif producer(pf, st):
        folder = pf.steps[b.ref].outputs[b.output].path
        if not os.path.isdir(os.path.join(pf.root, folder)):
            return None  # (not an error: the step that makes it runs first; see `_placeholder`)
    else:
        errors.append(
            PipefileError(
                f"foreach of step '{st.name}' maps over {b.describe()}, which is not a folder it can list",
                e.loc,
                "map over a folder: a path, an asset, or a folder output of another step",
            )
        )
        return None
    ap = os.path.join(pf.root, folder)
    # (a map over 100,000 items pays every step of this: no match where all match)
    match = (lambda n: True) if e.glob == "*" else (lambda n: fnmatch.fnmatch(n, e.glob))
    cap = max_tasks() * (e.batch_size or 1)
    count = 0
    found = []
    try:
        with os.scandir(ap) as it:
            for d in it:
                if d.name[0] != "." and match(d.name):
                    count += 1  # (counted to the end, to say how many; kept only up to the cap)
                    if count <= cap:
                        found.append((d.name, d.is_dir()))
        entries = sorted(found)
    except NotADirectoryError:
        errors.append(
            PipefileError(
                f"foreach of step '{st.name}' maps over '{folder}', which is a file",
                b.loc,
                "foreach maps over the items of a folder: bind the input to a folder",
            )
        )
        return None
    except FileNotFoundError:
        if check_exists:
            errors.append(
                PipefileError(
                    f"foreach of step '{st.name}' maps over '{folder}', which does not exist",
                    b.loc,
                    "create the folder, or fix the path",
                )
            )
        return None if check_exists else []
    if count > cap:
        errors.append(
            _too_many(
                st,
                count,
                f"the entries of '{folder}'" + ("" if e.glob == "*" else f" matching {e.glob}"),
                cap // (e.batch_size or 1),
            )
        )
        return None
    bad = names.first_bad([n for n, _ in entries])  # (each becomes a path in a key, a label: UTF-8)
    if bad is not None:
        errors.append(names.not_utf8(f"{folder}/{bad}", f"foreach of step '{st.name}' maps over an item:", b.loc))
        return None
    # (no entries: an empty map, see `empty_map`)
    return [(f"{folder}/{n}", spec.URI_FOLDER if is_dir else spec.URI_FILE) for n, is_dir in entries]


def _list_items(pf: spec.Pipefile, st: spec.Step, check_exists: bool, errors: list, params) -> Optional[list]:
    e = st.expand
    name = st.inputs[e.over].ref
    p = pf.params.get(name)
    if p is None or p.type != spec.LIST:
        what = "not declared" if p is None else ("an " if p.type[0] in "aeiou" else "a ") + p.type
        errors.append(
            PipefileError(
                f"foreach of step '{st.name}' maps over param '{name}', which is {what}, not a list",
                e.loc,
                f"declare it a list: params: {{{name}: [a, b, c]}} (or {{type: list, default: [...]}})",
            )
        )
        return None
    if e.batch_size or e.glob != "*":
        errors.append(
            PipefileError(
                f"foreach of step '{st.name}' maps over a list param: glob and batch_size are for folders",
                e.loc,
                "remove them (one task per value)",
            )
        )
        return None
    values = params.get(name, p.default) or ()
    limit = max_tasks()
    if len(values) > limit:
        errors.append(_too_many(st, len(values), f"the values of list param '{name}'", limit, values=True))
        return None
    return [(v, VALUE_ITEM) for v in values]


def list_param_errors(pf: spec.Pipefile) -> list:
    """A list param is only mapped over: read anywhere else (a command, an input of a step
    without a foreach over it) it would be written as Python's spelling of a list."""
    lists = {n for n, p in pf.params.items() if p.type == spec.LIST}
    if not lists:
        return []
    out = []
    for st in pf.steps.values():
        over = st.expand.over if st.expand is not None and st.expand.kind == spec.EXPAND_FOREACH else None
        for iname, b in st.inputs.items():
            if b.kind == BIND_PARAM and b.ref in lists and iname != over:
                out.append(
                    PipefileError(
                        f"input '{iname}' of step '{st.name}' reads list param '{b.ref}', "
                        "which only a foreach maps over",
                        b.loc,
                        f"map over it: foreach: ${{{{inputs.{iname}}}}} (one task per value)",
                    )
                )
        texts = [st.command] if isinstance(st.command, str) else list(st.command)
        for t in texts:
            for ref, _ in template.refs(template.parse_cached(t)):
                if ref.scope == "params" and ref.name in lists:
                    out.append(
                        PipefileError(
                            f"the command of step '{st.name}' uses list param '{ref.name}', which only a foreach "
                            "maps over",
                            st.command_loc or st.loc,
                            f"bind it to an input and map over it: inputs: {{x: ${{{{params.{ref.name}}}}}}}, "
                            "foreach: ${{inputs.x}}",
                        )
                    )
    return out


def producer(pf: spec.Pipefile, st: spec.Step) -> str:
    """The step whose output a foreach maps over ("" for a source folder)."""
    b = st.inputs[st.expand.over]
    if b.kind == BIND_STEP_OUTPUT and b.ref in pf.steps and b.output in pf.steps[b.ref].outputs:
        return b.ref
    return ""


def empty_map(st: spec.Step) -> spec.Step:
    """A map with no items (an empty folder, a glob matching nothing, an empty list), as one
    node named as the step: it makes each gathered folder empty, so what reads them runs, on
    no entries, as Azure's parallel job over no mini-batches ends with an empty output. It
    reads nothing of the step (no environment, code or source folder: a file the glob does
    not match changes nothing) but the folder another step makes, to run after that step."""
    from .outpaths import helper_task

    b = st.inputs[st.expand.over]
    inputs = {st.expand.over: b} if b.kind == BIND_STEP_OUTPUT else {}
    outputs = {n: dataclasses.replace(o, type=spec.URI_FOLDER, artifact="") for n, o in st.outputs.items()}
    argv = ["mkdir", "-p"] + ["${{outputs.%s}}" % n for n in outputs]
    return helper_task(st, st.name, argv, inputs, outputs)


def placeholder(st: spec.Step, after: str) -> spec.Step:
    """A map whose folder another step has not made yet, as one node: it reads that folder
    and writes the gathered ones, so `pipe status` shows it (and what reads it) waiting. The
    session runs the maker first and builds the graph again with the items; this command
    runs only when the maker left no folder."""
    b = st.inputs[st.expand.over]
    said = f"foreach of step '{st.name}': '{after}' ran but left no folder '{b.output}' to map over"
    return dataclasses.replace(
        st,
        command=f"echo {shlex.quote(said)} >&2; exit 1",
        outputs={n: dataclasses.replace(o, type=None, artifact="") for n, o in st.outputs.items()},
        metrics=(),
        expand=None,
    )
