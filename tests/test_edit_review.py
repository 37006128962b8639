"""The Pipefile editor (pipefile/edit) reviewed as a designer's user drives it: edits applied
to real Pipefiles, then `pipe validate` and `pipe run` on the result in a real workspace."""

from __future__ import annotations

import pytest
from workspace_repo import Repo

from pipefile.edit import EditError, apply_edits

COPY = """\
steps:
  prep:
    command: printf 'x' > ${{outputs.data}}
    outputs:
      data: out/data.txt
  copy:
    command: cp ${{inputs.d}} ${{outputs.o}} && touch ${{outputs.log}} ${{outputs.mine}}
    inputs:
      d: ${{steps.prep.outputs.data}}
    outputs:
      o: build/copy/o   # the copy
      log: {path: build/copy/log, type: uri_file}
      mine: results/mine.txt
  lister:
    command: cat ${{inputs.d}} > ${{outputs.listing}}
    inputs:
      d: ${{steps.copy.outputs.o}}
    outputs: {listing: build/lister/listing}
"""


def test_a_renamed_step_s_default_outputs_follow_it_and_hand_written_ones_stay(tmp_path):
    # A step added from the library gets build/STEP/OUTPUT (add_step); renamed, it kept
    # build/OLD/OUTPUT: its files went to a folder named after a step that no longer is, and
    # a step later given the old name wrote into the same folder. Now they follow the step
    # (as in Azure's designer); a path written otherwise stays.
    repo = Repo(tmp_path)
    added = apply_edits(COPY, [{"op": "add_step", "name": "cut", "component": "std/split_data@1"}]).text
    assert "train: build/cut/train" in added  # (the default a library step is given)
    renamed = apply_edits(COPY, [{"op": "rename_step", "name": "copy", "to": "duplicate"}]).text
    assert "      o: build/duplicate/o   # the copy\n" in renamed  # (its comment kept)
    assert "log: {path: build/duplicate/log, type: uri_file}" in renamed
    assert "mine: results/mine.txt" in renamed and "data: out/data.txt" in renamed
    assert "build/copy" not in renamed and "${{steps.duplicate.outputs.o}}" in renamed
    repo.pipefile(renamed)
    repo.pipe("validate", check=True)
    repo.pipe("run", check=True)
    assert (tmp_path / "build/duplicate/o").read_text() == "x" and not (tmp_path / "build/copy").exists()
    assert (tmp_path / "build/lister/listing").read_text() == "x"
    # and back: the paths follow again, to the very text it was
    assert apply_edits(renamed, [{"op": "rename_step", "name": "duplicate", "to": "copy"}]).text == COPY


def test_a_renamed_step_s_outputs_stay_where_something_else_names_their_folder(tmp_path):
    # A step that reads build/OLD/... by its plain path (as pipe links steps), or a folder
    # another step already writes to under the new name: moving the outputs would break the
    # link or mix two steps' files, so every path stays as written.
    by_path = (
        "steps:\n  copy:\n    command: echo > ${{outputs.o}}\n    outputs: {o: build/copy/o}\n"
        "  reader:\n    command: cat ${{inputs.d}}\n    inputs: {d: ./build/copy/o}\n"
    )
    out = apply_edits(by_path, [{"op": "rename_step", "name": "copy", "to": "dup"}]).text
    assert "outputs: {o: build/copy/o}" in out and "  dup:\n" in out
    taken = (
        "steps:\n  copy:\n    command: echo > ${{outputs.o}}\n    outputs: {o: build/copy/o}\n"
        "  other:\n    command: echo > ${{outputs.o}}\n    outputs: {o: build/dup/o}\n"
    )
    out = apply_edits(taken, [{"op": "rename_step", "name": "copy", "to": "dup"}]).text
    assert "outputs: {o: build/copy/o}" in out
    # a name that only starts like it (copy_2's folder) is no mention of build/copy
    prefixed = (
        "steps:\n  copy:\n    command: echo > ${{outputs.o}}\n    outputs: {o: build/copy/o}\n"
        "  copy_2:\n    command: echo > ${{outputs.o}}\n    outputs: {o: build/copy_2/o}\n"
    )
    out = apply_edits(prefixed, [{"op": "rename_step", "name": "copy", "to": "dup"}]).text
    assert "outputs: {o: build/dup/o}" in out and "build/copy_2/o" in out


MATRIX_BLOCK = """\
steps:
  train:
    matrix:
      lr:          # rates
        - 0.01
        - 0.1
      depth: [3, 5]
    inputs: {lr: {type: number}, depth: {type: integer}}
    command: echo ${{inputs.lr}} ${{inputs.depth}} > ${{outputs.model}}
    outputs: {model: build/model/}
"""


def test_a_matrix_axis_s_values_are_set_as_a_list_and_bad_ones_refused_by_name(tmp_path):
    # `set` had no field for a matrix axis (the designer could only show its values).
    edited = apply_edits(MATRIX_BLOCK, [{"op": "set", "step": "train", "field": "matrix.lr", "value": [0.5, 0.25]}])
    assert "# rates" in edited.text and "depth: [3, 5]" in edited.text
    repo = Repo(tmp_path)
    repo.pipefile(edited.text)
    repo.pipe("validate", check=True)
    assert "lr: [0.5, 0.25]   # rates\n      depth: [3, 5]\n" in edited.text
    for field, value, said in [
        ("matrix.dpth", [1], "has no matrix axis 'dpth'"),
        ("matrix.exclude", [1], "has no matrix axis 'exclude'"),
        ("matrix.lr", [], "must be a list of values"),
        ("matrix.lr", 0.5, "must be a list of values"),
        ("matrix.lr", [0.5, 0.5], "holds 0.5 twice"),
        ("matrix.lr", [[1]], "which is no axis value"),
    ]:
        with pytest.raises(EditError) as e:
            apply_edits(MATRIX_BLOCK, [{"op": "set", "step": "train", "field": field, "value": value}])
        assert said in e.value.message and e.value.loc.line == 2, (field, e.value.message)


BARE = """\
components:
  noin:
    command: echo > ${{outputs.o}}
    outputs: {o: uri_file}
steps:
  prep:
    command: echo > ${{outputs.data}}
    outputs: {data: build/prep/data}
  lone:
    command: echo hi
  made:
    component: noin
    outputs: {o: build/made/o}
"""


@pytest.mark.parametrize(
    "op",
    [
        {"op": "promote", "step": "prep", "field": "outputs.data", "param": "p"},
        {"op": "promote", "step": "lone", "field": "inputs.x", "param": "p"},
        {"op": "connect", "from": {"step": "lone", "output": "o"}, "to": {"step": "prep", "input": "i"}},
        {"op": "disconnect", "from": {"step": "prep", "output": "data"}, "to": {"step": "lone", "input": "i"}},
        {"op": "set", "step": "made", "field": "inputs.x", "value": "1"},
    ],
)
def test_a_refused_edit_on_a_step_with_nothing_to_suggest_still_says_the_fix(op):
    # Where the step had no outputs or inputs to suggest from, the refusal came with no hint
    # at all ("step 'prep' has no outputs.data to promote", and nothing on what to do).
    with pytest.raises(EditError) as e:
        apply_edits(BARE, [op])
    assert e.value.hint, e.value.message
    assert e.value.loc.line is not None


def test_a_refused_value_is_said_as_the_request_spelt_it_not_as_python_writes_it():
    # The page and the API send JSON: "param 'lr' is a number, and True is not" named a value
    # nobody sent (true), and a list's null was None.
    text = "params:\n  lr: 0.01\nsteps:\n  a: {command: echo}\n"
    with pytest.raises(EditError) as e:
        apply_edits(text, [{"op": "set_param", "name": "lr", "value": True}])
    assert "and true is not" in e.value.message
    with pytest.raises(EditError) as e:
        apply_edits(text, [{"op": "set", "step": "a", "field": "description", "value": [1, None]}])
    assert "not [1, null]" in e.value.message
    with pytest.raises(EditError) as e:
        apply_edits(text, [{"op": "set_param", "name": "lr", "value": "x" * 500}])
    assert "(502 characters)" in e.value.message and len(e.value.message) < 200
