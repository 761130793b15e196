// `npm start`: bundles the worker and serves it from workerd directly (no wrangler in the request path).
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { unstable_readConfig } from "wrangler";
import { build } from "./build.mjs";
import { controlPlaneConfig } from "./config.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const host = process.env.HOST || "127.0.0.1";
const port = process.env.PORT || "8787";
const dataDir = resolve(process.env.CORDON_DATA_DIR || ".cordon");

if (!process.argv.includes("--no-build")) build();

if (!process.env.CORDON_DEV_API_KEY) {
  console.log(
    "cordon: CORDON_DEV_API_KEY is not set, so no API key is accepted yet.\n" +
      "        Set one to create the dev tenant, e.g.  CORDON_DEV_API_KEY=$(openssl rand -hex 24) npm start",
  );
}

mkdirSync(join(dataDir, "do"), { recursive: true });
// wrangler.toml stays the one source of bindings and Durable Object classes for every way to run.
const wrangler = unstable_readConfig({ config: join(root, "wrangler.toml") });
const sqliteClasses = new Set(wrangler.migrations.flatMap((m) => m.new_sqlite_classes ?? []));
const durableObjects = wrangler.durable_objects.bindings.map((b) => ({
  binding: b.name,
  className: b.class_name,
  sqlite: sqliteClasses.has(b.class_name),
}));
const configPath = join(dataDir, "workerd.capnp");
writeFileSync(
  configPath,
  controlPlaneConfig({
    distDir: join(root, "dist"),
    dataDir,
    address: `${host}:${port}`,
    compatibilityDate: wrangler.compatibility_date,
    durableObjects,
  }),
);

const workerd = spawn(
  join(root, "node_modules/workerd/bin/workerd"),
  ["serve", "--experimental", "--verbose", configPath],
  { stdio: ["ignore", "inherit", "inherit"] },
);
console.log(`cordon: listening on http://${host}:${port} (data in ${dataDir})`);

let stopping = false;
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    workerd.kill("SIGTERM");
  });
}
workerd.on("exit", (code, signal) => {
  process.exit(stopping ? 0 : (code ?? (signal ? 1 : 0)));
});
