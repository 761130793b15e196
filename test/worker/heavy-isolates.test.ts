// Which heavy reused isolates (a session's Python interpreter) a process keeps, and which it ends
// (src/sandbox/isolates.ts): the policy alone, with deadlines set in the past or the future.
import { describe, expect, it } from "vitest";
import { HeavyIsolates } from "../../src/sandbox/isolates";

const later = () => Date.now() + 60_000;
const past = () => Date.now() - 1;

describe("HeavyIsolates", () => {
  it("keeps at most its number of names, ending the least recently used idle one for a newcomer", () => {
    const isolates = new HeavyIsolates(2, 0);
    for (const name of ["a", "b"]) {
      const { hold, end } = isolates.enter(name, later());
      expect(end).toEqual([]);
      if (!hold) throw new Error(`no hold for ${name}`);
      expect(isolates.leave(hold, false)).toBe(false);
    }
    const again = isolates.enter("a", later());
    expect(again.end).toEqual([]);
    if (again.hold) isolates.leave(again.hold, false);
    // "b" is now the least recently used.
    const c = isolates.enter("c", later());
    expect(c.hold).toBeDefined();
    expect(c.end).toEqual(["b"]);
  });

  it("ends no name used within its keep time: the newcomer runs one-shot", () => {
    const isolates = new HeavyIsolates(1, 60_000);
    const a = isolates.enter("a", later());
    if (a.hold) isolates.leave(a.hold, false);
    expect(isolates.enter("b", later())).toEqual({ end: [] });
  });

  it("never ends a name with a run in flight, nor lets a second run join it", () => {
    const isolates = new HeavyIsolates(1, 0);
    const a = isolates.enter("a", later());
    expect(a.hold).toBeDefined();
    expect(isolates.enter("b", later())).toEqual({ end: [] });
    expect(isolates.enter("a", later())).toEqual({ end: [] });
  });

  it("ends the isolate of a run its process stopped waiting for before the name is used again", () => {
    const isolates = new HeavyIsolates(2, 0);
    const abandoned = isolates.enter("a", past());
    expect(abandoned.hold).toBeDefined();
    const next = isolates.enter("a", later());
    expect(next.hold).toBeDefined();
    expect(next.end).toEqual(["a"]);
    // The abandoned run's late answer changes nothing.
    if (abandoned.hold) expect(isolates.leave(abandoned.hold, true)).toBe(false);
  });

  it("counts a name whose only run was abandoned as idle, so a newcomer may end it", () => {
    const isolates = new HeavyIsolates(1, 0);
    expect(isolates.enter("a", past()).hold).toBeDefined();
    const b = isolates.enter("b", later());
    expect(b.hold).toBeDefined();
    expect(b.end).toEqual(["a"]);
  });

  it("answers that a run's isolate is to be ended when the run asks for it, and forgets the name", () => {
    const isolates = new HeavyIsolates(1, 60_000);
    const a = isolates.enter("a", later());
    if (!a.hold) throw new Error("no hold");
    expect(isolates.leave(a.hold, true)).toBe(true);
    // The slot is free at once, keep time or not.
    expect(isolates.enter("b", later()).hold).toBeDefined();
  });

  it("keeps no name at all when its number is 0", () => {
    expect(new HeavyIsolates(0, 0).enter("a", later())).toEqual({ end: [] });
  });
});
