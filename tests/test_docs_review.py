"""Faults found reviewing the docs against the code, each test failing before its fix."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from workspace_repo import validation_errors

BROKEN_DECLARATIONS = {
    "param": ("params:\n  p: {description: x}\n", "command: echo ${{params.p}}\n    inputs: {i: '${{params.p}}'}"),
    "asset": ("assets:\n  r: {type: uri_file}\n", "command: echo\n    inputs: {i: '${{assets.r}}'}"),
    "environment": ("environments:\n  e: {type: conda}\n", "command: echo\n    environment: e"),
}


@pytest.mark.parametrize("kind", sorted(BROKEN_DECLARATIONS))
def test_a_declaration_with_an_error_is_not_also_not_defined(tmp_path: Path, kind: str) -> None:
    """A param, asset or environment declared with an error (no type, no path, no file) was
    reported twice: at its declaration, and at each use as "which is not defined" / "there is
    no param", which is false (it is declared) and sends the reader to add what is there.
    Only the declaration's error is reported now."""
    head, step = BROKEN_DECLARATIONS[kind]
    (tmp_path / "Pipefile").write_text(f"{head}steps:\n  a:\n    {step}\n")
    errors = validation_errors(tmp_path)
    assert len(errors) == 1, [e.message for e in errors]
    assert "not defined" not in errors[0].message and "there is no" not in errors[0].message
    assert errors[0].loc is not None and errors[0].loc.line == 2


def test_an_undeclared_name_is_still_not_defined(tmp_path: Path) -> None:
    (tmp_path / "Pipefile").write_text(
        "steps:\n  a:\n    command: echo ${{params.q}}\n    environment: e\n    inputs: {i: '${{assets.r}}'}\n"
    )
    messages = sorted(e.message for e in validation_errors(tmp_path))
    assert len(messages) == 3 and all("not defined" in m or "there is no" in m for m in messages), messages


def _section(page: str, heading: str) -> str:
    text = (Path(__file__).resolve().parent.parent / "docs" / page).read_text(encoding="utf-8")
    start = text.index(f"\n{heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def test_every_field_of_a_jobs_json_is_named_in_jobs_md(tmp_path: Path) -> None:
    """jobs.md's "What a job holds" left out `cloned_from`, `noop`, `metrics` (of `jobs show
    --json`), each step's `finished`, the `size` of a code entry, and the outcomes `stopped`
    and `on-remote`: a reader of the JSON met fields the page did not explain."""
    from workspace_repo import Repo

    held = _section("jobs.md", "## What a job holds")
    words = set(re.findall(r"\b([a-z_]+)\b", held))
    repo = Repo(tmp_path)
    repo.pipefile(
        """\
        steps:
          a:
            command: >-
              echo '{"loss": 1}' > ${{outputs.m}}
            outputs: {m: build/m.json}
            code: [run.sh]
            metrics: [build/m.json]
        """
    )
    repo.write("run.sh", "true\n")
    assert repo.pipe("run").code == 0
    job = repo.pipe("jobs", "show", "last", "--json").json
    missing = sorted(k for k in job if f"`{k}`" not in held)
    missing += sorted(f"steps[].{k}" for k in job["steps"][0] if f"`{k}`" not in held)
    missing += sorted(f"code.{k}" for entry in job["code"].values() for k in entry if k not in words)
    assert not missing, f"docs/jobs.md does not name {missing}"
    from pipefile.outcomes import Outcome

    recorded = set(Outcome) - {Outcome.WOULD_RUN, Outcome.WOULD_RESTORE, Outcome.RESTORE_FAILED}
    assert not [o.value for o in recorded if f"`{o.value}`" not in held], "an outcome a job records is not in jobs.md"


def test_every_key_of_a_lineage_json_is_named_in_artifacts_md(tmp_path: Path) -> None:
    """artifacts.md's `--json` of `pipe lineage` named neither a step node's `finished` nor a
    data node's `note`, nor what an input that is no data holds (`value` and `param`, `none`):
    the tree of a step with a param input and an optional one showed keys the page did not."""
    from workspace_repo import Repo

    page = (Path(__file__).resolve().parent.parent / "docs" / "artifacts.md").read_text(encoding="utf-8")
    described = page[page.index("- `--json` prints the tree") :]
    described = described[: described.index("\n- `--format mermaid`")]
    repo = Repo(tmp_path)
    repo.pipefile(
        """\
        params: {lr: 0.1}
        components:
          c:
            inputs: {data: uri_file, lr: number, seed: {type: integer, optional: true}}
            outputs: {out: uri_file}
            command: cat ${{inputs.data}} > ${{outputs.out}} $[[${{inputs.seed}}]]
        steps:
          a:
            component: c
            inputs: {data: data.txt, lr: "${{params.lr}}"}
            outputs: {out: {path: build/out.txt, name: out}}
            code: [data.txt]
        """
    )
    repo.write("data.txt", "x\n")
    assert repo.pipe("run").code == 0
    keys: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                keys.add(k)
                if k in ("inputs", "code"):  # keyed by the Pipefile's names and paths
                    for child in v.values():
                        walk(child)
                elif k not in ("params", "git"):  # values, not shapes
                    walk(v)

    walk(repo.pipe("lineage", "out", "--json").json)
    missing = sorted(k for k in keys if not re.search(rf"\b{k}\b", described))
    assert not missing, f"docs/artifacts.md's --json of pipe lineage does not name {missing}"


def test_every_option_of_pipe_ui_is_in_ui_md_and_a_short_token_is_said() -> None:
    """ui.md's table of `pipe ui`'s flags lacked the four `--azureml-*` options (the designer
    of an Azure ML pipeline job needs them as `pipe run` does), and said nothing of what a
    `--token` must be: `--token abc` was refused (exit 2) for a rule the page never gave."""
    import click

    from pipefile.cli.ui import ui

    page = (Path(__file__).resolve().parent.parent / "docs" / "ui.md").read_text(encoding="utf-8")
    table = _section("ui.md", "## Starting it")
    flags = [o for p in ui.params if isinstance(p, click.Option) for o in p.opts if o.startswith("--")]
    missing = [f for f in flags if f != "--help" and not re.search(rf"(?<![\w-]){f}(?![\w-])", table)]
    assert not missing, f"docs/ui.md's table of pipe ui's flags lacks {missing}"
    assert "at least 8 characters" in page


def test_every_entry_of_a_workspaces_pipe_folder_is_in_store_md(tmp_path: Path) -> None:
    """store.md says what `.pipe/` holds, yet its table named neither the workspace lock,
    `running/`, `.gitignore`, `saved.log`, nor the folders a named artifact binding, a
    pipeline component, a foreach (its map record, its batches) and a matrix whose paths use
    its inputs leave there: a user looking in `.pipe/` met entries no page explained."""
    from workspace_repo import Repo

    text = (Path(__file__).resolve().parent.parent / "docs" / "store.md").read_text(encoding="utf-8")
    table = text[text.index("| path |") :]
    table = table[: table.index("\n\n")]
    repo = Repo(tmp_path)
    repo.write("items/a.txt", "a\n")
    repo.write("items/b.txt", "b\n")
    repo.pipefile(
        """\
        components:
          pipe2:
            type: pipeline
            outputs: {o: uri_file}
            steps:
              inner: {command: "echo x > ${{outputs.o}}", outputs: {o: "${{parent.outputs.o}}"}}
        steps:
          named:
            command: echo v > ${{outputs.o}}
            outputs: {o: {path: build/v.txt, name: v}}
          nested: {component: pipe2}
          each:
            foreach: ${{inputs.i}}
            inputs: {i: items}
            command: cat ${{inputs.i}} > ${{outputs.o}}
            outputs: {o: build/each/}
          batched:
            foreach: {over: "${{inputs.i}}", batch_size: 1}
            inputs: {i: items}
            command: ls ${{inputs.i}} > ${{outputs.o}}
            outputs: {o: build/batched/}
          grid:
            matrix: {n: [1, 2]}
            inputs: {n: {type: integer}}
            command: echo ${{inputs.n}} > ${{outputs.o}}
            outputs: {o: "build/grid-${{inputs.n}}.txt"}
          read:
            command: ls ${{inputs.g}} ${{inputs.n}} ${{inputs.v}} > ${{outputs.o}}
            inputs: {g: "${{steps.grid.outputs.o}}", n: "${{steps.nested.outputs.o}}", v: "${{artifacts.w:1}}"}
            outputs: {o: build/read.txt}
        """
    )
    repo.write("w.txt", "w\n")
    assert repo.pipe("asset", "add", "w.txt", "--name", "w").code == 0
    assert repo.pipe("run", "named").code == 0
    repo.write("build/v.txt", "edited by hand\n")  # saved in the store before it is replaced
    assert repo.pipe("run").code == 0, repo.pipe("run")
    entries = [p.name for p in (tmp_path / ".pipe").iterdir()]
    missing = sorted(e for e in entries if f"`.pipe/{e}" not in table)
    assert not missing, f"docs/store.md's table of .pipe/ does not name {missing}"


INCLUDE_LEAVES_OUT_DEPTH = """\
components:
  c:
    inputs: {lr: number, depth: integer, k: {type: integer, default: 4}}
    outputs: {o: uri_file}
    command: echo ${{inputs.lr}} ${{inputs.depth}} ${{inputs.k}} > ${{outputs.o}}
steps:
  t:
    matrix:
      lr: [0.1]
      depth: [3]
      include: [{lr: 0.5}]
"""


@pytest.mark.parametrize(
    "tail,where,says",
    [
        (  # an inline step: the axis used outside $[[ ]]
            "    inputs: {lr: {type: number}, depth: {type: integer}}\n"
            "    command: echo ${{inputs.lr}} --depth ${{inputs.depth}} > ${{outputs.o}}\n"
            "    outputs: {o: build/t}\n",
            13,
            "is an axis of its matrix that an include: gives no value, but is used outside $[[ ... ]]",
        ),
        (  # a component's required input
            "    component: c\n    outputs: {o: build/t}\n",
            8,
            "an include: of the matrix of step 't' gives no value for axis 'depth', a required input",
        ),
        (  # an output path of the axis (was an internal error: KeyError, exit 70)
            "    inputs: {lr: {type: number}, depth: {type: integer}}\n"
            "    command: echo $[[${{inputs.depth}}]] > ${{outputs.o}}\n"
            "    outputs: {o: 'build/t-${{inputs.lr}}-${{inputs.depth}}.txt'}\n",
            14,
            "output 'o' of step 't' uses axis 'depth', which an include: of its matrix gives no value",
        ),
    ],
    ids=["inline-command", "component-input", "output-path"],
)
def test_a_matrix_include_that_leaves_out_an_axis_the_task_needs_is_refused(
    tmp_path: Path, tail: str, where: int, says: str
) -> None:
    """pipefile.md: `include:` adds a combination, every axis given. One that left an axis
    out made a task whose input had no value: the command got `--depth ''` (a component's
    required input too), and an output path of that axis was an internal error (exit 70).
    Each is refused at load, located, with the fix."""
    (tmp_path / "Pipefile").write_text(INCLUDE_LEAVES_OUT_DEPTH + tail)
    errors = validation_errors(tmp_path)
    assert [(e.loc.line if e.loc else None, says in e.message) for e in errors] == [(where, True)], [
        str(e) for e in errors
    ]
    assert "include:" in (errors[0].hint or "")


def test_a_matrix_include_may_leave_out_an_axis_that_can_have_no_value(tmp_path: Path) -> None:
    """Left out where it may have no value (inside $[[ ]], or a component input with a
    default), the included task runs as before: the block drops, the default applies."""
    from workspace_repo import Repo

    repo = Repo(tmp_path)
    repo.pipefile(
        INCLUDE_LEAVES_OUT_DEPTH.replace("depth: integer,", "depth: {type: integer, default: 9},")
        + "    component: c\n    outputs: {o: build/t}\n"
        + "  u:\n    matrix: {lr: [0.1], depth: [3], include: [{lr: 0.5}]}\n"
        + "    inputs: {lr: {type: number}, depth: {type: integer}}\n"
        + "    command: echo ${{inputs.lr}}$[[ --depth ${{inputs.depth}}]] > ${{outputs.o}}\n"
        + "    outputs: {o: build/u}\n"
    )
    assert repo.pipe("run").code == 0
    assert repo.read("build/t/lr=0.5") == "0.5 9 4\n"
    assert repo.read("build/u/lr=0.5") == "0.5\n" and repo.read("build/u/lr=0.1,depth=3") == "0.1 --depth 3\n"


def test_the_keys_an_empty_value_is_an_empty_mapping_for_are_the_ones_pipefile_md_lists(tmp_path: Path) -> None:
    """pipefile.md listed `params`, `assets`, `components`, `inputs`, `outputs`, `resources`;
    `environments:` and `settings:` left empty load as well (an empty mapping), unlisted."""
    text = (Path(__file__).resolve().parent.parent / "docs" / "pipefile.md").read_text(encoding="utf-8")
    m = re.search(
        r"An empty value \(`inputs:` with nothing after it\) counts as an empty mapping for (.*?)\.\n", text, re.S
    )
    assert m, "pipefile.md no longer says which keys take an empty value"
    listed = set(re.findall(r"`([a-z_]+)`", m.group(1)))
    step = "steps:\n  a:\n    command: echo hi\n"
    accepted = set()
    for key in ("params", "assets", "environments", "components", "settings"):
        (tmp_path / "Pipefile").write_text(f"{key}:\n{step}")
        if not validation_errors(tmp_path):
            accepted.add(key)
    for key in ("inputs", "outputs", "resources"):
        (tmp_path / "Pipefile").write_text(f"{step}    {key}:\n")
        if not validation_errors(tmp_path):
            accepted.add(key)
    assert accepted == listed


def test_report_md_says_how_every_outcome_a_job_records_is_drawn() -> None:
    """report.md named five outcomes for the graph's colours; a sweep trial `stopped` early
    and a step left `on-remote` are recorded too, and drawn in a colour the page did not say."""
    from pipefile.outcomes import Outcome
    from pipefile.report.jobpage_svg import COLOURS

    text = (Path(__file__).resolve().parent.parent / "docs" / "report.md").read_text(encoding="utf-8")
    graph = text[text.index("- **The graph**") : text.index("- **The job**")]
    recorded = set(Outcome) - {Outcome.WOULD_RUN, Outcome.WOULD_RESTORE, Outcome.RESTORE_FAILED}
    assert not [o.value for o in recorded if o.value not in graph], "an outcome's colour is not in report.md"
    assert set(COLOURS) <= {o.value for o in recorded}


@pytest.mark.parametrize(
    "space,typ",
    [("uniform: [1, 5]", "integer"), ("loguniform: [0.1, 5]", "boolean"), ("randint: [1, 5]", "string")],
)
def test_a_sweep_range_of_another_type_than_its_input_is_refused(tmp_path: Path, space: str, typ: str) -> None:
    """pipefile.md: each input of space: is an input of the step declared by its type, as a
    matrix axis, whose values must fit it. A choice: that did not fit was refused, but a range
    was never checked: uniform gave an integer input 3.24561, randint a string input 2."""
    (tmp_path / "Pipefile").write_text(
        "steps:\n  s:\n"
        f"    sweep: {{search: random, trials: 2, space: {{x: {{{space}}}}}}}\n"
        f"    inputs: {{x: {{type: {typ}}}}}\n"
        "    command: echo ${{inputs.x}} > ${{outputs.o}}\n    outputs: {o: build/s}\n"
    )
    errors = validation_errors(tmp_path)
    assert len(errors) == 1 and errors[0].loc is not None and errors[0].loc.line == 3, [str(e) for e in errors]
    assert "sweep input 'x' of step 's' draws" in errors[0].message and "but the input is a" in errors[0].message


def test_a_sweep_range_that_fits_its_input_loads(tmp_path: Path) -> None:
    (tmp_path / "Pipefile").write_text(
        "steps:\n  s:\n"
        "    sweep: {search: random, trials: 2, space: {x: {randint: [1, 5]}, y: {uniform: [0, 1]}, z: {randint: [1, 3]}}}\n"
        "    inputs: {x: {type: integer}, y: {type: number}, z: {type: number}}\n"
        "    command: echo ${{inputs.x}} ${{inputs.y}} ${{inputs.z}} > ${{outputs.o}}\n    outputs: {o: build/s}\n"
    )
    assert validation_errors(tmp_path) == []


def test_readme_names_what_ci_runs() -> None:
    """README said CI (`.ci/run`) runs "exactly" `pip install -e '.[test]' && python -m pytest
    -q`; it also sets up services and runs the linters and mypy first, which a contributor
    whose push fails in CI needs to know to run them here."""
    root = Path(__file__).resolve().parent.parent
    readme = root.joinpath("README.md").read_text(encoding="utf-8")
    said = readme[readme.index("CI (`.ci/run`)") : readme.index("## A first look")]
    script = [
        line.strip()
        for line in root.joinpath(".ci/run").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith(("#", "set ", "cd ", "export ", "pip install"))
    ]
    for line in script:
        command = line.split(" && ")[0].removeprefix("bash ")
        assert command in said or command in readme[: readme.index("## A first look")], (
            f"README does not say that .ci/run runs {command!r}"
        )
