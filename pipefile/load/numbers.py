"""Which text is a number: one rule for a Pipefile's plain scalars and for `-p` values.

PyYAML resolves scalars by YAML 1.1, where `1e-3` is a string (a float needs a dot and a
signed exponent), `010` is octal 8 and `1:30` is the integer 90. A Pipefile reads numbers
as YAML 1.2's core schema does, plus `_` between digits (`1_000`), which YAML 1.1 had and
people write:

- integers: `[-+]?[0-9][0-9_]*` (decimal, so `010` is 10), `0x1F`, `0o17`, `0b101`;
- floats: `1e-3`, `.5`, `5.`, `-2.5e+3`, `1_000.5`, `.inf`, `-.inf`, `.nan`;
- anything else is not a number (`1:30` is text).

Booleans (`yes`, `no`, `on`, `off`, `true`, `false`) and nulls stay as YAML 1.1 reads them:
the docs have promised that since the first version.
"""

from __future__ import annotations

import math
from typing import Optional, Union

from .. import lazyre

_DIGITS = r"[0-9][0-9_]*"
_INT_RE = lazyre.Pattern(rf"[-+]?(?:{_DIGITS}|0x[0-9a-fA-F][0-9a-fA-F_]*|0o[0-7][0-7_]*|0b[01][01_]*)")
_FLOAT_RE = lazyre.Pattern(
    rf"[-+]?(?:\.{_DIGITS}|{_DIGITS}(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"
)

INT = "int"
FLOAT = "float"
# An integer written with more characters is not one pipe reads: past what a float holds, and
# int() refuses 4300 digits (a ValueError, not "not a number").
MAX_INT_CHARS = 64


def kind(text: str) -> Optional[str]:
    """INT or FLOAT when `text` is a number as a Pipefile reads it, else None."""
    if _INT_RE.fullmatch(text):
        return INT
    if _FLOAT_RE.fullmatch(text):
        return FLOAT
    return None


def yaml_int_text(text: str) -> str:
    """`text` (an INT) written so that PyYAML's int constructor reads the value YAML 1.2
    means: it takes a leading 0 for octal, so decimal leading zeros go (`010` -> `10`)."""
    sign = text[0] if text[0] in "+-" else ""
    body = text[len(sign) :].replace("_", "")
    if body[:2].lower() in ("0x", "0o", "0b"):
        return sign + body
    return sign + (body.lstrip("0") or "0")


def parse(text: str) -> Union[int, float, None]:
    """The number `text` spells (int or float), or None; surrounding spaces are allowed."""
    t = text.strip()
    k = kind(t)
    if k is None:
        return None
    if k == INT:
        if len(t) > MAX_INT_CHARS:
            return None
        t = yaml_int_text(t)
        sign = -1 if t[0] == "-" else 1
        body = t.lstrip("+-")
        base = {"0x": 16, "0o": 8, "0b": 2}.get(body[:2].lower(), 10)
        return sign * int(body[2:] if base != 10 else body, base)
    low = t.replace("_", "").lower()
    if low.lstrip("+-") == ".inf":
        return -math.inf if low[0] == "-" else math.inf
    if low == ".nan":
        return math.nan
    return float(low)


def looks_numeric(text: str) -> bool:
    """True for text that a reader would take for a number (`1.0`, `1e-3`, `42`)."""
    return kind(text.strip()) is not None and text.strip().lower() not in (".nan",)
