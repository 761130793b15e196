import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
// @ts-expect-error: the build script is plain ESM JavaScript without type declarations.
import { buildPlayground } from "./host/build-playground.mjs";

// The worker imports the playground's bundle (GET /), which wrangler builds before its own
// bundles; worker tests run from the source, so they build it here and need no `npm run build`.
buildPlayground();

export const TEST_API_KEY = "test-dev-key-0123456789";
export const TEST_ADMIN_TOKEN = "test-admin-token-0123456789";
/** The dev tenant's limits in tests: high enough that only the rate-limit tests meet them. */
export const TEST_DEV_POLICY = JSON.stringify({
  limits: { rate: 10_000, burst: 10_000, concurrency: 256 },
});

export default defineConfig({
  test: {
    projects: [
      {
        plugins: [
          cloudflareTest({
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              bindings: {
                CORDON_DEV_API_KEY: TEST_API_KEY,
                CORDON_ADMIN_TOKEN: TEST_ADMIN_TOKEN,
                CORDON_DEV_POLICY: TEST_DEV_POLICY,
                // No worker test reaches the public registry: one that needs packages names the
                // fixture's registry itself (test/worker/registry.ts).
                CORDON_NPM_REGISTRY: "http://127.0.0.1:9/",
                // Python sessions in different tests take their turns seconds apart: each gets a
                // kept interpreter, ending the last test's (docs/python.md, Sessions).
                CORDON_PYTHON_KEEP_SECONDS: "0",
              },
              // The package cache's R2 store (src/packages/store.ts) is tested on this bucket.
              r2Buckets: ["PACKAGES_TEST_BUCKET"],
            },
          }),
          // The Python harness is shipped as text (a wrangler rule, which the pool applies when
          // the worker imports it); vite's import analysis must not read it as JavaScript first.
          {
            name: "cordon-python-text",
            enforce: "pre",
            transform: (code, id) =>
              id.endsWith(".guest.py") ? `export default ${JSON.stringify(code)};` : undefined,
          },
        ],
        // As wrangler.toml's [alias]: the JavaScript build, not the one that compiles WebAssembly.
        resolve: {
          alias: { "cjs-module-lexer": "./node_modules/cjs-module-lexer/lexer.js" },
        },
        // The first test of a file also pays for loading the worker's modules.
        test: {
          name: "worker",
          include: ["test/worker/**/*.test.ts"],
          testTimeout: 30_000,
          // The guest modules the worker ships are built from their sources first; the npm
          // registry fixture serves on loopback (test/e2e/registry.ts).
          globalSetup: ["./host/guest.mjs", "./test/e2e/registry-setup.ts"],
        },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          environment: "node",
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
