"""A project that starts itself: `pipe init` templates, the Pipefile found from a subfolder,
and `pipe help` reading the shipped docs."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
from pathlib import Path

import pytest
from workspace_repo import PIPE, Repo

ROOT = Path(__file__).resolve().parent.parent


def pipe_in(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PIPE_PLAIN="1")
    env.pop("PIPE_STORE_DIR", None)
    return subprocess.run(PIPE + list(args), cwd=cwd, capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.parametrize("template", ["minimal", "sklearn"])
def test_init_then_run_from_an_empty_folder(tmp_path, template):
    if template == "sklearn" and importlib.util.find_spec("sklearn") is None:
        pytest.skip("scikit-learn is not installed")
    r = pipe_in(tmp_path, "init", "proj", "--template", template)
    assert r.returncode == 0, r.stderr
    proj = tmp_path / "proj"
    assert (proj / "Pipefile").is_file() and (proj / ".pre-commit-config.yaml").is_file()
    assert "next: cd proj && pipe run" in r.stdout
    run = pipe_in(proj, "run")
    assert run.returncode == 0, run.stdout + run.stderr
    again = pipe_in(proj, "run", "--json")
    assert again.returncode == 0 and '"ran"' not in again.stdout, again.stdout
    ignore = (proj / ".gitignore").read_text()
    assert "/.pipe/" in ignore and "/build/" in ignore


def test_init_writes_a_gitignore_block_that_git_honours(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text("*.log\n")
    assert pipe_in(tmp_path, "init").returncode == 0
    assert pipe_in(tmp_path, "run", "--ci").returncode == 0  # --ci writes pipe-summary.json
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"], cwd=tmp_path, capture_output=True, text=True
    ).stdout
    assert "build/" not in status and ".pipe/" not in status and "pipe-summary" not in status, status
    assert "Pipefile" in status and "data/words.txt" in status
    text = (tmp_path / ".gitignore").read_text()
    assert text.startswith("*.log\n"), text  # the user's own lines stay


def test_init_in_a_folder_below_the_repository_top_writes_hooks_that_run_from_the_top(tmp_path):
    # pre-commit runs hooks at the repository's top, where `pipe` alone finds no Pipefile.
    import shlex

    import yaml

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    r = pipe_in(tmp_path, "init", "ml project")
    assert r.returncode == 0 and "top of the repository" in r.stdout, r.stdout + r.stderr
    config = tmp_path / "ml project" / ".pre-commit-config.yaml"
    hooks = yaml.safe_load(config.read_text())["repos"][0]["hooks"]
    assert pipe_in(tmp_path / "ml project", "run").returncode == 0
    for hook in hooks:
        argv = shlex.split(hook["entry"])
        assert argv[0] == "pipe", hook
        done = pipe_in(tmp_path, *argv[1:])
        assert done.returncode == 0, (hook, done.stdout, done.stderr)
    assert re.search(hooks[0]["files"], "ml project/Pipefile") and not re.search(hooks[0]["files"], "Pipefile")


def test_init_refreshes_only_its_block_when_outputs_change(tmp_path):
    assert pipe_in(tmp_path, "init").returncode == 0
    ignore = tmp_path / ".gitignore"
    ignore.write_text("mine/\n" + ignore.read_text() + "after/\n")
    pf = tmp_path / "Pipefile"
    pf.write_text(pf.read_text().replace("build/report.txt", "out/report.txt"))
    r = pipe_in(tmp_path, "init")
    assert r.returncode == 0 and "updated" in r.stdout, r.stdout + r.stderr
    text = ignore.read_text()
    assert "/out/report.txt" in text and "/build/report.txt" not in text
    assert text.startswith("mine/\n") and text.endswith("after/\n"), text
    assert "unchanged" in pipe_in(tmp_path, "init").stdout


def test_init_never_replaces_files_unless_forced(tmp_path):
    (tmp_path / "README.md").write_text("my notes\n")
    r = pipe_in(tmp_path, "init", "--template", "minimal")
    assert r.returncode == 2 and "README.md" in r.stderr and "--force" in r.stderr, r.stderr
    assert (tmp_path / "README.md").read_text() == "my notes\n"
    assert not (tmp_path / "Pipefile").exists()  # nothing half-written
    assert pipe_in(tmp_path, "init", "--template", "minimal", "--force").returncode == 0
    assert "pipe init" in (tmp_path / "README.md").read_text()


def test_init_unknown_template_names_the_choices(tmp_path):
    r = pipe_in(tmp_path, "init", "--template", "nope")
    assert r.returncode == 2
    assert "no template 'nope'" in r.stderr and "minimal" in r.stderr and "sklearn" in r.stderr
    listed = pipe_in(tmp_path, "init", "--list")
    assert listed.returncode == 0 and "minimal" in listed.stdout and "std" in listed.stdout


def test_the_pipefile_is_found_from_a_subfolder(repo: Repo):
    repo.pipefile(
        """\
        version: 1
        steps:
          make:
            command: echo hi > ${{outputs.o}}
            outputs: {o: build/out/o.txt}
        """
    )
    deep = repo.root / "src" / "deeper"
    deep.mkdir(parents=True)
    r = pipe_in(deep, "run")
    assert r.returncode == 0, r.stderr
    assert (repo.root / "build/out/o.txt").read_text() == "hi\n"
    assert not (deep / "build").exists() and not (deep / ".pipe").exists()
    # an output path given from a subfolder is read from there, as git reads paths
    (repo.root / "build/out/o.txt").unlink()
    r = pipe_in(repo.root / "build", "status", "out/o.txt")
    assert r.returncode == 0 and "make" in r.stdout, r.stdout + r.stderr


def test_the_search_stops_at_the_top_of_a_git_repository(tmp_path):
    (tmp_path / "Pipefile").write_text("version: 1\nsteps: {}\n")
    inner = tmp_path / "other-project"
    (inner / "sub").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(inner)], check=True)
    r = pipe_in(inner / "sub", "status")
    assert r.returncode == 2
    assert "no Pipefile in" in r.stderr and "any folder above it" in r.stderr and "pipe init" in r.stderr


def test_help_lists_topics_and_prints_pages():
    root = ROOT
    r = pipe_in(root, "help")
    assert r.returncode == 0 and "pipefile" in r.stdout and "concepts" in r.stdout
    page = pipe_in(root, "help", "concepts")
    assert page.returncode == 0
    assert page.stdout == (ROOT / "docs" / "concepts.md").read_text()
    command = pipe_in(root, "help", "run")
    assert command.returncode == 0 and "Usage:" in command.stdout and " run [OPTIONS] [TARGETS]" in command.stdout
    wrong = pipe_in(root, "help", "pipefil")
    assert wrong.returncode == 2 and "pipe help pipefile" in wrong.stderr


def test_help_pages_ship_inside_the_package():
    import pipefile

    docs = Path(pipefile.__file__).parent / "docs"
    assert (docs / "pipefile.md").is_file()
    assert sorted(p.name for p in docs.glob("*.md")) == sorted(p.name for p in (ROOT / "docs").glob("*.md"))


@pytest.mark.parametrize("where", ["", "/proc", "/proc/new", "a_file/sub"])
def test_init_where_no_project_can_be_written_is_bad_usage(tmp_path, where):
    """Each was exit 70 (FileNotFoundError, NotADirectoryError from makedirs or the first write)."""
    (tmp_path / "a_file").write_text("x")
    r = pipe_in(tmp_path, "init", where)
    assert r.returncode == 2 and "internal error" not in r.stderr, r.stderr
    assert "hint:" in r.stderr and "pipe init my-project" in r.stderr, r.stderr
