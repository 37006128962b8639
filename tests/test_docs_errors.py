"""The errors a user meets are the ones docs/pipefile.md's "Error messages" tables list (with
what to do): a bad Pipefile's message, read as pipe prints it, matches a row of those tables.
A message reworded in the code and not in the docs fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from workspace_repo import Repo, validation_errors

DOCS = Path(__file__).resolve().parent.parent / "docs"


def documented_messages(page: str = "pipefile.md", heading: str = "## Error messages") -> list[tuple[str, re.Pattern]]:
    """Each `message` of the tables under `heading` of `page`, as a pattern: a quoted
    placeholder ('S') stands for any quoted name, a bare one (X, T, N, PAIR) for any text,
    `...` for the rest."""
    text = (DOCS / page).read_text(encoding="utf-8")
    out = []
    for line in text[text.index(heading) :].splitlines():
        if not line.startswith("| "):
            continue
        cell = re.split(r"(?<!\\)\|", line)[1]
        for msg in re.findall(r"`([^`]+)`", cell):
            msg = msg.replace("\\|", "|")
            rx = re.escape(msg)
            rx = re.sub(r"'[A-Z][A-Z0-9]*'", "'[^']*'", rx)
            rx = rx.replace(re.escape("..."), ".*")
            rx = re.sub(r"\b(?:[A-Z][A-Z0-9]?|PAIR|FILE|DIR)\b", ".+?", rx)
            rx = rx.replace(r"a\ .+?", r"an?\ .+?")  # "a T": "an integer" too
            out.append((msg, re.compile(rx)))
    return out


CASES = {
    "a list": "- a\n",
    "an unknown key": "steps:\n  a: {command: echo, comand: x}\n",
    "a name twice": "steps:\n  a: {command: echo}\n  a: {command: echo}\n",
    "no command": "steps:\n  a: {outputs: {o: build/o}}\n",
    "command and component": "components:\n  c: {command: echo}\nsteps:\n  a: {command: echo, component: c}\n",
    "an unknown component": "steps:\n  a: {component: zz}\n",
    "negative cpus": "steps:\n  a: {command: echo, resources: {cpus: -1}}\n",
    "a memory that is no size": "steps:\n  a: {command: echo, resources: {memory: lots}}\n",
    "too many retries": "steps:\n  a: {command: echo, retries: 500}\n",
    "a timeout that is no duration": "steps:\n  a: {command: echo, timeout: soon}\n",
    "an unclosed expression": "steps:\n  a:\n    command: echo ${{inputs.x\n",
    "an absolute output": "steps:\n  a: {command: echo, outputs: {o: /tmp/x}}\n",
    "an output outside": "steps:\n  a: {command: echo, outputs: {o: ../x}}\n",
    "an output in .pipe": "steps:\n  a: {command: echo, outputs: {o: .pipe/x}}\n",
    "an asset without a path": "assets:\n  r: {type: uri_file}\nsteps:\n  a: {command: echo}\n",
    "text around an expression": "params: {n: x}\nsteps:\n  a:\n    command: echo\n    inputs: {i: 'data/${{params.n}}.csv'}\n",
    "a list bound": "steps:\n  a: {command: echo, inputs: {i: [1, 2]}}\n",
    "an asset in a command": "assets: {r: data}\nsteps:\n  a:\n    command: echo ${{assets.r}}\n",
    "an undeclared input": "steps:\n  a:\n    command: echo ${{inputs.q}}\n",
    "another version": "version: 3\nsteps:\n  a: {command: echo}\n",
    "no steps": "steps: {}\n",
    "an unknown executor": "settings: {executor: spark}\nsteps:\n  a: {command: echo}\n",
    "an unknown key_includes item": "steps:\n  a: {command: echo, key_includes: [cpu]}\n",
    "a fraction of a GPU": "steps:\n  a: {command: echo, resources: {gpus: 1.5}}\n",
    "a YAML tag": "steps:\n  a: {command: !!python/object x}\n",
    "a key of another environment type": "environments:\n  e: {type: venv, image: x}\nsteps:\n  a: {command: echo, environment: e}\n",
    "python as a number": "environments:\n  e: {type: venv, python: 3.10}\nsteps:\n  a: {command: echo, environment: e}\n",
    "a default of the wrong type": "params:\n  p: {type: integer, default: abc}\nsteps:\n  a:\n    command: echo ${{params.p}}\n",
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_pipefiles_message_is_in_the_docs_table(tmp_path: Path, case: str) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "Pipefile").write_text(CASES[case])
    errors = validation_errors(tmp_path)
    assert errors, f"{case}: no error"
    rows = documented_messages()
    for e in errors:
        assert any(rx.search(e.message) for _, rx in rows), (
            f"{case}: pipe says {e.message!r}, which no row of docs/pipefile.md's Error messages gives"
        )


def test_a_timed_out_steps_message_is_in_the_docs_table(tmp_path: Path) -> None:
    repo = Repo(tmp_path)
    repo.pipefile("steps:\n  a: {command: sleep 30, timeout: 1s}\n")
    r = repo.pipe("run", timeout=60)
    assert r.code == 1, str(r)
    said = next(line for line in r.err.splitlines() if "timed out" in line)
    assert any(rx.fullmatch(said) for _, rx in documented_messages()), said


def test_reading_the_latest_of_an_artifact_this_pipefile_makes_is_in_artifacts_md(tmp_path: Path) -> None:
    repo = Repo(tmp_path)
    repo.write("data/raw.csv", "x\n")
    repo.pipefile(
        """\
        steps:
          train:
            command: cp data/raw.csv ${{outputs.model}}
            outputs: {model: {path: build/model, name: model}}
          evaluate:
            command: cat ${{inputs.model}} > ${{outputs.report}}
            inputs: {model: "${{artifacts.model}}"}
            outputs: {report: build/report.txt}
        """
    )
    errors = validation_errors(tmp_path)
    assert [e.message for e in errors if "latest" in e.message], errors
    rows = documented_messages("artifacts.md", "## Bad input")
    for e in errors:
        assert any(rx.search(e.message) for _, rx in rows), f"artifacts.md's Bad input has no row for {e.message!r}"


def test_the_variables_pipe_sets_cannot_be_set_by_an_environment(tmp_path: Path) -> None:
    """pipefile.md lists what pipe sets for every command; environments.md says an `env:`
    cannot set them. Each is refused at load, at its line (exit 2), never left to the run:
    PIPE_METRICS_STREAM was accepted, and the step then failed with an internal error."""
    text = (DOCS / "pipefile.md").read_text(encoding="utf-8")
    m = re.search(r"with the\s+environment of `pipe` plus (.*?)\.\n", text, re.S)
    assert m
    # PYTHONUNBUFFERED is pipe's default only ("unless set"): an environment may set it.
    names = set(re.findall(r"`([A-Z_]+)`", m.group(1))) - {"PYTHONUNBUFFERED"}
    assert {"PIPE_STEP", "PIPE_METRICS_STREAM"} <= names
    for name in sorted(names):
        (tmp_path / "Pipefile").write_text(
            f"environments:\n  e: {{type: local, env: {{{name}: x}}}}\nsteps:\n  a: {{command: echo, environment: e}}\n"
        )
        errors = validation_errors(tmp_path)
        assert any(f"sets {name}, which pipe sets for every step" in e.message for e in errors), (name, errors)
    repo = Repo(tmp_path)
    r = repo.pipe("run")
    assert r.code == 2 and "internal error" not in r.err, str(r)
