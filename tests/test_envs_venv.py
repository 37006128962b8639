"""venv environments, for real: built from small PyPI packages (six), once per content.

Needs PyPI (or PIP_INDEX_URL); skipped without it, failed in CI
(PIPE_CI_REQUIRE_SERVICES=1). Kept to a few builds: each costs seconds.
"""

from __future__ import annotations

import os
import subprocess

import pytest
from envsupport import need, pypi_reachable
from workspace_repo import PIPE

PROBE = 'python -c "import six, sys; print(six.__version__, sys.prefix)" > ${{outputs.o}}'


@pytest.fixture(autouse=True)
def _pypi():
    need(pypi_reachable(), "PyPI is not reachable: venv environments cannot install packages here")


def _store_envs(repo) -> list:
    d = repo.root / ".pipe/store/envs"
    return sorted(p.name for p in d.iterdir() if p.is_symlink()) if d.exists() else []


def test_venv_is_built_once_shared_by_steps_and_rebuilt_only_when_its_content_changes(repo):
    repo.write("envs/req.txt", "six==1.16.0\n")
    repo.pipefile(f"""
        environments:
          six: {{type: venv, requirements: envs/req.txt}}
        steps:
          a: {{command: '{PROBE}', outputs: {{o: out/a.txt}}, environment: six}}
          b: {{command: '{PROBE}', outputs: {{o: out/b.txt}}, environment: six}}
          plain: {{command: 'echo plain > ${{{{outputs.o}}}}', outputs: {{o: out/p.txt}}}}
    """)
    assert repo.outcomes("-j", "3", timeout=600) == {"a": "ran", "b": "ran", "plain": "ran"}
    version, prefix = repo.read("out/a.txt").split()
    assert version == "1.16.0" and repo.read("out/b.txt").split()[1] == prefix
    assert "/.pipe/store/envs/builds/venv-" in prefix
    logs = [(repo.root / f".pipe/jobs/1/{s}.log").read_text() for s in ("a", "b")]
    assert sum("pipe: building venv environment 'six'" in text for text in logs) == 1  # built once
    assert len(_store_envs(repo)) == 1
    envs = repo.pipe("envs", "--json").json
    (row,) = envs["environments"]
    assert row["built"] is True and row["steps"] == ["a", "b"] and row["size"] > 0
    assert row["identity"].startswith("venv:")
    assert repo.outcomes() == {"a": "fresh", "b": "fresh", "plain": "fresh"}

    # New content: exactly the steps that use it rerun, in a new build; the old one is unused.
    repo.write("envs/req.txt", "six==1.15.0\n")
    st = {s["name"]: s for s in repo.pipe("status", "--json").json["steps"]}
    assert [r["kind"] for r in st["a"]["reasons"]] == ["env_changed"] and st["plain"]["state"] == "fresh"
    assert repo.outcomes(timeout=600) == {"a": "ran", "b": "ran", "plain": "fresh"}
    assert repo.read("out/a.txt").split()[0] == "1.15.0"
    assert len(_store_envs(repo)) == 2
    r = repo.pipe("envs")
    assert "1 unused build(s) in the store" in r.out, str(r)
    r = repo.pipe("envs", "prune", "--dry-run")
    assert "would remove venv" in r.out and len(_store_envs(repo)) == 2, str(r)
    r = repo.pipe("envs", "prune")
    assert r.code == 0 and "removed 1 unused environment build(s)" in r.out, str(r)
    assert len(_store_envs(repo)) == 1
    assert repo.outcomes() == {"a": "fresh", "b": "fresh", "plain": "fresh"}  # the one in use stays


def test_requirements_that_do_not_resolve_show_pips_error_and_cache_nothing(repo):
    repo.pipefile("""
        environments:
          broken: {type: venv, packages: [pipefile-no-such-package-xyz==1.0]}
        steps:
          a: {command: 'echo never > ${{outputs.o}}', outputs: {o: out/a.txt}, environment: broken}
    """)
    r = repo.pipe("run", timeout=600)
    assert r.code == 1, str(r)
    assert "building venv environment 'broken'" in r.err
    assert "No matching distribution found for pipefile-no-such-package-xyz==1.0" in r.err  # pip's own words
    assert not repo.exists("out/a.txt")
    builds = repo.root / ".pipe/store/envs/builds"
    assert _store_envs(repo) == [] and (not builds.exists() or os.listdir(builds) == [])
    assert repo.pipe("envs", "--json").json["environments"][0]["built"] is False


def test_workspaces_sharing_a_store_share_builds_and_prune_keeps_what_others_use(tmp_path):
    from workspace_repo import Repo

    store = str(tmp_path / "shared-store")
    one, two = Repo(tmp_path / "one"), Repo(tmp_path / "two")
    text = f"""
        environments:
          six: {{type: venv, packages: [six==1.16.0]}}
        steps:
          a: {{command: '{PROBE}', outputs: {{o: out/a.txt}}, environment: six}}
    """
    for ws in (one, two):
        ws.root.mkdir()
        ws.pipefile(text)
    env = {"PIPE_STORE_DIR": store}
    # Two `pipe run` processes at once need the same new venv: it is built once, by one of them.
    procs = [
        subprocess.Popen(
            PIPE + ["run"],
            cwd=ws.root,
            env=dict(os.environ, PIPE_PLAIN="1", **env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for ws in (one, two)
    ]
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    logs = [(ws.root / ".pipe/jobs/1/a.log").read_text() for ws in (one, two)]
    assert sum("pipe: building venv environment 'six'" in text for text in logs) == 1, logs
    assert one.read("out/a.txt") == two.read("out/a.txt")  # the same build: same prefix
    assert len(os.listdir(os.path.join(store, "envs", "builds"))) == 1
    assert two.outcomes(env=env) == {"a": "fresh"}
    # `two` stops using it; `one` still does (it said so at its last run): prune keeps it.
    two.pipefile("""
        steps:
          a: {command: 'echo local > ${{outputs.o}}', outputs: {o: out/a.txt}}
    """)
    assert two.outcomes(env=env) == {"a": "ran"}
    r = two.pipe("envs", "prune", "--json", env=env)
    assert r.code == 0 and r.json["removed"] == [], str(r)
    builds = two.pipe("envs", "--json", env=env).json["builds"]
    assert len(builds) == 1 and builds[0]["used"] and builds[0]["used_by"] == [os.path.realpath(one.root)]
