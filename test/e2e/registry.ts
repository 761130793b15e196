// The npm registry fixture: packuments and tarballs built at start from test/registry/packages,
// served on a loopback port. Never the network.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { join, relative } from "node:path";
import { gzip, integrityOf, tar } from "../tarball.ts";

const PACKAGES = join(import.meta.dirname, "..", "registry", "packages");

/** Served with a tarball that does not match its integrity. */
const TAMPERED = new Set(["tampered"]);
/** Served without `dist.integrity`. */
const NO_INTEGRITY = new Set(["no-integrity"]);

export interface Registry {
  url: string;
  /** Paths requested since the start or the last `reset`, in order. */
  requests(): string[];
  reset(): void;
  close(): Promise<void>;
}

interface Version {
  manifest: Record<string, unknown>;
  tarball: Uint8Array;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

/** Every version directory (one holding package.json with a version) under `dir`. */
function versionDirs(dir: string): string[] {
  const here = join(dir, "package.json");
  try {
    const json = JSON.parse(readFileSync(here, "utf8"));
    if (typeof json.version === "string") return [dir];
  } catch {}
  return readdirSync(dir)
    .map((name) => join(dir, name))
    .filter((path) => statSync(path).isDirectory())
    .flatMap(versionDirs);
}

async function buildPackages(url: string): Promise<Map<string, Map<string, Version>>> {
  const packages = new Map<string, Map<string, Version>>();
  for (const dir of versionDirs(PACKAGES)) {
    const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
    const entries = filesUnder(dir)
      .sort()
      .map((path) => ({ name: `package/${relative(dir, path)}`, data: readFileSync(path) }));
    const tarball = await gzip(tar(entries));
    const integrity = await integrityOf(tarball);
    const served = TAMPERED.has(manifest.name)
      ? await gzip(tar([...entries, { name: "package/extra.js", data: "evil()" }]))
      : tarball;
    const name: string = manifest.name;
    const file = `${name.replace("/", "-")}-${manifest.version}.tgz`;
    const dist: Record<string, string> = { tarball: `${url}/-/tarballs/${file}` };
    if (!NO_INTEGRITY.has(name)) dist.integrity = integrity;
    const versions = packages.get(name) ?? new Map<string, Version>();
    versions.set(manifest.version, { manifest: { ...manifest, dist }, tarball: served });
    packages.set(name, versions);
  }
  return packages;
}

function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/).map(Number);
  const pb = b.split(/[.-]/).map(Number);
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return 0;
}

/** Starts the fixture on a free loopback port. */
export async function startRegistry(): Promise<Registry> {
  let requests: string[] = [];
  let packages = new Map<string, Map<string, Version>>();
  const tarballs = new Map<string, Uint8Array>();
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://registry").pathname);
    // The request log, for tests that run where they cannot call `requests()` (worker tests).
    if (path === "/-/requests") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(requests));
      if (req.method === "DELETE") requests = [];
      return;
    }
    requests.push(path);
    const tarball = tarballs.get(path);
    if (tarball) {
      res.writeHead(200, { "content-type": "application/octet-stream" });
      res.end(tarball);
      return;
    }
    const versions = packages.get(path.slice(1));
    if (!versions) {
      res.writeHead(404, { "content-type": "application/json" });
      res.end('{"error":"Not found"}');
      return;
    }
    const sorted = [...versions.keys()].sort(compareVersions);
    const packument = {
      name: path.slice(1),
      "dist-tags": { latest: sorted.at(-1) },
      versions: Object.fromEntries(sorted.map((v) => [v, versions.get(v)?.manifest])),
    };
    res.writeHead(200, { "content-type": "application/vnd.npm.install-v1+json" });
    res.end(JSON.stringify(packument));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const url = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
  packages = await buildPackages(url);
  for (const versions of packages.values()) {
    for (const { manifest, tarball } of versions.values()) {
      const dist = manifest.dist as { tarball: string };
      tarballs.set(new URL(dist.tarball).pathname, tarball);
    }
  }
  return {
    url,
    requests: () => [...requests],
    reset: () => {
      requests = [];
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
