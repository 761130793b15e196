import { describe, expect, it } from "vitest";
import { API_KEY, call } from "./helpers";
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

/** `depth` arrays nested in one another, built without recursion. */
function nested(depth: number): unknown {
  let value: unknown = 0;
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

/** The same as JSON text, so a test never serializes a deep value with the runtime's stack. */
const nestedJson = (depth: number) => `${"[".repeat(depth)}0${"]".repeat(depth)}`;

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

  it.each([
    ["application/vnd.mcp+json", 200, "application/json"],
    ["application/json ; charset=utf-8", 200, "application/json"],
    ["text/plain", 415, "application/problem+json"],
  ])("answers an MCP request sent as %s like any other route", async (type, status, answer) => {
    const res = await call("/mcp", {
      method: "POST",
      headers: { "content-type": type, accept: "application/json, text/event-stream" },
      body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}',
    });
    expect(res.status, await res.clone().text()).toBe(status);
    expect(res.headers.get("content-type")).toBe(answer);
  });

  it("answers 415 for a non-JSON type on a request whose body is empty", async () => {
    const res = await call("/v1/execute", {
      method: "POST",
      headers: { "content-type": "text/plain" },
    });
    await problem(res, 415);
  });
});

describe("deeply nested input", () => {
  it("runs input nested as deep as the limit allows", async () => {
    const res = await post(
      "/v1/execute",
      JSON.stringify({
        code: "let d = 0; for (let v = input; Array.isArray(v); v = v[0]) d++; d",
        input: nested(100),
      }),
      "application/json",
    );
    expect(res.status, await res.clone().text()).toBe(200);
    expect(await res.json()).toMatchObject({ status: "ok", result: 100 });
  });

  it.each([101, 10_000, 200_000])(
    "answers 400 naming the limit for input %i deep",
    async (depth) => {
      const res = await post(
        "/v1/execute",
        `{"code":"1","input":${nestedJson(depth)}}`,
        "application/json",
      );
      const body = await problem(res, 400);
      expect(body.detail).toContain("at most 100 levels deep");
      expect(body.errors?.[0]?.path).toBe("input");
    },
  );

  it("answers 400 for input 10,000 deep in a session", async () => {
    const created = await post("/v1/sessions", "{}", "application/json");
    const { sessionId } = (await created.json()) as { sessionId: string };
    const res = await post(
      `/v1/sessions/${sessionId}/execute`,
      `{"code":"1","input":${nestedJson(10_000)}}`,
      "application/json",
    );
    await problem(res, 400);
  });

  it("answers 400 for deeply nested objects as well as arrays", async () => {
    const deep = `${'{"a":'.repeat(10_000)}0${"}".repeat(10_000)}`;
    const res = await post("/v1/execute", `{"code":"1","input":${deep}}`, "application/json");
    await problem(res, 400);
  });

  it("answers 400 for a deep value in a field that expects something else", async () => {
    for (const [path, body] of [
      ["/v1/execute", `{"code":${nestedJson(10_000)}}`],
      ["/v1/execute", `{"code":"1","egress":${nestedJson(10_000)}}`],
      ["/v1/execute", nestedJson(10_000)],
      ["/v1/sessions", `{"egress":{"allow":${nestedJson(10_000)}}}`],
    ] as const) {
      await problem(await post(path, body, "application/json"), 400);
    }
  });

  it("answers 400 for a deep tenant policy", async () => {
    const res = await admin("/tenants", {
      method: "POST",
      body: `{"id":"deep-${crypto.randomUUID().slice(0, 8)}","policy":${nestedJson(10_000)}}`,
    });
    await problem(res, 400);
  });

  it("answers a deep MCP execute input as a tool error, not a 5xx", async () => {
    const res = await call("/mcp", {
      method: "POST",
      headers: {
        authorization: `Bearer ${API_KEY}`,
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
      },
      body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"execute","arguments":{"code":"1","input":${nestedJson(10_000)}}}}`,
    });
    const text = await res.text();
    expect(res.status, text).toBeLessThan(500);
    const message = JSON.parse(text) as {
      result?: { isError?: boolean; content: { text: string }[] };
      error?: { message: string };
    };
    const said = message.result?.isError
      ? message.result.content.map((c) => c.text).join("\n")
      : (message.error?.message ?? "");
    expect(said).toContain("at most 100 levels deep");
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
