"""The `${{ }}` / `$[[ ]]` template language: parsing, rendering, quoting."""

import shlex

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipefile import template
from pipefile.template import OptionalBlock, Ref, TemplateError


def render(text, values, quote=True):
    def lookup(ref):
        return values.get(f"{ref.scope}.{ref.name}")

    return template.render(template.parse(text), lookup, quote)


def test_parse_splits_text_refs_and_optional_blocks():
    parts = template.parse("run ${{ inputs.a }} $[[--seed ${{inputs.seed}}]] > ${{outputs.o}}")
    assert parts[0] == "run "
    assert isinstance(parts[1], Ref) and (parts[1].scope, parts[1].name) == ("inputs", "a")
    assert isinstance(parts[3], OptionalBlock)
    assert parts[1].offset == 4


def test_step_output_and_artifact_refs():
    (r,) = template.parse("${{steps.prep.outputs.clean}}")
    assert (r.scope, r.name, r.sub) == ("steps", "prep", "clean")
    (r,) = template.parse("${{artifacts.model:3}}")
    assert (r.scope, r.name, r.sub) == ("artifacts", "model", "3")


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("${{input.a}}", "did you mean 'inputs'"),
        ("${{inputs.}}", "write it as ${{inputs.NAME}}"),
        ("${{steps.a.b}}", "${{steps.STEP.outputs.NAME}}"),
        ("a ${{inputs.x", "close it with '}}'"),
        ("$[[ --x ${{inputs.a}}", "close the optional block"),
        ("$[[ no refs ]]", "must contain an input"),
    ],
)
def test_parse_errors_say_how_to_fix(text, fragment):
    with pytest.raises(TemplateError) as e:
        template.parse(text)
    assert fragment in (e.value.message + " " + (e.value.hint or ""))


def test_optional_block_kept_only_when_every_input_has_a_value():
    t = "train $[[--seed ${{inputs.seed}}]] --out x"
    assert render(t, {"inputs.seed": "3"}) == "train --seed 3 --out x"
    assert render(t, {}) == "train --out x"


def test_values_are_shell_quoted_in_strings_and_verbatim_in_argv():
    evil = "a b; rm -rf / $(id) `id` 'q'"
    out = render("echo ${{params.p}}", {"params.p": evil})
    assert shlex.split(out) == ["echo", evil]
    assert render("${{params.p}}", {"params.p": evil}, quote=False) == evil


@given(st.text())
def test_any_value_survives_shell_quoting(value):
    out = render("cmd ${{params.p}}", {"params.p": value})
    assert shlex.split(out) == ["cmd", value]


def test_format_value():
    assert template.format_value(True) == "true"
    assert template.format_value(0.1) == "0.1"
    assert template.format_value(3) == "3"
