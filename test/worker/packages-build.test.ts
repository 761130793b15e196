import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
  ANY_PACKAGE,
  allowList,
  DurableObjectStore,
  PackageError,
  Packages,
  Registry,
} from "../../src/packages";
import type { PackageEntry } from "../../src/packages/build";
import { packageEntries, rewriteDeclaration } from "../../src/packages/entries";
import runtimeSource from "../../src/packages/runtime.guest.js";
import { GUEST_COMPATIBILITY_DATE } from "../../src/sandbox/guest";
import coreSource from "../../src/sandbox/runtimes/javascript/built/core-oneshot.guest.js";
import moduleSource from "../../src/sandbox/runtimes/javascript/built/module.guest.js";
import socketsSource from "../../src/sandbox/runtimes/javascript/built/sockets.guest.js";
import workersSource from "../../src/sandbox/runtimes/javascript/built/workers.guest.js";
import { parseModule } from "../../src/sandbox/runtimes/javascript/parse";
import { registryUrl, takeRegistryRequests } from "./registry";

function packages(): Packages {
  return new Packages(new Registry(registryUrl()), new DurableObjectStore(env.PACKAGE_CACHE));
}

const imports = (...specifiers: string[]): PackageEntry[] =>
  specifiers.map((specifier) => ({ specifier, kind: "import" }));

async function problem(promise: Promise<unknown>): Promise<PackageError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof PackageError))
    throw new Error(`expected a PackageError, got ${String(err)}`);
  return err;
}

/**
 * Loads `main` (an ES module whose default export is an async function returning JSON-able data)
 * into a real guest isolate with the build's modules and the guest modules package code reaches.
 */
async function runWith(
  modules: Record<string, WorkerLoaderModule>,
  main: string,
): Promise<unknown> {
  const stub = env.LOADER.load({
    compatibilityDate: GUEST_COMPATIBILITY_DATE,
    mainModule: "main.js",
    modules: {
      "main.js": `import run from "test-main.js";
export default { async fetch() { try { return Response.json({ ok: await run() }) } catch (e) { return Response.json({ error: String(e), name: e?.name, code: e?.code }) } } }`,
      "test-main.js": main,
      "cordon.js": coreSource,
      "cloudflare-workers.js": workersSource,
      "node-module.js": moduleSource,
      "cloudflare:sockets": { js: socketsSource },
      "npm-runtime.js": runtimeSource,
      ...modules,
    },
    globalOutbound: null,
  });
  const response = await stub.getEntrypoint().fetch("http://guest/");
  return response.json();
}

describe("package builds", () => {
  it("runs an ES module package and its relative imports", async () => {
    const { build } = await packages().resolve({
      entries: imports("esm-pkg", "esm-pkg/extra"),
      pins: {},
      policy: ANY_PACKAGE,
    });
    expect(build.imports).toEqual({
      "esm-pkg": "/npm/esm-pkg@1.0.0/index.js",
      "esm-pkg/extra": "/npm/esm-pkg@1.0.0/extra.js",
    });
    expect(Object.keys(build.modules).sort()).toEqual([
      "npm/esm-pkg@1.0.0/extra.js",
      "npm/esm-pkg@1.0.0/index.js",
      "npm/esm-pkg@1.0.0/lib/math.js",
    ]);
    const out = await runWith(
      build.modules,
      `import greet, { double, name } from "/npm/esm-pkg@1.0.0/index.js";
import { extra } from "/npm/esm-pkg@1.0.0/extra.js";
export default async () => [greet("you"), double(21), name, extra];`,
    );
    expect(out).toEqual({ ok: ["hello you", 42, "esm-pkg", true] });
    expect(build.packages).toEqual([
      { name: "esm-pkg", version: "1.0.0", integrity: expect.stringMatching(/^sha512-/) },
    ]);
  });

  it("runs a CommonJS package as Node.js does: named imports, require, this, strict mode", async () => {
    const { build } = await packages().resolve({
      entries: [...imports("cjs-pkg", "cjs-reexport"), { specifier: "cjs-pkg", kind: "require" }],
      pins: {},
      policy: ANY_PACKAGE,
    });
    expect(build.imports["cjs-pkg"]).toBe("/npm-esm/cjs-pkg@1.0.0/index.js");
    expect(build.requires["cjs-pkg"]).toBe("/npm/cjs-pkg@1.0.0/index.js");
    const out = await runWith(
      build.modules,
      `import pkg, { join, shout, thisIsExports, strict, filename } from "/npm-esm/cjs-pkg@1.0.0/index.js";
import { alpha, beta } from "/npm-esm/cjs-reexport@1.0.0/index.js";
export default async () => [join("a", "b"), shout("hi"), thisIsExports, strict, filename, pkg.shout === shout, alpha, beta];`,
    );
    expect(out).toEqual({
      ok: ["a/b", "HI!", true, true, "/npm/cjs-pkg@1.0.0/index.js", true, 1, 2],
    });
  });

  it("picks a scoped package's exports by the workerd condition, its imports map and patterns", async () => {
    const { build } = await packages().resolve({
      entries: [
        ...imports("@fixture/scoped", "@fixture/scoped/sub", "@fixture/scoped/feature/a"),
        { specifier: "@fixture/scoped/sub", kind: "require" },
      ],
      pins: {},
      policy: ANY_PACKAGE,
    });
    expect(build.imports).toEqual({
      "@fixture/scoped": "/npm/@fixture/scoped@2.0.0/worker.js",
      "@fixture/scoped/sub": "/npm/@fixture/scoped@2.0.0/sub.mjs",
      "@fixture/scoped/feature/a": "/npm/@fixture/scoped@2.0.0/features/a.js",
    });
    expect(build.requires).toEqual({ "@fixture/scoped/sub": "/npm/@fixture/scoped@2.0.0/sub.cjs" });
    const out = await runWith(
      build.modules,
      `import { flavor, internal } from "/npm/@fixture/scoped@2.0.0/worker.js";
import { sub } from "/npm/@fixture/scoped@2.0.0/sub.mjs";
import cjs from "/npm/@fixture/scoped@2.0.0/sub.cjs";
export default async () => [flavor, internal, sub, cjs.sub];`,
    );
    expect(out).toEqual({ ok: ["workerd", "internal", "esm", "cjs"] });
    const hidden = await problem(
      packages().resolve({
        entries: imports("@fixture/scoped/hidden.js"),
        pins: {},
        policy: ANY_PACKAGE,
      }),
    );
    expect(hidden.message).toBe(
      'Cannot import "@fixture/scoped/hidden.js": @fixture/scoped@2.0.0 does not export "./hidden.js" (its "exports" map)',
    );
  });

  it("gives each package its own version of a shared dependency, and a pin wins where ranges allow", async () => {
    const { build, lock } = await packages().resolve({
      entries: imports("uses-leaf-1", "uses-leaf-2", "leaf"),
      pins: { leaf: "1.0.0" },
      policy: ANY_PACKAGE,
    });
    expect(lock.roots.leaf).toBe("leaf@1.0.0");
    const out = await runWith(
      build.modules,
      `import { leafVersion as one } from ${JSON.stringify(build.imports["uses-leaf-1"])};
import { leafVersion as two } from ${JSON.stringify(build.imports["uses-leaf-2"])};
import leaf from ${JSON.stringify(build.imports.leaf)};
export default async () => [one, two, leaf.version];`,
    );
    expect(out).toEqual({ ok: ["1.0.0", "2.0.0", "1.0.0"] });
    expect(build.packages.map((p) => `${p.name}@${p.version}`)).toEqual([
      "leaf@1.0.0",
      "leaf@2.0.0",
      "uses-leaf-1@1.0.0",
      "uses-leaf-2@1.0.0",
    ]);
  });

  it("takes a package's module field (ESM in .js, told by its syntax), subpaths, the browser map and optional dependencies", async () => {
    const { build } = await packages().resolve({
      entries: [
        ...imports("module-field", "date-ish/addDays", "browser-map", "has-optional"),
        { specifier: "module-field", kind: "require" },
      ],
      pins: {},
      policy: ANY_PACKAGE,
    });
    const out = await runWith(
      build.modules,
      `import { via } from ${JSON.stringify(build.imports["module-field"])};
import required from ${JSON.stringify(build.requires["module-field"])};
import addDays from ${JSON.stringify(build.imports["date-ish/addDays"])};
import { impl, fsKeys } from ${JSON.stringify(build.imports["browser-map"])};
import { optional } from ${JSON.stringify(build.imports["has-optional"])};
export default async () => [via, required.via, addDays(1, 2), impl, fsKeys, optional];`,
    );
    expect(build.requires["module-field"]).toBe("/npm/module-field@1.0.0/cjs/index.js");
    expect(out).toEqual({ ok: ["module", "main", 3, "browser", 0, "MODULE_NOT_FOUND"] });
  });

  it("lets package code reach built-ins but no module of the isolate, however it names one", async () => {
    const { build } = await packages().resolve({
      entries: imports("sneaky", "sneaky-cjs"),
      pins: {},
      policy: ANY_PACKAGE,
    });
    const attempt = (how: string) =>
      runWith(
        {
          ...build.modules,
          "secret.js": { js: 'export default "reached"; export const s = "reached";' },
        },
        `import { load } from ${JSON.stringify(build.imports.sneaky)};
import cjs from ${JSON.stringify(build.imports["sneaky-cjs"])};
export default async () => { const m = await (${how}); return typeof m === "object" ? (m?.default ?? m?.s) : m; };`,
      );
    expect(await attempt('load("node:path").then((m) => typeof m.join)')).toEqual({
      ok: "function",
    });
    for (const name of ["/secret.js", "../../secret.js", "secret.js", "/npm-runtime.js"]) {
      expect(await attempt(`load(${JSON.stringify(name)})`)).toMatchObject({ name: "ImportError" });
      expect(await attempt(`cjs.load(${JSON.stringify(name)})`)).toMatchObject({
        error: expect.stringMatching(/Error/),
      });
    }
    expect(await attempt('cjs.load("node:path").join("a", "b")')).toEqual({ ok: "a/b" });
    expect(await attempt("cjs.missing()")).toMatchObject({ code: "MODULE_NOT_FOUND" });
  });

  it("refuses a package whose imports leave it, naming the file", async () => {
    const err = await problem(
      packages().resolve({ entries: imports("escapes"), pins: {}, policy: ANY_PACKAGE }),
    );
    expect(err.problem).toBe("unresolved");
    expect(err.message).toBe(
      'escapes@1.0.0\'s index.js imports "../../npm-runtime.js": the path leaves the package',
    );
  });

  it("refuses a tampered tarball and one without integrity, and caches neither", async () => {
    const service = packages();
    for (let i = 0; i < 2; i++) {
      const err = await problem(
        service.resolve({ entries: imports("tampered"), pins: {}, policy: ANY_PACKAGE }),
      );
      expect(err.problem).toBe("integrity");
      expect(err.message).toMatch(
        /^tampered@1\.0\.0: the tarball does not match the registry's integrity/,
      );
    }
    const requests = await takeRegistryRequests();
    expect(requests.filter((path) => path.endsWith("/tampered-1.0.0.tgz"))).toHaveLength(2);
    const none = await problem(
      service.resolve({ entries: imports("no-integrity"), pins: {}, policy: ANY_PACKAGE }),
    );
    expect(none.message).toBe(
      "no-integrity@1.0.0 has no sha512 integrity in the registry, so its tarball cannot be verified",
    );
  });

  it("serves a resolved set again without a registry request, from memory and from the store", async () => {
    const request = { entries: imports("five-deps"), pins: {}, policy: ANY_PACKAGE };
    const first = await packages().resolve(request);
    expect(first.build.packages).toHaveLength(6);
    await takeRegistryRequests();
    const service = packages();
    // A new process (nothing in memory) with the session's resolved set: the store has the build.
    const stored = await service.resolve({ ...request, previous: first.lock });
    expect(stored.key).toBe(first.key);
    expect(stored.build.modules).toEqual(first.build.modules);
    expect(await takeRegistryRequests()).toEqual([]);
    // Without the session's set, "latest" is resolved again (packuments), but nothing is fetched.
    const again = await service.resolve(request);
    expect(again.key).toBe(first.key);
    expect((await takeRegistryRequests()).filter((path) => path.endsWith(".tgz"))).toEqual([]);
    await service.resolve(request);
    expect(await takeRegistryRequests()).toEqual([]);
    const out = await runWith(
      again.build.modules,
      `import { names } from ${JSON.stringify(again.build.imports["five-deps"])};
export default async () => names;`,
    );
    expect(out).toEqual({ ok: ["dep-a", "dep-b", "dep-c", "dep-d", "dep-e"] });
  });

  it("checks a cached resolution against each tenant's policy", async () => {
    const service = packages();
    await service.resolve({ entries: imports("needs-evil"), pins: {}, policy: ANY_PACKAGE });
    const err = await problem(
      service.resolve({
        entries: imports("needs-evil"),
        pins: {},
        policy: allowList(["needs-evil"]),
      }),
    );
    expect(err.problem).toBe("policy");
    expect(err.message).toBe(
      'package "leaf" (a dependency of needs-evil@1.0.0) is not allowed by the tenant\'s policy (packages.allow: "needs-evil")',
    );
  });

  it("finds the code's bare specifiers and points its import declarations at the built modules", async () => {
    const code = `import z, { double } from "esm-pkg";
import fs from "node:fs";
import "./local.js";
export * from "esm-pkg/extra";
const cjs = require("cjs-pkg");
const later = await import("@fixture/scoped");
const computed = await import(name);
import again from "esm-pkg";`;
    const entries = packageEntries(parseModule(code));
    expect(entries).toEqual([
      { specifier: "esm-pkg", kind: "import" },
      { specifier: "esm-pkg/extra", kind: "import" },
      { specifier: "cjs-pkg", kind: "require" },
      { specifier: "@fixture/scoped", kind: "import" },
    ]);
    const { build } = await packages().resolve({ entries, pins: {}, policy: ANY_PACKAGE });
    expect(rewriteDeclaration('import z, { double } from "esm-pkg";', build)).toBe(
      'import z, { double } from "/npm/esm-pkg@1.0.0/index.js";',
    );
    expect(rewriteDeclaration('export * from "esm-pkg/extra";', build)).toBe(
      'export * from "/npm/esm-pkg@1.0.0/extra.js";',
    );
    expect(rewriteDeclaration('import fs from "node:fs";', build)).toBe(
      'import fs from "node:fs";',
    );
    expect(build.requires["cjs-pkg"]).toBe("/npm/cjs-pkg@1.0.0/index.js");
  });
});
