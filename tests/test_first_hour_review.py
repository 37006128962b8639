"""A new user's first hour, following the docs: the errors of a first Pipefile say how to
fix it, and what `pipe init` writes (its README's commands) works as written."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from workspace_repo import PIPE

PIPEFILE = """\
version: 1
steps:
  prepare:
    command: echo hi > ${{outputs.o}}
    outputs: {o: build/o.txt}
  train:
    command: cp ${{inputs.i}} ${{outputs.m}}
    inputs: {i: "${{steps.prepare.outputs.o}}"}
    outputs: {m: build/m.txt}
"""


def pipe_in(cwd: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, PIPE_PLAIN="1")
    env.pop("PIPE_STORE_DIR", None)
    return subprocess.run(PIPE + list(args), cwd=cwd, capture_output=True, text=True, env=env, timeout=timeout)


@pytest.mark.parametrize(
    "old, new, hint",
    [
        # a key one space left of its neighbours
        ("    outputs: {m:", "   outputs: {m:", "check the indentation of line 9"),
        # a key two spaces right of its neighbours
        ("    outputs: {m:", "      outputs: {m:", "check the indentation of line 9"),
        # a step's name out of line with the other step's
        ("  train:", " train:", "check the indentation of line 6"),
        # a tab where spaces belong
        ("    outputs: {m:", "\toutputs: {m:", "replace the tab with spaces"),
        ("    outputs: {m:", "  \toutputs: {m:", "replace the tab with spaces"),
    ],
    ids=["left", "right", "step-name", "tab", "spaces-then-tab"],
)
def test_a_badly_indented_pipefile_gets_a_hint_that_names_the_indentation(tmp_path, old, new, hint):
    (tmp_path / "Pipefile").write_text(PIPEFILE.replace(old, new))
    r = pipe_in(tmp_path, "validate")
    assert r.returncode == 2, r.stderr
    assert "Pipefile:" in r.stderr and "invalid YAML" in r.stderr, r.stderr
    hints = [line for line in r.stderr.splitlines() if line.startswith("  hint: ")]
    assert hints and hint in hints[0], r.stderr


def _commands_in(text: str) -> list[list[str]]:
    """The `pipe ...` commands a template's README or Pipefile shows (indented lines and
    `pipe ...` in backquotes), as argv lists without the comments."""
    import re
    import shlex

    found = [m.group(1) for m in re.finditer(r"^ {4}(pipe [^#\n]*)", text, re.M)]
    found += re.findall(r"`(pipe [^`]*)`", text)
    return [shlex.split(c)[1:] for c in found]


@pytest.mark.parametrize("template", ["minimal", "sklearn", "std"])
def test_every_command_a_template_shows_names_a_command_that_runs(tmp_path, template):
    """`pipe metrics` is a group: alone it prints its usage and exits 2, so a README that
    shows it sends a new user's second command into an error."""
    import click

    from pipefile.cli.app import main

    r = pipe_in(tmp_path, "init", "demo", "--template", template)
    assert r.returncode == 0, r.stderr
    texts = [(tmp_path / "demo" / name).read_text() for name in ("README.md", "Pipefile")]
    commands = [c for text in texts for c in _commands_in(text)]
    assert commands
    ctx = click.Context(main)
    for argv in commands:
        command, words = main, list(argv)
        while isinstance(command, click.Group):
            name = next((w for w in words if not w.startswith("-")), None)
            if name is None and command.invoke_without_command:
                break  # a group that answers alone (`pipe artifacts` lists them)
            assert name is not None, f"`pipe {' '.join(argv)}` names a group, not a command: it only prints usage"
            command = command.get_command(ctx, name)
            assert command is not None, f"`pipe {' '.join(argv)}`: no command {name!r}"
            words = words[words.index(name) + 1 :]


def test_the_sklearn_readme_runs_as_written(tmp_path):
    """Each command of the sklearn template's README, in order, after `pipe init`: exit 0."""
    import importlib.util
    import re
    import shlex

    if importlib.util.find_spec("sklearn") is None:
        pytest.skip("needs scikit-learn")
    pipe_in(tmp_path, "init", "demo", "--template", "sklearn")
    readme = (tmp_path / "demo" / "README.md").read_text()
    for line in re.findall(r"^ {4}(pipe [^#\n]*)", readme, re.M):
        r = pipe_in(tmp_path / "demo", *shlex.split(line)[1:])
        assert r.returncode == 0, f"{line}: exit {r.returncode}\n{r.stdout}{r.stderr}"


def test_the_pipefile_keys_the_glossary_names_exist():
    """docs/concepts.md named the key of a versioned output `artifact:`, which the loader
    refuses (unknown key); it is `name:`. Every `KEY: VALUE` the glossary shows must be a key
    of the Pipefile's JSON Schema."""
    import json
    import re

    root = Path(__file__).resolve().parent.parent
    schema = json.loads((root / "pipefile/schema/pipefile.schema.json").read_text())
    keys: set = set()

    def walk(node) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "properties" and isinstance(v, dict):
                    keys.update(v)
                walk(v)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(schema)
    shown = re.findall(r"`([a-z_]+): [^`]+`", (root / "docs/concepts.md").read_text())
    assert shown
    assert [k for k in shown if k not in keys] == []


def test_a_step_that_writes_no_output_is_told_where_to_write_it(tmp_path):
    """A first step often writes somewhere else than its output; the failure named the
    output only, not where the command must write it."""
    (tmp_path / "Pipefile").write_text(
        "version: 1\nsteps:\n  b:\n    command: echo done > elsewhere.txt\n    outputs: {p: build/p.txt}\n"
    )
    r = pipe_in(tmp_path, "run")
    assert r.returncode == 1, r.stderr
    assert "did not write its output 'p' ('build/p.txt')" in r.stderr, r.stderr
    assert "must write it at ${{outputs.p}} (or at 'build/p.txt')" in r.stderr, r.stderr


@pytest.mark.parametrize("name", ["my project!", "data $HOME", "-odd"])
def test_the_next_command_pipe_init_prints_runs_when_pasted(tmp_path, name):
    """`pipe init "my project!"` printed `next: cd my project! && pipe run`, which a shell
    reads as other words: the folder is quoted now."""
    r = pipe_in(tmp_path, "init", "--", name)
    assert r.returncode == 0, r.stderr
    line = next(x for x in r.stdout.splitlines() if x.startswith("next: "))[len("next: ") :]
    assert line.endswith(" && pipe run"), line
    cd = line[: -len(" && pipe run")] + " && pwd"
    shown = subprocess.run(["sh", "-c", cd], cwd=tmp_path, capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert Path(shown.stdout.strip()) == (tmp_path / name).resolve()


def test_a_gitignore_whose_end_marker_was_deleted_keeps_the_users_lines(tmp_path):
    """With pipe's end marker deleted by hand and lines of the user's added below, the first
    refresh appended a new block and the second replaced everything from the orphan start
    marker to the new end marker: the user's lines (a secrets file among them) were gone."""
    assert pipe_in(tmp_path, "init").returncode == 0
    gi = tmp_path / ".gitignore"
    kept = [line for line in gi.read_text().splitlines() if not line.startswith("# <<< pipe")]
    gi.write_text("\n".join(kept + ["my-secret.env", "*.log"]) + "\n")
    for _ in range(3):
        r = pipe_in(tmp_path, "init")
        assert r.returncode == 0, r.stderr
        text = gi.read_text()
        assert "my-secret.env\n" in text and "*.log\n" in text, text
    # the refreshes settle: one well-formed block, refreshed in place, nothing more appended
    assert text.count("# <<< pipe") == 1, text
    assert "unchanged" in pipe_in(tmp_path, "init").stdout


def test_a_gitignore_with_its_markers_swapped_is_refreshed_not_a_crash(tmp_path):
    """The end marker above the start marker (lines moved by hand) was exit 70, an internal
    error (ValueError: substring not found); now a block is added once, the lines kept."""
    assert pipe_in(tmp_path, "init").returncode == 0
    gi = tmp_path / ".gitignore"
    lines = gi.read_text().splitlines()
    gi.write_text("\n".join([lines[-1], "mine", lines[0]]) + "\n")  # end marker, a line, start marker
    r = pipe_in(tmp_path, "init")
    assert r.returncode == 0, r.stderr
    once = gi.read_text()
    assert "mine\n" in once and "/.pipe/\n" in once
    assert pipe_in(tmp_path, "init").returncode == 0
    assert gi.read_text() == once


def test_a_gitignore_not_in_utf8_with_crlf_lines_is_kept_byte_for_byte(tmp_path):
    """A .gitignore saved in Latin-1 was exit 70 (UnicodeDecodeError); one with CRLF line ends
    had every line rewritten with LF. Now the user's bytes stay, and the block uses CRLF too."""
    assert pipe_in(tmp_path, "init").returncode == 0
    mine = b"caf\xe9.txt\r\n*.log\r\n"
    (tmp_path / ".gitignore").write_bytes(mine)
    r = pipe_in(tmp_path, "init")
    assert r.returncode == 0, r.stderr
    data = (tmp_path / ".gitignore").read_bytes()
    assert data.startswith(mine) and b"\r\n/.pipe/\r\n" in data and b"\n" not in data.replace(b"\r\n", b""), data
    assert "unchanged" in pipe_in(tmp_path, "init").stdout


@pytest.mark.parametrize("kind", ["folder", "fifo"])
def test_a_gitignore_that_is_no_file_is_bad_input_not_a_bug(tmp_path, kind):
    """A folder named .gitignore was exit 70 (IsADirectoryError); a FIFO hung pipe init."""
    assert pipe_in(tmp_path, "init").returncode == 0
    gi = tmp_path / ".gitignore"
    gi.unlink()
    gi.mkdir() if kind == "folder" else os.mkfifo(gi)
    r = pipe_in(tmp_path, "init", timeout=60)
    assert r.returncode == 2, r.stderr
    assert ".gitignore" in r.stderr and "hint: " in r.stderr, r.stderr


def test_the_gitignore_block_names_outputs_with_glob_characters_literally(tmp_path):
    """An output `build/m[v1].txt` was listed as the glob it reads as: git matched build/m1.txt
    and not the output (committed by accident); `build/x*y.txt` hid every build/x...y.txt,
    sources included. The block escapes them, so each line is the output and nothing else."""
    (tmp_path / "Pipefile").write_text(
        "version: 1\nsteps:\n  a:\n    command: echo > ${{outputs.a}}; echo > ${{outputs.b}}\n"
        '    outputs: {a: "build/m[v1].txt", b: "build/x*y.txt"}\n'
    )
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    assert pipe_in(tmp_path, "run").returncode == 0
    assert pipe_in(tmp_path, "init").returncode == 0
    (tmp_path / "build/m1.txt").write_text("mine\n")
    (tmp_path / "build/xsecret-y.txt").write_text("mine\n")
    paths = ["build/m[v1].txt", "build/x*y.txt", "build/m1.txt", "build/xsecret-y.txt"]
    r = subprocess.run(["git", "check-ignore", "--no-index", *paths], cwd=tmp_path, capture_output=True, text=True)
    assert r.stdout.splitlines() == ["build/m[v1].txt", "build/x*y.txt"], r.stdout


def test_a_number_in_an_argv_command_gets_the_quote_as_its_fix(tmp_path):
    """`command: [python, train.py, --epochs, 10]` is refused (10 is a number to YAML); the
    message gave no hint, though docs/pipefile.md's table says the fix is to quote it."""
    (tmp_path / "Pipefile").write_text("steps:\n  a:\n    command: [python, train.py, --epochs, 10]\n")
    r = pipe_in(tmp_path, "validate")
    assert r.returncode == 2, r.stderr
    assert "Pipefile:3:43: each argument of the command of step 'a' must be a string, not '10'" in r.stderr
    assert 'hint: quote it: "10"' in r.stderr, r.stderr


def test_a_script_the_command_runs_but_code_does_not_list_is_warned_about(tmp_path):
    """A first Pipefile often runs `python src/x.py` without `code: [src/x.py]`: an edit to the
    script then leaves the output stale (`pipe status`: fresh), and nothing said so."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src/x.py").write_text("print('v1')\n")
    (tmp_path / "src/y.py").write_text("print('v1')\n")
    (tmp_path / "Pipefile").write_text(
        "steps:\n"
        "  a:\n    command: python src/x.py > ${{outputs.o}}\n    outputs: {o: build/a.txt}\n"
        # declared: no warning (code:, a folder of code, an input)
        "  b:\n    command: python3 src/y.py > ${{outputs.o}}\n    outputs: {o: build/b.txt}\n    code: [src]\n"
        "  c:\n    command: [python, src/y.py, '${{inputs.s}}']\n    inputs: {s: src/y.py}\n    outputs: {o: build/c.txt}\n"
    )
    r = pipe_in(tmp_path, "validate")
    assert r.returncode == 0, r.stderr
    warnings = [line for line in r.stderr.splitlines() if line.startswith("warning: ")]
    assert warnings == [
        "warning: Pipefile:3:14: step 'a' runs 'src/x.py', which is not in its code: an edit to it will not "
        "rerun the step"
    ], r.stderr
    assert "hint: add it to the step: code: [src/x.py]" in r.stderr


def test_an_imported_azure_ml_step_that_runs_in_its_code_folder_is_not_warned_about(tmp_path):
    """`render: azureml` steps run with their code folder as working directory: `python
    train.py` there is the code folder's train.py, which `code:` covers."""
    import shutil

    src = Path(__file__).resolve().parent / "azureml_fixtures" / "sklearn"
    shutil.copytree(src, tmp_path / "p")
    assert pipe_in(tmp_path / "p", "import", "azureml", "pipeline.yml", "-o", "Pipefile").returncode == 0
    r = pipe_in(tmp_path / "p", "validate")
    assert r.returncode == 0, r.stderr
    assert "which is not in its code" not in r.stderr, r.stderr


def test_a_script_of_a_pipefile_used_as_a_component_is_read_from_its_folder(tmp_path):
    """The inner steps of `component: ./train/Pipefile` run in train/ (their `workdir`), so
    `python prep.py` there is train/prep.py, which its `code: [prep.py]` covers: no warning.
    One that its code does not cover is named by its workspace path."""
    (tmp_path / "train").mkdir()
    (tmp_path / "train/prep.py").write_text("print('v1')\n")
    (tmp_path / "train/other.py").write_text("print('v1')\n")
    (tmp_path / "train/Pipefile").write_text(
        "steps:\n"
        "  prep:\n    command: python prep.py > ${{outputs.o}}\n    outputs: {o: build/p.txt}\n    code: [prep.py]\n"
        "  other:\n    command: python other.py > ${{outputs.o}}\n    outputs: {o: build/o.txt}\n"
    )
    (tmp_path / "Pipefile").write_text("steps:\n  t:\n    component: ./train/Pipefile\n")
    r = pipe_in(tmp_path, "validate")
    assert r.returncode == 0, r.stderr
    warnings = [line for line in r.stderr.splitlines() if "which is not in its code" in line]
    assert len(warnings) == 1 and "runs 'train/other.py'" in warnings[0], r.stderr


@pytest.mark.parametrize(
    "old, new, hint",
    [
        # an unclosed [ in a step that holds no expression (the file has others)
        (
            "    outputs: {o: build/o.txt}",
            "    outputs: [build/o.txt\n    x: 1",
            "the [ opened at line 5 is not closed",
        ),
        # an expression unquoted in a flow mapping: the hint that fits it, as before
        (
            '    inputs: {i: "${{steps.prepare.outputs.o}}"}',
            "    inputs: {i: ${{steps.prepare.outputs.o}}}",
            "quote expressions",
        ),
    ],
    ids=["unclosed-bracket", "unquoted-expression"],
)
def test_a_broken_flow_gets_the_hint_of_what_broke_it(tmp_path, old, new, hint):
    # Was: any flow error in a file holding a `${{` anywhere got "quote expressions", even an
    # unclosed [ with no expression near it.
    assert old in PIPEFILE
    (tmp_path / "Pipefile").write_text(PIPEFILE.replace(old, new))
    r = pipe_in(tmp_path, "validate")
    assert r.returncode == 2 and "invalid YAML" in r.stderr, r.stderr
    hints = [line for line in r.stderr.splitlines() if line.startswith("  hint: ")]
    assert hints and hint in hints[0], r.stderr
