import { describe, expect, it } from "vitest";
import { coalesced } from "./api";

describe("coalesced", () => {
  it("a burst of calls while one runs is one more run, after it", async () => {
    const waits: (() => void)[] = [];
    let runs = 0;
    const run = coalesced(() => {
      runs += 1;
      return new Promise<void>((done) => waits.push(done));
    });
    for (let i = 0; i < 1500; i++) run();
    expect(runs).toBe(1);
    waits.shift()!();
    await new Promise((r) => setTimeout(r, 0));
    expect(runs).toBe(2);
    waits.shift()!();
    await new Promise((r) => setTimeout(r, 0));
    expect(runs).toBe(2);
    run();
    expect(runs).toBe(3);
  });
  it("a run that fails does not stop the next", async () => {
    let runs = 0;
    const run = coalesced(() => {
      runs += 1;
      return Promise.reject(new Error("no"));
    });
    run();
    run();
    await new Promise((r) => setTimeout(r, 0));
    expect(runs).toBe(2);
  });
});
