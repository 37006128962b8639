import { describe, expect, it } from "vitest";
import { applyOps, dropOperation, emptyDraft, freshName, push, redo, undo } from "./draft";
import type { Graph, LibraryItem, Operation } from "./types";

const base: Graph = {
  nodes: [
    { name: "prep", kind: "step", inputs: [], outputs: [{ name: "data", type: "uri_file" }], params: {} },
    { name: "train", kind: "step", inputs: [{ name: "data", type: "uri_file", binding: null }], outputs: [], params: { lr: 0.1 } },
  ],
  edges: [],
};
const lib: LibraryItem[] = [
  {
    source: "std",
    name: "split_data",
    version: "1.0.0",
    inputs: [{ name: "data", type: "uri_file" }],
    outputs: [{ name: "train", type: "uri_file" }, { name: "test", type: "uri_file" }],
  },
  { source: "asset", name: "iris" },
];

describe("undo/redo over the operation list", () => {
  const a: Operation = { op: "set_param", name: "lr", value: 1 };
  const b: Operation = { op: "delete_step", name: "prep" };
  it("undoes and redoes in order; a new op clears redo", () => {
    let d = push(push(emptyDraft, a), b);
    d = undo(d);
    expect(d.ops).toEqual([a]);
    expect(d.redo).toEqual([b]);
    d = redo(d);
    expect(d.ops).toEqual([a, b]);
    d = undo(undo(d));
    expect(d.ops).toEqual([]);
    expect(undo(d)).toBe(d);
    d = push(redo(d), b);
    expect(d.redo).toEqual([]);
    expect(redo(d)).toBe(d);
  });
  it("typing in one field is one operation", () => {
    let d = push(emptyDraft, { op: "set_param", name: "lr", value: "0" }, true);
    d = push(d, { op: "set_param", name: "lr", value: "0.5" }, true);
    d = push(d, { op: "set_param", name: "epochs", value: "3" }, true);
    expect(d.ops.length).toBe(2);
    expect(d.ops[0]).toEqual({ op: "set_param", name: "lr", value: "0.5" });
  });
});

describe("drop and names", () => {
  it("names a new step after its component, never twice", () => {
    expect(freshName(["a"], "split_data")).toBe("split_data");
    expect(freshName(["split_data", "split_data_2"], "split_data")).toBe("split_data_3");
    expect(freshName([], "9lives")).toBe("s_9lives");
  });
  it("a component makes add_step; an asset onto a selected input binds it", () => {
    expect(dropOperation(lib[0], ["prep"], null)).toMatchObject({ op: "add_step", name: "split_data", component: "std/split_data@1" });
    const served: LibraryItem = { source: "std", name: "std/train_model@1", ref: "std/train_model@1" };
    expect(dropOperation(served, ["train_model"], null)).toMatchObject({ name: "train_model_2", component: "std/train_model@1" });
    expect(dropOperation(lib[1], [], { step: "train", input: "data" })).toEqual({
      op: "bind_asset",
      asset: "iris",
      to: { step: "train", input: "data" },
    });
  });
});

describe("the draft drawn on the graph", () => {
  it("add, connect, set, promote, delete, rename", () => {
    const ops: Operation[] = [
      { op: "add_step", name: "split", component: "std/split_data@1", command: null, inputs: {}, outputs: {}, params: {} },
      { op: "connect", from: { step: "prep", output: "data" }, to: { step: "split", input: "data" } },
      { op: "connect", from: { step: "split", output: "train" }, to: { step: "train", input: "data" } },
      { op: "set", step: "train", field: "params.lr", value: 0.2 },
      { op: "promote", step: "train", field: "params.lr", param: "lr" },
      { op: "set_param", name: "seed", value: 3 },
    ];
    const r = applyOps(base, [], ops, lib);
    expect(r.graph.nodes.map((n) => n.name)).toEqual(["prep", "train", "split"]);
    expect(r.graph.edges.map((x) => `${x.from}.${x.from_port}->${x.to}.${x.to_port}`)).toEqual([
      "prep.data->split.data",
      "split.train->train.data",
    ]);
    expect(r.graph.nodes[2].outputs!.map((p) => p.name)).toEqual(["train", "test"]);
    expect(r.graph.nodes[1].params).toEqual({ lr: "${{params.lr}}" });
    expect(r.params).toEqual([
      { name: "lr", default: 0.2, value: 0.2, type: null },
      { name: "seed", default: 3, value: 3, type: null },
    ]);
    expect([...r.pending].sort()).toEqual(["split", "train"]);
    const r2 = applyOps(r.graph, r.params, [{ op: "rename_step", name: "split", to: "cut" }, { op: "delete_step", name: "prep" }], lib);
    expect(r2.graph.edges.map((x) => `${x.from}->${x.to}`)).toEqual(["cut->train"]);
  });
  it("a new step's outputs show the paths the server writes for them", () => {
    // (they were shown empty, while the saved file had build/STEP/OUTPUT)
    const add: Operation = { op: "add_step", name: "cut", component: "std/split_data@1", command: null, inputs: {}, outputs: { test: "t.csv" }, params: {} };
    const r = applyOps(base, [], [add], lib);
    expect(r.graph.nodes[2].outputs!.map((p) => `${p.name}=${p.path}`)).toEqual(["train=build/cut/train", "test=t.csv"]);
  });
  it("a renamed step's default output paths follow it, as the server writes them", () => {
    const add: Operation = { op: "add_step", name: "cut", component: "std/split_data@1", command: null, inputs: {}, outputs: { test: "t.csv" }, params: {} };
    const r = applyOps(base, [], [add, { op: "rename_step", name: "cut", to: "split2" }], lib);
    expect(r.graph.nodes[2].outputs!.map((p) => `${p.name}=${p.path}`)).toEqual(["train=build/split2/train", "test=t.csv"]);
    // another step reading build/cut/... by its path: they stay
    const reads: Operation = { op: "set", step: "train", field: "inputs.data", value: "./build/cut/train" };
    const r2 = applyOps(base, [], [add, reads, { op: "rename_step", name: "cut", to: "split2" }], lib);
    expect(r2.graph.nodes[2].outputs!.map((p) => p.path)).toEqual(["build/cut/train", "t.csv"]);
  });
  it("disconnect and a binding set by hand", () => {
    const r = applyOps(base, [], [{ op: "set", step: "train", field: "inputs.data", value: "${{steps.prep.outputs.data}}" }], lib);
    expect(r.graph.edges.length).toBe(1);
    const r2 = applyOps(r.graph, [], [{ op: "disconnect", to: { step: "train", input: "data" } }], lib);
    expect(r2.graph.edges.length).toBe(0);
  });
  it("does not change the graph it is given", () => {
    const copy = JSON.stringify(base);
    applyOps(base, [], [{ op: "delete_step", name: "prep" }, { op: "set", step: "train", field: "params.lr", value: 1 }], lib);
    expect(JSON.stringify(base)).toBe(copy);
  });
});

import { coerce, show } from "./values";
describe("typed values", () => {
  it("keeps numbers numbers and strings strings", () => {
    expect(coerce("0.02", null, 0.01)).toBe(0.02);
    expect(coerce("0.02", null, "a")).toBe("0.02");
    expect(coerce("3", "integer", null)).toBe(3);
    expect(coerce("x", "number", 1)).toBe("x");
    expect(coerce("true", "boolean", false)).toBe(true);
    expect(coerce("12", "string", null)).toBe("12");
    expect(coerce("false", null, null)).toBe(false);
    expect(show({ a: 1 })).toBe('{"a":1}');
    // a list param's field shows JSON, and what is typed there is a list again (it was sent as text, always refused)
    expect(coerce("[1, 2, 5]", "list", [1, 2, 3])).toEqual([1, 2, 5]);
    expect(coerce('["a.txt"]', "list", ["b.txt"])).toEqual(["a.txt"]);
    expect(coerce("[1, 2", "list", [1])).toBe("[1, 2");
    expect(show(null)).toBe("");
  });
});
