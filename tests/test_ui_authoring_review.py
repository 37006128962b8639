"""Authoring in the designer as a new user does it, in a real browser (Debian's Chromium driven
by Playwright for Python, a real `pipe ui`): typing values key by key, refused edits, a hand
edit on disk under unsaved changes, a Python pipeline opened. Skipped with the reason where
Chromium or Playwright is missing (failed in CI). The fixtures `browser` and `opened` are
tests/uibrowser.py's."""

from __future__ import annotations

import time

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture says why and skips (or fails in CI)
    expect = None

PIPEFILE = """\
# authoring: comments and order must survive
params:
  lr: 0.01        # learning rate
  verbose: false
steps:
  prep:
    command: printf 'a,b\\n1,2\\n3,4\\n' > ${{outputs.data}}
    outputs:
      data: build/data.csv
  train:
    command: cat ${{inputs.data}} > ${{outputs.model}} && echo "${{params.lr}} ${{params.verbose}}"
    inputs:
      data: ${{steps.prep.outputs.data}}
    outputs:
      model: build/model.txt
"""


@pytest.fixture
def ws(repo):
    repo.pipefile(PIPEFILE)
    return repo


def laid_out(pg) -> None:
    pg.wait_for_selector("[data-testid=canvas][data-laid-out='1']")
    time.sleep(0.3)  # the fit after a layout happens on the next frame


def type_into(pg, selector: str, text: str) -> None:
    """As a person types: the field emptied, then one key at a time."""
    field = pg.locator(selector)
    field.click()
    field.press("Control+a")
    field.press("Backspace")
    field.press_sequentially(text, delay=30)


def save(pg) -> str:
    pg.click("[data-testid=save]")
    diff = pg.locator("[data-testid=diff]").inner_text()
    pg.click("[data-testid=save-confirm]")
    expect(pg.locator("[data-testid=draft-count]")).to_have_text("saved")
    return diff


def test_numbers_typed_key_by_key_are_saved_as_typed_and_a_boolean_param_can_be_set(opened, ws):
    # Each key re-showed the field as the number its text parsed to: "0." showed as "0", so
    # typing 0.025 wrote `lr: 25.0` (and a component's fraction 0.5 became 5); a boolean
    # param was a text field that showed "false" again after every key, never true.
    pg = opened()
    laid_out(pg)
    pg.click("[data-testid=params]")
    type_into(pg, "[data-testid=param-lr]", "0.025")
    expect(pg.locator("[data-testid=param-lr]")).to_have_value("0.025")
    pg.click("[data-testid=param-verbose]")
    pg.click("[data-testid=params]")  # (closed: it covers the canvas)
    pg.click("[data-testid=tab-library]")
    pg.fill("[data-testid=library-search]", "split_data")
    pg.click("[data-testid='add-std/split_data@1']")
    pg.wait_for_selector("[data-step='split_data']")
    pg.click("[data-step='split_data']")
    pg.select_option("[data-testid=connect-from-data]", "prep.data")
    type_into(pg, "[data-testid='prop-params.fraction']", "0.5")
    expect(pg.locator("[data-testid='prop-params.fraction']")).to_have_value("0.5")
    diff = save(pg)
    text = ws.read("Pipefile")
    assert "  lr: 0.025        # learning rate\n" in text, diff
    assert "  verbose: true\n" in text, diff
    assert "      fraction: 0.5\n" in text, diff
    # a value changed from elsewhere (undo) replaces what the field shows
    pg.click("[data-testid=params]")
    type_into(pg, "[data-testid=param-lr]", "1e-3")
    pg.click("[data-testid=undo]")
    expect(pg.locator("[data-testid=param-lr]")).to_have_value("0.025")


def test_a_hand_edit_under_unsaved_changes_offers_them_for_the_new_file_and_a_save_keeps_both(opened, ws):
    # The save's preview met the file changed on disk and said only "reload the pipeline (your
    # edits are kept as a draft)": a reload found no draft for the new file (drafts are kept
    # per file digest), so the edits were gone; the dialog that moves them onto the new file
    # came only when the disk changed between the preview and the confirmation.
    pg = opened()
    laid_out(pg)
    pg.click("[data-testid=params]")
    with pg.expect_response("**/api/preview"):  # (the draft's own check: before the hand edit, as a user's)
        pg.fill("[data-testid=param-lr]", "0.5")
    expect(pg.locator("[data-testid=draft-count]")).to_have_text("1 unsaved change")
    ws.write("Pipefile", PIPEFILE.replace("  verbose: false", "  verbose: true   # by hand"), dedent=False)
    pg.click("[data-testid=save]")
    conflict = pg.locator("[data-testid=save-conflict]")
    conflict.wait_for()
    assert "+  verbose: true   # by hand" in conflict.locator("[data-testid=diff]").inner_text()
    pg.click("[data-testid=conflict-reapply]")
    expect(pg.locator("[data-testid=draft-count]")).to_have_text("1 unsaved change")
    save(pg)
    text = ws.read("Pipefile")
    assert "  lr: 0.5        # learning rate\n" in text and "  verbose: true   # by hand\n" in text, text


def test_a_draft_that_would_not_load_is_not_written_until_it_does(opened, ws):
    # A std component dropped in with its required input left unbound: the save showed the
    # error and wrote the file anyway. pipe validate and pipe run then refused it, and the
    # designer opened it as a file that does not load: nothing on the page could be edited,
    # not even the input that would fix it.
    pg = opened()
    laid_out(pg)
    pg.click("[data-testid=tab-library]")
    pg.fill("[data-testid=library-search]", "split_data")
    pg.click("[data-testid='add-std/split_data@1']")
    pg.wait_for_selector("[data-step='split_data']")
    pg.click("[data-testid=save]")
    expect(pg.locator("[data-testid=save-errors]")).to_contain_text("required input 'data'")
    expect(pg.locator("[data-testid=save-blocked]")).to_contain_text("would not load")
    expect(pg.locator("[data-testid=save-confirm]")).to_be_disabled()
    pg.keyboard.press("Escape")
    pg.click(".modal-back", position={"x": 5, "y": 5})
    assert ws.read("Pipefile") == PIPEFILE
    pg.click("[data-step='split_data']")
    # (its outputs show the paths the save writes, not empty fields)
    expect(pg.locator("[data-testid='prop-outputs.train.path']")).to_have_value("build/split_data/train")
    pg.select_option("[data-testid=connect-from-data]", "prep.data")
    save(pg)
    assert ws.pipe("validate").code == 0
    assert "split_data:" in ws.read("Pipefile") and "      train: build/split_data/train\n" in ws.read("Pipefile")


def test_a_change_the_server_refuses_is_taken_back_and_said_not_shown_done(opened, ws):
    # Deleting a step another reads, or renaming a step to a name taken: the server refused the
    # operation, but the draft kept it and the canvas drew it done (the step gone; two steps
    # of one name drawn as one), and every later change failed on it until an undo.
    pg = opened()
    laid_out(pg)
    pg.click("[data-step='prep']")
    pg.click("[data-testid=delete-step]")
    expect(pg.locator("[data-testid=op-refused]")).to_contain_text("is read by step 'train'")
    expect(pg.locator("[data-edge='prep->train']")).to_have_count(1)
    expect(pg.locator("[data-testid=draft-count]")).to_have_text("saved")
    pg.click("[data-step='train']")
    pg.fill("[data-testid=rename-to]", "prep")
    pg.click("[data-testid=rename-step]")
    expect(pg.locator("[data-testid=op-refused]")).to_contain_text("there is a step 'prep' already")
    expect(pg.locator("[data-step='train']")).to_have_count(1)
    expect(pg.locator("[data-edge='prep->train']")).to_have_count(1)
    expect(pg.locator("[data-testid=draft-count]")).to_have_text("saved")
    # the next change is made and checked as usual
    pg.fill("[data-testid=rename-to]", "fit")
    pg.click("[data-testid=rename-step]")
    expect(pg.locator("[data-testid=op-refused]")).to_have_count(0)
    expect(pg.locator("[data-edge='prep->fit']")).to_have_count(1)
    save(pg)
    assert ws.pipe("validate").code == 0 and "  fit:\n" in ws.read("Pipefile")


STEPS_PY = """\
from pipefile import dsl


@dsl.command_component
def make(out: dsl.Output(type="uri_file"), seed: int = 7):
    open(out, "w").write(str(seed))
"""

BUILD_PY = """\
from steps import make

from pipefile import dsl


@dsl.pipeline(name="p")
def pipeline(seed: int = 7):
    make(seed=seed)
"""


def test_a_python_pipeline_opens_read_only_and_says_so_before_any_edit(opened, repo):
    # Every field, rename, delete and save of a Python pipeline were offered as for a
    # Pipefile; only after an edit did the preview say the designer does not edit Python.
    repo.write("steps.py", STEPS_PY, dedent=False)
    repo.write("build.py", BUILD_PY, dedent=False)
    pg = opened("-f", "build.py")
    laid_out(pg)
    note = pg.locator("[data-testid=read-only]")
    expect(note).to_contain_text("build.py is a pipeline written in Python")
    expect(note).to_contain_text("pipe export build.py")
    expect(pg.locator("[data-testid=save]")).to_be_disabled()
    pg.click("[data-testid=params]")
    expect(pg.locator("[data-testid=param-seed]")).to_be_disabled()
    pg.click("[data-testid=params]")
    pg.click("[data-step='make']")
    expect(pg.locator("[data-testid=properties]")).to_be_visible()
    expect(pg.locator("[data-testid=delete-step]")).to_have_count(0)
    expect(pg.locator("[data-testid=rename-to]")).to_have_count(0)
    base = pg.url.split("?")[0].rstrip("/")
    assert pg.request.get(base + "/api/pipeline").json()["read_only"]["hint"].startswith("edit build.py")
    # (the run is still offered: the designer shows and runs it)
    expect(pg.locator("[data-testid=run]")).to_be_enabled()


def test_a_pipefile_is_not_read_only(opened, ws):
    pg = opened()
    laid_out(pg)
    expect(pg.locator("[data-testid=read-only]")).to_have_count(0)
    base = pg.url.split("?")[0].rstrip("/")
    assert pg.request.get(base + "/api/pipeline").json()["read_only"] is None


def test_a_step_name_the_rename_cannot_take_says_why(opened, ws):
    # "my step" or "x.y" greyed the rename button out and said nothing: a new user was left
    # to guess what a step name may be.
    pg = opened()
    laid_out(pg)
    pg.click("[data-step='train']")
    for bad in ("my step", "x.y", "9lives", "ü"):
        pg.fill("[data-testid=rename-to]", bad)
        expect(pg.locator("[data-testid=rename-step]")).to_be_disabled()
        expect(pg.locator("[data-testid=rename-hint]")).to_contain_text("ASCII letters, digits, '_' and '-'")
    pg.fill("[data-testid=rename-to]", "my-step_2")
    expect(pg.locator("[data-testid=rename-hint]")).to_have_count(0)
    expect(pg.locator("[data-testid=rename-step]")).to_be_enabled()


# A chain wide enough that, fitted to the canvas, its last steps sit at the right edge.
CHAIN = "steps:\n" + "".join(
    f"  s{i}:\n    command: echo {i} > ${{{{outputs.o}}}}{' ' + chr(38) + chr(38) + ' cat ${{inputs.i}}' if i else ''}\n"
    + (f"    inputs:\n      i: ${{{{steps.s{i - 1}.outputs.o}}}}\n" if i else "")
    + f"    outputs:\n      o: build/s{i}.txt\n"
    for i in range(7)
)


def _covered(pg, step: str) -> bool:
    """True when what is on top at the middle of the step's node is not the node (a pane over it)."""
    return pg.evaluate(
        """(name) => {
            const el = document.querySelector(`[data-step='${name}']`);
            const r = el.getBoundingClientRect();
            const top = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
            return !(top && el.contains(top));
        }""",
        step,
    )


def _inside(pg, step: str, box: str) -> bool:
    return pg.evaluate(
        """([name, box]) => {
            const r = document.querySelector(`[data-step='${name}']`).getBoundingClientRect();
            const c = document.querySelector(box).getBoundingClientRect();
            return r.left >= c.left - 1 && r.right <= c.right + 1 && r.top >= c.top - 1 && r.bottom <= c.bottom + 1;
        }""",
        [step, box],
    )


@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080)])
def test_the_properties_pane_covers_no_step_and_the_step_it_shows_stays_in_view(opened, repo, size):
    # The properties pane lay over the right of the canvas: a step fitted there (the chain's
    # last) was under it, and a click meant for it landed in the pane; the minimap too.
    repo.pipefile(CHAIN)
    pg = opened()
    pg.set_viewport_size({"width": size[0], "height": size[1]})
    pg.reload()
    laid_out(pg)
    last = "s6"
    assert _inside(pg, last, "[data-testid=canvas]") and not _covered(pg, last)
    pg.click(f"[data-step='{last}']")
    expect(pg.locator("[data-testid=properties]")).to_be_visible()
    time.sleep(0.5)  # (the canvas follows the pane on the next frames)
    # the step whose properties are shown is whole in the canvas's visible part, on top
    assert _inside(pg, last, "[data-testid=canvas]") and not _covered(pg, last)
    for i in range(7):  # a step the canvas shows is never under the pane
        if _inside(pg, f"s{i}", "[data-testid=canvas]"):
            assert not _covered(pg, f"s{i}"), f"s{i}"
    pg.click("[data-step='s0']")  # (another step, clicked with the pane open: reached)
    pg.wait_for_timeout(500)
    assert _inside(pg, "s0", "[data-testid=canvas]") and not _covered(pg, "s0")
    # the params pane beside it too: it lay over the canvas (and the properties pane)
    pg.click("[data-testid=params]")
    expect(pg.locator("[data-testid=params-panel]")).to_be_visible()
    pg.wait_for_timeout(500)
    assert _inside(pg, "s0", "[data-testid=canvas]") and not _covered(pg, "s0")
    for i in range(7):
        if _inside(pg, f"s{i}", "[data-testid=canvas]"):
            assert not _covered(pg, f"s{i}"), f"s{i} under the params pane"
    pg.click("[data-testid=properties-close]")  # (closed: the pane's buttons were reachable)


MATRIX = """\
steps:
  train:
    matrix:
      lr: [0.01, 0.1]   # rates
      depth: [3, 5]
      exclude: [{lr: 0.1, depth: 5}]
    inputs:
      lr: {type: number}
      depth: {type: integer}
    command: echo ${{inputs.lr}} ${{inputs.depth}} > ${{outputs.model}}
    outputs: {model: build/model/}
"""


def test_a_matrix_axis_s_values_are_edited_on_the_page_and_saved_as_a_list(opened, repo):
    # A matrix step's values could only be read on the page (`matrix: 0.01, 0.1`): changing
    # them meant the Pipefile's text. Its properties now edit each axis (set matrix.AXIS).
    repo.pipefile(MATRIX)
    pg = opened()
    laid_out(pg)
    pg.click("[data-step='train']")
    expect(pg.locator("[data-testid=matrix-lr]")).to_have_value("0.01, 0.1")
    type_into(pg, "[data-testid=matrix-lr]", "0.5, 0.05, 0.1")
    expect(pg.locator("[data-testid=matrix-lr]")).to_have_value("0.5, 0.05, 0.1")
    type_into(pg, "[data-testid=matrix-depth]", "3, 3")  # (a value twice: said, nothing sent)
    expect(pg.locator("[data-testid=matrix-hint-depth]")).to_be_visible()
    type_into(pg, "[data-testid=matrix-depth]", "3, 5, 7")
    diff = save(pg)
    assert "+      lr: [0.5, 0.05, 0.1]   # rates" in diff, diff
    text = (repo.root / "Pipefile").read_text()
    assert "lr: [0.5, 0.05, 0.1]   # rates\n      depth: [3, 5, 7]\n      exclude: [{lr: 0.1, depth: 5}]" in text
    repo.pipe("validate", check=True)
    # the saved file shows its 8 tasks (3 x 3, less the one excluded)
    expect(pg.locator("[data-step='train']")).to_contain_text("8 tasks")
