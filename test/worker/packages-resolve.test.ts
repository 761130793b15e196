import { describe, expect, it } from "vitest";
import { PackageError } from "../../src/packages/errors";
import { Registry } from "../../src/packages/registry";
import { ANY_PACKAGE, allowList, type Lock, resolveTree } from "../../src/packages/tree";
import { registryUrl, takeRegistryRequests } from "./registry";

const registry = () => new Registry(registryUrl());

async function problem(promise: Promise<unknown>): Promise<PackageError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof PackageError))
    throw new Error(`expected a PackageError, got ${String(err)}`);
  return err;
}

const versions = (lock: Lock) => Object.keys(lock.packages).sort();

describe("package resolution", () => {
  it("resolves the latest version and its dependencies, with their integrity", async () => {
    const lock = await resolveTree({ "five-deps": "latest" }, registry(), ANY_PACKAGE, 50);
    expect(lock.roots).toEqual({ "five-deps": "five-deps@1.0.0" });
    expect(versions(lock)).toEqual([
      "dep-a@1.0.0",
      "dep-b@1.0.0",
      "dep-c@1.0.0",
      "dep-d@1.0.0",
      "dep-e@1.0.0",
      "five-deps@1.0.0",
    ]);
    expect(lock.packages["five-deps@1.0.0"]?.dependencies["dep-c"]).toBe("dep-c@1.0.0");
    expect(lock.packages["dep-a@1.0.0"]?.integrity).toMatch(/^sha512-/);
  });

  it("keeps two versions of one package side by side when their ranges do not meet", async () => {
    const lock = await resolveTree(
      { "uses-leaf-1": "latest", "uses-leaf-2": "latest" },
      registry(),
      ANY_PACKAGE,
      50,
    );
    expect(lock.packages["uses-leaf-1@1.0.0"]?.dependencies.leaf).toBe("leaf@1.1.0");
    expect(lock.packages["uses-leaf-2@1.0.0"]?.dependencies.leaf).toBe("leaf@2.0.0");
  });

  it("honours a pin, and a dependency reuses the pinned version its range allows", async () => {
    const lock = await resolveTree(
      { leaf: "1.0.0", "uses-leaf-1": "latest" },
      registry(),
      ANY_PACKAGE,
      50,
    );
    expect(lock.roots.leaf).toBe("leaf@1.0.0");
    expect(lock.packages["uses-leaf-1@1.0.0"]?.dependencies.leaf).toBe("leaf@1.0.0");
    expect(versions(lock)).toEqual(["leaf@1.0.0", "uses-leaf-1@1.0.0"]);
  });

  it("gives a peer dependency the version the code imports", async () => {
    const lock = await resolveTree(
      { leaf: "1.0.0", "peer-user": "*" },
      registry(),
      ANY_PACKAGE,
      50,
    );
    expect(lock.packages["peer-user@1.0.0"]?.dependencies.leaf).toBe("leaf@1.0.0");
  });

  it("says which package is unknown, and skips an optional dependency that is", async () => {
    const err = await problem(
      resolveTree({ "no-such-package": "latest" }, registry(), ANY_PACKAGE, 50),
    );
    expect(err.problem).toBe("unknown-package");
    expect(err.message).toBe('no package named "no-such-package" in the registry');
    const lock = await resolveTree({ "has-optional": "latest" }, registry(), ANY_PACKAGE, 50);
    expect(versions(lock)).toEqual(["has-optional@1.0.0"]);
  });

  it("says why a range is bad or matches nothing", async () => {
    const bad = await problem(resolveTree({ leaf: ">=1 <<2" }, registry(), ANY_PACKAGE, 50));
    expect(bad.problem).toBe("bad-range");
    expect(bad.message).toBe('">=1 <<2" is not a valid version range for leaf');
    const none = await problem(resolveTree({ leaf: "^3.0.0" }, registry(), ANY_PACKAGE, 50));
    expect(none.problem).toBe("no-matching-version");
    expect(none.message).toBe('leaf has no version matching "^3.0.0"');
    const tag = await problem(resolveTree({ leaf: "next" }, registry(), ANY_PACKAGE, 50));
    expect(tag.message).toBe('leaf has no version tagged "next"');
  });

  it("refuses a package outside the tenant's allow list, dependencies included, before fetching it", async () => {
    await takeRegistryRequests();
    const policy = allowList(["needs-evil", "@fixture/*"]);
    const err = await problem(resolveTree({ "needs-evil": "latest" }, registry(), policy, 50));
    expect(err.problem).toBe("policy");
    expect(err.message).toBe(
      'package "leaf" (a dependency of needs-evil@1.0.0) is not allowed by the tenant\'s policy (packages.allow: "needs-evil", "@fixture/*")',
    );
    expect(await takeRegistryRequests()).toEqual(["/needs-evil"]);
    const scoped = await resolveTree({ "@fixture/scoped": "latest" }, registry(), policy, 50);
    expect(scoped.roots["@fixture/scoped"]).toBe("@fixture/scoped@2.0.0");
  });

  it("keeps a session's versions without asking the registry", async () => {
    const first = await resolveTree({ leaf: "^1.0.0" }, registry(), ANY_PACKAGE, 50);
    expect(first.roots.leaf).toBe("leaf@1.1.0");
    await takeRegistryRequests();
    const again = await resolveTree({ leaf: "latest" }, registry(), ANY_PACKAGE, 50, first);
    expect(again.roots.leaf).toBe("leaf@1.1.0");
    expect(await takeRegistryRequests()).toEqual([]);
    const err = await problem(resolveTree({ leaf: "^2.0.0" }, registry(), ANY_PACKAGE, 50, first));
    expect(err.message).toBe('leaf is 1.1.0 in this session, which does not satisfy "^2.0.0"');
  });

  it("caps the number of packages in a resolved set", async () => {
    const err = await problem(resolveTree({ "five-deps": "latest" }, registry(), ANY_PACKAGE, 3));
    expect(err.problem).toBe("too-large");
    expect(err.message).toBe(
      "the imports need more than 3 packages, dependencies included (the cap)",
    );
  });

  it("says the registry is down, and caches nothing that failed", async () => {
    const down = new Registry("http://127.0.0.1:9/");
    const err = await problem(down.packument("leaf"));
    expect(err.problem).toBe("registry");
    expect(err.message).toMatch(
      /^the registry at http:\/\/127\.0\.0\.1:9 could not be reached for leaf: /,
    );
    const client = registry();
    await problem(client.packument("no-such-package"));
    await problem(client.packument("no-such-package"));
    expect((await takeRegistryRequests()).filter((p) => p === "/no-such-package")).toHaveLength(2);
  });

  it("asks for a scoped package with its slash encoded", async () => {
    await takeRegistryRequests();
    const packument = await registry().packument("@fixture/scoped");
    expect([...packument.versions.keys()]).toEqual(["2.0.0"]);
    expect(await takeRegistryRequests()).toEqual(["/@fixture/scoped"]);
  });
});
