"""Shared fixtures: a temporary workspace and a way to drive the real `pipe` CLI in it.

The helpers themselves live in workspace_repo.py, which tests import; this file only makes
fixtures of them (pytest loads it first, so it also points subprocesses at this checkout).
"""

from __future__ import annotations

import pytest
from workspace_repo import Repo

# The browser fixtures (`browser`, `opened`) of the designer's tests: one definition for all.
pytest_plugins = ["uibrowser"]


@pytest.fixture
def repo(tmp_path) -> Repo:
    root = tmp_path / "ws"
    root.mkdir()
    return Repo(root)


@pytest.fixture
def built_chain(repo) -> None:
    """`repo` with a Pipefile of two steps (a, then b reading its output), run once: the next
    `pipe run` is a no-op."""
    repo.pipefile(
        """\
        version: 1
        steps:
          a: {command: "echo a > a.txt", outputs: {out: a.txt}}
          b: {command: "cat a.txt > b.txt", inputs: {a: a.txt}, outputs: {out: b.txt}}
        """
    )
    repo.pipe("run", check=True)
