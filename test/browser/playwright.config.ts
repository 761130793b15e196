import { defineConfig } from "@playwright/test";

/** Debian's Chromium (.ci/run installs it); Playwright downloads no browser of its own here. */
const chromium = process.env.CORDON_CHROMIUM ?? "/usr/bin/chromium";

export default defineConfig({
  testDir: ".",
  testMatch: "**/*.spec.ts",
  // One `npm start` server per worker, and this machine is small: one worker.
  workers: 1,
  timeout: 60_000,
  expect: { timeout: 15_000 },
  reporter: [["list"]],
  // Screenshots of every test, kept as artifacts (git-ignored).
  outputDir: "../../test-results/browser",
  use: {
    browserName: "chromium",
    launchOptions: { executablePath: chromium },
    screenshot: "on",
    actionTimeout: 15_000,
    navigationTimeout: 15_000,
  },
});
