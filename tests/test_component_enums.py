"""A component's value input may declare `enum:` (as a param may, and as Azure ML components
do): a value outside it is refused at load, at the line that gives it, whether written in the
step, a param's default or a `-p` value, so `pipe validate` (a pre-commit hook) catches what a
step would only have failed on after the steps before it ran. The std components declare the
values they take; the designer offers them as a menu.

The loader's errors are checked in process (workspace_repo.validation_errors); the CLI end to
end for the exit code, `pipe components show` and a run that stays unrun."""

from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path

import pytest
import yaml
from workspace_repo import Repo, validation_errors

PICK = """\
version: 1
params:
  how: {type: string, default: fast}
components:
  pick:
    inputs:
      mode: {type: string, default: fast, enum: [fast, slow]}
      level: {type: integer, enum: [1, 2, 3]}
      rate: {type: number, optional: true, enum: [0.5, 1]}
    outputs: {o: uri_file}
    command: echo ${{inputs.mode}} ${{inputs.level}} > ${{outputs.o}}
steps:
  a:
    component: pick
    inputs: {mode: "${{params.how}}", level: 2}
    outputs: {o: build/a.txt}
"""


def _errors(tmp_path: Path, text: str, params=()) -> list:
    (tmp_path / "Pipefile").write_text(textwrap.dedent(text))
    return [
        (str(e.loc).split(":", 1)[1] if e.loc else None, e.message, e.hint) for e in validation_errors(tmp_path, params)
    ]


def test_values_inside_the_enums_load(tmp_path):
    assert _errors(tmp_path, PICK) == []
    assert _errors(tmp_path, PICK.replace("level: 2}", "level: 3, rate: 0.5}"), ["how=slow"]) == []


@pytest.mark.parametrize(
    "change, params, where, message, hint",
    [
        (
            ("level: 2}", "level: 7}"),
            (),
            "15:46",
            "input 'level' of step 'a' is 7, which is not one of its enum values",
            "give one of: 1, 2, 3",
        ),
        (
            ("level: 2}", "level: 2, rate: 2}"),
            (),
            "15:55",
            "input 'rate' of step 'a' is 2.0, which is not one of its",
            "give one of: 0.5, 1",
        ),
        (
            ("default: fast}", "default: quick}"),
            (),
            "15:20",
            "input 'mode' of step 'a' is bound to param 'how', whose default 'quick' is not one of the input's enum values",
            "give param 'how' a default the input takes (fast, slow)",
        ),
        (
            (),
            ("how=medium",),
            "15:20",
            "-p how=medium: param 'how' is 'medium', which input 'mode' of step 'a' does not take (its enum: ['fast', 'slow'])",
            "give one of: fast, slow (e.g. -p how=fast)",
        ),
        (
            ("default: fast, enum", "default: quick, enum"),
            (),
            "7:37",
            "default of input 'mode' of component 'pick' is 'quick', which is not one of its enum values",
            "give a default from enum: fast, slow, or add 'quick' to the enum",
        ),
        (
            ("enum: [1, 2, 3]", "enum: [1, two]"),
            (),
            "8:40",
            "enum of input 'level' of component 'pick' holds 'two', which is not an integer",
            "give only values of type integer",
        ),
        (
            ("enum: [1, 2, 3]", "enum: [1, 1]"),
            (),
            "8:40",
            "enum of input 'level' of component 'pick' holds 1 twice",
            "remove the repeated value",
        ),
        (
            ("enum: [1, 2, 3]", "enum: []"),
            (),
            "8:36",
            "enum of input 'level' of component 'pick' must be a non-empty list",
            "e.g. enum",
        ),
    ],
)
def test_a_value_outside_an_inputs_enum_is_refused_where_it_is_given(tmp_path, change, params, where, message, hint):
    text = PICK.replace(*change) if change else PICK
    got = _errors(tmp_path, text, params)
    assert len(got) == 1, got
    (loc, msg, h) = got[0]
    assert (loc, msg) == (where, message) or (loc == where and msg.startswith(message)), got
    assert hint in (h or ""), got


def test_a_path_input_takes_no_enum(tmp_path):
    text = PICK.replace("level: {type: integer, enum: [1, 2, 3]}", "level: {type: uri_file, enum: [a.txt]}")
    text = text.replace("level: 2}", "level: a.txt}")
    (tmp_path / "a.txt").write_text("x\n")
    got = _errors(tmp_path, text)
    assert got == [
        (
            "8:37",
            "input 'level' of component 'pick' is a uri_file (a path), which takes no enum",
            "remove enum:, or make it a string input",
        )
    ]


def test_the_cli_refuses_before_anything_runs_and_shows_the_values(tmp_path):
    repo = Repo(tmp_path)
    repo.write("Pipefile", PICK)
    r = repo.pipe("run", "-p", "how=medium")
    assert r.code == 2 and r.err.startswith("Pipefile:15:20: -p how=medium: param 'how' is 'medium'"), str(r)
    assert not repo.exists("build/a.txt") and repo.pipe("jobs", "--json").json["jobs"] == []
    shown = repo.pipe("components", "show", "pick")
    assert shown.code == 0 and re.search(r"mode\s+string\s+= 'fast'\s+one of: fast, slow", shown.out), str(shown)
    assert "        level: 1" in shown.out  # the example step gives a value the input takes
    js = {p["name"]: p for p in repo.pipe("components", "show", "pick", "--json").json["params"]}
    assert js["mode"]["enum"] == ["fast", "slow"] and js["level"]["enum"] == [1, 2, 3]


FLAG = """\
version: 1
params:
  fast: {type: boolean, default: false}
components:
  c:
    inputs:
      flag: {type: boolean, default: false, enum: [false], description: "a flag"}
    outputs: {o: uri_file}
    command: echo ${{inputs.flag}} > ${{outputs.o}}
steps:
  s: {component: c, inputs: {flag: "${{params.fast}}"}, outputs: {o: build/o.txt}}
"""


def test_a_boolean_enum_is_spelled_as_the_pipefile_spells_it(tmp_path):
    # Python's True/False were shown, where the Pipefile (and -p) write true/false
    repo = Repo(tmp_path)
    repo.write("Pipefile", FLAG)
    shown = repo.pipe("components", "show", "c")
    assert shown.code == 0 and re.search(r"flag\s+boolean\s+= false\s+a flag \(one of: false\)", shown.out), str(shown)
    r = repo.pipe("validate", "-p", "fast=true")
    assert r.code == 2, str(r)
    assert "param 'fast' is true, which input 'flag' of step 's' does not take (its enum: [false])" in r.err, r.err
    assert "hint: give one of: false (e.g. -p fast=false)" in r.err, r.err
    assert "True" not in r.err and "False" not in r.err, r.err
    repo.write("Pipefile", FLAG.replace("default: false, enum", "default: true, enum"))
    r = repo.pipe("validate")
    assert r.code == 2 and "is true, which is not one of its enum values" in r.err, str(r)
    assert "give a default from enum: false, or add true to the enum" in r.err, r.err


STD = Path(__file__).resolve().parent.parent / "stdlib_components"


def _constant(module: Path, name: str) -> tuple:
    """The tuple assigned to `name` at the top of a module, read without importing it."""
    for node in ast.parse(module.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return tuple(ast.literal_eval(node.value))
    raise AssertionError(f"{module} has no {name}")


def test_the_std_components_enums_are_the_values_their_code_takes():
    # Each list is written twice (the component's YAML, its code's constant): they must agree, or
    # pipe would refuse a value the code takes, or let through one it refuses after upstream ran.
    from stdlib_components._lib.estimators import MODELS

    lib = STD / "_lib"
    expected = {
        ("clean_missing_data", "strategy"): _constant(STD / "clean_missing_data/__main__.py", "STRATEGIES"),
        ("convert_format", "format"): _constant(STD / "convert_format/__main__.py", "TARGETS"),
        ("cross_validate", "model"): tuple(MODELS),
        ("cross_validate", "algorithm"): tuple(MODELS),
        ("evaluate_model", "task"): _constant(lib / "evaluation.py", "TASKS"),
        ("import_data", "format"): _constant(lib / "tables.py", "FORMATS"),
        ("join_data", "how"): _constant(STD / "join_data/__main__.py", "HOWS"),
        ("normalize_data", "method"): _constant(lib / "scaling.py", "METHODS"),
        ("sample_data", "name"): _constant(STD / "sample_data/__main__.py", "DATASETS"),
        ("select_columns", "mode"): _constant(STD / "select_columns/__main__.py", "MODES"),
        ("train_model", "model"): tuple(MODELS),
        ("train_model", "algorithm"): tuple(MODELS),
    }
    declared = {}
    for f in sorted(STD.glob("*/component.yaml")):
        for name, d in (yaml.safe_load(f.read_text()).get("inputs") or {}).items():
            if isinstance(d, dict) and "enum" in d:
                declared[(f.parent.name, name)] = tuple(d["enum"])
                assert d.get("default") is None or d["default"] in d["enum"], (f, name)
    assert declared == expected


def test_a_std_step_given_a_model_it_does_not_know_is_refused_at_validate(tmp_path):
    # It ran the data and split steps, then failed in train_model (exit 1) after seconds.
    repo = Repo(tmp_path)
    repo.write(
        "Pipefile",
        "version: 1\nparams:\n  model: random_forest_classifer\nsteps:\n"
        "  train:\n    component: std/train_model@1\n"
        "    inputs: {data: data.csv, label: y, model: '${{params.model}}'}\n"
        "    outputs: {model: build/model}\n",
    )
    repo.write("data.csv", "x,y\n1,0\n2,1\n")
    r = repo.pipe("validate")
    assert r.code == 2, str(r)
    assert "Pipefile:7:47: input 'model' of step 'train' is bound to param 'model', whose default" in r.err, str(r)
    # (a default the file gives is wrong whatever -p says: the next run without -p would take it)
    assert repo.pipe("validate", "-p", "model=knn_classifier").code == 2
    repo.write("Pipefile", repo.read("Pipefile").replace("classifer", "classifier"))
    assert repo.pipe("validate").code == 0
    r = repo.pipe("validate", "-p", "model=knn_clasifier")
    assert r.code == 2 and "did you mean 'knn_classifier'?" in r.err, str(r)


def test_the_designers_library_offers_an_enums_values(tmp_path):
    # The properties panel draws a menu for a port with an enum (Properties.tsx): the library
    # sent none, so every value was free text there.
    from pipefile.ui import library

    (tmp_path / "Pipefile").write_text(PICK)
    items = {i["name"]: i for i in library.library(str(tmp_path / "Pipefile"))["items"]}
    ports = {p["name"]: p for p in items["pick"]["params"]}
    assert ports["mode"]["enum"] == ["fast", "slow"] and ports["level"]["enum"] == [1, 2, 3]
    std = {p["name"]: p for p in items["std/train_model@1"]["params"]}
    assert "ridge" in std["model"]["enum"] and std["label"]["enum"] is None


NESTED = """\
version: 1
params:
  how: {type: string, default: fast}
components:
  pick:
    inputs:
      mode: {type: string, enum: [fast, slow]}
    outputs: {o: uri_file}
    command: echo ${{inputs.mode}} > ${{outputs.o}}
  wrap:
    type: pipeline
    inputs:
      m: {type: string, default: fast}
    outputs: {o: uri_file}
    steps:
      inner:
        component: pick
        inputs: {mode: "${{parent.inputs.m}}"}
        outputs: {o: "${{parent.outputs.o}}"}
steps:
  a:
    component: wrap
    inputs: {m: slow}
    outputs: {o: build/a.txt}
  b:
    component: wrap
    inputs: {m: "${{params.how}}"}
    outputs: {o: build/b.txt}
"""


@pytest.mark.parametrize(
    "change, params, expected",
    [
        (
            ("inputs: {m: slow}", "inputs: {m: turbo}"),
            (),
            [
                (
                    "23:17",
                    "input 'm' of step 'a' is 'turbo', which is not one of its enum values",
                    "give one of: fast, slow",
                )
            ],
        ),
        (
            (),
            ("how=zzz",),
            [
                (
                    "27:17",
                    "-p how=zzz: param 'how' is 'zzz', which input 'm' of step 'b' does not take (its enum: ['fast', 'slow'])",
                    "give one of: fast, slow (e.g. -p how=fast)",
                )
            ],
        ),
        (
            (
                "default: fast}\n    outputs: {o: uri_file}\n    steps",
                "default: medium}\n    outputs: {o: uri_file}\n    steps",
            ),
            (),
            [
                (
                    "13:7",
                    "default of input 'm' of pipeline component 'wrap' is 'medium', which input 'mode' of step 'inner' "
                    "it is bound to does not take",
                    "give a default from: fast, slow",
                )
            ],
        ),
    ],
)
def test_a_pipeline_components_input_is_held_to_the_enum_of_the_inner_input_it_feeds(
    tmp_path, change, params, expected
):
    # Through ${{parent.inputs.m}} any value reached the inner step: the outer step's 'turbo',
    # a -p value, the pipeline input's default all loaded, and the inner step ran with them.
    text = NESTED.replace(*change) if change else NESTED
    assert _errors(tmp_path, text, params) == expected
    assert _errors(tmp_path, NESTED) == []


def test_a_pipefile_used_as_a_component_holds_its_params_enums(tmp_path):
    # A Pipefile's params are its inputs as a component: neither a param's own enum: nor that of
    # a component input it is bound to held the value the using step gave.
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "Pipefile").write_text(
        textwrap.dedent(
            """\
            version: 1
            params:
              how: {type: string, default: fast}
              own: {type: string, default: x, enum: [x, y]}
            components:
              pick:
                inputs: {mode: {type: string, enum: [fast, slow]}}
                outputs: {o: uri_file}
                command: echo ${{inputs.mode}} ${{params.own}} > ${{outputs.o}}
            steps:
              inner:
                component: pick
                inputs: {mode: "${{params.how}}"}
                outputs: {o: out.txt}
            """
        )
    )
    use = "version: 1\nsteps:\n  a:\n    component: ./sub/Pipefile\n    inputs: {how: %s, own: %s}\n"
    assert _errors(tmp_path, use % ("turbo", "zz")) == [
        ("5:19", "input 'how' of step 'a' is 'turbo', which is not one of its enum values", "give one of: fast, slow"),
        ("5:31", "input 'own' of step 'a' is 'zz', which is not one of its enum values", "give one of: x, y"),
    ]
    assert _errors(tmp_path, use % ("slow", "y")) == []


@pytest.mark.parametrize(
    "expand, expected",
    [
        (
            "matrix: {mode: [fast, turbo]}",
            ("15:5", "axis 'mode' of step 'a' gives 'turbo', but the input takes only the values of its enum"),
        ),
        (
            "matrix: {mode: [fast], level: [1, 3]}\n    inputs: {}",
            None,
        ),
        (
            "sweep: {search: random, trials: 2, space: {mode: {choice: [slow, quick]}}}",
            ("15:5", "sweep input 'mode' of step 'a' gives 'quick', but the input takes only the values of its enum"),
        ),
        (
            "sweep: {search: random, trials: 2, space: {level: {randint: [1, 9]}}}\n    inputs: {mode: fast}",
            (
                "15:5",
                "sweep input 'level' of step 'a' draws from a range (randint), but the input takes only the "
                "values of its enum",
            ),
        ),
    ],
)
def test_a_matrix_or_sweep_over_an_enum_input_gives_only_its_values(tmp_path, expand, expected):
    # An axis value outside the enum loaded, and its task ran with what the component refuses.
    text = PICK.replace("level: {type: integer, enum", "level: {type: integer, default: 1, enum").replace(
        '    inputs: {mode: "${{params.how}}", level: 2}\n', f"    {expand}\n"
    )
    text = text.replace("build/a.txt}", "build/a/}").replace("outputs: {o: uri_file}", "outputs: {o: uri_folder}")
    got = _errors(tmp_path, text)
    assert [e[:2] for e in got] == ([expected] if expected else []), got


def test_a_published_params_schema_holds_the_enum_of_the_input_it_is_bound_to(tmp_path):
    # A served job's params are checked against the deployment's schema (publish.check_request,
    # a 400 naming the field): the schema had only a param's own enum:, so a value the bound
    # input refuses was accepted there and the job failed at load, later, as -p's is refused now.
    import json

    repo = Repo(tmp_path)
    repo.write(
        "Pipefile",
        PICK.replace("level: 2}", "level: 2}\n    outputs: {o: {path: build/a.txt, output: true}}").replace(
            "    outputs: {o: build/a.txt}\n", ""
        ),
    )
    r = repo.pipe("publish", "--json")
    assert r.code == 0, str(r)
    assert json.loads(r.out)["inputs"]["how"]["enum"] == ["fast", "slow"], r.out
