// What a new user meets in the first hour: unknown paths, the OpenAPI document a generator reads,
// and what an MCP client learns from `initialize` and `tools/list`.
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { version } from "../../package.json";
import { call } from "./helpers";

const session = "/v1/sessions/ses_aaaaaaaaaaaaaaaaaaaa";

describe("a path no route has", () => {
  it("answers 404 without a key, before any auth", async () => {
    for (const path of ["/v1/health", `${session}/nothing`, "/nope"]) {
      const res = await exports.default.fetch(`http://cordon.test${path}`);
      expect(res.status, path).toBe(404);
      expect(res.headers.get("content-type")).toMatch(/^application\/problem\+json/);
      expect(await res.json()).toMatchObject({ detail: `no route for GET ${path}` });
    }
  });

  it("still asks for a key on the routes that exist", async () => {
    for (const path of ["/v1/sessions/ses_aaaaaaaaaaaaaaaaaaaa", `${session}/files/data/out.csv`]) {
      const res = await exports.default.fetch(`http://cordon.test${path}`);
      expect(res.status, path).toBe(401);
    }
  });
});

interface OpenApiDoc {
  servers?: { url: string }[];
  paths: Record<string, Record<string, { operationId?: string }>>;
}

describe("the OpenAPI document", () => {
  it("names every operation once, says where the server is, and uses only standard formats", async () => {
    const res = await exports.default.fetch("http://cordon.test/openapi.json");
    const text = await res.text();
    const doc = JSON.parse(text) as OpenApiDoc;
    const ids = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, op]) => op.operationId ?? `${method} ${path}: none`),
    );
    expect(ids.length).toBeGreaterThan(15);
    for (const id of ids) expect(id).toMatch(/^[a-z][A-Za-z]+$/);
    expect(new Set(ids).size).toBe(ids.length);
    expect(doc.servers).toEqual([{ url: "http://cordon.test" }]);
    const json = ["object", "array", "string", "number", "boolean", "null"];
    const schemas = (JSON.parse(text) as { components: { schemas: Record<string, Schema> } })
      .components.schemas;
    expect(schemas.ExecutionRequest?.properties?.input?.type).toEqual(json);
    expect(schemas.ExecutionResult?.properties?.result?.type).toEqual(json);
    const formats = new Set([...text.matchAll(/"format":"([^"]+)"/g)].map((m) => m[1]));
    for (const format of formats) expect(["binary", "int64", "date-time", "uri"]).toContain(format);
  });

  it("still refuses an egress path rule that does not start with /", async () => {
    const res = await call("/v1/execute", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ code: "1", egress: { allow: [{ host: "a.example", paths: ["x"] }] } }),
    });
    expect(res.status).toBe(400);
    expect(JSON.stringify(await res.json())).toContain("must start with /");
  });
});

/** One JSON-RPC call to `/mcp`. */
async function rpc(method: string, params: Record<string, unknown> = {}) {
  const res = await call("/mcp", {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { result: Record<string, unknown> }).result;
}

type Schema = { type?: unknown; format?: string; properties?: Record<string, Schema> };

/** Paths of the properties, at any depth, whose schema says nothing of their type. */
function untyped(schema: unknown, path = "$"): string[] {
  if (typeof schema !== "object" || schema === null) return [];
  const node = schema as Record<string, unknown>;
  const typed = ["type", "anyOf", "oneOf", "allOf", "$ref", "const", "enum"].some((k) => k in node);
  const found = typed ? [] : [path];
  for (const [name, child] of Object.entries(node.properties ?? {})) {
    found.push(...untyped(child, `${path}.${name}`));
  }
  if (node.items) found.push(...untyped(node.items, `${path}[]`));
  for (const key of ["anyOf", "oneOf", "allOf"]) {
    for (const [i, child] of ((node[key] as unknown[]) ?? []).entries()) {
      found.push(...untyped(child, `${path}|${i}`));
    }
  }
  return found;
}

describe("the MCP server", () => {
  it("names the package's version in serverInfo", async () => {
    const result = await rpc("initialize", {
      protocolVersion: "2025-06-18",
      capabilities: {},
      clientInfo: { name: "test", version: "1" },
    });
    expect(result.serverInfo).toEqual({ name: "cordon", version });
  });

  it("gives `input` and `result` an explicit type and no non-standard format", async () => {
    const { tools } = (await rpc("tools/list")) as {
      tools: { name: string; inputSchema: Schema; outputSchema?: Schema }[];
    };
    const execute = tools.find((t) => t.name === "execute");
    const json = ["object", "array", "string", "number", "boolean", "null"];
    expect(execute?.inputSchema.properties?.input?.type).toEqual(json);
    expect(execute?.outputSchema?.properties?.result?.type).toEqual(json);
    expect(JSON.stringify(tools)).not.toContain("starts_with");
    for (const tool of tools) {
      expect(untyped(tool.inputSchema), tool.name).toEqual([]);
      if (tool.outputSchema) expect(untyped(tool.outputSchema), tool.name).toEqual([]);
    }
  });
});

describe("the playground", () => {
  it("is served at / without a key, loading nothing from other origins", async () => {
    const page = await exports.default.fetch("http://cordon.test/");
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
    const csp = page.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("connect-src 'self'");
    const html = await page.text();
    expect(html).toContain('<script type="module" src="/playground.js"></script>');
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    const script = await exports.default.fetch("http://cordon.test/playground.js");
    expect(script.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(await script.text()).toContain("cm-error-line");
    const style = await exports.default.fetch("http://cordon.test/playground.css");
    expect(style.headers.get("content-type")).toBe("text/css; charset=utf-8");
  });
});
