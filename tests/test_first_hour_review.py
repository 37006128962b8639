"""A new user's first hour, following the docs: the errors of a first Pipefile say how to
fix it, and what `pipe init` writes (its README's commands) works as written."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from workspace_repo import PIPE

PIPEFILE = """\
version: 1
steps:
  prepare:
    command: echo hi > ${{outputs.o}}
    outputs: {o: build/o.txt}
  train:
    command: cp ${{inputs.i}} ${{outputs.m}}
    inputs: {i: "${{steps.prepare.outputs.o}}"}
    outputs: {m: build/m.txt}
"""


def pipe_in(cwd: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, PIPE_PLAIN="1")
    env.pop("PIPE_STORE_DIR", None)
    return subprocess.run(PIPE + list(args), cwd=cwd, capture_output=True, text=True, env=env, timeout=timeout)


@pytest.mark.parametrize(
    "old, new, hint",
    [
        # a key one space left of its neighbours
        ("    outputs: {m:", "   outputs: {m:", "check the indentation of line 9"),
        # a key two spaces right of its neighbours
        ("    outputs: {m:", "      outputs: {m:", "check the indentation of line 9"),
        # a step's name out of line with the other step's
        ("  train:", " train:", "check the indentation of line 6"),
        # a tab where spaces belong
        ("    outputs: {m:", "\toutputs: {m:", "replace the tab with spaces"),
        ("    outputs: {m:", "  \toutputs: {m:", "replace the tab with spaces"),
    ],
    ids=["left", "right", "step-name", "tab", "spaces-then-tab"],
)
def test_a_badly_indented_pipefile_gets_a_hint_that_names_the_indentation(tmp_path, old, new, hint):
    (tmp_path / "Pipefile").write_text(PIPEFILE.replace(old, new))
    r = pipe_in(tmp_path, "validate")
    assert r.returncode == 2, r.stderr
    assert "Pipefile:" in r.stderr and "invalid YAML" in r.stderr, r.stderr
    hints = [line for line in r.stderr.splitlines() if line.startswith("  hint: ")]
    assert hints and hint in hints[0], r.stderr
