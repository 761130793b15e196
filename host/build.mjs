// Bundles the worker with wrangler (the same bundle `wrangler deploy` uploads) into dist/.
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/**
 * Builds dist/index.js and its text modules (wrangler's custom build makes the guest modules
 * first: host/guest.mjs), then the client; exits the process on failure.
 */
export function build() {
  rmSync(join(root, "dist"), { recursive: true, force: true });
  const result = spawnSync(
    process.execPath,
    [
      join(root, "node_modules/wrangler/bin/wrangler.js"),
      "deploy",
      "--dry-run",
      "--outdir",
      "dist",
    ],
    { cwd: root, env: { ...process.env, WRANGLER_SEND_METRICS: "false" }, encoding: "utf8" },
  );
  if (result.status !== 0) {
    process.stderr.write(result.stdout + result.stderr);
    process.exit(result.status ?? 1);
  }
  buildClient();
}

/**
 * Builds the typed client (`cordon/client`, which bin/cordon.mjs uses): dist/client/index.js, one
 * ES module with every package left external, so a runtime import of zod would show (the client
 * imports only types), and its declarations under dist/client/types/.
 */
function buildClient() {
  // esbuild comes with wrangler; its JS API, because its bin may be the native binary.
  const esbuild = createRequire(import.meta.url)("esbuild");
  esbuild.buildSync({
    absWorkingDir: root,
    entryPoints: ["src/client/index.ts"],
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    packages: "external",
    sourcemap: true,
    logLevel: "warning",
    outfile: "dist/client/index.js",
  });
  const tsc = spawnSync(
    process.execPath,
    [join(root, "node_modules/typescript/bin/tsc"), "-p", "src/client/tsconfig.json"],
    { cwd: root, encoding: "utf8" },
  );
  if (tsc.status !== 0) {
    process.stderr.write(tsc.stdout + tsc.stderr);
    process.exit(tsc.status ?? 1);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) build();
