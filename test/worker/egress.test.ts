import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { ExecutionResultBody } from "../../src/schemas/execution";
import { admin, asTenant, createTenant } from "./tenant-helpers";

type Result = ExecutionResultBody;

const SECRET = "sk-live-Zq8rT4vW1xY7uB3nM6pL9aS2";
const PLACEHOLDER = /^cordon-secret-API_TOKEN-[0-9a-f]{32}$/;

/** A tenant whose policy and secrets the test chooses. */
async function tenant(allow: unknown[], secrets: Record<string, unknown> = {}) {
  const created = await createTenant("egress", { egress: { allow } });
  for (const [name, secret] of Object.entries(secrets)) {
    const res = await admin(`/tenants/${created.id}/secrets/${name}`, {
      method: "PUT",
      body: JSON.stringify(secret),
    });
    expect(res.status).toBe(204);
  }
  return {
    id: created.id,
    async run(code: string, extra: Record<string, unknown> = {}): Promise<Result> {
      const res = await asTenant(created.apiKey, "/v1/execute", {
        method: "POST",
        body: JSON.stringify({ code, ...extra }),
      });
      if (res.status !== 200) throw new Error(`status ${res.status}: ${await res.text()}`);
      return (await res.json()) as Result;
    },
  };
}

/**
 * The gateway's upstream: the gateway runs in this isolate, so its global fetch can be replaced
 * here. Each handler answers one URL prefix; anything else is a test failure.
 */
type Upstream = (request: Request) => Response | Promise<Response>;
let upstream: Upstream;
/** What reached the upstream, read while the gateway's request was still live. */
const seen: { url: string; headers: Headers; body: string }[] = [];

beforeEach(() => {
  seen.length = 0;
  upstream = () => new Response("ok");
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const request = new Request(input, init);
    const body = await request.clone().text();
    seen.push({ url: request.url, headers: new Headers(request.headers), body });
    return upstream(request);
  });
});

afterEach(() => {
  vi.restoreAllMocks();
});

/** Runs `body` and returns `[name, message]` of what it threw, or "no error". */
const thrown = (body: string) =>
  `let out = "no error";\ntry { ${body} } catch (e) { out = [e.name, e.message] }\nout`;

describe("egress policy through real executions", () => {
  it("denies by default with a TypeError naming the reason, and audits it", async () => {
    const t = await tenant([]);
    const r = await t.run(thrown("await fetch('https://api.example.com/x')"));
    expect(r.result).toEqual([
      "TypeError",
      "egress is not allowed: GET https://api.example.com/x: no rule allows api.example.com",
    ]);
    expect(r.egress).toEqual([
      {
        method: "GET",
        url: "https://api.example.com/x",
        decision: "denied",
        reason: "no rule allows api.example.com",
      },
    ]);
    expect(r.usage.subrequests).toBe(0);
    expect(seen).toHaveLength(0);
  });

  it("sends allowed requests upstream and audits every attempt in order with its reason", async () => {
    const t = await tenant(["api.example.com", { host: "*.data.example", methods: ["GET"] }]);
    upstream = () => new Response("hello", { status: 201 });
    const r = await t.run(`
const out = [];
for (const [url, init] of [
  ["https://API.Example.COM./a?b=1"],
  ["http://api.example.com/plain"],
  ["https://eu.data.example/x", { method: "POST", body: "x" }],
  ["https://eu.data.example/y"],
  ["https://169.254.169.254/latest/meta-data/"],
  ["https://api.example.com\\\\@evil.example/"],
]) {
  try { const res = await fetch(url, init); out.push(res.status + " " + await res.text()) }
  catch (e) { out.push(e.name) }
}
out`);
    expect(r.status).toBe("ok");
    expect(r.result).toEqual([
      "201 hello",
      "TypeError",
      "TypeError",
      "201 hello",
      "TypeError",
      "TypeError",
    ]);
    expect(r.egress.map((a) => [a.method, a.url, a.decision, a.reason])).toEqual([
      ["GET", "https://api.example.com/a?b=1", "allowed", "allowed by rule api.example.com"],
      [
        "GET",
        "http://api.example.com/plain",
        "denied",
        "scheme http not allowed for api.example.com",
      ],
      [
        "POST",
        "https://eu.data.example/x",
        "denied",
        "method POST not allowed for eu.data.example",
      ],
      [
        "GET",
        "https://eu.data.example/y",
        "allowed",
        'allowed by rule {"host":"*.data.example","methods":["GET"]}',
      ],
      [
        "GET",
        "https://169.254.169.254/latest/meta-data/",
        "denied",
        expect.stringMatching(/^private address 169\.254\.169\.254 is not allowed/),
      ],
      // The runtime reads this as api.example.com; the URL as written is checked too.
      ["GET", "https://api.example.com/@evil.example/", "denied", "userinfo in URL is not allowed"],
    ]);
    expect(r.egress[0]).toMatchObject({ status: 201, bytes: 5, ms: expect.any(Number) });
    expect(r.usage.subrequests).toBe(2);
    expect(seen.map((s) => s.url)).toEqual([
      "https://api.example.com/a?b=1",
      "https://eu.data.example/y",
    ]);
  });

  it("lets a request's egress.allow narrow the tenant policy but never widen it", async () => {
    const t = await tenant(["api.example.com", "other.example.com"]);
    const code = `
const out = [];
for (const url of ["https://api.example.com/", "https://other.example.com/", "https://new.example.com/"]) {
  try { await fetch(url); out.push("sent") } catch (e) { out.push(e.message) }
}
out`;
    const r = await t.run(code, { egress: { allow: ["other.example.com", "new.example.com"] } });
    expect(r.result).toEqual([
      expect.stringContaining("no rule allows api.example.com"),
      "sent",
      expect.stringContaining("no rule allows new.example.com"),
    ]);
  });

  it("applies a session's egress.allow as one more layer of its executions' policy", async () => {
    const created = await createTenant("egress", {
      egress: { allow: ["api.example.com", "other.example.com"] },
    });
    const opened = await asTenant(created.apiKey, "/v1/sessions", {
      method: "POST",
      body: JSON.stringify({ egress: { allow: ["other.example.com"] } }),
    });
    expect(opened.status).toBe(201);
    const { sessionId } = (await opened.json()) as { sessionId: string };
    const res = await asTenant(created.apiKey, `/v1/sessions/${sessionId}/execute`, {
      method: "POST",
      body: JSON.stringify({
        code: `const out = [];
for (const url of ["https://api.example.com/", "https://other.example.com/"]) {
  try { await fetch(url); out.push("sent") } catch (e) { out.push(e.message) }
}
out`,
      }),
    });
    expect(((await res.json()) as Result).result).toEqual([
      expect.stringContaining("no rule allows api.example.com"),
      "sent",
    ]);
  });

  it("refuses an invalid rule in a request's allow list with a 400 naming it", async () => {
    const t = await tenant([]);
    await expect(t.run("1", { egress: { allow: ["https://x.example/path"] } })).rejects.toThrow(
      /status 400/,
    );
  });

  it("serves data: inside the isolate and lets the runtime refuse other schemes, unaudited", async () => {
    const t = await tenant([]);
    const r = await t.run(`const out = [];
for (const url of ["data:text/plain,hi", "file:///etc/passwd", "ftp://example.com/x"]) {
  try { out.push(await (await fetch(url)).text()) } catch (e) { out.push(e.name) }
}
out`);
    expect(r.result).toEqual(["hi", "TypeError", "TypeError"]);
    expect(r.egress).toEqual([]);
  });

  it("strips hop-by-hop and cordon-* headers before the request leaves", async () => {
    const t = await tenant(["api.example.com"]);
    await t.run(`await fetch("https://api.example.com/", { headers: {
      "x-kept": "1", "cordon-raw-url": "https%3A%2F%2Fevil.example", connection: "x-dropped", "x-dropped": "2", te: "trailers" } })`);
    const headers = Object.fromEntries(seen[0]?.headers ?? []);
    expect(headers["x-kept"]).toBe("1");
    expect(Object.keys(headers).filter((h) => h.startsWith("cordon-") || h === "te")).toEqual([]);
    expect(headers["x-dropped"]).toBeUndefined();
  });
});

describe("a request's AbortSignal", () => {
  it("goes with the request: an allowed fetch with a signal answers as one without", async () => {
    const t = await tenant(["api.example.com"]);
    upstream = () => new Response("hello");
    const r = await t.run(
      "const res = await fetch('https://api.example.com/', { signal: AbortSignal.timeout(5000) }); await res.text()",
    );
    expect(r.status, JSON.stringify(r.error)).toBe("ok");
    expect(r.result).toBe("hello");
  });

  it("an aborted signal stops the fetch with its reason, before anything leaves", async () => {
    const t = await tenant(["api.example.com"]);
    const r = await t.run(
      thrown(
        "const c = new AbortController(); c.abort(); await fetch('https://api.example.com/', { signal: c.signal })",
      ),
    );
    expect(r.result).toEqual(["AbortError", "The operation was aborted"]);
    expect(seen).toHaveLength(0);
  });

  it("a signal that fires while the upstream is slow ends the fetch then, with its reason", async () => {
    const t = await tenant(["api.example.com"]);
    // The delay runs in the gateway's own request, as an upstream's would.
    upstream = () =>
      new Promise<Response>((resolve) => setTimeout(() => resolve(new Response("late")), 3000));
    const r = await t.run(
      thrown("await fetch('https://api.example.com/', { signal: AbortSignal.timeout(50) })"),
      { timeoutMs: 5000 },
    );
    expect(r.result).toEqual(["TimeoutError", "The operation was aborted due to timeout"]);
    expect(r.usage.wallMs).toBeLessThan(2000);
  });
});

describe("redirects", () => {
  it("follows redirects hop by hop, checking and auditing each hop", async () => {
    const t = await tenant(["api.example.com", "cdn.example.com"]);
    upstream = (req) => {
      if (req.url === "https://api.example.com/start") {
        return new Response(null, {
          status: 302,
          headers: { location: "https://cdn.example.com/next" },
        });
      }
      if (req.url === "https://cdn.example.com/next") {
        return new Response(null, { status: 307, headers: { location: "/final" } });
      }
      return new Response(`at ${new URL(req.url).pathname}`);
    };
    const r = await t.run(
      "const res = await fetch('https://api.example.com/start');\n[res.status, await res.text()]",
    );
    expect(r.result).toEqual([200, "at /final"]);
    expect(r.egress.map((a) => [a.url, a.decision, a.status])).toEqual([
      ["https://api.example.com/start", "allowed", 302],
      ["https://cdn.example.com/next", "allowed", 307],
      ["https://cdn.example.com/final", "allowed", 200],
    ]);
    expect(r.usage.subrequests).toBe(3);
  });

  it("denies a redirect to an internal or unlisted host at that hop", async () => {
    const t = await tenant(["api.example.com"]);
    upstream = (req) =>
      new Response(null, {
        status: 302,
        headers: {
          location: req.url.endsWith("/meta")
            ? "http://169.254.169.254/latest/meta-data/"
            : "https://unlisted.example/",
        },
      });
    const r = await t.run(
      thrown("await fetch('https://api.example.com/meta')") +
        ";\nconst second = (async () => { try { await fetch('https://api.example.com/other') } catch (e) { return e.message } })();\n[out, await second]",
    );
    expect(r.result).toEqual([
      ["TypeError", expect.stringMatching(/169\.254\.169\.254.*private address/)],
      expect.stringContaining("no rule allows unlisted.example"),
    ]);
    expect(r.egress.map((a) => [a.url, a.decision])).toEqual([
      ["https://api.example.com/meta", "allowed"],
      ["http://169.254.169.254/latest/meta-data/", "denied"],
      ["https://api.example.com/other", "allowed"],
      ["https://unlisted.example/", "denied"],
    ]);
    expect(seen).toHaveLength(2);
  });

  it("stops after 5 redirects", async () => {
    const t = await tenant(["api.example.com"]);
    let n = 0;
    upstream = () =>
      new Response(null, { status: 301, headers: { location: `https://api.example.com/${++n}` } });
    const r = await t.run(thrown("await fetch('https://api.example.com/0')"));
    expect(r.result).toEqual(["TypeError", expect.stringContaining("more than 5 redirects")]);
    expect(r.egress).toHaveLength(6);
  });

  it("hands a redirect back untouched when the code asks for redirect: manual", async () => {
    const t = await tenant(["api.example.com"]);
    upstream = () =>
      new Response(null, { status: 302, headers: { location: "http://169.254.169.254/" } });
    const r = await t.run(
      "const res = await fetch('https://api.example.com/', { redirect: 'manual' });\n[res.status, res.headers.get('location')]",
    );
    expect(r.result).toEqual([302, "http://169.254.169.254/"]);
    expect(r.egress).toHaveLength(1);
  });
});

describe("caps", () => {
  it("denies the 51st fetch with a TypeError naming the cap, audits it, and the execution goes on", async () => {
    const t = await tenant(["api.example.com"]);
    const r = await t.run(`
const errors = [];
let sent = 0;
for (let i = 0; i < 55; i++) {
  try { await fetch("https://api.example.com/" + i); sent++ } catch (e) { errors.push(e.name + ": " + e.message) }
}
({ sent, errors, after: "still running" })`);
    expect(r.status).toBe("ok");
    const result = r.result as { sent: number; errors: string[]; after: string };
    expect(result.sent).toBe(50);
    expect(result.after).toBe("still running");
    expect(result.errors).toHaveLength(5);
    expect(result.errors[0]).toBe(
      "TypeError: egress is not allowed: GET https://api.example.com/50: subrequest cap of 50 per execution reached",
    );
    expect(r.egress).toHaveLength(55);
    expect(r.egress.slice(50).every((a) => a.decision === "denied")).toBe(true);
    expect(r.egress[50]?.reason).toBe("subrequest cap of 50 per execution reached");
    expect(r.usage.subrequests).toBe(50);
    expect(seen).toHaveLength(50);

    const listed = await admin("/incidents");
    const { incidents } = (await listed.json()) as {
      incidents: { tenant: string; reason: string }[];
    };
    expect(incidents.filter((i) => i.tenant === t.id).map((i) => i.reason)).toEqual([
      "cap: subrequest cap of 50 per execution reached",
    ]);
  });

  it("errors the response stream once an execution has received 10 MiB", async () => {
    const t = await tenant(["api.example.com"]);
    upstream = () => new Response(new Uint8Array(6 * 1024 * 1024).fill(97));
    const r = await t.run(`
const sizes = [];
for (let i = 0; i < 2; i++) {
  const res = await fetch("https://api.example.com/" + i);
  try { sizes.push((await res.arrayBuffer()).byteLength) } catch (e) { sizes.push(e.name) }
}
sizes`);
    expect(r.status).toBe("ok");
    const sizes = r.result as unknown[];
    expect(sizes[0]).toBe(6 * 1024 * 1024);
    expect(sizes[1]).toBe("TypeError");
    expect(r.egress[1]?.bytes).toBeLessThanOrEqual(6 * 1024 * 1024);
  });

  it("lists at most 1000 attempts and counts the denied ones past that", {
    timeout: 20_000,
  }, async () => {
    const t = await tenant([]);
    const r = await t.run(`
let denied = 0;
for (let i = 0; i < 1100; i++) { try { await fetch("https://api.example.com/" + i) } catch { denied++ } }
denied`);
    expect(r.result).toBe(1100);
    expect(r.egress).toHaveLength(1001);
    expect(r.egress.at(-1)).toEqual({
      method: "*",
      url: "*",
      decision: "denied",
      reason: "100 more denied attempts are not listed (the audit lists at most 1000)",
    });
  });

  it("refuses a request body over the request byte cap", async () => {
    const t = await tenant(["api.example.com"]);
    const r = await t.run(
      thrown(
        "await fetch('https://api.example.com/', { method: 'POST', body: new Uint8Array(11 * 1024 * 1024) })",
      ),
    );
    expect(r.result).toEqual([
      "TypeError",
      expect.stringContaining("request bytes over the cap of 10485760 per execution"),
    ]);
    expect(seen).toHaveLength(0);
  });
});

describe("secrets", () => {
  const secrets = { API_TOKEN: { value: SECRET, hosts: ["api.example.com"] } };

  it("shows the guest a placeholder that is the same for every run of the tenant", async () => {
    const t = await tenant([], secrets);
    const first = await t.run("process.env.API_TOKEN");
    const second = await t.run("process.env.API_TOKEN");
    expect(first.result).toMatch(PLACEHOLDER);
    expect(second.result).toBe(first.result);
    const other = await tenant([], secrets);
    expect((await other.run("process.env.API_TOKEN")).result).not.toBe(first.result);
  });

  it("injects the value only on requests to bound hosts and denies the placeholder elsewhere", async () => {
    const t = await tenant(["api.example.com", "other.example.com"], {
      API_TOKEN: { ...secrets.API_TOKEN, in: ["header", "url", "body"] },
    });
    const r = await t.run(`
const token = process.env.API_TOKEN;
await fetch("https://api.example.com/v1?key=" + token, {
  method: "POST",
  headers: { authorization: "Bearer " + token, "x-basic": "none" },
  body: JSON.stringify({ token }),
});
let refused;
try { await fetch("https://other.example.com/", { headers: { authorization: "Bearer " + token } }) }
catch (e) { refused = [e.name, e.message] }
refused`);
    expect(r.result).toEqual([
      "TypeError",
      "egress is not allowed: GET https://other.example.com/: secret API_TOKEN not bound to host",
    ]);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.url).toBe(`https://api.example.com/v1?key=${SECRET}`);
    expect(seen[0]?.headers.get("authorization")).toBe(`Bearer ${SECRET}`);
    expect(seen[0]?.body).toBe(JSON.stringify({ token: SECRET }));
    expect(r.egress.map((a) => [a.url, a.decision, a.reason])).toEqual([
      [
        "https://api.example.com/v1?key=[REDACTED:secret]",
        "allowed",
        "allowed by rule api.example.com",
      ],
      ["https://other.example.com/", "denied", "secret API_TOKEN not bound to host"],
    ]);
    expect(JSON.stringify(r)).not.toContain(SECRET);
  });

  it("injects into Basic credentials built from the placeholder", async () => {
    const t = await tenant(["api.example.com"], secrets);
    await t.run(
      `await fetch("https://api.example.com/", { headers: { authorization: "Basic " + btoa("me:" + process.env.API_TOKEN) } })`,
    );
    expect(seen[0]?.headers.get("authorization")).toBe(`Basic ${btoa(`me:${SECRET}`)}`);
  });

  it("scrubs a secret the upstream echoes back in body, headers and base64 before the guest sees it", async () => {
    const t = await tenant(["api.example.com"], secrets);
    upstream = async (req) => {
      const got = req.headers.get("authorization")?.slice("Bearer ".length) ?? "";
      return new Response(`plain ${got} b64 ${btoa(got)} url ${encodeURIComponent(got)}`, {
        headers: { "x-echo": got, "x-echo-b64": btoa(`user:${got}`) },
      });
    };
    const r = await t.run(`
const res = await fetch("https://api.example.com/", { headers: { authorization: "Bearer " + process.env.API_TOKEN } });
const body = await res.text();
console.log("body", body, res.headers.get("x-echo"));
({ body, echo: res.headers.get("x-echo"), b64: res.headers.get("x-echo-b64") })`);
    expect(r.status).toBe("ok");
    const text = JSON.stringify(r);
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain(btoa(SECRET));
    const result = r.result as { body: string; echo: string; b64: string };
    expect(result.body).toBe("plain [REDACTED:secret] b64 [REDACTED:secret] url [REDACTED:secret]");
    expect(result.echo).toBe("[REDACTED:secret]");
    expect(result.b64).toContain("[REDACTED:secret]");
  });
});

describe("where a secret may go", () => {
  const bound = (extra: Record<string, unknown> = {}) => ({
    API_TOKEN: { value: SECRET, hosts: ["api.example.com"], ...extra },
  });

  it("refuses a placeholder in the url or body of a header-only secret, naming the secret and the place", async () => {
    const t = await tenant(["api.example.com"], bound());
    const r = await t.run(`
const token = process.env.API_TOKEN;
const out = [];
for (const [url, init] of [
  ["https://api.example.com/v1?key=" + token],
  ["https://api.example.com/v1", { method: "POST", body: JSON.stringify({ token }) }],
  ["https://api.example.com/v1", { headers: { "x-api-key": token } }],
]) {
  try { out.push((await fetch(url, init)).status) } catch (e) { out.push([e.name, e.message]) }
}
out`);
    const placeholder = String((await t.run("process.env.API_TOKEN")).result);
    expect(r.result).toEqual([
      [
        "TypeError",
        `egress is not allowed: GET https://api.example.com/v1?key=${placeholder}: secret API_TOKEN may not go in the url (its binding allows header)`,
      ],
      [
        "TypeError",
        "egress is not allowed: POST https://api.example.com/v1: secret API_TOKEN may not go in the body (its binding allows header)",
      ],
      200,
    ]);
    expect(r.egress.map((a) => [a.decision, a.reason])).toEqual([
      ["denied", "secret API_TOKEN may not go in the url (its binding allows header)"],
      ["denied", "secret API_TOKEN may not go in the body (its binding allows header)"],
      ["allowed", "allowed by rule api.example.com"],
    ]);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.headers.get("x-api-key")).toBe(SECRET);
  });

  it("puts the value in the url and body when the secret's `in` names them", async () => {
    const t = await tenant(["api.example.com"], bound({ in: ["url", "body"] }));
    const r = await t.run(`
const token = process.env.API_TOKEN;
await fetch("https://api.example.com/v1?key=" + token, { method: "POST", body: "t=" + token });
let header;
try { await fetch("https://api.example.com/v1", { headers: { authorization: "Bearer " + token } }) }
catch (e) { header = e.message }
header`);
    expect(r.result).toContain(
      "secret API_TOKEN may not go in a header (its binding allows url, body)",
    );
    expect(seen).toHaveLength(1);
    expect(seen[0]?.url).toBe(`https://api.example.com/v1?key=${SECRET}`);
    expect(seen[0]?.body).toBe(`t=${SECRET}`);
  });

  it("never puts a value in a host name, whatever the secret allows", async () => {
    const t = await tenant(["*.example.com"], {
      token: { value: SECRET, hosts: ["*.example.com"], in: ["header", "url", "body"] },
    });
    const r = await t.run(thrown("await fetch(`https://${process.env.token}.example.com/`)"));
    expect(r.result).toEqual([
      "TypeError",
      expect.stringMatching(/: secret token may never go in the host name$/),
    ]);
    expect(seen).toHaveLength(0);
    expect(JSON.stringify(r)).not.toContain(SECRET);
  });
});

/** Spellings of SECRET the outbound check knows; `%2D` is the hyphen percent-encoded. */
const SPELLED = {
  percent: SECRET.replaceAll("-", "%2D"),
  percentLower: [...SECRET]
    .map((c, i) => (i % 2 ? `%${c.charCodeAt(0).toString(16)}` : c))
    .join(""),
  base64url: btoa(`x${SECRET}`).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, ""),
  jsonEscaped: [...SECRET]
    .map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)
    .join(""),
};

describe("secret values on their way out", () => {
  const secrets = { API_TOKEN: { value: SECRET, hosts: ["api.example.com"] } };

  it.each(Object.entries(SPELLED))(
    "refuses a redirect that carries the value (%s) to a host it is not bound to, and never shows it",
    async (_, spelled) => {
      const t = await tenant(["api.example.com", "other.example.com"], secrets);
      upstream = (req) =>
        req.url.startsWith("https://api.example.com/")
          ? new Response(null, {
              status: 302,
              headers: { location: `https://other.example.com/cb?code=${spelled}` },
            })
          : new Response("reached");
      const r = await t.run(
        thrown(
          'await fetch("https://api.example.com/login", { headers: { authorization: "Bearer " + process.env.API_TOKEN } })',
        ),
      );
      expect(r.result).toEqual([
        "TypeError",
        expect.stringMatching(
          /: the value of secret API_TOKEN is in the url of a request to a host it is not bound to$/,
        ),
      ]);
      expect(seen.map((s) => new URL(s.url).host)).toEqual(["api.example.com"]);
      expect(r.egress.map((a) => [a.url, a.decision])).toEqual([
        ["https://api.example.com/login", "allowed"],
        // Base64 characters that also encode the neighbouring bytes may stay.
        [
          expect.stringMatching(
            /^https:\/\/other\.example\.com\/cb\?code=[\w-]{0,3}\[REDACTED:secret\][\w-]{0,3}$/,
          ),
          "denied",
        ],
      ]);
      const text = JSON.stringify(r);
      for (const form of [SECRET, spelled]) expect(text).not.toContain(form);
    },
  );

  it("refuses the value in any spelling it knows going to an unbound host in a body", async () => {
    const t = await tenant(["api.example.com", "other.example.com"], secrets);
    const bodies = [
      `{"t":"${SPELLED.jsonEscaped}"}`,
      `k=${SPELLED.percent}`,
      // base64 wrapped at 76 columns, the value straddling the line break
      (btoa(`${"p".repeat(50)}${SECRET}`).match(/.{1,76}/g) ?? []).join("\r\n"),
    ];
    const r = await t.run(`
const out = [];
for (const body of ${JSON.stringify(bodies)}) {
  try { await fetch("https://other.example.com/", { method: "POST", body }); out.push("sent") }
  catch (e) { out.push(e.message) }
}
out`);
    expect(r.result).toEqual(
      bodies.map(() =>
        expect.stringMatching(
          /the value of secret API_TOKEN is in the body of a request to a host it is not bound to$/,
        ),
      ),
    );
    expect(seen).toHaveLength(0);
  });

  it("lets a value two secrets share go wherever either binding allows", async () => {
    const t = await tenant(["api.example.com", "other.example.com"], {
      API_TOKEN: { value: SECRET, hosts: ["api.example.com"] },
      SAME_TOKEN: { value: SECRET, hosts: ["other.example.com"] },
    });
    const r = await t.run(
      `await fetch("https://other.example.com/", { headers: { authorization: "Bearer " + process.env.SAME_TOKEN } })`,
    );
    expect(r.egress.map((a) => a.decision)).toEqual(["allowed"]);
    expect(seen[0]?.headers.get("authorization")).toBe(`Bearer ${SECRET}`);
  });

  it("refuses the value in a place its binding does not allow, even on its own host", async () => {
    const t = await tenant(["api.example.com"], secrets);
    upstream = (req) =>
      req.url.endsWith("/start")
        ? new Response(null, {
            status: 307,
            headers: { location: `/next?leak=${SPELLED.percent}` },
          })
        : new Response("reached");
    const r = await t.run(
      thrown(
        'await fetch("https://api.example.com/start", { headers: { "x-api-key": process.env.API_TOKEN } })',
      ),
    );
    expect(r.result).toEqual([
      "TypeError",
      expect.stringMatching(
        /: the value of secret API_TOKEN is in the url, which its binding does not allow$/,
      ),
    ]);
    expect(seen).toHaveLength(1);
  });
});

/** `bytes` compressed with `format`, as CompressionStream makes them. */
async function compressed(bytes: Uint8Array, format: "gzip" | "deflate"): Promise<Uint8Array> {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream(format));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

describe("responses for a tenant with secrets", () => {
  const secrets = {
    API_TOKEN: { value: SECRET, hosts: ["api.example.com"], in: ["header", "body"] },
  };
  const authed = '{ headers: { authorization: "Bearer " + process.env.API_TOKEN } }';

  it("asks for identity encoding and no range on every request", async () => {
    const t = await tenant(["api.example.com", "other.example.com"], secrets);
    await t.run(`
const headers = { "accept-encoding": "br, gzip", range: "bytes=0-3", "if-range": "etag" };
await fetch("https://api.example.com/", { headers: { ...headers, authorization: "Bearer " + process.env.API_TOKEN } });
await fetch("https://other.example.com/", { headers });`);
    expect(seen).toHaveLength(2);
    for (const { headers } of seen) {
      expect(headers.get("accept-encoding")).toBe("identity");
      expect(headers.get("range")).toBeNull();
      expect(headers.get("if-range")).toBeNull();
    }
  });

  it("leaves range and encoding alone for a tenant without secrets", async () => {
    const t = await tenant(["api.example.com"]);
    await t.run(
      `await fetch("https://api.example.com/", { headers: { "accept-encoding": "br", range: "bytes=0-3" } })`,
    );
    expect(seen[0]?.headers.get("accept-encoding")).toBe("br");
    expect(seen[0]?.headers.get("range")).toBe("bytes=0-3");
  });

  it.each([
    ["deflate", ["deflate"]],
    ["x-gzip", ["gzip"]],
    ["GZIP", ["gzip"]],
    ["gzip, gzip", ["gzip", "gzip"]],
    [" Deflate , identity", ["deflate"]],
  ] as const)("decodes a %j response and scrubs it", async (encoding, formats) => {
    const t = await tenant(["api.example.com"], secrets);
    upstream = async (req) => {
      const got = req.headers.get("authorization")?.slice("Bearer ".length) ?? "";
      let body: Uint8Array = new TextEncoder().encode(`token=${got}`);
      for (const format of formats) body = await compressed(body, format);
      return new Response(body, { headers: { "content-encoding": encoding } });
    };
    const r = await t.run(`
const res = await fetch("https://api.example.com/", ${authed});
[res.headers.get("content-encoding"), await res.text()]`);
    expect(r.result).toEqual([null, "token=[REDACTED:secret]"]);
  });

  it.each(["br", "zstd", "compress", "x-unknown", "gzip, br"])(
    "refuses a response in an encoding it cannot decode (%s)",
    async (encoding) => {
      const t = await tenant(["api.example.com", "other.example.com"], secrets);
      upstream = () =>
        new Response(new Uint8Array([1, 2, 3]), { headers: { "content-encoding": encoding } });
      const r = await t.run(`
const out = [];
for (const [url, init] of [["https://api.example.com/", ${authed}], ["https://other.example.com/"]]) {
  try { await fetch(url, init); out.push("answered") } catch (e) { out.push([e.name, e.message]) }
}
out`);
      const reason = `the response is in an encoding the gateway cannot decode and scrub (${encoding})`;
      expect(r.result).toEqual([
        ["TypeError", `GET https://api.example.com/ failed: ${reason}`],
        ["TypeError", `GET https://other.example.com/ failed: ${reason}`],
      ]);
      expect(r.egress.map((a) => a.reason)).toEqual([
        `allowed by rule api.example.com; the response was refused: ${reason}`,
        `allowed by rule other.example.com; the response was refused: ${reason}`,
      ]);
    },
  );

  it("errors the body of a response whose encoding is corrupt", async () => {
    const t = await tenant(["api.example.com"], secrets);
    upstream = () =>
      new Response(new Uint8Array([0x1f, 0x8b, 8, 0, 1, 2, 3]), {
        headers: { "content-encoding": "gzip" },
      });
    const r = await t.run(thrown('await (await fetch("https://api.example.com/")).text()'));
    expect(r.status).toBe("ok");
    expect((r.result as string[])[0]).toBe("TypeError");
  });

  it("refuses a partial (206) response", async () => {
    const t = await tenant(["api.example.com"], secrets);
    upstream = () =>
      new Response("tok", { status: 206, headers: { "content-range": "bytes 0-2/40" } });
    const r = await t.run(thrown('await fetch("https://api.example.com/")'));
    expect(r.result).toEqual([
      "TypeError",
      "GET https://api.example.com/ failed: a partial (206) response cannot be scrubbed",
    ]);
  });

  it("never hands back a stored value a few bytes at a time through Range", async () => {
    const t = await tenant(["api.example.com"], secrets);
    let stored = new Uint8Array(0);
    upstream = async (req) => {
      if (req.method === "PUT") {
        stored = new Uint8Array(await req.arrayBuffer());
        return new Response(null, { status: 204 });
      }
      const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.get("range") ?? "");
      if (!range) return new Response(stored);
      const [from, to] = [Number(range[1]), Number(range[2])];
      return new Response(stored.slice(from, to + 1), {
        status: 206,
        headers: { "content-range": `bytes ${from}-${to}/${stored.length}` },
      });
    };
    const r = await t.run(`
await fetch("https://api.example.com/paste", { method: "PUT", body: process.env.API_TOKEN });
let pieces = "";
for (let at = 0; at < 40; at += 4) {
  const res = await fetch("https://api.example.com/paste", { headers: { range: "bytes=" + at + "-" + (at + 3) } });
  pieces += "|" + res.status + ":" + await res.text();
}
pieces`);
    expect(stored).toEqual(new TextEncoder().encode(SECRET));
    expect(String(r.result)).toBe("|200:[REDACTED:secret]".repeat(10));
  });
});

describe("connect()", () => {
  it("denies a connect no rule allows: opened rejects with a TypeError, audited as CONNECT", async () => {
    const t = await tenant(["api.example.com"]);
    const r = await t.run(`
import { connect } from "cloudflare:sockets";
const socket = connect("db.example.com:5432");
const out = [];
try { await socket.opened } catch (e) { out.push(e.name, e.message) }
try { const w = socket.writable.getWriter(); await w.write(new Uint8Array([1])) } catch (e) { out.push(e.name) }
out`);
    expect(r.result).toEqual([
      "TypeError",
      "egress is not allowed: CONNECT tcp://db.example.com:5432: no rule allows db.example.com",
      "TypeError",
    ]);
    expect(r.egress).toEqual([
      {
        method: "CONNECT",
        url: "tcp://db.example.com:5432",
        decision: "denied",
        reason: "no rule allows db.example.com",
      },
    ]);
  });

  it("matches connect() against rules by host and port", async () => {
    const t = await tenant([
      "api.example.com",
      { host: "db.example.com", port: 5432, methods: ["GET"] },
    ]);
    const r = await t.run(`
const { connect } = await import("cloudflare:sockets");
const out = [];
for (const address of ["api.example.com:22", { hostname: "db.example.com", port: 5432 }, "[::1]:443"]) {
  try { await connect(address).opened } catch (e) { out.push(e.message) }
}
out`);
    expect(r.result).toEqual([
      expect.stringContaining("port 22 not allowed for api.example.com"),
      expect.stringContaining("method CONNECT not allowed for db.example.com"),
      expect.stringMatching(/CONNECT tcp:\/\/\[::1\]:443: private address/),
    ]);
    expect(r.egress.map((a) => a.method)).toEqual(["CONNECT", "CONNECT", "CONNECT"]);
  });

  it("refuses a connect whose host name holds a secret's placeholder or value", async () => {
    const t = await tenant(["*.example.com"], {
      token: { value: SECRET.toLowerCase(), hosts: ["*.example.com"], in: ["header", "url"] },
    });
    const r = await t.run(`
const { connect } = await import("cloudflare:sockets");
const out = [];
for (const host of [process.env.token, ${JSON.stringify(SECRET.toLowerCase())}]) {
  try { await connect(host + ".example.com:443").opened } catch (e) { out.push(e.message) }
}
out`);
    expect(r.result).toEqual([
      expect.stringMatching(/: secret token may never go in the host name$/),
      expect.stringMatching(/: the value of secret token is in the host name$/),
    ]);
    expect(r.egress.map((a) => [a.decision, a.reason])).toEqual([
      ["denied", "secret token may never go in the host name"],
      ["denied", "the value of secret token is in the host name"],
    ]);
    expect(JSON.stringify(r)).not.toContain(SECRET.toLowerCase());
  });

  it("refuses STARTTLS sockets, which the gateway cannot speak", async () => {
    const t = await tenant(["api.example.com"]);
    const r = await t.run(
      thrown(
        `const { connect } = await import("cloudflare:sockets"); connect("api.example.com:443", { secureTransport: "starttls" })`,
      ),
    );
    expect(r.result).toEqual(["TypeError", expect.stringContaining("starttls")]);
  });

  it("audits and denies a socket that bypasses cloudflare:sockets", async () => {
    const t = await tenant(["api.example.com"]);
    const r = await t.run(`
import net from "node:net";
await new Promise((resolve) => {
  const s = net.connect(443, "api.example.com");
  s.on("error", resolve);
  s.on("close", resolve);
  s.on("data", resolve);
});
"done"`);
    expect(r.status).toBe("ok");
    expect(r.egress).toEqual([
      expect.objectContaining({
        method: "CONNECT",
        url: "tcp://api.example.com:443",
        decision: "denied",
        reason: expect.stringContaining("do not go through fetch() or connect()"),
      }),
    ]);
  });
});

describe("output scanning", () => {
  it("redacts credential-shaped strings from result, logs and error and lists them", async () => {
    const t = await tenant([]);
    const token = `ghp_${"a1B2c3D4e5".repeat(3)}123456`;
    const r = await t.run(`
console.log("token ${token}");
throw new Error("leaked ${token}")`);
    expect(r.status).toBe("error");
    expect(JSON.stringify(r)).not.toContain(token);
    expect(r.logs[0]?.message).toBe("token [REDACTED:github-token]");
    expect(r.error?.message).toBe("leaked [REDACTED:github-token]");
    expect(r.redactions).toEqual(
      expect.arrayContaining([
        { kind: "github-token", where: "logs" },
        { kind: "github-token", where: "error" },
      ]),
    );
    const ok = await t.run(`({ key: "${token}" })`);
    expect(ok.result).toEqual({ key: "[REDACTED:github-token]" });
    expect(ok.redactions).toEqual([{ kind: "github-token", where: "result" }]);
  });
});
