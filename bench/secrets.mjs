// What secrets cost on the fetch path: executions that fetch from a loopback upstream, for a
// tenant without secrets and one with a secret (sent in a header, so the request carries it),
// interleaved so both are measured under the same load. With BENCH_SECRETS_BASE=<checkout> (a
// built checkout of another commit) the same runs go to that build too, for a before/after.
//
//   node bench/secrets.mjs                     # BENCH_SECRETS_RUNS=40 by default
//   BENCH_SECRETS_BASE=/tmp/cordon-base node bench/secrets.mjs
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { freePort } from "./systems.mjs";

const RUNS = Number(process.env.BENCH_SECRETS_RUNS || 40);
const ADMIN = "bench-admin-token-0123456789";
const SECRET = "sk-bench-Zq8rT4vW1xY7uB3nM6pL9aS2";
const here = join(dirname(fileURLToPath(import.meta.url)), "..");

// 1 MiB of text that looks like an API's answer, with the secret nowhere in it.
const big = Buffer.from(
  JSON.stringify(Array.from({ length: 12_000 }, (_, i) => ({ id: i, name: `item-${i}`, ok: true })))
    .padEnd(1 << 20, " ")
    .slice(0, 1 << 20),
);
const bodies = { small: Buffer.from('{"n":42}'), big, gzip: gzipSync(big) };

const upstream = createServer((req, res) => {
  const name = req.url?.slice(1) ?? "";
  const body = bodies[name];
  if (!body) return res.writeHead(404).end();
  // Always gzip for /gzip, whatever was asked: the cost of decoding it is what is measured.
  res.writeHead(200, name === "gzip" ? { "content-encoding": "gzip" } : {});
  res.end(body);
});
await new Promise((r) => upstream.listen(0, "127.0.0.1", r));
const origin = `http://127.0.0.1:${upstream.address().port}`;

async function startServer(name, dir) {
  const port = await freePort();
  const child = spawn(process.execPath, ["host/start.mjs", "--no-build"], {
    cwd: dir,
    env: {
      ...process.env,
      HOST: "127.0.0.1",
      PORT: String(port),
      CORDON_DATA_DIR: mkdtempSync(join(tmpdir(), "cordon-bench-secrets-")),
      CORDON_DEV_API_KEY: "bench-dev-key-0123456789",
      CORDON_ADMIN_TOKEN: ADMIN,
      CORDON_ALLOW_PRIVATE_EGRESS: "1",
    },
    stdio: "ignore",
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {}
    if (i > 300) throw new Error(`${name} did not start`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const admin = (path, body, method = "POST") =>
    fetch(`${url}/v1/admin${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  const policy = {
    egress: { allow: [origin] },
    limits: { rate: 10_000, burst: 10_000, concurrency: 256 },
  };
  const tenants = {};
  for (const id of ["plain", "keyed"]) {
    const created = await (await admin("/tenants", { id, policy })).json();
    tenants[id] = created.apiKey;
  }
  const put = await admin(
    "/tenants/keyed/secrets/TOKEN",
    { value: SECRET, hosts: [origin] },
    "PUT",
  );
  if (put.status !== 204) throw new Error(`setting the secret: ${put.status}`);
  return { name, url, tenants, child };
}

async function execute(server, tenant, workload) {
  const code = `const res = await fetch("${origin}/${workload}", { headers: { authorization: "Bearer " + (process.env.TOKEN ?? "none") } });
(await res.arrayBuffer()).byteLength`;
  const started = performance.now();
  const res = await fetch(`${server.url}/v1/execute`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${server.tenants[tenant]}`,
      "content-type": "application/json",
    },
    body: JSON.stringify({ code }),
  });
  const result = await res.json();
  const ms = performance.now() - started;
  if (result.status !== "ok")
    throw new Error(`${server.name} ${tenant} ${workload}: ${JSON.stringify(result)}`);
  return ms;
}

const servers = [await startServer("current", here)];
if (process.env.BENCH_SECRETS_BASE) {
  servers.push(await startServer("base", process.env.BENCH_SECRETS_BASE));
}
const workloads = Object.keys(bodies);
const samples = new Map();
const key = (s, t, w) => `${s}\u0000${t}\u0000${w}`;
try {
  for (let run = -3; run < RUNS; run++) {
    for (const workload of workloads) {
      // A new order each round, so no build or tenant always runs right after another.
      const cells = servers.flatMap((server) =>
        ["plain", "keyed"].map((tenant) => ({ server, tenant })),
      );
      cells.sort(() => Math.random() - 0.5);
      for (const { server, tenant } of cells) {
        const ms = await execute(server, tenant, workload);
        if (run < 0) continue; // warm-up
        const k = key(server.name, tenant, workload);
        samples.set(k, [...(samples.get(k) ?? []), ms]);
      }
    }
  }
} finally {
  for (const server of servers) server.child.kill("SIGTERM");
  upstream.close();
}

const median = (xs) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};
console.log(`${RUNS} runs each, median end-to-end ms of POST /v1/execute (one fetch inside)\n`);
console.log("| workload | build | no secrets | with a secret | with ÷ without |");
console.log("| --- | --- | ---: | ---: | ---: |");
for (const workload of workloads) {
  for (const server of servers) {
    const plain = median(samples.get(key(server.name, "plain", workload)));
    const keyed = median(samples.get(key(server.name, "keyed", workload)));
    console.log(
      `| ${workload} | ${server.name} | ${plain.toFixed(1)} | ${keyed.toFixed(1)} | ${(keyed / plain).toFixed(2)}× |`,
    );
  }
}
if (servers.length === 2) {
  console.log("\n| workload | tenant | current ÷ base |");
  console.log("| --- | --- | ---: |");
  for (const workload of workloads) {
    for (const tenant of ["plain", "keyed"]) {
      const current = median(samples.get(key("current", tenant, workload)));
      const base = median(samples.get(key("base", tenant, workload)));
      console.log(`| ${workload} | ${tenant} | ${(current / base).toFixed(2)}× |`);
    }
  }
}
