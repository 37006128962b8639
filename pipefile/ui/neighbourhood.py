"""A neighbourhood of the pipeline's graph (`GET /api/pipeline?focus=STEP&depth=N`): what a
page draws of a pipeline too large to lay out whole (10,000 steps open in the list view,
the canvas showing one step and what is around it).

The nodes kept are the focus, the steps up to `depth` edges upstream of it and up to
`depth` edges downstream (each direction followed on its own: a sibling that only shares
an input is not kept), and the group or nested pipeline each kept node sits in, so that a
kept task is drawn inside its step. A group or pipeline in focus brings its members. The
edges kept are those between kept nodes. Every node is still listed, slim, in `outline`.
"""

from __future__ import annotations

from typing import Optional

from ..errors import did_you_mean
from .errors_view import Refusal

MAX_DEPTH = 1000
OUTLINE_FIELDS = ("name", "kind", "label", "state", "group", "line")


def depth_arg(text: Optional[str]) -> int:
    """The `depth` query parameter: a whole number from 0 to MAX_DEPTH (2 when not given)."""
    if text is None or text == "":
        return 2
    try:
        depth = int(text)
    except ValueError:
        depth = -1
    if not 0 <= depth <= MAX_DEPTH:
        raise Refusal(
            422, f"depth={text!r} is not a number of edges", f"give a whole number from 0 to {MAX_DEPTH}: depth=2"
        )
    return depth


def focus(graph: dict, name: str, depth: int) -> dict:
    """`graph` ({"nodes", "edges"}, as pipeline_view draws it) cut to the neighbourhood of
    node `name`; raises a 404 Refusal when there is no such node."""
    nodes = graph["nodes"]
    by_name = {n["name"]: n for n in nodes}
    if name not in by_name:
        raise Refusal(
            404,
            f"there is no step '{name}' in the pipeline",
            did_you_mean(name, list(by_name), "step") or "focus= takes a step's name as the graph lists it",
        )
    up: dict = {}
    down: dict = {}
    for e in graph["edges"]:
        down.setdefault(e["from"], []).append(e["to"])
        up.setdefault(e["to"], []).append(e["from"])
    start = _with_members(by_name, name)
    kept = set(start)
    for links in (up, down):
        kept |= _reach(links, start, depth, by_name)
    for n in list(kept):  # the containers of what is kept, up to the top
        parent = by_name[n].get("group")
        while parent and parent in by_name and parent not in kept:
            kept.add(parent)
            parent = by_name[parent].get("group")
    return {
        "nodes": [n for n in nodes if n["name"] in kept],
        "edges": [e for e in graph["edges"] if e["from"] in kept and e["to"] in kept],
    }


def _with_members(by_name: dict, name: str) -> set:
    """A node and, for a group or a nested pipeline, its members at every level."""
    found, todo = set(), [name]
    while todo:
        n = todo.pop()
        if n in found or n not in by_name:
            continue
        found.add(n)
        todo += by_name[n].get("children") or []
    return found


def _reach(links: dict, start: set, depth: int, by_name: dict) -> set:
    """The nodes up to `depth` links from `start` (breadth first); a container reached
    counts as its members reached (an edge may name a group, the next one its tasks)."""
    seen = set(start)
    frontier = set(start)
    for _ in range(depth):
        nxt = set()
        for n in frontier:
            for m in links.get(n, ()):
                for k in _with_members(by_name, m) if by_name.get(m, {}).get("children") else (m,):
                    if k not in seen:
                        seen.add(k)
                        nxt.add(k)
        if not nxt:
            break
        frontier = nxt
    return seen


def outline(graph: dict) -> list:
    """Every node, slim: what a list view of the whole pipeline shows."""
    return [{k: n.get(k) for k in OUTLINE_FIELDS} for n in graph["nodes"]]


def focused(doc: dict, name: Optional[str], depth_text: Optional[str]) -> dict:
    """The answer of `GET /api/pipeline` with `?focus=NAME&depth=N` applied: `graph` the
    neighbourhood, `outline` every node, `focus` what was asked and how much there is in
    all. Without `focus` (or with a Pipefile that does not load), `doc` as it is."""
    depth = depth_arg(depth_text)
    if name is None or doc.get("graph") is None:
        return doc
    whole = doc["graph"]
    doc["graph"] = focus(whole, name, depth)
    doc["outline"] = outline(whole)
    doc["focus"] = {"step": name, "depth": depth, "nodes": len(whole["nodes"]), "edges": len(whole["edges"])}
    return doc
