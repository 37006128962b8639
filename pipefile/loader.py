"""Read a Pipefile: YAML -> `spec.Pipefile`, with file:line:column on every error.

The loader checks everything that can be checked from the file alone: its
shape (no unknown keys), names and references (did-you-mean), types of what is
connected to what, and command templates. It collects every error it finds
and raises them together. Questions about the file system and the graph as a
whole (paths that exist, one producer per path, cycles) belong to `graph`.
"""

from __future__ import annotations

import gc
import math
import os
import posixpath
import re
from typing import Any, Iterable, Mapping, Optional

from . import spec, template, yamlsafe
from .errors import PipefileError, SourceLoc, did_you_mean, raise_all
from .spec import (
    BIND_ARTIFACT,
    BIND_ASSET,
    BIND_NONE,
    BIND_PARAM,
    BIND_PATH,
    BIND_STEP_OUTPUT,
    BIND_VALUE,
    MISSING,
    Binding,
    CodeRef,
    Component,
    EnvSpec,
    InputDecl,
    Mount,
    OutputDecl,
    Param,
    Resources,
    Step,
    StepOutput,
)

DEFAULT_NAMES = ("Pipefile", "Pipefile.yaml", "Pipefile.yml")
STATE_DIR = ".pipe"

_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
_WHOLE_EXPR = re.compile(r"^\s*\$\{\{(.*)\}\}\s*$", re.S)
_SIZE_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([KMGTP]?i?B?)?\s*$", re.I)
_SIZE_UNITS = {"": 1, "B": 1, "K": 10**3, "KB": 10**3, "M": 10**6, "MB": 10**6, "G": 10**9, "GB": 10**9,
               "T": 10**12, "TB": 10**12, "KI": 2**10, "KIB": 2**10, "MI": 2**20, "MIB": 2**20,
               "GI": 2**30, "GIB": 2**30, "TI": 2**40, "TIB": 2**40}

TOP_KEYS = ("version", "name", "description", "params", "assets", "environments", "components", "steps")
PARAM_KEYS = ("type", "default", "description")
ASSET_KEYS = ("type", "path", "description", "name", "input")
COMPONENT_KEYS = ("description", "inputs", "outputs", "code", "command", "resources", "environment", "key_includes")
INPUT_DECL_KEYS = ("type", "default", "optional", "description")
OUTPUT_DECL_KEYS = ("type", "description")
STEP_KEYS = ("description", "component", "command", "inputs", "outputs", "code", "resources", "metrics", "environment",
             "key_includes")
BINDING_KEYS = ("type", "path", "value")
STEP_OUTPUT_KEYS = ("type", "path", "description", "name", "output")
_ARTIFACT_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
RESOURCE_KEYS = ("cpus", "memory", "gpus")
ENVIRONMENT_KEYS = ("type", "description", "env", "python", "requirements", "packages", "file", "image", "build",
                    "dockerfile", "network", "mounts")
# The keys each environment type takes (besides type and description).
ENVIRONMENT_TYPE_KEYS = {
    spec.ENV_LOCAL: ("env",),
    spec.ENV_VENV: ("env", "python", "requirements", "packages"),
    spec.ENV_CONDA: ("env", "file"),
    spec.ENV_DOCKER: ("env", "image", "build", "dockerfile", "network", "mounts"),
}
DOCKER_NETWORKS = ("none", "bridge", "host")
_ENV_VAR_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Set by pipe for every step; an environment cannot override them.
RESERVED_ENV_VARS = ("PIPE_STEP", "PIPE_RUN_ID", "CUDA_VISIBLE_DEVICES")

# PyYAML is imported when a Pipefile is first parsed (`_import_yaml`), not with this module:
# a run whose Pipefile is unchanged reads the validated spec from .pipe/cache and never
# parses, and the import is a measurable part of a no-op's start-up.
yaml: Any = None
_Constructor: Any = None


def _import_yaml() -> None:
    global yaml, _Constructor
    if yaml is not None:
        return
    import yaml as module

    class Constructor(module.constructor.SafeConstructor):
        """Plain YAML values; dates and times stay the strings they were written as."""

    Constructor.add_constructor("tag:yaml.org,2002:timestamp", Constructor.construct_yaml_str)
    _Constructor = Constructor
    yaml = module  # last: another thread that sees it set finds the rest set too


def valid_artifact_name(name: str) -> bool:
    """What `name:` accepts for an output or asset (and `pipe asset add --name`)."""
    return bool(_ARTIFACT_NAME_RE.fullmatch(name))


def find_pipefile(start: str) -> str:
    for name in DEFAULT_NAMES:
        path = os.path.join(start, name)
        if os.path.isfile(path):
            return path
    for name in DEFAULT_NAMES:
        path = os.path.join(start, name)
        if os.path.lexists(path):  # a folder, a FIFO, a device or a broken link by that name: say so
            return path  # reading it says what it is
    raise PipefileError(
        f"no Pipefile in {os.path.abspath(start)}",
        hint="create one (see Pipefile.example and docs/pipefile.md), or point at it with -f FILE",
    )


def load(path: str) -> spec.Pipefile:
    """Load and validate a Pipefile; raises PipefileError(s)."""
    pf, errors = load_lenient(path)
    raise_all(errors)
    return pf


def load_lenient(path: str, data: Optional[bytes] = None) -> tuple:
    """(the valid part of the Pipefile, every error found), so that later checks can
    still run on what is valid and all problems are reported together. Raises only
    when nothing usable could be read (no file, broken YAML).

    `data`: the file's bytes, read already by the caller (what it caches must be what
    was parsed, even if the file is saved again meanwhile)."""
    path = os.path.abspath(path)
    if data is None:
        data = read_bytes(path)
    text = yamlsafe.decode(data, _display_path(path))
    # The YAML node tree of a large Pipefile is hundreds of thousands of objects; the
    # cyclic GC would walk them over and over while they are built (quadratic time).
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _Loader(text, path).load()
    finally:
        if enabled:
            gc.enable()


def read_bytes(path: str) -> bytes:
    """The Pipefile's bytes: a regular file only, of bounded size (not /dev/zero, a FIFO)."""
    path = os.path.abspath(path)
    try:
        return yamlsafe.read_file(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise PipefileError(f"{path}: is a link to {os.readlink(path)}, which does not exist",
                                hint="point the link at the Pipefile, or replace it with the file") from None
        raise PipefileError(f"{path}: no such file", hint="check the -f argument") from None
    except IsADirectoryError:
        raise PipefileError(f"{path}: is a directory, not a regular file", hint="give the Pipefile's path") from None
    except OSError as e:
        raise PipefileError(f"{path}: cannot read: {e.strerror or e}", hint="check the file's permissions") from None


def loads(text: str, path: str) -> spec.Pipefile:
    pf, errors = _Loader(text, path).load()
    raise_all(errors)
    return pf


def normalize_path(raw: str) -> tuple[Optional[str], Optional[str]]:
    """(normalised workspace-relative path, None) or (None, what is wrong)."""
    if not isinstance(raw, str) or not raw.strip():
        return None, "a path must be a non-empty string"
    p = raw.strip().replace("\\", "/")
    if p.startswith("/") or re.match(r"^[A-Za-z]:/", p):
        return None, f"'{raw}' is an absolute path; paths are relative to the Pipefile's folder"
    p = posixpath.normpath(p)
    if p == "." :
        return None, "the workspace root itself cannot be used here"
    if p == ".." or p.startswith("../"):
        return None, f"'{raw}' is outside the workspace (the Pipefile's folder)"
    if p == STATE_DIR or p.startswith(STATE_DIR + "/"):
        return None, f"'{raw}' is inside {STATE_DIR}/, which belongs to pipe"
    return p, None


def path_hint(raw: str) -> str:
    base = posixpath.basename(str(raw).rstrip("/")) or "out"
    if str(raw).strip().startswith(STATE_DIR):
        return f"choose a path outside {STATE_DIR}/, e.g. build/{base}"
    return f"use a path inside the workspace, relative to the Pipefile's folder, e.g. build/{base}"


def parse_size(value: Any) -> Optional[int]:
    """Bytes from 4GB, 512MiB, 1e9 or an int; None when it is not a size."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value) if value >= 0 else None
    if not isinstance(value, str):
        return None
    m = _SIZE_RE.match(value)
    if not m:
        return None
    unit = (m.group(2) or "").upper()
    if unit not in _SIZE_UNITS:
        return None
    return int(float(m.group(1)) * _SIZE_UNITS[unit])


class _Loader:
    def __init__(self, text: str, path: str):
        _import_yaml()
        self.text = text
        self.path = path
        self.display = _display_path(path)
        self.errors: list[PipefileError] = []
        self.declared_outputs: dict = {}  # step name -> output names written (None: unknown)
        self._construct = _Constructor()

    # --- small helpers ------------------------------------------------------------------
    def loc(self, node: yaml.Node, offset: int = 0) -> SourceLoc:
        mark = node.start_mark
        line, col = mark.line + 1, mark.column + 1
        if offset and isinstance(node, yaml.ScalarNode):
            if node.style in ("|", ">"):
                value = node.value
                line += 1 + value.count("\n", 0, offset)
                col = 0
            elif "\n" not in self.text[mark.index : node.end_mark.index]:
                col += offset + (1 if node.style in ("'", '"') else 0)
        return SourceLoc(self.display, line, col)

    def error(self, node: Optional[yaml.Node], message: str, hint: str | None = None, offset: int = 0):
        loc = self.loc(node, offset) if node is not None else SourceLoc(self.display)
        self.errors.append(PipefileError(message, loc, hint))

    def value(self, node: yaml.Node) -> Any:
        return self._construct.construct_object(node, deep=True)

    def mapping(self, node: yaml.Node, what: str, allowed: Iterable[str] | None = None):
        """[(key, key_node, value_node)] of a mapping; reports bad shape, duplicates, unknown keys."""
        if not isinstance(node, yaml.MappingNode):
            if isinstance(node, yaml.ScalarNode) and node.value == "" and node.tag.endswith("null"):
                return []
            self.error(node, f"{what} must be a mapping (key: value), not {_kind(node)}")
            return []
        explicit = sum(1 for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge")
        try:
            self._construct.flatten_mapping(node)  # YAML merge keys: <<: *defaults
        except yaml.constructor.ConstructorError as e:
            self.error(node, f"invalid merge key in {what}: {e.problem}")
            return []
        if len(node.value) != explicit:
            # The pairs merged in come first: a key written here, or a later merged one, overrides them.
            # Kept on the node: a node reached through another alias is flattened already.
            node.merged_pairs = len(node.value) - explicit
        merged = getattr(node, "merged_pairs", 0)
        last = {str(k.value): i for i, (k, _) in enumerate(node.value[:merged]) if isinstance(k, yaml.ScalarNode)}
        for k, _ in node.value[merged:]:
            if isinstance(k, yaml.ScalarNode):
                last[str(k.value)] = merged
        seen: dict[str, yaml.Node] = {}
        out = []
        allowed = tuple(allowed) if allowed is not None else None
        for i, (knode, vnode) in enumerate(node.value):
            if not isinstance(knode, yaml.ScalarNode):
                self.error(knode, f"keys of {what} must be plain names")
                continue
            key = str(knode.value)
            if i < merged and last[key] != i:
                continue  # merged in, and overridden
            if key in seen:
                self.error(knode, f"'{key}' appears twice in {what} (first at line {seen[key].start_mark.line + 1})",
                           "remove or rename one of them")
                continue
            seen[key] = knode
            if allowed is not None and key not in allowed:
                self.error(knode, f"unknown key '{key}' in {what}", did_you_mean(key, allowed, "key"))
                continue
            out.append((key, knode, vnode))
        return out

    def name_ok(self, key: str, knode: yaml.Node, what: str) -> bool:
        if _NAME_RE.fullmatch(key):
            return True
        self.error(knode, f"'{key}' is not a valid {what} name",
                   "use ASCII letters, digits, '_' and '-', starting with a letter or '_'")
        return False

    def string(self, node: yaml.Node, what: str) -> Optional[str]:
        v = self.value(node) if isinstance(node, yaml.ScalarNode) else None
        if not isinstance(v, str):
            self.error(node, f"{what} must be a string, not {_kind(node)}")
            return None
        return v

    def path_value(self, node: yaml.Node, what: str) -> Optional[str]:
        raw = self.string(node, what)
        if raw is None:
            return None
        if "${{" in raw:
            self.error(node, f"{what}: expressions are not evaluated in paths",
                       "write the path itself, e.g. data/raw.csv")
            return None
        p, problem = normalize_path(raw)
        if problem:
            self.error(node, f"{what}: {problem}", path_hint(raw))
        return p

    def type_name(self, node: yaml.Node, allowed: tuple, what: str) -> Optional[str]:
        t = self.string(node, f"the type of {what}")
        if t is None:
            return None
        if t not in allowed:
            self.error(node, f"unknown type '{t}' for {what}", did_you_mean(t, allowed, "type"))
            return None
        return t

    # --- top level ----------------------------------------------------------------------
    def load(self) -> tuple:
        try:
            root = yamlsafe.compose(self.text, self.display, forbid_nul=True)
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            if e.context_mark is not None and "end of stream" in (e.problem or ""):
                mark = e.context_mark  # an unclosed quote or bracket: point where it opens
            loc = SourceLoc(self.display, mark.line + 1, mark.column + 1) if mark else SourceLoc(self.display)
            problem = " ".join(filter(None, [e.context, e.problem]))
            hint = None
            if "${{" in self.text and "flow" in problem:
                hint = "inside a flow mapping {...}, quote expressions: {raw: \"${{assets.raw}}\"}"
            raise PipefileError(f"invalid YAML: {problem}", loc, hint) from None
        except yaml.YAMLError as e:
            raise PipefileError(f"invalid YAML: {e}", SourceLoc(self.display)) from None
        if root is None:
            raise PipefileError("the Pipefile is empty", SourceLoc(self.display),
                                "start from Pipefile.example, or see docs/pipefile.md")
        items = {k: (kn, vn) for k, kn, vn in self.mapping(root, "the Pipefile", TOP_KEYS)}
        if self.errors and not items:
            raise_all(self.errors)

        version = spec.PIPEFILE_VERSION
        if "version" in items:
            kn, vn = items["version"]
            v = self.value(vn)
            if isinstance(v, bool) or v != spec.PIPEFILE_VERSION:
                self.error(vn, f"unsupported Pipefile version {v!r}", f"this pipe reads version: {spec.PIPEFILE_VERSION}")
        name = self.string(items["name"][1], "name") if "name" in items else ""
        description = self.string(items["description"][1], "description") if "description" in items else ""

        params = self.load_params(items["params"][1]) if "params" in items else {}
        assets = self.load_assets(items["assets"][1]) if "assets" in items else {}
        self.environments = self.load_environments(items["environments"][1]) if "environments" in items else {}
        components = self.load_components(items["components"][1], params) if "components" in items else {}
        self.params, self.assets, self.components = params, assets, components
        if "steps" not in items:
            self.error(root, "the Pipefile has no 'steps'", "add a steps: mapping with at least one step")
            raw_steps = []
        else:
            raw_steps = self.mapping(items["steps"][1], "steps")
            if not raw_steps and not self.errors:
                self.error(items["steps"][1], "'steps' is empty", "add at least one step")
        steps = {}
        for key, knode, vnode in raw_steps:
            if self.name_ok(key, knode, "step"):
                st = self.load_step(key, knode, vnode)
                if st is not None:
                    steps[key] = st
        self.check_step_references(steps)
        self.check_artifact_names(steps, assets)
        self.check_endpoint_names(steps, assets, params)
        return spec.Pipefile(
            path=self.path,
            root=os.path.dirname(self.path),
            version=version,
            name=name or "",
            description=description or "",
            params=params,
            assets=assets,
            components=components,
            steps=steps,
            environments=self.environments,
        ), self.errors

    def check_endpoint_names(self, steps, assets, params) -> None:
        """Endpoint inputs (params and `input: true` assets) and outputs (`output: true`)
        are addressed by name in requests: each name must mean one thing."""
        seen: dict = {}
        for a in assets.values():
            if a.input and a.name in params:
                self.errors.append(PipefileError(
                    f"asset '{a.name}' is an endpoint input, and so is param '{a.name}': an invocation could not "
                    f"tell them apart", a.loc, "rename the asset or the param"))
        for st in steps.values():
            for o in st.outputs.values():
                if not o.output:
                    continue
                if o.name in seen:
                    other = seen[o.name]
                    self.errors.append(PipefileError(
                        f"output '{o.name}' of step '{st.name}' is an endpoint output, and so is output '{o.name}' "
                        f"of step '{other.name}' ({other.loc}): endpoint outputs need distinct names", o.loc,
                        "rename one of the two outputs"))
                    continue
                seen[o.name] = st

    # --- params and assets --------------------------------------------------------------
    def load_params(self, node) -> dict:
        out = {}
        for key, knode, vnode in self.mapping(node, "params"):
            if not self.name_ok(key, knode, "param"):
                continue
            loc = self.loc(knode)
            if isinstance(vnode, yaml.MappingNode):
                fields = {k: vn for k, _, vn in self.mapping(vnode, f"param '{key}'", PARAM_KEYS)}
                default = self.value(fields["default"]) if "default" in fields else MISSING
                if "type" in fields:
                    typ = self.type_name(fields["type"], spec.VALUE_TYPES, f"param '{key}'")
                elif default is not MISSING and default is not None:
                    typ = spec.type_of_value(default)
                else:
                    self.error(vnode, f"param '{key}' needs a type or a default", "e.g. {type: string}")
                    continue
                if typ is None:
                    continue
                default = self.coerce_default(default, typ, fields.get("default"), f"param '{key}'")
                desc = self.value(fields["description"]) if "description" in fields else ""
                out[key] = Param(key, typ, default, str(desc or ""), loc)
            elif isinstance(vnode, yaml.ScalarNode):
                v = self.value(vnode)
                if v is None:
                    self.error(vnode, f"param '{key}' has no value", "give a default (lr: 0.01) or a type ({type: number})")
                    continue
                if not isinstance(v, (bool, int, float, str)):
                    self.error(vnode, f"param '{key}' must be a number, a string or a boolean, not {v!r}")
                    continue
                out[key] = Param(key, spec.type_of_value(v), v, "", loc)
            else:
                self.error(vnode, f"param '{key}' must be a value or a mapping, not a list")
        return out

    def coerce_default(self, default, typ, node, what):
        if default is MISSING or default is None:
            return MISSING
        if typ == spec.NUMBER and spec.value_fits(default, spec.NUMBER):
            return float(default)
        if not spec.value_fits(default, typ):
            self.error(node, f"default of {what} is {default!r}, which is not a {typ}")
            return MISSING
        return default

    def load_assets(self, node) -> dict:
        out = {}
        for key, knode, vnode in self.mapping(node, "assets"):
            if not self.name_ok(key, knode, "asset"):
                continue
            if isinstance(vnode, yaml.ScalarNode):
                p = self.path_value(vnode, f"asset '{key}'")
                if p:
                    out[key] = spec.Asset(key, p, None, "", self.loc(knode))
                continue
            fields = {k: vn for k, _, vn in self.mapping(vnode, f"asset '{key}'", ASSET_KEYS)}
            typ = self.type_name(fields["type"], spec.PATH_TYPES, f"asset '{key}'") if "type" in fields else None
            if "path" not in fields:
                self.error(vnode, f"asset '{key}' has no path", "add path: data/FILE")
                continue
            p = self.path_value(fields["path"], f"path of asset '{key}'")
            desc = self.value(fields["description"]) if "description" in fields else ""
            artifact = self.artifact_name(fields["name"], f"asset '{key}'") if "name" in fields else ""
            is_input = self.flag(fields["input"], f"'input' of asset '{key}'") if "input" in fields else False
            if p:
                out[key] = spec.Asset(key, p, typ, str(desc or ""), self.loc(knode), artifact or "", is_input)
        return out

    # --- components ---------------------------------------------------------------------
    def load_components(self, node, params) -> dict:
        out = {}
        for key, knode, vnode in self.mapping(node, "components"):
            if not self.name_ok(key, knode, "component"):
                continue
            what = f"component '{key}'"
            fields = {k: (kn, vn) for k, kn, vn in self.mapping(vnode, what, COMPONENT_KEYS)}
            inputs = {}
            if "inputs" in fields:
                for iname, ikn, ivn in self.mapping(fields["inputs"][1], f"inputs of {what}"):
                    if self.name_ok(iname, ikn, "input"):
                        decl = self.load_input_decl(iname, ikn, ivn, what)
                        if decl:
                            inputs[iname] = decl
            outputs = {}
            if "outputs" in fields:
                for oname, okn, ovn in self.mapping(fields["outputs"][1], f"outputs of {what}"):
                    if not self.name_ok(oname, okn, "output"):
                        continue
                    if oname in inputs:
                        self.error(okn, f"{what} has an input and an output both named '{oname}'", "rename one")
                        continue
                    odesc = ""
                    if isinstance(ovn, yaml.ScalarNode):
                        t = self.type_name(ovn, spec.OUTPUT_TYPES, f"output '{oname}' of {what}")
                    else:
                        of = {k: vn for k, _, vn in self.mapping(ovn, f"output '{oname}' of {what}", OUTPUT_DECL_KEYS)}
                        t = self.type_name(of["type"], spec.OUTPUT_TYPES, f"output '{oname}'") if "type" in of else None
                        odesc = str(self.value(of["description"]) or "") if "description" in of else ""
                    outputs[oname] = OutputDecl(oname, t, odesc, self.loc(okn))
            if "command" not in fields:
                self.error(vnode, f"{what} has no command", "add command: python src/script.py ...")
                continue
            command = self.load_command(fields["command"][1], what)
            if command is None:
                continue
            self.check_command_refs(fields["command"][1], command, what, inputs, outputs, params, in_component=True)
            code = self.load_code(fields["code"][1], what) if "code" in fields else ()
            resources = self.load_resources(fields["resources"][1], what) if "resources" in fields else Resources()
            desc = self.value(fields["description"][1]) if "description" in fields else ""
            env = self.environment_ref(fields["environment"][1], what) if "environment" in fields else ""
            includes = self.load_key_includes(fields["key_includes"][1], what) if "key_includes" in fields else ()
            out[key] = Component(key, command, inputs, outputs, code, resources, str(desc or ""),
                                 self.loc(knode), self.loc(fields["command"][1]), env or "", includes)
        return out

    def load_input_decl(self, name, knode, vnode, what) -> Optional[InputDecl]:
        if isinstance(vnode, yaml.ScalarNode):
            t = self.type_name(vnode, spec.INPUT_TYPES, f"input '{name}' of {what}")
            return InputDecl(name, t, MISSING, False, "", self.loc(knode)) if t else None
        f = {k: vn for k, _, vn in self.mapping(vnode, f"input '{name}' of {what}", INPUT_DECL_KEYS)}
        if "type" not in f:
            self.error(vnode, f"input '{name}' of {what} has no type",
                       f"add type: one of {', '.join(spec.INPUT_TYPES)}")
            return None
        t = self.type_name(f["type"], spec.INPUT_TYPES, f"input '{name}' of {what}")
        if t is None:
            return None
        default = MISSING
        if "default" in f:
            raw = self.value(f["default"])
            if t in spec.PATH_TYPES:
                if raw is not None:
                    p = self.path_value(f["default"], f"default of input '{name}'")
                    default = p if p else MISSING
            else:
                default = self.coerce_default(raw, t, f["default"], f"input '{name}' of {what}")
        optional = False
        if "optional" in f:
            optional = self.value(f["optional"])
            if not isinstance(optional, bool):
                self.error(f["optional"], "optional must be true or false")
                optional = False
        desc = self.value(f["description"]) if "description" in f else ""
        return InputDecl(name, t, default, optional, str(desc or ""), self.loc(knode))

    def load_command(self, node, what):
        if isinstance(node, yaml.SequenceNode):
            parts = []
            for item in node.value:
                s = self.string(item, f"each argument of the command of {what}") if isinstance(item, yaml.ScalarNode) else None
                if s is None:
                    if not isinstance(item, yaml.ScalarNode):
                        self.error(item, f"each argument of the command of {what} must be a string")
                    return None
                parts.append(str(s) if not isinstance(s, str) else s)
            if not parts:
                self.error(node, f"the command of {what} is empty")
                return None
            return tuple(parts)
        if isinstance(node, yaml.ScalarNode):
            v = self.value(node)
            if isinstance(v, str) and v.strip():
                return v
        self.error(node, f"the command of {what} must be a string or a list of arguments")
        return None

    def check_command_refs(self, node, command, what, inputs, outputs, params, in_component: bool):
        items = [(command, node, 0)] if isinstance(command, str) else [
            (c, node.value[i], 0) for i, c in enumerate(command)
        ]
        for text, n, base in items:
            try:
                parts = template.parse_cached(text)
            except template.TemplateError as e:
                self.error(n, f"in the command of {what}: {e.message}", e.hint, e.offset)
                continue
            for ref, optional in template.refs(parts):
                if ref.scope == "inputs":
                    if ref.name not in inputs:
                        self.error(n, f"the command of {what} uses {ref}, but there is no input '{ref.name}'",
                                   did_you_mean(ref.name, inputs, "input") if inputs else
                                   "declare it under inputs:", ref.offset)
                    elif not optional:
                        decl = inputs[ref.name]
                        if isinstance(decl, InputDecl) and decl.optional and decl.default is MISSING and in_component:
                            self.error(n, f"optional input '{ref.name}' of {what} is used outside $[[ ... ]]",
                                       f"wrap it so it disappears when unset: $[[--{ref.name} {ref}]]", ref.offset)
                elif ref.scope == "outputs":
                    if ref.name not in outputs:
                        self.error(n, f"the command of {what} uses {ref}, but there is no output '{ref.name}'",
                                   did_you_mean(ref.name, outputs, "output") if outputs else
                                   "declare it under outputs:", ref.offset)
                elif ref.scope == "params":
                    if ref.name not in params:
                        self.error(n, f"the command of {what} uses {ref}, but there is no param '{ref.name}'",
                                   did_you_mean(ref.name, params, "param") if params else
                                   "declare it under params: at the top of the Pipefile", ref.offset)
                else:
                    self.error(n, f"the command of {what} cannot use {ref} directly",
                               "bind it to an input of the step and use ${{inputs.NAME}}: "
                               f"inputs: {{x: \"{ref}\"}}", ref.offset)

    def load_code(self, node, what) -> tuple:
        nodes = node.value if isinstance(node, yaml.SequenceNode) else [node]
        out = []
        for n in nodes:
            p = self.path_value(n, f"code of {what}")
            if p:
                out.append(CodeRef(p, self.loc(n)))
        return tuple(out)

    def load_resources(self, node, what) -> Resources:
        f = {k: vn for k, _, vn in self.mapping(node, f"resources of {what}", RESOURCE_KEYS)}
        cpus, memory, gpus = 1.0, 0, 0
        if "gpus" in f:
            v = self.value(f["gpus"])
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                self.error(f["gpus"], f"gpus of {what} must be a whole number of devices (0 or more), not {v!r}",
                           "e.g. gpus: 1; a step gets whole GPUs, never a share of one")
            else:
                gpus = v
        if "cpus" in f:
            v = self.value(f["cpus"])
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
                self.error(f["cpus"], f"cpus of {what} must be a positive number, not {v!r}")
            else:
                cpus = float(v)
        if "memory" in f:
            v = parse_size(self.value(f["memory"]))
            if v is None:
                self.error(f["memory"], f"memory of {what} is not a size", "write it like 512MB, 4GB or 2GiB")
            else:
                memory = v
        return Resources(cpus, memory, gpus)

    # --- environments -------------------------------------------------------------------
    def load_environments(self, node) -> dict:
        out = {}
        for key, knode, vnode in self.mapping(node, "environments"):
            if not self.name_ok(key, knode, "environment"):
                continue
            if key == spec.ENV_LOCAL:
                self.error(knode, "'local' is the built-in environment (the calling shell) and cannot be redefined",
                           "choose another name, e.g. local-env: {type: local, env: {...}}")
                continue
            env = self.load_environment(key, knode, vnode)
            if env is not None:
                out[key] = env
        return out

    def load_environment(self, name, knode, vnode) -> Optional[EnvSpec]:
        what = f"environment '{name}'"
        fields = {k: (kn, vn) for k, kn, vn in self.mapping(vnode, what, ENVIRONMENT_KEYS)}
        if not isinstance(vnode, yaml.MappingNode):
            return None
        if "type" not in fields:
            guess = ("docker" if "image" in fields or "build" in fields else "venv" if
                     "requirements" in fields or "packages" in fields else "conda" if "file" in fields else None)
            self.error(vnode, f"{what} has no type",
                       f"add type: {guess}" if guess else f"add type: one of {', '.join(spec.ENV_TYPES)}")
            return None
        typ = self.type_name(fields["type"][1], spec.ENV_TYPES, what)
        if typ is None:
            return None
        allowed = ENVIRONMENT_TYPE_KEYS[typ]
        before = len(self.errors)
        for k, (kn, _) in fields.items():
            if k not in ("type", "description") and k not in allowed:
                self.error(kn, f"'{k}' does not apply to {what}, which is {_a(typ)} environment",
                           f"{_a(typ)} environment takes: {', '.join(allowed)}")
        if len(self.errors) > before:
            return None
        f = {k: vn for k, (_, vn) in fields.items()}
        env_vars = self.load_env_vars(f["env"], what) if "env" in f else {}
        kw: dict = {}
        if typ == spec.ENV_VENV:
            if "python" in f:
                v = self.value(f["python"])
                if not isinstance(v, str) or not v.strip():
                    self.error(f["python"], f"python of {what} must be a string, not {v!r}",
                               'quote the version, e.g. python: "3.10" (unquoted, 3.10 is the number 3.1)')
                else:
                    kw["python"] = v.strip()
            if "requirements" in f:
                kw["requirements"] = self.path_value(f["requirements"], f"requirements of {what}") or ""
            if "packages" in f:
                kw["packages"] = self.string_list(f["packages"], f"packages of {what}",
                                                  "a list of requirements, e.g. [pandas==1.5.3, six]")
        elif typ == spec.ENV_CONDA:
            if "file" not in f:
                self.error(vnode, f"{what} has no file", "add file: envs/NAME.yml (a conda environment file)")
                return None
            kw["file"] = self.path_value(f["file"], f"file of {what}") or ""
        elif typ == spec.ENV_DOCKER:
            if ("image" in f) == ("build" in f):
                self.error(vnode, f"{what} needs exactly one of image: or build:",
                           "image: NAME[:TAG] runs an existing image; build: FOLDER builds one from a Dockerfile")
                return None
            if "image" in f:
                image = self.string(f["image"], f"image of {what}")
                if image is not None and (not image.strip() or any(c.isspace() for c in image.strip())):
                    self.error(f["image"], f"image of {what} is not an image name: {image!r}",
                               "e.g. image: python:3.11-slim")
                    image = None
                kw["image"] = (image or "").strip()
                if "dockerfile" in f:
                    self.error(fields["dockerfile"][0], f"dockerfile of {what} needs build:",
                               "dockerfile: names the Dockerfile inside the build: folder")
            else:
                kw["build"] = self.path_value(f["build"], f"build of {what}") or ""
                if "dockerfile" in f:
                    df = self.string(f["dockerfile"], f"dockerfile of {what}")
                    p, problem = normalize_path(df) if df is not None else (None, None)
                    if problem:
                        self.error(f["dockerfile"], f"dockerfile of {what}: {problem}",
                                   "a path inside the build folder, e.g. Dockerfile.gpu")
                    kw["dockerfile"] = p or ""
            if "network" in f:
                net = self.string(f["network"], f"network of {what}")
                if net is not None and net not in DOCKER_NETWORKS:
                    self.error(f["network"], f"unknown network '{net}' for {what}",
                               did_you_mean(net, DOCKER_NETWORKS, "network"))
                elif net is not None:
                    kw["network"] = net
            if "mounts" in f:
                kw["mounts"] = self.load_mounts(f["mounts"], what)
        if len(self.errors) > before:
            return None
        desc = self.value(f["description"]) if "description" in f else ""
        return EnvSpec(name, typ, env_vars, description=str(desc or ""), loc=self.loc(knode), **kw)

    def string_list(self, node, what: str, hint: str) -> tuple:
        nodes = node.value if isinstance(node, yaml.SequenceNode) else None
        if nodes is None:
            self.error(node, f"{what} must be a list of strings", hint)
            return ()
        out = []
        for n in nodes:
            v = self.value(n) if isinstance(n, yaml.ScalarNode) else None
            if not isinstance(v, str) or not v.strip():
                self.error(n, f"each item of {what} must be a non-empty string", hint)
                continue
            out.append(v.strip())
        return tuple(out)

    def load_env_vars(self, node, what) -> dict:
        out = {}
        for k, kn, vn in self.mapping(node, f"env of {what}"):
            if not _ENV_VAR_RE.fullmatch(k):
                self.error(kn, f"'{k}' is not a valid environment variable name in {what}",
                           "use letters, digits and '_', starting with a letter or '_'")
                continue
            if k in RESERVED_ENV_VARS:
                self.error(kn, f"{what} sets {k}, which pipe sets for every step",
                           "resources: {gpus: N} hands out GPUs (CUDA_VISIBLE_DEVICES); remove it" if
                           k == "CUDA_VISIBLE_DEVICES" else "remove it")
                continue
            v = self.value(vn) if isinstance(vn, yaml.ScalarNode) else None
            if v is None or not isinstance(v, (str, int, float, bool)):
                self.error(vn, f"{k} in env of {what} must be a string, a number or a boolean", 'e.g. OMP_NUM_THREADS: "4"')
                continue
            out[k] = ("true" if v else "false") if isinstance(v, bool) else str(v)
        return out

    def load_mounts(self, node, what) -> tuple:
        out = []
        hint = "write SOURCE:TARGET[:ro|rw], e.g. data/big:/data (read-only unless :rw)"
        for item in self.string_list(node, f"mounts of {what}", hint):
            parts = item.split(":")
            mode = "ro"
            if len(parts) == 3 and parts[2] in ("ro", "rw"):
                mode = parts.pop()
            if len(parts) != 2 or not parts[0] or not parts[1]:
                self.error(node, f"mount '{item}' of {what} is not SOURCE:TARGET[:ro|rw]", hint)
                continue
            src, target = parts
            if not target.startswith("/"):
                self.error(node, f"mount '{item}' of {what}: the target '{target}' must be an absolute path "
                                 f"inside the container", "e.g. data:/data")
                continue
            if not src.startswith("/"):
                p, problem = normalize_path(src)
                if problem:
                    self.error(node, f"mount '{item}' of {what}: {problem}",
                               "a workspace-relative folder, or an absolute path on this machine")
                    continue
                src = p
            out.append(Mount(src, posixpath.normpath(target), mode == "ro"))
        return tuple(out)

    def environment_ref(self, node, what) -> Optional[str]:
        """The environment a step or component names, checked against `environments:`."""
        name = self.string(node, f"environment of {what}")
        if name is None:
            return None
        if name == spec.ENV_LOCAL or name in self.environments:
            return name
        known = list(self.environments) + [spec.ENV_LOCAL]
        self.error(node, f"{what} uses environment '{name}', which is not defined",
                   did_you_mean(name, known, "environment") if self.environments else
                   "define it under environments: at the top of the Pipefile")
        return None

    def load_key_includes(self, node, what) -> tuple:
        out = []
        for item in self.string_list(node, f"key_includes of {what}", f"a list of: {', '.join(spec.KEY_INCLUDES)}"):
            if item not in spec.KEY_INCLUDES:
                self.error(node, f"key_includes of {what}: unknown item '{item}'",
                           did_you_mean(item, spec.KEY_INCLUDES, "item"))
                continue
            out.append(item)
        return tuple(dict.fromkeys(out))

    # --- steps --------------------------------------------------------------------------
    def load_step(self, name, knode, vnode) -> Optional[Step]:
        what = f"step '{name}'"
        self.declared_outputs[name] = None  # unknown until its outputs are read
        before = len(self.errors)
        fields = {k: (kn, vn) for k, kn, vn in self.mapping(vnode, what, STEP_KEYS)}
        comp = None
        if "component" in fields:
            cname = self.string(fields["component"][1], f"component of {what}")
            if cname is None:
                return None
            comp = self.components.get(cname)
            if comp is None:
                self.error(fields["component"][1], f"{what} uses component '{cname}', which is not defined",
                           did_you_mean(cname, self.components, "component") if self.components
                           else "define it under components:")
                return None
            if "command" in fields:
                self.error(fields["command"][0], f"{what} has both a component and a command",
                           "remove the command: it comes from the component")
                return None
        elif "command" not in fields:
            if len(self.errors) > before:  # a misspelt key was reported already
                return None
            self.error(vnode, f"{what} has neither a command nor a component",
                       "add command: ... (or component: NAME)")
            return None

        # Outputs.
        outputs: dict[str, StepOutput] = {}
        out_fields = self.mapping(fields["outputs"][1], f"outputs of {what}") if "outputs" in fields else []
        declared = {k for k, _, _ in out_fields}
        self.declared_outputs[name] = declared
        for oname, okn, ovn in out_fields:
            if not self.name_ok(oname, okn, "output"):
                continue
            decl_type = None
            if comp is not None:
                if oname not in comp.outputs:
                    self.error(okn, f"component '{comp.name}' has no output '{oname}'",
                               did_you_mean(oname, comp.outputs, "output"))
                    continue
                decl_type = comp.outputs[oname].type
            out = self.load_step_output(oname, okn, ovn, what, decl_type)
            if out:
                outputs[oname] = out
        if comp is not None:
            for oname in comp.outputs:
                if oname not in outputs and oname not in {k for k, _, _ in out_fields}:
                    self.error(knode, f"{what} does not say where to write output '{oname}' of component '{comp.name}'",
                               f"add outputs: {{{oname}: build/{name}/{oname}}}")

        # Inputs.
        decls: Mapping[str, InputDecl] = comp.inputs if comp else {}
        inputs: dict[str, Binding] = {}
        in_fields = self.mapping(fields["inputs"][1], f"inputs of {what}") if "inputs" in fields else []
        inline_decls: dict[str, InputDecl] = {}
        attempted: set = set()  # bound, rightly or wrongly: a bad binding is reported once
        for iname, ikn, ivn in in_fields:
            if not self.name_ok(iname, ikn, "input"):
                continue
            if comp is not None and iname not in decls:
                self.error(ikn, f"component '{comp.name}' has no input '{iname}'",
                           did_you_mean(iname, decls, "input") if decls else "this component takes no inputs")
                continue
            if iname in outputs:
                self.error(ikn, f"{what} has an input and an output both named '{iname}'", "rename one")
                continue
            decl = decls.get(iname)
            attempted.add(iname)
            b = self.load_binding(iname, ivn, what, decl)
            if b is None:
                continue
            inputs[iname] = b
            if comp is None:
                inline_decls[iname] = InputDecl(iname, self.binding_type(b), MISSING, False, "", self.loc(ikn))
        if comp is not None:
            for iname, decl in decls.items():
                bound = inputs.get(iname)
                if bound is None and iname in attempted:
                    continue
                unset = bound is None or bound.kind == BIND_NONE
                if unset and decl.default is MISSING and not decl.optional:
                    self.error(knode, f"{what} does not connect required input '{iname}' of component '{comp.name}'",
                               f"add inputs: {{{iname}: ...}} (or give the input a default in the component)")
            decls_out = decls
        else:
            decls_out = inline_decls

        if comp is not None:
            command, command_loc = comp.command, comp.command_loc
        else:
            cnode = fields["command"][1]
            command = self.load_command(cnode, what)
            if command is None:
                return None
            command_loc = self.loc(cnode)
            # Inputs and outputs that were declared but had errors are known names: no second error.
            known_inputs = {**{n: None for n in attempted}, **inputs}
            known_outputs = {**{n: None for n in declared}, **outputs}
            self.check_command_refs(cnode, command, what, known_inputs, known_outputs, self.params,
                                    in_component=False)
            for ref, optional in _all_refs(command):
                b = inputs.get(ref.name) if ref.scope == "inputs" else None
                if b is not None and b.kind == BIND_NONE and not optional:
                    self.error(cnode, f"input '{ref.name}' of {what} has no value but is used outside $[[ ... ]]",
                               f"give it a value, or wrap it: $[[--{ref.name} {ref}]]")

        code = tuple(comp.code) if comp else ()
        if "code" in fields:
            code += self.load_code(fields["code"][1], what)
        resources = comp.resources if comp else Resources()
        if "resources" in fields:
            resources = self.load_resources(fields["resources"][1], what)
        environment = comp.environment if comp else ""
        if "environment" in fields:
            environment = self.environment_ref(fields["environment"][1], what) or ""
        key_includes = comp.key_includes if comp else ()
        if "key_includes" in fields:
            key_includes = self.load_key_includes(fields["key_includes"][1], what)
        desc = self.value(fields["description"][1]) if "description" in fields else (comp.description if comp else "")
        metrics = self.load_metrics(fields["metrics"][1], what, outputs) if "metrics" in fields else ()
        return Step(
            name=name,
            command=command,
            inputs=inputs,
            input_decls=decls_out,
            outputs=outputs,
            code=code,
            resources=resources,
            component=comp.name if comp else "",
            description=str(desc or ""),
            loc=self.loc(knode),
            command_loc=command_loc,
            metrics=metrics,
            environment="" if environment == spec.ENV_LOCAL else environment,
            key_includes=key_includes,
        )

    def flag(self, node, what) -> bool:
        v = self.value(node)
        if not isinstance(v, bool):
            self.error(node, f"{what} must be true or false, not {_kind(node)}", "write true or false")
            return False
        return v

    def artifact_name(self, node, what) -> Optional[str]:
        n = self.string(node, f"the artifact name of {what}")
        if n is not None and not _ARTIFACT_NAME_RE.fullmatch(n):
            self.error(node, f"'{n}' is not a valid artifact name for {what}",
                       "use ASCII letters, digits, '_', '-' and '.', starting with a letter or '_'")
            return None
        return n

    def load_metrics(self, node, what, outputs) -> tuple:
        """Metrics files: each one of the step's outputs or a file inside one."""
        nodes = node.value if isinstance(node, yaml.SequenceNode) else [node]
        out = []
        for n in nodes:
            p = self.path_value(n, f"metrics of {what}")
            if not p:
                continue
            if not any(p == o.path or p.startswith(o.path + "/") for o in outputs.values()):
                self.error(n, f"metrics file '{p}' of {what} is not one of its outputs",
                           "list it under outputs too (metrics are files the step writes), or write it inside "
                           "an output folder")
                continue
            out.append(p)
        return tuple(out)

    def load_step_output(self, name, knode, vnode, what, decl_type) -> Optional[StepOutput]:
        typ = decl_type
        pnode = vnode
        artifact = ""
        is_output = False
        if isinstance(vnode, yaml.MappingNode):
            f = {k: vn for k, _, vn in self.mapping(vnode, f"output '{name}' of {what}", STEP_OUTPUT_KEYS)}
            if "output" in f:
                is_output = self.flag(f["output"], f"'output' of output '{name}' of {what}")
            if "name" in f:
                artifact = self.artifact_name(f["name"], f"output '{name}' of {what}") or ""
            if "type" in f:
                t = self.type_name(f["type"], spec.OUTPUT_TYPES, f"output '{name}' of {what}")
                if t and decl_type and t != decl_type:
                    self.error(f["type"], f"output '{name}' of {what} is declared {decl_type} by its component, not {t}")
                typ = t or decl_type
            if "path" not in f:
                self.error(vnode, f"output '{name}' of {what} has no path", f"add path: build/{name}")
                return None
            pnode = f["path"]
        if isinstance(pnode, yaml.ScalarNode) and isinstance(pnode.value, str) and "${{" in pnode.value:
            self.error(pnode, f"output '{name}' of {what} must be a workspace path, not an expression",
                       "assets and other steps' outputs connect only to step inputs; write a path like build/out.csv")
            return None
        p = self.path_value(pnode, f"output '{name}' of {what}")
        if not p:
            return None
        raw = self.value(pnode)
        if isinstance(raw, str) and raw.rstrip().endswith("/"):
            if typ == spec.URI_FILE:
                self.error(pnode, f"output '{name}' of {what} is a uri_file, but its path ends with '/'",
                           "drop the '/' or declare the output a uri_folder")
                return None
            typ = spec.URI_FOLDER
        return StepOutput(name, p, typ, self.loc(pnode), artifact, is_output)

    def load_binding(self, iname, node, what, decl: Optional[InputDecl]) -> Optional[Binding]:
        loc = self.loc(node)
        dtype = decl.type if decl else None
        if isinstance(node, yaml.MappingNode):
            f = {k: vn for k, _, vn in self.mapping(node, f"input '{iname}' of {what}", BINDING_KEYS)}
            if ("path" in f) == ("value" in f):
                self.error(node, f"input '{iname}' of {what} needs exactly one of path: or value:")
                return None
            if "type" in f:
                t = self.type_name(f["type"], spec.INPUT_TYPES, f"input '{iname}' of {what}")
                if t is None:
                    return None
                if decl is not None and t != decl.type:
                    self.error(f["type"], f"input '{iname}' of {what} is declared {decl.type} by its component, "
                                          f"not {t}", "drop type: here; the component's declaration applies")
                    return None
                dtype = t
            if "path" in f:
                p = self.path_value(f["path"], f"input '{iname}' of {what}")
                if not p:
                    return None
                if dtype is not None and dtype not in spec.PATH_TYPES:
                    self.error(node, f"input '{iname}' of {what} expects {_a(dtype)}, not a path",
                               _value_hint(dtype))
                    return None
                return Binding(BIND_PATH, loc, p, type=dtype)
            node = f["value"]
            v = self.value(node)
            if isinstance(v, bool) or not isinstance(v, (int, float, str)):
                self.error(node, f"input '{iname}' of {what}: a value must be a number, a string or a boolean",
                           "leave the input out (or write null) to give it no value")
                return None
            if dtype is not None and not spec.value_fits(v, dtype if dtype not in spec.PATH_TYPES else "x"):
                self.error(node, f"input '{iname}' of {what} expects {_a(dtype)}, not {v!r}", _value_hint(dtype))
                return None
            return Binding(BIND_VALUE, loc, value=float(v) if dtype == spec.NUMBER else v)
        if not isinstance(node, yaml.ScalarNode):
            self.error(node, f"input '{iname}' of {what} must be a value, a path or ${{{{...}}}}, not a list")
            return None
        v = self.value(node)
        if v is None:
            return Binding(BIND_NONE, loc)
        if isinstance(v, str) and "${{" in v:
            m = _WHOLE_EXPR.match(v)
            if not m or "${{" in m.group(1):
                self.error(node, f"input '{iname}' of {what} mixes text and ${{{{...}}}}",
                           "an input binds one thing: a path, a value, or one ${{...}} expression")
                return None
            try:
                ref = template.parse_ref(m.group(1))
            except template.TemplateError as e:
                self.error(node, f"input '{iname}' of {what}: {e.message}", e.hint)
                return None
            return self.binding_from_ref(iname, ref, node, loc, what, dtype)
        if isinstance(v, str) and (dtype is None or dtype in spec.PATH_TYPES):
            p, problem = normalize_path(v)
            if problem:
                self.error(node, f"input '{iname}' of {what}: {problem}", path_hint(v))
                return None
            return Binding(BIND_PATH, loc, p, type=dtype)
        if dtype in spec.PATH_TYPES:
            self.error(node, f"input '{iname}' of {what} expects {_a(dtype)} (a path), not {v!r}",
                       "bind a path, ${{assets.NAME}} or ${{steps.STEP.outputs.NAME}}")
            return None
        if dtype is not None and not spec.value_fits(v, dtype):
            self.error(node, f"input '{iname}' of {what} expects {_a(dtype)}, not {v!r}", _value_hint(dtype))
            return None
        if isinstance(v, (int, float, str, bool)):
            return Binding(BIND_VALUE, loc, value=float(v) if dtype == spec.NUMBER else v)
        self.error(node, f"input '{iname}' of {what} has a value of an unsupported kind: {v!r}")
        return None

    def binding_from_ref(self, iname, ref, node, loc, what, dtype) -> Optional[Binding]:
        if ref.scope == "assets":
            asset = self.assets.get(ref.name)
            if asset is None:
                self.error(node, f"input '{iname}' of {what} uses asset '{ref.name}', which is not defined",
                           did_you_mean(ref.name, self.assets, "asset") if self.assets else "define it under assets:")
                return None
            if dtype is not None and (dtype not in spec.PATH_TYPES or not spec.type_fits(asset.type, dtype)):
                self.error(node, f"input '{iname}' of {what} expects {_a(dtype)}, but asset '{ref.name}' is "
                                 f"{_a(asset.type or 'path')}",
                           _value_hint(dtype) if dtype in spec.VALUE_TYPES else
                           f"bind {_a(dtype)}, or change the type of the asset or the input")
                return None
            return Binding(BIND_ASSET, loc, ref.name)
        if ref.scope == "params":
            param = self.params.get(ref.name)
            if param is None:
                self.error(node, f"input '{iname}' of {what} uses param '{ref.name}', which is not defined",
                           did_you_mean(ref.name, self.params, "param") if self.params else "define it under params:")
                return None
            if dtype is not None and not spec.type_fits(param.type, dtype):
                self.error(node, f"input '{iname}' of {what} expects {_a(dtype)}, but param '{ref.name}' is "
                                 f"{_a(param.type)}", f"bind a param of type {dtype}, or change the type of "
                                                      f"param '{ref.name}' or of the input")
                return None
            return Binding(BIND_PARAM, loc, ref.name)
        if ref.scope == "steps":
            # Checked once all steps are loaded: see check_step_references.
            return Binding(BIND_STEP_OUTPUT, loc, ref.name, ref.sub, type=dtype)
        if ref.scope == "artifacts":
            # Which version exists is known only at plan time: see pipeline.resolve_artifacts.
            if dtype is not None and dtype not in spec.PATH_TYPES:
                self.error(node, f"input '{iname}' of {what} expects {_a(dtype)}, but {ref} is a file or folder",
                           _value_hint(dtype))
                return None
            version = "" if ref.sub in ("", "latest") else str(int(ref.sub))
            return Binding(BIND_ARTIFACT, loc, ref.name, type=dtype, version=version)
        self.error(node, f"input '{iname}' of {what} cannot refer to {ref}",
                   "a step input binds ${{assets.X}}, ${{params.X}}, ${{steps.S.outputs.X}}, ${{artifacts.X}}, "
                   "a path or a value")
        return None

    def binding_type(self, b: Binding) -> Optional[str]:
        if b.kind == BIND_ASSET:
            return self.assets[b.ref].type
        if b.kind == BIND_PARAM:
            return self.params[b.ref].type
        if b.kind == BIND_VALUE:
            return spec.type_of_value(b.value)
        return None  # a path (file or folder), or a step output resolved later

    def check_artifact_names(self, steps: dict, assets: dict) -> None:
        """One producer per artifact name; a run cannot read the latest version of what it makes."""
        producers: dict = {}
        for a in assets.values():
            if a.artifact:
                producers.setdefault(a.artifact, []).append((f"asset '{a.name}'", a.loc, None))
        for st in steps.values():
            for o in st.outputs.values():
                if o.artifact:
                    producers.setdefault(o.artifact, []).append((f"output '{o.name}' of step '{st.name}'", o.loc,
                                                                 (st.name, o.name)))
        for name, made in producers.items():
            for what, loc, _ in made[1:]:
                self.errors.append(PipefileError(
                    f"artifact name '{name}' is given twice: to {made[0][0]} ({made[0][1]}) and to {what}", loc,
                    "each artifact has one producer: give one of them another name"))
        for st in steps.values():
            for iname, b in st.inputs.items():
                if b.kind != BIND_ARTIFACT or b.version:
                    continue
                made_here = [m for m in producers.get(b.ref, []) if m[2] is not None]
                if made_here:
                    step, out = made_here[0][2]
                    self.errors.append(PipefileError(
                        f"input '{iname}' of step '{st.name}' reads the latest '{b.ref}', which step '{step}' of "
                        f"this Pipefile makes", b.loc,
                        f"to use what this run makes, bind ${{{{steps.{step}.outputs.{out}}}}}; to use a stored "
                        f"version, pin it: ${{{{artifacts.{b.ref}:N}}}}"))

    def check_step_references(self, steps: dict) -> None:
        for st in steps.values():
            for iname, b in st.inputs.items():
                if b.kind != BIND_STEP_OUTPUT:
                    continue
                loc = b.loc
                other = steps.get(b.ref)
                declared = self.declared_outputs.get(b.ref, set())
                if other is None and b.ref in self.declared_outputs:
                    continue  # that step has errors of its own, reported already
                if other is None:
                    self.errors.append(PipefileError(
                        f"input '{iname}' of step '{st.name}' uses step '{b.ref}', which is not defined", loc,
                        did_you_mean(b.ref, [s for s in steps if s != st.name], "step")))
                    continue
                out = other.outputs.get(b.output)
                if out is None and (declared is None or b.output in declared):
                    continue  # that output has errors of its own, reported already
                if out is None:
                    self.errors.append(PipefileError(
                        f"input '{iname}' of step '{st.name}' uses output '{b.output}' of step '{b.ref}', "
                        f"which has no such output", loc, did_you_mean(b.output, other.outputs, "output")))
                    continue
                dtype = b.type
                if dtype is not None and (dtype not in spec.PATH_TYPES or not spec.type_fits(out.type, dtype)):
                    self.errors.append(PipefileError(
                        f"input '{iname}' of step '{st.name}' expects {_a(dtype)}, but output '{b.output}' of step "
                        f"'{b.ref}' is {_a(out.type or 'path')}", loc,
                        _value_hint(dtype) if dtype in spec.VALUE_TYPES else
                        f"bind {_a(dtype)}, or change the type of the output or the input"))


def _all_refs(command) -> list:
    texts = [command] if isinstance(command, str) else list(command)
    out = []
    for t in texts:
        try:
            out.extend(template.refs(template.parse_cached(t)))
        except template.TemplateError:
            pass
    return out


def _kind(node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag.endswith(":null"):
        return "empty"
    return f"'{node.value}'"


def _display_path(path: str) -> str:
    rel = os.path.relpath(path)
    return rel if not rel.startswith("..") else path


def parse_param_overrides(pf: spec.Pipefile, pairs: Iterable[str], errors: Optional[list] = None) -> dict:
    """Typed values from `-p name=value` flags; raises for unknown names and bad values
    unless `errors` is given to collect them."""
    collect = errors is not None
    errors = errors if collect else []
    out: dict = {}
    for pair in pairs:
        if "=" not in pair:
            errors.append(PipefileError(f"-p {pair}: expected name=value", hint="e.g. -p lr=0.01"))
            continue
        name, text = pair.split("=", 1)
        name = name.strip()
        param = pf.params.get(name)
        if param is None:
            errors.append(PipefileError(f"-p {pair}: the Pipefile has no param '{name}'",
                                        hint=did_you_mean(name, pf.params, "param") if pf.params
                                        else "declare it under params: in the Pipefile"))
            continue
        value = convert_param_text(text, param.type)
        if value is None:
            errors.append(PipefileError(f"-p {pair}: param '{name}' is {_a(param.type)}, and {text!r} is not",
                                        hint=_TYPE_EXAMPLES[param.type]))
            continue
        out[name] = value
    if not collect:
        raise_all(errors)
    return out


def _article(word: str) -> str:
    return "an" if word[:1] in "aeio" else "a"  # "a uri_file": the u is sounded "you"


def _a(word: str) -> str:
    return f"{_article(word)} {word}"


def _value_hint(dtype: str) -> str:
    return f"bind {_a(dtype)}: a literal value or ${{{{params.NAME}}}} of type {dtype}"


_TYPE_EXAMPLES = {
    spec.NUMBER: "give a number, e.g. 0.01",
    spec.INTEGER: "give a whole number, e.g. 5",
    spec.BOOLEAN: "give true or false",
    spec.STRING: "give any text",
}


def convert_param_text(text: str, typ: str):
    t = text.strip()
    try:
        if typ == spec.INTEGER:
            return int(t)
        if typ == spec.NUMBER:
            v = float(t)
            return v if math.isfinite(v) else None
    except ValueError:
        return None
    if typ == spec.BOOLEAN:
        low = t.lower()
        if low in ("true", "yes", "on", "1"):
            return True
        if low in ("false", "no", "off", "0"):
            return False
        return None
    return text


def resolve_params(pf: spec.Pipefile, overrides: Mapping[str, Any], errors: Optional[list] = None) -> dict:
    """Every param's value: the override, else the default.

    Raises for required ones left unset, unless `errors` is given to collect them.
    """
    values = {}
    collect = errors is not None
    errors = errors if collect else []
    for name, p in pf.params.items():
        if name in overrides:
            if isinstance(overrides[name], str) and "\0" in overrides[name]:
                # It would end in a command, a path or an environment value, none of which can hold one.
                errors.append(PipefileError(f"the value of param '{name}' holds a NUL character (\\0)",
                                            hint="give a value without it"))
                continue
            values[name] = overrides[name]
        elif p.default is not MISSING:
            values[name] = p.default
        else:
            errors.append(PipefileError(f"param '{name}' is required and has no value", p.loc,
                                        f"give it on the command line: -p {name}=..."))
    if not collect:
        raise_all(errors)
    return values
