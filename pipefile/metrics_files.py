"""A step's metrics files (`metrics:`): JSON or YAML a step wrote, read as flat numbers.

What a step writes may be anything (a FIFO, a link to /dev/zero, a number of 400 digits,
YAML nested past reason): each problem is a MetricsError the caller turns into a warning,
never a failed run.

What a file held is kept once per content (jobdb/metric_sets.py), named by `set_digest`: the
file's path and the content of the output it is in, known without reading it, so that a
fresh step's metrics cost no read of a file that may be huge.
"""

from __future__ import annotations

import math
import os
import stat
from typing import Mapping, Optional

from .errors import PipefileError

# Bump when what read_metrics makes of a file changes: values kept by an older reading of
# the same content are then read again, not reused.
READING = 3  # 2: YAML keys as the file writes them (`null`, `1.5`), not as Python prints them; 3: MAX_NAME


# The longest metric name kept, as MLflow's: a name of a megabyte padded every row of
# `pipe metrics diff` to its width (minutes, and gigabytes of blanks).
MAX_NAME = 250


class MetricsError(ValueError):
    pass


def value_at(data, metric: str):
    """The value that `flatten` names `metric` in `data`: keys joined by '.' ({"val": {"acc":
    1}}), a key that holds a '.' itself ({"val.acc": 1}), list indices; KeyError if none.
    (outpaths.PICK_BEST, STEP.best's script, has a copy: it runs in a python3 of its own.)"""

    def walk(node, rest: list):
        if not rest:
            return node
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        keys = {str(k): v for k, v in items}
        for i in range(len(rest), 0, -1):  # (the longest key first)
            name = ".".join(rest[:i])
            if name in keys:
                try:
                    return walk(keys[name], rest[i:])
                except LookupError:
                    continue
        raise KeyError(".".join(rest))

    return walk(data, metric.split("."))


def flatten(obj, prefix: str = "", skipped: Optional[list] = None, out: Optional[dict] = None) -> dict:
    """{"a": {"b": 1}} -> {"a.b": 1}; numbers and booleans kept, anything else dropped.

    A number no float can hold (an integer of 400 digits) is left out too, its name added
    to `skipped` for a warning: the step wrote it, it must not fail the run. Two keys that
    name one metric ({"a.b": 1, "a": {"b": 2}}) are a MetricsError: the one would silently
    replace the other."""
    out = {} if out is None else out
    if isinstance(obj, dict):
        for k, v in obj.items():
            name = f"{prefix}.{k}" if prefix else str(k)
            if not isinstance(v, (dict, list)) and name in out:
                line = getattr(k, "line", 0)
                raise MetricsError(
                    f"names the metric '{name}' twice{f' (again at line {line})' if line else ''}: the one would "
                    f"silently replace the other; rename one of them"
                )
            flatten(v, name, skipped, out)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            flatten(v, f"{prefix}.{i}" if prefix else str(i), skipped, out)
    elif isinstance(obj, bool):
        out[prefix] = float(obj)
    elif isinstance(obj, (int, float)):
        try:
            value = float(obj)
        except OverflowError:
            if skipped is not None:
                skipped.append(prefix)
            return out
        if math.isfinite(value):
            out[prefix] = value  # inf and nan are not values one can compare or chart
    return out


def _unique_keys(pairs: list) -> dict:
    """A JSON object, refused where it writes one key twice (json.loads keeps the last)."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set = set()
        twice = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise MetricsError(
            f"writes the key '{twice}' twice in one object: the one would silently replace the other; "
            f"rename or remove one of them"
        )
    return obj


def load_data(text: str, path: str):
    """What a metrics file holds: JSON when `path` ends in .json, else YAML, its keys as the
    file writes them (YAML's `1.5`, `null`, `yes` as that text). Raises MetricsError (a key
    written twice, or a key that is a list or a mapping, named with its line) and the
    parsers' errors, as read_metrics words them."""
    import json

    from .load import yamlsafe

    if path.endswith(".json"):
        # (a BOM, which PowerShell and Notepad write before UTF-8, is no part of the JSON: YAML skips it too)
        return json.loads(text.removeprefix("\ufeff"), object_pairs_hook=_unique_keys)
    try:
        return yamlsafe.load_written_keys(text, path)
    except PipefileError as e:
        line = f"line {e.loc.line}: " if e.loc is not None and e.loc.line else ""
        raise MetricsError(f"is not usable YAML: {line}{e.message}{f'; {e.hint}' if e.hint else ''}") from None


def read_metrics(path: str, skipped: Optional[list] = None, long_names: Optional[list] = None) -> dict:
    """Flattened numeric values of a JSON or YAML metrics file; the names of numbers too
    large for a float are added to `skipped`, and names longer than MAX_NAME, left out too,
    to `long_names`."""
    from .load import yamlsafe

    try:
        # a step wrote it: it may be anything, a FIFO or a link to /dev/zero included
        text = yamlsafe.read_file(path).decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise MetricsError(f"cannot be read: {e}") from None
    except PipefileError as e:
        raise MetricsError(f"cannot be read: {e.message}") from None
    # (PyYAML is imported for a YAML file only: a no-op that reads JSON metrics skips it.)
    yaml_error = ValueError if path.endswith(".json") else yamlsafe.yaml_error()
    try:
        data = load_data(text, path)
    except MetricsError:
        raise
    except (ValueError, yaml_error) as e:
        kind = "JSON" if path.endswith(".json") else "YAML"
        raise MetricsError(f"is not valid {kind}: {_parse_error(e)}") from None
    except RecursionError:  # JSON nested deeper than Python parses
        raise MetricsError("is nested too deeply to be read as metrics") from None
    if not isinstance(data, (dict, list)):
        raise MetricsError("holds no mapping of metric names to numbers")
    try:
        values = flatten(data, skipped=skipped)
    except RecursionError:  # JSON that json.loads read, nested deeper than flatten walks
        raise MetricsError("is nested too deeply to be read as metrics") from None
    for name in [n for n in values if len(n) > MAX_NAME]:
        del values[name]
        if long_names is not None:
            long_names.append(name)
    return values


def _parse_error(e: Exception) -> str:
    """A parser's error in one line: PyYAML's names the line and the problem (its first line
    alone was its context: 'while parsing a block mapping')."""
    mark, problem = getattr(e, "problem_mark", None), getattr(e, "problem", None)
    if mark is not None and problem:
        return f"line {mark.line + 1}: {problem}"
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def set_digest(root: str, path: str, outputs: Mapping, contents: Mapping) -> Optional[str]:
    """The name of what the metrics file `path` (workspace-relative, under `root`) holds,
    from the content of the step output it is in (`outputs`: name -> StepOutput, `contents`:
    name -> digest.PathDigest), without reading it. None where that content does not pin
    the file's: no output holds it, a name a folder's digest leaves out (__pycache__, .pyc),
    or a link on the way (a folder's digest holds a link's target, not what it points at)."""
    from .digest import IGNORED_NAMES, IGNORED_SUFFIXES, TREE, hash_json

    for name, out in outputs.items():
        content = contents.get(name)
        if content is None or not (path == out.path or path.startswith(out.path.rstrip("/") + "/")):
            continue
        inner = path[len(out.path.rstrip("/")) + 1 :].split("/") if path != out.path else []
        if content.kind == TREE and any(p in IGNORED_NAMES or p.endswith(IGNORED_SUFFIXES) for p in inner):
            return None
        full = os.path.join(root, path)
        try:
            if not stat.S_ISREG(os.lstat(full).st_mode):
                return None
            if os.path.realpath(full) != os.path.join(os.path.realpath(root), path):
                return None
        except (OSError, ValueError):
            return None
        return hash_json(["metrics", READING, path, content.kind, content.digest])
    return None
