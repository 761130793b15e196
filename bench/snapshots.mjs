// What snapshots and forks cost: a session holding 1 MiB of carried variables and 10 MiB of
// workspace files (its cap) is snapshotted, forked (from its state now and from a snapshot) and
// restored, one request at a time, interleaved with `GET /v1/sessions/{id}` on the same session
// as the baseline (auth, rate limiting and one call to the session's object, no state copied).
// Each snapshot and fork is deleted after it is timed, so the session stays within its caps.
//
//   node bench/snapshots.mjs                  # BENCH_SNAPSHOT_RUNS=30 by default; builds dist/
//   node bench/snapshots.mjs --no-build       # dist/ is current
import { build, startCordon } from "./systems.mjs";

const RUNS = Number(process.env.BENCH_SNAPSHOT_RUNS || 30);
const MiB = 1024 * 1024;

if (!process.argv.includes("--no-build")) build();
const cordon = await startCordon({ name: "cordon" });

async function call(method, path, body) {
  const headers = { ...cordon.headers };
  if (body !== undefined && !(body instanceof Uint8Array))
    headers["content-type"] = "application/json";
  const res = await fetch(`${cordon.url}${path}`, {
    method,
    headers,
    body: body instanceof Uint8Array ? body : body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text === "" ? undefined : JSON.parse(text);
}

/** Milliseconds `work` took, and what it answered. */
async function timed(work) {
  const start = performance.now();
  const value = await work();
  return { ms: performance.now() - start, value };
}

try {
  const { sessionId } = await call("POST", "/v1/sessions", { ttlSeconds: 3600 });
  // 1 MiB of carried values: a string and a table of rows, about half each.
  const made = await call("POST", `/v1/sessions/${sessionId}/execute`, {
    code: `const text = "x".repeat(${MiB / 2});
const rows = Array.from({ length: 9000 }, (_, i) => ({ id: i, name: "row-" + i, ok: i % 2 === 0 }));
rows.length`,
  });
  if (made.status !== "ok") throw new Error(`setting up variables: ${JSON.stringify(made)}`);
  for (let i = 0; i < 10; i++) {
    const bytes = new Uint8Array(MiB);
    for (let j = 0; j < bytes.length; j += 97) bytes[j] = (i * 31 + j) & 0xff;
    await call("PUT", `/v1/sessions/${sessionId}/files/data/part-${i}.bin`, bytes);
  }
  const base = await call("POST", `/v1/sessions/${sessionId}/snapshots`);
  const filesBytes = 10 * MiB;
  console.log(
    `session ${sessionId}: ${base.bytes} bytes of state (${filesBytes} in 10 files, ${base.bytes - filesBytes} of variables)`,
  );

  const figures = { info: [], snapshot: [], forkNow: [], forkSnapshot: [], restore: [] };
  // Untimed warm-up of every path.
  for (let round = -3; round < RUNS; round++) {
    const keep = (name, ms) => {
      if (round >= 0) figures[name].push(ms);
    };
    keep("info", (await timed(() => call("GET", `/v1/sessions/${sessionId}`))).ms);
    const snap = await timed(() => call("POST", `/v1/sessions/${sessionId}/snapshots`));
    keep("snapshot", snap.ms);
    await call("DELETE", `/v1/sessions/${sessionId}/snapshots/${snap.value.snapshotId}`);
    const now = await timed(() => call("POST", "/v1/sessions", { from: { sessionId } }));
    keep("forkNow", now.ms);
    await call("DELETE", `/v1/sessions/${now.value.sessionId}`);
    const from = { sessionId, snapshotId: base.snapshotId };
    const forked = await timed(() => call("POST", "/v1/sessions", { from }));
    keep("forkSnapshot", forked.ms);
    await call("DELETE", `/v1/sessions/${forked.value.sessionId}`);
    const restored = await timed(() =>
      call("POST", `/v1/sessions/${sessionId}/restore`, { snapshotId: base.snapshotId }),
    );
    keep("restore", restored.ms);
  }
  // A fork really holds the state: its variables, its files, and one file's bytes.
  const check = await call("POST", "/v1/sessions", { from: { sessionId } });
  const info = await call("GET", `/v1/sessions/${check.sessionId}`);
  const res = await fetch(`${cordon.url}/v1/sessions/${check.sessionId}/files/data/part-3.bin`, {
    headers: cordon.headers,
  });
  const part = new Uint8Array(await res.arrayBuffer());
  if (
    JSON.stringify([info.variables, info.files]) !== JSON.stringify([["text", "rows"], 10]) ||
    part.length !== MiB ||
    part[97] !== ((3 * 31 + 97) & 0xff)
  ) {
    throw new Error(`a fork does not hold the state: ${JSON.stringify(info)}`);
  }

  const pct = (xs, p) => {
    const sorted = [...xs].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
  };
  const rows = [
    ["GET /v1/sessions/{id} (baseline)", figures.info],
    ["POST …/snapshots", figures.snapshot],
    ["POST /v1/sessions {from} (state now)", figures.forkNow],
    ["POST /v1/sessions {from} (a snapshot)", figures.forkSnapshot],
    ["POST …/restore", figures.restore],
  ];
  const p50base = pct(figures.info, 50);
  console.log(`\n${RUNS} runs each, one request at a time, interleaved:\n`);
  console.log("| request | p50 ms | p90 ms | max ms | p50 − baseline p50 |");
  console.log("| ------- | -----: | -----: | -----: | -----------------: |");
  for (const [name, xs] of rows) {
    const p50 = pct(xs, 50);
    console.log(
      `| ${name} | ${p50.toFixed(1)} | ${pct(xs, 90).toFixed(1)} | ${Math.max(...xs).toFixed(1)} | ${(p50 - p50base).toFixed(1)} |`,
    );
  }
} finally {
  await cordon.stop();
}
