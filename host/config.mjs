// Generates the workerd configurations that `npm start` serves: one control plane and its runners.
import { readdirSync } from "node:fs";
import { join, relative, resolve } from "node:path";

/** Environment variables the control plane reads, passed as `fromEnvironment` bindings (never written to disk). */
export const PASSED_ENV = [
  "CORDON_DEV_API_KEY",
  "CORDON_ADMIN_TOKEN",
  "CORDON_DEV_POLICY",
  "CORDON_DEV_SECRETS",
  "CORDON_ALLOW_PRIVATE_EGRESS",
  "CORDON_BASE_HOST",
  "CORDON_WARM_ISOLATES",
  "CORDON_PYTHON_WARM_SESSIONS",
  "CORDON_PYTHON_KEEP_SECONDS",
  "CORDON_QUARANTINE_SECONDS",
  "CORDON_RATE_LIMIT",
  "CORDON_NPM_REGISTRY",
];

const quote = (text) => JSON.stringify(text);

/**
 * Pyodide's files for the Python runtime (copied into dist/pyodide by host/build.mjs), served
 * read-only to the worker as its PYODIDE binding: read at a process's first Python run.
 */
const pyodideService = (distDir) =>
  `(name = "pyodide", disk = (path = ${quote(join(distDir, "pyodide"))}, writable = false))`;

/**
 * The operator's Python packages (CORDON_PYODIDE_PACKAGES: a directory holding a
 * pyodide-lock.json and the wheels it lists), as an absolute path, or undefined.
 */
export function pythonPackagesDir() {
  const dir = process.env.CORDON_PYODIDE_PACKAGES;
  return dir ? resolve(dir) : undefined;
}

/** The packages' read-only disk service and its binding, when there are packages. */
function pythonPackages() {
  const dir = pythonPackagesDir();
  if (!dir) return { service: "", binding: "" };
  return {
    service: `(name = "pyodide-packages", disk = (path = ${quote(dir)}, writable = false)),`,
    binding: `(name = "PYODIDE_PACKAGES", service = "pyodide-packages"),`,
  };
}
const unix = (path) => quote(`unix:${path}`);

/**
 * The control plane's socket for runner egress, in a directory of its own: a runner sandbox
 * shows that directory (read-only), and nothing else of the socket directory but its own.
 */
export const controlSocket = (sockDir) => join(sockDir, "egress", "control.sock");

/** Runner `index`'s socket, in the one directory its sandbox may write to. */
export const runnerSocket = (sockDir, index) => join(sockDir, `runner-${index}`, "http.sock");

/** The worker's modules: dist/index.js and the text modules wrangler emitted beside it. */
function modules(distDir, configDir) {
  // capnp resolves `embed` paths relative to the config file.
  const embed = (name) => `embed ${quote(relative(configDir, join(distDir, name)))}`;
  const text = readdirSync(distDir)
    .filter((name) => (name.endsWith(".js") || name.endsWith(".py")) && name !== "index.js")
    .map((name) => `(name = ${quote(name)}, text = ${embed(name)})`);
  return [`(name = "index.js", esModule = ${embed("index.js")})`, ...text].join(",\n    ");
}

/**
 * Addresses the control plane's network refuses even though workerd may count them as public:
 * cloud metadata and link-local, CGNAT, benchmarking, multicast and reserved ranges, and IPv6
 * forms that embed an IPv4 address (mapped, NAT64, 6to4, Teredo) or are not global.
 */
export const DENIED_NETWORKS = [
  "0.0.0.0/8",
  "100.64.0.0/10",
  "169.254.0.0/16",
  "192.0.0.0/24",
  "198.18.0.0/15",
  "224.0.0.0/3",
  "::ffff:0:0/96",
  "64:ff9b::/96",
  "64:ff9b:1::/48",
  "2001::/32",
  "2002::/16",
  "fc00::/7",
  "fe80::/10",
];

/**
 * The control plane's `internet` service: every outbound connection of the gateway (and of the
 * worker itself) goes through it, so a host name that resolves to a private address is refused
 * at the socket whatever the policy said. CORDON_ALLOW_PRIVATE_EGRESS=1 opens private and local
 * addresses for tests and local development.
 */
export function internetService(allowPrivate = process.env.CORDON_ALLOW_PRIVATE_EGRESS === "1") {
  const list = (items) => `[${items.map(quote).join(", ")}]`;
  const network = allowPrivate
    ? `allow = ${list(["public", "private", "local"])}`
    : `allow = ${list(["public"])}, deny = ${list(DENIED_NETWORKS)}`;
  return `(name = "internet", network = (${network}, tlsOptions = (trustBrowserCas = true)))`;
}

/**
 * The control plane's `npm-registry` service: where the package machinery fetches packuments and
 * tarballs (src/packages). Like `internet`, public addresses only, unless CORDON_NPM_REGISTRY names
 * the registry by a loopback or private address (or `localhost`): the operator's own mirror. A
 * host name is never trusted that way, since it may resolve anywhere.
 */
export function registryService(registry = process.env.CORDON_NPM_REGISTRY) {
  const list = (items) => `[${items.map(quote).join(", ")}]`;
  const network = isLocalRegistry(registry)
    ? `allow = ${list(["public", "private", "local"])}`
    : `allow = ${list(["public"])}, deny = ${list(DENIED_NETWORKS)}`;
  return `(name = "npm-registry", network = (${network}, tlsOptions = (trustBrowserCas = true)))`;
}

/** Whether a registry URL names its host by a loopback or private address, or `localhost`. */
export function isLocalRegistry(registry) {
  if (!registry) return false;
  let host;
  try {
    host = new URL(registry).hostname.replace(/^\[|\]$/g, "");
  } catch {
    return false;
  }
  return (
    host === "localhost" ||
    host === "::1" ||
    /^127\./.test(host) ||
    /^10\./.test(host) ||
    /^192\.168\./.test(host) ||
    /^172\.(1[6-9]|2\d|3[01])\./.test(host)
  );
}

/** The capnp text of the control plane: API, Durable Objects, egress gateway. */
export function controlPlaneConfig({
  distDir,
  configDir,
  dataDir,
  address,
  sockDir,
  runners,
  isolation,
  sandbox,
  compatibilityDate,
  durableObjects,
}) {
  const runnerIndexes = [...Array(runners).keys()];
  const bindings = [
    `(name = "LOADER", workerLoader = ())`,
    `(name = "CORDON_RUNNERS", text = ${quote(String(runners))})`,
    `(name = "CORDON_ISOLATION", text = ${quote(isolation)})`,
    `(name = "CORDON_SANDBOX", text = ${quote(sandbox.join(","))})`,
    `(name = "SUPERVISOR", service = "supervisor")`,
    `(name = "PACKAGE_DISK", service = "packages-disk")`,
    `(name = "NPM_REGISTRY", service = "npm-registry")`,
    `(name = "PYODIDE", service = "pyodide")`,
    ...(pythonPackagesDir() ? [`(name = "PYODIDE_PACKAGES", service = "pyodide-packages")`] : []),
    ...runnerIndexes.map((i) => `(name = "RUNNER_${i}", service = "runner-${i}")`),
    // Unset variables are left out, so the worker sees them as undefined rather than null.
    ...PASSED_ENV.filter((name) => process.env[name]).map(
      (name) => `(name = ${quote(name)}, fromEnvironment = ${quote(name)})`,
    ),
    ...durableObjects.map(
      ({ binding, className }) =>
        `(name = ${quote(binding)}, durableObjectNamespace = ${quote(className)})`,
    ),
  ];
  const namespaces = durableObjects.map(
    ({ className, sqlite }) =>
      `(className = ${quote(className)}, uniqueKey = ${quote(`cordon-${className}`)}, enableSql = ${sqlite})`,
  );
  const runnerServices = runnerIndexes.map(
    (i) =>
      `(name = "runner-${i}", external = (address = ${unix(runnerSocket(sockDir, i))}, http = ()))`,
  );
  return `using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .mainWorker),
    ${internetService()},
    ${registryService()},
    (name = "do-disk", disk = (path = ${quote(join(dataDir, "do"))}, writable = true)),
    # The package cache (src/packages/store.ts): tarballs and builds, content-addressed.
    (name = "packages-disk", disk = (path = ${quote(join(dataDir, "packages"))}, writable = true)),
    ${pyodideService(distDir)},
    ${pythonPackages().service}
    (name = "supervisor", external = (address = ${unix(join(sockDir, "supervisor.sock"))}, http = ())),
    ${runnerServices.join(",\n    ")}
  ],
  sockets = [
    (name = "http", address = ${quote(address)}, http = (), service = "main"),
    (name = "egress", address = ${unix(controlSocket(sockDir))}, http = (),
     service = (name = "main", entrypoint = "EgressIngress")),
  ],
);

const mainWorker :Workerd.Worker = (
  modules = [
    ${modules(distDir, configDir)}
  ],
  compatibilityDate = ${quote(compatibilityDate)},
  globalOutbound = "internet",
  bindings = [
    ${bindings.join(",\n    ")}
  ],
  durableObjectNamespaces = [
    ${namespaces.join(",\n    ")}
  ],
  durableObjectStorage = (localDisk = "do-disk"),
);
`;
}

/** The capnp text of runner `index`: guest isolates only, reached through a unix socket. */
export function runnerConfig({ distDir, configDir, sockDir, index, compatibilityDate, v8Flags }) {
  const warm = ["CORDON_WARM_ISOLATES", "CORDON_PYTHON_WARM_SESSIONS", "CORDON_PYTHON_KEEP_SECONDS"]
    .filter((name) => process.env[name])
    .map((name) => `(name = ${quote(name)}, text = ${quote(process.env[name])}),`)
    .join(" ");
  return `using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "runner", worker = .runnerWorker),
    ${pyodideService(distDir)},
    ${pythonPackages().service}
    (name = "control", external = (address = ${unix(controlSocket(sockDir))}, http = ())),
    # A runner reaches nothing but the control plane, even where no network namespace exists.
    (name = "internet", network = (allow = [])),
  ],
  sockets = [ (name = "http", address = ${unix(runnerSocket(sockDir, index))}, http = (), service = "runner") ],
  v8Flags = [${v8Flags.map(quote).join(", ")}],
);

const runnerWorker :Workerd.Worker = (
  modules = [
    ${modules(distDir, configDir)}
  ],
  compatibilityDate = ${quote(compatibilityDate)},
  bindings = [
    (name = "LOADER", workerLoader = ()),
    (name = "CONTROL", service = "control"),
    (name = "PYODIDE", service = "pyodide"),
    ${pythonPackages().binding}
    (name = "CORDON_ROLE", text = "runner"),
    ${warm}
  ],
);
`;
}
