"""`apply_edits`: a list of edit operations applied to a Pipefile's text, each checked.

After each operation the new text is read back with the loader's own YAML reader
(load/yamlsafe.py) and compared with what the operation meant (the data before it, with
only the intended change): a text that reads back otherwise is never returned. The text is
edited with `\\n` line ends; a file written with `\\r\\n` gets them back, line by line.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections import Counter
from dataclasses import field
from typing import Any, Callable, Optional

from ..errors import PipefileError, SourceLoc
from ..lazyclass import dataclass
from ..load import numbers, yamlsafe
from ..load.document import gc_paused
from . import ops, parsed, render, steps
from .diff import unified_diff
from .editor import Editor
from .errors import BadValue, EditError

OPERATIONS: dict[str, Callable[[Editor, dict], None]] = {
    "set_param": ops.set_param,
    "set": ops.set_field,
    "add_step": steps.add_step,
    "connect": steps.connect,
    "disconnect": steps.disconnect,
    "bind_asset": steps.bind_asset,
    "promote": steps.promote,
    "delete_step": steps.delete_step,
    "rename_step": steps.rename_step,
}


@dataclass(frozen=True)
class Edited:
    text: str  # the new file text
    diff: str  # unified diff, a/PATH b/PATH; "" when nothing changed
    changed: bool
    # (the edited text with \n line ends, its YAML node tree) when the last read-back composed
    # it and the tree can stand for it: the designer's check loads the text from it, not
    # composing 10,000 steps again (`load.load_lenient(composed=...)`); else None
    composed: Optional[tuple] = field(default=None, compare=False, repr=False)


def apply_edits(text: str, operations: list, path: str = "Pipefile") -> Edited:
    """`operations` (edit operations as JSON objects) applied in order to `text`, the
    Pipefile at `path` (for messages): its bytes decoded as UTF-8 with line ends untranslated
    (`open(path, newline="")`), so that CRLF ends come back as they were. Raises EditError,
    naming the operation, for one that cannot be applied; nothing is half applied."""
    if not isinstance(operations, list):
        raise EditError("the operations must be a list", SourceLoc(path), 'send [{"op": ...}, ...]')
    if not operations:
        return Edited(text, "", False)
    _check_values(operations, path)
    # A large Pipefile's trees are hundreds of thousands of objects; the cyclic GC would walk
    # them over and over while they are built (quadratic time): paused as load/document.py
    # does (counted: the designer edits and loads on several threads).
    with gc_paused():
        return _apply_all(text, operations, path)


def prepare(text: str, path: str = "Pipefile") -> None:
    """Read `text` now as its first edit will (`parsed`: kept for it), so that the edit
    itself does not wait for it: the designer calls it when it shows a Pipefile. A text
    that cannot be edited is left to the edit to say so."""
    with gc_paused():
        try:
            lf = _unix(text)[1]
            _load(lf, path)
            parsed.tree(lf)
        except Exception:  # noqa: BLE001 (the edit reports it, located)
            pass


def _unix(text: str) -> tuple:
    """(BOM, the text without it and with \n line ends): what the parser's positions count."""
    lf = text.replace("\r\n", "\n").replace("\r", "\n")
    bom = "\ufeff" if lf.startswith("\ufeff") else ""  # kept, but not counted in the parser's positions
    return bom, lf[len(bom) :]


# Each operation reads the whole text back (its check), so a long list on a growing text is
# quadratic: 10,000 added steps would keep the server busy for half an hour. The bound is
# on what is read (about a minute on a slow machine); a draft the page grows applies only
# its new operations (parsed.PREFIXES), so it counts only those.
MAX_READ = 64_000_000


def _apply_all(text: str, operations: list, path: str) -> Edited:
    bom, lf = _unix(text)
    keys = _op_keys(operations)
    # a draft grows an operation at a time, each preview sending all of it: the longest
    # prefix applied before starts this one (each operation reads its text in full)
    done, current, data = parsed.PREFIXES.longest(lf, path, keys)
    composed = None  # (text, tree) of the last read-back
    if not done:
        data = _load(lf, path)
        current = lf
    read = 0  # characters read back so far: each operation reads the whole text
    for i, op in enumerate(operations):
        if i < done:
            continue
        name = op.get("op") if isinstance(op, dict) else None
        try:
            read += len(current)
            if read > MAX_READ:
                raise EditError(
                    f"{len(operations) - i} more operations are too much work for one request: each reads the "
                    f"whole Pipefile back ({len(current):,} characters now), past {MAX_READ:,} characters in all",
                    SourceLoc(path),
                    "send fewer operations at a time (save a part, then the rest on the saved file)",
                )
            if not isinstance(name, str) or name not in OPERATIONS:  # (a list is no key of it)
                raise EditError(
                    f"unknown operation {name!r}" if isinstance(op, dict) else "an operation must be an object",
                    SourceLoc(path),
                    "one of: " + ", ".join(OPERATIONS),
                )
            if _has_nul(op):
                raise EditError(
                    "a value holds a NUL character (\\0), which no Pipefile value can hold",
                    SourceLoc(path),
                    "remove the \\0 from the value",
                )
            current, data, tree = _apply_one(current, data, op, path)
            if tree is not None:
                composed = (current, tree)
        except EditError as e:
            if e.loc is None:
                e.loc = SourceLoc(path)
            raise e.at(i, str(name)) from None
    if keys is not None and len(operations) > done:
        parsed.PREFIXES.put(lf, path, keys, current, data)
    new = _newlines_back(text, bom + lf, bom + current)
    if composed is not None and (composed[0] != current or bom):
        composed = None  # (a later operation changed nothing: the tree is still the text's)
    return Edited(new, unified_diff(text, new, path), new != text, composed)


def _apply_one(text: str, data: Any, op: dict, path: str) -> tuple:
    """(new text, its data, its node tree or None). Written the file's way first; if that does
    not read back as meant, again the plain way (inline, quoted values); else a bug, refused."""
    for safe in (False, True):
        ed = Editor(text, data, path, safe)
        OPERATIONS[op["op"]](ed, op)
        new = ed.doc.applied()
        if new == text:
            return text, data, None
        known = parsed.known_data(new)  # this very text was read back before (a save of a preview)
        tree = None
        if known is not None:
            got = known[0]
        else:
            try:
                got, tree = yamlsafe.load_tree(new, path, numbers=True)
            except Exception:  # does not parse: the second way, or the refusal below
                continue
        if render.same(got, ed.data):
            parsed.remember_data(new, got)
            return new, got, tree
    raise EditError(
        f"the edit {op['op']!r} would not read back as intended, so it was not made (a bug of pipe's editor)",
        SourceLoc(path),
        "make this change by hand in the file, and report it with the file",
    )


def _op_keys(operations: list) -> Optional[tuple]:
    """Each operation as canonical JSON (what identifies it), or None when one is not JSON."""
    try:
        return tuple(json.dumps(op, sort_keys=True, allow_nan=True) for op in operations)
    except (TypeError, ValueError):
        return None


# A value nested deeper than the loader reads (yamlsafe.MAX_DEPTH, with room for where it
# is written) could not be saved anyway, and the walks of a value recurse.
_MAX_VALUE_DEPTH = yamlsafe.MAX_DEPTH - 10


def _check_values(operations: list, path: str) -> None:
    """Refuse an operation whose JSON is nested too deep (before anything walks it), holds
    text that cannot be written as UTF-8, or a number no Pipefile reads back as one."""
    todo = [(i, op, 0, "") for i, op in enumerate(operations)]
    while todo:
        i, value, depth, where = todo.pop()
        if depth > _MAX_VALUE_DEPTH:
            err = EditError(
                f"a value is nested more than {_MAX_VALUE_DEPTH} lists or mappings deep",
                SourceLoc(path),
                "a Pipefile's YAML is read to a depth of %d: give a flatter value" % yamlsafe.MAX_DEPTH,
            )
            raise err.at(i, _op_name(operations[i]))
        if isinstance(value, str) and not _utf8(value):
            raise EditError(
                "a value holds a lone surrogate (\\ud800 to \\udfff), which is no character of UTF-8 text",
                SourceLoc(path),
                "send text whose \\u escapes are whole characters (a pair for one past \\uffff)",
            ).at(i, _op_name(operations[i]))
        _check_number(value, where, path, i, operations)
        if isinstance(value, dict):
            todo += [(i, k, depth + 1, where) for k in value]
            todo += [(i, v, depth + 1, _field(where, k)) for k, v in value.items()]
        elif isinstance(value, list):
            todo += [(i, v, depth + 1, f"{where}[{n}]") for n, v in enumerate(value)]


def _field(where: str, key: Any) -> str:
    return f"{where}.{key}" if where else str(key)


def _subject(op: Any, where: str) -> str:
    """The field `where` of `op` as a user knows it: the param or step field it sets."""
    name, step, field = (op.get(k) if isinstance(op, dict) else None for k in ("name", "step", "field"))
    if where.startswith("value") and op.get("op") == "set_param" and isinstance(name, str):
        return f"the value of param '{name}'" + (f" (its {where})" if where != "value" else "")
    if where.startswith("value") and isinstance(step, str) and isinstance(field, str):
        return f"the value of {field} of step '{step}'" + (f" (its {where})" if where != "value" else "")
    return f"'{where or 'value'}'"


def _check_number(value: Any, where: str, path: str, i: int, operations: list) -> None:
    """NaN and the infinities (which Python's JSON reads, and strict JSON has none of) are no
    value a param, a resource or `-p` takes; an integer longer than the loader reads as one
    would come back as text. Refused by the field that holds it, never written."""
    if isinstance(value, float) and not math.isfinite(value):
        shown = "NaN" if math.isnan(value) else ("-" if value < 0 else "") + "Infinity"
        raise BadValue(
            f"{_subject(operations[i], where)} is {shown}, which is no number a Pipefile value may hold "
            "(JSON has no such number, and pipe run -p refuses it)",
            SourceLoc(path),
            "give a finite number, e.g. 0.01 (or text, in quotes, where a string is meant)",
        ).at(i, _op_name(operations[i]))
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        digits = len(str(abs(value))) if value.bit_length() < 14000 else "thousands of"
        if isinstance(digits, str) or digits + (value < 0) > numbers.MAX_INT_CHARS:
            raise BadValue(
                f"{_subject(operations[i], where)} is an integer of {digits} digits, more than pipe reads as a number "
                f"({numbers.MAX_INT_CHARS} characters): it would read back as text",
                SourceLoc(path),
                "give a smaller number (for a number param, a float such as 1e70)",
            ).at(i, _op_name(operations[i]))


def _op_name(op: Any) -> str:
    return str(op.get("op") if isinstance(op, dict) else None)


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\0" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _load(text: str, path: str) -> Any:
    try:
        data = parsed.data(text, lambda t: yamlsafe.load(t, path, numbers=True))
    except PipefileError as e:
        raise EditError(f"the Pipefile cannot be edited: {e.message}", e.loc, e.hint) from None
    except Exception as e:  # yaml.YAMLError: its mark says where
        mark = getattr(e, "problem_mark", None)
        loc = SourceLoc(path, mark.line + 1, mark.column + 1) if mark is not None else SourceLoc(path)
        problem = getattr(e, "problem", None) or str(e)
        raise EditError(
            f"the Pipefile is not valid YAML ({problem}), so it cannot be edited",
            loc,
            "fix the file by hand first (pipe validate shows where)",
        ) from None
    if not isinstance(data, dict):
        raise EditError("the Pipefile is not a mapping of keys", SourceLoc(path), "start from `pipe init`")
    return data


def _newlines_back(original: str, lf: str, new: str) -> str:
    """`new` (edited from `lf`) with the line ends of `original`: each kept line its own,
    new lines the file's most common one."""
    if original == lf or new == lf:
        return original if new == lf else new
    ends = re.findall(r"\r\n|\r|\n", original)
    common = Counter(ends).most_common(1)[0][0]
    old_lines, new_lines = lf.split("\n"), new.split("\n")
    out = [common] * (len(new_lines) - 1)
    matcher = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False)
    for a, b, size in matcher.get_matching_blocks():
        for t in range(size):
            if a + t < len(ends) and b + t < len(out):
                out[b + t] = ends[a + t]
    return "".join(line + (out[i] if i < len(out) else "") for i, line in enumerate(new_lines))
