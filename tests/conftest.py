"""Shared fixtures: a temporary workspace and a way to drive the real `pipe` CLI in it.

The helpers themselves live in workspace_repo.py, which tests import; this file only makes
fixtures of them (pytest loads it first, so it also points subprocesses at this checkout).
"""

from __future__ import annotations

import pytest
from workspace_repo import Repo


@pytest.fixture
def repo(tmp_path) -> Repo:
    root = tmp_path / "ws"
    root.mkdir()
    return Repo(root)
