"""`dataclass`, with the class's methods generated on first use instead of at import.

`dataclasses.dataclass` writes `__init__`, `__repr__`, `__eq__`, `__hash__` and (frozen) the
`__setattr__`/`__delattr__` guards as source text and `exec`s them: about 0.5 ms a class, paid
at import by every command. A no-op `pipe run` restores its spec and graph from the spec cache
by pickle, which calls none of them, so most classes are never processed at all.

`dataclass(...)` here leaves stand-ins for those names on the class; the first time any of them
is used (an instance made, printed, compared, hashed or set; `dataclasses.fields`, `replace`,
`asdict` or `is_dataclass` asked about it), the stand-ins are removed and the real
`dataclasses.dataclass` processes the very same class in place, so afterwards it is exactly
what the decorator would have made at import. Options that make dataclass return a new class
(`slots=True`) are refused: the class object handed out must be the final one.

Two more start-up costs are put off the same way. Of the methods dataclass writes when a class is
processed, only `__init__` is compiled then (what a run mostly calls); `__repr__`, `__eq__`,
`__hash__` and a frozen class's `__setattr__`/`__delattr__` are compiled, from the same source,
the first time each is called (a no-op run processes ~20 classes: compiling ~80 small functions
was about 60% of it). And `dataclasses` imports `inspect` (with `ast`, `dis`, `tokenize`: ~8 ms)
only to write a class's doc, which this module makes itself when it is read.
"""

from __future__ import annotations

import sys
import threading
import types
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar, overload

if TYPE_CHECKING:  # so that type checkers read the decorated classes as dataclasses
    from typing_extensions import dataclass_transform
else:

    def dataclass_transform(**_: Any) -> Callable[[Any], Any]:
        return lambda f: f


class _InspectLater(types.ModuleType):
    """What `dataclasses` finds as `inspect` while it is imported here: the real module, imported
    on first use (dataclasses reads it only for a class's doc: `_LazyDoc` below does that)."""

    def __getattr__(self, name: str) -> Any:
        if sys.modules.get("inspect") is self:
            del sys.modules["inspect"]
        import inspect

        return getattr(inspect, name)


if "dataclasses" in sys.modules or "inspect" in sys.modules:
    import dataclasses
else:
    sys.modules["inspect"] = _InspectLater("inspect")
    try:
        import dataclasses
    finally:
        if isinstance(sys.modules.get("inspect"), _InspectLater):
            del sys.modules["inspect"]  # (a later `import inspect` gets the real one)

T = TypeVar("T", bound=type)

# Attributes dataclass adds to a class. The methods are stand-ins that process the class and call
# the real method; the two class attributes are descriptors that do the same on lookup.
_METHODS = ("__init__", "__repr__", "__eq__", "__hash__", "__setattr__", "__delattr__")
_ATTRS = ("__dataclass_fields__", "__dataclass_params__", "__match_args__")
# One lock for every class: processing a class may process its dataclass bases (re-entrant).
_LOCK = threading.RLock()


class _LazyDoc:
    """The `__doc__` dataclass writes for a class without one (its name and the signature of
    `__init__`), made when first read: `inspect.signature` is most of the cost of processing
    a class, and nothing on a run's path reads a class's doc. Set when the class is declared,
    so the doc is dataclass's even when read before any other use. (A class's `__doc__` in its own
    dict may be a descriptor: `type` calls it, for the class and for its instances.)"""

    def __init__(self, cls: type) -> None:
        self.cls = cls

    def __get__(self, obj: object, owner: type | None = None) -> str:
        cls = self.cls
        _process(cls)  # (read before first use: the signature is the generated __init__'s)
        import inspect

        try:  # what dataclasses._process_class writes, in the same words
            text_sig = str(inspect.signature(cls)).replace(" -> None", "")
        except (TypeError, ValueError):
            text_sig = ""
        doc = cls.__name__ + text_sig
        if cls.__dict__.get("__doc__") is self:
            cls.__doc__ = doc
        return doc


class _Pending:
    """A class attribute that processes the class when it is looked up, then gives the real value."""

    def __init__(self, cls: type, name: str) -> None:
        self.cls, self.name = cls, name

    def __get__(self, obj: object, owner: type | None = None) -> Any:
        _process(self.cls)
        return getattr(obj if obj is not None else owner, self.name)


def _process(cls: type) -> None:
    """Make `cls` what `dataclasses.dataclass` would have made of it, without a moment in which
    another thread could find a method missing: the real dataclass processes a copy of the class
    (its own namespace without the stand-ins), and what it added is then set on `cls` name by
    name, each assignment replacing a stand-in at once. (Deleting the stand-ins first and
    processing `cls` itself left a window where `cls(...)` found object.__init__.)"""
    with _LOCK:
        options = cls.__dict__.get("_lazyclass_options")
        if options is None:  # done already (or by another thread while this one waited)
            return
        own = {}
        for name, value in cls.__dict__.items():
            if name in ("__dict__", "__weakref__", "_lazyclass_options"):
                continue
            if getattr(value, "_lazyclass_of", None) is cls or isinstance(value, _Pending):
                continue
            own[name] = value
        if isinstance(own.get("__doc__"), _LazyDoc):  # dataclass writes no doc for a class that has one
            own["__doc__"] = "-"
        copy = type(cls.__name__, cls.__bases__, own)
        copy.__qualname__ = cls.__qualname__
        if _real_create_fn is None:  # (Python 3.13 compiles a class's methods in one go)
            dataclasses.dataclass(copy, **options)
        else:
            global _processing
            # (a base processed while this class is: its finally puts back what was there, the
            # stand-in, not the real one, or this class's methods would all be made at once)
            before = dataclasses._create_fn  # type: ignore[attr-defined]
            dataclasses._create_fn = _create_fn_later  # type: ignore[attr-defined]
            # (processing it may process a base first; another thread's own dataclass, made
            # meanwhile, finds the stand-in _create_fn too, and must not be judged as this one)
            outer, _processing = _processing, (threading.get_ident(), copy)
            try:
                dataclasses.dataclass(copy, **options)
            finally:
                dataclasses._create_fn = before  # type: ignore[attr-defined]
                _processing = outer
        for name, value in copy.__dict__.items():
            if name in ("__dict__", "__weakref__") or (name in own and own[name] is value):
                continue
            _point_at(value, copy, cls)
            setattr(cls, name, value)
        for name in (*_METHODS, *_ATTRS):  # stand-ins dataclass had nothing for (e.g. no __match_args__)
            value = cls.__dict__.get(name)
            if getattr(value, "_lazyclass_of", None) is cls or isinstance(value, _Pending):
                delattr(cls, name)
        del cls._lazyclass_options  # type: ignore[attr-defined]


_real_create_fn = getattr(dataclasses, "_create_fn", None)
_processing: Optional[tuple] = None  # (thread, class) `_process` has dataclass process (under _LOCK)


def _create_fn_later(name: str, args: Any, body: Any, **kw: Any) -> Any:
    """dataclasses._create_fn while `_process` runs: `__init__` compiled now, any other method
    when first called (then put on the class in place of this stand-in)."""
    assert _real_create_fn is not None
    if name == "__init__":
        now = _processing
        cls = now[1] if now is not None and now[0] == threading.get_ident() else None
        return _real_create_fn(name, args, _frozen_init_body(body, cls), **kw)
    real = None

    def method(self: Any, *a: Any, **k: Any) -> Any:
        nonlocal real
        if real is None:
            made = _real_create_fn(name, args, body, **kw)
            made.__qualname__ = method.__qualname__  # (dataclass named the stand-in)
            for klass in type(self).__mro__:  # (a __repr__ is wrapped: that one stays the way in)
                if klass.__dict__.get(name) is method:
                    setattr(klass, name, made)
                    break
            real = made
        return real(self, *a, **k)

    method.__name__ = name
    method._lazyclass_locals = kw.get("locals")  # type: ignore[attr-defined]
    return method


_FROZEN_SET = "__dataclass_builtins_object__.__setattr__("  # how a frozen class's __init__ sets a field
_DICT = "__dataclass_instance_dict__"


def _frozen_init_body(body: list, cls: Optional[type]) -> list:
    """The lines of a frozen class's `__init__`, each field written into the instance's
    `__dict__` rather than set with `object.__setattr__` (the class's own `__setattr__`
    refuses): the same effect where nothing can tell them apart (the instances have a
    `__dict__`, reached the usual way, and no field's name is a data descriptor of the class:
    a slot, a property), in about half the time. Loading a large Pipefile makes tens of
    thousands of frozen instances (locations, bindings, inputs). Any other body: as it is."""
    if cls is None or not cls.__dictoffset__ or cls.__getattribute__ is not object.__getattribute__:
        return body
    out = []
    self_name = None
    for line in body:
        if not (line.startswith(_FROZEN_SET) and line.endswith(")")):
            out.append(line)
            continue
        who, name_text, value = line[len(_FROZEN_SET) : -1].split(",", 2)
        name = name_text[1:-1]
        if (self_name or who) != who or name_text != repr(name) or not name.isidentifier() or name == _DICT:
            return body
        for klass in cls.__mro__:
            if name in klass.__dict__:
                held = type(klass.__dict__[name])
                if hasattr(held, "__set__") or hasattr(held, "__delete__"):
                    return body  # object.__setattr__ would call it
                break
        if self_name is None:
            self_name = who
            out.append(f"{_DICT}={who}.__dict__")
        out.append(f"{_DICT}[{name_text}]={value}")
    return out


def _point_at(value: Any, copy: type, cls: type) -> None:
    """The generated methods of a frozen class name their class (`type(self) is cls`,
    `super(cls, self)`) through a closure cell: make it the real class, not the copy. (A method
    not compiled yet holds the names it will close over: the same there.)"""
    func = getattr(value, "__func__", value)
    later: dict = getattr(func, "_lazyclass_locals", None) or {}
    for key, held in later.items():
        if held is copy:
            later[key] = cls
    for cell in getattr(func, "__closure__", None) or ():
        try:
            if cell.cell_contents is copy:
                cell.cell_contents = cls
        except ValueError:  # an empty cell
            pass


def _stand_in(cls: type, name: str) -> Callable[..., Any]:
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        _process(cls)
        real = getattr(cls, name)
        if real is None:  # __hash__ of a mutable dataclass with eq: unhashable, as Python says it
            raise TypeError(f"unhashable type: '{type(self).__name__}'")
        return real(self, *args, **kwargs)

    method.__name__ = method.__qualname__ = name
    method._lazyclass_of = cls  # type: ignore[attr-defined]
    return method


@overload
def dataclass(cls: T, /) -> T: ...


@overload
def dataclass(
    *,
    init: bool = True,
    repr: bool = True,
    eq: bool = True,
    order: bool = False,
    unsafe_hash: bool = False,
    frozen: bool = False,
    kw_only: bool = False,
) -> Callable[[T], T]: ...


@dataclass_transform(field_specifiers=(dataclasses.field, dataclasses.Field))
def dataclass(cls: Any = None, /, **options: Any) -> Any:
    """`@dataclass` or `@dataclass(frozen=True, ...)`, processed on first use (see the module's docstring)."""
    if options.get("slots"):
        raise TypeError("lazyclass.dataclass cannot make slots classes (dataclass returns a new class for them)")

    def wrap(cls: T) -> T:
        stand_ins = [name for name in _METHODS if name not in cls.__dict__]
        if cls.__dict__.get("__hash__", 0) is None and "__eq__" in cls.__dict__:
            # Python set __hash__ = None for the class's own __eq__; dataclass decides it anew.
            stand_ins.append("__hash__")
        for name in stand_ins:  # a method the class writes itself is kept by dataclass: only stand in for the rest
            setattr(cls, name, _stand_in(cls, name))
        for name in _ATTRS:
            setattr(cls, name, _Pending(cls, name))
        if not cls.__dict__.get("__doc__"):
            cls.__doc__ = _LazyDoc(cls)  # type: ignore[assignment]
        cls._lazyclass_options = options  # type: ignore[attr-defined]
        return cls

    return wrap if cls is None else wrap(cls)
