import type { Env } from "../env";
import type { PolicyBody } from "../schemas/policy";
import { PackageError } from "./errors";
import { type PackageRequest, Packages } from "./index";
import type { PackageOutcome } from "./outcome";
import { DEFAULT_REGISTRY, Registry } from "./registry";
import { type BlobStore, DiskStore, DurableObjectStore, R2Store } from "./store";
import { ANY_PACKAGE, allowList, type Lock, type PackagePolicy } from "./tree";

/** The process's package machinery, made once for its registry (its caches are per process). */
let shared: { registry: string; packages: Packages } | undefined;

/**
 * The package machinery of this process: the registry at `CORDON_NPM_REGISTRY` (reached through
 * the `NPM_REGISTRY` network self-hosted), the cache on disk self-hosted, in R2 where a bucket is
 * bound, else in Durable Object storage.
 */
export function packagesFor(env: Env): Packages {
  const registry = env.CORDON_NPM_REGISTRY || DEFAULT_REGISTRY;
  if (shared?.registry !== registry) {
    const network = env.NPM_REGISTRY;
    const fetcher = network
      ? (request: Request) => network.fetch(request)
      : (request: Request) => fetch(request);
    shared = { registry, packages: new Packages(new Registry(registry, fetcher), storeFor(env)) };
  }
  return shared.packages;
}

function storeFor(env: Env): BlobStore {
  if (env.PACKAGE_DISK) return new DiskStore(env.PACKAGE_DISK);
  if (env.PACKAGES_BUCKET) return new R2Store(env.PACKAGES_BUCKET);
  return new DurableObjectStore(env.PACKAGE_CACHE);
}

/** A tenant policy's `packages`: without one, any package. */
export function packagePolicy(policy: PolicyBody): PackagePolicy {
  return policy.packages ? allowList(policy.packages.allow) : ANY_PACKAGE;
}

/**
 * Resolves what an execution imports. Nothing here is a server error: whatever the registry, a
 * tarball or a package does, the execution ends `error` with an ImportError saying what and why.
 */
export async function resolvePackages(
  packages: Packages,
  request: PackageRequest,
): Promise<PackageOutcome> {
  try {
    return { ok: true, ...(await packages.resolve(request)) };
  } catch (err) {
    if (err instanceof PackageError) return { ok: false, error: importError(err.message) };
    // A failure the machinery did not foresee is still the packages' failure, not the server's.
    console.error("packages: resolving failed unexpectedly:", err);
    return {
      ok: false,
      error: importError(
        `the packages could not be prepared: ${err instanceof Error ? err.message : String(err)}`,
      ),
    };
  }
}

function importError(message: string): { name: "ImportError"; message: string } {
  return { name: "ImportError", message };
}

/**
 * A session's packages after a run: what it had, with what the run resolved added (a package
 * the session had keeps its version, so the two never disagree).
 */
export function mergeLocks(previous: Lock | undefined, next: Lock): Lock {
  if (!previous) return next;
  return {
    roots: { ...previous.roots, ...next.roots },
    packages: { ...previous.packages, ...next.packages },
  };
}
