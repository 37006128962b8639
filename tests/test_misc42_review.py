"""Small known faults, each with the test that failed before its fix: a store or remote path
that names a plain file, and the others of the same batch."""

from __future__ import annotations

import pytest
from workspace_repo import Repo

ONE_STEP = """
steps:
  a:
    command: echo hi > ${{outputs.o}}
    outputs: {o: a.txt}
"""


def test_a_remote_path_that_is_a_plain_file_is_bad_input_named_with_its_fix(repo: Repo):
    """push/pull --remote naming a file (or a path through one) exited 1 with fsspec's
    NotADirectoryError on pipe-remote.json: the path is the user's to fix (exit 2)."""
    repo.pipefile(ONE_STEP)
    repo.pipe("run", check=True)
    repo.write("plain", "not a folder\n")
    for cmd, where in (("push", "plain"), ("pull", "plain"), ("push", "plain/sub/x")):
        got = repo.pipe(cmd, "--remote", str(repo.root / where))
        assert got.code == 2, str(got)
        assert f"{repo.root / 'plain'} is a file, not a folder" in got.err, str(got)
        assert "hint: name a folder" in got.err, str(got)
    assert repo.read("plain") == "not a folder\n"


@pytest.mark.xdist_group("ray")
def test_a_ray_store_that_is_a_plain_file_is_bad_input(repo: Repo):
    """pipe run --executor ray --store FILE (or PIPE_RAY_STORE=FILE) exited 1."""
    pytest.importorskip("ray")
    repo.pipefile(ONE_STEP)
    repo.write("plain", "not a folder\n")
    got = repo.pipe("run", "--executor", "ray", "--store", "./plain", timeout=120)
    assert got.code == 2, str(got)
    assert f"{repo.root / 'plain'} is a file, not a folder" in got.err, str(got)
    assert not repo.exists("a.txt")
