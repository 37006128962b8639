"""Renders `pipe components list` and `pipe components show` (the data: catalog.py)."""

from __future__ import annotations

import sys

from .text import table


def _word(value) -> str:
    """A value as the Pipefile spells it: `true`, not Python's `True`."""
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _default(port: dict) -> str:
    if port["required"]:
        return "required"
    if port["default"] is None:
        return "optional"
    return f"= {port['default']!r}" if isinstance(port["default"], str) else f"= {_word(port['default'])}"


def _bounds(port: dict) -> str:
    """'0 to 1', 'at least 2', 'at most 9': a number input's min:/max: ('' without)."""
    low, high = port.get("min"), port.get("max")
    if low is not None and high is not None:
        return f"{_word(low)} to {_word(high)}"
    if low is not None:
        return f"at least {_word(low)}"
    return f"at most {_word(high)}" if high is not None else ""


def _described(port: dict) -> str:
    """A port's description, and the values it takes when it has an enum or bounds."""
    takes = "one of: " + ", ".join(_word(v) for v in port["enum"]) if port.get("enum") else _bounds(port)
    if not takes:
        return port["description"]
    return f"{port['description']} ({takes})" if port["description"] else takes


def _ports(ports: list) -> str:
    """'data: uri_file, fraction: number = 0.7, stratify_column?: string'"""
    out = []
    for p in ports:
        mark = "?" if not p["required"] and p["default"] is None else ""
        default = f" {_default(p)}" if p["default"] is not None else ""
        out.append(f"{p['name']}{mark}: {p['type'] or 'path'}{default}")
    return ", ".join(out) or "-"


def _first_sentence(text: str) -> str:
    text = " ".join((text or "").split())
    end = text.find(". ")
    return text[: end + 1] if end >= 0 else text


def render_list(components: list, stream=None) -> None:
    stream = stream or sys.stdout
    if not components:
        stream.write("no components: the std library is empty and there is no Pipefile here\n")
        return
    rows = [
        [
            c["ref"],
            c["version"] or "-",
            c["source"],
            _ports(c["inputs"] + c["params"]),
            ", ".join(f"{o['name']}: {o['type'] or 'path'}" for o in c["outputs"]) or "-",
            _first_sentence(c["description"]),
        ]
        for c in components
    ]
    table(["component", "version", "source", "inputs", "outputs", "description"], rows, None, stream)
    stream.write("\n`pipe components show NAME` shows one in full, with an example step\n")


def render_show(info: dict, example: str, stream=None) -> None:
    stream = stream or sys.stdout
    version = f", version {info['version']}" if info["version"] else ""
    stream.write(f"{info['ref']} ({info['source']}{version})\n")
    if info["description"]:
        stream.write(f"  {' '.join(info['description'].split())}\n")
    for title, ports in (("inputs", info["inputs"]), ("params", info["params"])):
        if ports:
            stream.write(f"\n{title}:\n")
            rows = [["  " + p["name"], p["type"] or "path", _default(p), _described(p)] for p in ports]
            table(["  name", "type", "default", "description"], rows, None, stream)
    if info["outputs"]:
        stream.write("\noutputs:\n")
        rows = [
            ["  " + o["name"], o["type"] or "path", "metrics" if o["name"] in info["metrics"] else "", o["description"]]
            for o in info["outputs"]
        ]
        table(["  name", "type", "", "description"], rows, None, stream)
    if info.get("steps") is not None:  # a pipeline component: its inner steps, no command
        stream.write(f"\nsteps (type: pipeline):\n  {', '.join(info['steps'])}\n")
    else:
        command = info["command"] if isinstance(info["command"], str) else " ".join(info["command"])
        stream.write(f"\ncommand:\n  {command.strip()}\n")
    stream.write("\nexample step:\n")
    for line in example.splitlines():
        stream.write(f"  {line}\n")
