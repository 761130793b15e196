import { describe, expect, it } from "vitest";
import { call } from "./helpers";
import { admin, createTenant } from "./tenant-helpers";

interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: { path: string; message: string }[];
}

/** Reads an answer that must be a problem with the given status. */
async function problem(res: Response, status: number): Promise<ProblemBody> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  expect(res.headers.get("content-type")).toBe("application/problem+json");
  const body = JSON.parse(text) as ProblemBody;
  expect(body.status).toBe(status);
  return body;
}

const post = (path: string, body: string, contentType: string) =>
  call(path, { method: "POST", headers: { "content-type": contentType }, body });

describe("JSON content types", () => {
  it.each([
    "application/json",
    "Application/JSON",
    "application/json;charset=utf-8",
    "application/json; charset=UTF-8",
    "application/json ; charset=utf-8",
    "application/json; foo",
    "application/json;",
    "application/vnd.cordon.v1+json",
    "application/merge-patch+json; charset=utf-8",
  ])("runs code sent as %s", async (type) => {
    const res = await post("/v1/execute", JSON.stringify({ code: "1 + 1" }), type);
    expect(res.status, await res.clone().text()).toBe(200);
    expect(await res.json()).toMatchObject({ status: "ok", result: 2 });
  });

  it("creates a session from options sent with a parameter after a space", async () => {
    const res = await post("/v1/sessions", '{"ttlSeconds":60}', "application/json ; charset=utf-8");
    expect(res.status, await res.clone().text()).toBe(201);
  });

  it("creates a tenant from a body sent with an odd but valid JSON type", async () => {
    const id = `ct-${crypto.randomUUID().slice(0, 8)}`;
    const res = await admin("/tenants", {
      method: "POST",
      headers: { "content-type": "application/json; foo" },
      body: JSON.stringify({ id }),
    });
    expect(res.status, await res.clone().text()).toBe(201);
  });

  it.each([
    "text/plain",
    "application/jsonx",
    "application/json-seq",
    "text/json",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "json",
    "",
  ])("answers 415 problem+json for a body sent as %j", async (type) => {
    const res = await call("/v1/execute", {
      method: "POST",
      headers: type === "" ? {} : { "content-type": type },
      body: JSON.stringify({ code: "1" }),
    });
    const body = await problem(res, 415);
    expect(body.type).toBe("https://cordon.dev/problems/unsupported-media-type");
  });

  it("answers 415 for a non-JSON type on a request whose body is empty", async () => {
    const res = await call("/v1/execute", {
      method: "POST",
      headers: { "content-type": "text/plain" },
    });
    await problem(res, 415);
  });
});

describe("HTTP errors raised by the framework", () => {
  it("answers a body over the size limit as 413 problem+json", async () => {
    const res = await post(
      "/v1/execute",
      JSON.stringify({ code: "x".repeat(3 * 1024 * 1024 + 1) }),
      "application/json",
    );
    await problem(res, 413);
  });

  it("answers a tenant route with a tenant's own key the same way for odd types", async () => {
    const tenant = await createTenant("ct");
    const res = await call("/v1/execute", {
      method: "POST",
      headers: {
        authorization: `Bearer ${tenant.apiKey}`,
        "content-type": "application/json ; charset=utf-8",
      },
      body: JSON.stringify({ code: "'hi'" }),
    });
    expect(res.status, await res.clone().text()).toBe(200);
  });
});
