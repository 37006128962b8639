"""The Pipefile editor of `pipe ui` (pipefile/edit): minimal patches, checked by reading back.

Every corpus file (tests/data/edit_corpus/: hand-written Pipefiles with comments, anchors,
flow and block styles, odd quoting, CRLF, no final newline, tabs, unicode) is edited with
each operation: a no-op is byte-identical, a one-param edit changes one line, an operation
and its inverse give the original bytes back, and the result passes `pipe validate`.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipefile.edit import EditError, apply_edits, digest_of
from pipefile.edit.tree import parse as parse_tree
from pipefile.load import yamlsafe

BASIC = """\
version: 1
# the knobs
params:
  lr: 0.01   # learning rate
  epochs: 5
  big: {type: number, default: 1e-3, description: "a long-form param"}
assets:
  raw: {type: uri_file, path: data/raw.csv}
steps:
  prepare:
    command: python src/prepare.py ${{inputs.raw}} ${{outputs.clean}}
    inputs: {raw: "${{assets.raw}}"}
    outputs: {clean: build/clean.csv}
  train:   # fits the model
    command: >-
      python src/train.py --data ${{inputs.data}}
      --lr ${{params.lr}} --out ${{outputs.model}}
    inputs:
      data: ${{steps.prepare.outputs.clean}}
    outputs:
      model: build/model/
"""


def changed_lines(old: str, new: str) -> list:
    return [
        line
        for line in difflib.unified_diff(old.splitlines(True), new.splitlines(True), n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def test_no_operations_give_the_same_bytes():
    edited = apply_edits(BASIC, [])
    assert edited.text == BASIC and edited.diff == "" and not edited.changed


def test_set_param_changes_one_line_and_keeps_its_comment():
    edited = apply_edits(BASIC, [{"op": "set_param", "name": "lr", "value": 0.02}])
    assert changed_lines(BASIC, edited.text) == ["-  lr: 0.01   # learning rate\n", "+  lr: 0.02   # learning rate\n"]
    assert edited.changed and edited.diff.startswith("--- a/Pipefile\n+++ b/Pipefile\n")


def test_set_param_to_its_value_is_byte_identical():
    edited = apply_edits(BASIC, [{"op": "set_param", "name": "big", "value": 0.001}])
    assert edited.text == BASIC and not edited.changed


def test_set_param_long_form_sets_the_default_in_place():
    edited = apply_edits(BASIC, [{"op": "set_param", "name": "big", "value": 2}])
    assert (
        changed_lines(BASIC, edited.text)[1]
        == '+  big: {type: number, default: 2.0, description: "a long-form param"}\n'
    )


def test_new_param_that_looks_like_a_number_is_quoted():
    edited = apply_edits(BASIC, [{"op": "set_param", "name": "tag", "value": "1.0"}])
    assert changed_lines(BASIC, edited.text) == ['+  tag: "1.0"\n']


def test_set_input_in_flow_and_block_style():
    flow = apply_edits(BASIC, [{"op": "set", "step": "prepare", "field": "inputs.x", "value": "${{assets.raw}}"}])
    assert '    inputs: {raw: "${{assets.raw}}", x: "${{assets.raw}}"}\n' in flow.text
    block = apply_edits(BASIC, [{"op": "set", "step": "train", "field": "inputs.x", "value": "${{assets.raw}}"}])
    assert changed_lines(BASIC, block.text) == ["+      x: ${{assets.raw}}\n"]


def test_set_null_removes_the_key_and_an_emptied_section():
    edited = apply_edits(BASIC, [{"op": "set", "step": "train", "field": "inputs.data", "value": None}])
    assert changed_lines(BASIC, edited.text) == ["-    inputs:\n", "-      data: ${{steps.prepare.outputs.clean}}\n"]


def test_wrong_type_for_a_typed_param_is_refused_with_the_fix():
    with pytest.raises(EditError) as e:
        apply_edits(BASIC, [{"op": "set_param", "name": "epochs", "value": 0.5}])
    assert e.value.loc.line == 5 and e.value.index == 0
    assert "integer" in e.value.message and "declare it a number" in e.value.hint


def test_unknown_step_and_unknown_field_are_refused():
    with pytest.raises(EditError) as e:
        apply_edits(BASIC, [{"op": "set", "step": "trian", "field": "command", "value": "x"}])
    assert "no step 'trian'" in e.value.message and "train" in e.value.hint
    with pytest.raises(EditError) as e:
        apply_edits(BASIC, [{"op": "set", "step": "train", "field": "inputz.data", "value": "x"}])
    assert "unknown field" in e.value.message and "inputs.NAME" in e.value.hint


def test_digest_is_sha256_of_the_bytes():
    assert digest_of(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


# --- the corpus ---------------------------------------------------------------------------------
CORPUS = Path(__file__).parent / "data" / "edit_corpus"
FILES = sorted(p.name for p in CORPUS.glob("*.Pipefile"))


def read(name: str) -> str:
    # bytes as written: CRLF kept, no final newline kept
    return (CORPUS / name).read_bytes().decode("utf-8")


def data_of(text: str) -> dict:
    return yamlsafe.load(yamlsafe.decode(text.encode(), "Pipefile"), "Pipefile", numbers=True)


def other_value(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):  # (a fraction stays one: an input's min: 0, max: 1 holds it)
        return value / 2 if 0 < value <= 1 else value * 2 + 0.5
    return f"{value}_2"


def param_edits(text: str):
    """A set_param op per param, each with a new value of its type."""
    for name, p in (data_of(text).get("params") or {}).items():
        current = p.get("default") if isinstance(p, dict) else p
        if current is not None:
            yield {"op": "set_param", "name": name, "value": other_value(current)}


def first_editable(text: str, ops) -> tuple:
    for op in ops:
        try:
            return op, apply_edits(text, [op])
        except EditError:
            continue  # an anchored value (see test_anchored_param_is_refused): the next one
    raise AssertionError("no editable param")


def lines(text: str) -> list:
    return text.split("\n")


def test_corpus_is_big_enough():
    assert len(FILES) >= 10


@pytest.mark.parametrize("name", FILES)
def test_corpus_no_op_is_byte_identical(name):
    text = read(name)
    assert apply_edits(text, []).text == text
    # a value set to what it is: nothing is rewritten (not even 1e-3 as 0.001)
    for name_, p in (data_of(text).get("params") or {}).items():
        current = p.get("default") if isinstance(p, dict) else p
        if current is not None:
            assert apply_edits(text, [{"op": "set_param", "name": name_, "value": current}]).text == text


@pytest.mark.parametrize("name", FILES)
def test_corpus_one_param_edit_changes_exactly_one_line(name):
    text = read(name)
    op, edited = first_editable(text, param_edits(text))
    diff = changed_lines(text, edited.text)
    assert len(diff) == 2 and diff[0][0] == "-" and diff[1][0] == "+", diff
    assert data_of(edited.text)["params"] != data_of(text)["params"]
    if "\r\n" in text:
        assert edited.text.count("\r\n") == text.count("\r\n")


def _src_and_dst(text: str) -> tuple:
    """(a step with an output, that output, a later inline step that does not feed it)."""
    steps = data_of(text)["steps"]
    src = next(s for s, b in steps.items() if isinstance(b.get("outputs"), dict) and b["outputs"])
    dst = next(s for s, b in reversed(steps.items()) if s != src and "component" not in b)
    return src, next(iter(steps[src]["outputs"])), dst


def probe_step(src: str, out: str) -> dict:
    return {
        "op": "add_step",
        "name": "edit_probe",
        "command": "cat ${{inputs.data}} > ${{outputs.out}}",
        "inputs": {"data": "${{steps.%s.outputs.%s}}" % (src, out)},
        "outputs": {"out": "build/edit_probe.txt"},
    }


@pytest.mark.parametrize("name", FILES)
def test_corpus_operations_and_their_inverses_give_the_bytes_back(name):
    text = read(name)
    src, out, dst = _src_and_dst(text)
    # a key the step does not have yet (a written-out alias has no inverse: see test_edit_inside_an_alias...)
    field, value = (
        ("environment", "local") if "environment" not in data_of(text)["steps"][dst] else ("resources.gpus", 1)
    )
    pairs = [
        (
            {"op": "connect", "from": {"step": src, "output": out}, "to": {"step": dst, "input": "edit_probe"}},
            {"op": "disconnect", "to": {"step": dst, "input": "edit_probe"}},
        ),
        (
            {"op": "set", "step": dst, "field": "inputs.edit_probe", "value": "some/path.txt"},
            {"op": "set", "step": dst, "field": "inputs.edit_probe", "value": None},
        ),
        (probe_step(src, out), {"op": "delete_step", "name": "edit_probe"}),
        ({"op": "rename_step", "name": src, "to": "renamed"}, {"op": "rename_step", "name": "renamed", "to": src}),
        (
            {"op": "set", "step": dst, "field": field, "value": value},
            {"op": "set", "step": dst, "field": field, "value": None},
        ),
    ]
    for do, undo in pairs:
        there = apply_edits(text, [do])
        assert there.changed, do
        back = apply_edits(there.text, [undo])
        assert back.text == text, (do, back.diff)
        # both in one list too
        assert apply_edits(text, [do, undo]).text == text


def make_files(root: Path, data: dict) -> None:
    """The files a corpus Pipefile reads (assets, code, scripts), so that it validates."""
    paths = []
    for a in (data.get("assets") or {}).values():
        paths.append(a if isinstance(a, str) else a.get("path"))
    for c in list((data.get("components") or {}).values()) + list(data["steps"].values()):
        paths += list(c.get("code") or [])
        cmd = c.get("command")
        paths += [w for w in (cmd if isinstance(cmd, list) else str(cmd or "").split()) if w.startswith("src/")]
    for p in paths:
        f = root / p
        f.parent.mkdir(parents=True, exist_ok=True)
        if p.endswith("/"):
            f.mkdir(exist_ok=True)
        else:
            f.write_text("x\n")


@pytest.mark.parametrize("name", FILES)
def test_corpus_edited_file_passes_pipe_validate(name, repo):
    text = read(name)
    src, out, _ = _src_and_dst(text)
    param_op, _ = first_editable(text, param_edits(text))
    edited = apply_edits(text, [param_op, probe_step(src, out), {"op": "rename_step", "name": src, "to": "renamed"}])
    (repo.root / "Pipefile").write_bytes(edited.text.encode())
    make_files(repo.root, data_of(text))
    r = repo.pipe("validate")
    assert r.code == 0, f"{edited.diff}\n{r}"


# --- property: edits of values touch only their own lines ------------------------------------
def _entry_lines(text: str, keys: list) -> set:
    """0-based lines an edit at `keys` may change: those of the deepest entry written on the
    way, where that entry is a value or a flow collection (a block mapping only gets lines
    inserted into it, none of its lines change)."""
    root = parse_tree(text.replace("\r\n", "\n"))
    node, span = root, set()
    for key in keys:
        if node is None or node.kind != "map":
            break
        k, v = node.get(key)
        if k is None:
            break
        if v.kind == "map" and not v.flow and v.items:
            node, span = v, set()
            continue
        lf = text.replace("\r\n", "\n")
        first = lf.count("\n", 0, k.start)
        last = lf.count("\n", 0, max(v.cend - 1, v.vstart))
        return set(range(first, last + 1))
    return span


def _changed_original_lines(old: str, new: str) -> set:
    matcher = difflib.SequenceMatcher(None, lines(old), lines(new), autojunk=False)
    out: set = set()
    for tag, i1, i2, _, _ in matcher.get_opcodes():
        if tag in ("replace", "delete"):
            out.update(range(i1, i2))
    return out


_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)


@st.composite
def value_edits(draw):
    name = draw(st.sampled_from(FILES))
    text = read(name)
    data = data_of(text)
    ops = []
    for _ in range(draw(st.integers(1, 4))):
        steps = list(data["steps"])
        params = list(data.get("params") or {})
        kind = draw(st.sampled_from(["param", "description", "resources", "input"] if params else ["description"]))
        if kind == "param":
            p = draw(st.sampled_from(params))
            keys = ["params", p] + (["default"] if isinstance(data["params"][p], dict) else [])
            current = data["params"][p]
            current = current.get("default") if isinstance(current, dict) else current
            value = {
                bool: st.booleans(),
                int: st.integers(-(10**12), 10**12),
                float: st.floats(allow_infinity=False, allow_nan=False),
            }.get(type(current), _TEXT)
            ops.append(({"op": "set_param", "name": p, "value": draw(value)}, keys))
        else:
            s = draw(st.sampled_from(steps))
            if kind == "description":
                field, value, keys = "description", draw(_TEXT), ["steps", s, "description"]
            elif kind == "resources":
                field, value, keys = "resources.cpus", draw(st.integers(1, 64)), ["steps", s, "resources", "cpus"]
            else:
                field, value, keys = "inputs.edit_value", draw(_TEXT), ["steps", s, "inputs", "edit_value"]
            ops.append(({"op": "set", "step": s, "field": field, "value": value}, keys))
    return text, ops


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value_edits())
def test_random_value_edits_keep_every_untouched_line(case):
    text, ops = case
    applied = []
    for op, keys in ops:
        try:
            apply_edits(text, applied + [op])
        except EditError as e:
            # refused, located, with the fix: a value written through an anchor others use, an input
            # a component does not declare; never the editor's own failure to write a value
            assert e.loc is not None and e.hint and "read back" not in e.message, e
            continue
        applied.append((op, keys))
    if not applied:
        return
    edited = apply_edits(text, [op for op, _ in applied])
    allowed = set().union(*(_entry_lines(text, keys) for _, keys in applied))
    assert _changed_original_lines(text, edited.text) <= allowed, edited.diff
    assert edited.text.count("\r\n") >= text.count("\r\n")
    # what was set reads back
    got = data_of(edited.text)
    for op, keys in applied:
        if op["op"] == "set":
            value = got
            for k in keys:
                value = value[k]
            assert value == op["value"]


# --- bad input: refused, located, with the fix ----------------------------------------------------
def refused(text: str, ops: list) -> EditError:
    with pytest.raises(EditError) as e:
        apply_edits(text, ops)
    assert e.value.loc is not None and e.value.loc.file == "Pipefile" and e.value.hint
    return e.value


def test_a_step_name_that_exists_is_refused_for_add_and_rename():
    e = refused(BASIC, [{"op": "add_step", "name": "train", "command": "true"}])
    assert "step 'train' already" in e.message and e.loc.line == 14 and "train_2" in e.hint
    e = refused(BASIC, [{"op": "rename_step", "name": "prepare", "to": "train"}])
    assert e.loc.line == 14
    e = refused(BASIC, [{"op": "rename_step", "name": "prepare", "to": "no spaces"}])
    assert "not a valid step name" in e.message


def test_deleting_a_step_others_read_names_them():
    e = refused(read("01_block_comments.Pipefile"), [{"op": "delete_step", "name": "prepare"}])
    assert "step 'train' (line 28)" in e.message and "step 'evaluate' (line 39)" in e.message
    assert e.loc.line == 18 and "disconnect" in e.hint


def test_wrong_type_for_a_typed_input_or_param_is_refused():
    text = read("08_components.Pipefile")
    e = refused(text, [{"op": "set", "step": "score_test", "field": "inputs.threshold", "value": "high"}])
    assert "number" in e.message and "e.g. 0.01" in e.hint
    e = refused(text, [{"op": "set_param", "name": "fraction", "value": True}])
    assert "param 'fraction' is a number" in e.message and e.loc.line == 3
    e = refused(text, [{"op": "set", "step": "score_test", "field": "inputs.nope", "value": 1}])
    assert "has no input 'nope'" in e.message
    # a std component's inputs are known too; its params are the step's inputs
    e = refused(text, [{"op": "set", "step": "split", "field": "params.seed", "value": 1.5}])
    assert "input 'seed' of step 'split' is an integer" in e.message and e.loc.line == 19
    e = refused(text, [{"op": "set", "step": "split", "field": "inputs.fractoin", "value": 0.5}])
    assert "std/split_data@1" in e.message and "fraction" in e.hint
    edited = apply_edits(text, [{"op": "set", "step": "split", "field": "params.fraction", "value": "0.6"}])
    assert changed_lines(text, edited.text)[1] == "+      fraction: 0.6\n"
    # text that is a number of the param's type is taken as that number
    edited = apply_edits(text, [{"op": "set_param", "name": "fraction", "value": "0.5"}])
    assert "default: 0.5," in edited.text


def test_set_param_outside_its_enum_is_refused_with_the_allowed_values():
    text = "version: 1\nparams:\n  model: {type: string, default: ridge, enum: [ridge, lasso]}\n"
    e = refused(text, [{"op": "set_param", "name": "model", "value": "svm"}])
    assert "param 'model' is 'svm', which is not one of its enum values" in e.message
    assert "ridge, lasso" in e.hint and e.loc.line == 3
    edited = apply_edits(text, [{"op": "set_param", "name": "model", "value": "lasso"}])
    assert "default: lasso," in edited.text
    # a number param's enum is compared as numbers: "1" from a text field is 1.0
    text = "version: 1\nparams:\n  v: {type: number, default: 0.5, enum: [0.5, 1]}\n"
    assert "default: 1.0," in apply_edits(text, [{"op": "set_param", "name": "v", "value": "1"}]).text
    assert "0.5, 1" in refused(text, [{"op": "set_param", "name": "v", "value": 2}]).hint


def test_a_file_that_does_not_parse_is_refused_where_it_breaks():
    e = refused("version: 1\nsteps:\n  a: [1,\n", [{"op": "set_param", "name": "x", "value": 1}])
    assert "not valid YAML" in e.message and e.loc.line >= 3


def test_unknown_operations_and_missing_arguments_name_the_operation():
    e = refused(BASIC, [{"op": "set_param", "name": "lr", "value": 0.5}, {"op": "explode"}])
    assert e.index == 1 and e.message.startswith("operation 2 (explode)") and "set_param" in e.hint
    e = refused(BASIC, [{"op": "set", "step": "train", "field": "command"}])
    assert "'value' is missing" in e.message


def test_command_of_a_component_step_is_refused():
    e = refused(read("08_components.Pipefile"), [{"op": "set", "step": "split", "field": "command", "value": "x"}])
    assert "gives its command" in e.message


def test_connect_refuses_a_cycle_and_an_unknown_output():
    e = refused(
        BASIC,
        [{"op": "connect", "from": {"step": "train", "output": "model"}, "to": {"step": "prepare", "input": "m"}}],
    )
    assert "cycle" in e.message
    e = refused(
        BASIC,
        [{"op": "connect", "from": {"step": "prepare", "output": "cleen"}, "to": {"step": "train", "input": "m"}}],
    )
    assert "no output 'cleen'" in e.message and "clean" in e.hint


# --- anchors, aliases and merge keys --------------------------------------------------------------
def test_an_anchored_value_others_use_is_refused():
    text = read("03_anchors.Pipefile")
    e = refused(text, [{"op": "set_param", "name": "lr", "value": 0.5}])
    assert "&lr" in e.message and "*lr" in e.message and e.loc.line == 3
    e = refused(text, [{"op": "set", "step": "prepare", "field": "inputs.raw", "value": "data/x.csv"}])
    assert "&common" in e.message


def test_an_edit_through_an_alias_writes_the_mapping_out_for_that_step_only():
    text = read("03_anchors.Pipefile")
    edited = apply_edits(text, [{"op": "set", "step": "report", "field": "resources.gpus", "value": 1}])
    assert changed_lines(text, edited.text) == [
        "-    resources: *res\n",
        "+    resources: {cpus: 1, memory: 1GB, gpus: 1}\n",
    ]
    # a scalar alias is replaced where it is
    edited = apply_edits(text, [{"op": "set", "step": "report", "field": "description", "value": "the report"}])
    assert changed_lines(text, edited.text) == ["-    description: *desc\n", "+    description: the report\n"]


def test_a_key_from_a_merge_is_overridden_in_place_and_not_removed():
    text = read("03_anchors.Pipefile")
    edited = apply_edits(text, [{"op": "set", "step": "train", "field": "inputs.raw", "value": "data/other.csv"}])
    assert changed_lines(text, edited.text) == ["+      raw: data/other.csv\n"]
    e = refused(text, [{"op": "set", "step": "train", "field": "inputs.raw", "value": None}])
    assert "merge key" in e.message


# --- what each operation writes -------------------------------------------------------------------
def test_delete_step_takes_its_comment_lines_and_blank_line():
    text = read("01_block_comments.Pipefile")
    edited = apply_edits(text, [{"op": "delete_step", "name": "evaluate"}])
    removed = changed_lines(text, edited.text)
    assert removed[:3] == ["-\n", "-  # Score it.\n", "-  evaluate:\n"] and all(x[0] == "-" for x in removed)
    assert "    # end of train\n" in edited.text and edited.text.endswith("# the end\n")


def test_a_block_scalar_command_keeps_its_style():
    text = read("04_quoting.Pipefile")
    edited = apply_edits(
        text, [{"op": "set", "step": "literal", "field": "command", "value": "python a.py\npython b.py\n"}]
    )
    assert "    command: |\n      python a.py\n      python b.py\n    inputs:" in edited.text
    edited = apply_edits(text, [{"op": "set", "step": "folded", "field": "command", "value": "python short.py"}])
    assert "    command: >-\n      python short.py\n    inputs:" in edited.text


def test_crlf_lines_stay_crlf_and_new_lines_get_crlf():
    text = read("05_crlf.Pipefile")
    edited = apply_edits(text, [{"op": "add_step", "name": "extra", "command": "true"}])
    # (a string that reads as a bool is quoted)
    assert edited.text.startswith(text) and edited.text.endswith('\r\n\r\n  extra:\r\n    command: "true"\r\n')
    assert "\n" not in edited.text.replace("\r\n", "")


def test_rename_renames_references_in_every_quoting():
    text = read("04_quoting.Pipefile")
    edited = apply_edits(text, [{"op": "rename_step", "name": "literal", "to": "fit"}])
    assert "  fit:\n" in edited.text and "${{steps.fit.outputs.model}}" in edited.text
    assert len(changed_lines(text, edited.text)) == 4


def test_promote_makes_a_param_and_binds_the_field():
    text = read("12_empty_and_literals.Pipefile")
    edited = apply_edits(text, [{"op": "promote", "step": "use", "field": "inputs.limit", "param": "limit"}])
    assert changed_lines(text, edited.text) == [
        "+  limit: 10\n",
        "-      limit: 10             # a literal value\n",
        "+      limit: ${{params.limit}}             # a literal value\n",
    ]
    e = refused(text, [{"op": "promote", "step": "use", "field": "inputs.limit", "param": "threshold"}])
    assert "param 'threshold' already" in e.message


def test_a_failing_operation_leaves_nothing_half_done():
    e = refused(BASIC, [{"op": "set_param", "name": "lr", "value": 0.5}, {"op": "delete_step", "name": "nope"}])
    assert e.index == 1 and e.op == "delete_step"


def test_deleting_a_step_that_holds_an_anchor_others_use_is_refused():
    text = read("03_anchors.Pipefile")
    unread = [{"op": "set", "step": "train", "field": "inputs.data", "value": None}]
    e = refused(text, unread + [{"op": "delete_step", "name": "prepare"}])
    assert "holds the anchor &common" in e.message and "line 20" in e.message and e.loc.line == 11


def test_clearing_a_long_form_default_writes_the_type_it_gave():
    text = "version: 1\nparams:\n  lr:\n    default: 0.1   # c\n  n: {default: 3}\nsteps:\n  a: {command: echo}\n"
    edited = apply_edits(
        text, [{"op": "set_param", "name": "lr", "value": None}, {"op": "set_param", "name": "n", "value": None}]
    )
    assert (
        edited.text
        == "version: 1\nparams:\n  lr:\n    type: number   # c\n  n: {type: integer}\nsteps:\n  a: {command: echo}\n"
    )
    e = refused(
        text, [{"op": "set_param", "name": "n", "value": None}, {"op": "set_param", "name": "x", "value": None}]
    )
    assert "no param 'x' to clear" in e.message


def test_a_new_params_section_goes_before_the_steps_and_their_comment():
    text = "# top\n\n# the steps\nsteps:\n  a:\n    command: echo\n"
    edited = apply_edits(text, [{"op": "set_param", "name": "n", "value": "x: y"}])
    assert edited.text == '# top\n\nparams:\n  n: "x: y"\n# the steps\nsteps:\n  a:\n    command: echo\n'


def test_a_byte_order_mark_is_kept():
    text = "\ufeffsteps:\n  a:\n    command: echo\n"
    edited = apply_edits(text, [{"op": "set", "step": "a", "field": "command", "value": "echo hi"}])
    assert edited.text == "\ufeffsteps:\n  a:\n    command: echo hi\n"


def test_an_explicit_tag_gives_way_to_the_new_value():
    text = "params:\n  v: &x !!str 5\nsteps:\n  a:\n    command: echo ${{params.v}}\n"
    edited = apply_edits(text, [{"op": "set_param", "name": "v", "value": "6"}])
    assert edited.text == 'params:\n  v: &x "6"\nsteps:\n  a:\n    command: echo ${{params.v}}\n'


def test_resources_are_typed():
    edited = apply_edits(BASIC, [{"op": "set", "step": "train", "field": "resources.cpus", "value": "2"}])
    assert changed_lines(BASIC, edited.text) == ["+    resources:\n", "+      cpus: 2\n"]
    e = refused(BASIC, [{"op": "set", "step": "train", "field": "resources.gpus", "value": 1.5}])
    assert "whole number" in e.message and e.loc.line == 14


def test_add_step_checks_the_component_and_its_inputs():
    text = read("08_components.Pipefile")
    e = refused(text, [{"op": "add_step", "name": "s2", "component": "std/split_dat@1"}])
    assert "split_data" in e.hint
    e = refused(text, [{"op": "add_step", "name": "s2", "component": "scor"}])
    assert "no component 'scor'" in e.message and "score" in e.hint
    e = refused(text, [{"op": "add_step", "name": "s2", "component": "score", "inputs": {"dat": "x"}}])
    assert "no input 'dat'" in e.message and "data" in e.hint
    e = refused(text, [{"op": "add_step", "name": "s2", "component": "score", "params": {"threshold": "high"}}])
    assert "is a number" in e.message
    edited = apply_edits(
        text,
        [
            {
                "op": "add_step",
                "name": "s2",
                "component": "std/split_data@1",
                "inputs": {"data": "${{assets.table}}"},
                "params": {"fraction": "0.5"},
                "outputs": {"train": "build/a.parquet", "test": "build/b.parquet"},
            }
        ],
    )
    assert edited.text.endswith(
        "  s2:\n    component: std/split_data@1\n    inputs:\n      data: ${{assets.table}}\n      fraction: 0.5\n"
        "    outputs:\n      train: build/a.parquet\n      test: build/b.parquet\n"
    )


def test_a_component_step_added_without_output_paths_gets_the_paths_validate_asks_for(tmp_path):
    # The designer's library drops a component as add_step with outputs {}: the step was
    # written without them, and `pipe validate` refused it ("does not say where to write
    # output ...") until each path was typed in by hand. Given ones are kept.
    from pipefile.load import loads

    text = (
        "version: 1\ncomponents:\n  c:\n    command: echo > ${{outputs.o}} && mkdir -p ${{outputs.p}}\n"
        "    outputs: {o: uri_file, p: {type: uri_folder}}\nsteps:\n  a:\n    command: echo hi\n"
    )
    ops = [
        {"op": "add_step", "name": "sp", "component": "std/sample_data@1", "inputs": {}, "outputs": {}},
        {"op": "add_step", "name": "s", "component": "c", "outputs": {"p": "out/p"}},
    ]
    edited = apply_edits(text, ops)
    assert edited.text.endswith(
        "  sp:\n    component: std/sample_data@1\n    outputs:\n      data: build/sp/data\n"
        "  s:\n    component: c\n    outputs:\n      o: build/s/o\n      p: out/p\n"
    ), edited.text
    pf = loads(edited.text, str(tmp_path / "Pipefile"))
    assert pf.steps["sp"].outputs["data"].path == "build/sp/data" and pf.steps["s"].outputs["p"].path == "out/p"


def test_renaming_a_step_to_its_own_name_changes_nothing():
    # It was refused as "there is a step 'prepare' already" (the properties' rename applied as
    # it was shown): a no-op, as setting a value to what it is.
    text = "version: 1\nsteps:\n  prepare:\n    command: echo hi\n"
    edited = apply_edits(text, [{"op": "rename_step", "name": "prepare", "to": "prepare"}])
    assert edited.text == text and not edited.changed
    assert "no step 'nope'" in refused(text, [{"op": "rename_step", "name": "nope", "to": "nope"}]).message


def test_a_step_added_goes_below_the_comments_indented_into_the_last_step():
    # add_step wrote the new step between the last step's value and the comment lines indented
    # into it (which delete_step counts as that step's): the comment then read as the new
    # step's, and deleting the new step deleted the other step's comment with it.
    text = "version: 1\nsteps:\n  a:\n    command: echo hi\n    # the end of a\n\n# final comment\n"
    added = apply_edits(text, [{"op": "add_step", "name": "c", "command": "echo c"}])
    assert added.text == text.replace("# the end of a\n", "# the end of a\n  c:\n    command: echo c\n")
    gone = apply_edits(added.text, [{"op": "delete_step", "name": "c"}])
    assert gone.text == text


def test_delete_step_takes_the_comments_indented_into_it():
    text = read("01_block_comments.Pipefile")
    # (a path train does not write: its own, build/model/, would still read it)
    unread = [{"op": "set", "step": "evaluate", "field": "inputs.model", "value": "models/given/"}]
    edited = apply_edits(text, unread + [{"op": "delete_step", "name": "train"}])
    assert "# end of train" not in edited.text and "# Fit the model" not in edited.text
    assert "  # Score it.\n  evaluate:\n" in edited.text and "\n\n\n" not in edited.text


def test_a_nul_character_is_refused():
    e = refused(BASIC, [{"op": "set", "step": "train", "field": "description", "value": "a\0b"}])
    assert "NUL" in e.message


NESTED_SAME_NAME = """\
version: 1
components:
  train:
    type: pipeline
    inputs: {data: uri_file}
    outputs: {model: uri_file}
    steps:
      prep:
        command: cp ${{inputs.raw}} ${{outputs.clean}}
        inputs: {raw: "${{parent.inputs.data}}"}
        outputs: {clean: }
      fit:
        command: cp ${{inputs.clean}} ${{outputs.model}}
        inputs:
          clean: ${{steps.prep.outputs.clean}}
        outputs: {model: "${{parent.outputs.model}}"}
steps:
  prep:
    command: cp data.csv ${{outputs.o}}
    outputs: {o: build/d.csv}
  small:
    component: train
    inputs: {data: "${{steps.prep.outputs.o}}"}
    outputs: {model: build/small.txt}
"""


def test_rename_leaves_an_inner_step_of_a_pipeline_component_that_shares_the_name():
    # `steps.prep` inside components: is the component's own inner step, not the Pipefile's
    edited = apply_edits(NESTED_SAME_NAME, [{"op": "rename_step", "name": "prep", "to": "load"}])
    assert "clean: ${{steps.prep.outputs.clean}}" in edited.text
    assert changed_lines(NESTED_SAME_NAME, edited.text) == [
        "-  prep:\n",
        "+  load:\n",
        '-    inputs: {data: "${{steps.prep.outputs.o}}"}\n',
        '+    inputs: {data: "${{steps.load.outputs.o}}"}\n',
    ]


@pytest.mark.parametrize("op", ["set_param", "set", "add_step"])
def test_a_value_nested_past_what_the_loader_reads_is_refused_not_a_crash(op):
    deep: object = 1
    for _ in range(900):  # past Python's recursion limit for any walk of it
        deep = [deep]
    ops = {
        "set_param": {"op": "set_param", "name": "lr", "value": deep},
        "set": {"op": "set", "step": "train", "field": "description", "value": deep},
        "add_step": {"op": "add_step", "name": "x", "command": "true", "inputs": {"v": deep}},
    }
    e = refused(BASIC, [{"op": "set_param", "name": "lr", "value": 0.5}, ops[op]])
    assert e.index == 1 and "nested more than" in e.message and e.hint


@pytest.mark.parametrize(
    "op",
    [
        {"op": "add_step", "name": "n" * 2000, "command": "true"},
        {"op": "set_param", "name": "n" * 2000, "value": 1},
        {"op": "add_step", "name": "x", "command": "true", "outputs": {"n" * 2000: "build/x"}},
        {"op": "set", "step": "train", "field": "inputs." + "n" * 2000, "value": 1},
        {"op": "rename_step", "name": "prepare", "to": "n" * 2000},
    ],
)
def test_a_name_longer_than_a_yaml_key_can_be_is_refused_by_name(op):
    # (YAML reads a plain key to 1024 characters: the edit could not read back)
    e = refused(BASIC, [op])
    assert "2000 characters long" in e.message and "1000" in e.hint and "bug" not in e.message


@pytest.mark.parametrize("value", ["\ud800", "a\udcffb", {"\udfff": 1}])
def test_text_with_a_lone_surrogate_is_refused_by_what_it_is(value):
    e = refused(BASIC, [{"op": "set_param", "name": "tag", "value": value}])
    assert "lone surrogate" in e.message and "bug" not in e.message


@pytest.mark.parametrize("name", [["set_param"], {"op": 1}, 5, None])
def test_an_operation_named_by_something_else_than_text_is_refused(name):
    e = refused(BASIC, [{"op": name, "name": "lr", "value": 1}])
    assert "unknown operation" in e.message and "set_param" in e.hint


def test_an_operation_list_too_much_work_for_one_request_is_refused_without_the_work():
    # each operation reads the whole text back: 10,000 steps added one by one to a growing
    # text is quadratic (half an hour); refused once the reading passes the bound
    big = [{"op": "add_step", "name": f"b{i}", "command": "echo " + "x" * 5000} for i in range(300)]
    small = [{"op": "add_step", "name": f"s{i}", "command": "echo"} for i in range(9700)]
    e = refused(BASIC, big + small)
    assert 100 < e.index < 300 and "too much work for one request" in e.message and "fewer operations" in e.hint
    # a long list of operations that keep the text small is still applied
    edited = apply_edits(BASIC, [{"op": "set_param", "name": "epochs", "value": i} for i in range(10_000)])
    assert "  epochs: 9999\n" in edited.text


PLAIN_PATHS = """\
version: 1
steps:
  prepare:
    command: python prep.py
    outputs: {clean: build/clean.csv, models: {path: build/models/}}
  train:
    command: python train.py build/clean.csv
    inputs: {data: ./build/clean.csv}
  use:
    command: cat build/models/m.bin
    inputs: {m: {type: uri_file, path: build/models/m.bin}}
  lists:
    command: ls build
    code: [build]
  other:
    command: ls data
    inputs: {d: data/raw.csv, n: 3}
"""


@pytest.mark.parametrize("reader", ["train", "use", "lists"])
def test_a_step_read_by_a_plain_path_is_not_deleted(reader):
    # pipe links steps by paths too (the path itself, inside an output folder, a folder
    # holding an output): deleting prepare would leave them reading what nothing makes
    others = [s for s in ("train", "use", "lists") if s != reader]
    text = apply_edits(PLAIN_PATHS, [{"op": "delete_step", "name": s} for s in others]).text
    e = refused(text, [{"op": "delete_step", "name": "prepare"}])
    assert f"read by step '{reader}'" in e.message and "other" not in e.message
    # a step that reads no path of it is deleted as before
    assert "  other:" not in apply_edits(PLAIN_PATHS, [{"op": "delete_step", "name": "other"}]).text


EVERY_TYPE = """\
version: 1
params:
  n: {type: number, default: 0.5}
  i: {type: integer, default: 3}
  s: {type: string, default: "x"}
  b: {type: boolean, default: false}
  l: {type: list, default: [a, b]}
  e: {type: string, enum: [red, green], default: red}
  short_s: hello
  short_l: [1, 2]
steps:
  a:
    command: echo ${{params.n}} ${{params.i}} ${{params.s}} ${{params.b}} ${{params.e}} ${{params.short_s}}
"""


@pytest.mark.parametrize("name", ["l", "short_l"])
@pytest.mark.parametrize("value", ["a", 0.7, True, ""])
def test_a_list_param_takes_only_a_list(name, value):
    # (the loader read `l: {type: list, default: 0.7}` as 'required and has no value')
    e = refused(EVERY_TYPE, [{"op": "set_param", "name": name, "value": value}])
    assert f"param '{name}' is a list" in e.message and "[" in e.hint
    edited = apply_edits(EVERY_TYPE, [{"op": "set_param", "name": name, "value": ["x", "y"]}])
    assert yamlsafe.load(edited.text, "Pipefile")["params"][name] in (
        {"type": "list", "default": ["x", "y"]},
        ["x", "y"],
    )


@pytest.mark.parametrize("name", ["n", "i", "s", "b", "l", "e", "short_s", "short_l", "new"])
def test_no_param_takes_a_mapping_as_its_value(name):
    # (a mapping under a param's name reads as its long form: {a: 1} was 'unknown key a')
    e = refused(EVERY_TYPE, [{"op": "set_param", "name": name, "value": {"a": 1}}])
    assert "cannot take a mapping" in e.message and "list" in e.hint
