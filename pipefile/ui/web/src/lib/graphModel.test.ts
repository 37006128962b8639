import { describe, expect, it } from "vitest";
import { closesCycle, connectionRefusal, focusSet, indexGraph, neighbourhood, visibleGraph } from "./graphModel";
import { typeRefusal } from "./portTypes";
import type { Graph, GraphNode } from "./types";

const step = (name: string, extra: Partial<GraphNode> = {}): GraphNode => ({
  name,
  kind: "step",
  inputs: [{ name: "x", type: "uri_file" }, { name: "t", type: "table" }],
  outputs: [{ name: "out", type: "uri_file" }, { name: "model", type: "model" }, { name: "tab", type: "table" }],
  ...extra,
});
const e = (from: string, to: string, fp = "out", tp = "x") => ({ from, from_port: fp, to, to_port: tp });

// a -> b -> c ; train is a matrix group of two tasks fed by b, feeding c
const g: Graph = {
  nodes: [
    step("a"),
    step("b"),
    step("c"),
    step("train", { kind: "group", children: ["train[0]", "train[1]"], tasks: { count: 2, states: { run: 2 } } }),
    step("train[0]", { group: "train" }),
    step("train[1]", { group: "train" }),
  ],
  edges: [e("a", "b"), e("b", "c"), e("b", "train[0]"), e("b", "train[1]"), e("train[0]", "c", "out", "t"), e("train[1]", "c", "out", "t")],
};

describe("groups", () => {
  it("a collapsed pipeline's edges keep the ports it places and binds", () => {
    const p: Graph = {
      nodes: [
        step("src"),
        step("small", {
          kind: "pipeline",
          children: ["small/fit"],
          inputs: [{ name: "data", type: "uri_file", binding: "${{steps.src.outputs.out}}" }],
          outputs: [{ name: "model", type: "uri_file", path: "build/m.txt" }],
        }),
        step("small/fit", {
          group: "small",
          inputs: [{ name: "x", type: "uri_file", binding: "${{steps.src.outputs.out}}" }],
          outputs: [{ name: "out", type: "uri_file", path: "build/m.txt" }, { name: "log", type: "uri_file", path: "log" }],
        }),
        step("report"),
      ],
      edges: [e("src", "small/fit"), e("small/fit", "report"), e("small/fit", "report", "log", "t")],
    };
    const v = visibleGraph(p, new Set());
    expect(v.edges.map((x) => `${x.from}.${x.from_port}->${x.to}.${x.to_port}`).sort()).toEqual([
      "small.->report.t",
      "small.model->report.x",
      "src.out->small.data",
    ]);
  });
  it("collapsed: tasks hidden, their edges moved to the group, no duplicates", () => {
    const v = visibleGraph(g, new Set());
    expect(v.nodes.map((n) => n.name)).toEqual(["a", "b", "c", "train"]);
    const keys = v.edges.map((x) => `${x.from}->${x.to}`);
    expect(keys.sort()).toEqual(["a->b", "b->c", "b->train", "train->c"]);
  });
  it("expanded: tasks shown with their own edges", () => {
    const v = visibleGraph(g, new Set(["train"]));
    expect(v.nodes.map((n) => n.name)).toContain("train[1]");
    expect(v.edges.filter((x) => x.to === "c").length).toBe(3);
  });
  it("nested groups stay collapsed inside an expanded one", () => {
    const nested: Graph = {
      nodes: [step("p", { kind: "pipeline" }), step("p/q", { kind: "group", group: "p" }), step("p/q[0]", { group: "p/q" })],
      edges: [],
    };
    expect(visibleGraph(nested, new Set(["p"])).nodes.map((n) => n.name)).toEqual(["p", "p/q"]);
    expect(visibleGraph(nested, new Set(["p", "p/q"])).nodes.length).toBe(3);
  });
  it("only: a subset", () => {
    expect(visibleGraph(g, new Set(), new Set(["a", "b"])).edges.map((x) => `${x.from}->${x.to}`)).toEqual(["a->b"]);
  });
});

describe("neighbourhood and focus", () => {
  const idx = indexGraph(g);
  it("depth one either way, with the groups of the tasks in it", () => {
    expect([...neighbourhood(idx, "b", 1)].sort()).toEqual(["a", "b", "c", "train", "train[0]", "train[1]"]);
    expect([...neighbourhood(idx, "a", 1)].sort()).toEqual(["a", "b"]);
  });
  it("upstream and downstream", () => {
    expect([...focusSet(idx, { step: "b", direction: "up" })!].sort()).toEqual(["a", "b"]);
    expect([...focusSet(idx, { step: "b", direction: "down" })!].sort()).toEqual(["b", "c", "train", "train[0]", "train[1]"]);
    expect(focusSet(idx, null)).toBeNull();
  });
  it("scales: 10,000 steps in a chain", () => {
    const n = 10000;
    const big: Graph = { nodes: [], edges: [] };
    for (let i = 0; i < n; i++) big.nodes.push(step(`s${i}`));
    for (let i = 1; i < n; i++) big.edges.push(e(`s${i - 1}`, `s${i}`));
    const t = Date.now();
    const bi = indexGraph(big);
    expect([...neighbourhood(bi, "s5000", 2)].sort()).toEqual(["s4998", "s4999", "s5000", "s5001", "s5002"]);
    expect(visibleGraph(big, new Set()).edges.length).toBe(n - 1);
    expect(Date.now() - t).toBeLessThan(2000);
  });
});

describe("connections", () => {
  it("type rules", () => {
    expect(typeRefusal("uri_file", "file")).toBeNull();
    expect(typeRefusal("folder", "uri_folder")).toBeNull();
    expect(typeRefusal("table", "uri_file")).toBeNull();
    expect(typeRefusal("model", null)).toBeNull();
    expect(typeRefusal("any", "model")).toBeNull();
    expect(typeRefusal("model", "model")).toBeNull();
    expect(typeRefusal("model", "uri_file")).toMatch(/model does not fit input type uri_file/);
    expect(typeRefusal("uri_file", "table")).not.toBeNull();
    expect(typeRefusal("uri_folder", "uri_file")).not.toBeNull();
  });
  it("refuses a cycle, with the reason", () => {
    expect(closesCycle(g, "c", "a")).toBe(true);
    expect(closesCycle(g, "a", "c")).toBe(false);
    expect(connectionRefusal(g, "c", "out", "a", "x")).toMatch(/cycle/);
    expect(connectionRefusal(g, "a", "out", "a", "x")).toMatch(/its own output/);
  });
  it("a cycle through a group counts", () => {
    expect(closesCycle(g, "train[0]", "b")).toBe(true);
    expect(closesCycle(g, "c", "train[1]")).toBe(true);
  });
  it("refuses a type that does not fit and a port that is not there", () => {
    expect(connectionRefusal(g, "a", "model", "c", "x")).toMatch(/a\.model -> c\.x: type model does not fit/);
    expect(connectionRefusal(g, "a", "nope", "c", "x")).toMatch(/no output nope/);
    expect(connectionRefusal(g, "a", "out", "c", "nope")).toMatch(/no input nope/);
    expect(connectionRefusal(g, "a", "tab", "c", "x")).toBeNull();
    expect(connectionRefusal(g, "a", "out", "c", "x")).toBeNull();
  });
});
