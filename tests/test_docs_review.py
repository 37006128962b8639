"""Faults found reviewing the docs against the code, each test failing before its fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from workspace_repo import validation_errors

BROKEN_DECLARATIONS = {
    "param": ("params:\n  p: {description: x}\n", "command: echo ${{params.p}}\n    inputs: {i: '${{params.p}}'}"),
    "asset": ("assets:\n  r: {type: uri_file}\n", "command: echo\n    inputs: {i: '${{assets.r}}'}"),
    "environment": ("environments:\n  e: {type: conda}\n", "command: echo\n    environment: e"),
}


@pytest.mark.parametrize("kind", sorted(BROKEN_DECLARATIONS))
def test_a_declaration_with_an_error_is_not_also_not_defined(tmp_path: Path, kind: str) -> None:
    """A param, asset or environment declared with an error (no type, no path, no file) was
    reported twice: at its declaration, and at each use as "which is not defined" / "there is
    no param", which is false (it is declared) and sends the reader to add what is there.
    Only the declaration's error is reported now."""
    head, step = BROKEN_DECLARATIONS[kind]
    (tmp_path / "Pipefile").write_text(f"{head}steps:\n  a:\n    {step}\n")
    errors = validation_errors(tmp_path)
    assert len(errors) == 1, [e.message for e in errors]
    assert "not defined" not in errors[0].message and "there is no" not in errors[0].message
    assert errors[0].loc is not None and errors[0].loc.line == 2


def test_an_undeclared_name_is_still_not_defined(tmp_path: Path) -> None:
    (tmp_path / "Pipefile").write_text(
        "steps:\n  a:\n    command: echo ${{params.q}}\n    environment: e\n    inputs: {i: '${{assets.r}}'}\n"
    )
    messages = sorted(e.message for e in validation_errors(tmp_path))
    assert len(messages) == 3 and all("not defined" in m or "there is no" in m for m in messages), messages
