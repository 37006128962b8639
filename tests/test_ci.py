"""`pipe run --ci` (plain logs, a JSON summary file, exit 1 on any failure), `pipe status --check`
and the pre-commit hooks this repository offers."""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path

import pytest
import yaml
from workspace_repo import REPO_ROOT, Repo

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


def _pipe_commands(text: str) -> list:
    """Every `pipe ...` command line in a text (YAML `run:`/`script:` items, shell lines)."""
    out = []
    for line in text.splitlines():
        line = line.split(" #")[0].strip().lstrip("-").strip()
        for prefix in ("run:", ""):
            if line.startswith(prefix + " pipe ") or line.startswith("pipe "):
                cmd = line[len(prefix) :].strip() if line.startswith(prefix + " ") else line
                out.append(shlex.split(cmd.split("||")[0].replace("$", "")))
                break
    return out


def _check_command(argv: list) -> None:
    """The subcommand exists and takes every option given (checked against the real CLI)."""
    import click

    from pipefile.cli.app import main

    assert argv[0] == "pipe", argv
    ctx = click.Context(main)
    cmd = main.get_command(ctx, argv[1])
    assert cmd is not None, f"no command `pipe {argv[1]}`"
    words = argv[2:]
    while isinstance(cmd, click.Group):
        cmd = cmd.get_command(ctx, words[0])
        assert cmd is not None, argv
        words = words[1:]
    opts = {o for p in cmd.params for o in getattr(p, "opts", []) + getattr(p, "secondary_opts", [])}
    for w in words:
        if w.startswith("-"):
            assert w.split("=")[0] in opts, f"`{' '.join(argv)}`: `pipe {argv[1]}` has no option {w}"


def test_the_ci_docs_workflows_parse_and_use_real_commands():
    text = (Path(REPO_ROOT) / "docs" / "ci.md").read_text()
    blocks = re.findall(r"```(yaml|sh)\n(.*?)```", text, re.S)
    yaml_blocks = [b for kind, b in blocks if kind == "yaml"]
    github = [yaml.safe_load(b) for b in yaml_blocks if "runs-on:" in b]
    gitlab = [yaml.safe_load(b) for b in yaml_blocks if ".gitlab-ci.yml" in b]
    precommit = [yaml.safe_load(b) for b in yaml_blocks if ".pre-commit-config.yaml" in b]
    assert github and gitlab and precommit
    steps = github[0]["jobs"]["pipeline"]["steps"]
    assert any("pipe run --ci" in s.get("run", "") for s in steps)
    script = gitlab[0]["pipeline"]["script"]
    assert any(s.startswith("pipe pull") for s in script) and any(s.startswith("pipe push") for s in script)
    assert {h["id"] for h in precommit[0]["repos"][0]["hooks"]} == {"pipe-validate", "pipe-check"}
    # The fragment of a workflow (the main-branch-only push) parses as a list of steps.
    for b in yaml_blocks:
        assert yaml.safe_load(b) is not None
    commands = [c for _, b in blocks for c in _pipe_commands(b)]
    assert len(commands) >= 6, commands
    for argv in commands:
        _check_command(argv)


def test_the_pre_commit_manifest_is_valid_for_pre_commit():
    """Checked by pre-commit's own manifest schema (pre-commit is in the test extra)."""
    try:
        from pre_commit import clientlib
    except ImportError:
        if os.environ.get("PIPE_CI_REQUIRE_SERVICES") == "1":
            pytest.fail("pre-commit is not installed (it is in the test extra; CI must have it)")
        pytest.skip("pre-commit is not installed (pip install pre-commit)")
    hooks = {h["id"]: h for h in clientlib.load_manifest(str(Path(REPO_ROOT) / ".pre-commit-hooks.yaml"))}
    files = re.compile(hooks["pipe-validate"]["files"])
    for name in ("Pipefile", "Pipefile.yaml", "Pipefile.yml", "pipelines/Pipefile"):
        assert files.search(name), name
    for name in ("src/train.py", "README.md", "NotAPipefile"):
        assert not files.search(name), name
    assert hooks["pipe-check"]["always_run"] is True
    for h in hooks.values():
        _check_command(shlex.split(h["entry"]))


@pytest.mark.parametrize("where", ["a-folder", "notes.txt/ci.json", "gone-link"])
def test_a_summary_path_that_cannot_be_written_is_said_before_the_run(repo: Repo, where):
    # It was said (exit 2) only once the whole run was over: hours of training, then the
    # error. Now before anything runs; the step's command never started.
    repo.pipefile(
        "version: 1\nsteps:\n  s:\n    command: touch ran.txt && echo x > ${{outputs.o}}\n    outputs: {o: out.txt}\n"
    )
    os.makedirs(repo.root / "a-folder")
    repo.write("notes.txt", "a file\n")
    os.symlink(repo.root / "nowhere" / "x.json", repo.root / "gone-link")
    r = repo.pipe("run", "--ci", "--summary", where)
    assert r.code == 2, str(r)
    assert where.rstrip("/") in r.err and "Traceback" not in r.err, str(r)
    assert not (repo.root / "ran.txt").exists()
