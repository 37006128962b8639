"""A step input's binding as the Pipefile writes it: a path, a value, or a `${{ }}`
reference to an asset, a param, another step's output or an artifact version, in the
short form (`name: VALUE`) or the long one (`name: {path|value|...}`).

`InputBindingReader` is mixed into `steps.StepParser` (and so into the nested loader's
`InnerStepParser`, which overrides `binding_from_ref` and `binding_type` for a pipeline's
own inputs): it needs only the reader and the params and assets read before the steps.
"""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING, Mapping, Optional

from .. import lazyre, spec, template
from ..errors import did_you_mean
from ..spec import (
    BIND_ARTIFACT,
    BIND_ASSET,
    BIND_NONE,
    BIND_PARAM,
    BIND_PATH,
    BIND_STEP_OUTPUT,
    BIND_VALUE,
    Binding,
    InputDecl,
)
from .bounds import bounds_hint, bounds_range, out_of_bounds
from .expansion import expansion_values
from .fields import BINDING_KEYS
from .params import enum_hint
from .paths import normalize_path, path_hint
from .phrases import SCALAR_HINT, a, quoted, value_hint
from .reader import NodeReader, is_mapping, is_scalar
from .sections import enum_text

if TYPE_CHECKING:
    from yaml import Node

_WHOLE_EXPR = lazyre.Pattern(r"^\s*\$\{\{(.*)\}\}\s*$", re.S)


class InputBindingReader:
    """Reads one input's binding; errors go to the reader."""

    r: NodeReader
    params: Mapping[str, spec.Param]
    assets: Mapping[str, spec.Asset]

    def load_binding(self, iname: str, node: Node, what: str, decl: Optional[InputDecl]) -> Optional[Binding]:
        b = self._binding(iname, node, what, decl)
        if b is not None and decl is not None and (decl.enum or decl.low is not None or decl.high is not None):
            self._held_to_enum(iname, node, what, decl, b)
        return b

    def _held_to_enum(self, iname: str, node: Node, what: str, decl: InputDecl, b: Binding) -> None:
        """A value bound to an input with an `enum:` (or `min:`/`max:`) is one it takes: written
        here, or a param's (its default now; a `-p` value when it is given: the param's limits)."""
        said = len(self.r.errors)
        if b.kind == BIND_VALUE and (why := out_of_bounds(b.value, decl.low, decl.high)):
            self.r.error(
                node, f"input '{iname}' of {what} is {quoted(b.value)}, {why}", bounds_hint(decl.low, decl.high)
            )
        elif b.kind == BIND_PARAM and isinstance(self.params, dict) and b.ref in self.params:
            param = self.params[b.ref]
            if why := out_of_bounds(param.default, decl.low, decl.high):  # (MISSING is no number: "")
                self.r.error_at(
                    param.loc,  # where the value is written
                    f"param '{b.ref}' is {quoted(param.default)}, {why.replace('its', 'the')} of input '{iname}' "
                    f"of {what} (bound to it at line {self.r.loc(node).line})",
                    f"give param '{b.ref}' a default {bounds_range(decl.low, decl.high)}",
                )
        if decl.enum and len(self.r.errors) == said:  # (out of bounds is out of the enum: said once)
            self._in_enum(iname, node, what, decl, b)
        if b.kind == BIND_PARAM and isinstance(self.params, dict) and b.ref in self.params:
            param = self.params[b.ref]
            limit = spec.ParamLimit(f"input '{iname}' of {what}", self.r.loc(node), decl.enum, decl.low, decl.high)
            self.params[b.ref] = dataclasses.replace(param, limits=param.limits + (limit,))  # (where it is bound)

    def _in_enum(self, iname: str, node: Node, what: str, decl: InputDecl, b: Binding) -> None:
        if b.kind == BIND_VALUE and b.value not in decl.enum:
            self.r.error(
                node,
                f"input '{iname}' of {what} is {quoted(b.value)}, which is not one of its enum values",
                enum_hint(b.value, decl.enum),
            )
        elif b.kind == BIND_PARAM and isinstance(self.params, dict) and b.ref in self.params:
            param = self.params[b.ref]
            if param.default is not spec.MISSING and param.default not in decl.enum:
                self.r.error(
                    node,
                    f"input '{iname}' of {what} is bound to param '{b.ref}', whose default {quoted(param.default)} "
                    "is not one of the input's enum values",
                    f"give param '{b.ref}' a default the input takes ({enum_text(decl.enum)})",
                )

    def _binding(self, iname: str, node: Node, what: str, decl: Optional[InputDecl]) -> Optional[Binding]:
        r = self.r
        dtype = decl.type if decl else None
        if is_mapping(node):
            return self._long_binding(iname, node, what, decl)
        loc = r.loc(node)
        if not is_scalar(node):
            r.error(
                node,
                f"input '{iname}' of {what} must be a value, a path or ${{{{...}}}}, not a list",
                "bind one thing; for a task per item, bind a list param (${{params.NAME}}) and map it: foreach:",
            )
            return None
        v = r.value(node)
        if v is None:
            return Binding(BIND_NONE, loc)
        if isinstance(v, str) and "${{" in v:
            m = _WHOLE_EXPR.match(v)
            if not m or "${{" in m.group(1):
                r.error(
                    node,
                    f"input '{iname}' of {what} mixes text and ${{{{...}}}}",
                    "an input binds one thing: a path, a value, or one ${{...}} expression",
                )
                return None
            try:
                ref = template.parse_ref(m.group(1))
            except template.TemplateError as e:
                r.error(node, f"input '{iname}' of {what}: {e.message}", e.hint)
                return None
            return self.binding_from_ref(iname, ref, node, what, dtype)
        if isinstance(v, str) and (dtype is None or dtype in spec.PATH_TYPES):
            p, problem = normalize_path(v)
            if problem or p is None:
                r.error(node, f"input '{iname}' of {what}: {problem}", path_hint(v))
                return None
            return Binding(BIND_PATH, loc, p, type=dtype)
        if dtype in spec.PATH_TYPES:
            r.error(
                node,
                f"input '{iname}' of {what} expects {a(dtype)} (a path), not {v!r}",
                "bind a path, ${{assets.NAME}} or ${{steps.STEP.outputs.NAME}}",
            )
            return None
        if dtype is not None and not spec.value_fits(v, dtype):
            r.error(node, f"input '{iname}' of {what} expects {a(dtype)}, not {v!r}", value_hint(dtype))
            return None
        if isinstance(v, (int, float, str, bool)):
            return Binding(BIND_VALUE, loc, value=float(v) if dtype == spec.NUMBER else v)
        r.error(node, f"input '{iname}' of {what} has a value of an unsupported kind: {v!r}", SCALAR_HINT)
        return None

    def _long_binding(self, iname: str, node: Node, what: str, decl: Optional[InputDecl]) -> Optional[Binding]:
        """An input written as a mapping: {path: ...} or {value: ...}, with an optional type."""
        r = self.r
        loc = r.loc(node)
        dtype = decl.type if decl else None
        f = r.fields(node, f"input '{iname}' of {what}", BINDING_KEYS)
        if ("path" in f) == ("value" in f):
            r.error(
                node,
                f"input '{iname}' of {what} needs exactly one of path: or value:",
                "write {path: data/x.csv} for a file or folder, or {value: 5} for a value",
            )
            return None
        if "type" in f:
            t = r.type_name(f["type"], spec.INPUT_TYPES, f"input '{iname}' of {what}")
            if t is None:
                return None
            if decl is not None and t != decl.type:
                r.error(
                    f["type"],
                    f"input '{iname}' of {what} is declared {decl.type} by its component, not {t}",
                    "drop type: here; the component's declaration applies",
                )
                return None
            dtype = t
        if "path" in f:
            p = r.path_value(f["path"], f"input '{iname}' of {what}")
            if not p:
                return None
            if dtype is not None and dtype not in spec.PATH_TYPES:
                r.error(node, f"input '{iname}' of {what} expects {a(dtype)}, not a path", value_hint(dtype))
                return None
            return Binding(BIND_PATH, loc, p, type=dtype)
        vnode = f["value"]
        v = r.value(vnode)
        if not isinstance(v, (bool, int, float, str)):  # (a boolean is one: `{value: true}` was refused)
            r.error(
                vnode,
                f"input '{iname}' of {what}: a value must be a number, a string or a boolean",
                "leave the input out (or write null) to give it no value",
            )
            return None
        if dtype in spec.PATH_TYPES:  # (the hint said "a literal value or a param", neither of which is a path)
            r.error(
                vnode,
                f"input '{iname}' of {what} is {a(dtype)} (a path), given as value: {v!r}",
                f"write path: for a file or folder: {{type: {dtype}, path: {v}}}",
            )
            return None
        if dtype is not None and not spec.value_fits(v, dtype):
            r.error(vnode, f"input '{iname}' of {what} expects {a(dtype)}, not {v!r}", value_hint(dtype))
            return None
        return Binding(BIND_VALUE, loc, value=float(v) if dtype == spec.NUMBER else v)

    def _undefined(self, node: Node, iname: str, what: str, kind: str, name: str, known: Mapping) -> None:
        """An input bound to an asset or param `name` that is not defined: an error, no binding."""
        if (kind, name) in self.r.broken:
            return  # declared, with its own error
        self.r.error(
            node,
            f"input '{iname}' of {what} uses {kind} '{name}', which is not defined",
            did_you_mean(name, known, kind) if known else f"define it under {kind}s:",
        )

    def binding_from_ref(
        self, iname: str, ref: template.Ref, node: Node, what: str, dtype: Optional[str]
    ) -> Optional[Binding]:
        r = self.r
        loc = r.loc(node)
        if ref.scope == "assets":
            asset = self.assets.get(ref.name)
            if asset is None:
                self._undefined(node, iname, what, "asset", ref.name, self.assets)
                return None
            if dtype is not None and (dtype not in spec.PATH_TYPES or not spec.type_fits(asset.type, dtype)):
                r.error(
                    node,
                    f"input '{iname}' of {what} expects {a(dtype)}, but asset '{ref.name}' is "
                    f"{a(asset.type or 'path')}",
                    value_hint(dtype)
                    if dtype in spec.VALUE_TYPES
                    else f"bind {a(dtype)}, or change the type of the asset or the input",
                )
                return None
            return Binding(BIND_ASSET, loc, ref.name)
        if ref.scope == "params":
            param = self.params.get(ref.name)
            if param is None:
                self._undefined(node, iname, what, "param", ref.name, self.params)
                return None
            if dtype is not None and not spec.type_fits(param.type, dtype):
                r.error(
                    node,
                    f"input '{iname}' of {what} expects {a(dtype)}, but param '{ref.name}' is {a(param.type)}",
                    f"bind a param of type {dtype}, or change the type of param '{ref.name}' or of the input",
                )
                return None
            return Binding(BIND_PARAM, loc, ref.name)
        if ref.scope == "steps":
            # Checked once all steps are loaded: see checks.check_step_references.
            return Binding(BIND_STEP_OUTPUT, loc, ref.name, ref.sub, type=dtype)
        if ref.scope == "artifacts":
            # Which version exists is known only at plan time: see pipeline.resolve_artifacts.
            if dtype is not None and dtype not in spec.PATH_TYPES:
                r.error(
                    node,
                    f"input '{iname}' of {what} expects {a(dtype)}, but {ref} is a file or folder",
                    value_hint(dtype),
                )
                return None
            version = "" if ref.sub in ("", "latest") else str(int(ref.sub))
            return Binding(BIND_ARTIFACT, loc, ref.name, type=dtype, version=version)
        r.error(
            node,
            f"input '{iname}' of {what} cannot refer to {ref}",
            "a step input binds ${{assets.X}}, ${{params.X}}, ${{steps.S.outputs.X}}, ${{artifacts.X}}, "
            "a path or a value",
        )
        return None

    def binding_type(self, b: Binding) -> Optional[str]:
        if b.kind == BIND_ASSET:
            return self.assets[b.ref].type
        if b.kind == BIND_PARAM:
            return self.params[b.ref].type
        if b.kind == BIND_VALUE:
            return spec.type_of_value(b.value)
        return None  # a path (file or folder), or a step output resolved later


def check_expansion_enums(r: NodeReader, what: str, comp, expansion: spec.Expansion, decls) -> None:
    """A matrix axis or sweep input of a component's input with an `enum:` gives only its values
    (a choice:, never a range): each task would run with what the component refuses."""
    how = "axis" if expansion.kind == spec.EXPAND_MATRIX else "sweep input"
    for name in expansion.names if comp is not None and expansion.kind != spec.EXPAND_FOREACH else ():
        choices = decls[name].enum if name in decls else ()
        ranged = [k for n, k, _ in expansion.space if n == name and k != "choice"]
        bad = [v for v in expansion_values(expansion, name) if v not in choices]
        if choices and (ranged or bad):
            said = f"draws from a range ({ranged[0]})" if ranged else f"gives {bad[0]!r}"
            r.error_at(
                expansion.loc,
                f"{how} '{name}' of {what} {said}, but the input takes only the values of its enum",
                f"list them: {name}: {{choice: [{enum_text(choices)}]}}"
                if ranged
                else f"give only values of its enum: {enum_text(choices)}",
            )
