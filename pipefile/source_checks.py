"""A graph's sources: the paths no step produces, as the file system has them.

Which step produces a path (the path itself, a folder around it, or outputs inside it),
and the checks only the disk can answer: a source input, code file or environment file
exists and is of the declared kind, and no step writes an environment's files. `graph.build`
runs these as it goes; `source_errors` runs them again on a graph built before (the spec
cache keeps one), so they live apart from the graph's construction.
"""

from __future__ import annotations

import bisect
import os
from typing import Mapping, Optional

from . import spec
from .bindings import IN_PATH, Input
from .errors import PipefileError
from .landing import FolderEntries, link_errors


def producer_of(path: str, producers: dict, sorted_outputs: list) -> list:
    """Producers whose output is `path`, contains it, or lies inside it."""
    hit = producers.get(path)
    if hit:
        return [hit]
    out = []
    # An ancestor folder that is an output.
    parts = path.split("/")
    for i in range(len(parts) - 1, 0, -1):
        anc = "/".join(parts[:i])
        if anc in producers:
            out.append(producers[anc])
            break
    # Outputs inside the path (a folder input that contains generated files).
    prefix = path + "/"
    i = bisect.bisect_left(sorted_outputs, prefix)
    while i < len(sorted_outputs) and sorted_outputs[i].startswith(prefix):
        out.append(producers[sorted_outputs[i]])
        i += 1
    return out


def source_errors(graph) -> list:
    """What only the file system can say about a graph built before (the spec cache keeps
    one): every source input and environment file exists and is of the declared kind.
    `build` checks the same as it goes."""
    pf = graph.pipefile
    errors: list = []
    sorted_outputs = graph._sorted_outputs
    bound = {a.path for a in graph.artifacts.values()}  # (their kind was checked by `build`)
    for env in pf.environments.values():
        check_environment_sources(env, pf, graph.producers, sorted_outputs, True, errors)
    sources = [
        (node, path, loc)
        for node in graph.nodes.values()
        for path, loc, _what in reads_of(node.inputs, node.step.code)
        if graph.is_source(path) and path not in bound
    ]
    entries = FolderEntries(pf.root, (path for _, path, _ in sources))
    for node, path, loc in sources:
        check_source(node.name, path, loc, node.inputs, pf, graph.producers, errors, entries)
    return errors + link_errors(pf, graph.producers, graph.nodes)


def pipefile_overwrites(pf, producers: dict, sorted_outputs: list) -> list:
    """Outputs that would replace a file the pipeline is read from: the Pipefile, a Pipefile a
    step uses as a component (`component: ./sub`, or the folder holding it), or a path where one
    was looked for: a run would rewrite the pipeline it is running, and the next load read
    another one."""
    errors = []
    read = [(pf.path, "")] + [(path, "read") for path, _ in pf.sources] + [(path, "looked") for path in pf.absent]
    for path, how in read:
        rel = os.path.relpath(path, pf.root).replace(os.sep, "/")
        if rel == ".." or rel.startswith("../"):
            continue  # (a std component, outside the workspace: no step writes there)
        for step, out in producer_of(rel, producers, sorted_outputs):
            if not how:
                what = "overwrite the Pipefile"
            elif how == "read":
                what = f"overwrite '{rel}', a file the pipeline is read from (a Pipefile a step uses as a component)"
            else:
                what = f"write '{rel}', where a component's Pipefile is looked for (one written there is read instead)"
            errors.append(
                PipefileError(
                    f"output '{out}' of step '{step}' would {what}",
                    pf.steps[step].outputs[out].loc,
                    "write outputs somewhere else, e.g. build/",
                )
            )
    return errors


def reads_of(inputs: Mapping[str, Input], code) -> list:
    """(path, where, what) of every path a step reads: its path inputs, then its code."""
    reads = [(i.path, i.loc, f"input '{i.name}'") for i in inputs.values() if i.kind == IN_PATH]
    return reads + [(c.path, c.loc, "code") for c in code]


def check_source(step: str, path: str, loc, inputs, pf, producers, errors: list, entries=None) -> None:
    """`entries`: a landing.FolderEntries of the workspace, for a caller that checks many sources."""
    there = entries.lexists(path) if entries is not None else os.path.lexists(os.path.join(pf.root, path))
    if not there:
        errors.append(_missing_input(step, path, loc, producers, pf))
    else:
        check_kind(step, path, inputs, pf, errors, loc)


def check_environment_sources(
    env: spec.EnvSpec, pf, producers, sorted_outputs, check_exists: bool, errors: list
) -> None:
    """An environment's files are sources: they exist, are of the right kind, and no step writes them
    (its identity is known before anything runs)."""
    sources = [
        (env.requirements, "requirements file", False),
        (env.file, "environment file", False),
        (env.build, "build folder", True),
    ]
    for path, what, folder in sources:
        if not path:
            continue
        hit = producer_of(path, producers, sorted_outputs)
        if hit:
            errors.append(
                PipefileError(
                    f"the {what} '{path}' of environment '{env.name}' is written by step '{hit[0][0]}'",
                    env.loc,
                    "environment files must be source files (an environment is known before any step runs)",
                )
            )
            continue
        if not check_exists:
            continue
        ap = os.path.join(pf.root, path)
        if not os.path.exists(ap):
            errors.append(
                PipefileError(
                    f"the {what} '{path}' of environment '{env.name}' does not exist",
                    env.loc,
                    "create it, or fix the path (relative to the Pipefile's folder)",
                )
            )
        elif os.path.isdir(ap) != folder:
            errors.append(
                PipefileError(
                    f"the {what} '{path}' of environment '{env.name}' is a {'file' if folder else 'folder'}",
                    env.loc,
                    f"give the path of a {'folder with a Dockerfile' if folder else 'file'}",
                )
            )


def check_kind(step, path, inputs, pf, errors, loc, is_dir: Optional[bool] = None):
    want = name = None
    for i in inputs.values():
        if i.kind == IN_PATH and i.path == path and i.type:
            want, name = i.type, i.name
    if want is None:
        return
    if is_dir is None:
        is_dir = os.path.isdir(os.path.join(pf.root, path))
    if want == spec.URI_FILE and is_dir:
        errors.append(
            PipefileError(
                f"step '{step}' expects a file at '{path}', but it is a folder",
                loc,
                _kind_hint(pf.steps.get(step), name, spec.URI_FOLDER, "file")
                or "declare it as type: uri_folder, or point at a file",
            )
        )
    elif want == spec.URI_FOLDER and not is_dir:
        errors.append(
            PipefileError(
                f"step '{step}' expects a folder at '{path}', but it is a file",
                loc,
                _kind_hint(pf.steps.get(step), name, spec.URI_FILE, "folder")
                or "declare it as type: uri_file, or point at a folder",
            )
        )


def _kind_hint(st, name, other: str, wanted: str) -> str:
    """For a component's input, whose type the step cannot change: what the step can do
    (bind the path to the component's input of the other kind, where it has one)."""
    if st is None or not st.component or name not in st.input_decls:
        return ""
    hint = f"input '{name}' of component '{st.component}' takes a {wanted}: point it at one"
    alt = [d.name for d in st.input_decls.values() if d.type == other and d.name not in st.inputs]
    return hint + (f", or bind this path to '{alt[0]}' ({other})" if alt else "")


def _missing_input(step, path, loc, producers, pf) -> PipefileError:
    import difflib

    candidates = list(producers) + [a.path for a in pf.assets.values()]
    # never the path itself: it is an asset's path (source data, not yet there), not a typo
    close = difflib.get_close_matches(path, [c for c in candidates if c != path], n=1, cutoff=0.6)
    asset = next((a for a in pf.assets.values() if a.path == path), None)
    hint = None
    if asset is not None and not close:
        hint = f"it is the path of asset '{asset.name}' ({asset.loc}): put the data there, or fix the asset's path"
    elif close:
        c = close[0]
        if c in producers:
            s, o = producers[c]
            hint = f"did you mean '{c}' (produced by step '{s}' at {pf.steps[s].loc})?"
        else:
            hint = f"did you mean '{c}'?"
    else:
        hint = "create it, fix the path, or add the step that produces it"
    return PipefileError(f"step '{step}' reads '{path}', which no step produces and which does not exist", loc, hint)
