// What the pipeline page recomputes on each change of a 10,000-step draft (the draft applied to
// the graph in place, one index shared by the views): the same result as before, and the
// loaded graph untouched.
import { describe, expect, it } from "vitest";
import { applyOps } from "./draft";
import { indexGraph, neighbourhood, visibleGraph } from "./graphModel";
import type { Graph, Operation } from "./types";

function chain(n: number): Graph {
  const g: Graph = { nodes: [], edges: [] };
  for (let i = 0; i < n; i++) {
    const binding = i ? `\${{steps.s${i - 1}.outputs.out}}` : "data.csv";
    g.nodes.push({ name: `s${i}`, kind: "step", inputs: [{ name: "i0", binding }], outputs: [{ name: "out", path: `b/s${i}` }], params: {} });
    if (i) g.edges.push({ from: `s${i - 1}`, from_port: "out", to: `s${i}`, to_port: "i0" });
  }
  return g;
}

const DRAFT: Operation[] = [
  ...Array.from({ length: 10 }, (_, k): Operation => ({ op: "set", step: `s${k * 900}`, field: "inputs.i0", value: "other.csv" })),
  { op: "set_param", name: "lr", value: 0.5 },
  { op: "rename_step", name: "s9999", to: "last" },
  { op: "connect", from: { step: "s10", output: "out" }, to: { step: "s5000", input: "i0" } },
  { op: "delete_step", name: "last" },
];

describe("a 10,000-step draft", () => {
  const g = chain(10_000);
  const frozen = JSON.stringify(g);

  it("is applied without touching the loaded graph, each operation where it belongs", () => {
    const a = applyOps(g, [], DRAFT, []);
    expect(JSON.stringify(g)).toBe(frozen);
    expect(a.graph.nodes.length).toBe(9_999);
    expect(a.graph.nodes.find((n) => n.name === "s900")?.inputs?.[0].binding).toBe("other.csv");
    expect(a.graph.edges.some((e) => e.from === "s10" && e.to === "s5000")).toBe(true);
    expect(a.graph.edges.some((e) => e.to === "s900")).toBe(false);
    expect(a.pending.has("s5000") && !a.pending.has("last")).toBe(true);
    // the view given the page's index draws what it draws with an index of its own
    const idx = indexGraph(a.graph);
    const only = neighbourhood(idx, "s5000", 1);
    expect(visibleGraph(a.graph, new Set(), only, idx)).toEqual(visibleGraph(a.graph, new Set(), only));
  });
});
