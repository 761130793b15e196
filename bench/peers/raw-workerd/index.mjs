// Peer: raw workerd serving worker.js with a Worker Loader binding. Writes its capnp config into
// a temp dir at start (capnp resolves `embed` paths relative to the config file) and runs
// `workerd serve --experimental` on HOST:PORT until SIGTERM/SIGINT.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "../../..");
const host = process.env.HOST || "127.0.0.1";
const port = process.env.PORT || "8788";

// The guests get the compatibility date Cordon's worker has, so both run the same runtime rules.
const wranglerToml = readFileSync(join(root, "wrangler.toml"), "utf8");
const compatibilityDate = /^compatibility_date\s*=\s*"([^"]+)"/m.exec(wranglerToml)?.[1];
if (!compatibilityDate) throw new Error("no compatibility_date in wrangler.toml");

const dir = mkdtempSync(join(tmpdir(), "cordon-bench-raw-workerd-"));
const q = JSON.stringify;
const configPath = join(dir, "workerd.capnp");
writeFileSync(
  configPath,
  `using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .mainWorker),
    # The fetch workload's upstream is on loopback, which workerd's default network refuses.
    (name = "internet", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [ (name = "http", address = ${q(`${host}:${port}`)}, http = (), service = "main") ],
);

const mainWorker :Workerd.Worker = (
  modules = [ (name = "worker.js", esModule = embed ${q(relative(dir, join(here, "worker.js")))}) ],
  compatibilityDate = ${q(compatibilityDate)},
  bindings = [
    (name = "LOADER", workerLoader = ()),
    (name = "INTERNET", service = "internet"),
    (name = "COMPATIBILITY_DATE", text = ${q(compatibilityDate)}),
  ],
  globalOutbound = "internet",
);
`,
);

const workerd = spawn(
  join(root, "node_modules/workerd/bin/workerd"),
  ["serve", "--experimental", configPath],
  { stdio: ["ignore", "inherit", "inherit"] },
);
console.log(`raw-workerd: listening on http://${host}:${port}`);

let stopping = false;
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    stopping = true;
    workerd.kill("SIGTERM");
  });
}
workerd.on("exit", (code, signal) => {
  rmSync(dir, { recursive: true, force: true });
  process.exit(stopping ? 0 : (code ?? (signal ? 1 : 0)));
});
