"""`pipe report`'s job page written out: one self-contained HTML file (inline SVG graph,
inline CSS, charts as embedded PNG, no script and no reference to anything outside it) or
Markdown for a pull-request comment (the graph as a Mermaid block, no images).

The templates are in `pipefile/templates/report/` (shipped in the wheel with `pipe init`'s).
Everything they print is text from users (step names, params, metric names, log lines):
both environments escape every value by default (HTML: autoescape; Markdown: `finalize`
writes each markup character as an entity), and only what this module builds and marks
(`Markup`, `Raw`) goes through as it is.
"""

from __future__ import annotations

import base64
import io
import os
import time

from .. import __version__
from ..printable import printable, printable_lines
from . import jobpage_svg
from .jobs import duration
from .metrics import fmt_change, fmt_number, param_text, side_text, write_curve_png
from .text import format_seconds, plural, when

TEMPLATES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "templates", "report")
MAX_CHARTS = 12  # each chart is tens of kilobytes: a page with hundreds would not open
# Rows a table shows: 200,000 metrics made a 47 MB page (3 s, 400 MB to write) that a browser
# barely opens, and a pull-request comment takes 65,536 characters. What is left out is
# counted under the table, with the command that lists it all.
MOST_ROWS = {"html": 2000, "markdown": 200}
_NOT_OK = ("failed", "stopped", "skipped", "interrupted")
NO_MATPLOTLIB = "charts are left out: matplotlib is not installed (pip install 'pipefile[plots]')"


class Raw(str):
    """Markdown this module wrote itself (a fenced block, the Mermaid graph): not escaped again."""


def render(page, fmt: str) -> str:
    """The page as `fmt` ('html' or 'markdown') text."""
    import jinja2
    from markupsafe import Markup

    markdown = fmt == "markdown"
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=not markdown,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=_md_value if markdown else _html_value,
    )
    values = view(page, MOST_ROWS["markdown" if markdown else "html"])
    if markdown:
        values["graph"] = Raw(
            mermaid(page.steps, page.edges)
            if len(page.steps) <= MOST_ROWS["markdown"]
            # (GitHub draws no Mermaid block past ~50,000 characters, nor a comment past 65,536)
            else f"the graph of {len(page.steps):,} steps is left out of Markdown: "
            f"`pipe report {page.job.id}` writes the HTML page with it"
        )
        values["tails"] = [dict(t, block=Raw(fenced(t["lines"]))) for t in values["tails"]]
        values["charts"], values["charts_note"] = [], _markdown_charts_note(page)
        # (the notes of what is left out hold a command in backticks and numbers, written here)
        values["left"] = {k: Raw(v) for k, v in values["left"].items()}
        if values["change"] is not None:
            for k in ("steps_left", "metrics_left"):
                values["change"][k] = Raw(values["change"][k])
    else:
        values["graph"] = Markup(jobpage_svg.render_svg(page.steps, page.edges))
        values["charts"], note = charts(page)
        values["charts_note"] = note
    return env.get_template("job.md.j2" if markdown else "job.html.j2").render(values)


# --- what the templates show -------------------------------------------------------------
def first_rows(rows: list, most: int, keep=None) -> tuple:
    """(at most `most` of `rows`, in their order, how many were left out); with `keep`, the
    rows it holds true for come first among those shown (a failed step of a large job)."""
    if len(rows) <= most:
        return rows, 0
    if keep is None:
        return rows[:most], len(rows) - most
    wanted = [i for i, r in enumerate(rows) if keep(r)][:most]
    chosen = set(wanted)
    for i in range(len(rows)):
        if len(chosen) >= most:
            break
        chosen.add(i)
    return [r for i, r in enumerate(rows) if i in chosen], len(rows) - len(chosen)


def view(page, most: int = MOST_ROWS["html"]) -> dict:
    job = page.job
    longest = max((s.seconds or 0.0 for s in page.steps), default=0.0) or 1.0
    meta = [
        ("experiment", job.experiment),
        ("status", job.status + (f" (state {job.state})" if job.state else "")),
        ("command", page.command),
        ("started", when(job.started)),
        ("ended", when(job.ended)),
        ("took", f"{duration(job)} (steps together {format_seconds(page.step_seconds)})"),
        ("user", job.user or "-"),
        ("git commit", (job.git_commit or "-") + (" (with changes not committed)" if job.git_dirty else "")),
        ("pipefile", f"{job.pipefile} ({job.pipefile_digest[:12]})" if job.pipefile_digest else job.pipefile),
    ]
    if job.targets:
        meta.append(("targets", " ".join(str(t) for t in job.targets)))
    if job.cloned_from:
        meta.append(("cloned from", f"job {job.cloned_from}"))
    if job.endpoint:
        meta.append(("endpoint", f"{job.endpoint} deployment {job.deployment}"))
    counts: dict = {}
    for s in page.steps:
        counts[s.outcome] = counts.get(s.outcome, 0) + 1
    steps, steps_left = first_rows(list(page.steps), most, keep=lambda s: s.outcome in _NOT_OK)
    metrics, metrics_left = first_rows(list(page.metrics.items()), most)
    series, series_left = first_rows(sorted(page.series.items()), most)
    left = {
        "steps": (steps_left, f"`pipe jobs show {job.id}` lists them all"),
        "metrics": (metrics_left, f"`pipe metrics show {job.id} --json` lists them all"),
        "series": (series_left, f"`pipe metrics curve {job.id} NAME` shows one"),
    }
    return {
        "title": f"job {job.id} ({job.uid})",
        "job": {"id": job.id, "uid": job.uid, "status": job.status, "experiment": job.experiment},
        "summary": ", ".join(f"{n} {o}" for o, n in sorted(counts.items())) or "no steps recorded",
        "meta": meta,
        "legend": [(o, *jobpage_svg.colours(o)) for o in sorted(counts)],
        "steps": [
            {
                "name": s.step,
                "outcome": s.outcome,
                "took": format_seconds(s.seconds or 0.0),
                "bar": round(100 * (s.seconds or 0.0) / longest, 1),
                "exit": "-" if s.exit_code is None else s.exit_code,
                "environment": s.environment or "local",
                "error": printable_lines(s.error).split("\n") if s.error else [],
            }
            for s in steps
        ],
        "params": [(k, value_text(v)) for k, v in sorted(page.job.params.items())],
        "metrics": [(k, fmt_number(v)) for k, v in metrics],
        "metrics_azureml": page.azureml,
        "series": [_series_row(name, points) for name, points in series],
        "change": _change_view(page.change, most, job.id),
        "left": {what: _left_note(n, what, how) for what, (n, how) in left.items()},
        "tails": [{"step": t.step, "lines": t.lines, "cut": t.cut, "path": t.path} for t in page.tails],
        "notes": list(page.notes),
        "generated": f"pipe {__version__}, {when(time.time())}",
        "plural": plural,
    }


def value_text(v) -> str:
    return param_text(v)  # (an unset param reads "(no value)", not JSON's null)


def _series_row(name: str, points: list) -> dict:
    values = [v for _, v, _ in points]
    return {
        "name": name,
        "points": len(points),
        "first": fmt_number(values[0]) if values else "-",
        "last": fmt_number(values[-1]) if values else "-",
        "min": fmt_number(min(values)) if values else "-",
        "max": fmt_number(max(values)) if values else "-",
    }


def _left_note(count: int, what: str, how: str) -> str:
    return f"{count:,} more {what} are left out of this page: {how}" if count else ""


def _change_view(change, most: int, job_id: int):
    if change is None:
        return None
    prev = change.previous
    steps, steps_left = first_rows(list(change.steps), most)
    metrics, metrics_left = first_rows(list(change.metrics), most)
    return {
        "previous": f"job {prev.id} ({prev.uid}, {prev.status}, {when(prev.started)})",
        "previous_id": prev.id,
        "params": [(r["name"], side_text(r, "a"), side_text(r, "b")) for r in change.params],
        "steps": [(n, a or "(not in it)", b or "(not in it)") for n, a, b in steps],
        "metrics": [(r["name"], fmt_number(r["a"]), fmt_number(r["b"]), fmt_change(r["a"], r["b"])) for r in metrics],
        "same_metrics": change.same_metrics,
        "steps_left": _left_note(
            steps_left, "changed steps", f"`pipe jobs show {prev.id}` and `pipe jobs show {job_id}` list every step"
        ),
        "metrics_left": _left_note(
            metrics_left, "changed metrics", f"`pipe metrics diff {prev.id} {job_id}` lists them all"
        ),
    }


# --- charts ------------------------------------------------------------------------------
def charts(page) -> tuple:
    """([(series name, PNG data URI)], a note or ''): the streamed series as line charts."""
    if not page.series:
        return [], ""
    try:
        import matplotlib  # noqa: F401 - only whether it is there; report.metrics draws
    except ImportError:
        return [], NO_MATPLOTLIB
    names = sorted(page.series)
    out = []
    for name in names[:MAX_CHARTS]:
        buf = io.BytesIO()
        write_curve_png(buf, page.job, name, page.series[name])
        out.append((name, "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")))
    note = ""
    if len(names) > MAX_CHARTS:
        note = (
            f"{len(names) - MAX_CHARTS} more series are in the table only: "
            f"`pipe metrics curve {page.job.id} NAME --png FILE` draws one"
        )
    return out, note


def _markdown_charts_note(page) -> str:
    if not page.series:
        return ""
    return Raw(f"charts are left out of Markdown: `pipe report {page.job.id}` writes the HTML page with them")


# --- escaping ----------------------------------------------------------------------------
def _html_value(v):
    from markupsafe import Markup

    if isinstance(v, Markup):
        return v
    return "" if v is None else printable(v)  # then autoescaped


# Characters Markdown (with the HTML and the $math$ GitHub allows in it) reads as markup
# anywhere in a line: written as numeric entities, which a renderer shows as the character
# itself (also inside a table cell). Values never start a line, so list marks are text.
_MD_SPECIAL = set("\\`*_[]<>|~&#!$")


def md_text(text: str) -> str:
    return "".join(f"&#{ord(c)};" if c in _MD_SPECIAL else c for c in printable(text))


def _md_value(v):
    if isinstance(v, Raw):
        return v
    return "" if v is None else md_text(v if isinstance(v, str) else str(v))


def fenced(lines: list) -> str:
    """A code block that no line can close early: its fence is longer than any run of
    backticks in it."""
    longest = 0
    for line in lines:
        run = 0
        for c in line:
            run = run + 1 if c == "`" else 0
            longest = max(longest, run)
    fence = "`" * max(3, longest + 1)
    return "\n".join([fence + "text", *lines, fence])


def mermaid_label(text: str) -> str:
    """A Mermaid node label, in quotes: every character but letters, digits and spaces as an
    entity code (#60;), so no name can end the label or the block."""
    return "".join(c if c.isalnum() and c.isascii() or c == " " else f"#{ord(c)};" for c in printable(text))


def mermaid(steps: list, edges: list) -> str:
    ids = {s.step: f"s{i}" for i, s in enumerate(steps)}
    lines = ["```mermaid", "graph LR"]
    for s in steps:
        took = format_seconds(s.seconds or 0.0)
        lines.append(f'  {ids[s.step]}["{mermaid_label(s.step)}<br/>{mermaid_label(s.outcome)} {took}"]')
    for a, b in edges:
        if a in ids and b in ids:
            lines.append(f"  {ids[a]} --> {ids[b]}")
    for outcome in sorted({s.outcome for s in steps}):
        fill, stroke = jobpage_svg.colours(outcome)
        cls = "o_" + "".join(c if c.isalnum() else "_" for c in outcome)
        lines.append(f"  classDef {cls} fill:{fill},stroke:{stroke}")
        members = ",".join(ids[s.step] for s in steps if s.outcome == outcome)
        lines.append(f"  class {members} {cls}")
    lines.append("```")
    return "\n".join(lines)
