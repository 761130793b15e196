import { afterEach, describe, expect, it } from "vitest";
import { DEFAULT_EGRESS_CAPS } from "../../src/config";
import { DENIED_HEADER } from "../../src/egress/gateway";
import type { Backend } from "../../src/sandbox/backends";
import type { Execution } from "../../src/sandbox/capabilities";
import { execute } from "../../src/sandbox/executor";

// The gateway runs in this isolate, so its upstream (the internet) is this isolate's fetch.
const realFetch = globalThis.fetch;
afterEach(() => {
  globalThis.fetch = realFetch;
});

describe("an execution's capabilities", () => {
  it("reach nothing once the run has thrown: no request leaves, with or without its secret", async () => {
    const upstream: string[] = [];
    globalThis.fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
      const request = new Request(input, init);
      upstream.push(`${request.url} ${request.headers.get("authorization")}`);
      return new Response("upstream answered");
    }) as typeof fetch;
    // A backend that keeps what its guest was handed, then fails: what it kept must be dead.
    let kept: Execution | undefined;
    const backend: Backend = {
      run: async (_job, execution) => {
        kept = execution;
        throw new Error("the runner answered nonsense");
      },
    };
    const placeholder = "CORDON_SECRET_API_TOKEN_0123";
    await expect(
      execute(
        {
          backend,
          tenant: "capabilities-test",
          egress: {
            layers: [{ allow: ["api.example.com"] }],
            secrets: [
              {
                name: "API_TOKEN",
                value: "s3cr3t-value-that-must-not-linger",
                hosts: ["api.example.com"],
                in: ["header"],
                placeholder,
              },
            ],
            allowPrivate: false,
            caps: DEFAULT_EGRESS_CAPS,
          },
        },
        { code: "1 + 1", language: "javascript", timeoutMs: 1_000 },
        crypto.randomUUID(),
      ),
    ).rejects.toThrow("the runner answered nonsense");
    expect(kept).toBeDefined();
    const res = await kept?.capabilities.fetch(
      new Request("https://api.example.com/", {
        headers: { authorization: `Bearer ${placeholder}`, "cordon-redirect": "follow" },
      }),
    );
    expect(res?.headers.get(DENIED_HEADER)).toBe("1");
    expect(upstream).toEqual([]);
  });
});
