import { describe, expect, it } from "vitest";
import { decideConnect, decideFetch, type EgressRule } from "../../src/egress/policy";

const OPTIONS = { allowPrivate: false };

/** Rules that count every read of a rule, as compiling them reads each one. */
function counted(rules: EgressRule[]): { allow: EgressRule[]; reads: () => number } {
  let reads = 0;
  const allow = new Proxy(rules, {
    get(target, key, receiver) {
      if (typeof key === "string" && /^\d+$/.test(key)) reads++;
      return Reflect.get(target, key, receiver);
    },
  });
  return { allow, reads: () => reads };
}

describe("egress rules", () => {
  it("are compiled once per policy: later decisions over it do not read its rules again", () => {
    const { allow, reads } = counted([
      "api.example.com",
      { host: "*.github.com", methods: ["GET"], paths: ["/repos/"] },
      "not a valid rule",
    ]);
    const policy = { allow };
    expect(decideFetch([policy], "GET", "https://api.example.com/x", OPTIONS)).toMatchObject({
      allowed: true,
      reason: "allowed by rule api.example.com",
    });
    const afterFirst = reads();
    expect(afterFirst).toBeGreaterThan(0);
    for (let i = 0; i < 20; i++) {
      expect(decideFetch([policy], "GET", "https://evil.com/", OPTIONS).reason).toBe(
        "no rule allows evil.com",
      );
      expect(decideFetch([policy], "POST", "https://x.github.com/repos/a", OPTIONS).reason).toBe(
        "method POST not allowed for x.github.com",
      );
      expect(decideConnect([policy], "api.example.com", 443, OPTIONS).allowed).toBe(true);
    }
    expect(reads()).toBe(afterFirst);
  });

  it("decide the same over a policy wrapped anew around the same rules", () => {
    const { allow, reads } = counted(["api.example.com"]);
    decideFetch([{ allow }], "GET", "https://api.example.com/", OPTIONS);
    const afterFirst = reads();
    // A secret's hosts are wrapped in a new policy object for every request they are checked on.
    expect(decideFetch([{ allow }], "GET", "https://api.example.com/", OPTIONS).allowed).toBe(true);
    expect(reads()).toBe(afterFirst);
  });
});
