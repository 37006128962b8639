"""Pipelines as components in the DSL: a `@pipeline` function called inside another one is a
`type: pipeline` component (Azure ML's pipeline component), used by one step of the caller.

Its parameters are the component's inputs (inside it they bind `${{parent.inputs.NAME}}`),
the dict it returns names its outputs (each an inner step's output, written
`${{parent.outputs.NAME}}`), and its calls are the inner steps, named as a pipeline's steps
are. The Pipefile loader then does what it does for any pipeline component: `STEP/INNER`
names, store-kept inner outputs, shared keys."""

from __future__ import annotations

import inspect
from typing import Any, Iterator, Optional

from .. import spec
from .document import Pipeline, inner_step
from .nodes import Node, NodeOutput, ParentData, ParentParam
from .ports import Input, InputPort, type_of_annotation, type_of_value
from .where import DslError, Place


class _OutputPort:
    """An output of a pipeline component: its type; no path (the calling step gives one)."""

    def __init__(self, name: str, type: Optional[str]):  # noqa: A002
        self.name, self.type, self.path, self.description = name, type, None, ""


class PipelineComponent:
    """A pipeline function's calls, as a component with the function's parameters as inputs
    (what document.py asks of a component; not a `components.Component`, which users call:
    this one is only made by `building`, and importing that would close an import cycle)."""

    def __init__(self, sub: Pipeline, inputs: dict, returned: dict, place: Place):
        self.name = sub.name
        self.sub = sub
        self.inputs = inputs
        self.returned = returned  # output name -> the inner NodeOutput it is
        self.outputs = {n: _OutputPort(n, o.type) for n, o in returned.items()}
        self.place = place

    @property
    def ref(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<pipefile.dsl pipeline component {self.name}>"

    def parts(self) -> Iterator[Any]:
        """The components its inner steps use, those of nested pipelines first."""
        for node in self.sub.nodes:
            comp = node.component
            if isinstance(comp, PipelineComponent):
                yield from comp.parts()
            yield comp

    def environments(self, root: str) -> dict:
        envs: dict = dict(self.sub.environments)  # (@pipeline(environments=...) of this one)
        for comp in self.parts():
            envs.update(comp.environments(root))
        return envs

    def body(self, root: str) -> dict:
        bound = {(id(o.node), o.name): name for name, o in self.returned.items()}
        steps = {node.name: inner_step(node, root, bound) for node in self.sub.nodes}
        out: dict = {"type": "pipeline"}
        if self.sub.description:
            out["description"] = self.sub.description
        if self.inputs:
            out["inputs"] = {n: p.declaration() for n, p in self.inputs.items()}
        if self.outputs:
            out["outputs"] = {n: p.type or "uri_folder" for n, p in self.outputs.items()}
        out["steps"] = steps
        return out


def pipeline_ports(fn_name: str, sig: inspect.Signature, hints: dict, given: dict, place: Place) -> tuple:
    """(input ports, the arguments the function is called with, the caller's bindings with
    data defaults filled in) of a pipeline function used as a component."""
    ports: dict = {}
    args: dict = {}
    bindings = dict(given)
    for param in sig.parameters.values():
        name = param.name
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise DslError(f"pipeline '{fn_name}': {param} cannot be an input", place, "name each input")
        hint = hints.get(name)
        typ, optional, marker = type_of_annotation(hint) if hint is not None else (None, False, None)
        default = param.default
        # a literal Input (`lr=dsl.Input(type="number", default=0.1)`): a value input, as a param is
        literal = default if isinstance(default, Input) else marker if isinstance(marker, Input) else None
        if literal is not None and literal.type in spec.VALUE_TYPES:
            if default is literal or default is inspect.Parameter.empty:
                default = literal.default if literal.default is not spec.MISSING else inspect.Parameter.empty
            ports[name] = _literal_port(name, literal, default, optional)
            args[name] = ParentParam(name, literal.type)
            continue
        if isinstance(default, Input) or marker is Input or isinstance(marker, Input):
            dtype = default.type if isinstance(default, Input) else typ
            if isinstance(default, Input) and default.path is not None:
                bindings.setdefault(name, default)  # its path, unless the caller binds it
            ports[name] = InputPort(name, dtype, optional=optional)
            args[name] = ParentData(name, dtype)
            continue
        has_default = default is not inspect.Parameter.empty
        if typ is None and has_default and default is not None:
            typ = type_of_value(default)
        if typ is None:
            raise DslError(
                f"pipeline '{fn_name}': parameter '{name}' needs a type or a default",
                place,
                f"annotate it ({name}: float) or give it a default ({name}=0.1)",
            )
        if has_default and default is not None:
            ports[name] = InputPort(name, typ, default)
        else:
            ports[name] = InputPort(name, typ, optional=optional or (has_default and default is None))
        args[name] = ParentParam(name, typ)
    return ports, args, bindings


def _literal_port(name: str, literal: Input, default: Any, optional: bool) -> InputPort:
    optional = optional or literal.optional or default is None
    if default is inspect.Parameter.empty or default is None:
        return InputPort(name, literal.type, optional=optional, description=literal.description, enum=literal.enum)
    return InputPort(name, literal.type, default, optional, literal.description, literal.enum)


def pipeline_outputs(fn_name: str, returned: Any, sub: Pipeline, place: Place) -> dict:
    """The outputs a pipeline function used as a component returns: name -> inner NodeOutput."""
    if returned is None:
        return {}
    if not isinstance(returned, dict):
        raise DslError(
            f"pipeline '{fn_name}' is used as a component but returns {type(returned).__name__}",
            place,
            'return a dict of its outputs: return {"model": fit.outputs.model}',
        )
    out = {}
    for name, value in returned.items():
        if isinstance(value, Node):
            outs = list(value.component.outputs)
            if len(outs) != 1:
                raise DslError(f"output '{name}' of pipeline '{fn_name}' is a step with {len(outs)} outputs", place)
            value = NodeOutput(value, outs[0])
        if not isinstance(value, NodeOutput) or value.node not in sub.nodes:
            raise DslError(
                f"output '{name}' of pipeline '{fn_name}' must be an output of one of its own steps, not {value!r}",
                place,
                'return {"NAME": step.outputs.X} for a step called in this pipeline function',
            )
        if value.view:
            raise DslError(
                f"output '{name}' of pipeline '{fn_name}' is one task's output ({value.view})",
                place,
                "return the step's gathered output (step.outputs.X), or add a step that reads the task",
            )
        out[str(name)] = value
    return out
