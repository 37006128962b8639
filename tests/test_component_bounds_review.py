"""A component's number or integer input may declare `min:` and `max:` (Azure ML component
YAML's keys, inclusive bounds). A value out of them is refused at load, before anything runs,
at the line that gives it: the input's default, a step's value, a param's default or its `-p`
value, a matrix axis, a sweep's values or range, a pipeline component's input that feeds it.
`std/split_data` given `fraction: 1.5` ran the steps before it and failed only at run time.

The loader's errors are checked in process (workspace_repo.validation_errors); the CLI end to
end for the exit code, a run that stays unrun and what `pipe components show` says."""

from __future__ import annotations

import math
import re
import textwrap
from pathlib import Path

import pytest
import yaml
from workspace_repo import Repo, validation_errors

BOUNDED = """\
version: 1
params:
  frac: {type: number, default: 0.5}
components:
  c:
    inputs:
      f: {type: number, default: 0.5, min: 0, max: 1}
      n: {type: integer, min: 1}
    outputs: {o: uri_file}
    command: echo ${{inputs.f}} ${{inputs.n}} > ${{outputs.o}}
steps:
  a:
    component: c
    inputs: {f: "${{params.frac}}", n: 1}
    outputs: {o: build/a.txt}
"""


def _errors(tmp_path: Path, text: str, params=()) -> list:
    (tmp_path / "Pipefile").write_text(textwrap.dedent(text))
    return [
        (str(e.loc).split(":", 1)[1] if e.loc else None, e.message, e.hint) for e in validation_errors(tmp_path, params)
    ]


def _expanded(expand: str) -> str:
    """BOUNDED with step a's f given by a matrix or sweep (its output a folder of one per task)."""
    text = BOUNDED.replace('    inputs: {f: "${{params.frac}}", n: 1}\n', f"    {expand}\n    inputs: {{n: 1}}\n")
    return text.replace("build/a.txt}", "build/a/}").replace("outputs: {o: uri_file}", "outputs: {o: uri_folder}")


def test_values_inside_the_bounds_and_on_them_load(tmp_path):
    assert _errors(tmp_path, BOUNDED) == []
    assert _errors(tmp_path, BOUNDED.replace('f: "${{params.frac}}", n: 1', "f: 1, n: 1")) == []
    assert _errors(tmp_path, BOUNDED, ["frac=0"]) == [] and _errors(tmp_path, BOUNDED, ["frac=1"]) == []
    assert _errors(tmp_path, _expanded("matrix: {f: [0, 0.5, 1]}")) == []
    assert _errors(tmp_path, _expanded("sweep: {search: random, trials: 2, space: {f: {uniform: [0, 1]}}}")) == []


@pytest.mark.parametrize(
    "text, params, where, message, hint",
    [
        (  # a step's value
            BOUNDED.replace('f: "${{params.frac}}", n: 1', "f: 1.5, n: 1"),
            (),
            "14:17",
            "input 'f' of step 'a' is 1.5, above its max 1",
            "give a value from 0 to 1",
        ),
        (
            BOUNDED.replace("n: 1}\n    outputs: {o: build", "n: 0}\n    outputs: {o: build"),
            (),
            "14:40",
            "input 'n' of step 'a' is 0, below its min 1",
            "give a value of at least 1",
        ),
        (  # the default of the param a step binds (its line: where the value is written)
            BOUNDED.replace("default: 0.5}\ncomponents", "default: -0.5}\ncomponents"),
            (),
            "3:3",
            "param 'frac' is -0.5, below the min 0 of input 'f' of step 'a' (bound to it at line 14)",
            "give param 'frac' a default from 0 to 1",
        ),
        (  # that param's -p value (no line of its own: where it is bound)
            BOUNDED,
            ("frac=1.5",),
            "14:17",
            "-p frac=1.5: param 'frac' is 1.5, above the max 1 of input 'f' of step 'a'",
            "give a value of at most 1: -p frac=1",
        ),
        (  # nan: below and above nothing, so held by no bounds (a default, -p, a value)
            BOUNDED.replace("default: 0.5}\ncomponents", "default: .nan}\ncomponents"),
            (),
            "3:3",
            "param 'frac' is nan, not a number, outside the bounds of input 'f' of step 'a' (bound to it at line 14)",
            "give param 'frac' a default from 0 to 1",
        ),
        (
            BOUNDED,
            ("frac=nan",),
            "14:17",
            "-p frac=nan: param 'frac' is nan, not a number, which input 'f' of step 'a' does not take (its bounds: 0 to 1)",
            "give a number from 0 to 1",
        ),
        (
            BOUNDED.replace('f: "${{params.frac}}", n: 1', "f: .nan, n: 1"),
            (),
            "14:17",
            "input 'f' of step 'a' is nan, not a number, outside the bounds",
            "give a value from 0 to 1",
        ),
        (  # the component's own default
            BOUNDED.replace("default: 0.5, min", "default: 2, min"),
            (),
            "7:34",
            "default of input 'f' of component 'c' is 2.0, above its max 1",
            "give a value from 0 to 1",
        ),
        (
            BOUNDED.replace("n: {type: integer, min: 1}", "n: {type: string, min: 1}").replace("n: 1}", "n: x}"),
            (),
            "8:30",
            "input 'n' of component 'c' is a string, which takes no min:",
            "remove min:, or make it type: number",
        ),
        (
            BOUNDED.replace("min: 0, max: 1}", "min: 1, max: 0}").replace("default: 0.5, min", "min"),
            (),
            "7:38",
            "input 'f' of component 'c' has max 0 below its min 1",
            "swap them",
        ),
        (
            BOUNDED.replace("min: 1}", "min: one}"),
            (),
            "8:31",
            "min of input 'n' of component 'c' must be a finite number, not 'one'",
            "e.g. min: 0",
        ),
        (
            BOUNDED.replace("min: 1}", "min: .inf}"),
            (),
            "8:31",
            "min of input 'n' of component 'c' must be a finite number, not inf",
            "e.g. min: 0",
        ),
        (
            BOUNDED.replace("n: {type: integer, min: 1}", "n: {type: integer, enum: [1, 5], max: 3}"),
            (),
            "8:32",
            "enum of input 'n' of component 'c' holds 5, above its max 3",
            "remove it, or widen min:/max:",
        ),
        (  # a matrix axis, a sweep's choice, range, q range rounded, unbounded draw
            _expanded("matrix: {f: [0.5, 2]}"),
            (),
            "14:5",
            "axis 'f' of step 'a' gives 2, above its max 1",
            "keep its values inside the input's bounds: 0 to 1",
        ),
        (
            _expanded("sweep: {search: random, trials: 2, space: {f: {choice: [0.1, -1]}}}"),
            (),
            "14:5",
            "sweep input 'f' of step 'a' gives -1, below its min 0",
            "0 to 1",
        ),
        (
            _expanded("sweep: {search: random, trials: 2, space: {f: {uniform: [0, 2]}}}"),
            (),
            "14:5",
            "sweep input 'f' of step 'a' draws uniform from 0 to 2, above the input's max 1",
            "0 to 1",
        ),
        (
            _expanded("sweep: {search: random, trials: 2, space: {f: {quniform: [0, 0.95, 0.6]}}}"),
            (),
            "14:5",
            "sweep input 'f' of step 'a' draws quniform from 0.0 to 1.2, above the input's max 1",
            "0 to 1",
        ),
        (
            _expanded("sweep: {search: random, trials: 2, space: {f: {normal: [0.5, 0.1]}}}"),
            (),
            "14:5",
            "sweep input 'f' of step 'a' draws from normal, which reaches any value, but the input takes 0 to 1",
            "0 to 1",
        ),
    ],
)
def test_a_value_out_of_an_inputs_bounds_is_refused_where_it_is_given(tmp_path, text, params, where, message, hint):
    got = _errors(tmp_path, text, params)
    assert [(loc, msg) for loc, msg, _ in got] == [(where, message)], got
    assert hint in (got[0][2] or ""), got


NESTED = """\
version: 1
params:
  how: {type: number, default: 0.5}
components:
  pick:
    inputs:
      f: {type: number, min: 0, max: 1}
    outputs: {o: uri_file}
    command: echo ${{inputs.f}} > ${{outputs.o}}
  wrap:
    type: pipeline
    inputs:
      m: {type: number, default: 0.5}
    outputs: {o: uri_file}
    steps:
      inner:
        component: pick
        inputs: {f: "${{parent.inputs.m}}"}
        outputs: {o: "${{parent.outputs.o}}"}
steps:
  a:
    component: wrap
    inputs: {m: 0.25}
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
            ("inputs: {m: 0.25}", "inputs: {m: 7}"),
            (),
            [("23:17", "input 'm' of step 'a' is 7.0, above its max 1", "give a value from 0 to 1")],
        ),
        (
            (),
            ("how=-3",),
            [
                (
                    "27:17",
                    "-p how=-3: param 'how' is -3.0, below the min 0 of input 'm' of step 'b'",
                    "give a value of at least 0: -p how=0",
                )
            ],
        ),
        (
            ("m: {type: number, default: 0.5}", "m: {type: number, default: 3}"),
            (),
            [
                (
                    "13:7",
                    "default of input 'm' of pipeline component 'wrap' is 3.0, above the max 1 of input 'f' of "
                    "step 'inner' it is bound to",
                    "give a default from 0 to 1",
                )
            ],
        ),
    ],
)
def test_a_pipeline_components_input_is_held_to_the_bounds_of_the_inner_input_it_feeds(
    tmp_path, change, params, expected
):
    # Through ${{parent.inputs.m}} any number reached the inner step: 7 from the using step, a
    # -p value, the pipeline input's own default all loaded, and the inner step ran with them.
    assert _errors(tmp_path, NESTED) == []
    assert _errors(tmp_path, NESTED.replace(*change) if change else NESTED, params) == expected


def test_a_pipefile_used_as_a_component_holds_its_params_to_the_bounds_they_feed(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "Pipefile").write_text(
        "version: 1\nparams:\n  how: {type: number, default: 0.5}\ncomponents:\n  pick:\n"
        "    inputs: {f: {type: number, min: 0, max: 1}}\n    outputs: {o: uri_file}\n"
        "    command: echo ${{inputs.f}} > ${{outputs.o}}\n"
        'steps:\n  inner: {component: pick, inputs: {f: "${{params.how}}"}, outputs: {o: out.txt}}\n'
    )
    use = "version: 1\nsteps:\n  a:\n    component: ./sub/Pipefile\n    inputs: {how: %s}\n"
    assert _errors(tmp_path, use % "5") == [
        ("5:19", "input 'how' of step 'a' is 5.0, above its max 1", "give a value from 0 to 1")
    ]
    assert _errors(tmp_path, use % "0.75") == []


SPLIT = """\
version: 1
params:
  frac: {type: number, default: 0.7}
steps:
  split:
    component: std/split_data@1
    inputs: {data: data.csv, fraction: "${{params.frac}}", seed: 1}
    outputs: {train: build/train.parquet, test: build/test.parquet}
"""


def test_the_cli_refuses_std_split_datas_fraction_of_1_5_before_anything_runs(tmp_path):
    repo = Repo(tmp_path)
    repo.write("Pipefile", SPLIT)
    repo.write("data.csv", "x,y\n1,0\n2,1\n")
    r = repo.pipe("run", "-p", "frac=1.5")
    assert r.code == 2, str(r)
    assert r.err.startswith(
        "Pipefile:7:40: -p frac=1.5: param 'frac' is 1.5, above the max 1 of input 'fraction' of step 'split'"
    ), r.err
    assert not repo.exists("build/train.parquet") and repo.pipe("jobs", "--json").json["jobs"] == []
    repo.write("Pipefile", SPLIT.replace('fraction: "${{params.frac}}", seed: 1', "fraction: 0.7, seed: -1"))
    r = repo.pipe("validate")
    assert r.code == 2 and "Pipefile:7:51: input 'seed' of step 'split' is -1, below its min 0" in r.err, str(r)


def test_components_show_says_the_bounds_and_its_example_takes_them(tmp_path):
    repo = Repo(tmp_path)
    shown = repo.pipe("components", "show", "std/split_data@1")
    assert shown.code == 0 and re.search(r"fraction\s+number\s+= 0.7\s+.*\(0 to 1\)", shown.out), str(shown)
    ports = {p["name"]: p for p in repo.pipe("components", "show", "std/split_data@1", "--json").json["params"]}
    assert (ports["fraction"]["min"], ports["fraction"]["max"]) == (0, 1)
    assert ports["stratify_column"]["min"] is None and ports["stratify_column"]["max"] is None
    # an input without a default is given a placeholder inside its bounds (0 was below opset's min 1)
    shown = repo.pipe("components", "show", "std/export_onnx@1")
    assert "# opset: 1  (optional)" in shown.out and "(at least 1)" in shown.out, str(shown)


def test_the_designers_library_carries_the_bounds(tmp_path):
    from pipefile.ui import library

    (tmp_path / "Pipefile").write_text(BOUNDED)
    items = {i["name"]: i for i in library.library(str(tmp_path / "Pipefile"))["items"]}
    ports = {p["name"]: p for p in items["c"]["params"]}
    assert (ports["f"]["min"], ports["f"]["max"], ports["n"]["min"], ports["n"]["max"]) == (0, 1, 1, None)


STD = Path(__file__).resolve().parent.parent / "stdlib_components"


def test_the_std_components_bounds_are_those_their_code_checks():
    # Written twice (the YAML, the script's own check): a bound wider than the code's lets a
    # value through to fail at run time; a narrower one refuses what the code takes.
    from stdlib_components._lib.errors import SEED_MAX

    seed = (0, SEED_MAX)
    expected = {
        ("apply_sql", "timeout_seconds"): (0, None),  # (the code refuses 0 too: "above 0")
        ("apply_sql", "memory_mb"): (0, None),
        ("cross_validate", "folds"): (2, None),
        ("cross_validate", "seed"): seed,
        ("export_onnx", "opset"): (1, None),
        ("split_data", "fraction"): (0, 1),  # (and 0, 1 themselves leave a table empty: refused then)
        ("split_data", "seed"): seed,
        ("train_model", "seed"): seed,
    }
    declared = {}
    for f in sorted(STD.glob("*/component.yaml")):
        for name, d in (yaml.safe_load(f.read_text()).get("inputs") or {}).items():
            if isinstance(d, dict) and ("min" in d or "max" in d):
                declared[(f.parent.name, name)] = (d.get("min"), d.get("max"))
                low, high = d.get("min", -math.inf), d.get("max", math.inf)
                assert d.get("default") is None or low <= d["default"] <= high, (f, name)
    assert declared == expected


def test_a_served_param_out_of_the_bounds_of_the_input_it_feeds_is_a_400(tmp_path):
    # The deployment's schema had no bounds: a request with frac 1.5 was taken, and its job
    # failed at load later, where `-p frac=1.5` is refused before anything runs.
    from pipefile.jobdb.serving import ServeStore
    from pipefile.publish import RequestError, check_request
    from pipefile.workspace import Workspace

    repo = Repo(tmp_path)
    repo.write(
        "Pipefile",
        BOUNDED.replace("    outputs: {o: build/a.txt}\n", "    outputs: {o: {path: a.txt, output: true}}\n"),
    )
    r = repo.pipe("publish", "--endpoint", "b")
    assert r.code == 0, str(r)
    ws = Workspace(str(repo.root))
    try:
        serve = ServeStore(ws.jobs)
        dep = serve.deployment("b", 1)
        entry = dep.manifest["inputs"]["frac"]
        assert (entry["min"], entry["max"]) == (0, 1), entry
        with pytest.raises(RequestError) as e:
            check_request(ws, serve, dep, {"frac": 1.5})
        assert (e.value.message, e.value.hint, e.value.field) == (
            "input 'frac' is 1.5, above its max 1",
            "give a value from 0 to 1",
            "inputs.frac",
        )
        assert check_request(ws, serve, dep, {"frac": 1}).params == {"frac": 1.0}
    finally:
        ws.close()


def test_pipe_import_azureml_keeps_a_component_inputs_min_and_max(tmp_path):
    # The Pipefile written had no key for them: its -p values went unchecked, where the YAML
    # (pipe run -f pipeline.yml) refuses them.
    repo = Repo(tmp_path)
    repo.write("c.yml", "inputs:\n  n: {type: integer, min: 1, max: 10, default: 3}\ncommand: echo ${{inputs.n}}\n")
    repo.write(
        "pipeline.yml",
        "type: pipeline\ninputs:\n  k: 4\njobs:\n  a:\n    component: ./c.yml\n    inputs:\n      n: ${{parent.inputs.k}}\n",
    )
    r = repo.pipe("import", "azureml", "pipeline.yml", "-o", "Pipefile")
    assert r.code == 0, str(r)
    n = yaml.safe_load(repo.read("Pipefile"))["components"]["a"]["inputs"]["n"]
    assert (n["min"], n["max"]) == (1, 10), n
    r = repo.pipe("validate", "-p", "k=11")
    assert r.code == 2 and "-p k=11: param 'k' is 11, above the max 10 of input 'n' of step 'a'" in r.err, str(r)
    assert repo.pipe("validate", "-p", "k=10").code == 0
