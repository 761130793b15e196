import { ExpiringCache, Lru } from "../cache";
import {
  buildPackages,
  KEPT_FILE,
  type PackageBuild,
  type PackageEntry,
  type PackageFiles,
} from "./build";
import { PackageError } from "./errors";
import { sha256Hex, sha512Digests, verifyIntegrity } from "./integrity";
import { PACKAGE_LIMITS } from "./limits";
import type { Registry } from "./registry";
import { parseBare } from "./specifier";
import type { BlobStore } from "./store";
import { gunzip, readTar } from "./tar";
import { type Lock, type LockedPackage, type PackagePolicy, packageKey, resolveTree } from "./tree";

/** Bumped whenever a build of the same set would come out different: old builds are not read. */
const BUILD_FORMAT = 1;
/** How long a resolution of ranges (not of a session's kept versions) is reused. */
const RESOLUTION_TTL_MS = 5 * 60_000;

/** What an execution asks of the package machinery. */
export interface PackageRequest {
  /** The bare specifiers the code imports or requires. */
  entries: PackageEntry[];
  /** The request's `packages`: name → range, version or dist-tag. */
  pins: Record<string, string>;
  /** The tenant's `packages` policy. */
  policy: PackagePolicy;
  /** The resolved set a session keeps: its packages keep their versions. */
  previous?: Lock;
}

/** A resolved set and its modules. */
export interface ResolvedPackages {
  lock: Lock;
  build: PackageBuild;
  /** The content address of the build (the resolved set and the entries it was built for). */
  key: string;
}

/**
 * Resolves, fetches, verifies and builds the packages code imports, with every step cached:
 * resolutions of ranges for a few minutes in memory (per process, checked against each tenant's
 * policy on every use), builds in memory and in the store by their resolved set, tarballs in the
 * store by integrity (shared by every tenant: content-addressed, so equal for all). A resolved set
 * that was built before costs no registry request. Nothing that failed is cached.
 */
export class Packages {
  readonly #registry: Registry;
  readonly #store: BlobStore;
  readonly #resolutions = new ExpiringCache<string, Lock>(1024, RESOLUTION_TTL_MS);
  readonly #builds = new Lru<string, PackageBuild>(256, {
    maxBytes: 64 * 1024 * 1024,
    maxEntryBytes: PACKAGE_LIMITS.moduleBytes * 2,
    bytes: (_key, build) => build.bytes * 2 + 4096,
  });
  readonly #building = new Map<string, Promise<PackageBuild>>();

  constructor(registry: Registry, store: BlobStore) {
    this.#registry = registry;
    this.#store = store;
  }

  /** The packages `request` needs; throws a PackageError (an ImportError for the code) when it cannot. */
  async resolve(request: PackageRequest): Promise<ResolvedPackages> {
    const wanted: Record<string, string> = {};
    for (const [name, range] of Object.entries(request.pins)) wanted[name] = range;
    for (const { specifier } of request.entries) {
      const bare = parseBare(specifier);
      if (!bare)
        throw new PackageError("bad-specifier", `"${specifier}" is not a valid package specifier`);
      wanted[bare.name] ??= "latest";
    }
    const lock = await this.#lock(wanted, request.policy, request.previous);
    checkPolicy(lock, request.policy);
    const entries = [...request.entries].sort((a, b) =>
      a.specifier === b.specifier ? (a.kind < b.kind ? -1 : 1) : a.specifier < b.specifier ? -1 : 1,
    );
    const key = await sha256Hex(
      JSON.stringify({ format: BUILD_FORMAT, lock: canonical(lock), entries }),
    );
    const build = await this.#build(key, lock, entries);
    return { lock, build, key };
  }

  #lock(
    wanted: Record<string, string>,
    policy: PackagePolicy,
    previous: Lock | undefined,
  ): Promise<Lock> {
    const resolve = () =>
      resolveTree(wanted, this.#registry, policy, PACKAGE_LIMITS.treePackages, previous);
    // A session's kept versions resolve without the registry; only fresh ranges are worth keeping.
    if (previous && Object.keys(wanted).every((name) => previous.roots[name] !== undefined)) {
      return resolve();
    }
    const names = Object.keys(wanted).sort();
    const key = JSON.stringify([
      names.map((name) => [name, wanted[name]]),
      previous ? canonical(previous) : null,
    ]);
    return this.#resolutions.get(key, resolve);
  }

  #build(key: string, lock: Lock, entries: PackageEntry[]): Promise<PackageBuild> {
    const cached = this.#builds.get(key);
    if (cached) return Promise.resolve(cached);
    const building = this.#building.get(key);
    if (building) return building;
    const build = this.#load(key, lock, entries).finally(() => this.#building.delete(key));
    this.#building.set(key, build);
    return build;
  }

  async #load(key: string, lock: Lock, entries: PackageEntry[]): Promise<PackageBuild> {
    const stored = await this.#get(`builds/${key}`);
    if (stored) {
      try {
        const build: PackageBuild = JSON.parse(new TextDecoder().decode(stored));
        this.#builds.set(key, build);
        return build;
      } catch {
        // A build that does not read back is built again.
      }
    }
    const files: PackageFiles = new Map();
    let tarballBytes = 0;
    await inBatches(Object.entries(lock.packages), 8, async ([pkgKey, pkg]) => {
      const tarball = await this.#tarball(pkg);
      tarballBytes += tarball.byteLength;
      if (tarballBytes > PACKAGE_LIMITS.treeTarballBytes) {
        throw new PackageError(
          "too-large",
          `the imported packages' tarballs come to more than ${PACKAGE_LIMITS.treeTarballBytes} bytes (the cap)`,
        );
      }
      const what = `the tarball of ${pkgKey}`;
      const tar = await gunzip(tarball, PACKAGE_LIMITS.unpackedBytes, what);
      files.set(
        pkgKey,
        readTar(
          tar,
          { unpackedBytes: PACKAGE_LIMITS.unpackedBytes, entries: PACKAGE_LIMITS.tarballEntries },
          (path) => KEPT_FILE.test(path),
          what,
        ),
      );
    });
    const build = buildPackages(lock, files, entries, PACKAGE_LIMITS.moduleBytes);
    await this.#put(`builds/${key}`, new TextEncoder().encode(JSON.stringify(build)));
    this.#builds.set(key, build);
    return build;
  }

  /** A package's tarball: from the store (checked again), else from the registry (verified, then stored). */
  async #tarball(pkg: LockedPackage): Promise<Uint8Array> {
    const digest = sha512Digests(pkg.integrity)[0];
    const storeKey = digest === undefined ? undefined : `tarballs/${base64ToHex(digest)}`;
    const what = packageKey(pkg.name, pkg.version);
    if (storeKey) {
      const stored = await this.#get(storeKey);
      if (stored) {
        try {
          await verifyIntegrity(stored, pkg.integrity, what);
          return stored;
        } catch {
          // A damaged copy is fetched again and replaced.
        }
      }
    }
    const tarball = await this.#registry.tarball(pkg);
    if (storeKey) await this.#put(storeKey, tarball);
    return tarball;
  }

  /** A store read; one that fails is a miss (the cache only saves work). */
  async #get(key: string): Promise<Uint8Array | undefined> {
    try {
      return await this.#store.get(key);
    } catch (err) {
      console.warn(`package cache: reading ${key} failed: ${String(err)}`);
      return undefined;
    }
  }

  /** A store write; one that fails leaves the execution as it is (it has what it needs). */
  async #put(key: string, bytes: Uint8Array): Promise<void> {
    try {
      await this.#store.put(key, bytes);
    } catch (err) {
      console.warn(`package cache: writing ${key} failed: ${String(err)}`);
    }
  }
}

/** Every package of the set must be allowed, however it came to be resolved (a cached lock too). */
function checkPolicy(lock: Lock, policy: PackagePolicy): void {
  for (const [key, pkg] of Object.entries(lock.packages)) {
    if (policy.allows(pkg.name)) continue;
    const dependent = Object.entries(lock.packages).find(([, other]) =>
      Object.values(other.dependencies).includes(key),
    )?.[0];
    const by = dependent === undefined ? "" : ` (a dependency of ${dependent})`;
    throw new PackageError(
      "policy",
      `package "${pkg.name}"${by} is not allowed by the tenant's policy (${policy.describe()})`,
    );
  }
}

/** A lock as text that is the same for the same set, whatever order it was built in. */
function canonical(lock: Lock): unknown {
  const sortedRecord = (record: Record<string, string>) =>
    Object.keys(record)
      .sort()
      .map((name) => [name, record[name]]);
  return {
    roots: sortedRecord(lock.roots),
    packages: Object.keys(lock.packages)
      .sort()
      .map((key) => {
        const pkg = lock.packages[key] as LockedPackage;
        return [key, pkg.integrity, sortedRecord(pkg.dependencies)];
      }),
  };
}

function base64ToHex(base64: string): string {
  const binary = atob(base64);
  let hex = "";
  for (let i = 0; i < binary.length; i++) hex += binary.charCodeAt(i).toString(16).padStart(2, "0");
  return hex;
}

/** Runs `work` over `items`, at most `limit` at once. */
async function inBatches<T>(
  items: T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export { buildPackages, type PackageBuild, type PackageEntry } from "./build";
export { PackageError } from "./errors";
export { DEFAULT_REGISTRY, Registry } from "./registry";
export { type BlobStore, DiskStore, DurableObjectStore, R2Store } from "./store";
export { ANY_PACKAGE, allowList, type Lock, type PackagePolicy } from "./tree";
