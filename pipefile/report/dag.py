"""Draws the pipeline's graph for `pipe dag`: text, Mermaid or Graphviz dot."""

from __future__ import annotations

import json

from ..bindings import IN_PATH
from ..graph import Graph
from ..printable import printable
from .text import mermaid_edge
from .text import mermaid_text as mt


def _dag_edges(graph: Graph):
    """(source, target, label) edges, with assets and plain source paths as sources."""
    edges = []
    sources = {}
    for node in graph.nodes.values():
        for inp in node.inputs.values():
            if inp.kind != IN_PATH:
                continue
            prod = graph.producers.get(inp.path)
            if prod:
                edges.append((prod[0], node.name, inp.path))
        for dep in node.deps:
            if not any(e[0] == dep and e[1] == node.name for e in edges):
                edges.append((dep, node.name, ""))
        for p in node.read_paths():
            if p not in graph.producers and not any(
                p.startswith(o + "/") or o.startswith(p + "/") for o in graph.producers
            ):
                sources.setdefault(p, []).append(node.name)
    return edges, sources


def _collapsed(graph: Graph, edges: list, sources: dict) -> tuple:
    """(names, edges, sources) with each pipeline step standing for its inner steps."""

    def top(name: str) -> str:
        nest = graph.nodes[name].step.nest
        return nest.split("/", 1)[0] if nest else name

    names = list(dict.fromkeys(top(n) for n in graph.nodes))
    out = []
    for a, b, label in edges:
        e = (top(a), top(b), label)
        if e[0] != e[1] and e not in out:
            out.append(e)
    srcs = {p: list(dict.fromkeys(top(u) for u in users)) for p, users in sources.items()}
    return names, out, srcs


def _levels(graph: Graph) -> dict:
    """Each pipeline step (all depths) -> how many inner steps it has."""
    return {n: len(g.tasks) for n, g in graph.groups.items() if g.kind == "pipeline"}


def render_dag(graph: Graph, fmt: str = "text", expand: bool = False) -> str:
    """`expand`: draw a pipeline step's inner steps (in a subgraph or cluster), rather than
    one box for it."""
    edges, sources = _dag_edges(graph)
    asset_names = {a.path: a.name for a in graph.pipefile.assets.values()}
    levels = _levels(graph)
    names = list(graph.nodes)
    if levels and not expand:
        names, edges, sources = _collapsed(graph, edges, sources)
    if levels and expand and fmt != "text":
        return _expanded(graph, fmt, names, edges, sources, asset_names, levels)

    def label(n: str) -> str:
        if n not in levels:
            return n
        return f"{n} [pipeline: {levels[n]} step{'' if levels[n] == 1 else 's'}]"

    if fmt == "mermaid":
        ids = {n: f"s{i}" for i, n in enumerate(names)}
        lines = ["graph TD"]
        for n, i in ids.items():
            lines.append(f'  {i}["{mt(label(n))}"]')
        for j, (p, users) in enumerate(sorted(sources.items())):
            label = asset_names.get(p, p)
            lines.append(f'  d{j}[("{mt(label)}")]')
            for u in users:
                lines.append(f"  d{j} --> {ids[u]}")
        for a, b, label in edges:
            lines.append(f"  {ids[a]} -->|{mermaid_edge(label)}| {ids[b]}" if label else f"  {ids[a]} --> {ids[b]}")
        return "\n".join(lines) + "\n"
    if fmt == "dot":

        def q(text: str) -> str:
            return json.dumps(text, ensure_ascii=False)  # Graphviz reads UTF-8, not \u escapes

        lines = ["digraph pipeline {", "  rankdir=LR;", "  node [shape=box];"]
        for n in names:
            lines.append(f"  {q(n)}" + (f" [label={q(label(n))}]" if n in levels else "") + ";")
        for p, users in sorted(sources.items()):
            label = asset_names.get(p, p)
            lines.append(f"  {q('path:' + p)} [shape=ellipse, label={q(label)}];")
            for u in users:
                lines.append(f"  {q('path:' + p)} -> {q(u)};")
        for a, b, label in edges:
            lines.append(f"  {q(a)} -> {q(b)}" + (f" [label={q(label)}]" if label else "") + ";")
        lines.append("}")
        return "\n".join(lines) + "\n"
    out = []
    shown: set = set()
    for name in names:
        node = graph.nodes.get(name)
        if node is not None and expand and node.step.nest:  # the pipelines around it, once each
            parts = node.step.nest.split("/")
            for i in range(len(parts)):
                level = "/".join(parts[: i + 1])
                if level not in shown:
                    shown.add(level)
                    out.append("  " * i + label(level))
        pad = "  " * (node.step.nest.count("/") + 1 if node is not None and expand and node.step.nest else 0)
        deps = ", ".join(dict.fromkeys(a for a, b, _ in edges if b == name))
        srcs = [asset_names.get(p, p) for p, users in sources.items() if name in users]
        left = " <- " + ", ".join(filter(None, [deps, ", ".join(srcs)])) if (deps or srcs) else ""
        out.append(f"{pad}{label(name)}{left}")
        if node is not None:
            outs = [o.path for o in node.outputs.values()]
        else:  # a collapsed pipeline: the outputs it places in the workspace
            outs = [p for p, (s, _) in graph.producers.items() if graph.nodes[s].step.nest.split("/")[0] == name]
            outs = [p for p in outs if not p.startswith(".pipe/")]
        for p in outs:
            out.append(f"{pad}    -> {p}")
    # (a matrix value is any text: one line per entry, no terminal escape of its own)
    return "\n".join(printable(line) for line in out) + "\n"


def _expanded(graph: Graph, fmt: str, names, edges, sources, asset_names, levels) -> str:
    """Mermaid with a subgraph, dot with a cluster, per pipeline step (nested as they are)."""
    ids = {n: f"s{i}" for i, n in enumerate(names)}
    inside: dict = {}  # pipeline step (or "" for the top) -> its own steps and pipelines
    pids: dict = {}
    for n in names:  # in graph order: a pipeline where its first inner step is
        nest = graph.nodes[n].step.nest
        parts = nest.split("/") if nest else []
        for i in range(len(parts)):
            level = "/".join(parts[: i + 1])
            if level not in pids:
                pids[level] = f"p{len(pids)}"
                inside.setdefault("/".join(parts[:i]), []).append(("pipeline", level))
        inside.setdefault(nest, []).append(("step", n))
    q = lambda t: json.dumps(t, ensure_ascii=False)  # noqa: E731
    lines = ["graph TD"] if fmt == "mermaid" else ["digraph pipeline {", "  rankdir=LR;", "  node [shape=box];"]

    def emit(level: str, depth: int) -> None:
        pad = "  " * depth
        for kind, n in inside.get(level, []):
            if kind == "step":
                lines.append(f'{pad}{ids[n]}["{mt(n)}"]' if fmt == "mermaid" else f"{pad}{q(n)};")
                continue
            if fmt == "mermaid":
                lines.append(f'{pad}subgraph {pids[n]}["{mt(n)} [pipeline]"]')
            else:
                lines.append(f"{pad}subgraph {q('cluster_' + n)} {{")
                lines.append(f"{pad}  label={q(n + ' [pipeline]')};")
            emit(n, depth + 1)
            lines.append(f"{pad}end" if fmt == "mermaid" else f"{pad}}}")

    emit("", 1)
    for j, (p, users) in enumerate(sorted(sources.items())):
        name = asset_names.get(p, p)
        if fmt == "mermaid":
            lines.append(f'  d{j}[("{mt(name)}")]')
            lines += [f"  d{j} --> {ids[u]}" for u in users]
        else:
            lines.append(f"  {q('path:' + p)} [shape=ellipse, label={q(name)}];")
            lines += [f"  {q('path:' + p)} -> {q(u)};" for u in users]
    for a, b, label in edges:
        if fmt == "mermaid":
            lines.append(f"  {ids[a]} -->|{mermaid_edge(label)}| {ids[b]}" if label else f"  {ids[a]} --> {ids[b]}")
        else:
            lines.append(f"  {q(a)} -> {q(b)}" + (f" [label={q(label)}]" if label else "") + ";")
    if fmt == "dot":
        lines.append("}")
    return "\n".join(lines) + "\n"
