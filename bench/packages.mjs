// `node bench/packages.mjs` (after `npm run build`): the `package` workload, what importing an npm
// package costs an execution (docs/packages.md), against one `npm start` server on loopback whose
// CORDON_NPM_REGISTRY is the registry fixture (test/e2e/registry.ts, packages built from
// test/registry/packages; never the network).
//
// - first resolution: the server's first import of `five-deps` (a package with five
//   dependencies): six packuments, six tarballs verified, the build and the run; beside a fresh
//   execution without packages timed just before it.
// - cached: fresh executions (unique code every time, so no warm isolate) importing `esm-pkg`,
//   whose set is resolved, built and cached, against the same code without the import, sent
//   one at a time and interleaved so all see the same machine. Code that imports anything gets
//   Node.js's timers (docs/guest.md), so a third kind is the code without the import that gets
//   them too (it names `setTimeout` in a comment): the package's own cost is against that one.
//
// Environment: BENCH_RUNS (200) executions of each kind.
import { randomBytes } from "node:crypto";
import { startRegistry } from "../test/e2e/registry.ts";
import { startCordon } from "./systems.mjs";

const RUNS = Number(process.env.BENCH_RUNS ?? 200);
const WARMUP = 20;

const registry = await startRegistry();
const cordon = await startCordon({ env: { CORDON_NPM_REGISTRY: registry.url } });

/** Runs code once; answers the client's round trip in ms, and the result. */
async function execute(code) {
  const started = performance.now();
  const res = await fetch(`${cordon.url}/v1/execute`, {
    method: "POST",
    headers: { ...cordon.headers, "content-type": "application/json" },
    body: JSON.stringify({ code }),
  });
  const body = await res.json();
  const ms = performance.now() - started;
  if (body.status !== "ok") throw new Error(`execution failed: ${JSON.stringify(body)}`);
  return { ms, body };
}

const nonce = randomBytes(6).toString("hex");
const percentile = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
};
const fmt = (ms) => ms.toFixed(2);

try {
  // The server's first execution pays for things no package has to do with.
  for (let i = 0; i < WARMUP; i++) await execute(`/* warm ${nonce} ${i} */ ${i} + 1`);

  const plain = await execute(`/* first ${nonce} */ 1 + 1`);
  registry.reset();
  const first = await execute(`/* first ${nonce} */ import { names } from "five-deps";\nnames`);
  const requests = registry.requests().length;
  const again = await execute(`/* again ${nonce} */ import { names } from "five-deps";\nnames`);

  const withPackage = (i) => `/* ${nonce} ${i} */ import { double } from "esm-pkg";\ndouble(${i})`;
  const without = (i) => `/* ${nonce} ${i} */ const double = (n) => n * 2;\ndouble(${i})`;
  const withTimers = (i) =>
    `/* ${nonce} ${i} setTimeout */ const double = (n) => n * 2;\ndouble(${i})`;
  for (let i = 0; i < WARMUP; i++) {
    await execute(withPackage(1_000 + i));
    await execute(without(5_000 + i));
    await execute(withTimers(9_000 + i));
  }
  const a = [];
  const b = [];
  const c = [];
  for (let i = 0; i < RUNS; i++) {
    a.push((await execute(withPackage(2_000_000 + i))).ms);
    b.push((await execute(without(3_000_000 + i))).ms);
    c.push((await execute(withTimers(4_000_000 + i))).ms);
  }
  const extraP50 = percentile(a, 50) - percentile(b, 50);
  console.log(`package workload, ${RUNS} runs each, one client, loopback`);
  console.log(
    `first resolution of five-deps (5 dependencies): ${fmt(first.ms)} ms (${requests} registry requests); ` +
      `a fresh execution without packages just before: ${fmt(plain.ms)} ms; ` +
      `the same set again (new code, cached build): ${fmt(again.ms)} ms`,
  );
  console.log(
    `fresh, importing a cached package: p50 ${fmt(percentile(a, 50))} ms, p99 ${fmt(percentile(a, 99))} ms`,
  );
  console.log(
    `fresh, same code without it:      p50 ${fmt(percentile(b, 50))} ms, p99 ${fmt(percentile(b, 99))} ms`,
  );
  console.log(
    `fresh, without it, Node's timers: p50 ${fmt(percentile(c, 50))} ms, p99 ${fmt(percentile(c, 99))} ms`,
  );
  console.log(
    `extra p50: ${fmt(extraP50)} ms (goal: at most 5 ms); of which the package itself, against the same isolate without it: ${fmt(percentile(a, 50) - percentile(c, 50))} ms`,
  );
} finally {
  await cordon.stop();
  await registry.close();
}
