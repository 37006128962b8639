"""`pipe run --ci` (plain logs, a JSON summary file, exit 1 on any failure), `pipe status --check`
and the pre-commit hooks this repository offers."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

import yaml

from conftest import REPO_ROOT, Repo

PIPEFILE = """
version: 1
params:
  n: 3
steps:
  make:
    command: python -c "import sys; open(sys.argv[1], 'w').write('x' * ${{params.n}})" ${{outputs.out}}
    outputs: {out: build/x.txt}
  check:
    command: python -c "import sys; d = open(sys.argv[1]).read(); sys.exit(0 if len(d) < 5 else 3)" ${{inputs.x}} && cp ${{inputs.x}} ${{outputs.ok}}
    inputs: {x: "${{steps.make.outputs.out}}"}
    outputs: {ok: build/ok.txt}
"""


def test_status_check_exits_1_while_anything_is_stale(repo: Repo):
    repo.pipefile(PIPEFILE)
    r = repo.pipe("status", "--check")
    assert r.code == 1 and "never built" in r.out
    repo.pipe("run", check=True)
    assert repo.pipe("status", "--check").code == 0
    repo.write("build/x.txt", "edited by hand")
    r = repo.pipe("status", "--check")
    assert r.code == 1 and "was modified" in r.out
    r = repo.pipe("status", "--check", "-p", "n=2")
    assert r.code == 1


def test_run_ci_writes_a_summary_and_fails_on_any_failure(repo: Repo):
    repo.pipefile(PIPEFILE)
    r = repo.pipe("run", "--ci", env={"PIPE_PLAIN": ""})
    assert r.code == 0, str(r)
    assert "never built in this workspace" in r.err  # reasons are in the log
    doc = json.loads(repo.read("pipe-summary.json"))
    assert doc["version"] == 1 and doc["status"] == "succeeded" and doc["exit_code"] == 0
    assert doc["counts"] == {"ran": 2} and isinstance(doc["job"], int) and doc["remote"] is None
    steps = {s["name"]: s for s in doc["steps"]}
    assert steps["make"]["outcome"] == "ran" and steps["make"]["reasons"][0]["kind"] == "never_built"
    assert len(steps["check"]["key"]) == 32

    r = repo.pipe("run", "--ci", "--summary", "out/ci.json", "-p", "n=9")
    assert r.code == 1, str(r)
    doc = json.loads(repo.read("out/ci.json"))
    assert doc["status"] == "failed" and doc["exit_code"] == 1
    steps = {s["name"]: s for s in doc["steps"]}
    assert steps["check"]["outcome"] == "failed" and "status 3" in steps["check"]["error"]
    assert steps["check"]["log"].startswith(".pipe/jobs/")
    assert any(x["kind"] == "param_changed" for x in steps["make"]["reasons"])
    assert "step 'check' exited with status 3" in r.err


def test_the_pre_commit_hooks_run_what_they_say(repo: Repo):
    hooks = {h["id"]: h for h in yaml.safe_load((Path(REPO_ROOT) / ".pre-commit-hooks.yaml").read_text())}
    assert set(hooks) == {"pipe-validate", "pipe-check"}
    for h in hooks.values():
        assert h["language"] == "python" and h["pass_filenames"] is False and h["entry"].startswith("pipe ")
    docs = (Path(REPO_ROOT) / "docs" / "ci.md").read_text()
    assert "pipe-validate" in docs and "pipe-check" in docs

    def hook(name: str):
        return repo.pipe(*shlex.split(hooks[name]["entry"])[1:])

    repo.pipefile(PIPEFILE)
    assert hook("pipe-validate").code == 0
    assert hook("pipe-check").code == 1
    repo.pipe("run", check=True)
    assert hook("pipe-check").code == 0
    repo.pipefile(PIPEFILE.replace("outputs: {ok:", "outputz: {ok:"))
    r = hook("pipe-validate")
    assert r.code == 2 and "Pipefile:" in r.err
    assert os.path.exists(repo.root / "Pipefile")
