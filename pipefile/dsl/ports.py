"""Typed data of the DSL: `Input` and `Output` (as azure.ai.ml writes them), and what a
Python annotation or a literal says about a port's type."""

from __future__ import annotations

import typing
from typing import Any, Optional

from .. import spec
from .where import DslError, Place, caller

_PY_TYPES = {bool: spec.BOOLEAN, int: spec.INTEGER, float: spec.NUMBER, str: spec.STRING}
_NO_DEFAULT = spec.MISSING


class Input:
    """A data or value input: `Input(type="uri_file", path="data/x.csv")` binds a file (in a
    call, or as a pipeline's argument); in a component's `inputs` it declares the port
    (`path`/`default`: its default, `optional`: it may be left without a value)."""

    def __init__(
        self,
        type: str = spec.URI_FOLDER,  # noqa: A002 - azure.ai.ml's name
        path: Optional[str] = None,
        default: Any = _NO_DEFAULT,
        optional: bool = False,
        description: str = "",
        enum: Optional[Any] = None,
    ):
        self.place: Place = caller()
        if type not in spec.INPUT_TYPES:
            raise DslError(
                f"Input: unknown type {type!r}",
                self.place,
                f"use one of {', '.join(spec.INPUT_TYPES)}",
            )
        if path is not None and type not in spec.PATH_TYPES:
            raise DslError(f"Input: a {type} input has no path", self.place, "give default=VALUE instead")
        self.type = type
        self.path = path
        self.default = path if path is not None else default
        self.optional = bool(optional)
        self.description = description
        self.enum = _enum(enum, type, self.default, self.place)

    def __repr__(self) -> str:
        return f"Input(type={self.type!r}, path={self.path!r})"


def _enum(enum: Any, typ: str, default: Any, place: Place) -> tuple:
    """An Input's `enum=`, checked here (at the Input's line) as a Pipefile's `enum:` is read."""
    if enum is None:
        return ()
    if typ not in spec.VALUE_TYPES:
        raise DslError(f"Input: a {typ} input (a path) takes no enum", place, 'remove enum=, or make it type="string"')
    if not isinstance(enum, (list, tuple)) or not enum:
        raise DslError(
            f"Input: enum must be a non-empty list of values, not {enum!r}", place, 'e.g. enum=["ridge", "lasso"]'
        )
    out: list = []
    for v in enum:
        if not spec.value_fits(v, typ):
            raise DslError(
                f"Input: enum holds {v!r}, which is not {a_type(typ)}", place, "give only values of its type"
            )
        v = float(v) if typ == spec.NUMBER else v
        if v in out:
            raise DslError(f"Input: enum holds {v!r} twice", place, "remove the repeated value")
        out.append(v)
    if default is not _NO_DEFAULT and default is not None and default not in out:
        raise DslError(
            f"Input: the default {default!r} is not one of its enum values",
            place,
            f"give a default from {out}, or add {default!r} to enum",
        )
    return tuple(out)


class Output:
    """A data output: `Output(type="uri_folder")`; `path=` says where it is written (a
    workspace path; default `build/STEP/NAME`)."""

    def __init__(self, type: str = spec.URI_FOLDER, path: Optional[str] = None, description: str = ""):  # noqa: A002
        self.place: Place = caller()
        if type not in spec.OUTPUT_TYPES:
            raise DslError(f"Output: unknown type {type!r}", self.place, f"use one of {', '.join(spec.OUTPUT_TYPES)}")
        self.type = type
        self.path = path
        self.description = description

    def __repr__(self) -> str:
        return f"Output(type={self.type!r}, path={self.path!r})"


class InputPort:
    """A component's declared input."""

    def __init__(
        self,
        name: str,
        type: str,  # noqa: A002
        default: Any = _NO_DEFAULT,
        optional: bool = False,
        description="",
        enum: tuple = (),
    ):
        self.name = name
        self.type = type
        self.default = default
        self.optional = optional
        self.description = description
        self.enum = tuple(enum)

    @property
    def required(self) -> bool:
        return self.default is _NO_DEFAULT and not self.optional

    def declaration(self) -> Any:
        """Its Pipefile form: `TYPE`, or `{type, default, optional, description, enum}`."""
        if self.default is _NO_DEFAULT and not self.optional and not self.description and not self.enum:
            return self.type
        out: dict = {"type": self.type}
        if self.default is not _NO_DEFAULT and self.default is not None:
            out["default"] = self.default
        if self.optional:
            out["optional"] = True
        if self.description:
            out["description"] = self.description
        if self.enum:
            out["enum"] = list(self.enum)
        return out


def type_of_annotation(annotation: Any) -> tuple[Optional[str], bool, Any]:
    """(type, optional, Input/Output instance or class or None) an annotation says; type None
    when it says nothing pipe knows."""
    optional = False
    origin = typing.get_origin(annotation)
    if origin is typing.Union or type(annotation).__name__ == "UnionType":
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        annotation = args[0] if len(args) == 1 else None
    if annotation in _PY_TYPES:
        return _PY_TYPES[annotation], optional, None
    if annotation is Input:
        return spec.URI_FOLDER, optional, Input
    if annotation is Output:
        return spec.URI_FOLDER, optional, Output
    if isinstance(annotation, (Input, Output)):
        return annotation.type, optional or getattr(annotation, "optional", False), annotation
    return None, optional, None


def type_of_value(value: Any) -> Optional[str]:
    """The type of a literal: bool, int, float or str; None for anything else."""
    for py, t in _PY_TYPES.items():
        if type(value) is py:
            return t
    return None


def fits(value: Any, typ: str) -> bool:
    """Whether a literal may be given to an input or param of type `typ`."""
    return spec.value_fits(value, typ) if typ in spec.VALUE_TYPES else isinstance(value, str)


def a_type(typ: str) -> str:
    return {
        spec.NUMBER: "a number",
        spec.INTEGER: "an integer",
        spec.STRING: "a string",
        spec.BOOLEAN: "a boolean",
        spec.URI_FILE: "a file (uri_file)",
        spec.URI_FOLDER: "a folder (uri_folder)",
    }.get(typ, typ)
