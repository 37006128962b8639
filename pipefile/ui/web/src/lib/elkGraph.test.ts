import { describe, expect, it } from "vitest";
import ELK from "elkjs/lib/elk.bundled.js";
import { elkGraph, FRAME_TOP, parents, placements, type LayoutNode } from "./elkGraph";
import { framesOf, visibleGraph } from "./graphModel";
import type { Graph, GraphNode } from "./types";

const step = (name: string, extra: Partial<GraphNode> = {}): GraphNode => ({ name, kind: "step", inputs: [], outputs: [], ...extra });
const e = (from: string, to: string) => ({ from, from_port: "", to, to_port: "" });

// prep -> train (a matrix of 3 tasks; a nested pipeline inside one of them) -> report
const g: Graph = {
  nodes: [
    step("prep"),
    step("train", { kind: "group", children: ["train[0]", "train[1]", "inner"] }),
    step("train[0]", { group: "train" }),
    step("train[1]", { group: "train" }),
    step("inner", { kind: "pipeline", group: "train", children: ["inner/a", "inner/b"] }),
    step("inner/a", { group: "inner" }),
    step("inner/b", { group: "inner" }),
    step("report"),
  ],
  edges: [e("prep", "train[0]"), e("prep", "train[1]"), e("prep", "inner/a"), e("inner/a", "inner/b"), e("train[0]", "report"), e("train[1]", "report"), e("inner/b", "report")],
};

describe("frames of unfolded groups", () => {
  it("a member of an unfolded group is framed by it; folded, nothing is", () => {
    const open = new Set(["train", "inner"]);
    const f = framesOf(visibleGraph(g, open), open);
    expect(f.get("train[0]")).toBe("train");
    expect(f.get("inner")).toBe("train");
    expect(f.get("inner/a")).toBe("inner");
    expect(f.has("prep")).toBe(false);
    expect(framesOf(visibleGraph(g, new Set()), new Set()).size).toBe(0);
  });

  it("an unknown parent or a loop of parents nests nothing", () => {
    const p = parents([
      { id: "a", width: 1, height: 1, parent: "nope" },
      { id: "b", width: 1, height: 1, parent: "c" },
      { id: "c", width: 1, height: 1, parent: "b" },
      { id: "d", width: 1, height: 1, parent: "c" },
    ]);
    expect(p.has("a")).toBe(false);
    expect(p.get("b") === "c" && p.get("c") === "b").toBe(false);
  });

  it("ELK keeps every member inside its frame, below the frame's title, and no two frames' members overlap", async () => {
    const open = new Set(["train", "inner"]);
    const vg = visibleGraph(g, open);
    const frames = framesOf(vg, open);
    const nodes: LayoutNode[] = vg.nodes.map((n) => ({ id: n.name, width: 200, height: 60, parent: frames.get(n.name) }));
    const edges = vg.edges.map((x, i) => ({ id: `e${i}`, source: x.from, target: x.to }));
    const laid = await new ELK().layout(
      elkGraph(nodes, edges, { "elk.algorithm": "layered", "elk.direction": "RIGHT" }) as never,
    );
    const at = placements(laid as never);
    // absolute boxes: a child's position is relative to its frame
    const abs = (id: string): { x: number; y: number; w: number; h: number } => {
      const p = at[id];
      const parent = frames.get(id);
      const o = parent ? abs(parent) : { x: 0, y: 0 };
      return { x: o.x + p.x, y: o.y + p.y, w: p.width ?? 200, h: p.height ?? 60 };
    };
    for (const [child, frame] of frames) {
      const c = abs(child);
      const f = abs(frame);
      expect(at[frame].width).toBeGreaterThan(0);
      expect(c.x).toBeGreaterThanOrEqual(f.x);
      expect(c.y).toBeGreaterThanOrEqual(f.y + FRAME_TOP - 1);
      expect(c.x + c.w).toBeLessThanOrEqual(f.x + f.w);
      expect(c.y + c.h).toBeLessThanOrEqual(f.y + f.h);
    }
    // the steps outside do not sit on the frame
    const t = abs("train");
    for (const out of ["prep", "report"]) {
      const o = abs(out);
      const apart = o.x + o.w <= t.x || o.x >= t.x + t.w || o.y + o.h <= t.y || o.y >= t.y + t.h;
      expect(apart).toBe(true);
    }
  });
});
