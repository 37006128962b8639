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
from .ports import Input, a_type, fits, type_of_annotation, type_of_value
from .where import DslError, Place, caller, definition

_building: list = []  # the pipelines being built (innermost last)


class ParamRef:
    """A pipeline param, inside the pipeline function: binds `${{params.NAME}}`."""

    def __init__(self, name: str, type: str):  # noqa: A002
        self.name, self.type = name, type

    def __repr__(self) -> str:
        return f"<param {self.name}>"


class AssetRef:
    """A pipeline data input (an asset), inside the pipeline function: binds `${{assets.NAME}}`."""

    def __init__(self, name: str, type: str):  # noqa: A002
        self.name, self.type = name, type

    def __repr__(self) -> str:
        return f"<asset {self.name}>"


class NodeOutput:
    """`node.outputs.X`: binds `${{steps.STEP.outputs.X}}` (`.path` sets where it is written)."""

    def __init__(self, node: Node, name: str, view: str = ""):
        self.node, self.name, self.view = node, name, view
        self.type = node.component.outputs[name].type

    @property
    def path(self) -> Optional[str]:
        return self.node.paths.get(self.name)

    @path.setter
    def path(self, value: str) -> None:
        self.node.set_path(self.name, value, caller())


class NodeOutputs:
    def __init__(self, node: Node, view: str = ""):
        object.__setattr__(self, "_node", node)
        object.__setattr__(self, "_view", view)

    def __getattr__(self, name: str) -> NodeOutput:
        if name.startswith("__"):
            raise AttributeError(name)
        node = self._node
        if name not in node.component.outputs:
            raise DslError(
                f"component '{node.component.name}' has no output '{name}'",
                caller(),
                did_you_mean(name, node.component.outputs, "output") or "it has no outputs",
            )
        return NodeOutput(node, name, self._view)

    __getitem__ = __getattr__

    def __setattr__(self, name: str, value: Any) -> None:
        self.__getattr__(name)  # (an unknown output is an error here too)
        path = getattr(value, "path", value)
        self._node.set_path(name, path, caller())

    def __iter__(self):
        return iter(self._node.component.outputs)


class Node:
    """A call of a component in a pipeline: one step (or, with an expansion, its tasks)."""

    def __init__(self, component, bindings: dict, place: Place):
        self.component = component
        self.bindings = bindings
        self.place = place
        self.name: Optional[str] = None  # set to name the step yourself
        self.paths: dict = {n: p.path for n, p in component.outputs.items() if p.path}
        self.expansion: Optional[tuple] = None  # (key, value, place)

    @property
    def outputs(self) -> NodeOutputs:
        return NodeOutputs(self)

    @property
    def best(self) -> _View:
        """The best trial of a sweep: `node.best.outputs.X`."""
        if self.expansion is None or self.expansion[0] != "sweep":
            raise DslError(f"`.best` of a call of '{self.component.name}' that has no .sweep(...)", caller())
        return _View(self, ".best")

    def task(self, label: str) -> _View:
        """One task of a matrix, sweep or foreach: `node.task("lr=0.1").outputs.X`."""
        if self.expansion is None:
            raise DslError(f"`.task()` of a call of '{self.component.name}' that has no matrix, sweep or foreach", caller())
        return _View(self, f"[{label}]")

    def set_path(self, output: str, path: Any, place: Place) -> None:
        if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
            raise DslError(f"the path of output '{output}' must be a workspace path, not {path!r}", place)
        self.paths[output] = os.fspath(path).replace(os.sep, "/")

    def _expand(self, key: str, value: Any, place: Place) -> Node:
        if self.expansion is not None:
            raise DslError(
                f"this call of '{self.component.name}' already has .{self.expansion[0]}(...)",
                place,
                "give one of matrix, sweep and foreach per call",
            )
        self.expansion = (key, value, place)
        return self

    def _axis(self, name: str, what: str, place: Place) -> None:
        if name not in self.component.inputs:
            raise DslError(
                f"{what} '{name}' is not an input of component '{self.component.name}'",
                place,
                did_you_mean(name, self.component.inputs, "input"),
            )
        if self.bindings.get(name) is not None:
            raise DslError(f"{what} '{name}' is also bound in the call", place, f"leave {name}= out of the call")

    def matrix(self, include: Optional[list] = None, exclude: Optional[list] = None, **axes) -> Node:
        """One task per combination of the axes' values: `train(...).matrix(lr=[0.01, 0.1])`."""
        place = caller()
        if not axes:
            raise DslError("matrix() needs at least one axis", place, "e.g. .matrix(lr=[0.01, 0.1])")
        for name, values in axes.items():
            self._axis(name, "matrix axis", place)
            if not isinstance(values, (list, tuple)) or not values:
                raise DslError(f"matrix axis '{name}' needs a non-empty list of values, not {values!r}", place)
            typ = self.component.inputs[name].type
            for v in values:
                if not fits(v, typ):
                    raise DslError(f"matrix axis '{name}': {v!r} is not {a_type(typ)}", place)
        value: dict = {n: list(v) for n, v in axes.items()}
        if include:
            value["include"] = list(include)
        if exclude:
            value["exclude"] = list(exclude)
        return self._expand("matrix", value, place)

    def sweep(
        self,
        space: Optional[dict] = None,
        *,
        search: str = "random",
        trials: Optional[int] = None,
        seed: Optional[int] = None,
        objective: Any = None,
        max_parallel: Optional[int] = None,
        **space_inputs,
    ) -> Node:
        """Trials of sampled inputs: `.sweep(lr=dsl.loguniform(1e-4, 0.1), trials=20,
        objective=("accuracy", "maximize"))`."""
        place = caller()
        space = {**(space or {}), **space_inputs}
        if not space:
            raise DslError("sweep() needs a space", place, "e.g. .sweep(lr=dsl.choice(0.01, 0.1), trials=2)")
        for name in space:
            self._axis(name, "sweep input", place)
        value: dict = {"search": search}
        if trials is not None:
            value["trials"] = trials
        if seed is not None:
            value["seed"] = seed
        if max_parallel is not None:
            value["max_parallel"] = max_parallel
        value["space"] = dict(space)
        if objective is not None:
            if isinstance(objective, (tuple, list)) and len(objective) == 2:
                objective = {"metric": objective[0], "goal": objective[1]}
            value["objective"] = objective
        return self._expand("sweep", value, place)

    def foreach(self, input: str, glob: Optional[str] = None) -> Node:  # noqa: A002
        """One task per entry of a folder input: `.foreach("images", glob="*.png")`."""
        place = caller()
        if input not in self.component.inputs:
            raise DslError(
                f"foreach: '{input}' is not an input of component '{self.component.name}'",
                place,
                did_you_mean(input, self.component.inputs, "input"),
            )
        over = f"${{{{inputs.{input}}}}}"
        return self._expand("foreach", {"over": over, "glob": glob} if glob else over, place)

    def __repr__(self) -> str:
        return f"<pipefile.dsl step {self.name or self.component.name}>"


class _View:
    """A node seen as one of its tasks, or as a sweep's best trial."""

    def __init__(self, node: Node, view: str):
        self.node, self.view = node, view

    @property
    def outputs(self) -> NodeOutputs:
        return NodeOutputs(self.node, self.view)


def add_node(component, bindings: dict, place: Place) -> Node:
    """A component called: in a pipeline function, a new step; elsewhere, an error."""
    if not _building:
        raise DslError(
            f"component '{component.name}' is called outside a @dsl.pipeline function",
            place,
            "call components inside a function decorated with @dsl.pipeline",
        )
    checked = {}
    for name, value in bindings.items():
        port = component.inputs.get(name)
        if port is None:
            raise DslError(
                f"component '{component.name}' has no input '{name}'",
                place,
                did_you_mean(name, component.inputs, "input") or "it has no inputs",
            )
        checked[name] = _checked(component, port, value, place)
    node = Node(component, checked, place)
    _building[-1].nodes.append(node)
    return node


def _checked(component, port, value: Any, place: Place) -> Any:
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
            raise DslError(
                f"{what} is {wants}, but output '{value.name}' of '{value.node.component.name}' is {a_type(value.type)}",
                place,
            )
        return value
    if isinstance(value, ParamRef):
        if is_path:
            raise DslError(f"{what} is {wants}: a param cannot feed a path input", place, "pass a dsl.Input, or a node's output")
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
    return value


class Pipeline:
    """A built pipeline: what `pipe run -f build.py` runs and `pipe export` writes."""

    def __init__(self, name: str, description: str, place: Place, environments: dict, keep_going: bool):
        self.name, self.description, self.place = name, description, place
        self.environments = environments
        self.keep_going = keep_going
        self.params: dict = {}  # name -> (type, default or MISSING)
        self.assets: dict = {}  # name -> (type, path)
        self.nodes: list = []

    def __pipefile_yaml__(self, root: str) -> tuple:
        """(the Pipefile text, the place in the user's code of each of its lines)."""
        from .document import document

        return document(self, root)


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

    def __call__(self, **given) -> Pipeline:
        place = caller()
        if _building:
            raise DslError(
                f"pipeline '{self.name}' is called inside another pipeline",
                place,
                "pipelines as components are not supported by the DSL yet: call its components directly",
            )
        p = Pipeline(self.name, self.description, definition(self.func), self.environments, self.keep_going)
        sig = inspect.signature(self.func)
        for name in given:
            if name not in sig.parameters:
                raise DslError(
                    f"pipeline '{self.name}' has no parameter '{name}'", place, did_you_mean(name, sig.parameters, "parameter")
                )
        try:
            hints = typing.get_type_hints(self.func)
        except Exception as e:  # noqa: BLE001 - the user's annotations
            raise DslError(f"pipeline '{self.name}': its annotations cannot be read: {e}", p.place) from None
        args = {}
        for param in sig.parameters.values():
            args[param.name] = self._parameter(p, param, hints.get(param.name), given, place)
        _building.append(p)
        captured: dict = {}
        code = self.func.__code__

        def watch(frame, event, arg):
            if event == "return" and frame.f_code is code:
                captured.update(frame.f_locals)

        old = sys.getprofile()
        sys.setprofile(watch)
        try:
            self.func(**args)
        finally:
            sys.setprofile(old)
            _building.pop()
        _name_nodes(p.nodes, captured)
        return p

    def _parameter(self, p: Pipeline, param: inspect.Parameter, hint: Any, given: dict, place: Place):
        where = p.place if param.name not in given else place
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise DslError(f"pipeline '{self.name}': *{param.name} cannot be a param", p.place, "name each param")
        value = given.get(param.name, param.default)
        typ, _, marker = type_of_annotation(hint) if hint is not None else (None, False, None)
        if isinstance(value, Input) or marker is Input or isinstance(marker, Input):
            path = value.path if isinstance(value, Input) else None
            if path is None:
                raise DslError(
                    f"pipeline input '{param.name}' has no path",
                    where,
                    f"give it one: {param.name}=dsl.Input(type=\"uri_file\", path=\"data/...\")",
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
        if typ == spec.NUMBER and value is not spec.MISSING:
            value = float(value)
        p.params[param.name] = (typ, value)
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


def choice(*values) -> dict:
    return {"choice": list(values[0]) if len(values) == 1 and isinstance(values[0], (list, tuple)) else list(values)}


def uniform(low: float, high: float) -> dict:
    return {"uniform": [low, high]}


def loguniform(low: float, high: float) -> dict:
    return {"loguniform": [low, high]}


def randint(low: int, high: int) -> dict:
    return {"randint": [low, high]}
