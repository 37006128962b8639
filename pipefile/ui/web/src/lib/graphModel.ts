// The pipeline graph as the views need it: groups collapsed or expanded, a step's
// neighbourhood, upstream/downstream focus, and the checks a new connection must pass.
// Pure (no React, no DOM) so Vitest covers it.

import type { Graph, GraphEdge, GraphNode } from "./types";
import { typeRefusal } from "./portTypes";

export interface Index {
  byName: Map<string, GraphNode>;
  succ: Map<string, Set<string>>;
  pred: Map<string, Set<string>>;
}

export function indexGraph(g: Graph): Index {
  const byName = new Map<string, GraphNode>();
  for (const n of g.nodes) byName.set(n.name, n);
  // only nodes with edges get a set (a 10,000-step draft is indexed again on every change)
  const succ = new Map<string, Set<string>>();
  const pred = new Map<string, Set<string>>();
  const add = (m: Map<string, Set<string>>, k: string, v: string) => {
    const s = m.get(k);
    if (s) s.add(v);
    else m.set(k, new Set([v]));
  };
  for (const e of g.edges) {
    if (!byName.has(e.from) || !byName.has(e.to)) continue;
    add(succ, e.from, e.to);
    add(pred, e.to, e.from);
  }
  return { byName, succ, pred };
}

/** The chain of groups a node sits in, innermost first. */
export function ancestors(idx: Index, name: string): string[] {
  const out: string[] = [];
  const seen = new Set<string>([name]);
  let cur = idx.byName.get(name)?.group ?? null;
  while (cur && idx.byName.has(cur) && !seen.has(cur)) {
    out.push(cur);
    seen.add(cur);
    cur = idx.byName.get(cur)?.group ?? null;
  }
  return out;
}

/** The node that stands for `name` on the canvas: its outermost collapsed group, or itself. */
export function representative(idx: Index, name: string, expanded: ReadonlySet<string>): string {
  let rep = name;
  for (const a of ancestors(idx, name)) if (!expanded.has(a)) rep = a;
  return rep;
}

export interface VisibleGraph {
  nodes: GraphNode[];
  edges: GraphEdge[];
}

/**
 * What the canvas draws: nodes inside collapsed groups hidden (their edges moved to the group,
 * duplicates and edges inside one group dropped); with `only`, just those nodes.
 */
export function visibleGraph(
  g: Graph,
  expanded: ReadonlySet<string>,
  only?: ReadonlySet<string> | null,
  index?: Index,
): VisibleGraph {
  const idx = index ?? indexGraph(g);
  const nodes = g.nodes.filter((n) => representative(idx, n.name, expanded) === n.name && (!only || only.has(n.name)));
  const shown = new Set(nodes.map((n) => n.name));
  const seen = new Set<string>();
  const edges: GraphEdge[] = [];
  for (const e of g.edges) {
    if (!idx.byName.has(e.from) || !idx.byName.has(e.to)) continue;
    const from = representative(idx, e.from, expanded);
    const to = representative(idx, e.to, expanded);
    if (from === to || !shown.has(from) || !shown.has(to)) continue;
    const moved = from !== e.from || to !== e.to;
    const edge = moved
      ? { from, to, from_port: outerPort(idx, from, e.from, e.from_port, "out"), to_port: outerPort(idx, to, e.to, e.to_port, "in") }
      : e;
    const key = `${edge.from}\u0000${edge.from_port}\u0000${edge.to}\u0000${edge.to_port}`;
    if (seen.has(key)) continue;
    seen.add(key);
    edges.push(edge);
  }
  return { nodes, edges };
}

/**
 * The port of collapsed group `rep` that stands for port `port` of its member `inner`: for a
 * pipeline, the output placed at the same path, or the input bound to the same thing; "" (the
 * node's edge) when there is none.
 */
function outerPort(idx: Index, rep: string, inner: string, port: string, side: "in" | "out"): string {
  if (rep === inner) return port;
  const r = idx.byName.get(rep);
  const n = idx.byName.get(inner);
  if (!r || !n || !port) return "";
  if (side === "out") {
    const path = (n.outputs ?? []).find((p) => p.name === port)?.path;
    return (path && (r.outputs ?? []).find((p) => p.path === path)?.name) || "";
  }
  const bound = (n.inputs ?? []).find((p) => p.name === port)?.binding;
  const same = (r.inputs ?? []).find((p) => bound != null && p.binding != null && JSON.stringify(p.binding) === JSON.stringify(bound));
  return same?.name ?? "";
}

function walk(start: string, next: Map<string, Set<string>>, depth = Infinity): Set<string> {
  const out = new Set<string>();
  let frontier = [start];
  for (let d = 0; d < depth && frontier.length; d++) {
    const nxt: string[] = [];
    for (const n of frontier)
      for (const m of next.get(n) ?? [])
        if (!out.has(m) && m !== start) {
          out.add(m);
          nxt.push(m);
        }
    frontier = nxt;
  }
  return out;
}

export function upstream(idx: Index, name: string): Set<string> {
  return walk(name, idx.pred);
}
export function downstream(idx: Index, name: string): Set<string> {
  return walk(name, idx.succ);
}

/** `name`, the steps within `depth` edges of it either way, and the groups they sit in. */
export function neighbourhood(idx: Index, name: string, depth = 1): Set<string> {
  const out = new Set<string>([name]);
  for (const m of walk(name, idx.succ, depth)) out.add(m);
  for (const m of walk(name, idx.pred, depth)) out.add(m);
  for (const m of [...out]) for (const a of ancestors(idx, m)) out.add(a);
  return out;
}

export type Focus = { step: string; direction: "up" | "down" | "both" } | null;

export function focusSet(idx: Index, focus: Focus): Set<string> | null {
  if (!focus || !idx.byName.has(focus.step)) return null;
  const out = new Set<string>([focus.step]);
  if (focus.direction !== "down") for (const m of upstream(idx, focus.step)) out.add(m);
  if (focus.direction !== "up") for (const m of downstream(idx, focus.step)) out.add(m);
  for (const m of [...out]) for (const a of ancestors(idx, m)) out.add(a);
  return out;
}

/** The outermost group of a node (itself when it is in none): cycles are judged between these. */
function top(idx: Index, name: string): string {
  const a = ancestors(idx, name);
  return a.length ? a[a.length - 1] : name;
}

/** Would an edge from -> to close a cycle? (true when `from` is reachable from `to`) */
export function closesCycle(g: Graph, from: string, to: string, index?: Index): boolean {
  const idx = index ?? indexGraph(g);
  const a = top(idx, from);
  const b = top(idx, to);
  if (a === b) return true;
  const next = new Map<string, Set<string>>();
  for (const e of g.edges) {
    if (!idx.byName.has(e.from) || !idx.byName.has(e.to)) continue;
    const x = top(idx, e.from);
    const y = top(idx, e.to);
    if (x === y) continue;
    if (!next.has(x)) next.set(x, new Set());
    next.get(x)!.add(y);
  }
  const seen = new Set<string>([b]);
  const stack = [b];
  while (stack.length) {
    const n = stack.pop()!;
    if (n === a) return true;
    for (const m of next.get(n) ?? [])
      if (!seen.has(m)) {
        seen.add(m);
        stack.push(m);
      }
  }
  return false;
}

/** null when output `fromPort` of `from` may be bound to input `toPort` of `to`, else why not. */
export function connectionRefusal(
  g: Graph,
  from: string,
  fromPort: string,
  to: string,
  toPort: string,
  index?: Index,
): string | null {
  const idx = index ?? indexGraph(g);
  const src = idx.byName.get(from);
  const dst = idx.byName.get(to);
  if (!src || !dst) return `no step named ${!src ? from : to}`;
  if (from === to) return `a step cannot take its own output (${from}.${fromPort} -> ${to}.${toPort})`;
  const out = (src.outputs ?? []).find((p) => p.name === fromPort);
  if (!out) return `step ${from} has no output ${fromPort}`;
  const inp = (dst.inputs ?? []).find((p) => p.name === toPort);
  if (!inp) return `step ${to} has no input ${toPort}`;
  const refusal = typeRefusal(out.type, inp.type);
  if (refusal) return `${from}.${fromPort} -> ${to}.${toPort}: ${refusal}`;
  if (closesCycle(g, from, to, idx)) return `${from} -> ${to} would close a cycle (${to} already feeds ${from})`;
  return null;
}

/**
 * The unfolded group each drawn node sits in (its nearest drawn, unfolded group): the canvas
 * draws that group as a frame around it. A node in no such group is absent.
 */
export function framesOf(vg: VisibleGraph, expanded: ReadonlySet<string>): Map<string, string> {
  const byName = new Map(vg.nodes.map((n) => [n.name, n]));
  const out = new Map<string, string>();
  for (const n of vg.nodes) {
    const seen = new Set<string>([n.name]);
    for (let g = n.group; g && !seen.has(g); g = byName.get(g)?.group) {
      seen.add(g);
      const group = byName.get(g);
      if (group && group.kind !== "step" && expanded.has(g)) {
        out.set(n.name, g);
        break;
      }
    }
  }
  return out;
}
