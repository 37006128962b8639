"""Renders artifacts and lineage: the artifacts table, an artifact's versions, one version,
and a lineage tree as text, Mermaid or Graphviz dot. Tables are rich on a terminal and
plain columns otherwise (text.table); JSON is built by the callers."""

from __future__ import annotations

import json
import sys

from ..outpaths import shown_command
from ..printable import printable
from .text import mermaid_edge, mermaid_text, size, table, when

KIND_TEXT = {"file": "file", "tree": "folder"}


def format_size(n) -> str:
    """An artifact's size in the units every other command shows (12.3 MB; was KiB here)."""
    return size(int(n or 0))


def _job_text(v) -> str:
    """A version's job; one copied by `pipe clone` has none here (it was made in the original)."""
    if v.job_id is not None:
        return str(v.job_id)
    return "- (from the original workspace, copied by pipe clone)" if v.step else "-"


def _number(v) -> str:
    """A version's number; one not registered in the team's remote yet is marked local."""
    return f"{v.version} (local)" if getattr(v, "local", False) else str(v.version)


def render_artifacts(summary: list, stream=None) -> None:
    """summary: [(latest ArtifactVersion, number of versions)]."""
    stream = stream or sys.stdout
    if not summary:
        stream.write(
            "no artifacts yet: give an output or asset a name: (e.g. {path: build/model, name: model}), "
            "or `pipe asset add PATH --name NAME`\n"
        )
        return
    rows = [
        [
            v.name,
            n,
            _number(v),
            KIND_TEXT.get(v.kind, v.kind),
            format_size(v.size),
            "asset" if not v.step else v.step,
            when(v.created),
        ]
        for v, n in summary
    ]
    table(["name", "versions", "latest", "kind", "size", "made by", "latest created"], rows, stream=stream)


def render_versions(name: str, versions: list, stream=None) -> None:
    stream = stream or sys.stdout
    rows = [
        [
            f"{v.name}:{_number(v)}",
            v.digest[:12],
            KIND_TEXT.get(v.kind, v.kind),
            format_size(v.size),
            "-" if v.job_id is None else v.job_id,
            v.step or "-",
            v.path,
            when(v.created),
        ]
        for v in versions
    ]
    table(["version", "digest", "kind", "size", "job", "step", "path", "created"], rows, stream=stream)


def render_version(v, stream=None) -> None:
    stream = stream or sys.stdout
    lines = [
        f"{v.ref}"
        + (" (local: not pushed yet; its number is this workspace's until `pipe push --all-jobs`)" if v.local else ""),
        f"  digest   {v.digest}",
        f"  kind     {KIND_TEXT.get(v.kind, v.kind)}",
        f"  size     {format_size(v.size)} ({v.size} bytes)",
        f"  job      {_job_text(v)}",
        f"  step     {v.step or '- (asset)'}" + (f", output {v.output}" if v.output else ""),
        f"  path     {v.path}",
        f"  created  {when(v.created)}",
        f"  get it:  pipe artifacts get {v.ref} -o PATH",
    ]
    stream.write("\n".join(printable(line) for line in lines) + "\n")  # records may come from a remote


# --- lineage -------------------------------------------------------------------------
def _data_label(d: dict) -> str:
    head = d["artifacts"][0] if d.get("artifacts") else d.get("path") or d["digest"][:12]
    parts = [head]
    if d.get("artifacts") and d.get("path"):
        parts.append(d["path"])
    parts.append(f"{KIND_TEXT.get(d.get('kind'), d.get('kind') or '?')} {d['digest'][:12]}")
    if d.get("size"):
        parts.append(format_size(d["size"]))
    if len(d.get("artifacts") or []) > 1:
        parts.append("also " + ", ".join(d["artifacts"][1:]))
    return "  ".join(parts)


def _value_text(v: dict) -> str:
    if v.get("none"):
        return "(no value)"
    if v.get("left_out"):
        return f"{v.get('path', '')} (left out: the trial ended without it)"
    text = json.dumps(v.get("value"))
    return text + (f" (param {v['param']})" if v.get("param") else "")


def lineage_text(tree: dict) -> str:
    out: list = []
    shown: set = set()

    def data(d: dict, prefix: str, tail: str) -> None:
        # prefix: what goes before this node's own line; tail: before its children
        s = d.get("produced_by")
        if d.get("cut"):
            out.append(prefix + _data_label(d) + f"  ({d['note']})")
            return
        if s is None and d.get("source") is False and d.get("note"):  # (a folder of tasks' entries)
            out.append(prefix + _data_label(d) + f"  ({d['note']})")
            return
        if s is None:
            what = "source asset" if d.get("asset") else "source"
            note = f"  ({what}" + (f"; {d['note']}" if d.get("note") else "") + ")"
            out.append(prefix + _data_label(d) + note)
            return
        out.append(prefix + _data_label(d) + (f"  ({d['note']})" if d.get("note") else ""))
        step(s, tail)

    def step(s: dict, indent: str) -> None:
        job = (
            f"job {s['job']}"
            + (f" of {s['workspace']}" if s.get("workspace") else "")
            + (f" ({s['job_uid']}, experiment {s['experiment']})" if s.get("job_uid") else "")
        )
        if id(s) in shown:
            out.append(f"{indent}└─ made by step '{s['step']}' in {job}: shown above")
            return
        shown.add(id(s))
        out.append(f"{indent}└─ made by step '{s['step']}' in {job}, {s['outcome']}")
        body = indent + "   "
        out.append(f"{body}command: {shown_command(s.get('command') or '-')}")
        env = f"{body}env: {s.get('env') or '-'}"
        if s.get("key"):
            env += f"   key: {s['key'][:12]}"
        if s.get("git"):
            env += f"   git: {s['git']['commit'][:10]}{'*' if s['git'].get('dirty') else ''}"
        out.append(env)
        if s.get("params"):
            label = "params" if s.get("params_of") == "step" else "job params"
            out.append(f"{body}{label}: " + ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(s["params"].items())))
        for path, c in sorted(s.get("code", {}).items()):
            out.append(f"{body}code: {path}  {(c.get('digest') or '')[:12]}")
        items = list(s["inputs"].items())
        for i, (name, inp) in enumerate(items):
            last = i == len(items) - 1
            branch = "└─ " if last else "├─ "
            cont = "   " if last else "│  "
            if inp.get("type") == "data":
                data(inp, f"{body}{branch}{name}: ", f"{body}{cont}")
            else:
                out.append(f"{body}{branch}{name}: {_value_text(inp)}")

    data(tree, "", "")
    return "\n".join(printable(line) for line in out) + "\n"  # paths, names, commands: from records


# Step nodes `pipe lineage --json` writes out in full before a step met again is written as
# `"shown_above"` (a few MB of JSON; every lineage that printed in reasonable time before fits).
MOST_FULL_STEP_NODES = 10_000


def lineage_json(tree: dict) -> dict:
    """The tree as `--json` prints it. A step that made several inputs of the tree (a
    diamond: two steps read one step's output) is written out in full under each of them, as
    it always was, until MOST_FULL_STEP_NODES step nodes are written: a ladder of 30 such steps
    made 2**30 of them. Past that, a step met again (as json.dumps walks the tree) is written
    as `"shown_above": true` with no inputs, as the text says `shown above`; one met for the
    first time is always written in full."""
    shown: set = set()
    written = [0]

    def data(d: dict) -> dict:
        s = d.get("produced_by")
        return d if s is None else dict(d, produced_by=step(s))

    def step(s: dict) -> dict:
        if id(s) in shown and written[0] >= MOST_FULL_STEP_NODES:
            return dict(s, inputs={}, shown_above=True)
        shown.add(id(s))
        written[0] += 1
        inputs = {n: data(i) if i.get("type") == "data" else i for n, i in s["inputs"].items()}
        return dict(s, inputs=inputs)

    return data(tree)


def _graph(tree: dict):
    """(data nodes by id, step nodes by id, edges (from id, to id, label))."""
    datas, steps, edges = {}, {}, []
    ids: dict = {}

    def did(d: dict) -> str:
        # Content alone is no node: a step that copies its input writes the same digest at
        # another path, and the two were drawn as one, the step reading what it wrote.
        made = d.get("produced_by") or {}
        k = ("d", d["digest"], d.get("path"), made.get("workspace"), made.get("job"), made.get("step"))
        if k not in ids:
            ids[k] = f"d{len(ids)}"
            datas[ids[k]] = d
        return ids[k]

    def sid(s: dict) -> str:
        k = ("s", s.get("workspace"), s["job"], s["step"])
        if k not in ids:
            ids[k] = f"s{len(ids)}"
            steps[ids[k]] = s
        return ids[k]

    seen: set = set()

    def go(d: dict) -> None:
        me = did(d)
        s = d.get("produced_by")
        if s is None:
            return
        si = sid(s)
        if (si, me) not in seen:
            seen.add((si, me))
            edges.append((si, me, ""))
        if si in seen:
            return
        seen.add(si)
        for name, inp in s["inputs"].items():
            if inp.get("type") == "data":
                go(inp)
                edges.append((did(inp), si, name))

    go(tree)
    return datas, steps, edges


def _data_short(d: dict) -> str:
    head = d["artifacts"][0] if d.get("artifacts") else (d.get("path") or d["digest"][:12])
    tail = d.get("path") if d.get("artifacts") and d.get("path") else d["digest"][:12]
    return f"{head}\n{tail}"


def _step_short(s: dict) -> str:
    return f"{s['step']}\njob {s['job']}" + (f" of {s['workspace']}" if s.get("workspace") else "")


def lineage_mermaid(tree: dict) -> str:
    datas, steps, edges = _graph(tree)

    def q(text: str) -> str:
        return "<br/>".join(mermaid_text(line) for line in text.split("\n"))

    lines = ["graph TD"]
    for i, d in datas.items():
        shape = ('[("', '")]') if d.get("produced_by") is None else ('["', '"]')
        lines.append(f"  {i}{shape[0]}{q(_data_short(d))}{shape[1]}")
    for i, s in steps.items():
        lines.append(f'  {i}[["{q(_step_short(s))}"]]')
    for a, b, label in edges:
        lines.append(f"  {a} -->|{mermaid_edge(label)}| {b}" if label else f"  {a} --> {b}")
    return "\n".join(lines) + "\n"


def lineage_dot(tree: dict) -> str:
    datas, steps, edges = _graph(tree)

    def q(text: str) -> str:
        return printable(json.dumps(text, ensure_ascii=False))  # json leaves DEL, C1 and bidi controls

    lines = ["digraph lineage {", "  rankdir=BT;"]
    for i, d in datas.items():
        shape = "cylinder" if d.get("produced_by") is None else "note"
        lines.append(f"  {i} [shape={shape}, label={q(_data_short(d))}];")
    for i, s in steps.items():
        lines.append(f"  {i} [shape=box, style=rounded, label={q(_step_short(s))}];")
    for a, b, label in edges:
        lines.append(f"  {a} -> {b}" + (f" [label={q(label)}]" if label else "") + ";")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_lineage(tree: dict, fmt: str = "text") -> str:
    if fmt == "mermaid":
        return lineage_mermaid(tree)
    if fmt == "dot":
        return lineage_dot(tree)
    return lineage_text(tree)
