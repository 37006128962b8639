// ELK's layered layout off the main thread: a 1,000-step pipeline lays out while the page stays usable.
import ELK from "elkjs/lib/elk.bundled.js";
import { elkGraph, placements, type LayoutEdge, type LayoutNode, type Placed } from "./elkGraph";

export interface LayoutRequest {
  id: number;
  direction: "RIGHT" | "DOWN";
  /** `parent`: the unfolded group drawn around the node (elkGraph.ts) */
  nodes: LayoutNode[];
  edges: LayoutEdge[];
}
export interface LayoutAnswer {
  id: number;
  /** relative to the node's parent; a frame's size too */
  positions: Record<string, Placed>;
  ms?: number;
  error?: string;
}

const elk = new ELK();

self.onmessage = async (ev: MessageEvent<LayoutRequest>) => {
  const req = ev.data;
  const t0 = performance.now();
  try {
    const big = req.nodes.length > 400;
    const graph = elkGraph(req.nodes, req.edges, {
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
    });
    const out = await elk.layout(graph as Parameters<typeof elk.layout>[0]);
    const positions = placements(out as never);
    (self as unknown as Worker).postMessage({ id: req.id, positions, ms: performance.now() - t0 } satisfies LayoutAnswer);
  } catch (e) {
    (self as unknown as Worker).postMessage({ id: req.id, positions: {}, error: String(e) } satisfies LayoutAnswer);
  }
};
