import { describe, expect, it } from "vitest";
import { appendLines, noLines } from "./logLines";

describe("log lines", () => {
  it("appends, keeping the newest `max` and counting the dropped", () => {
    let s = appendLines(noLines, ["a", "b"], 3);
    expect(s).toEqual({ lines: ["a", "b"], dropped: 0 });
    s = appendLines(s, ["c", "d", "e"], 3);
    expect(s).toEqual({ lines: ["c", "d", "e"], dropped: 2 });
    expect(appendLines(s, [], 3)).toBe(s);
  });
  it("a million lines in batches stay at the cap", () => {
    let s = noLines;
    for (let i = 0; i < 1000; i++) s = appendLines(s, Array.from({ length: 1000 }, (_, j) => `${i}.${j}`), 10_000);
    expect(s.lines.length).toBe(10_000);
    expect(s.dropped).toBe(990_000);
    expect(s.lines[9_999]).toBe("999.999");
  });
});
