"""The designer draws groups in a real browser (Debian's Chromium, Playwright for Python, a real
`pipe ui`): an unfolded matrix or nested pipeline is a labelled frame around its members, with
its fold control on it; the pipeline nodes of an Azure ML pipeline have typed, connected ports.
Skipped with the reason where Chromium or Playwright is missing (failed in CI)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from uibrowser import NESTED

AZUREML = Path(__file__).parent / "azureml_fixtures"

MATRIX = """\
steps:
  prep:
    command: echo x > x.txt
    outputs: {out: x.txt}
  train:
    matrix:
      lr: [0.1, 0.2, 0.3]
    inputs:
      lr: {type: number}
      x: ${{steps.prep.outputs.out}}
    command: mkdir -p ${{outputs.model}} && echo ${{inputs.lr}} > ${{outputs.model}}/m.txt
    outputs: {model: build/model/}
  report:
    command: ls ${{inputs.m}} > report.txt
    inputs: {m: "${{steps.train.outputs.model}}"}
    outputs: {r: report.txt}
"""


def laid_out(pg) -> None:
    pg.wait_for_selector("[data-testid=canvas][data-laid-out='1']")
    time.sleep(0.4)  # the fit after a layout happens on the next frame


def box(pg, selector: str) -> dict:
    b = pg.locator(selector).bounding_box()
    assert b, f"{selector} is not on screen"
    return b


def inside(inner: dict, outer: dict, top: float = 0) -> bool:
    return (
        inner["x"] >= outer["x"] - 0.5
        and inner["y"] >= outer["y"] + top - 0.5
        and inner["x"] + inner["width"] <= outer["x"] + outer["width"] + 0.5
        and inner["y"] + inner["height"] <= outer["y"] + outer["height"] + 0.5
    )


def overlaps(a: dict, b: dict) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


def check_frame(pg, group: str, members: list, outside: list) -> None:
    """`group` unfolded: a frame holding its title, fold control and every member, clear of the
    steps outside it."""
    frame_sel = f"[data-step='{group}'][data-frame='1']"
    pg.wait_for_selector(frame_sel)
    laid_out(pg)
    frame = box(pg, frame_sel)
    title = box(pg, f"{frame_sel} .frame-title")
    assert group in pg.locator(f"{frame_sel} .frame-title").inner_text()
    assert inside(box(pg, f"[data-testid='expand-{group}']"), frame), "the fold control is on the frame"
    for m in members:
        b = box(pg, f"[data-step='{m}']")
        assert inside(b, frame), f"{m} {b} is not inside the frame of {group} {frame}"
        assert not overlaps(b, title), f"{m} covers the title of {group}"
    for o in outside:
        assert not overlaps(box(pg, f"[data-step='{o}']"), frame), f"{o} sits on the frame of {group}"


def test_an_unfolded_matrix_is_a_labelled_frame_around_its_tasks_and_folds_from_it(opened, repo):
    repo.write("Pipefile", MATRIX, dedent=False)
    pg = opened()
    laid_out(pg)
    assert pg.locator("[data-frame]").count() == 0
    pg.click("[data-testid=expand-train]")
    pg.wait_for_selector("[data-step^='train[']")
    names = sorted(pg.eval_on_selector_all("[data-step^='train[']", "els => els.map(e => e.dataset.step)"))
    assert len(names) == 3, names
    check_frame(pg, "train", names, ["prep", "report"])
    # the frame's fold control folds it back into one node
    pg.click("[data-testid=expand-train]")
    pg.wait_for_selector("[data-step='train']:not([data-frame])")
    assert pg.locator("[data-step^='train[']").count() == 0


def test_an_unfolded_nested_pipeline_is_a_frame_in_the_top_to_bottom_layout_too(opened, repo):
    repo.write("data.csv", "a,b\n")
    repo.write("Pipefile", NESTED, dedent=False)
    pg = opened()
    laid_out(pg)
    pg.click("[data-testid=expand-small]")
    check_frame(pg, "small", ["small/prep", "small/fit"], ["report"])
    pg.click("[data-testid=direction]")
    pg.wait_for_timeout(300)
    check_frame(pg, "small", ["small/prep", "small/fit"], ["report"])


def test_the_pipeline_nodes_of_an_azure_ml_pipeline_have_typed_ports_and_connected_edges(opened, repo):
    shutil.copytree(AZUREML / "nested", repo.root, dirs_exist_ok=True)
    pg = opened("-f", "pipeline.yml")
    laid_out(pg)
    node = pg.locator("[data-step='prep_a']")
    assert node.get_attribute("data-kind") == "pipeline"
    ports = sorted(node.locator("[data-port]").evaluate_all("els => els.map(e => e.dataset.port)"))
    assert ports == ["in:data", "in:factor", "in:tag", "out:result"], ports
    assert "uri_folder" in (node.locator("[data-port='in:data']").get_attribute("title") or "")
    # folded, the edge to `join` leaves the pipeline's output port and enters join's input
    edge = pg.locator("[data-edge='prep_a->join']")
    assert edge.count() == 1
    assert edge.get_attribute("data-ports") == "result->a"
    assert pg.locator("[data-edge='prep_b->join']").get_attribute("data-ports") == "result->b"


def test_a_job_s_graph_draws_each_group_as_a_frame_around_its_tasks(opened, repo):
    repo.write("Pipefile", MATRIX, dedent=False)
    repo.pipe("run", check=True)
    job = repo.pipe("jobs", "--all", "--json", check=True).json["jobs"][0]["id"]
    pg = opened()
    pg.goto(pg.url.split("#")[0].split("?")[0] + f"#/jobs/{job}")
    pg.wait_for_selector("[data-testid=job-page]")
    frame = "[data-step='train'][data-frame='1']"
    pg.wait_for_selector(frame)
    laid_out(pg)
    names = pg.eval_on_selector_all("[data-step^='train[']", "els => els.map(e => e.dataset.step)")
    assert len(names) == 3, names
    for n in names:
        assert inside(box(pg, f"[data-step='{n}']"), box(pg, frame)), n
    assert pg.locator(frame).get_attribute("data-state") == "ran"
    assert pg.locator("[data-testid=expand-train]").count() == 0  # a job's groups stay unfolded
    assert "3 tasks" in pg.locator(f"{frame} .frame-title").inner_text()
