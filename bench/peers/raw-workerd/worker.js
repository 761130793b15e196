// Raw workerd's floor for dynamic isolates: the Worker Loader and nothing else (no auth, no
// Durable Objects, no compile step, no egress gateway, no log capture). Same request shape as
// Cordon's POST /v1/execute.
//
// Code runs as the body of the guest's `run()` method: first as an expression whose value is
// returned; if that does not parse, as statements (whose value is then undefined). Only expressions
// and throwing statements are in the benchmark and its tests. A real compile
// step that finds the last expression statement is Cordon's job and part of what it costs.

const MAX_WARM = 64;
/** Hashes seen once (code is warmed the second time, as Cordon does), oldest first. */
const seen = new Map();
const warm = new Set();

const guestModule = (body) => `import { WorkerEntrypoint } from "cloudflare:workers";
export default class extends WorkerEntrypoint {
  async run() {
${body}
  }
}
`;

async function sha256(text) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function runIn(env, source) {
  const code = {
    compatibilityDate: env.COMPATIBILITY_DATE,
    mainModule: "guest.js",
    modules: { "guest.js": source },
    env: {},
    // Explicit, as Cordon's invariant asks; here straight to the network (loopback allowed).
    globalOutbound: env.INTERNET,
  };
  const hash = await sha256(source);
  let stub;
  if (warm.has(hash)) {
    stub = env.LOADER.get(hash, () => code);
  } else if (seen.has(hash) && warm.size < MAX_WARM) {
    warm.add(hash);
    stub = env.LOADER.get(hash, () => code);
  } else {
    seen.set(hash, true);
    if (seen.size > 4096) seen.delete(seen.keys().next().value);
    stub = env.LOADER.load(code);
  }
  return stub.getEntrypoint().run();
}

async function run(env, code) {
  try {
    return await runIn(env, guestModule(`return (\n${code}\n);`));
  } catch (err) {
    // Only a guest that failed to start (the code is not an expression) is tried as statements;
    // a SyntaxError the code itself throws (JSON.parse) is its answer.
    if (!/^Failed to start Worker:\s+Uncaught SyntaxError/.test(err?.message)) throw err;
    return await runIn(env, guestModule(code));
  }
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (request.method === "GET" && url.pathname === "/healthz") {
      return Response.json({ ok: true, peer: "raw-workerd" });
    }
    if (request.method !== "POST" || url.pathname !== "/v1/execute") {
      return Response.json({ title: "Not Found" }, { status: 404 });
    }
    let code;
    try {
      code = (await request.json()).code;
    } catch {}
    if (typeof code !== "string") {
      return Response.json({ title: "Bad Request", detail: "no code" }, { status: 400 });
    }
    try {
      return Response.json({ status: "ok", result: await run(env, code) });
    } catch (err) {
      const name = typeof err?.name === "string" ? err.name : "Error";
      const message = typeof err?.message === "string" ? err.message : String(err);
      return Response.json({ status: "error", error: { name, message } });
    }
  },
};
