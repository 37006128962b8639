"""Values written as YAML text that reads back as the same value and type.

A value is written plain where that reads back the same (checked by reading it, with the
loader's own YAML: numbers as load/numbers.py says), and quoted otherwise, in the quote the
file uses most: a string that looks like a number, a bool or a date stays a string.
"""

from __future__ import annotations

import math
from typing import Any

from ..load import yamlsafe


def canon(value: Any) -> Any:
    """A form of loaded data where equal means the same value of the same type (1, 1.0 and
    True differ; nan equals nan)."""
    if isinstance(value, dict):
        # a mapping means the same in any order (a new section goes where it reads best)
        return ("map", tuple(sorted(((canon(k), canon(v)) for k, v in value.items()), key=repr)))
    if isinstance(value, list):
        return ("seq", tuple(canon(v) for v in value))
    if isinstance(value, float):
        return ("float", "nan" if math.isnan(value) else repr(value))
    return (type(value).__name__, value)


def same(a: Any, b: Any) -> bool:
    """`canon(a) == canon(b)`, without building the canonical forms of a whole Pipefile:
    values whose repr is the same are the same (repr tells 1, 1.0 and True apart, and
    writes nan as nan); only mappings whose reprs differ (another key order, a change inside)
    are compared key by key."""
    if repr(a) == repr(b):
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        if a.keys() != b.keys():
            return False
        if not all(type(k) is str for k in a) or not all(type(k) is str for k in b):
            return canon(a) == canon(b)  # (1 and True are one dict key: compare them as canon does)
        return all(same(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return canon(a) == canon(b)


def unshared(value: Any) -> Any:
    """A copy with no shared parts (an alias loads as the same object as its anchor; an
    intended change must touch one place only)."""
    if isinstance(value, dict):
        return {k: unshared(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unshared(v) for v in value]
    return value


def reads_as(text: str, flow: bool) -> Any:
    """What `text` means as a mapping's value (in a flow mapping with `flow`); a sentinel
    when it does not parse."""
    doc = "{k: " + text + "}\n" if flow else "k: " + text + "\n"
    try:
        data = yamlsafe.load(doc, "<value>", numbers=True)
    except Exception:  # any parse failure means: not this way
        return _NOT
    return data.get("k", _NOT) if isinstance(data, dict) and len(data) == 1 else _NOT


_NOT = object()


def scalar(value: Any, flow: bool = False, quote: str = '"') -> str:
    """`value` (str, int, float, bool, None) as one line of YAML."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        return repr(value)
    if isinstance(value, str):
        if value and value.isprintable() and value == value.strip():
            got = reads_as(value, flow)
            if got is not _NOT and canon(got) == canon(value):
                return value
        return quoted(value, quote)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(scalar(v, True, quote) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key(k)}: {scalar(v, True, quote)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write a {type(value).__name__} in a Pipefile")


def quoted(value: str, quote: str = '"') -> str:
    if quote == "'" and value.isprintable():
        return "'" + value.replace("'", "''") + "'"
    return '"' + "".join(_escape(c) for c in value) + '"'


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0"}


def _escape(c: str) -> str:
    """One character inside double quotes: printable ones as they are (non-ASCII too); the
    rest, and what YAML reads as a line break (NEL, U+2028, U+2029), escaped."""
    if c in _ESCAPES:
        return _ESCAPES[c]
    if c.isprintable() and c not in "\x85\u2028\u2029\ufeff":
        return c
    n = ord(c)
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}"


# YAML reads a key written without `? ` only up to 1024 characters (PyYAML's simple key):
# a longer one would not read back, so it is refused by name.
MAX_KEY = 1000


def key(name: str) -> str:
    """A mapping key (names are plain words; anything else is quoted)."""
    text = scalar(name, flow=True)
    if len(text) > MAX_KEY:
        from .errors import EditError

        raise EditError(
            f"the name '{str(name)[:40]}...' is {len(str(name))} characters long, longer than a Pipefile key can be",
            hint=f"use a name of at most {MAX_KEY} characters",
        )
    return text


def block(mapping: dict, indent: int, unit: int, quote: str, binding_quote: str) -> list:
    """Lines of a block mapping at `indent` spaces; nested mappings one `unit` deeper."""
    lines = []
    pad = " " * indent
    for k, v in mapping.items():
        if isinstance(v, dict) and v:
            lines.append(f"{pad}{key(k)}:")
            lines += block(v, indent + unit, unit, quote, binding_quote)
        else:
            lines.append(f"{pad}{key(k)}: {value_text(v, False, quote, binding_quote)}")
    return lines


def value_text(value: Any, flow: bool, quote: str, binding_quote: str) -> str:
    """A value where it sits; a `${{...}}` binding in the file's own way of writing them."""
    if isinstance(value, str) and value.startswith("${{") and value.endswith("}}"):
        style = binding_quote if (binding_quote or flow) else ""
        if flow and not style:
            style = quote
        if style:
            return quoted(value, style)
    return scalar(value, flow, quote)
