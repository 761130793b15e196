// `npm start`: bundles the worker and serves it from workerd directly (no wrangler in the
// request path): a control-plane process and a pool of runner processes, under a supervisor.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { unstable_readConfig } from "wrangler";
import { build } from "./build.mjs";
import { controlPlaneConfig, pythonPackagesDir, runnerConfig } from "./config.mjs";
import {
  namespacesAvailable,
  Supervisor,
  sandboxLayers,
  workerdExecutable,
} from "./supervisor.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const distDir = join(root, "dist");
const host = process.env.HOST || "127.0.0.1";
const port = process.env.PORT || "8787";
const dataDir = resolve(process.env.CORDON_DATA_DIR || ".cordon");
// One runner more than cores: heavy setup work (Python restores, large compiles) may use every core
// while one runner stays free of it for everyone else's runs (docs/self-hosting.md).
const runners = Number(process.env.CORDON_RUNNERS || Math.max(2, availableParallelism() + 1));
const maxRssBytes = Number(process.env.CORDON_RUNNER_MAX_RSS_MB || 1536) * 2 ** 20;
const log = (line) => console.log(`cordon: ${line}`);
// V8 flags for the runners only (docs/self-hosting.md says why none are set by default).
const v8Flags = (process.env.CORDON_RUNNER_V8_FLAGS ?? "").split(/\s+/).filter(Boolean);

if (!process.argv.includes("--no-build")) build();

if (!process.env.CORDON_DEV_API_KEY) {
  log(
    "CORDON_DEV_API_KEY is not set, so no API key is accepted yet.\n" +
      "        Set one to create the dev tenant, e.g.  CORDON_DEV_API_KEY=$(openssl rand -hex 24) npm start",
  );
}

const forcedProcess = process.env.CORDON_ISOLATION === "process";
const namespaces = !forcedProcess && namespacesAvailable();
if (!namespaces) {
  log(
    forcedProcess
      ? "CORDON_ISOLATION=process: runners run as plain processes, without namespaces"
      : "bubblewrap (bwrap) is not usable here: runners run as plain processes, without namespaces",
  );
}
const isolation = namespaces ? "namespaces" : "process";

mkdirSync(join(dataDir, "do"), { recursive: true });
mkdirSync(join(dataDir, "packages"), { recursive: true });
// Unix socket paths are limited to about 100 bytes, so the sockets live in a short temp dir.
const sockDir = mkdtempSync(join(tmpdir(), "cordon-"));

// wrangler.toml stays the one source of bindings and Durable Object classes for every way to run.
const wrangler = unstable_readConfig({ config: join(root, "wrangler.toml") });
const sqliteClasses = new Set(wrangler.migrations.flatMap((m) => m.new_sqlite_classes ?? []));
const durableObjects = wrangler.durable_objects.bindings.map((b) => ({
  binding: b.name,
  className: b.class_name,
  sqlite: sqliteClasses.has(b.class_name),
}));
const compatibilityDate = wrangler.compatibility_date;

const supervisor = new Supervisor({
  distDir,
  workerd: workerdExecutable(),
  sockDir,
  namespaces,
  maxRssBytes,
  log,
  readOnly: pythonPackagesDir() ? [pythonPackagesDir()] : [],
});
if (namespaces) {
  // bwrap works here, so a failure is the sandbox's own (a library it does not show): say so
  // rather than run runners with less isolation than the operator expects.
  const problem = supervisor.sandboxProblem();
  if (problem) {
    log(
      `workerd does not run in the runner sandbox: ${problem}\n` +
        "        Set CORDON_ISOLATION=process to run runners as plain processes.",
    );
    rmSync(sockDir, { recursive: true, force: true });
    process.exit(1);
  }
}
const sandbox = namespaces ? sandboxLayers() : [];
await supervisor.listen();

for (let index = 0; index < runners; index++) {
  const config = join(sockDir, `runner-${index}.capnp`);
  writeFileSync(
    config,
    runnerConfig({ distDir, configDir: sockDir, sockDir, index, compatibilityDate, v8Flags }),
  );
  supervisor.startRunner(index, config);
}

const controlConfig = join(sockDir, "control.capnp");
writeFileSync(
  controlConfig,
  controlPlaneConfig({
    distDir,
    configDir: sockDir,
    dataDir,
    address: `${host}:${port}`,
    sockDir,
    runners,
    isolation,
    sandbox,
    compatibilityDate,
    durableObjects,
  }),
);
const stopped = supervisor.startControlPlane(controlConfig);
supervisor.watchMemory();
log(
  `listening on http://${host}:${port} (${runners} runners, isolation: ${sandbox.length > 0 ? sandbox.join(", ") : isolation}, data in ${dataDir})`,
);
if (process.env.CORDON_DEV_API_KEY) {
  const shown = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
  const page = `http://${shown}:${port}/`;
  // As notebook servers print theirs, to the person at the terminal: the page stores the key and
  // drops it from the address bar. Output that is not a terminal (a service manager's journal, a
  // log file) is kept free of the key.
  log(
    process.stdout.isTTY
      ? `playground for the dev tenant: ${page}#key=${encodeURIComponent(process.env.CORDON_DEV_API_KEY)}`
      : `playground: ${page} (the link with the dev key is printed on a terminal only)`,
  );
}

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  void supervisor.stop().then(() => process.exit(0));
};
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, stop);
// `npm start` execs this process, so npm's SIGTERM reaches it; a parent that dies without passing
// a signal on (SIGKILL, a shell in between) orphans it instead: stop with the parent.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) stop();
}, 1_000).unref();
const code = await stopped;
if (!stopping) {
  await supervisor.stop();
  process.exit(code);
}
