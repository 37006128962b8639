"""An Azure ML YAML file read into plain values that remember where they were written:
mappings (`Map`, a dict) and lists (`Seq`) carry their own position and those of their
items, so every message of the importer names the file and line."""

from __future__ import annotations

import os
from typing import Any, Optional

from ...digest import hash_bytes
from ...errors import PipefileError, SourceLoc
from .. import yamlsafe
from ..reader import display_path


class Map(dict):
    """A YAML mapping: `loc` where it starts, `locs[key]` where each value is."""

    loc: SourceLoc
    locs: dict
    file: str  # absolute path of the file it was read from

    def at(self, key: str) -> SourceLoc:
        return self.locs.get(key, self.loc)


def empty() -> Map:
    """The mapping of a key that is absent or null: no items, so no positions to give."""
    m = Map()
    m.loc, m.locs, m.file = SourceLoc(""), {}, ""
    return m


class Seq(list):
    loc: SourceLoc
    locs: list
    file: str


def _loc(display: str, node) -> SourceLoc:
    m = node.start_mark
    return SourceLoc(display, m.line + 1, m.column + 1)


def _convert(node, display: str, path: str, scalar) -> Any:
    import yaml

    if isinstance(node, yaml.MappingNode):
        out = Map()
        out.loc, out.locs, out.file = _loc(display, node), {}, path
        for kn, vn in node.value:
            key = scalar(kn) if isinstance(kn, yaml.ScalarNode) else None
            if key == "<<" and isinstance(vn, yaml.MappingNode):  # a merge key: its items, where not set
                merged = _convert(vn, display, path, scalar)
                for k, v in merged.items():
                    if k not in out:
                        out[k], out.locs[k] = v, merged.locs[k]
                continue
            key = str(key)
            out[key] = _convert(vn, display, path, scalar)
            out.locs[key] = _loc(display, vn)
        return out
    if isinstance(node, yaml.SequenceNode):
        seq = Seq(_convert(n, display, path, scalar) for n in node.value)
        seq.loc, seq.locs, seq.file = _loc(display, node), [_loc(display, n) for n in node.value], path
        return seq
    return scalar(node)


def read(path: str, sources: dict, at: Optional[SourceLoc] = None) -> Any:
    """The values of the YAML file at `path` (absolute); its digest is noted in `sources`
    (absolute path -> digest: what the spec cache checks). `at`: where a YAML names the file,
    the place of an error in opening it (a missing component is found at the line naming it)."""
    display = display_path(path)
    try:
        data = yamlsafe.read_file(path)
    except FileNotFoundError:
        raise PipefileError(
            f"{display}: no such file", at, hint="check the path (relative to the YAML naming it)"
        ) from None
    except IsADirectoryError:
        raise PipefileError(f"{display}: is a directory, not a YAML file", at) from None
    except OSError as e:
        raise PipefileError(f"{display}: cannot read: {e.strerror or e}", at) from None
    except PipefileError as e:  # (yamlsafe's refusals: a folder, a FIFO ...)
        if e.loc is None and at is not None:
            e.loc = at
        raise
    sources[os.path.abspath(path)] = hash_bytes(data)
    return parse(yamlsafe.decode(data, display), path)


def parse(text: str, path: str) -> Any:
    import yaml

    display = display_path(path)
    try:
        root = yamlsafe.compose(text, display, forbid_nul=True)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        loc = SourceLoc(display, mark.line + 1, mark.column + 1) if mark else SourceLoc(display)
        line = text.splitlines()[mark.line] if mark and mark.line < len(text.splitlines()) else ""
        hint = None
        if "${{" in line and "{" in line.replace("${{", "").replace("}}", ""):  # (`{x: ${{...}}}`: YAML's braces)
            hint = "inside { } a ${{...}} must be quoted: {x: '${{parent.inputs.x}}'}, or write a key a line"
        raise PipefileError(f"invalid YAML: {' '.join(filter(None, [e.context, e.problem]))}", loc, hint) from None
    except yaml.YAMLError as e:
        raise PipefileError(f"invalid YAML: {e}", SourceLoc(display)) from None
    if root is None:
        raise PipefileError("the file is empty", SourceLoc(display))
    constructor = yaml.constructor.SafeConstructor()
    return _convert(root, display, os.path.abspath(path), constructor.construct_object)


# What azure-ai-ml (marshmallow's Boolean) reads as true and as false: `force_rerun: "false"`
# is false there, and was true here (every node ran at every run).
_TRUE = {"t", "T", "true", "True", "TRUE", "on", "On", "ON", "y", "Y", "yes", "Yes", "YES", "1"}
_FALSE = {"f", "F", "false", "False", "FALSE", "off", "Off", "OFF", "n", "N", "no", "No", "NO", "0"}


def flag(m, key: str, what: str) -> Optional[bool]:
    """The boolean `m[key]` as Azure reads it; None when it is absent or null."""
    v = m.get(key) if isinstance(m, Map) else None
    if v is None or isinstance(v, bool):
        return v
    if (isinstance(v, str) and v in _TRUE) or (type(v) in (int, float) and v == 1):
        return True
    if (isinstance(v, str) and v in _FALSE) or (type(v) in (int, float) and v == 0):
        return False
    raise PipefileError(f"{what}: {key} must be true or false, not {v!r}", m.at(key), f"{key}: true")
