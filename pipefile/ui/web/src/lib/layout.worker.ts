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
  ms?: number;
  error?: string;
}

const elk = new ELK();

self.onmessage = async (ev: MessageEvent<LayoutRequest>) => {
  const req = ev.data;
  const t0 = performance.now();
  try {
    const big = req.nodes.length > 400;
    const out = await elk.layout({
      id: "root",
      layoutOptions: {
        "elk.algorithm": "layered",
        "elk.direction": req.direction,
        "elk.spacing.nodeNode": "24",
        "elk.layered.spacing.nodeNodeBetweenLayers": "60",
        // the canvas draws its own curves: ELK's edge routes are not used, so the cheap router
        "elk.edgeRouting": "POLYLINE",
        // past a few hundred nodes the refinements cost seconds (measured: benchmarks/ui_render.py)
        ...(big
          ? {
              "elk.layered.thoroughness": "1",
              "elk.layered.crossingMinimization.greedySwitch.type": "OFF",
              "elk.layered.nodePlacement.strategy": "SIMPLE",
            }
          : {}),
      },
      children: req.nodes,
      edges: req.edges.map((e) => ({ id: e.id, sources: [e.source], targets: [e.target] })),
    });
    const positions: LayoutAnswer["positions"] = {};
    for (const c of out.children ?? []) positions[c.id] = { x: c.x ?? 0, y: c.y ?? 0 };
    (self as unknown as Worker).postMessage({ id: req.id, positions, ms: performance.now() - t0 } satisfies LayoutAnswer);
  } catch (e) {
    (self as unknown as Worker).postMessage({ id: req.id, positions: {}, error: String(e) } satisfies LayoutAnswer);
  }
};
