"""Output paths that use the step's inputs, as the loader reads them (the rest: ../outpaths.py).

A matrix or sweep step's output path may use the inputs its expansion sets; any other use of
`${{ }}` in an output path stays the error it was (with the hint that fits).
"""

from __future__ import annotations

from typing import Optional

from .. import spec
from ..outpaths import input_names, parts_of
from .paths import normalize_path


def per_task_template(text: str) -> Optional[str]:
    """The normalised template when `text` is a workspace path whose every `${{ }}` is an
    input (a per-task path); None otherwise (the caller's error stands)."""
    parts = parts_of(text)
    if parts is None:
        return None
    sample = "".join(p if isinstance(p, str) else "v" for p in parts)
    ok, problem = normalize_path(sample)
    if problem or ok is None:
        return None
    norm, _ = normalize_path(text)
    return norm


def template_path_problem(text: str) -> Optional[str]:
    """What is wrong with the path a template of inputs only spells (outside the workspace,
    absolute, inside .pipe/), for the error that says so; None when it is fine or not such a
    template."""
    parts = parts_of(text)
    if parts is None:
        return None
    sample = "".join(p if isinstance(p, str) else "v" for p in parts)
    ok, problem = normalize_path(sample)
    if not problem:
        return None if ok else "the path is empty"
    return normalize_path(text)[1] or problem  # (the template as written, where it says the same)


def check_output_templates(r, st: spec.Step, expansion: Optional[spec.Expansion], what: str) -> None:
    """A per-task path only on a matrix or sweep step, using only the inputs it sets."""
    for out in st.outputs.values():
        if not out.template:
            continue
        if expansion is None or expansion.kind == spec.EXPAND_FOREACH:
            hint = "write a path like build/model/"
            if expansion is not None:
                hint = "each item's task writes its own entry below the declared path (named by the item): " + hint
            r.error_at(
                out.loc,
                f"output '{out.name}' of {what} must be a workspace path, not an expression",
                hint
                if expansion is not None
                else "only a matrix or sweep step's output path can use its inputs; " + hint,
            )
            continue
        if expansion.kind == spec.EXPAND_SWEEP and expansion.search == "bayesian":
            # (its trials' values are proposed as the run goes: no path can be made before)
            r.error_at(
                out.loc,
                f"output '{out.name}' of {what} uses the inputs, which its bayesian sweep proposes "
                "only as the run goes: no trial's path is known before",
                "write a path without inputs, e.g. build/trials: each trial writes its own entry below it",
            )
            continue
        for name in input_names(out.template):
            if name not in expansion.names:
                r.error_at(
                    out.loc,
                    f"output '{out.name}' of {what} uses input '{name}', which is not set per task by its "
                    f"{expansion.kind}",
                    "an output path can use only the inputs of the "
                    + ("matrix's axes" if expansion.kind == spec.EXPAND_MATRIX else "sweep's space")
                    + f": {', '.join(expansion.names)}",
                )
            elif name in expansion.left_out:  # (rendering it for that task had no value: a KeyError)
                r.error_at(
                    out.loc,
                    f"output '{out.name}' of {what} uses axis '{name}', which an include: of its matrix gives no value",
                    f"give {name} a value in each include: of the matrix",
                )
