"""`@pipeline`: a function whose calls of components are wired into a graph of steps.

While a pipeline function runs, each component call adds a `Node` (checked at once against
the component's ports: unknown inputs, wrong types, outputs it does not have); a node's
`.outputs.X` is what another call binds. The function's parameters are the pipeline's params
(and `Input` ones its assets). Steps are named as the SDK v2 names them: by the variable a
node is assigned to in the pipeline function, else by its component (`name_2` ...)."""

from __future__ import annotations

import inspect
import os
import sys
import typing
from typing import Any, Optional

from .. import spec
from ..errors import did_you_mean
from .document import Pipeline
from .nodes import AssetRef, Node, NodeOutput, ParamRef
from .ports import Input, a_type, fits, type_of_annotation, type_of_value
from .where import DslError, Place, caller, definition

_building: list = []  # the pipelines being built (innermost last)
# id of a pipeline being built -> [its function's code, the frame running it once a call found it]
_frames: dict = {}


def add_node(component, bindings: dict, place: Place) -> Node:
    """A component called: in a pipeline function, a new step; elsewhere, an error."""
    if not _building:
        raise DslError(
            f"component '{component.name}' is called outside a @dsl.pipeline function",
            place,
            "call components inside a function decorated with @dsl.pipeline",
        )
    checked: dict = {}
    deferred: dict = {}
    for name, value in bindings.items():
        port = component.inputs.get(name)
        if port is None:
            raise DslError(
                f"component '{component.name}' has no input '{name}'",
                place,
                did_you_mean(name, component.inputs, "input") or "it has no inputs",
            )
        checked[name] = _checked(component, port, value, place, deferred)
    node = Node(component, checked, place)
    node.unless_mapped = deferred
    _building[-1].nodes.append(node)
    _find_frame(_frames.get(id(_building[-1])))
    return node


def _find_frame(entry) -> None:
    """Keep the frame of the pipeline function (the caller's, or one of its callers'): its
    locals, read once it returns, name the steps. (A frame, not sys.setprofile: that replaced
    a profiler the user ran, and restoring cProfile's failed.)"""
    if entry is None or entry[1] is not None:
        return
    frame = sys._getframe(2)
    while frame is not None and frame.f_code is not entry[0]:
        frame = frame.f_back
    entry[1] = frame


def _checked(component, port, value: Any, place: Place, deferred: dict) -> Any:
    what = f"input '{port.name}' of component '{component.name}'"
    wants = a_type(port.type)
    is_path = port.type in spec.PATH_TYPES
    if isinstance(value, Node):
        outs = list(value.component.outputs)
        if len(outs) != 1:
            raise DslError(
                f"{what} is given a whole step of '{value.component.name}', which has {len(outs)} outputs",
                place,
                f"give one of them: .outputs.{outs[0] if outs else 'NAME'}",
            )
        value = NodeOutput(value, outs[0])
    if isinstance(value, NodeOutput):
        if not is_path:
            raise DslError(f"{what} is {wants}, not an output of a step", place)
        if value.type and value.type != port.type:
            error = DslError(
                f"{what} is {wants}, but output '{value.name}' of '{value.node.component.name}' "
                f"is {a_type(value.type)}",
                place,
                f'map over its entries: .foreach("{port.name}") after the call'
                if value.type == spec.URI_FOLDER
                else None,
            )
            if value.type != spec.URI_FOLDER or port.type != spec.URI_FILE:
                raise error
            deferred[port.name] = error  # (a .foreach() after the call maps over the folder's files)
        return value
    if isinstance(value, ParamRef):
        if is_path:
            raise DslError(
                f"{what} is {wants}: a param cannot feed a path input", place, "pass a dsl.Input, or a node's output"
            )
        if not spec.type_fits(value.type, port.type):
            raise DslError(f"{what} is {wants}, but param '{value.name}' is {a_type(value.type)}", place)
        return value
    if isinstance(value, AssetRef):
        if not is_path:
            raise DslError(f"{what} is {wants}, not data (pipeline input '{value.name}')", place)
        return value
    if isinstance(value, Input):
        if value.path is None or not is_path:
            raise DslError(f"{what} is {wants}: give it dsl.Input(type=..., path=...) only for data inputs", place)
        return os.fspath(value.path)
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if value is None:
        return None
    if type_of_value(value) is None:
        raise DslError(f"{what}: {value!r} ({type(value).__name__}) cannot be bound", place, f"give {wants}")
    if not fits(value, port.type):
        raise DslError(f"{what} is {wants}, not {value!r}", place)
    if port.enum and value not in port.enum:
        raise DslError(f"{what}: {value!r} is not one of its enum values", place, f"give one of {list(port.enum)}")
    return value


class PipelineFunction:
    """`@pipeline`: calling it builds a `Pipeline`; its arguments replace parameter defaults."""

    def __init__(self, func, name, description, environments, keep_going):
        self.func = func
        self.name = name or func.__name__
        self.description = description or (inspect.getdoc(func) or "").split("\n")[0]
        self.environments = dict(environments or {})
        self.keep_going = keep_going
        self.__doc__ = func.__doc__
        self.__wrapped__ = func

    def __call__(self, *args, **given) -> Any:  # a Pipeline; inside another pipeline, its step (a Node)
        place = caller()
        if any(entry[0] is self.func.__code__ for entry in _frames.values()):
            # (called again while it builds: each call would build another, to Python's recursion limit)
            raise DslError(
                f"pipeline '{self.name}' uses itself (called inside its own function, directly or through another)",
                place,
                "a pipeline cannot contain itself: call another pipeline function here",
            )
        p = Pipeline(self.name, self.description, definition(self.func), self.environments, self.keep_going)
        sig = inspect.signature(self.func)
        if args:  # (as a function's: by position, then by name)
            try:
                given = dict(sig.bind_partial(*args, **given).arguments)
            except TypeError as e:
                raise DslError(
                    f"pipeline '{self.name}': {e}", place, f"give its parameters by name: {self._usage(sig)}"
                ) from None
        for name in given:
            if name not in sig.parameters:
                raise DslError(
                    f"pipeline '{self.name}' has no parameter '{name}'",
                    place,
                    did_you_mean(name, sig.parameters, "parameter"),
                )
        try:
            hints = typing.get_type_hints(self.func)
        except Exception as e:  # noqa: BLE001 - the user's annotations
            raise DslError(f"pipeline '{self.name}': its annotations cannot be read: {e}", p.place) from None
        inner = bool(_building)  # called inside another pipeline: a pipeline component
        bindings = given
        if inner:
            from .nested import pipeline_ports

            ports, args, bindings = pipeline_ports(self.name, sig, hints, given, p.place)
        else:
            args = {}
            for param in sig.parameters.values():
                args[param.name] = self._parameter(p, param, hints.get(param.name), given, place)
        _building.append(p)
        entry = _frames[id(p)] = [self.func.__code__, None]
        try:
            returned = self.func(**args)
        finally:
            _building.pop()
            del _frames[id(p)]
        for node in p.nodes:  # (a folder bound to a file input, mapped over by no .foreach())
            for error in node.unless_mapped.values():
                raise error
        frame = entry[1]
        _name_nodes(p.nodes, dict(frame.f_locals) if frame is not None else {})
        del frame, entry  # (the frame holds the function's locals: not kept past the naming)
        if not inner:
            return p
        from .nested import PipelineComponent, pipeline_outputs

        if not p.nodes:
            raise DslError(f"pipeline '{self.name}' calls no component", p.place, "call at least one component in it")
        outputs = pipeline_outputs(self.name, returned, p, p.place)
        return add_node(PipelineComponent(p, ports, outputs, p.place), bindings, place)

    def _usage(self, sig: inspect.Signature) -> str:
        return f"{self.func.__name__}({', '.join(f'{n}=...' for n in list(sig.parameters)[:3])})"

    def _parameter(self, p: Pipeline, param: inspect.Parameter, hint: Any, given: dict, place: Place):
        where = p.place if param.name not in given else place
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise DslError(f"pipeline '{self.name}': {param} cannot be a param", p.place, "name each param")
        value = given.get(param.name, param.default)
        typ, _, marker = type_of_annotation(hint) if hint is not None else (None, False, None)
        enum: tuple = ()
        # `lr=dsl.Input(type="number", default=0.1)` (or as the annotation): a param, as
        # azure.ai.ml takes a literal pipeline input; its data types alone are assets
        declared = [x for x in (value, param.default, marker) if isinstance(x, Input)]  # (a given value, then its own)
        literal = declared[0] if declared else None
        if literal is not None and literal.type in spec.VALUE_TYPES:
            typ, enum, marker = literal.type, literal.enum, None
            if value is literal or value is inspect.Parameter.empty:
                value = literal.default if literal.default is not None else spec.MISSING
        if isinstance(value, Input) or marker is Input or isinstance(marker, Input):
            path = value.path if isinstance(value, Input) else None
            if path is None:
                raise DslError(
                    f"pipeline input '{param.name}' has no path",
                    where,
                    f'give it one: {param.name}=dsl.Input(type="uri_file", path="data/...")',
                )
            atype = value.type if isinstance(value, Input) else typ
            p.assets[param.name] = (atype, os.fspath(path))
            return AssetRef(param.name, atype)
        if value is inspect.Parameter.empty:
            value = spec.MISSING
        if typ is None and value is not spec.MISSING:
            typ = type_of_value(value)
        if typ is None:
            raise DslError(
                f"pipeline '{self.name}': parameter '{param.name}' needs a type or a default",
                p.place,
                f"annotate it ({param.name}: float) or give it a default ({param.name}=0.1)",
            )
        if value is not spec.MISSING and not spec.value_fits(value, typ):
            raise DslError(f"pipeline '{self.name}': param '{param.name}' is {a_type(typ)}, not {value!r}", where)
        if enum and value is not spec.MISSING and value not in enum:
            raise DslError(
                f"pipeline '{self.name}': param '{param.name}' is {value!r}, not one of its enum values",
                where,
                f"give one of {list(enum)}",
            )
        if typ == spec.NUMBER and value is not spec.MISSING:
            value = float(value)
        p.params[param.name] = (typ, value)
        if enum:
            p.param_enums[param.name] = enum
        return ParamRef(param.name, typ)


def _name_nodes(nodes: list, variables: dict) -> None:
    taken = {n.name for n in nodes if n.name}
    for var, value in variables.items():
        if isinstance(value, Node) and value.name is None and var not in taken and value in nodes:
            value.name = var
            taken.add(var)
    for n in nodes:
        if n.name is None:
            base = n.component.name.replace("/", "_")
            name, k = base, 1
            while name in taken:
                k += 1
                name = f"{base}_{k}"
            n.name = name
            taken.add(name)


def pipeline(
    func=None,
    *,
    name: Optional[str] = None,
    description: str = "",
    environments: Optional[dict] = None,
    keep_going: bool = False,
    display_name: str = "",
):
    """`@pipeline(name=...)`: the decorated function wires component calls into a pipeline;
    its parameters are the pipeline's params (defaults from the signature; `-p` sets them)."""

    def make(f):
        return PipelineFunction(f, name or display_name or None, description, environments, keep_going)

    return make(func) if func is not None else make
