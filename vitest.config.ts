import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

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
              },
            },
          }),
        ],
        // The first test of a file also pays for loading the worker's modules.
        test: {
          name: "worker",
          include: ["test/worker/**/*.test.ts"],
          testTimeout: 30_000,
          // The guest modules the worker ships are built from their sources first.
          globalSetup: ["./host/guest.mjs"],
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
