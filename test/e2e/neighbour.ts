// The neighbour tenant of the hostile-code suites: its runs, timed, while hostile code runs.
import type { ExecutionResult, Server } from "./server";

export interface NeighbourRun {
  ms: number;
  result: ExecutionResult;
}

/** One run of the neighbour's code (`input * 2` of 21), timed end to end. */
export async function neighbourRun(server: Server, key: string): Promise<NeighbourRun> {
  const started = Date.now();
  const res = await server.call("/v1/execute", {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ code: "input * 2", input: 21 }),
  });
  return { ms: Date.now() - started, result: (await res.json()) as ExecutionResult };
}

/** Polls /healthz until `done` settles; resolves with the slowest answer (ms) and any failure. */
export async function watchHealth(server: Server, done: Promise<unknown>) {
  let finished = false;
  // Only flips the flag; `done` is awaited by the caller.
  void done.finally(() => {
    finished = true;
  });
  let slowest = 0;
  let failures = 0;
  while (!finished) {
    const started = Date.now();
    try {
      const res = await fetch(`${server.url}/healthz`, { signal: AbortSignal.timeout(1000) });
      if (!res.ok) failures++;
    } catch {
      failures++;
    }
    slowest = Math.max(slowest, Date.now() - started);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { slowest, failures };
}
