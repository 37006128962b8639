"""Review of the Ray executor: faults found by trying it as a user would, each with the
test that failed before its fix. Tests that need a cluster start their own small one on
loopback (as tests/test_ray.py does); the others need none."""

from __future__ import annotations

from pathlib import Path

import pytest
from workspace_repo import Repo

# One xdist worker runs the Ray tests: their clusters are stopped by their own folders.
pytestmark = pytest.mark.xdist_group("ray")

ONE_STEP = """
steps:
  a:
    command: echo hi > ${{outputs.o}}
    outputs: {o: a.txt}
"""


def _repo(root: Path, text: str = ONE_STEP) -> Repo:
    root.mkdir(parents=True)
    r = Repo(root)
    r.pipefile(text)
    return r


def test_a_bad_gone_after_variable_is_a_usage_error_not_an_internal_one(tmp_path):
    """PIPE_RAY_GONE_AFTER was parsed at import: 'abc' ended the run with exit 70."""
    r = _repo(tmp_path / "ws")
    r.pipe("run", check=True)
    for bad in ("abc", "-1", "0"):
        got = r.pipe("run", "--executor", "ray", "--address", "127.0.0.1:1", env={"PIPE_RAY_GONE_AFTER": bad})
        assert got.code == 2, str(got)
        assert f"PIPE_RAY_GONE_AFTER='{bad}' is not a number of seconds" in got.err, str(got)
        assert "positive number" in got.err
    got = r.pipe("run", "--executor", "ray", "--address", "127.0.0.1:1", env={"PIPE_RAY_GONE_AFTER": "2.5"})
    assert got.code == 0, str(got)
