"""Comparing jobs: metrics per job, two jobs side by side (metrics or params), and one
metric across the jobs of an experiment, as a table, a terminal chart and a PNG.

The comparison rows are built here once (`*_rows`) and feed both the tables and the
JSON the CLI prints. Tables are rich on a terminal and aligned plain text otherwise;
the terminal chart is plain text (`●` points, `*` where the output is not UTF-8);
`write_png` imports matplotlib only when called, so pipe needs it only for `--png`.
"""

from __future__ import annotations

import json
import math
import os
import sys
from typing import Optional

from ..errors import PipefileError
from ..filehash import open_regular
from ..printable import printable
from .text import is_terminal, plural, table, when

MISSING = "-"
CHART_ROWS = 10


# --- numbers -----------------------------------------------------------------------
def fmt_number(v) -> str:
    """A metric as people read it: 6 significant digits, no float noise (0.15000000000000002 -> 0.15)."""
    if v is None:
        return MISSING
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    if math.isnan(v) or math.isinf(v):
        return str(v)
    if _whole(v):
        return str(int(v))  # (a seed, a count, a size: 20231207 read as 2.02312e+07 was no help)
    return f"{v:.6g}"


_WHOLE = 10**16  # whole numbers below this are shown in full


def _whole(v) -> bool:
    """Whether `v` is a whole number shown in full: the job database keeps every metric as
    a float, so the 20231207 a step wrote reads back as 20231207.0 (and 1.0 prints as 1 anyway)."""
    return (isinstance(v, int) or (isinstance(v, float) and v.is_integer())) and abs(v) < _WHOLE


def change(a, b) -> Optional[float]:
    """b - a for two numbers; None when either is missing or not a number."""
    if _is_number(a) and _is_number(b):
        return b - a
    return None


def fmt_change(a, b) -> str:
    if a is None and b is None:
        return ""
    if a is None:
        return "added"
    if b is None:
        return "removed"
    d = change(a, b)
    if d is None:
        return "" if a == b else "changed"
    if d == 0:
        return "0"
    text = f"{int(d):+d}" if _whole(d) else f"{d:+.6g}"
    if a != 0 and math.isfinite(d):
        text += f" ({d / abs(a) * 100:+.1f}%)"
    return text


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


NO_VALUE = "(no value)"  # a param that is there but unset (an Azure ML input given none): never "None"


def param_text(v) -> str:
    """A param's value in a table: text as it is, a number as fmt_number writes it."""
    if v is None:
        return NO_VALUE
    if isinstance(v, str):
        return v
    if _is_number(v):
        return fmt_number(v)
    return json.dumps(v, sort_keys=True)


def _job_ref(job) -> dict:
    return {"id": job.id, "uid": job.uid, "experiment": job.experiment, "status": job.status, "started": job.started}


# --- how a job's steps record metrics --------------------------------------------------
PIPEFILE_METRICS = "a step records them with `metrics: [FILE.json]`"
AZUREML_METRICS = (
    "a node of an Azure ML pipeline records them by logging them to MLflow (mlflow.log_metric, or "
    "autologging): the last value of each, kept in the node's artifacts/metrics.json"
)


def is_azureml_job(ws, job) -> bool:
    """Whether `job` ran an Azure ML pipeline (its YAML, or an azure-ai-ml module), by the
    file it recorded (the store keeps it; else the workspace's, if still there)."""
    rel = job.pipefile or ""
    if not rel.endswith((".yml", ".yaml", ".py")):
        return False
    try:
        data = ws.store.read(job.pipefile_digest) if job.pipefile_digest else None
    except OSError:
        data = None
    if data is None:
        try:
            with open_regular(os.path.join(ws.root, rel)) as f:  # (a FIFO there: never read)
                data = f.read(1 << 20)
        except OSError:
            return False
    text = data.decode("utf-8", errors="replace")
    if rel.endswith(".py"):
        return "azure.ai.ml" in text  # (a pipefile.dsl module is a Pipefile's steps)
    from ..load.azureml import looks_like

    return looks_like(text)


def recording_hint(ws, jobs: list) -> str:
    """How the steps of `jobs` record metrics, in the words of what they ran; first, the
    steps that failed in them (a step's metrics are recorded only when it ends well: a
    step that wrote its file and then failed was told to declare what it declares)."""
    how = AZUREML_METRICS if any(is_azureml_job(ws, j) for j in jobs) else PIPEFILE_METRICS
    failed = sorted({s.step for j in jobs for s in ws.jobs.steps(j.id) if s.outcome == "failed"})
    if not failed:
        return how
    shown = ", ".join(f"'{printable(n)}'" for n in failed[:5]) + (
        f" and {len(failed) - 5} more" if len(failed) > 5 else ""
    )
    return (
        f"step{'s' if len(failed) > 1 else ''} {shown} failed, and a step's metrics are recorded only when "
        f"it ends well: fix {'them' if len(failed) > 1 else 'it'} and run again (otherwise, {how})"
    )


# --- pipe metrics show ---------------------------------------------------------------
def show_json(jobs: list, metrics: dict) -> dict:
    """metrics: {job id: {name: value}}."""
    return {"jobs": [dict(_job_ref(j), metrics=metrics[j.id]) for j in jobs]}


def render_show(jobs: list, metrics: dict, stream=None, how: str = "") -> None:
    """how: how the jobs' steps record metrics (`recording_hint`), said when none did."""
    stream = stream or sys.stdout
    names = _union(metrics[j.id] for j in jobs)
    if not names:
        which = "this job" if len(jobs) == 1 else "these jobs"
        stream.write(f"no metrics recorded for {which}: {how or PIPEFILE_METRICS}\n")
        return
    if len(jobs) == 1:
        j = jobs[0]
        stream.write(printable(f"job {j.id} ({j.uid})  experiment {j.experiment}  {j.status}") + "\n")
        table(["metric", "value"], [[n, fmt_number(metrics[j.id].get(n))] for n in names], stream=stream)
        return
    headers = ["metric"] + [f"job {j.id}" for j in jobs]
    rows = [[n] + [fmt_number(metrics[j.id].get(n)) for j in jobs] for n in names]
    table(headers, rows, stream=stream)


def _union(dicts) -> list:
    seen: dict = {}
    for d in dicts:
        for k in d:
            seen.setdefault(k, None)
    return list(seen)


# --- pipe metrics diff / pipe params diff ------------------------------------------------
def diff_rows(a: dict, b: dict) -> list:
    """[{name, a, b, change}] for every name in either, in a's order then b's new names.
    change: b - a for numbers; 'added', 'removed' or 'changed'/None for the rest."""
    rows = []
    for name in _union([a, b]):
        va, vb = a.get(name), b.get(name)
        d = change(va, vb)
        if d is None:
            if name not in a:
                d = "added"
            elif name not in b:
                d = "removed"
            elif va != vb:
                d = "changed"
        rows.append({"name": name, "a": va, "b": vb, "change": d})
    return rows


def diff_json(job_a, job_b, rows: list) -> dict:
    return {"a": _job_ref(job_a), "b": _job_ref(job_b), "diff": rows}


def render_diff(what: str, job_a, job_b, rows: list, stream=None, only_changed: bool = False) -> None:
    """what: 'metric' or 'param'."""
    stream = stream or sys.stdout
    shown = [r for r in rows if not only_changed or r["a"] != r["b"]]
    if not rows:
        stream.write(f"neither job {job_a.id} nor job {job_b.id} has any {what}s\n")
        return
    if not shown:
        stream.write(f"no {what} differs between job {job_a.id} and job {job_b.id}\n")
        return
    cells = [[r["name"], side_text(r, "a", what), side_text(r, "b", what), _change_text(r, what)] for r in shown]
    styles = [None if r["a"] == r["b"] else "yellow" for r in shown]
    table([what, f"job {job_a.id}", f"job {job_b.id}", "change"], cells, styles, stream)


def side_text(row: dict, side: str, what: str = "param") -> str:
    """One side ("a" or "b") of a diff_rows row: `-` where that job has no such name; a
    param that it has with no value is said so, not shown as missing."""
    if row["change"] == ("added" if side == "a" else "removed"):
        return MISSING
    return fmt_number(row[side]) if what == "metric" else param_text(row[side])


def _change_text(row: dict, what: str) -> str:
    c = row["change"]
    if isinstance(c, str):
        return c
    if c is None:
        return ""
    if what == "metric" or (_is_number(row["a"]) and _is_number(row["b"]) and row["a"] != row["b"]):
        return fmt_change(row["a"], row["b"])
    return ""


# --- pipe metrics history ---------------------------------------------------------------
def history_points(jobs: list, metrics: dict, name: str) -> list:
    """[(job, value)] oldest first, for the jobs that recorded `name`."""
    return [(j, metrics[j.id][name]) for j in sorted(jobs, key=lambda j: j.id) if name in metrics[j.id]]


def varying_params(jobs: list) -> list:
    """The params whose value is not the same in all these jobs: the ones worth a column."""
    names = _union(j.params for j in jobs)
    return [n for n in names if len({json.dumps(j.params.get(n), sort_keys=True) for j in jobs}) > 1]


def history_json(experiment: str, name: str, points: list) -> dict:
    return {
        "experiment": experiment,
        "metric": name,
        "jobs": [dict(_job_ref(j), value=v, params=j.params) for j, v in points],
    }


def render_history(experiment: str, name: str, points: list, stream=None, chart: bool = True) -> None:
    stream = stream or sys.stdout
    params = varying_params([j for j, _ in points])
    rows, styles = [], []
    prev = None
    for j, v in points:
        rows.append(
            [j.id, j.uid, when(j.started), j.status, fmt_number(v), "" if prev is None else fmt_change(prev, v)]
            + [param_text(j.params[p]) if p in j.params else MISSING for p in params]
        )
        styles.append(None if j.status == "succeeded" else "dim")
        prev = v
    stream.write(printable(f"{name} across {plural(len(points), 'job')} of experiment {experiment}") + "\n")
    table(["job", "uid", "started", "status", name, "change"] + params, rows, styles, stream)
    if chart and len(points) > 1:
        stream.write("\n")
        stream.write(
            text_chart(
                [j.id for j, _ in points],
                [v for _, v in points],
                name,
                unicode=is_terminal(stream) or _utf8(stream),
                width=_width(stream),
            )
        )


def _utf8(stream) -> bool:
    return (getattr(stream, "encoding", None) or "").lower().replace("-", "") == "utf8"


def _width(stream) -> int:
    if is_terminal(stream):
        try:
            return max(40, os.get_terminal_size(stream.fileno()).columns)
        except (OSError, ValueError, AttributeError):
            pass
    return 80


def text_chart(
    labels: list,
    values: list,
    title: str,
    unicode: bool = True,
    width: int = 80,
    rows: int = CHART_ROWS,
    unit: str = "job",
) -> str:
    """A point chart of `values`, one column per job (oldest left), the y range on the left
    and the first and last job ids below. When there are more jobs than columns, the newest
    ones are shown."""
    finite = [(lab, v) for lab, v in zip(labels, values) if _is_number(v) and math.isfinite(v)]
    if not finite:
        return ""
    top, bottom = max(v for _, v in finite), min(v for _, v in finite)
    label_w = max(len(fmt_number(top)), len(fmt_number(bottom)))
    col_w = 2
    fits = max(1, (width - label_w - 3) // col_w)
    note = ""
    if len(finite) > fits:
        note = f" (newest {fits} of {len(finite)} jobs)"
        finite = finite[-fits:]
        top, bottom = max(v for _, v in finite), min(v for _, v in finite)
    # Halves: -1e308 to 1e308 spans more than a float holds (inf, then NaN rows: exit 70).
    span = top / 2 - bottom / 2
    # the row of each point: 0 at the bottom; all on the middle row when the values are equal
    at = [round((v / 2 - bottom / 2) / span * (rows - 1)) if span else (rows - 1) // 2 for _, v in finite]
    dot, line = ("\u25cf", "\u2502") if unicode else ("*", "|")
    out = [printable(f"{title}{note}")]
    for r in range(rows - 1, -1, -1):
        if span:
            label = fmt_number(top) if r == rows - 1 else fmt_number(bottom) if r == 0 else ""
        else:
            label = fmt_number(top) if r == (rows - 1) // 2 else ""
        cells = "".join((dot if a == r else " ").ljust(col_w) for a in at)
        out.append(f"{label:>{label_w}} {line}" + cells.rstrip())
    corner, rule = ("\u2514", "\u2500") if unicode else ("+", "-")
    out.append(" " * label_w + " " + corner + rule * (len(finite) * col_w))
    first, last = f"{unit} {finite[0][0]}", f"{unit} {finite[-1][0]}"
    gap = len(finite) * col_w - len(first) - len(last)
    below = first if len(finite) == 1 else first + " " * max(2, gap) + last
    out.append(" " * (label_w + 2) + below)
    return "\n".join(out) + "\n"


def _pyplot():
    """matplotlib's pyplot on the Agg backend (no display needed), or the error that names the extra."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        import matplotlib.pyplot as plt
    except ImportError:
        raise PipefileError(
            "--png needs matplotlib, which is not installed", hint="pip install 'pipefile[plots]'"
        ) from None
    return plt


def _literal(text: str) -> str:
    """A name from a metrics file drawn as it is: matplotlib reads text between two `$` as
    math (and raises on what it cannot parse), so each `$` is escaped; control characters too."""
    return printable(text).replace("$", r"\$")


_DRAWN = 1e307  # matplotlib's axis limits and ticks overflow near float's largest (1.8e308)


def _drawable(path: str, values: list) -> None:
    """Refuses values matplotlib cannot draw an axis for (1e308 twice: 'arange: cannot compute
    length', an internal error) before it draws anything."""
    big = [v for v in values if _is_number(v) and math.isfinite(v) and abs(v) >= _DRAWN]
    if big:
        raise PipefileError(
            f"cannot draw '{path}': the value {fmt_number(big[0])} is too large for a chart's axis (beyond {_DRAWN:g})",
            hint="the table and the terminal chart show it (leave out --png), and --json gives every value",
        )


def _save(fig, path: str) -> None:
    fig.tight_layout()
    try:
        fig.savefig(path, format="png")
    except OSError as e:
        raise PipefileError(f"cannot write '{path}': {e.strerror or e}") from None


def write_png(path: str, experiment: str, name: str, points: list) -> None:
    """A line chart of one metric across jobs, saved as a PNG (matplotlib, no display needed)."""
    plt = _pyplot()
    ids = [j.id for j, _ in points]
    vals = [v for _, v in points]
    _drawable(path, vals)
    xs = list(range(len(points)))
    fig, ax = plt.subplots(figsize=(max(6.0, min(11.0, 0.35 * len(points) + 4)), 4.2), dpi=150)
    try:
        ax.plot(xs, vals, color="#1f77b4", linewidth=1.8, marker="o", markersize=5, zorder=3)
        failed = [(x, v) for (j, v), x in zip(points, xs) if j.status != "succeeded"]
        if failed:
            ax.plot(
                [x for x, _ in failed],
                [v for _, v in failed],
                linestyle="none",
                marker="x",
                color="#d62728",
                markersize=8,
                zorder=4,
                label="job did not succeed",
            )
            ax.legend(loc="best", fontsize=8, frameon=False)
        best_hi = max(range(len(vals)), key=lambda i: vals[i])
        ax.annotate(
            fmt_number(vals[-1]),
            (xs[-1], vals[-1]),
            textcoords="offset points",
            xytext=(6, 6),
            fontsize=9,
            color="#1f77b4",
        )
        if vals[best_hi] > vals[-1]:
            ax.annotate(
                f"max {fmt_number(vals[best_hi])}",
                (xs[best_hi], vals[best_hi]),
                textcoords="offset points",
                xytext=(6, 6),
                fontsize=9,
                color="#555555",
            )
        step = max(1, len(xs) // 20)
        ax.set_xticks(xs[::step])
        ax.set_xticklabels([str(i) for i in ids[::step]])
        ax.set_xlabel("job")
        ax.set_ylabel(_literal(name))
        ax.set_title(_literal(f"{name} across the jobs of experiment {experiment}"), fontsize=11)
        ax.grid(True, axis="y", alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
        ax.margins(x=0.05, y=0.15)
        _save(fig, path)
    finally:
        plt.close(fig)


# --- pipe metrics curve ----------------------------------------------------------------
def curve_json(job, name: str, points: list, png: Optional[str] = None) -> dict:
    """points: [(step, value, time)] of one streamed series."""
    return {
        "job": _job_ref(job),
        "metric": name,
        "points": [{"step": x, "value": v, "time": t} for x, v, t in points],
        "png": png,
    }


def render_curve(job, name: str, points: list, stream=None) -> None:
    stream = stream or sys.stdout
    stream.write(printable(f"{name} in job {job.id} ({job.status}): {plural(len(points), 'point')}") + "\n")
    shown = points if len(points) <= 40 else points[:20] + [None] + points[-20:]
    rows = [["...", "..."] if p is None else [p[0], fmt_number(p[1])] for p in shown]
    table(["step", name], rows, None, stream)
    if len(points) > 1:
        stream.write("\n")
        stream.write(
            text_chart(
                [x for x, _, _ in points],
                [v for _, v, _ in points],
                name,
                unicode=is_terminal(stream) or _utf8(stream),
                width=_width(stream),
                unit="step",
            )
        )


def write_curve_png(path: str, job, name: str, points: list) -> None:
    """A line chart of one streamed series against its steps, saved as a PNG."""
    plt = _pyplot()
    _drawable(path, [v for _, v, _ in points])
    fig, ax = plt.subplots(figsize=(7.0, 4.2), dpi=150)
    try:
        ax.plot([x for x, _, _ in points], [v for _, v, _ in points], color="#1f77b4", linewidth=1.8)
        ax.set_xlabel("step")
        ax.set_ylabel(_literal(name))
        ax.set_title(_literal(f"{name} in job {job.id}"), fontsize=11)
        ax.grid(True, axis="y", alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
        _save(fig, path)
    finally:
        plt.close(fig)
