import { describe, expect, it } from "vitest";
import { axisValues, counts, memberWord, plural, readOnlyNote } from "./words";
import type { GraphNode } from "./types";

// docs/concepts.md: a step is a Pipefile entry, a task one unit of its expansion
describe("the words of a group's or pipeline's members", () => {
  it("a pipeline node counts its inner steps, a group its tasks", () => {
    const pipe: GraphNode = { name: "prep", kind: "pipeline", children: ["prep/a", "prep/b"], tasks: { count: 2, states: { run: 2 } } };
    const group: GraphNode = { name: "train", kind: "group", children: ["train[0]"], tasks: { count: 1, states: { fresh: 1 } } };
    expect(counts(pipe)).toBe("2 steps: 2 run");
    expect(counts(group)).toBe("1 task: 1 fresh");
    expect(memberWord("pipeline")).toBe("step");
    expect(memberWord("group")).toBe("task");
  });
  it("one member is singular", () => {
    expect(plural(1, "step")).toBe("1 step");
    expect(plural(0, "task")).toBe("0 tasks");
  });
  it("a pipeline's note says where its steps are edited, not its tasks", () => {
    expect(readOnlyNote("pipeline")).not.toContain("task");
    expect(readOnlyNote("group")).toContain("tasks");
  });
});

describe("a matrix axis's values typed as text", () => {
  it("reads each value as the axis input's type, as typed", () => {
    expect(axisValues("0.1, 0.2 ,1e-3", "number")).toEqual([0.1, 0.2, 0.001]);
    expect(axisValues("3, 5", "integer")).toEqual([3, 5]);
    expect(axisValues("true, false", "boolean")).toEqual([true, false]);
    expect(axisValues("a, 1", "string")).toEqual(["a", "1"]);
    expect(axisValues('["a,b", 2]', "string")).toEqual(["a,b", 2]);
  });
  it("sends nothing while the text is no list of distinct values", () => {
    expect(axisValues("0.1,", "number")).toEqual([0.1]); // (typing the next one)
    expect(axisValues("", "number")).toBeNull();
    expect(axisValues("1, 1", "number")).toBeNull();
    expect(axisValues("[1,", "number")).toBeNull();
  });
});
