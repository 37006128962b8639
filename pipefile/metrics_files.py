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
READING = 1


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


def flatten(obj, prefix: str = "", skipped: Optional[list] = None) -> dict:
    """{"a": {"b": 1}} -> {"a.b": 1}; numbers and booleans kept, anything else dropped.

    A number no float can hold (an integer of 400 digits) is left out too, its name added
    to `skipped` for a warning: the step wrote it, it must not fail the run."""
    out: dict = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k), skipped))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.update(flatten(v, f"{prefix}.{i}" if prefix else str(i), skipped))
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


def read_metrics(path: str, skipped: Optional[list] = None) -> dict:
    """Flattened numeric values of a JSON or YAML metrics file; the names of numbers too
    large for a float are added to `skipped`."""
    import json

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
        data = json.loads(text) if path.endswith(".json") else yamlsafe.load(text, path)
    except (ValueError, yaml_error) as e:
        kind = "JSON" if path.endswith(".json") else "YAML"
        raise MetricsError(f"is not valid {kind}: {str(e).splitlines()[0]}") from None
    except PipefileError as e:  # YAML past the bounds of yamlsafe (aliases, depth)
        raise MetricsError(f"is not usable YAML: {e.message}") from None
    except RecursionError:  # JSON nested deeper than Python parses
        raise MetricsError("is nested too deeply to be read as metrics") from None
    if not isinstance(data, (dict, list)):
        raise MetricsError("holds no mapping of metric names to numbers")
    try:
        return flatten(data, skipped=skipped)
    except RecursionError:  # JSON that json.loads read, nested deeper than flatten walks
        raise MetricsError("is nested too deeply to be read as metrics") from None


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
