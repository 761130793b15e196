import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app";
import type { Env } from "../../src/env";
import { API_KEY, call } from "./helpers";
import {
  ADMIN_TOKEN,
  admin,
  asTenant,
  createTenant,
  executeAs,
  uniqueTenantId,
} from "./tenant-helpers";

interface ProblemBody {
  type: string;
  status: number;
  detail: string;
  errors?: { path: string; message: string }[];
}

async function problem(res: Response): Promise<ProblemBody> {
  expect(res.headers.get("content-type")).toBe("application/problem+json");
  return (await res.json()) as ProblemBody;
}

/** A route that needs a tenant key and then answers 404: auth is the only thing it tests. */
/** A route that answers 404 once the key is checked (and the request counted). */
const AUTHED_404 = "/v1/sessions/ses_nosuchsession0000";

describe("tenant registry", () => {
  it("creates a tenant with a high-entropy key that is shown once and works at once", async () => {
    const id = uniqueTenantId("acme");
    const res = await admin("/tenants", { method: "POST", body: JSON.stringify({ id }) });
    expect(res.status).toBe(201);
    const created = (await res.json()) as { id: string; apiKey: string; keyId: string };
    expect(created.id).toBe(id);
    expect(created.apiKey).toMatch(/^ck_[A-Za-z0-9_-]{43}$/);
    expect(created.keyId).toMatch(/^key_[A-Za-z0-9_-]+$/);

    const read = await admin(`/tenants/${id}`);
    expect(read.status).toBe(200);
    const text = await read.text();
    expect(text).not.toContain(created.apiKey);
    expect(JSON.parse(text)).toEqual({
      id,
      policy: {},
      keys: [{ keyId: created.keyId, createdAt: expect.any(String) }],
      secrets: [],
    });

    const ran = await executeAs(created.apiKey, "6 * 7");
    expect(ran.status).toBe(200);
    expect(await ran.json()).toMatchObject({ status: "ok", result: 42 });
  });

  it("resolves each key to its own tenant and policy", async () => {
    const a = await createTenant("alpha", { limits: { burst: 7 } });
    const b = await createTenant("beta", { limits: { burst: 9 } });
    const resA = await asTenant(a.apiKey, AUTHED_404);
    const resB = await asTenant(b.apiKey, AUTHED_404);
    expect(resA.status).toBe(404);
    expect(resB.status).toBe(404);
    expect(resA.headers.get("ratelimit-policy")).toBe('"default";q=7;w=1');
    expect(resB.headers.get("ratelimit-policy")).toBe('"default";q=9;w=1');
  });

  it("rotates keys: a new key works beside the old one, and a revoked key gets 401 at once", async () => {
    const tenant = await createTenant("rotate");
    // Used once first, so this isolate has the key cached when it is revoked.
    expect((await asTenant(tenant.apiKey, AUTHED_404)).status).toBe(404);

    const added = await admin(`/tenants/${tenant.id}/keys`, { method: "POST" });
    expect(added.status).toBe(201);
    const second = (await added.json()) as { keyId: string; apiKey: string };
    expect(second.apiKey).not.toBe(tenant.apiKey);
    expect((await asTenant(second.apiKey, AUTHED_404)).status).toBe(404);
    const listed = (await (await admin(`/tenants/${tenant.id}`)).json()) as {
      keys: { keyId: string }[];
    };
    expect(listed.keys.map((k) => k.keyId).sort()).toEqual([tenant.keyId, second.keyId].sort());

    const revoked = await admin(`/tenants/${tenant.id}/keys/${tenant.keyId}`, { method: "DELETE" });
    expect(revoked.status).toBe(204);
    const refused = await asTenant(tenant.apiKey, AUTHED_404);
    expect(refused.status).toBe(401);
    expect((await problem(refused)).type).toMatch(/\/unauthorized$/);
    expect((await asTenant(second.apiKey, AUTHED_404)).status).toBe(404);

    const again = await admin(`/tenants/${tenant.id}/keys/${tenant.keyId}`, { method: "DELETE" });
    expect(again.status).toBe(404);
  });

  it("applies a replaced policy from the tenant's next request", async () => {
    const tenant = await createTenant("policy", { limits: { burst: 5 } });
    const before = await asTenant(tenant.apiKey, AUTHED_404);
    expect(before.headers.get("ratelimit-policy")).toBe('"default";q=5;w=1');
    const put = await admin(`/tenants/${tenant.id}/policy`, {
      method: "PUT",
      body: JSON.stringify({ egress: { allow: ["api.github.com"] }, limits: { burst: 11 } }),
    });
    expect(put.status).toBe(204);
    const after = await asTenant(tenant.apiKey, AUTHED_404);
    expect(after.headers.get("ratelimit-policy")).toBe('"default";q=11;w=1');
    const read = (await (await admin(`/tenants/${tenant.id}`)).json()) as { policy: unknown };
    expect(read.policy).toEqual({ egress: { allow: ["api.github.com"] }, limits: { burst: 11 } });
  });

  it("lists secret names but never a secret value", async () => {
    const tenant = await createTenant("secrets");
    const value = "ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const put = await admin(`/tenants/${tenant.id}/secrets/GITHUB_TOKEN`, {
      method: "PUT",
      body: JSON.stringify({ value, hosts: ["api.github.com"] }),
    });
    expect(put.status).toBe(204);
    const read = await admin(`/tenants/${tenant.id}`);
    const text = await read.text();
    expect(text).not.toContain(value);
    expect(JSON.parse(text)).toMatchObject({ secrets: ["GITHUB_TOKEN"] });
    expect(await env.TENANTS.getByName("registry").getSecrets(tenant.id)).toEqual({
      GITHUB_TOKEN: { value, hosts: ["api.github.com"], in: ["header"] },
    });
  });

  it("keeps where a secret may go, and reads one set without `in` as header-only", async () => {
    const tenant = await createTenant("placement");
    for (const [name, body] of [
      ["PLACED", { value: "v-placed-1234", hosts: ["api.example.com"], in: ["url", "body"] }],
      ["DEFAULT", { value: "v-default-1234", hosts: ["api.example.com"] }],
    ] as const) {
      const put = await admin(`/tenants/${tenant.id}/secrets/${name}`, {
        method: "PUT",
        body: JSON.stringify(body),
      });
      expect(put.status).toBe(204);
    }
    expect(await env.TENANTS.getByName("registry").getSecrets(tenant.id)).toEqual({
      PLACED: { value: "v-placed-1234", hosts: ["api.example.com"], in: ["url", "body"] },
      DEFAULT: { value: "v-default-1234", hosts: ["api.example.com"], in: ["header"] },
    });
  });

  it("answers 409 for a tenant id that exists", async () => {
    const tenant = await createTenant("dup");
    const res = await admin("/tenants", {
      method: "POST",
      body: JSON.stringify({ id: tenant.id }),
    });
    expect(res.status).toBe(409);
    expect((await problem(res)).detail).toContain(tenant.id);
  });

  it("answers 404 for a tenant that does not exist", async () => {
    const id = uniqueTenantId("ghost");
    expect((await admin(`/tenants/${id}`)).status).toBe(404);
    expect((await admin(`/tenants/${id}/keys`, { method: "POST" })).status).toBe(404);
    const put = await admin(`/tenants/${id}/policy`, { method: "PUT", body: "{}" });
    expect(put.status).toBe(404);
    expect((await problem(put)).type).toMatch(/\/not-found$/);
  });

  it("seeds the dev tenant from configuration exactly once", async () => {
    // Every request seeds if this isolate has not yet; the registry keeps one key regardless.
    expect((await call(AUTHED_404)).status).toBe(404);
    expect((await call(AUTHED_404)).status).toBe(404);
    const res = await admin("/tenants/dev");
    expect(res.status).toBe(200);
    const dev = (await res.json()) as { policy: unknown; keys: unknown[] };
    expect(dev.keys).toHaveLength(1);
    expect(JSON.stringify(dev)).not.toContain(API_KEY);
  });
});

describe("admin API document", () => {
  it("lists every admin route in the OpenAPI document", async () => {
    const res = await call("/openapi.json", { headers: { authorization: "" } });
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { paths: Record<string, Record<string, unknown>> };
    expect(Object.keys(doc.paths["/v1/admin/tenants"] ?? {})).toEqual(["post"]);
    expect(Object.keys(doc.paths["/v1/admin/tenants/{id}"] ?? {})).toEqual(["get"]);
    expect(Object.keys(doc.paths["/v1/admin/tenants/{id}/policy"] ?? {})).toEqual(["put"]);
    expect(Object.keys(doc.paths["/v1/admin/tenants/{id}/keys"] ?? {})).toEqual(["post"]);
    expect(Object.keys(doc.paths["/v1/admin/tenants/{id}/keys/{keyId}"] ?? {})).toEqual(["delete"]);
    expect(Object.keys(doc.paths["/v1/admin/tenants/{id}/secrets/{name}"] ?? {})).toEqual(["put"]);
  });
});

describe("admin input validation", () => {
  const cases: { name: string; path: string; method: string; body: unknown; field: string }[] = [
    {
      name: "a tenant id with capitals",
      path: "/tenants",
      method: "POST",
      body: { id: "Acme" },
      field: "id",
    },
    {
      name: "a tenant id longer than 63 characters",
      path: "/tenants",
      method: "POST",
      body: { id: "a".repeat(64) },
      field: "id",
    },
    {
      name: "a rate over the server cap",
      path: "/tenants",
      method: "POST",
      body: { id: "capped", policy: { limits: { rate: 10_001 } } },
      field: "policy.limits.rate",
    },
    {
      name: "an unknown policy field",
      path: "/tenants",
      method: "POST",
      body: { id: "unknown", policy: { limits: { speed: 1 } } },
      field: "policy.limits",
    },
    {
      name: "a concurrency over 256",
      path: "/tenants/dev/policy",
      method: "PUT",
      body: { limits: { concurrency: 257 } },
      field: "limits.concurrency",
    },
    {
      name: "a timeout over 300 s",
      path: "/tenants/dev/policy",
      method: "PUT",
      body: { limits: { timeoutMs: 300_001 } },
      field: "limits.timeoutMs",
    },
    {
      name: "a burst over 10000",
      path: "/tenants/dev/policy",
      method: "PUT",
      body: { limits: { burst: 10_001 } },
      field: "limits.burst",
    },
    {
      name: "a wall-time budget that is not positive",
      path: "/tenants/dev/policy",
      method: "PUT",
      body: { limits: { wallMsPerMinute: 0 } },
      field: "limits.wallMsPerMinute",
    },
    {
      name: "a memory limit over 4096 MB",
      path: "/tenants/dev/policy",
      method: "PUT",
      body: { limits: { memoryMb: 4097 } },
      field: "limits.memoryMb",
    },
    {
      name: "a memory limit under 16 MB",
      path: "/tenants/dev/policy",
      method: "PUT",
      body: { limits: { memoryMb: 8 } },
      field: "limits.memoryMb",
    },
    {
      name: "an egress rule of the wrong shape",
      path: "/tenants/dev/policy",
      method: "PUT",
      body: { egress: { allow: [{ hostname: "x.com" }] } },
      field: "egress.allow.0",
    },
    {
      name: "a secret without hosts",
      path: "/tenants/dev/secrets/TOKEN",
      method: "PUT",
      body: { value: "v" },
      field: "hosts",
    },
    {
      name: "a secret placement other than header, url or body",
      path: "/tenants/dev/secrets/TOKEN",
      method: "PUT",
      body: { value: "v", hosts: ["x.com"], in: ["cookie"] },
      field: "in.0",
    },
    {
      name: "a secret placement that lists no place",
      path: "/tenants/dev/secrets/TOKEN",
      method: "PUT",
      body: { value: "v", hosts: ["x.com"], in: [] },
      field: "in",
    },
    {
      name: "a secret placement that names a place twice",
      path: "/tenants/dev/secrets/TOKEN",
      method: "PUT",
      body: { value: "v", hosts: ["x.com"], in: ["url", "url"] },
      field: "in",
    },
    {
      name: "a secret name that is not an environment variable name",
      path: "/tenants/dev/secrets/not-a-name",
      method: "PUT",
      body: { value: "v", hosts: ["x.com"] },
      field: "name",
    },
    {
      name: "a tenant id in the path that starts with a dash",
      path: "/tenants/-dash",
      method: "GET",
      body: undefined,
      field: "id",
    },
  ];

  for (const c of cases) {
    it(`answers 400 naming the field for ${c.name}`, async () => {
      const res = await admin(c.path, {
        method: c.method,
        body: c.body === undefined ? undefined : JSON.stringify(c.body),
      });
      expect(res.status).toBe(400);
      const body = await problem(res);
      expect(body.errors?.map((e) => e.path)).toContain(c.field);
    });
  }

  it("answers 400 for a body that is not JSON", async () => {
    const res = await admin("/tenants", { method: "POST", body: "{not json" });
    expect(res.status).toBe(400);
    await problem(res);
  });

  it("answers 415 for a body that is not sent as JSON", async () => {
    const res = await admin("/tenants", {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: JSON.stringify({ id: uniqueTenantId("text") }),
    });
    expect(res.status).toBe(415);
  });
});

describe("admin guard", () => {
  it("answers 401 without an admin token", async () => {
    const res = await call("/v1/admin/tenants/dev", { headers: { authorization: "" } });
    expect(res.status).toBe(401);
    expect((await problem(res)).type).toMatch(/\/unauthorized$/);
  });

  it("answers 401 for a wrong admin token", async () => {
    const res = await admin("/tenants/dev", { headers: { authorization: "Bearer not-the-token" } });
    expect(res.status).toBe(401);
    await problem(res);
  });

  it("does not take a tenant API key as the admin token", async () => {
    const res = await admin("/tenants/dev", { headers: { authorization: `Bearer ${API_KEY}` } });
    expect(res.status).toBe(401);
  });

  it("does not take the admin token as a tenant API key", async () => {
    const res = await call(AUTHED_404, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(res.status).toBe(401);
  });

  it("answers 404 on every admin route when no admin token is configured", async () => {
    const app = createApp();
    const noToken: Env = { ...env, CORDON_ADMIN_TOKEN: undefined };
    const requests = [
      new Request("http://cordon.test/v1/admin/tenants", {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify({ id: "nobody" }),
      }),
      new Request("http://cordon.test/v1/admin/tenants/dev", {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      }),
      new Request("http://cordon.test/v1/admin/tenants/dev/keys", { method: "POST" }),
    ];
    for (const request of requests) {
      const res = await app.fetch(request, noToken);
      expect(res.status).toBe(404);
      expect(res.headers.get("content-type")).toBe("application/problem+json");
    }
  });
});

describe("per-tenant host names", () => {
  const app = createApp();
  const withBaseHost: Env = { ...env, CORDON_BASE_HOST: "cordon.test" };
  const get = (host: string, apiKey: string) =>
    app.fetch(
      new Request(`http://${host}${AUTHED_404}`, {
        headers: { authorization: `Bearer ${apiKey}` },
      }),
      withBaseHost,
    );

  it("accepts a tenant's key on that tenant's host", async () => {
    const tenant = await createTenant("hosted");
    expect((await get(`${tenant.id}.cordon.test`, tenant.apiKey)).status).toBe(404);
  });

  it("answers a request served without an execution context, which then starts a log batch", async () => {
    const tenant = await createTenant("nocontext");
    // Past the request log's 100 ms batch window, this request is the first of a new batch.
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect((await get(`${tenant.id}.cordon.test`, tenant.apiKey)).status).toBe(404);
  });

  it("answers 401 for another tenant's key on a tenant's host", async () => {
    const owner = await createTenant("owner");
    const other = await createTenant("other");
    const res = await get(`${owner.id}.cordon.test`, other.apiKey);
    expect(res.status).toBe(401);
  });

  it("accepts any tenant's key on the base host", async () => {
    const tenant = await createTenant("base");
    expect((await get("cordon.test", tenant.apiKey)).status).toBe(404);
  });
});
