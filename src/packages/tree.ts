import semver from "semver";
import { PackageError } from "./errors";
import type { Lock, LockedPackage } from "./lock";
import type { Manifest, Packument, Registry } from "./registry";
import { isPackageName } from "./specifier";

export type { Lock, LockedPackage } from "./lock";

/** Whether a tenant's policy lets a package be used. */
export interface PackagePolicy {
  allows(name: string): boolean;
  /** How the policy reads in an error message. */
  describe(): string;
}

/** Every package: the default when a tenant's policy says nothing of packages. */
export const ANY_PACKAGE: PackagePolicy = { allows: () => true, describe: () => "any package" };

/** `packages.allow` of a tenant policy: names, and `@scope/*` for every package of a scope. */
export function allowList(patterns: readonly string[]): PackagePolicy {
  const names = new Set(patterns.filter((pattern) => !pattern.endsWith("/*")));
  const scopes = patterns.filter((pattern) => pattern.endsWith("/*")).map((p) => p.slice(0, -1));
  return {
    allows: (name) => names.has(name) || scopes.some((scope) => name.startsWith(scope)),
    describe: () => `packages.allow: ${patterns.map((p) => JSON.stringify(p)).join(", ")}`,
  };
}

/** The key of a package version in a lock. */
export function packageKey(name: string, version: string): string {
  return `${name}@${version}`;
}

/** A dependency as a package declares it: `^1.2.0`, a dist-tag, or `npm:other@^1`. */
interface Wanted {
  /** The name the dependent imports it by. */
  alias: string;
  name: string;
  range: string;
  optional: boolean;
  /** Who wants it, for error messages: undefined for the code itself. */
  dependent: string | undefined;
}

/**
 * Resolves the packages the code imports (`wanted`: name → range, "latest" where the request
 * pinned nothing) and their dependencies into a lock. Packages `previous` already resolved (a
 * session's) keep their versions; a dependency reuses a version already in the set when that
 * satisfies its range, else gets its own (two versions side by side). Every package, dependencies
 * included, must be allowed by `policy`. Packuments are fetched level by level, in parallel.
 */
export async function resolveTree(
  wanted: Record<string, string>,
  registry: Registry,
  policy: PackagePolicy,
  maxPackages: number,
  previous?: Lock,
): Promise<Lock> {
  const lock: Lock = { roots: {}, packages: {} };
  const chosen = new Map<string, string[]>();
  const choose = (pkg: LockedPackage) => {
    const key = packageKey(pkg.name, pkg.version);
    if (lock.packages[key]) return;
    if (Object.keys(lock.packages).length >= maxPackages) {
      throw new PackageError(
        "too-large",
        `the imports need more than ${maxPackages} packages, dependencies included (the cap)`,
      );
    }
    lock.packages[key] = pkg;
    chosen.set(pkg.name, [...(chosen.get(pkg.name) ?? []), pkg.version]);
  };

  let level: Wanted[] = [];
  for (const name of Object.keys(wanted).sort()) {
    const range = wanted[name] as string;
    const kept = previous?.roots[name];
    const keptPackage = kept === undefined ? undefined : previous?.packages[kept];
    if (previous && keptPackage) {
      if (!satisfies(keptPackage.version, range)) {
        throw new PackageError(
          "no-matching-version",
          `${name} is ${keptPackage.version} in this session, which does not satisfy "${range}"`,
        );
      }
      if (!policy.allows(name)) throw refused(name, undefined, policy);
      keepClosure(previous, keptPackage, choose, policy);
      lock.roots[name] = packageKey(keptPackage.name, keptPackage.version);
      continue;
    }
    level.push({ alias: name, name, range, optional: false, dependent: undefined });
  }

  const dependents = new Map<string, LockedPackage>();
  while (level.length > 0) {
    const packuments = await fetchAll(registry, level, policy);
    const next: Wanted[] = [];
    for (const want of level) {
      const packument = packuments.get(want.name);
      if (packument === undefined) continue; // an optional dependency that could not be had
      const found = reuse(chosen.get(want.name) ?? [], want.range);
      let key: string;
      if (found !== undefined) {
        key = packageKey(want.name, found);
      } else {
        let manifest: Manifest;
        try {
          manifest = pickManifest(packument, want);
        } catch (err) {
          if (want.optional) continue;
          throw err;
        }
        key = packageKey(manifest.name, manifest.version);
        const pkg: LockedPackage = {
          name: manifest.name,
          version: manifest.version,
          integrity: manifest.integrity ?? "",
          tarball: manifest.tarball,
          dependencies: {},
        };
        choose(pkg);
        dependents.set(key, pkg);
        next.push(...dependenciesOf(manifest, key, lock));
      }
      if (want.dependent === undefined) lock.roots[want.alias] = key;
      else {
        const dependent = lock.packages[want.dependent];
        if (dependent) dependent.dependencies[want.alias] = key;
      }
    }
    level = next;
  }
  return lock;
}

/** Copies a kept package and everything it depends on from a previous lock. */
function keepClosure(
  previous: Lock,
  pkg: LockedPackage,
  choose: (pkg: LockedPackage) => void,
  policy: PackagePolicy,
): void {
  const stack = [pkg];
  const seen = new Set<string>();
  while (stack.length > 0) {
    const next = stack.pop() as LockedPackage;
    const key = packageKey(next.name, next.version);
    if (seen.has(key)) continue;
    seen.add(key);
    if (!policy.allows(next.name)) throw refused(next.name, undefined, policy);
    choose({ ...next, dependencies: { ...next.dependencies } });
    for (const dep of Object.values(next.dependencies)) {
      const found = previous.packages[dep];
      if (found) stack.push(found);
    }
  }
}

/** What a manifest asks for: dependencies, optional ones, and peers nobody else provides. */
function dependenciesOf(manifest: Manifest, key: string, lock: Lock): Wanted[] {
  const out: Wanted[] = [];
  const add = (alias: string, spec: string, optional: boolean) => {
    const aliased = /^npm:((?:@[^/@]+\/)?[^@]+)(?:@(.*))?$/.exec(spec);
    const name = aliased ? (aliased[1] as string) : alias;
    const range = aliased ? (aliased[2] ?? "latest") : spec;
    out.push({ alias, name, range, optional, dependent: key });
  };
  const what = `${manifest.name}@${manifest.version}`;
  for (const [alias, spec] of sorted(manifest.dependencies)) {
    if (alias in manifest.optionalDependencies) continue;
    if (!isSupported(spec)) {
      throw new PackageError(
        "unsupported-dependency",
        `${what} depends on ${alias} as "${spec}": only registry versions, ranges and tags are supported`,
      );
    }
    add(alias, spec, false);
  }
  for (const [alias, spec] of sorted(manifest.optionalDependencies)) {
    if (isSupported(spec)) add(alias, spec, true);
  }
  for (const [alias, spec] of sorted(manifest.peerDependencies)) {
    if (alias in manifest.dependencies || alias in manifest.optionalDependencies) continue;
    // A peer is the package the code itself imports, if it does (whatever its range says).
    const root = lock.roots[alias];
    if (root !== undefined) {
      const pkg = lock.packages[key];
      if (pkg) pkg.dependencies[alias] = root;
      continue;
    }
    if (manifest.optionalPeers.includes(alias) || !isSupported(spec)) continue;
    add(alias, spec, false);
  }
  return out;
}

function sorted(record: Record<string, string>): [string, string][] {
  return Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** A registry range, version or tag (not git, a URL, a file, a workspace). */
function isSupported(spec: string): boolean {
  if (spec.startsWith("npm:")) return true;
  return !/^(?:git|git\+\w+|github|gitlab|bitbucket|file|link|workspace|https?):|^[\w.-]+\/[\w.-]+(?:#.*)?$/.test(
    spec,
  );
}

async function fetchAll(
  registry: Registry,
  level: Wanted[],
  policy: PackagePolicy,
): Promise<Map<string, Packument>> {
  const names = new Map<string, Wanted>();
  for (const want of level) {
    if (!isPackageName(want.name)) {
      if (want.optional) continue;
      throw new PackageError("bad-specifier", `"${want.name}" is not a valid package name`);
    }
    if (!policy.allows(want.name)) {
      if (want.optional) continue;
      throw refused(want.name, want.dependent, policy);
    }
    const seen = names.get(want.name);
    if (!seen || (seen.optional && !want.optional)) names.set(want.name, want);
  }
  const entries = await Promise.all(
    [...names.values()].map(async (want): Promise<[string, Packument | undefined]> => {
      try {
        return [want.name, await registry.packument(want.name)];
      } catch (err) {
        if (want.optional) return [want.name, undefined];
        if (err instanceof PackageError && err.problem === "unknown-package" && want.dependent) {
          throw new PackageError(err.problem, `${err.message} (a dependency of ${want.dependent})`);
        }
        throw err;
      }
    }),
  );
  const out = new Map<string, Packument>();
  for (const [name, packument] of entries) if (packument) out.set(name, packument);
  return out;
}

function refused(name: string, dependent: string | undefined, policy: PackagePolicy): PackageError {
  const by = dependent === undefined ? "" : ` (a dependency of ${dependent})`;
  return new PackageError(
    "policy",
    `package "${name}"${by} is not allowed by the tenant's policy (${policy.describe()})`,
  );
}

/** The highest version already chosen that satisfies `range`, if any. */
function reuse(versions: string[], range: string): string | undefined {
  const fits = versions.filter((version) => satisfies(version, range));
  return fits.sort(semver.rcompare)[0];
}

function satisfies(version: string, range: string): boolean {
  if (range === "latest" || range === "" || range === "*") return true;
  if (semver.validRange(range) === null) return false;
  return semver.satisfies(version, range, {
    includePrerelease: semver.prerelease(version) !== null,
  });
}

/**
 * The version npm would pick for a range or tag: a dist-tag's version; for a range, `latest` if it
 * satisfies the range, else the highest version that does (prereleases only when the range names
 * one).
 */
export function pickManifest(
  packument: Packument,
  want: Pick<Wanted, "name" | "range" | "dependent">,
): Manifest {
  const { name, range } = want;
  const by = want.dependent === undefined ? "" : ` (wanted by ${want.dependent})`;
  const tagged = packument.distTags[range === "" || range === "*" ? "latest" : range];
  let version: string | undefined;
  if (tagged !== undefined) {
    version = tagged;
  } else if (semver.validRange(range) === null) {
    throw new PackageError(
      /^[a-z][\w.-]*$/i.test(range) ? "no-matching-version" : "bad-range",
      /^[a-z][\w.-]*$/i.test(range)
        ? `${name} has no version tagged "${range}"${by}`
        : `"${range}" is not a valid version range for ${name}${by}`,
    );
  } else {
    const latest = packument.distTags.latest;
    const versions = [...packument.versions.keys()];
    version =
      latest !== undefined && packument.versions.has(latest) && semver.satisfies(latest, range)
        ? latest
        : (semver.maxSatisfying(versions, range) ?? undefined);
  }
  const manifest = version === undefined ? undefined : packument.versions.get(version);
  if (!manifest) {
    throw new PackageError(
      "no-matching-version",
      `${name} has no version matching "${range}"${by}`,
    );
  }
  return manifest;
}
