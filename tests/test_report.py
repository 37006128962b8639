"""`pipe report JOB`: a job's page as one self-contained file, from real jobs of real
`pipe run`s (docs/report.md)."""

from __future__ import annotations

import base64
import os
import random
import re
import stat
import subprocess
import sys
import time
from html.parser import HTMLParser

import pytest
from workspace_repo import Repo

PIPEFILE = """\
params:
  lr: 0.1
  note: plain
steps:
  prep:
    command: echo rows > ${{outputs.data}}
    outputs: {data: out/data.txt}
  train:
    command: |
      python -c "
      import json, pipefile
      for i in range(6): pipefile.log_metric('loss', ${{params.lr}} / (i + 1), step=i)
      json.dump({'acc': 0.9, 'loss': ${{params.lr}}}, open('${{outputs.metrics}}', 'w'))
      "
    inputs: {data: "${{steps.prep.outputs.data}}"}
    outputs: {metrics: out/metrics.json}
    metrics: [out/metrics.json]
  evaluate:
    command: echo '${{params.note}}'; echo 'evaluation broke'; exit 3
    inputs: {metrics: "${{steps.train.outputs.metrics}}"}
    outputs: {scores: out/scores.txt}
  publish:
    command: cp ${{inputs.scores}} ${{outputs.final}}
    inputs: {scores: "${{steps.evaluate.outputs.scores}}"}
    outputs: {final: out/final.txt}
"""

STEPS = {"prep", "train", "evaluate", "publish"}


class Page(HTMLParser):
    """What the tests read of a report: its tags with their attributes, and its text."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list = []
        self.text: list = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def attr(self, name: str) -> list:
        return [a[name] for _, a in self.tags if name in a]

    @property
    def all_text(self) -> str:
        return "".join(self.text)


@pytest.fixture(scope="module")
def two_jobs(tmp_path_factory) -> Repo:
    """Job 1 with lr=0.1 and job 2 with lr=0.2, each with a failed step and one skipped after it."""
    root = tmp_path_factory.mktemp("report") / "ws"
    root.mkdir()
    r = Repo(root)
    r.pipefile(PIPEFILE)
    assert r.pipe("run").code == 1
    assert r.pipe("run", "-p", "lr=0.2").code == 1
    return r


def test_html_report_is_one_self_contained_page(two_jobs):
    r = two_jobs
    got = r.pipe("report", "last")
    assert got.code == 0, str(got)
    assert got.out.strip() == "report-2.html"  # without -o: in the current folder, its path printed
    text = r.read("report-2.html")
    umask = os.umask(0)
    os.umask(umask)
    # readable as any file made here is (a CI artifact, a web folder), not private to its writer
    assert stat.S_IMODE(os.stat(r.root / "report-2.html").st_mode) == 0o666 & ~umask
    page = Page(text)
    # the graph: one SVG node per step, edges between them (the skipped step's from the snapshot)
    assert sorted(page.attr("data-step")) == sorted(STEPS)
    assert {"prep->train", "train->evaluate", "evaluate->publish"} <= set(page.attr("data-edge"))
    outcome = dict(zip(page.attr("data-step"), page.attr("data-outcome")))
    assert outcome == {"prep": "fresh", "train": "ran", "evaluate": "failed", "publish": "skipped"}
    # nothing outside the file: no script, no http(s) reference, images inline
    assert not re.search(r"https?://", text)
    assert "<script" not in text.lower()
    assert all(v.startswith(("data:", "#", "url(#")) for v in page.attr("src") + page.attr("href"))
    words = page.all_text
    assert "train.acc" in words and "0.9" in words  # metrics table
    assert "lr" in words and "0.2" in words  # params table
    assert "evaluation broke" in words  # the failed step's log tail
    assert "pipe run -p lr=0.2" in words  # the command that started the job
    charts = [a["src"] for t, a in page.tags if t == "img"]
    assert len(charts) == 1 and base64.b64decode(charts[0].split(",", 1)[1]).startswith(b"\x89PNG")


def test_change_names_the_changed_param_and_the_metric_delta(two_jobs):
    got = two_jobs.pipe("report", "2", "-o", "-")
    assert got.code == 0, str(got)
    change = Page(got.out.split('id="change"', 1)[1].split("<h2", 1)[0]).all_text
    assert "job 1" in change
    assert re.search(r"lr\s*0\.1\s*0\.2", change), change  # the param, before and after
    assert re.search(r"train\.loss\s*0\.1\s*0\.2\s*\+0\.1 \(\+100\.0%\)", change), change
    assert re.search(r"prep\s*ran\s*fresh", change), change  # a step that went differently
    assert "train.acc" not in change  # unchanged metrics are counted, not listed
    assert "1 metric unchanged" in change


def test_markdown_report_has_tables_and_a_mermaid_graph(two_jobs):
    r = two_jobs
    got = r.pipe("report", "last", "-o", "pr.md")  # .md: markdown without --format
    assert got.code == 0, str(got)
    md = r.read("pr.md")
    assert "| param | value |" in md and "| lr | 0.2 |" in md
    assert "| metric | value |" in md and "| train.acc | 0.9 |" in md
    assert "| train.loss | 0.1 | 0.2 | +0.1 (+100.0%) |" in md
    block = md.split("```mermaid\n", 1)[1].split("\n```", 1)[0]
    assert block.startswith("graph LR")
    assert len(re.findall(r'^  s\d+\["', block, re.M)) == len(STEPS)
    assert len(re.findall(r"^  s\d+ --> s\d+$", block, re.M)) == 3
    assert "evaluation broke" in md and "<img" not in md and "data:image" not in md
    same = r.pipe("report", "last", "--format", "markdown")
    assert same.out.strip() == "report-2.md" and r.exists("report-2.md")


HOSTILE_PIPEFILE = """\
params:
  note: "</td><script>alert('param')</script>]]>"
steps:
  m:
    matrix:
      x: ["<script>alert(1)</script>", "]]>", "a|b`c"]
    inputs: {x: {type: string}}
    command: python emit.py ${{outputs.m}}
    outputs: {m: out/m.json}
    metrics: [out/m.json]
  boom:
    command: echo '<script>log()</script> ]]> ```' ; printf '\\033[31mred\\n'; exit 1
    outputs: {o: out/boom.txt}
"""
EMIT = """\
import json, sys, pipefile
pipefile.log_metric('<img src=x onerror=alert(2)>', 1.0, step=0)
for i in range(3):  # text between two $ is math to matplotlib, which raised on this one
    pipefile.log_metric('$\\\\frac{$', float(i), step=i)
json.dump({'<b>bold</b>': 1, 'x|y': 2}, open(sys.argv[1], 'w'))
"""


def test_hostile_names_values_and_log_lines_are_escaped(repo):
    repo.pipefile(HOSTILE_PIPEFILE)
    repo.write("emit.py", EMIT)
    assert repo.pipe("run", "--keep-going").code == 1
    html = repo.pipe("report", "last", "-o", "-")
    assert html.code == 0, str(html)
    text = html.out
    assert "<script" not in text.lower() and "<img src=x" not in text and "<b>" not in text
    page = Page(text)
    # a label escapes / and ] (docs/pipefile.md): the rest of each value is the task's name
    tasks = {"m[x=<script>alert(1)<%2Fscript>]", "m[x=%5D%5D>]", "m[x=a|b`c]"}
    assert tasks | {"boom"} == set(page.attr("data-step"))
    assert [t for t, _ in page.tags].count("script") == 0
    words = page.all_text
    assert "<script>log()</script> ]]> ```" in words  # the log line, shown as text
    assert "\\x1b[31mred" in words  # a terminal escape, shown escaped
    assert "</td><script>alert('param')</script>]]>" in words
    assert len([t for t, _ in page.tags if t == "img"]) == 6  # two series of three tasks, drawn
    curve = repo.pipe("metrics", "curve", "last", "m[x=a|b`c].$\\frac{$", "--png", "c.png")
    assert curve.code == 0 and repo.exists("c.png"), str(curve)
    md = repo.pipe("report", "last", "--format", "markdown", "-o", "-")
    assert md.code == 0, str(md)
    outside = re.sub(r"^(`{3,})text\n.*?^\1$", "", md.out, flags=re.M | re.S)  # without the log blocks
    assert "<" not in outside.replace("<br/>", "") and "]]>" not in outside
    for line in md.out.split("```mermaid\n", 1)[1].split("\n```", 1)[0].splitlines()[1:]:
        assert re.fullmatch(r'  s\d+\["[^"`\[\]<>]*<br/>[^"`\[\]<>]*"\]|  s\d+ --> s\d+|  classDef .*|  class .*', line)
    log_block = re.search(r"^(`{3,})text\n(.*?)^\1$", md.out, flags=re.M | re.S)
    assert log_block and len(log_block.group(1)) == 4  # longer than the ``` in the log
    assert "<script>log()</script> ]]> ```" in log_block.group(2)


def test_without_matplotlib_the_report_says_so(two_jobs, tmp_path):
    hidden = tmp_path / "hide"
    (hidden / "matplotlib").mkdir(parents=True)
    (hidden / "matplotlib" / "__init__.py").write_text("raise ImportError('hidden by the test')\n")
    env = {"PYTHONPATH": os.pathsep.join([str(hidden), os.environ["PYTHONPATH"]])}
    got = two_jobs.pipe("report", "last", "-o", "-", env=env)
    assert got.code == 0, str(got)
    page = Page(got.out)
    assert "matplotlib is not installed" in page.all_text
    assert not [t for t, _ in page.tags if t == "img"]
    assert "train.loss" in page.all_text  # the series still listed, as a table


def test_unknown_job_is_exit_2_with_a_hint(two_jobs):
    got = two_jobs.pipe("report", "17")
    assert got.code == 2
    assert "no job '17'" in got.err and "hint:" in got.err
    assert not two_jobs.exists("report-17.html")


def test_output_that_is_a_folder_is_refused(two_jobs):
    got = two_jobs.pipe("report", "last", "-o", "out")
    assert got.code == 2
    assert "'out' is a folder" in got.err and "hint:" in got.err


def test_layout_never_overlaps_boxes_at_scale():
    from pipefile.report.jobpage_svg import BOX_H, BOX_W, layout

    rnd = random.Random(5)
    names = [f"s{i}" for i in range(120)]
    edges = [(names[j], names[i]) for i in range(1, 120) for j in rnd.sample(range(i), min(i, rnd.randint(0, 3)))]
    placed, routes, width, height = layout(names, edges)
    boxes = sorted((p.x, p.y) for p in placed.values())
    for (x1, y1), (x2, y2) in zip(boxes, boxes[1:]):
        assert x1 != x2 or y2 - y1 >= BOX_H, "two boxes overlap"
    assert all(0 <= p.x and p.x + BOX_W <= width and 0 <= p.y and p.y + BOX_H <= height for p in placed.values())
    assert all(placed[a].x < placed[b].x for a, b, _ in routes) and len(routes) == len(edges)


def test_a_running_job_shows_what_its_steps_streamed_so_far(repo):
    repo.pipefile(
        """\
        steps:
          train:
            command: |
              python -c "
              import os, time, pipefile
              for i in range(3): pipefile.log_metric('loss', 1.0 / (i + 1), step=i)
              while not os.path.exists('go'): time.sleep(0.05)
              open('${{outputs.m}}', 'w').write('done')
              "
            outputs: {m: out/m.txt}
        """
    )
    env = dict(os.environ, PIPE_PLAIN="1")
    env.pop("PIPE_STORE_DIR", None)
    run = subprocess.Popen(
        [sys.executable, "-m", "pipefile", "run"],
        cwd=repo.root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        stream = repo.root / ".pipe" / "jobs" / "1" / "train.metrics.jsonl"
        deadline = time.time() + 60
        while not (stream.exists() and stream.read_text().count("\n") >= 3) and time.time() < deadline:
            time.sleep(0.05)
        got = repo.pipe("report", "1", "-o", "-")
        assert got.code == 0, str(got)
        page = Page(got.out)
        assert "running" in page.all_text and "train.loss" in page.all_text
        assert re.search(r"train\.loss\s*3\s*1\s*0\.333333", page.all_text), page.all_text
    finally:
        (repo.root / "go").write_text("")
        assert run.wait(timeout=60) == 0
