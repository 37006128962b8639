"""The job's graph as inline SVG for `pipe report`, laid out here in Python (no browser, no
JavaScript): layered left to right, one box per step coloured by its outcome.

The layout is the classic layered one: each step's layer is the longest path to it from a
step without inputs; an edge that spans several layers passes through placeholder slots,
one per layer it crosses, so it is drawn between boxes and never through one; the order
within a layer is improved by a few sweeps of the barycenter heuristic (each slot moves
toward the mean position of its neighbours), which keeps crossings few. Every box and
placeholder has a slot of its own in a grid, so boxes never overlap, at any size.

Every name is text from users (step names carry matrix values and file names): escaped.
"""

from __future__ import annotations

from html import escape

from ..lazyclass import dataclass
from ..printable import printable
from .text import format_seconds

BOX_W, BOX_H = 200, 40
GAP_X, GAP_Y = 64, 14
LANE = 8  # the height of a placeholder slot, one line of a long edge
MARGIN = 12
NAME_CHARS = 27  # what fits in a box at 12px (longer names end in an ellipsis; the tooltip has it whole)
SWEEPS = 6

# outcome -> (fill, stroke): the same colours as the page's legend
COLOURS = {
    "ran": ("#dbeafe", "#2563eb"),
    "restored": ("#cffafe", "#0e7490"),
    "fresh": ("#dcfce7", "#15803d"),
    "failed": ("#fee2e2", "#dc2626"),
    "skipped": ("#f3f4f6", "#6b7280"),
}
OTHER = ("#fef9c3", "#a16207")  # would-run, would-restore, on-remote, anything newer


@dataclass
class Placed:
    name: str  # a step, or None for the placeholder of a long edge
    layer: int
    slot: int
    x: float
    y: float


def layers(names: list, edges: list) -> dict:
    """{step: layer}: 0 for steps that read no other step, else one more than the deepest
    step it reads. An edge that would close a cycle (a record cannot hold one, but a report
    must not loop) is ignored."""
    succ: dict = {n: [] for n in names}
    indeg = {n: 0 for n in names}
    for a, b in edges:
        if a in succ and b in succ and a != b:
            succ[a].append(b)
            indeg[b] += 1
    layer = {n: 0 for n in names}
    ready = [n for n in names if indeg[n] == 0]
    while ready:
        nxt = []
        for n in ready:
            for m in succ[n]:
                layer[m] = max(layer[m], layer[n] + 1)
                indeg[m] -= 1
                if indeg[m] == 0:
                    nxt.append(m)
        ready = nxt
    return layer  # (the steps of a cycle, never ready, keep the layer reached so far)


def layout(names: list, edges: list) -> tuple:
    """(placed steps {name: Placed}, routes [(from, to, [Placed ...])], width, height)."""
    layer = layers(names, edges)
    columns: dict = {}
    for n in names:
        columns.setdefault(layer[n], []).append(n)
    routes = []
    # neighbours of each slot, as keys: a step's name, or ("edge", index, layer) for a placeholder
    up: dict = {}
    down: dict = {}
    for i, (a, b) in enumerate(edges):
        if a not in layer or b not in layer or layer[a] >= layer[b]:
            continue
        chain = [a] + [("edge", i, k) for k in range(layer[a] + 1, layer[b])] + [b]
        for k, key in enumerate(chain[1:-1], start=layer[a] + 1):
            columns.setdefault(k, []).append(key)
        for x, y in zip(chain, chain[1:]):
            down.setdefault(x, []).append(y)
            up.setdefault(y, []).append(x)
        routes.append((a, b, chain[1:-1]))
    depth = max(columns) + 1 if columns else 0
    cols = [columns.get(k, []) for k in range(depth)]
    pos = {key: i for col in cols for i, key in enumerate(col)}
    for sweep in range(SWEEPS):
        order = range(1, depth) if sweep % 2 == 0 else range(depth - 2, -1, -1)
        near = up if sweep % 2 == 0 else down
        for k in order:
            cols[k] = _by_barycenter(cols[k], near, pos)
            for i, key in enumerate(cols[k]):
                pos[key] = i
    # A placeholder's slot is as thin as a line: long edges cost little height.
    heights = [[BOX_H + GAP_Y if isinstance(key, str) else LANE for key in col] for col in cols]
    tallest = max((sum(h) for h in heights), default=0)
    placed: dict = {}
    for k, col in enumerate(cols):
        y = MARGIN + (tallest - sum(heights[k])) / 2  # each column centred on the tallest
        for i, key in enumerate(col):
            box = isinstance(key, str)
            # a placeholder's y is where its box would be: its line runs at y + BOX_H / 2
            top = y if box else y + LANE / 2 - BOX_H / 2
            placed[key] = Placed(key if box else None, k, i, MARGIN + k * (BOX_W + GAP_X), top)
            y += heights[k][i]
    width = 2 * MARGIN + depth * BOX_W + max(0, depth - 1) * GAP_X
    height = 2 * MARGIN + tallest
    steps = {n: placed[n] for n in names}
    return steps, [(a, b, [placed[k] for k in via]) for a, b, via in routes], width, height


def _by_barycenter(col: list, near: dict, pos: dict) -> list:
    def weight(item):
        i, key = item
        others = near.get(key)
        return (sum(pos[o] for o in others) / len(others), i) if others else (float(i), i)

    return [key for _, key in sorted(enumerate(col), key=weight)]


def _route(src: Placed, dst: Placed, via: list) -> str:
    """A path from the right of `src` through each placeholder slot to the left of `dst`:
    straight across a placeholder, an S-curve across each gap between columns."""
    mid = BOX_H / 2
    points = [(src.x + BOX_W, src.y + mid)]
    for p in via:
        points += [(p.x, p.y + mid), (p.x + BOX_W, p.y + mid)]
    points.append((dst.x, dst.y + mid))
    d = [f"M{points[0][0]:.1f},{points[0][1]:.1f}"]
    for i in range(1, len(points)):
        (x1, y1), (x2, y2) = points[i - 1], points[i]
        if i % 2 == 1:  # across a gap
            cx = (x1 + x2) / 2
            d.append(f"C{cx:.1f},{y1:.1f} {cx:.1f},{y2:.1f} {x2:.1f},{y2:.1f}")
        else:  # through a placeholder slot
            d.append(f"L{x2:.1f},{y2:.1f}")
    return " ".join(d)


def _short(name: str) -> str:
    return name if len(name) <= NAME_CHARS else name[: NAME_CHARS - 1] + "\u2026"


def colours(outcome: str) -> tuple:
    return COLOURS.get(outcome, OTHER)


def render_svg(steps: list, edges: list) -> str:
    """The SVG element (inline in HTML: no namespace needed, no reference to anything)."""
    names = [s.step for s in steps]
    placed, routes, width, height = layout(names, edges)
    out = [
        f'<svg class="graph" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="the graph of the job\'s steps">',
        '<defs><marker id="arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7" markerHeight="7" '
        'orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#6b7280"/></marker></defs>',
    ]
    for a, b, via in routes:
        out.append(
            f'<path class="edge" data-edge="{escape(printable(a))}-&gt;{escape(printable(b))}" '
            f'd="{_route(placed[a], placed[b], via)}" fill="none" stroke="#9ca3af" stroke-width="1.3" '
            f'marker-end="url(#arrow)"/>'
        )
    for s in steps:
        p = placed[s.step]
        fill, stroke = colours(s.outcome)
        name = printable(s.step)
        took = format_seconds(s.seconds or 0.0)
        out.append(
            f'<g class="step" data-step="{escape(name)}" data-outcome="{escape(s.outcome)}">'
            f"<title>{escape(name)}: {escape(s.outcome)}, {took}</title>"
            f'<rect x="{p.x:.1f}" y="{p.y:.1f}" width="{BOX_W}" height="{BOX_H}" rx="5" fill="{fill}" '
            f'stroke="{stroke}" stroke-width="{2 if s.outcome == "failed" else 1.2}"/>'
            f'<text x="{p.x + 8:.1f}" y="{p.y + 16:.1f}" font-size="12" fill="#111827">{escape(_short(name))}</text>'
            f'<text x="{p.x + 8:.1f}" y="{p.y + 31:.1f}" font-size="10" fill="{stroke}">'
            f"{escape(s.outcome)} \u00b7 {took}</text></g>"
        )
    out.append("</svg>")
    return "\n".join(out)
