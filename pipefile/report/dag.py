"""Draws the pipeline's graph for `pipe dag`: text, Mermaid or Graphviz dot."""

from __future__ import annotations

import json

from ..bindings import IN_PATH
from ..graph import Graph


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


def render_dag(graph: Graph, fmt: str = "text") -> str:
    edges, sources = _dag_edges(graph)
    asset_names = {a.path: a.name for a in graph.pipefile.assets.values()}
    if fmt == "mermaid":
        ids = {n: f"s{i}" for i, n in enumerate(graph.nodes)}
        lines = ["graph TD"]
        for n, i in ids.items():
            lines.append(f'  {i}["{n}"]')
        for j, (p, users) in enumerate(sorted(sources.items())):
            label = asset_names.get(p, p)
            lines.append(f'  d{j}[("{label}")]')
            for u in users:
                lines.append(f"  d{j} --> {ids[u]}")
        for a, b, label in edges:
            lines.append(f"  {ids[a]} -->|{label}| {ids[b]}" if label else f"  {ids[a]} --> {ids[b]}")
        return "\n".join(lines) + "\n"
    if fmt == "dot":

        def q(text: str) -> str:
            return json.dumps(text, ensure_ascii=False)  # Graphviz reads UTF-8, not \u escapes

        lines = ["digraph pipeline {", "  rankdir=LR;", "  node [shape=box];"]
        for n in graph.nodes:
            lines.append(f"  {q(n)};")
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
    for node in graph.nodes.values():
        deps = ", ".join(node.deps)
        srcs = [asset_names.get(p, p) for p, users in sources.items() if node.name in users]
        left = " <- " + ", ".join(filter(None, [deps, ", ".join(srcs)])) if (deps or srcs) else ""
        out.append(f"{node.name}{left}")
        for o in node.outputs.values():
            out.append(f"    -> {o.path}")
    return "\n".join(out) + "\n"
