// ELK's layered layout off the main thread: a 1,000-step pipeline lays out while the page stays usable.
import ELK from "elkjs/lib/elk.bundled.js";

export interface LayoutRequest {
  id: number;
  direction: "RIGHT" | "DOWN";
  nodes: { id: string; width: number; height: number }[];
  edges: { id: string; source: string; target: string }[];
}
export interface LayoutAnswer {
  id: number;
  positions: Record<string, { x: number; y: number }>;
  error?: string;
}

const elk = new ELK();

self.onmessage = async (ev: MessageEvent<LayoutRequest>) => {
  const req = ev.data;
  try {
    const big = req.nodes.length > 400;
    const out = await elk.layout({
      id: "root",
      layoutOptions: {
        "elk.algorithm": "layered",
        "elk.direction": req.direction,
        "elk.spacing.nodeNode": "24",
        "elk.layered.spacing.nodeNodeBetweenLayers": "60",
        // the exact crossing minimisation is slow past a few hundred nodes: a cheaper one there
        ...(big ? { "elk.layered.crossingMinimization.strategy": "INTERACTIVE", "elk.layered.thoroughness": "1" } : {}),
      },
      children: req.nodes,
      edges: req.edges.map((e) => ({ id: e.id, sources: [e.source], targets: [e.target] })),
    });
    const positions: LayoutAnswer["positions"] = {};
    for (const c of out.children ?? []) positions[c.id] = { x: c.x ?? 0, y: c.y ?? 0 };
    (self as unknown as Worker).postMessage({ id: req.id, positions } satisfies LayoutAnswer);
  } catch (e) {
    (self as unknown as Worker).postMessage({ id: req.id, positions: {}, error: String(e) } satisfies LayoutAnswer);
  }
};
