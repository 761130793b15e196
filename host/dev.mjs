// `npm run dev`: `wrangler dev` with the same configuration variables `npm start` reads, and V8's
// linear regex fallback so a runaway regular expression cannot freeze the dev server.
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { PASSED_ENV } from "./config.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const configured = Object.fromEntries(
  PASSED_ENV.filter((name) => process.env[name]).map((name) => [name, process.env[name]]),
);
// wrangler dev turns its process environment into bindings when asked to, so the child gets only
// what it needs to run plus Cordon's own variables: nothing else of the shell reaches the worker.
const env = {
  PATH: process.env.PATH ?? "",
  HOME: process.env.HOME ?? "",
  ...(process.env.TMPDIR ? { TMPDIR: process.env.TMPDIR } : {}),
  ...configured,
  CLOUDFLARE_INCLUDE_PROCESS_ENV: "true",
  WRANGLER_SEND_METRICS: "false",
  MINIFLARE_WORKERD_V8_FLAGS: "--enable-experimental-regexp-engine-on-excessive-backtracks",
};
// PORT and HOST mean what they mean to `npm start`; flags given on the command line win.
const args = process.argv.slice(2);
if (process.env.PORT && !args.includes("--port")) args.push("--port", process.env.PORT);
if (process.env.HOST && !args.includes("--ip")) args.push("--ip", process.env.HOST);
const wrangler = spawn(
  process.execPath,
  [join(root, "node_modules/wrangler/bin/wrangler.js"), "dev", ...args],
  { cwd: root, env, stdio: "inherit" },
);
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => wrangler.kill(signal));
wrangler.on("exit", (code) => process.exit(code ?? 0));
