"""The text of the Pipefile a clone writes (clone.py; the designer's drafts, ui/drafts.py):
the job's params set as the params' defaults and each latest artifact binding pinned to the
version the job read, by editing spans of the YAML text, so that comments, layout and order
stay as written. A Python pipeline (docs/dsl.md) has no YAML to edit: its params are given to
the run command as `-p NAME=VALUE` (param_flags).
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from .load import yamlsafe


def render(value: Any) -> str:
    """A YAML scalar, valid in block and flow context alike, that a Pipefile reads back as
    `value`: PyYAML writes by YAML 1.1, so text such as `1e-3` or `0o17`, which a Pipefile
    reads as a number, is quoted."""
    out = yaml.safe_dump([value], default_flow_style=True, width=1 << 30, allow_unicode=True).strip()
    if isinstance(value, str) and yamlsafe.load(out, "value", numbers=True) != [value]:
        out = yaml.safe_dump([value], default_flow_style=True, default_style='"', width=1 << 30, allow_unicode=True)
        out = out.strip()
    assert out.startswith("[") and out.endswith("]")
    return out[1:-1]


def render_value(value: Any) -> str:
    """`render`, and a list param's value as a flow list of such scalars: `[1, .inf, "1e-3"]`."""
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(render(x) for x in value) + "]"
    return render(value)


def _span(node, new: str) -> tuple:
    """(start, end, new) replacing `node`'s own text with `new`. A block list's end mark lies past
    the line break (and the next key's indentation) after its last item, which a replacement
    would swallow; and its items may sit at its key's indentation (`default:` over `- 1`),
    where a flow list is no value: the list replacing it is indented two more."""
    if isinstance(node, yaml.SequenceNode) and not node.flow_style and node.value:
        return node.start_mark.index, _span(node.value[-1], new)[1], "  " + new
    return node.start_mark.index, node.end_mark.index, new


def set_param_defaults(text: str, values: dict) -> str:
    """The Pipefile text with each param's default set to `values[param]`; everything
    else (comments, layout, order) stays as written."""
    root = yamlsafe.compose(text, "Pipefile")
    if not isinstance(root, yaml.MappingNode):
        return text
    params = next((v for k, v in root.value if isinstance(k, yaml.ScalarNode) and k.value == "params"), None)
    if not isinstance(params, yaml.MappingNode):
        return text
    edits = []  # (start, end, replacement): spans of the original text
    for knode, vnode in params.value:
        name = knode.value
        if name not in values:
            continue
        new = render_value(values[name])
        if isinstance(vnode, (yaml.ScalarNode, yaml.SequenceNode)):  # shorthand: NAME: DEFAULT (a list param's)
            edits.append(_span(vnode, new))
            continue
        if not isinstance(vnode, yaml.MappingNode):
            continue
        default = next((v for k, v in vnode.value if k.value == "default"), None)
        if default is not None:
            edits.append(_span(default, new))
        elif vnode.flow_style or not vnode.value:
            at = text.index("{", vnode.start_mark.index) + 1
            edits.append((at, at, f"default: {new}, " if vnode.value else f"default: {new}"))
        else:
            first = vnode.value[0][0].start_mark
            line_start = first.index - first.column
            edits.append((line_start, line_start, " " * first.column + f"default: {new}\n"))
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    return text


def _child(node, key: str):
    if not isinstance(node, yaml.MappingNode):
        return None
    return next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == key), None)


def pin_artifacts(text: str, pins: dict) -> str:
    """The Pipefile text with each input of `pins` ({(step, input): (name, version)})
    bound to ${{artifacts.NAME:VERSION}}; everything else stays as written."""
    root = yamlsafe.compose(text, "Pipefile")
    steps = _child(root, "steps")
    edits = []
    for (step, iname), (name, version) in pins.items():
        node = _child(_child(_child(steps, step), "inputs"), iname)
        if isinstance(node, yaml.MappingNode):
            node = _child(node, "value")
        if not isinstance(node, yaml.ScalarNode):
            continue  # the check after reloading says so
        new = render("${{artifacts.%s:%d}}" % (name, version))
        edits.append((node.start_mark.index, node.end_mark.index, new))
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    return text


def param_flags(values: dict) -> list:
    """`NAME=VALUE` for `pipe run -p` of each of `values` ({param: value}), as -p reads it
    back by the param's type: text as it is, a number or a boolean as YAML writes it, a list
    as JSON (-p reads `[x, y]`, YAML's flow list, as no list)."""
    return [f"{name}={_flag_value(value)}" for name, value in sorted(values.items())]


def _flag_value(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        import json

        # (nan and infinity as Python's json writes them, which -p reads back)
        return json.dumps(list(value), ensure_ascii=False)
    return value if isinstance(value, str) else render(value)


# What ends a comment line in a Pipefile (YAML's line breaks) or a Python module, and what YAML
# refuses anywhere in a file (control characters).
_NOT_IN_A_COMMENT = re.compile("[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]")


def comment(text: str) -> str:
    """`text` as one comment line of a cloned Pipefile or Python module: a line break in it (a
    param's value, a folder's name) ended the comment and left the rest as YAML or code (the
    clone failed to load); such characters are written escaped, as Python writes them."""
    return "# " + _NOT_IN_A_COMMENT.sub(lambda m: repr(m.group())[1:-1], text) + "\n"
