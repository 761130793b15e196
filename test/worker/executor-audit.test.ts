import { describe, expect, it } from "vitest";
import { DEFAULT_EGRESS_CAPS } from "../../src/config";
import { type EgressSecret, execution } from "../../src/egress/audit";
import type { Backend } from "../../src/sandbox/backends";
import { execute } from "../../src/sandbox/executor";

describe("an execution's egress audit", () => {
  it("is closed, and its secrets dropped, when the backend throws", async () => {
    const backend: Backend = {
      run: async () => {
        throw new Error("the runner answered nonsense");
      },
    };
    const executionId = crypto.randomUUID();
    const secret: EgressSecret = {
      name: "API_TOKEN",
      value: "s3cr3t-value-that-must-not-linger",
      hosts: ["api.example.com"],
      in: ["header"],
      placeholder: "CORDON_SECRET_API_TOKEN_0123",
    };
    const running = execute(
      {
        backend,
        tenant: "audit-test",
        egress: { layers: [], secrets: [secret], allowPrivate: false, caps: DEFAULT_EGRESS_CAPS },
      },
      { code: "1 + 1", language: "javascript", timeoutMs: 1_000 },
      executionId,
    );
    await expect(running).rejects.toThrow("the runner answered nonsense");
    expect(execution(executionId)).toBeUndefined();
  });
});
