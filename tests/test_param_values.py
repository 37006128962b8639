"""Params that mean what they say (issue 19): numbers as YAML 1.2 reads them, in the
Pipefile and in `-p`; text that reads as a number warned about once; values written into
a shell command for where they sit (inside quotes or not); and the small CLI texts around
them (dry-run summary, failure output, --force, did-you-mean)."""

from __future__ import annotations

import math
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipefile import clone_text
from pipefile.load import convert_param_text, loads, quoted_placeholders, yamlsafe


def load(text: str):
    return loads(textwrap.dedent(text), "/tmp/ws/Pipefile")


STEP = "steps:\n  s: {command: echo}\n"

# (as written in the Pipefile, the param's type, its value)
SHORTHANDS = [
    ("1e-3", "number", 0.001),
    ("1E3", "number", 1000.0),
    (".5", "number", 0.5),
    ("5.", "number", 5.0),
    ("-2.5e+3", "number", -2500.0),
    ("+1.5", "number", 1.5),
    ("1_000.5", "number", 1000.5),
    ("1_000", "integer", 1000),
    ("+1", "integer", 1),
    ("-7", "integer", -7),
    ("010", "integer", 10),  # YAML 1.2: decimal (YAML 1.1 said octal 8)
    ("0x1F", "integer", 31),
    ("0o17", "integer", 15),
    ("0b101", "integer", 5),
    ("1:30", "string", "1:30"),  # YAML 1.1 said 90
    ('"1e-3"', "string", "1e-3"),
    ("'010'", "string", "010"),
    ("yes", "boolean", True),  # kept from YAML 1.1, as documented
    ("off", "boolean", False),
    ("1.2.3", "string", "1.2.3"),
    ("e5", "string", "e5"),
    ("0x", "string", "0x"),
]


@pytest.mark.parametrize("written, typ, value", SHORTHANDS)
def test_a_param_is_read_as_yaml_1_2_reads_numbers(written, typ, value):
    p = load(f"params:\n  p: {written}\n{STEP}").params["p"]
    assert (p.type, p.default) == (typ, value)


def test_a_number_param_takes_a_default_in_e_notation():
    p = load(f"params:\n  lr: {{type: number, default: 1e-3}}\n{STEP}").params["lr"]
    assert (p.type, p.default) == ("number", 0.001)


def test_numbers_elsewhere_in_the_pipefile_read_the_same():
    pf = load("steps:\n  s: {command: echo, resources: {memory: 1e9}}\n")
    assert pf.steps["s"].resources.memory == 10**9


def test_environment_variables_keep_the_text_they_had():
    # an env value ends up as text: 1e3 stays "1e3" (not "1000.0"), as under YAML 1.1
    pf = load(
        "environments:\n  e: {type: local, env: {A: 1e3, B: 0o17, C: 1.10, D: 5}}\n"
        "steps:\n  s: {command: echo, environment: e}\n"
    )
    assert pf.environments["e"].env == {"A": "1e3", "B": "0o17", "C": "1.1", "D": "5"}


def test_other_yaml_files_keep_their_reading():
    # only the Pipefile's loader reads numbers the new way (remotes files, metrics: as before)
    assert yamlsafe.load("a: 1e-3", "x") == {"a": "1e-3"}
    assert yamlsafe.load("a: 1e-3", "x", numbers=True) == {"a": 0.001}


# (-p text, param type, value; None: refused)
P_VALUES = [
    ("1e-3", "number", 0.001),
    (".5", "number", 0.5),
    ("5", "number", 5.0),
    ("1_000", "number", 1000.0),
    (" 2.5 ", "number", 2.5),
    ("abc", "number", None),
    ("inf", "number", None),
    (".inf", "number", None),
    ("nan", "number", None),
    ("1e999", "number", None),
    ("9" * 400, "number", None),
    ("1:30", "number", None),
    ("5", "integer", 5),
    ("1_000", "integer", 1000),
    ("0x1F", "integer", 31),
    ("-010", "integer", -10),
    ("0.5", "integer", None),
    ("5.0", "integer", None),
    ("1e3", "integer", None),
    ("٣", "integer", None),  # Python's int() reads other scripts' digits; a Pipefile does not
    ("yes", "boolean", True),
    ("1e-3", "string", "1e-3"),
]


@pytest.mark.parametrize("text, typ, value", P_VALUES)
def test_p_values_are_numbers_as_in_the_pipefile(text, typ, value):
    assert convert_param_text(text, typ) == value


def warnings_of(text: str) -> list:
    return [(str(loc), message, hint) for loc, message, hint in load(text).warnings]


def test_a_quoted_number_warns_once_where_it_is_written():
    got = warnings_of(f'params:\n  lr: "1e-3"\n  tag: "v1"\n{STEP}')
    assert len(got) == 1, got
    loc, message, hint = got[0]
    assert loc == "/tmp/ws/Pipefile:2:7" or loc.endswith("Pipefile:2:7"), loc
    assert "param 'lr' is a string" in message and '"1e-3" is quoted' in message
    assert "remove the quotes (lr: 1e-3)" in hint and '{type: string, default: "1e-3"}' in hint


def test_a_string_param_with_a_number_default_keeps_the_text_written_and_warns():
    pf = load(f"params:\n  version: {{type: string, default: 1.10}}\n{STEP}")
    assert pf.params["version"].default == "1.10"  # not YAML's 1.1
    ((loc, message, hint),) = pf.warnings
    assert loc.line == 2 and "its default 1.10 is written as a number" in message
    assert 'default: "1.10"' in hint


@pytest.mark.parametrize(
    "param",
    [
        '{type: string, default: "1.0"}',  # declared and quoted: meant
        "{type: number, default: 1.0}",
        "v1.0",
        "{type: string, default: abc}",
        "0.01",
    ],
)
def test_no_warning_for_what_is_clearly_meant(param):
    assert warnings_of(f"params:\n  p: {param}\n{STEP}") == []


def test_validate_explains_placeholders_inside_quotes():
    pf = load(
        """\
        params: {msg: hi}
        components:
          c:
            command: echo '${{params.msg}}'
        steps:
          a: {component: c}
          b: {component: c}
          plain: {command: "echo ${{params.msg}}"}
          argv: {command: [echo, "'${{params.msg}}'"]}
          both:
            command: printf '%s' "${{params.msg}}" '${{params.msg}}'
        """
    )
    notes = quoted_placeholders(pf)
    messages = [m for _, m, _ in notes]
    assert len(notes) == 2, messages  # the component once; plain and argv commands not at all
    assert "component 'c', ${{params.msg}} is inside single quotes" in messages[0]
    assert "step 'both'" in messages[1] and "inside double quotes and ${{params.msg}} is inside single" in messages[1]
    assert notes[1][0].line == 11


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=20), st.sampled_from(["1e-3", "0o17", ".5", "010", "1:30", "yes", "1_0"])))
def test_clone_writes_text_that_a_pipefile_reads_back_as_text(value):
    # `pipe clone` sets param defaults in the Pipefile's text: a value must come back as written
    if "\0" in value or any(0xD800 <= ord(c) <= 0xDFFF for c in value):
        return
    rendered = clone_text.render(value)
    assert yamlsafe.load(f"a: {rendered}", "x", numbers=True) == {"a": value}


def test_clone_writes_numbers_as_numbers():
    for value in (0.001, 5, -2.5e3, True):
        assert yamlsafe.load(f"a: {clone_text.render(value)}", "x", numbers=True) == {"a": value}
    assert math.isclose(yamlsafe.load(f"a: {clone_text.render(1e-5)}", "x", numbers=True)["a"], 1e-5)


# --- end to end: what the CLI says ---------------------------------------------------------
PIPEFILE = """\
version: 1
params:
  lr: 1e-3
  n: 1
  msg: hello world
steps:
  s:
    command: echo "${{params.msg}}" '${{params.msg}}' ${{params.msg}} ${{params.lr}} ${{params.n}} > out.txt
    outputs: {o: out.txt}
"""


def test_quoted_placeholders_get_the_value_not_added_quotes(repo):
    repo.write("Pipefile", PIPEFILE, dedent=False)
    r = repo.pipe("run", "-p", 'msg=it\'s "x" $HOME `id`', check=True)
    assert repo.read("out.txt") == 'it\'s "x" $HOME `id` ' * 3 + "0.001 1\n", str(r)
    repo.pipe("run", check=True)
    assert repo.read("out.txt") == "hello world hello world hello world 0.001 1\n"


def test_a_number_param_refuses_text_and_diff_compares_numbers(repo):
    repo.write("Pipefile", PIPEFILE, dedent=False)
    r = repo.pipe("run", "-p", "lr=abc")
    assert r.code == 2 and "Pipefile:3:3: -p lr=abc: param 'lr' is a number, and 'abc' is not" in r.err, str(r)
    r = repo.pipe("run", "-p", "n=0.5")
    assert r.code == 2 and "Pipefile:4:3: -p n=0.5: param 'n' is an integer" in r.err, str(r)
    assert "declare it a number: n: {type: number, default: 1.0}" in r.err, str(r)
    repo.pipe("run", check=True)
    repo.pipe("run", "-p", "lr=2e-3", check=True)
    r = repo.pipe("params", "diff", "1", "2", check=True)
    row = next(line for line in r.out.splitlines() if line.startswith("lr"))
    assert row.split()[1:3] == ["0.001", "0.002"] and "+0.001" in row, r.out


def test_validate_and_run_warn_once_about_a_quoted_number(repo):
    repo.write("Pipefile", PIPEFILE.replace("lr: 1e-3", 'lr: "1e-3"'), dedent=False)
    r = repo.pipe("validate", check=True)
    assert r.err.count("warning:") == 1 and "warning: Pipefile:3:7: param 'lr' is a string" in r.err, str(r)
    assert r.err.count("info:") == 1 and "inside double quotes" in r.err and "inside single quotes" in r.err
    r = repo.pipe("run", check=True)
    assert r.err.count("warning:") == 1 and "param 'lr' is a string" in r.err, str(r)


def test_dry_run_summary_says_would_run(repo):
    repo.write("Pipefile", PIPEFILE, dedent=False)
    r = repo.pipe("run", "-n", check=True)
    assert "dry run: 1 would run in" in r.err and "would-run" not in r.err and "succeeded" not in r.err, str(r)


def test_dry_run_of_a_fresh_pipeline_says_dry_run(repo):
    # Every step fresh: nothing would run, yet the line must still say it was a dry run.
    repo.write("Pipefile", PIPEFILE, dedent=False)
    repo.pipe("run", check=True)
    r = repo.pipe("run", "-n", check=True)
    assert "dry run: 1 fresh in" in r.err and "succeeded" not in r.err, str(r)


def test_a_failed_multi_line_command_is_indented(repo):
    repo.pipefile(
        """\
        version: 1
        steps:
          s:
            command: |
              echo one
              exit 3
        """
    )
    r = repo.pipe("run", "-n", check=True)
    assert "would run s: echo one\n             exit 3\n" in r.err, str(r)
    r = repo.pipe("run")
    assert r.code == 1, str(r)
    assert "  command: echo one\n           exit 3\n  log:" in r.err, str(r)


def test_force_before_a_step_name_warns_unless_written_with_equals(repo):
    repo.write("Pipefile", PIPEFILE, dedent=False)
    r = repo.pipe("run", "-n", "--force", "s", check=True)
    assert "warning: --force s forces step 's' only" in r.err and "pipe run s --force" in r.err, str(r)
    for args in (["--force=s"], ["s", "--force"], ["--force", "s", "s"]):
        r = repo.pipe("run", "-n", *args, check=True)
        assert "warning" not in r.err, str(r)


def test_a_missing_asset_path_is_not_suggested_as_its_own_fix(repo):
    # the README's first example, in an empty folder
    repo.pipefile(
        """\
        version: 1
        assets:
          raw: {type: uri_file, path: data/raw.csv}
        steps:
          prepare:
            command: cat ${{inputs.raw}} > ${{outputs.clean}}
            inputs: {raw: "${{assets.raw}}"}
            outputs: {clean: build/clean.csv}
        """
    )
    r = repo.pipe("validate")
    assert r.code == 2 and "reads 'data/raw.csv', which no step produces" in r.err, str(r)
    assert "did you mean 'data/raw.csv'" not in r.err and "path of asset 'raw' (Pipefile:3:3)" in r.err, str(r)


def test_did_you_mean_never_offers_the_word_itself():
    from pipefile.errors import did_you_mean

    assert did_you_mean("train", ["train", "trains"]) == "did you mean 'trains'?"
    assert "did you mean" not in (did_you_mean("x", ["x"]) or "")


def test_a_failure_in_an_environment_has_no_nested_parentheses(tmp_path):
    from pipefile.outcomes import Outcome, StepResult
    from pipefile.report.run import failure_text

    r = StepResult(
        name="train",
        outcome=Outcome.FAILED,
        seconds=2.0,
        exit_code=1,
        error="exited with status 1",
        command="python a.py\npython b.py",
        environment="gpu (docker:acb00c10848e)",
        gpus=("0", "1"),
    )
    head, *rest = failure_text(r, str(tmp_path)).split("\n")
    assert head == "step 'train' exited with status 1 after 2.0s in env gpu (docker:acb00c10848e) on GPU 0,1"
    assert rest[:2] == ["  command: python a.py", "           python b.py"]


def test_invoke_names_the_type_with_its_article():
    # `pipe invoke -p` converts by the endpoint's input types, numbers as in a Pipefile
    from pipefile.errors import PipefileError
    from pipefile.serve.client import parse_inputs

    schema = {"n": {"kind": "param", "type": "integer"}, "lr": {"kind": "param", "type": "number"}}
    assert parse_inputs(None, schema, ["n=1_000", "lr=1e-3"], []) == {"n": 1000, "lr": 0.001}
    with pytest.raises(PipefileError) as e:
        parse_inputs(None, schema, ["n=0.5"], [])
    assert "'n' is an integer, and '0.5' is not one" in e.value.message and "whole number" in e.value.hint


def test_invoke_refuses_a_param_outside_its_enum():
    # `pipe invoke -p` checks the endpoint's enum before sending (exit 2, with the allowed values)
    from pipefile.errors import PipefileError
    from pipefile.serve.client import parse_inputs

    schema = {"model": {"kind": "param", "type": "string", "enum": ["ridge", "lasso"], "default": "ridge"}}
    assert parse_inputs(None, schema, ["model=lasso"], []) == {"model": "lasso"}
    with pytest.raises(PipefileError) as e:
        parse_inputs(None, schema, ["model=rigde"], [])
    assert "-p model=rigde" in e.value.message and "not one of its enum values" in e.value.message
    assert "did you mean 'ridge'?" in e.value.hint and "ridge, lasso" in e.value.hint


@pytest.mark.parametrize("typ", ["integer", "number"])
def test_a_number_of_thousands_of_digits_is_not_a_param_value_nor_a_crash(typ):
    """int() refuses 4300 digits with a ValueError: `-p n=<5000 nines>` was exit 70."""
    assert convert_param_text("9" * 5000, typ) is None
    assert convert_param_text("9" * 65, typ) is None
    assert convert_param_text("9" * 64, typ) == (int("9" * 64) if typ == "integer" else float("9" * 64))


def test_a_param_given_thousands_of_digits_is_bad_usage_with_a_bounded_message(repo):
    repo.pipefile(
        "version: 1\nparams:\n  n: {type: integer, default: 1}\nsteps:\n  a: {command: 'echo ${{params.n}}'}\n"
    )
    r = repo.pipe("run", "-p", "n=" + "9" * 5000)
    assert r.code == 2 and "more than pipe reads" in r.err and len(r.err) < 400, str(r)[:500]


@pytest.mark.parametrize(
    "resources, message",
    [
        ("{cpus: .nan}", "cpus of step 'a' must be a positive number"),  # was: accepted
        ("{cpus: .inf}", "cpus of step 'a' must be a positive number"),  # was: accepted
        ("{memory: 1e400GB}", "memory of step 'a' is not a size"),  # was: exit 70 (OverflowError)
        ("{memory: 1e300GB}", "memory of step 'a' is not a size"),  # (a finite number, an infinite size)
        ("{custom: {nodes: .nan}}", "custom resource 'nodes' of step 'a' must be a positive number"),
    ],
)
def test_a_resource_that_is_no_finite_number_is_refused_located(repo, resources, message):
    repo.pipefile(f"version: 1\nsteps:\n  a:\n    command: echo hi\n    resources: {resources}\n")
    r = repo.pipe("validate")
    assert r.code == 2 and message in r.err and r.err.startswith("Pipefile:5:"), str(r)


@pytest.mark.parametrize(
    "text, shown",
    [("nan", "nan"), ("NaN", "nan"), (".nan", "nan"), ("inf", "inf"), ("-inf", "-inf"), (".inf", "inf")]
    + [("-Infinity", "-inf"), ("+.inf", "inf"), ("1e999", "inf"), ("-1e999", "-inf")],
)
def test_a_number_param_takes_nan_and_infinity_from_p_as_the_pipefile_does(repo, text, shown):
    """A Pipefile's default may be `.inf` or `.nan` (a bound that is none, a fill value), and
    -p refused the same value ("not a finite one"): the file and the command line disagreed on
    what a param holds. -p takes it now, in YAML's spelling and Python's."""
    repo.pipefile(
        "version: 1\nparams:\n  lr: 0.1\nsteps:\n  a: {command: 'echo ${{params.lr}} > o', outputs: {o: o}}\n"
    )
    r = repo.pipe("run", "-p", f"lr={text}")
    assert r.code == 0 and repo.read("o") == f"{shown}\n", str(r)
    assert "1 fresh" in repo.pipe("run", "-p", f"lr={shown}", check=True).err  # one value, one key


def test_a_non_finite_p_value_is_the_key_of_the_same_pipefile_default(repo):
    """Never wasted: `-p tol=inf` where the file says `tol: .inf` is the step already run; a
    nan (which equals nothing) too; and a JSON list's Infinity as the file's `.inf` item."""
    repo.pipefile(
        "version: 1\nparams:\n  tol: .inf\n  fill: {type: number, default: .nan}\n  s: [1, .inf]\nsteps:\n"
        "  a: {command: 'echo ${{params.tol}} ${{params.fill}} > o', outputs: {o: o}}\n"
        "  b:\n    inputs: {x: '${{params.s}}'}\n    foreach: ${{inputs.x}}\n"
        "    command: echo ${{inputs.x}} > ${{outputs.o}}\n    outputs: {o: b/}\n"
    )
    assert "3 ran" in repo.pipe("run", check=True).err and repo.read("o") == "inf nan\n"
    for flags in (["tol=inf"], ["tol=.inf", "fill=nan"], ["fill=NaN", "s=[1, Infinity]"]):
        r = repo.pipe("run", *[x for f in flags for x in ("-p", f)], check=True)
        assert "3 fresh" in r.err, (flags, str(r))
    assert "1 ran" in repo.pipe("run", "-p", "tol=-inf", check=True).err and repo.read("o") == "-inf nan\n"


def test_a_number_param_keeps_its_key_however_the_value_is_spelled(repo):
    """Never stale, never wasted: one value spelled many ways is one step key."""
    repo.pipefile(
        "version: 1\nparams:\n  lr: 0.1\nsteps:\n  a: {command: 'echo ${{params.lr}} > o', outputs: {o: o}}\n"
    )
    repo.pipe("run", "-p", "lr=1e308", check=True)
    for same in ("1E308", "1.0e+308", "1_0e307"):
        r = repo.pipe("run", "-p", f"lr={same}", check=True)
        assert "1 fresh" in r.err, (same, str(r))
    r = repo.pipe("run", "-p", "lr=1e-999", check=True)  # (underflows to 0.0: a value, and a new one)
    assert "1 ran" in r.err and repo.read("o") == "0.0\n", str(r)
    assert "1 fresh" in repo.pipe("run", "-p", "lr=0", check=True).err


@pytest.mark.parametrize("text, task", [("[1, NaN]", "a[nan]"), ("[1e999]", "a[inf]"), ("[-Infinity, 2]", "a[-inf]")])
def test_a_list_param_takes_a_json_list_holding_nan_or_infinity(repo, text, task):
    """Python's json reads NaN, Infinity and 1e999 (inf), and a Pipefile's list default may hold
    `.nan` or `.inf`: -p refused them ("holds a number that is not finite"); taken now."""
    repo.pipefile(
        "version: 1\nparams:\n  s: {type: list, default: [1]}\nsteps:\n  a:\n"
        "    inputs: {x: '${{params.s}}'}\n    foreach: ${{inputs.x}}\n    command: echo ${{inputs.x}}\n"
    )
    r = repo.pipe("run", "-p", f"s={text}")
    assert r.code == 0 and task in r.err, str(r)
