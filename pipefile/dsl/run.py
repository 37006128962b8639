"""What a `@command_component`'s step runs: `python -m pipefile.dsl.run FILE:FUNCTION
--NAME VALUE ...`. The module file is run (as the loader ran it), the function found by its
qualified name, and called with each input converted to its declared type (paths as
strings); an output's folder (or a file output's parent folder) is made first.

Exit status: what the function raises fails the step (its traceback in the step's log)."""

from __future__ import annotations

import importlib
import os
import runpy
import sys


def _value(text: str, typ: str):
    if typ == "integer":
        return int(text)
    if typ == "number":
        return float(text)
    if typ == "boolean":
        return text.lower() in ("true", "1", "yes", "on")
    return text


def main(argv: list) -> int:
    if not argv or ":" not in argv[0] or len(argv[1:]) % 2:
        print("usage: python -m pipefile.dsl.run FILE.py:FUNCTION [--NAME VALUE]...", file=sys.stderr)
        return 2
    from ..load.pymodule import modules_from_source
    from .imports import step_path

    file, _, qualname = argv[0].rpartition(":")
    folder, dotted = step_path(file, os.getcwd())
    sys.path.insert(0, folder)
    # (the workspace's modules from their source: their bytecode may predate an edit of the
    # same size within its second, while the step's key holds the edit)
    with modules_from_source(os.getcwd(), folder):
        namespace = (
            vars(importlib.import_module(dotted)) if dotted else runpy.run_path(file, run_name="__pipe_dsl_step__")
        )
        return _call(namespace, file, qualname, argv[1:])


def _call(namespace: dict, file: str, qualname: str, args: list) -> int:
    target = namespace.get(qualname.split(".")[0])
    for part in qualname.split(".")[1:]:
        target = getattr(target, part, None)
    func = getattr(target, "func", None)
    if func is None:
        print(f"{file} has no @command_component {qualname}", file=sys.stderr)
        return 2
    kwargs = {}
    for flag, text in zip(args[::2], args[1::2]):
        name = flag[2:]
        if name in target.outputs:
            folder = text if target.outputs[name].type == "uri_folder" else os.path.dirname(text)
            if folder:
                os.makedirs(folder, exist_ok=True)
            kwargs[name] = text
        else:
            kwargs[name] = _value(text, target.inputs[name].type)
    func(**kwargs)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
