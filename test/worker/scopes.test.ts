import { describe, expect, it } from "vitest";
import { call } from "./helpers";
import { admin, asTenant, createTenant } from "./tenant-helpers";

/** The `r` (remaining requests) of an answer's `RateLimit` header. */
function remaining(res: Response): number {
  const match = /;r=(\d+);/.exec(res.headers.get("ratelimit") ?? "");
  return match ? Number(match[1]) : Number.NaN;
}

describe("a resource's routes", () => {
  it("count a request none of them answers once, as any other request", async () => {
    const tenant = await createTenant("scoped", { limits: { rate: 0.001, burst: 6 } });
    const session = "ses_nosuchsession0000";
    const answers = [
      await asTenant(tenant.apiKey, "/v1/execute"),
      await asTenant(tenant.apiKey, "/v1/execute/more"),
      await asTenant(tenant.apiKey, "/v1/sessions"),
      await asTenant(tenant.apiKey, `/v1/sessions/${session}/nope`, { method: "POST" }),
      await asTenant(tenant.apiKey, `/v1/sessions/${session}/files/a.txt`, { method: "POST" }),
      await asTenant(tenant.apiKey, "/v1/no-such-route"),
    ];
    expect(answers.map((res) => res.status)).toEqual([405, 404, 405, 404, 405, 404]);
    expect(answers.map(remaining)).toEqual([5, 4, 3, 2, 1, 0]);
  });

  it("answer the admin token on an admin path they lack with 404 or 405, never a tenant 401", async () => {
    const missing = await admin("/nope");
    expect(missing.status).toBe(404);
    expect(missing.headers.get("content-type")).toBe("application/problem+json");
    const wrongMethod = await admin("/tenants");
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get("allow")).toBe("POST");
    expect(wrongMethod.headers.get("ratelimit")).toBeNull();
  });
});

describe("a session token on its session's files", () => {
  it("reads and writes them, and gets another session's files as the same 404", async () => {
    const created = async () => {
      const res = await call("/v1/sessions", { method: "POST" });
      return (await res.json()) as { sessionId: string; token: string };
    };
    const own = await created();
    const other = await created();
    const withToken = { authorization: `Bearer ${own.token}` };
    const put = await call(`/v1/sessions/${own.sessionId}/files/notes.txt`, {
      method: "PUT",
      headers: { ...withToken, "content-type": "application/octet-stream" },
      body: "hi",
    });
    expect(put.status).toBe(204);
    const listed = await call(`/v1/sessions/${own.sessionId}/files`, { headers: withToken });
    expect(listed.status).toBe(200);
    expect(((await listed.json()) as { files: { path: string }[] }).files).toMatchObject([
      { path: "notes.txt" },
    ]);
    const elsewhere = await call(`/v1/sessions/${other.sessionId}/files/notes.txt`, {
      headers: withToken,
    });
    expect(elsewhere.status).toBe(404);
    expect(((await elsewhere.json()) as { detail: string }).detail).toBe(
      `no session ${other.sessionId}`,
    );
    const outside = await call("/v1/no-such-route", { headers: withToken });
    expect(outside.status).toBe(401);
  });
});
