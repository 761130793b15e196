import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call } from "./helpers";
import { createTenant } from "./tenant-helpers";

/**
 * Takes the registry's `tables` away for the length of `body`, as an outage would: every read of
 * them fails inside the real registry object. The order of the tests matters here: this isolate
 * fetches the session signing key once, so the first test must find it not fetched yet.
 */
async function whileRegistryDown(tables: string[], body: () => Promise<void>): Promise<void> {
  const rename = (from: (t: string) => string, to: (t: string) => string) =>
    runInDurableObject(env.TENANTS.getByName("registry"), (_instance, state) => {
      for (const table of tables) {
        state.storage.sql.exec(`ALTER TABLE ${from(table)} RENAME TO ${to(table)}`);
      }
    });
  await rename(
    (t) => t,
    (t) => `${t}_down`,
  );
  try {
    await body();
  } finally {
    await rename(
      (t) => `${t}_down`,
      (t) => t,
    );
  }
}

async function expectUnavailable(res: Response): Promise<void> {
  expect(res.status).toBe(503);
  expect(res.headers.get("content-type")).toBe("application/problem+json");
  expect(res.headers.get("retry-after")).toMatch(/^[1-9]\d*$/);
  const body = (await res.json()) as { type: string; detail: string };
  expect(body.type).toMatch(/\/service-unavailable$/);
  expect(body.detail).toMatch(/registry/);
}

/** A token of the right shape whose signature this isolate cannot check without the registry. */
const wellFormedToken = `cst_${btoa(JSON.stringify({ tenant: "dev", session: "ses_aaaaaaaaaaaaaaaaaaaa", exp: Date.now() + 60_000 })).replace(/=+$/, "")}.${"A".repeat(42)}A`;

describe("a tenant registry that cannot answer", () => {
  it("answers a session token 503 with Retry-After, not 401, when the signing key cannot be read", async () => {
    await whileRegistryDown(["meta"], async () => {
      const res = await call("/v1/sessions/ses_aaaaaaaaaaaaaaaaaaaa", {
        headers: { authorization: `Bearer ${wellFormedToken}` },
      });
      await expectUnavailable(res);
    });
    // Once it is back, the same token is checked and refused as the forgery it is.
    const after = await call("/v1/sessions/ses_aaaaaaaaaaaaaaaaaaaa", {
      headers: { authorization: `Bearer ${wellFormedToken}` },
    });
    expect(after.status).toBe(401);
  });

  it("answers API keys 503 with Retry-After while the dev tenant cannot be seeded or a key resolved", async () => {
    await whileRegistryDown(["tenants"], async () => {
      await expectUnavailable(await call("/v1/sessions/ses_aaaaaaaaaaaaaaaaaaaa"));
    });
    expect((await call("/v1/sessions/ses_aaaaaaaaaaaaaaaaaaaa")).status).toBe(404);
    const tenant = await createTenant("outage");
    await whileRegistryDown(["tenants"], async () => {
      await expectUnavailable(
        await call("/v1/sessions/ses_aaaaaaaaaaaaaaaaaaaa", {
          headers: { authorization: `Bearer ${tenant.apiKey}` },
        }),
      );
    });
    const back = await call("/v1/sessions/ses_aaaaaaaaaaaaaaaaaaaa", {
      headers: { authorization: `Bearer ${tenant.apiKey}` },
    });
    expect(back.status).toBe(404);
  });

  it("answers a session token 503 when its tenant's policy cannot be read", async () => {
    const created = await call("/v1/sessions", { method: "POST" });
    const { sessionId, token } = (await created.json()) as { sessionId: string; token: string };
    const withToken = () =>
      call(`/v1/sessions/${sessionId}`, { headers: { authorization: `Bearer ${token}` } });
    expect((await withToken()).status).toBe(200);
    // Past the second this isolate trusts what the registry said of a tenant.
    await new Promise((r) => setTimeout(r, 1_100));
    await whileRegistryDown(["tenants"], async () => {
      await expectUnavailable(await withToken());
    });
    expect((await withToken()).status).toBe(200);
  });
});
