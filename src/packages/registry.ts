import { Lru } from "../cache";
import { PackageError } from "./errors";
import { verifyIntegrity } from "./integrity";
import { PACKAGE_LIMITS } from "./limits";

/** The public npm registry: where bare imports resolve unless `CORDON_NPM_REGISTRY` says otherwise. */
export const DEFAULT_REGISTRY = "https://registry.npmjs.org/";

/** What the resolver needs of one version of a package. */
export interface Manifest {
  name: string;
  version: string;
  dependencies: Record<string, string>;
  optionalDependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
  /** Peers marked optional in `peerDependenciesMeta`: installed only if something else brings them. */
  optionalPeers: string[];
  tarball: string;
  integrity: string | undefined;
}

/** A package's versions and dist-tags, as the registry's abbreviated metadata gives them. */
export interface Packument {
  name: string;
  distTags: Record<string, string>;
  versions: Map<string, Manifest>;
}

/** How the registry is reached: `fetch`, or a binding's `fetch` in tests. */
export type RegistryFetch = (request: Request) => Promise<Response>;

/** How long a packument is trusted before "latest" is asked for again. */
const PACKUMENT_TTL_MS = 5 * 60_000;

interface Cached {
  packument: Packument;
  expires: number;
}

/**
 * Reads packuments and tarballs from an npm registry. Packuments are public metadata, cached
 * here for every tenant for a few minutes (what a tenant may import is decided per request, over
 * them); a failed request caches nothing. Tarballs are verified against `dist.integrity` before
 * they are returned.
 */
export class Registry {
  readonly url: string;
  readonly #fetch: RegistryFetch;
  readonly #packuments = new Lru<string, Cached>(512, {
    maxBytes: 64 * 1024 * 1024,
    maxEntryBytes: PACKAGE_LIMITS.packumentBytes,
    bytes: (_name, cached) => cached.packument.versions.size * 512 + 1024,
  });
  readonly #loading = new Map<string, Promise<Packument>>();

  constructor(
    url: string = DEFAULT_REGISTRY,
    fetcher: RegistryFetch = (request) => fetch(request),
  ) {
    this.url = url.endsWith("/") ? url : `${url}/`;
    this.#fetch = fetcher;
  }

  /** The packument of `name` (a valid package name), from the cache while it is fresh. */
  packument(name: string): Promise<Packument> {
    const cached = this.#packuments.get(name);
    if (cached && cached.expires > Date.now()) return Promise.resolve(cached.packument);
    const loading = this.#loading.get(name);
    if (loading) return loading;
    const load = this.#loadPackument(name).finally(() => this.#loading.delete(name));
    this.#loading.set(name, load);
    return load;
  }

  /** The tarball of one version, verified against its sha512 integrity. */
  async tarball(
    manifest: Pick<Manifest, "name" | "version" | "tarball" | "integrity">,
  ): Promise<Uint8Array> {
    const what = `${manifest.name}@${manifest.version}`;
    const response = await this.#get(manifest.tarball, what, "application/octet-stream");
    if (!response.ok) {
      void response.body?.cancel();
      throw new PackageError(
        "registry",
        `the registry answered ${response.status} for the tarball of ${what}`,
      );
    }
    const bytes = await readCapped(response, PACKAGE_LIMITS.tarballBytes, `the tarball of ${what}`);
    await verifyIntegrity(bytes, manifest.integrity, what);
    return bytes;
  }

  async #loadPackument(name: string): Promise<Packument> {
    const response = await this.#get(
      this.url + encodeName(name),
      name,
      "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8",
    );
    if (response.status === 404) {
      void response.body?.cancel();
      throw new PackageError("unknown-package", `no package named "${name}" in the registry`);
    }
    if (!response.ok) {
      void response.body?.cancel();
      throw new PackageError("registry", `the registry answered ${response.status} for "${name}"`);
    }
    const bytes = await readCapped(
      response,
      PACKAGE_LIMITS.packumentBytes,
      `the registry's metadata of "${name}"`,
    );
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      throw new PackageError("registry", `the registry's metadata of "${name}" is not JSON`);
    }
    const packument = parsePackument(name, json);
    this.#packuments.set(name, { packument, expires: Date.now() + PACKUMENT_TTL_MS });
    return packument;
  }

  async #get(url: string, what: string, accept: string): Promise<Response> {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new PackageError("registry", `the registry gave no valid address for ${what}`);
    }
    if (parsed.protocol !== "https:" && parsed.protocol !== "http:") {
      throw new PackageError("registry", `the registry gave a non-HTTP address for ${what}`);
    }
    try {
      return await this.#fetch(
        new Request(parsed, {
          headers: { accept },
          signal: AbortSignal.timeout(PACKAGE_LIMITS.requestMs),
        }),
      );
    } catch (err) {
      const reason =
        err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError")
          ? `no answer within ${PACKAGE_LIMITS.requestMs / 1000} s`
          : String(err instanceof Error ? err.message : err);
      throw new PackageError(
        "registry",
        `the registry at ${parsed.origin} could not be reached for ${what}: ${reason}`,
      );
    }
  }
}

/** `@scope/name` is one path segment in the registry's API: `@scope%2fname`. */
function encodeName(name: string): string {
  return name.startsWith("@") ? `@${encodeURIComponent(name.slice(1))}` : encodeURIComponent(name);
}

/** The body of `response`, refused past `maxBytes` (read no further than that). */
async function readCapped(response: Response, maxBytes: number, what: string): Promise<Uint8Array> {
  const declared = Number(response.headers.get("content-length"));
  const tooLarge = () =>
    new PackageError("too-large", `${what} is larger than ${maxBytes} bytes, the cap`);
  if (declared > maxBytes) {
    void response.body?.cancel();
    throw tooLarge();
  }
  if (!response.body) return new Uint8Array();
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > maxBytes) throw tooLarge();
      chunks.push(value);
    }
  } catch (err) {
    void reader.cancel().catch(() => {}); // Frees the connection; nothing waits for it.
    if (err instanceof PackageError) throw err;
    throw new PackageError("registry", `${what} could not be read: ${String(err)}`);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** String values of a JSON object, others dropped (the registry's data is not trusted). */
function strings(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isRecord(value)) return out;
  for (const [key, item] of Object.entries(value)) {
    if (typeof item === "string" && key !== "__proto__") out[key] = item;
  }
  return out;
}

/** Keeps what resolution needs of a packument (the rest is dropped, to keep the cache small). */
export function parsePackument(name: string, json: unknown): Packument {
  if (!isRecord(json) || !isRecord(json.versions)) {
    throw new PackageError("registry", `the registry's metadata of "${name}" has no versions`);
  }
  const versions = new Map<string, Manifest>();
  for (const [version, raw] of Object.entries(json.versions)) {
    if (!isRecord(raw) || !isRecord(raw.dist) || typeof raw.dist.tarball !== "string") continue;
    const meta = isRecord(raw.peerDependenciesMeta) ? raw.peerDependenciesMeta : {};
    versions.set(version, {
      name,
      version,
      dependencies: strings(raw.dependencies),
      optionalDependencies: strings(raw.optionalDependencies),
      peerDependencies: strings(raw.peerDependencies),
      optionalPeers: Object.entries(meta)
        .filter(([, value]) => isRecord(value) && value.optional === true)
        .map(([peer]) => peer),
      tarball: raw.dist.tarball,
      integrity: typeof raw.dist.integrity === "string" ? raw.dist.integrity : undefined,
    });
  }
  return { name, distTags: strings(json["dist-tags"]), versions };
}
