// Builds the guest modules of JavaScript isolates (src/sandbox/runtimes/javascript/guest, type-
// checked TypeScript) into a few minified modules, which the worker ships as text (wrangler.toml's
// Text rule) and puts into each isolate's module map by the names below: for a one-shot isolate
// the main module, the harness and the stand-ins; for a reused one also `ses`'s repairs. A module
// that guest code imports by name (a stand-in) or that must be evaluated before another (ses's
// repairs before the harness, the harness before the user's module) is a module of its own; all
// else is bundled into the harness. `npm run build`, `npm run dev` and `wrangler deploy` (its
// custom build) and the worker tests (vitest's global setup) run it first.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const runtime = join(root, "src/sandbox/runtimes/javascript");
const source = join(runtime, "guest");
export const GUEST_OUT = join(runtime, "built");

/** Guest sources that are modules of their own in an isolate, by their name there. */
const ISOLATE_NAMES = new Map([
  ["core.ts", "cordon.js"],
  ["core-oneshot.ts", "cordon.js"],
  ["core-reused.ts", "cordon.js"],
  ["repair.ts", "repair.js"],
  ["stand-ins/workers.ts", "cloudflare-workers.js"],
  ["stand-ins/sockets.ts", "cloudflare:sockets"],
  ["stand-ins/module.ts", "node-module.js"],
]);

/** What is built: output file, entry, and the entry's own name in the isolate. */
const ENTRIES = [
  ["main-oneshot", "main-oneshot.ts", "harness.js"],
  ["main-reused", "main-reused.ts", "harness.js"],
  ["core-oneshot", "core-oneshot.ts", "cordon.js"],
  ["core-reused", "core-reused.ts", "cordon.js"],
  ["repair", "repair.ts", "repair.js"],
  ["workers", "stand-ins/workers.ts", "cloudflare-workers.js"],
  ["sockets", "stand-ins/sockets.ts", "cloudflare:sockets"],
  ["module", "stand-ins/module.ts", "node-module.js"],
];

/**
 * Imports of another isolate module become imports of its name there; so does a module's import
 * of itself (a stand-in registers its own namespace). `ses-lockdown` is ses's lockdown, bundled.
 */
function isolateModules(entry, own) {
  const entryPath = join(source, entry);
  return {
    name: "isolate-modules",
    setup(build) {
      build.onResolve({ filter: /^\.\.?\// }, ({ path, resolveDir }) => {
        const file = join(resolveDir, path.endsWith(".ts") ? path : `${path}.ts`);
        const name = ISOLATE_NAMES.get(file.slice(source.length + 1));
        if (name === undefined) return undefined;
        if (name !== own || file === entryPath) return { path: name, external: true };
        return undefined;
      });
      build.onResolve({ filter: /^ses-lockdown$/ }, () => ({ path: "ses", namespace: "ses" }));
      build.onLoad({ filter: /.*/, namespace: "ses" }, () => ({
        // The sloppy-mode check comes first, as in ses's own lockdown entry point.
        contents: [
          'import "./node_modules/ses/src/assert-sloppy-mode.js";',
          'export { repairIntrinsics } from "./node_modules/ses/src/lockdown.js";',
        ].join("\n"),
        resolveDir: root,
      }));
    },
  };
}

/** Builds every guest module; writes only those whose text changed (watchers see no churn). */
export async function buildGuest() {
  // esbuild comes with wrangler; its JS API, because its bin may be the native binary.
  const esbuild = createRequire(import.meta.url)("esbuild");
  const ses = JSON.parse(readFileSync(join(root, "node_modules/ses/package.json"), "utf8"));
  mkdirSync(GUEST_OUT, { recursive: true });
  await Promise.all(
    ENTRIES.map(async ([out, entry, own]) => {
      const result = await esbuild.build({
        absWorkingDir: root,
        entryPoints: [join(source, entry)],
        bundle: true,
        format: "esm",
        platform: "neutral",
        target: "esnext",
        // Whitespace and comments only for the guest's own code: minifying syntax or identifiers
        // renames or drops the names of functions guest code reaches (`fetch.name`,
        // `createRequire("/").name`). ses's lockdown is minified whole, as ses ships it.
        minifyWhitespace: true,
        ...(out === "repair" ? { minifySyntax: true, minifyIdentifiers: true } : {}),
        external: ["user.js", "cloudflare:*", "node:*"],
        plugins: [isolateModules(entry, own)],
        legalComments: "inline",
        banner: {
          js:
            out === "repair"
              ? `// Built by host/guest.mjs; includes ses ${ses.version} (${ses.license}, https://github.com/endojs/endo).`
              : "// Built by host/guest.mjs: do not edit.",
        },
        write: false,
        logLevel: "warning",
      });
      const file = join(GUEST_OUT, `${out}.guest.js`);
      const text = result.outputFiles[0].text;
      let before = "";
      try {
        before = readFileSync(file, "utf8");
      } catch {}
      if (text !== before) writeFileSync(file, text);
    }),
  );
}

/** vitest's global setup: the worker tests load the built modules. */
export async function setup() {
  await buildGuest();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await buildGuest();
