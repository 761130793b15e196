// Generates the workerd configuration that `npm start` serves.
import { readdirSync } from "node:fs";
import { join, relative } from "node:path";

/** Environment variables the worker reads, passed as `fromEnvironment` bindings (never written to disk). */
export const PASSED_ENV = [
  "CORDON_DEV_API_KEY",
  "CORDON_ADMIN_TOKEN",
  "CORDON_DEV_POLICY",
  "CORDON_DEV_SECRETS",
  "CORDON_ALLOW_PRIVATE_EGRESS",
  "CORDON_BASE_HOST",
  "CORDON_WARM_ISOLATES",
];

const quote = (text) => JSON.stringify(text);

/** The capnp text of a control-plane config serving `distDir` on `address`, storing under `dataDir`. */
export function controlPlaneConfig({
  distDir,
  dataDir,
  address,
  compatibilityDate,
  durableObjects,
}) {
  // capnp resolves `embed` paths relative to the config file, which lives in dataDir.
  const embed = (name) => `embed ${quote(relative(dataDir, join(distDir, name)))}`;
  const modules = readdirSync(distDir)
    .filter((name) => name.endsWith(".js") && name !== "index.js")
    .map((name) => `(name = ${quote(name)}, text = ${embed(name)})`);
  const bindings = [
    `(name = "LOADER", workerLoader = ())`,
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
  return `using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .mainWorker),
    (name = "do-disk", disk = (path = ${quote(join(dataDir, "do"))}, writable = true)),
  ],
  sockets = [ (name = "http", address = ${quote(address)}, http = (), service = "main") ],
);

const mainWorker :Workerd.Worker = (
  modules = [
    (name = "index.js", esModule = ${embed("index.js")}),
    ${modules.join(",\n    ")}
  ],
  compatibilityDate = ${quote(compatibilityDate)},
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
