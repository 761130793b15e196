import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { INCIDENTS } from "../../src/config";
import { codeHash, QUARANTINE_REFRESH_MS, recordIncident } from "../../src/incidents";
import { admin, createTenant, executeAs } from "./tenant-helpers";

const incidents = () => env.INCIDENTS.getByName(INCIDENTS);

/** Unique code, so no other test's quarantine can touch it. */
const uniqueCode = (label: string) => `/* ${label} ${crypto.randomUUID()} */ 6 * 7`;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("quarantine is kept per tenant", () => {
  it("refuses the code to the tenant whose run took a runtime down, and runs it for another", async () => {
    const a = await createTenant("quarantined");
    const b = await createTenant("neighbour");
    const code = uniqueCode("per-tenant");
    const hash = await codeHash("javascript", code);
    await recordIncident(env, a.id, hash, "killed: hung: test", true);

    const other = await executeAs(b.apiKey, code);
    expect(other.status).toBe(200);
    expect(await other.json()).toMatchObject({ status: "ok", result: 42 });

    const refused = await executeAs(a.apiKey, code);
    expect(refused.status).toBe(403);
    expect(refused.headers.get("content-type")).toBe("application/problem+json");
    const problem = (await refused.json()) as { type: string; detail: string; codeHash: string };
    expect(problem.type).toMatch(/\/code-quarantined$/);
    expect(problem.detail).toMatch(/for this tenant/);
    expect(problem.codeHash).toBe(hash);

    const listed = (await (await admin("/incidents")).json()) as {
      incidents: { tenant: string; codeHash: string; quarantinedUntil?: string }[];
    };
    const mine = listed.incidents.filter((i) => i.codeHash === hash);
    expect(mine).toHaveLength(1);
    expect(mine[0]?.tenant).toBe(a.id);
    expect(mine[0]?.quarantinedUntil).toEqual(expect.any(String));
  });

  it("learns of a quarantine another control-plane isolate recorded, within its refresh interval", async () => {
    const a = await createTenant("elsewhere");
    const code = uniqueCode("refresh");
    // Load this isolate's copy of the list first, so only a refresh can bring the new entry.
    expect((await executeAs(a.apiKey, code)).status).toBe(200);
    await incidents().record(
      a.id,
      await codeHash("javascript", code),
      "killed: hung: test",
      60_000,
    );
    await sleep(QUARANTINE_REFRESH_MS + 200);
    expect((await executeAs(a.apiKey, code)).status).toBe(403);
  });

  it("runs the code again once its quarantine has expired", async () => {
    const a = await createTenant("expiring");
    const code = uniqueCode("expiry");
    const ms = QUARANTINE_REFRESH_MS + 2_000;
    await incidents().record(a.id, await codeHash("javascript", code), "killed: hung: test", ms);
    await sleep(QUARANTINE_REFRESH_MS + 200);
    expect((await executeAs(a.apiKey, code)).status).toBe(403);
    await sleep(2_000);
    expect((await executeAs(a.apiKey, code)).status).toBe(200);
  });
});
