"""Components of the DSL: `command()` (a command with typed ports, as azure.ai.ml's builder),
`command_component` (a typed Python function whose body is the step) and `load_component`
(a Pipefile's component, a component YAML file, or a std component).

Each is what a Pipefile's `components:` entry (or `std/NAME@MAJOR`) is; calling one inside a
`@pipeline` function adds a step (`building.add_node`)."""

from __future__ import annotations

import inspect
import os
import typing
from typing import Any, Optional

from .. import spec
from ..errors import did_you_mean
from . import building, imports
from .ports import Input, InputPort, Output, a_type, type_of_annotation, type_of_value
from .where import DslError, Place, caller, definition, inside

RUNNER = "python -m pipefile.dsl.run"  # the module that runs a command_component's function


class OutputPort:
    """A component's declared output (`path`: where its steps write it unless they say)."""

    def __init__(self, name: str, type: Optional[str], path: Optional[str] = None, description: str = ""):  # noqa: A002
        self.name = name
        self.type = type
        self.path = path
        self.description = description

    def declaration(self) -> Any:
        if not self.description:
            return self.type
        out: dict = {"type": self.type} if self.type else {}
        out["description"] = self.description
        return out


class Component:
    """What every DSL component has: a name, typed ports, where it was made; calling it in a
    `@pipeline` function adds a step."""

    name: str
    inputs: dict
    outputs: dict
    place: Place

    @property
    def ref(self) -> str:
        """What a step's `component:` says."""
        return self.name

    def body(self, root: str) -> Optional[dict]:
        """Its `components:` entry (None: it needs none, a std component)."""
        raise NotImplementedError

    def environments(self, root: str) -> dict:
        """Environments it declares itself: name -> the Pipefile's environment mapping."""
        return {}

    def __call__(self, *args, **bindings):
        if args:
            raise DslError(
                f"component '{self.name}' takes its inputs by name, not by position",
                hint=f"write {self.name}({', '.join(f'{n}=...' for n in list(self.inputs)[:3])})",
            )
        return building.add_node(self, bindings, caller())

    def __repr__(self) -> str:
        return f"<pipefile.dsl component {self.ref}>"


def _input_port(name: str, value: Any, what: str, place: Place) -> InputPort:
    if isinstance(value, Input):
        return InputPort(name, value.type, value.default, value.optional, value.description, value.enum)
    if isinstance(value, str) and value in spec.INPUT_TYPES:
        return InputPort(name, value)
    if value in (bool, int, float, str):
        return InputPort(name, type_of_annotation(value)[0])
    typ = type_of_value(value)
    if typ is not None and typ != spec.STRING:
        return InputPort(name, typ, value)
    raise DslError(
        f"input '{name}' of {what}: {value!r} is not a type or an Input",
        place,
        f"declare it as a type name ({', '.join(spec.INPUT_TYPES)}), int/float/str/bool, a default number, "
        'or dsl.Input(type="string", default="...")',
    )


def _output_port(name: str, value: Any, what: str, place: Place) -> OutputPort:
    if isinstance(value, Output):
        return OutputPort(name, value.type, value.path, value.description)
    if value is None or (isinstance(value, str) and value in spec.OUTPUT_TYPES):
        return OutputPort(name, value)
    raise DslError(
        f"output '{name}' of {what}: {value!r} is not an output type or an Output",
        place,
        'write "uri_file", "uri_folder" or dsl.Output(type=..., path=...)',
    )


def _names(ports: Any, what: str, place: Place) -> dict:
    if ports is None:
        return {}
    if not isinstance(ports, dict):
        raise DslError(f"{what} must be a dict of name -> declaration, not {type(ports).__name__}", place)
    return ports


def _environment(env: Any, owner: str, place: Place) -> tuple[str, Optional[dict]]:
    """(the name a component's `environment:` says, its inline definition or None)."""
    if env is None or env == "local":
        return "", None
    if isinstance(env, str):
        return env, None
    if isinstance(env, dict):
        body = dict(env)
        name = str(body.pop("name", owner))
        return name, body
    raise DslError(
        f"environment of component '{owner}' must be a name or a dict, not {type(env).__name__}",
        place,
        'e.g. environment={"type": "venv", "requirements": "envs/train.txt"} (see docs/environments.md)',
    )


class _Declared(Component):
    """What command() and command_component share: extra code, environment, resources."""

    def _common(self, code, environment, description, resources, metrics, place) -> None:
        self.place = place
        self.description = description or ""
        self.code = [code] if isinstance(code, str) else list(code or [])
        self.env_name, self.env_body = _environment(environment, self.name, place)
        self.resources = dict(resources or {})
        self.metrics = [metrics] if isinstance(metrics, str) else list(metrics or [])
        for m in self.metrics:
            if m not in self.outputs:
                raise DslError(
                    f"metrics of component '{self.name}': it has no output '{m}'",
                    place,
                    did_you_mean(m, self.outputs, "output"),
                )

    def _body(self, command: str, code: list) -> dict:
        out: dict = {}
        if self.description:
            out["description"] = self.description
        if self.inputs:
            out["inputs"] = {n: p.declaration() for n, p in self.inputs.items()}
        if self.outputs:
            out["outputs"] = {n: p.declaration() for n, p in self.outputs.items()}
        if code:
            out["code"] = code
        if self.resources:
            out["resources"] = self.resources
        if self.env_name:
            out["environment"] = self.env_name
        if self.metrics:
            out["metrics"] = self.metrics
        out["command"] = command
        return out

    def environments(self, root: str) -> dict:
        return {self.env_name: self.env_body} if self.env_body is not None else {}


class CommandComponent(_Declared):
    """`command(...)`: a component with the fields of a Pipefile component."""

    def __init__(self, name, command, inputs, outputs, code, environment, description, resources, metrics, place):
        self.name = name
        what = f"component '{name}'"
        if not isinstance(command, (str, list, tuple)) or not command:
            raise DslError(f"{what} has no command", place, 'give command="python src/x.py ${{inputs.data}} ..."')
        self.command = command if isinstance(command, str) else list(command)
        self.inputs = {n: _input_port(n, v, what, place) for n, v in _names(inputs, "inputs", place).items()}
        self.outputs = {n: _output_port(n, v, what, place) for n, v in _names(outputs, "outputs", place).items()}
        self._common(code, environment, description, resources, metrics, place)

    def body(self, root: str) -> dict:
        return self._body(self.command, self.code)


def command(
    name: str,
    command: Any,  # noqa: A002 - azure.ai.ml's name
    inputs: Optional[dict] = None,
    outputs: Optional[dict] = None,
    code: Any = None,
    environment: Any = None,
    description: str = "",
    resources: Optional[dict] = None,
    metrics: Any = None,
    display_name: str = "",
) -> CommandComponent:
    """A component from a command template (`${{inputs.X}}`, `${{outputs.Y}}`), typed ports,
    `code` (workspace paths in its steps' keys) and an environment (a name of the pipeline's
    `environments`, or a dict defining one)."""
    place = caller()
    if not isinstance(name, str) or not name:
        raise DslError("command() needs name=", place, 'e.g. dsl.command(name="prep", command=...)')
    return CommandComponent(
        name, command, inputs, outputs, code, environment, description or display_name, resources, metrics, place
    )


class FunctionComponent(_Declared):
    """`@command_component`: the function's typed parameters are its ports; its body runs as
    the step (`python -m pipefile.dsl.run FILE:FUNCTION --NAME VALUE ...`), and the function's
    file is in the step's key."""

    def __init__(self, func, name, description, environment, code, resources, metrics):
        self.func = func
        self.name = name or func.__name__
        self.file = os.path.abspath(inspect.getsourcefile(func) or func.__code__.co_filename)
        self._imported: Optional[tuple] = None  # (root, its imports' paths): found once per root
        place = definition(func)
        what = f"command_component '{self.name}'"
        if "<locals>" in func.__qualname__:
            raise DslError(
                f"{what}: {func.__qualname__} is defined inside a function",
                place,
                "define it at the top level of its module, where its step can import it",
            )
        self.inputs, self.outputs = {}, {}
        try:
            hints = typing.get_type_hints(func)
        except Exception as e:  # noqa: BLE001 - an annotation of the user's that does not evaluate
            raise DslError(f"{what}: its annotations cannot be read: {e}", place) from None
        for p in inspect.signature(func).parameters.values():
            self._port(p, hints.get(p.name, inspect.Parameter.empty), what, place)
        self._common(
            code, environment, description or (inspect.getdoc(func) or "").split("\n")[0], resources, metrics, place
        )

    def _port(self, p: inspect.Parameter, hint: Any, what: str, place: Place) -> None:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise DslError(f"{what}: {p} cannot be a port", place, "name each input and output")
        default = p.default
        typ, optional, marker = type_of_annotation(hint) if hint is not inspect.Parameter.empty else (None, False, None)
        if isinstance(default, (Input, Output)):
            marker, typ = default, default.type
            default = default.default if isinstance(default, Input) else inspect.Parameter.empty
        elif isinstance(marker, Input) and default is inspect.Parameter.empty and marker.default is not spec.MISSING:
            default = marker.default  # `x: dsl.Input(type="integer", default=3)`: its default, as in command()
        if default is spec.MISSING:
            default = inspect.Parameter.empty
        if marker is Output or isinstance(marker, Output):
            self.outputs[p.name] = OutputPort(p.name, typ, getattr(marker, "path", None))
            return
        if typ is None and default is not inspect.Parameter.empty and default is not None:
            typ = type_of_value(default)
        if typ is None:
            raise DslError(
                f"{what}: parameter '{p.name}' has no type",
                place,
                f"annotate it: {p.name}: int | float | str | bool, dsl.Input(type=...) or dsl.Output(type=...)",
            )
        if default is None:
            optional, default = True, inspect.Parameter.empty
        if default is not inspect.Parameter.empty and typ in spec.VALUE_TYPES and not spec.value_fits(default, typ):
            raise DslError(f"{what}: the default of '{p.name}' is {default!r}, not {a_type(typ)}", place)
        value = spec.MISSING if default is inspect.Parameter.empty else default
        enum = marker.enum if isinstance(marker, Input) else ()
        if enum and value is not spec.MISSING and value not in enum:
            raise DslError(
                f"{what}: the default of '{p.name}' is {value!r}, not one of its enum values",
                place,
                f"give a default from {list(enum)}, or add {value!r} to the Input's enum",
            )
        self.inputs[p.name] = InputPort(p.name, typ, value, optional, enum=enum)

    def module_path(self, root: str) -> str:
        return inside(
            self.file,
            root,
            f"command_component '{self.name}' is defined in {self.file}, outside the workspace {root}",
            self.place,
            "move its module into the pipeline's folder (its file is part of the step's key)",
        )

    def imported(self, root: str) -> list:
        """The workspace modules its module imports (dsl/imports.py), relative to `root`:
        in its step's key beside the module, so an edit of a helper reruns the step."""
        if self._imported is None or self._imported[0] != root:
            try:
                found = imports.workspace_imports(self.file, root)
            except imports.TooManyModules as e:
                raise DslError(
                    f"command_component '{self.name}': {e.message}",
                    self.place,
                    "define the function in a module that imports less of the workspace",
                ) from None
            self._imported = (root, [os.path.relpath(f, root).replace(os.sep, "/") for f in found])
        return self._imported[1]

    def body(self, root: str) -> dict:
        module = self.module_path(root)
        words = [RUNNER, f"{module}:{self.func.__qualname__}"]
        for n, p in self.inputs.items():
            arg = f"--{n} ${{{{inputs.{n}}}}}"
            words.append(f"$[[{arg}]]" if p.optional and p.default is spec.MISSING else arg)
        words += [f"--{n} ${{{{outputs.{n}}}}}" for n in self.outputs]
        code = [module] + [f for f in self.imported(root) if f not in self.code] + self.code
        return self._body(" ".join(words), code)


def command_component(
    func=None,
    *,
    name: Optional[str] = None,
    description: str = "",
    environment: Any = None,
    code: Any = None,
    resources: Optional[dict] = None,
    metrics: Any = None,
    display_name: str = "",
):
    """`@command_component` (or with options): the function becomes a component whose step
    runs it; its parameters typed int/float/str/bool or dsl.Input are inputs, dsl.Output ones
    outputs (the function receives their paths)."""

    def make(f):
        return FunctionComponent(f, name, description or display_name, environment, code, resources, metrics)

    return make(func) if func is not None else make
