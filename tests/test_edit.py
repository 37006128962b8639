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

from pipefile.edit import EditError, apply_edits, digest_of
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
    if isinstance(value, float):
        return value * 2 + 0.5
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
