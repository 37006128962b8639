// The ELK graph of what the canvas draws, with unfolded groups as compound nodes: their
// members are ELK children of the group, so the layered layout keeps them inside its frame
// and sizes the frame around them. Pure (the worker runs ELK; Vitest covers this).

export interface LayoutNode {
  id: string;
  width: number;
  height: number;
  /** the unfolded group it is drawn inside (absent or unknown: the top level) */
  parent?: string | null;
}
export interface LayoutEdge {
  id: string;
  source: string;
  target: string;
}
export interface Placed {
  /** relative to its parent's top left, as React Flow places a child node */
  x: number;
  y: number;
  /** set for a frame (a node with members): the size ELK gave it */
  width?: number;
  height?: number;
}

export interface ElkNode {
  id: string;
  width?: number;
  height?: number;
  x?: number;
  y?: number;
  layoutOptions?: Record<string, string>;
  children?: ElkNode[];
  edges?: { id: string; sources: string[]; targets: string[] }[];
}

// room at the top of a frame for its title and fold control
export const FRAME_TOP = 44;
export const FRAME_PAD = 16;

/** `parent` of each node, dropped where it would not nest (an unknown parent, or a loop). */
export function parents(nodes: LayoutNode[]): Map<string, string> {
  const ids = new Set(nodes.map((n) => n.id));
  const out = new Map<string, string>();
  for (const n of nodes) if (n.parent && n.parent !== n.id && ids.has(n.parent)) out.set(n.id, n.parent);
  for (const n of nodes) {
    const seen = new Set<string>([n.id]);
    for (let p = out.get(n.id); p; p = out.get(p)) {
      if (seen.has(p)) {
        out.delete(n.id);
        break;
      }
      seen.add(p);
    }
  }
  return out;
}

export function elkGraph(nodes: LayoutNode[], edges: LayoutEdge[], rootOptions: Record<string, string>): ElkNode {
  const parentOf = parents(nodes);
  const hasKids = new Set(parentOf.values());
  const byId = new Map<string, ElkNode>();
  for (const n of nodes) {
    const e: ElkNode = { id: n.id };
    if (!hasKids.has(n.id)) {
      e.width = n.width;
      e.height = n.height;
    } else {
      // a frame: ELK sizes it around its members; its own size is the least it may be
      e.children = [];
      e.layoutOptions = {
        "elk.padding": `[top=${FRAME_TOP},left=${FRAME_PAD},bottom=${FRAME_PAD},right=${FRAME_PAD}]`,
        "elk.nodeSize.constraints": "MINIMUM_SIZE",
        "elk.nodeSize.minimum": `(${n.width}, ${n.height})`,
      };
    }
    byId.set(n.id, e);
  }
  const root: ElkNode = {
    id: "__root",
    // edges between levels (into a frame's member) need ELK to lay out the levels together
    layoutOptions: hasKids.size ? { ...rootOptions, "elk.hierarchyHandling": "INCLUDE_CHILDREN" } : rootOptions,
    children: [],
    edges: [],
  };
  for (const n of nodes) (parentOf.has(n.id) ? byId.get(parentOf.get(n.id)!)! : root).children!.push(byId.get(n.id)!);
  const known = new Set(byId.keys());
  for (const e of edges) {
    if (!known.has(e.source) || !known.has(e.target)) continue;
    // an edge between a frame and its own member cannot be laid out across the frame's border
    if (insideOf(parentOf, e.source, e.target) || insideOf(parentOf, e.target, e.source)) continue;
    root.edges!.push({ id: e.id, sources: [e.source], targets: [e.target] });
  }
  return root;
}

function insideOf(parentOf: Map<string, string>, inner: string, outer: string): boolean {
  for (let p = parentOf.get(inner); p; p = parentOf.get(p)) if (p === outer) return true;
  return false;
}

/** Positions (relative to the parent) and frame sizes from ELK's answer. */
export function placements(laid: ElkNode): Record<string, Placed> {
  const out: Record<string, Placed> = {};
  const visit = (n: ElkNode) => {
    for (const c of n.children ?? []) {
      const p: Placed = { x: c.x ?? 0, y: c.y ?? 0 };
      if (c.children && c.children.length) {
        p.width = c.width;
        p.height = c.height;
      }
      out[c.id] = p;
      visit(c);
    }
  };
  visit(laid);
  return out;
}
