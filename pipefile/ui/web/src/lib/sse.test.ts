import { describe, expect, it } from "vitest";
import { SseParser } from "./sse";
import { formatSeconds, runCommand, timelineBars } from "./timeline";

describe("SSE lines", () => {
  it("events split anywhere across chunks, CRLF split in two", () => {
    const p = new SseParser();
    const text = 'event: step\r\ndata: {"step":"a"}\r\n\r\n: keepalive\n\nevent: line\ndata: one\ndata: two\n\nevent: end\ndata:\n\n';
    const out = [];
    for (let i = 0; i < text.length; i += 3) out.push(...p.feed(text.slice(i, i + 3)));
    expect(out).toEqual([
      { event: "step", data: '{"step":"a"}', id: null },
      { event: "line", data: "one\ntwo", id: null },
      { event: "end", data: "", id: null },
    ]);
  });
  it("a CR at the end of a chunk and the LF in the next are one line end", () => {
    const p = new SseParser();
    expect(p.feed("data: x\r")).toEqual([]);
    expect(p.feed("\n\r\n")).toEqual([{ event: "message", data: "x", id: null }]);
  });
  it("no space after the colon, id kept, an unfinished event dropped at the end", () => {
    const p = new SseParser();
    expect(p.feed("id: 7\nevent:line\ndata:{}\n\ndata: half")).toEqual([{ event: "line", data: "{}", id: "7" }]);
    expect(p.end()).toEqual([]);
  });
});

describe("timeline and run command", () => {
  it("bars from start and duration", () => {
    const { bars, total } = timelineBars(
      [
        { step: "b", started: 12, seconds: 8, outcome: "ran" },
        { step: "a", started: 10, seconds: 2, outcome: "ran" },
        { step: "c", finished: 20, seconds: 0, outcome: "fresh" },
        { step: "d", outcome: "pending" },
      ],
      100,
    );
    expect(total).toBe(10);
    expect(bars.map((b) => [b.step, b.x, b.width])).toEqual([
      ["a", 0, 20],
      ["b", 20, 80],
      ["c", 100, 2],
    ]);
  });
  it("formats seconds", () => {
    expect(formatSeconds(0.25)).toBe("250 ms");
    expect(formatSeconds(75)).toBe("1 min 15 s");
  });
  it("the exact command, quoted for a shell", () => {
    expect(runCommand("Pipefile", ["train"], { lr: "0.1", name: "a b" }, true)).toBe(
      "pipe run -f Pipefile -p lr=0.1 -p 'name=a b' --force train",
    );
  });
});
