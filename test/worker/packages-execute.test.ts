// Packages through the executor and the in-process backend (Worker Loader in this worker, as on
// Cloudflare and in `wrangler dev`); test/e2e/packages.test.ts covers `npm start`'s runners.
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ANY_PACKAGE, allowList, DurableObjectStore, Packages, Registry } from "../../src/packages";
import { LocalBackend } from "../../src/sandbox/backends/local";
import { type ExecutionRequest, execute, type SessionRun } from "../../src/sandbox/executor";
import { registryUrl, takeRegistryRequests } from "./registry";

const backend = () =>
  new LocalBackend(env.LOADER, 64, (isolate) => exports.Gateway({ props: { isolate } }));

function run(
  request: Partial<ExecutionRequest> & { code: string },
  { policy = ANY_PACKAGE, session }: { policy?: typeof ANY_PACKAGE; session?: SessionRun } = {},
) {
  const resolver = new Packages(
    new Registry(registryUrl()),
    new DurableObjectStore(env.PACKAGE_CACHE),
  );
  return execute(
    { backend: backend(), tenant: "packages-test", packages: { resolver, policy } },
    { language: "javascript", timeoutMs: 5_000, ...request },
    crypto.randomUUID(),
    session ? { session } : {},
  );
}

describe("packages in the in-process backend", () => {
  it("runs code importing ESM and CommonJS packages, listing them in the result", async () => {
    const r = await run({
      code: 'import greet from "esm-pkg";\nimport { shout } from "cjs-pkg";\n[greet("x"), shout("y")]',
    });
    expect(r.status, JSON.stringify(r)).toBe("ok");
    expect(r.result).toEqual(["hello x", "Y!"]);
    expect(r.packages?.map((p) => `${p.name}@${p.version}`).sort()).toEqual([
      "cjs-pkg@1.0.0",
      "esm-pkg@1.0.0",
    ]);
  });

  it("hands a session the set it used, and a later run keeps it without the registry", async () => {
    const session: SessionRun = {
      id: "packages-session",
      variables: { scope: { carried: [], imports: [] }, values: {} },
      files: [],
    };
    const first = await run(
      { code: 'import leaf from "leaf";\nleaf.version', packages: { leaf: "~1.0.0" } },
      { session },
    );
    expect(first.result).toBe("1.0.0");
    const kept = session.after?.packages;
    expect(kept?.roots).toEqual({ leaf: "leaf@1.0.0" });
    await takeRegistryRequests();
    const later = await run(
      { code: 'import leaf from "leaf";\nleaf.version' },
      {
        session: {
          id: "packages-session",
          variables: session.after?.variables ?? session.variables,
          files: [],
          ...(kept ? { packages: kept } : {}),
        },
      },
    );
    expect(later.result).toBe("1.0.0");
    expect(await takeRegistryRequests()).toEqual([]);
  });

  it("answers a package refused by the policy as an ImportError, without running the code", async () => {
    const r = await run(
      { code: 'globalThis.ran = true;\nimport leaf from "leaf";\nleaf' },
      { policy: allowList(["esm-pkg"]) },
    );
    expect(r.status).toBe("error");
    expect(r.error).toEqual({
      name: "ImportError",
      message: 'package "leaf" is not allowed by the tenant\'s policy (packages.allow: "esm-pkg")',
    });
    expect(r.packages).toBeUndefined();
  });
});
