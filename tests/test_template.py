"""The `${{ }}` / `$[[ ]]` template language: parsing, rendering, quoting."""

import re
import shlex
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipefile import shellquote, template
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


# --- quoting that reads the command -------------------------------------------------------
# (template, value, rendered): a value is written for where its ${{ }} sits.
QUOTING = [
    # outside quotes: shell-quoted, as always (the rendered command is in every step key)
    ("echo ${{params.p}}", "hello world", "echo 'hello world'"),
    ("echo ${{params.p}}", "build/x.csv", "echo build/x.csv"),
    ("echo x${{params.p}}y", "a b", "echo x'a b'y"),
    # inside double quotes: escaped for them, no second layer of quotes
    ('echo "${{params.p}}"', "hello world", 'echo "hello world"'),
    ('echo "${{params.p}}"', 'say "hi" $HOME `id` \\', 'echo "say \\"hi\\" \\$HOME \\`id\\` \\\\"'),
    ('echo "x=${{params.p}}!"', "it's", 'echo "x=it\'s!"'),
    # inside single quotes: a ' closes, is given in double quotes, and reopens
    ("echo '${{params.p}}'", "hello world", "echo 'hello world'"),
    ("echo '${{params.p}}'", "it's", "echo 'it'\"'\"'s'"),
    ("echo '$x ${{params.p}}'", '"$HOME"', "echo '$x \"$HOME\"'"),
    # quotes closed before the placeholder, escaped quotes, and quotes of the other kind
    ("echo 'a' ${{params.p}}", "a b", "echo 'a' 'a b'"),
    ("echo \\' ${{params.p}}", "a b", "echo \\' 'a b'"),
    ('echo "it\'s" ${{params.p}}', "a b", "echo \"it's\" 'a b'"),
    ('echo "\\"${{params.p}}"', "a b", 'echo "\\"a b"'),
    # $( ) and backticks start afresh, also inside double quotes
    ('echo "$(cat ${{params.p}})"', "a b", "echo \"$(cat 'a b')\""),
    ('echo "$(printf \'%s\' "${{params.p}}")"', "a b", 'echo "$(printf \'%s\' "a b")"'),
    ("echo `cat ${{params.p}}`", "a b", "echo `cat 'a b'`"),
    # a comment's quote does not open quotes; a here-document's body is not shell syntax
    ("# it's\necho ${{params.p}}", "a b", "# it's\necho 'a b'"),
    ("cat <<EOF\nit's ${{params.p}}\nEOF\necho '${{params.p}}'", "a b", "cat <<EOF\nit's 'a b'\nEOF\necho 'a b'"),
    ("cat <<-'E'\n\t\"${{params.p}}\n\tE\necho ${{params.p}}", "a b", "cat <<-'E'\n\t\"'a b'\n\tE\necho 'a b'"),
    # a shift in arithmetic is no here-document
    ('echo $((1<<2)) "${{params.p}}"', "a b", 'echo $((1<<2)) "a b"'),
    # optional blocks: each value is written for where it sits, present or dropped
    ("run $[[--tag \"${{inputs.t}}\"]] '${{params.p}}'", "it's", "run --tag \"it's\" 'it'\"'\"'s'"),
]


@pytest.mark.parametrize("text, value, rendered", QUOTING)
def test_values_are_written_for_where_they_sit(text, value, rendered):
    assert render(text, {"params.p": value, "inputs.t": value}) == rendered


def test_a_dropped_block_keeps_the_places_of_the_values_after_it():
    t = "run $[[--tag '${{inputs.t}}']] \"${{params.p}}\""
    assert render(t, {"params.p": "a $b"}) == 'run "a \\$b"'


def test_argv_items_are_verbatim_whatever_quotes_they_hold():
    assert render("'${{params.p}}'", {"params.p": "it's"}, quote=False) == "'it's'"


def test_unquoted_placeholders_render_as_before():
    # the step key holds the rendered command: an unquoted value must not change, or every
    # user's steps would run again
    for value in ["a b", "it's", "", "x", "$(id)", "a\nb"]:
        assert render("cmd ${{params.p}} > ${{outputs.o}}", {"params.p": value, "outputs.o": "o.txt"}) == (
            f"cmd {shlex.quote(value)} > o.txt"
        )


_VALUES = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=40)


@settings(max_examples=300, deadline=None)
@given(value=_VALUES, form=st.sampled_from(['"${{params.x}}"', "'${{params.x}}'", "${{params.x}}"]))
def test_the_shell_prints_exactly_the_value_in_every_quoting(value, form):
    # a real /bin/sh, as a step runs: the command gets the value, never quotes or escapes
    command = render(f"printf '%s' {form}", {"params.x": value})
    out = subprocess.run(["/bin/sh", "-ec", command], capture_output=True, check=True).stdout
    assert out.decode("utf-8", "surrogateescape") == value


@settings(max_examples=100, deadline=None)
@given(value=_VALUES)
def test_a_value_in_a_shell_comment_has_its_place_and_stays_in_the_comment(value):
    # `# ${{...}}` after a command: the value is written there (it was a crash: exit 70),
    # and a line break in it cannot end the comment and run what follows
    command = render(
        "printf '%s' ${{params.a}} # note ${{params.x}} and ${{params.x}}\nprintf '|%s' ${{params.b}}",
        {"params.a": "A", "params.x": value, "params.b": "B"},
    )
    out = subprocess.run(["/bin/sh", "-ec", command], capture_output=True, check=True).stdout
    assert out == b"A|B"


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=list("ab $()<>|&;\\'\"`#\n\t{}-") + [shellquote.MARK], max_size=24))
def test_the_plain_text_shortcut_of_contexts_agrees_with_the_scanner(text):
    """contexts() skips its scanner for text without quotes, escapes, comments, here-documents
    or `$(` (most commands): the places it gives must be the scanner's."""
    fast = shellquote.contexts(text)
    plain = shellquote._PLAIN
    shellquote._PLAIN = re.compile(r"(?!)")  # matches nothing: the scanner reads every text
    try:
        assert fast == shellquote.contexts(text)
    finally:
        shellquote._PLAIN = plain
