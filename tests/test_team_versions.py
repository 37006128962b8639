"""A team sharing a remote, through the real CLI: `pipe status` decides as `pipe run` does
with the default remote (and stays offline with --no-remote); artifact version numbers are
registered in the remote, so `${{artifacts.X:N}}` names the same bytes on every machine,
and a clash between a local number and the remote's is an error, never a silent rebinding."""

from __future__ import annotations

import pytest
from workspace_repo import Repo

PIPEFILE = """
version: 1
params:
  lr: 0.1
steps:
  prepare:
    command: python -c "open('build/clean.txt', 'w').write('clean\\n' * 20)"
    outputs: {clean: build/clean.txt}
  train:
    command: python -c "import sys; open(sys.argv[2], 'w').write(open(sys.argv[1]).read() + sys.argv[3])" ${{inputs.data}} ${{outputs.model}} ${{params.lr}}
    inputs: {data: "${{steps.prepare.outputs.clean}}"}
    outputs:
      model: {path: build/model.txt, name: model}
"""


def workspace(root, cache: str) -> Repo:
    root.mkdir(parents=True)
    repo = Repo(root)
    repo.pipefile(PIPEFILE)
    r = repo.pipe("remote", "add", "team", cache, "--default")
    assert r.code == 0, str(r)
    return repo


@pytest.fixture
def pair(tmp_path):
    cache = str(tmp_path / "cache")
    return workspace(tmp_path / "a", cache), workspace(tmp_path / "b", cache), cache


def status_states(repo: Repo, *args) -> dict:
    r = repo.pipe("status", "--json", *args)
    assert r.code in (0, 1), str(r)
    return {s["name"]: (s["state"], s.get("remote")) for s in r.json["steps"]}


# --- pipe status decides as pipe run decides --------------------------------------------------
def test_status_with_a_default_remote_says_what_run_then_does(pair):
    a, b, _ = pair
    assert a.outcomes("--push") == {"prepare": "ran", "train": "ran"}
    # The default remote is consulted by plain `pipe status`, as plain `pipe run` consults it.
    assert status_states(b) == {"prepare": ("restore", "team"), "train": ("restore", "team")}
    r = b.pipe("status")
    assert r.out.count("on remote 'team'") == 2 and r.out.startswith("restore"), str(r)
    # --no-remote: offline, as `pipe run --no-remote` would decide.
    offline = status_states(b, "--no-remote")
    assert {s for s, _ in offline.values()} <= {"run", "pending"}, offline
    assert not (b.root / ".pipe").exists(), "status wrote the workspace"
    # The pre-commit hook's command fails as before: restorable is not in place.
    assert b.pipe("status", "--check").code == 1
    assert b.outcomes() == {"prepare": "restored", "train": "restored"}
    assert status_states(b) == {"prepare": ("fresh", None), "train": ("fresh", None)}
    assert b.pipe("status", "--check").code == 0
    r = b.pipe("status", "--no-remote", "--remote")
    assert r.code == 2 and "--no-remote" in r.err, str(r)


def test_status_with_an_empty_default_remote_plans_every_step_to_run(tmp_path):
    repo = workspace(tmp_path / "a", str(tmp_path / "cache"))
    # A default remote with nothing there yet: every step runs, as `pipe run` would.
    assert {s for s, _ in status_states(repo).values()} <= {"run", "pending"}
    assert repo.outcomes() == {"prepare": "ran", "train": "ran"}
