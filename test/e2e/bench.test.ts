// Smoke test of the benchmark (bench/): each peer answers like Cordon does, and the harness can
// drive Cordon and count its answers. Short, loopback only, no timing assertions.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type BenchSystem,
  PEERS,
  startCordon,
  startPeer,
  startUpstream,
} from "../../bench/systems.mjs";
import { runWorkload } from "../../bench/workloads.mjs";

interface Answer {
  status: string;
  result?: unknown;
  error?: { name: string; message: string };
}

async function execute(system: BenchSystem, code: string): Promise<Answer> {
  const res = await fetch(`${system.url}/v1/execute`, {
    method: "POST",
    headers: { "content-type": "application/json", ...system.headers },
    body: JSON.stringify({ code }),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as Answer;
}

let upstream: BenchSystem;
beforeAll(async () => {
  upstream = await startUpstream();
});
afterAll(async () => {
  await upstream?.stop();
});

describe.each(Object.keys(PEERS))("bench peer %s", (name) => {
  let peer: BenchSystem;
  beforeAll(async () => {
    peer = await startPeer(name);
  });
  afterAll(async () => {
    await peer?.stop();
  });

  it("runs code and answers its value", async () => {
    expect(await execute(peer, "1+1")).toEqual({ status: "ok", result: 2 });
    // Unique code, as the fresh workload sends it.
    expect(await execute(peer, "/* fresh 7 */ 7 + 1")).toEqual({ status: "ok", result: 8 });
  });

  it("answers a thrown error with status error", async () => {
    expect(await execute(peer, 'throw new TypeError("boom")')).toMatchObject({
      status: "error",
      error: { name: "TypeError", message: "boom" },
    });
  });

  it("fetches from the loopback upstream", async () => {
    const code = `fetch("${upstream.url}/n").then((r) => r.json()).then((j) => j.n)`;
    expect(await execute(peer, code)).toEqual({ status: "ok", result: 42 });
  });
});

describe("bench harness", () => {
  let cordon: BenchSystem;
  beforeAll(async () => {
    cordon = await startCordon();
  });
  afterAll(async () => {
    await cordon?.stop();
  });

  it.each(["warm", "fresh"] as const)("drives the %s workload against Cordon", async (workload) => {
    const result = await runWorkload(cordon, workload, { seconds: 1, connections: 2 });
    if (!result.supported) throw new Error(`skipped: ${result.note}`);
    // The first wrong answer is in the failure message, not only a count.
    expect({ errors: result.errors, firstError: result.firstError }).toEqual({
      errors: 0,
      firstError: undefined,
    });
    expect(result.rps).toBeGreaterThan(0);
  });
});
