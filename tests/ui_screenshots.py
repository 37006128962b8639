"""The screenshots of docs/ui.md, taken by Playwright from a real `pipe ui` session on a copy of
examples/designer-regression (run twice, the second time with another seed and model):

    python tests/ui_screenshots.py [OUT_DIR]       # default docs/img/ui

Same browser and guard as the browser tests (tests/uibrowser.py): Debian's Chromium, nothing
but loopback.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from uibrowser import OffHostGuard, UiServer, copy_example, launch  # noqa: E402

ROOT = HERE.parent
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))


def pipe(ws: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "pipefile", *args], cwd=ws, check=True, capture_output=True)


def settle(pg) -> None:
    pg.wait_for_selector("[data-testid=canvas][data-laid-out='1']")
    time.sleep(0.5)


def main(out: Path) -> None:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        ws = Path(tmp) / "designer-regression"
        ws.mkdir()
        copy_example(ROOT / "examples" / "designer-regression", ws)
        pipe(ws, "run")
        pipe(ws, "run", "-p", "seed=7", "-p", "model=ridge")
        server = UiServer(ws)
        browser = launch(pw)
        context = browser.new_context(viewport={"width": 1400, "height": 820}, device_scale_factor=1)
        guard = OffHostGuard(context)
        pg = context.new_page()
        try:
            pg.goto(server.url)
            settle(pg)
            pg.hover("[data-step='train']")
            pg.wait_for_selector("[data-testid=reasons]")
            pg.screenshot(path=out / "pipeline.png")

            pg.mouse.move(5, 400)
            pg.click("[data-testid=tab-library]")
            pg.fill("[data-testid=library-search]", "split")
            pg.hover("[data-item='std:std/split_data@1']")
            pg.wait_for_selector("[data-testid=hovercard]")
            pg.screenshot(path=out / "library.png")

            pg.mouse.move(700, 700)
            pg.click("[data-step='split']")
            pg.wait_for_selector("[data-testid=properties]")
            pg.mouse.move(700, 700)
            time.sleep(0.3)
            pg.screenshot(path=out / "properties.png")

            pg.click("[data-testid=params]")
            pg.fill("[data-testid=param-seed]", "11")
            pg.click("[data-testid=save]")
            pg.wait_for_selector("[data-testid=save-confirm]")
            pg.screenshot(path=out / "diff-preview.png")
            pg.click("[data-testid=save-preview-close]")
            pg.click("[data-testid=undo]")

            pg.goto(server.url.split("?")[0] + "#/jobs")
            pg.wait_for_selector("[data-job]")
            ids = pg.eval_on_selector_all("[data-job]", "els => els.map(e => e.dataset.job)")
            pg.screenshot(path=out / "jobs.png")
            pg.goto(server.url.split("?")[0] + f"#/jobs/{ids[0]}")
            settle(pg)
            pg.click("[data-row='evaluate']")
            pg.wait_for_selector("[data-testid=preview-report] img")
            pg.wait_for_function("() => document.querySelector('[data-testid=log]').textContent.length > 0")
            pg.screenshot(path=out / "job.png")
            pg.click("[data-testid=tab-timeline]")
            pg.screenshot(path=out / "timeline.png")

            pg.goto(server.url.split("?")[0] + f"#/compare/{ids[1]}/{ids[0]}")
            settle(pg)
            pg.wait_for_selector("[data-prop]")
            pg.click("[data-testid=only-differences]")  # every row: the long digests cut to fit
            time.sleep(0.3)
            pg.screenshot(path=out / "compare.png")
        finally:
            context.close()
            browser.close()
            server.stop()
        guard.check()
        nested_shot(pw, Path(tmp) / "nested", out)
        azureml_shot(pw, Path(tmp) / "azureml", out)
    for p in sorted(out.glob("*.png")):
        print(p)


NESTED = """\
# two uses of one pipeline component: each a node, unfolded here
components:
  prepare:
    type: pipeline
    inputs: {data: uri_file}
    outputs: {table: uri_file}
    steps:
      clean:
        command: grep -v '^#' ${{inputs.raw}} > ${{outputs.clean}}
        inputs: {raw: "${{parent.inputs.data}}"}
        outputs: {clean: }
      scale:
        command: cp ${{inputs.clean}} ${{outputs.table}}
        inputs: {clean: "${{steps.clean.outputs.clean}}"}
        outputs: {table: "${{parent.outputs.table}}"}
steps:
  prep_a:
    component: prepare
    inputs: {data: data/a.csv}
    outputs: {table: build/a.csv}
  prep_b:
    component: prepare
    inputs: {data: data/b.csv}
    outputs: {table: build/b.csv}
  join:
    command: cat ${{inputs.a}} ${{inputs.b}} > ${{outputs.joined}}
    inputs: {a: "${{steps.prep_a.outputs.table}}", b: "${{steps.prep_b.outputs.table}}"}
    outputs: {joined: build/joined.csv}
"""


def nested_shot(pw, ws: Path, out: Path) -> None:
    """A Pipefile using a pipeline component twice: prep_a folded, prep_b unfolded."""
    (ws / "data").mkdir(parents=True)
    (ws / "Pipefile").write_text(NESTED)
    for name in ("a", "b"):
        (ws / "data" / f"{name}.csv").write_text("x\n1\n")
    server = UiServer(ws)
    browser = launch(pw)
    context = browser.new_context(viewport={"width": 1400, "height": 820}, device_scale_factor=1)
    guard = OffHostGuard(context)
    try:
        pg = context.new_page()
        pg.goto(server.url)
        settle(pg)
        pg.click("[data-testid='expand-prep_b']")
        settle(pg)
        pg.mouse.move(700, 780)  # no hover card over the frame
        time.sleep(0.3)
        pg.screenshot(path=out / "nested.png")
    finally:
        context.close()
        browser.close()
        server.stop()
    guard.check()


def azureml_shot(pw, ws: Path, out: Path) -> None:
    """An Azure ML pipeline (tests/azureml_fixtures/nested): its pipeline nodes folded, with the
    typed ports of their pipeline component, wired to the job that reads them."""
    import shutil

    shutil.copytree(HERE / "azureml_fixtures" / "nested", ws)
    server = UiServer(ws, "-f", "pipeline.yml")
    browser = launch(pw)
    context = browser.new_context(viewport={"width": 1400, "height": 820}, device_scale_factor=1)
    guard = OffHostGuard(context)
    try:
        pg = context.new_page()
        pg.goto(server.url)
        settle(pg)
        pg.mouse.move(700, 780)
        time.sleep(0.3)
        pg.screenshot(path=out / "azureml.png")
    finally:
        context.close()
        browser.close()
        server.stop()
    guard.check()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "img" / "ui")
