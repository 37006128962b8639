"""What a pipeline function handles: its params and data inputs (`ParamRef`, `AssetRef`), the
steps its component calls add (`Node`) and their outputs (`NodeOutput`); a call's matrix,
sweep or foreach, and the sampling helpers of a sweep's space (`choice`, `uniform` ...)."""

from __future__ import annotations

import os
from typing import Any, Optional

from ..errors import did_you_mean
from .ports import a_type, fits, type_of_value
from .where import DslError, Place, caller


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


class ParentParam(ParamRef):
    """A value input of a pipeline used as a component, inside it: `${{parent.inputs.NAME}}`."""


class ParentData(AssetRef):
    """A data input of a pipeline used as a component, inside it: `${{parent.inputs.NAME}}`."""


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
        self.path_places: dict = {}  # output -> where its path was set (its errors point there)
        self.expansion: Optional[tuple] = None  # (key, value, place)
        # input -> the DslError of a folder bound to a file input: raised once the pipeline
        # function returns, unless a .foreach() of that input maps over the folder's entries
        self.unless_mapped: dict = {}

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
            raise DslError(
                f"`.task()` of a call of '{self.component.name}' that has no matrix, sweep or foreach", caller()
            )
        return _View(self, f"[{label}]")

    def set_path(self, output: str, path: Any, place: Place) -> None:
        if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
            raise DslError(f"the path of output '{output}' must be a workspace path, not {path!r}", place)
        self.paths[output] = os.fspath(path).replace(os.sep, "/")
        self.path_places[output] = place

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
                if type_of_value(v) is None or not fits(v, typ):
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
        for name, sampled in space.items():
            self._axis(name, "sweep input", place)
            if not isinstance(sampled, dict):  # (the Pipefile's message asked for `{x0: 0.1}`: a YAML fix)
                values = ", ".join(map(repr, sampled)) if isinstance(sampled, (list, tuple)) else repr(sampled)
                raise DslError(
                    f"sweep input '{name}': {sampled!r} is not a search space",
                    place,
                    f"write {name}=dsl.choice({values}), or dsl.uniform(lo, hi), dsl.loguniform(lo, hi), "
                    "dsl.randint(lo, hi)",
                )
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
        self.unless_mapped.pop(input, None)
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


def choice(*values) -> dict:
    return {"choice": list(values[0]) if len(values) == 1 and isinstance(values[0], (list, tuple)) else list(values)}


def uniform(low: float, high: float) -> dict:
    return {"uniform": [low, high]}


def loguniform(low: float, high: float) -> dict:
    return {"loguniform": [low, high]}


def randint(low: int, high: int) -> dict:
    return {"randint": [low, high]}


def quniform(low: float, high: float, q: float) -> dict:
    return {"quniform": [low, high, q]}


def qloguniform(low: float, high: float, q: float) -> dict:
    return {"qloguniform": [low, high, q]}


def normal(mu: float, sigma: float) -> dict:
    return {"normal": [mu, sigma]}


def lognormal(mu: float, sigma: float) -> dict:
    return {"lognormal": [mu, sigma]}


def qnormal(mu: float, sigma: float, q: float) -> dict:
    return {"qnormal": [mu, sigma, q]}


def qlognormal(mu: float, sigma: float, q: float) -> dict:
    return {"qlognormal": [mu, sigma, q]}
