"""What a no-op `pipe run` starts (issue 12, start-up): every thread is a start-up cost paid by
every pre-commit hook. A run that stores nothing starts no store-sync thread; outside a git
work tree, no git probe."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest
from workspace_repo import REPO_ROOT

from pipefile.jobs import in_git_tree


@pytest.mark.usefixtures("built_chain")
def test_a_no_op_run_starts_no_store_sync_thread_and_no_git_probe_outside_git(repo):
    started = _threads_of_a_run(repo, "2 fresh")
    assert "store-sync" not in started
    if not in_git_tree(str(repo.root)):
        assert "git-probe" not in started
    # A run that stores outputs still syncs them on the thread, started by the first one.
    repo.write("Pipefile", repo.read("Pipefile").replace("echo a", "echo A"))
    assert "store-sync" in _threads_of_a_run(repo, "2 ran")


def _threads_of_a_run(repo, says: str) -> list:
    """The names of the threads a `pipe run` in this process starts."""
    code = (
        f"import sys, threading; sys.path[:0] = [{REPO_ROOT!r}]; sys.argv = ['pipe', 'run']\n"
        "started = []\n"
        "start = threading.Thread.start\n"
        "def recording(self):\n"
        "    started.append(self.name)\n"
        "    start(self)\n"
        "threading.Thread.start = recording\n"
        "from pipefile.entry import main\n"
        "try: main()\n"
        "except SystemExit as e: code = e.code\n"
        "print(repr((int(code or 0), started)))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=repo.root)
    assert r.returncode == 0, r.stderr
    code_, started = ast.literal_eval(r.stdout.splitlines()[-1])
    assert says in r.stderr and code_ == 0, r.stderr
    return started
