/**
 * Node.js's built-in modules (Node 22's `builtinModules`, without the internal `_` ones): these
 * names are never looked up in the registry, as in Node, where a built-in wins over a package of
 * the same name. `node:` names are always built-ins; the runtime decides which exist.
 */
export const NODE_BUILTINS: ReadonlySet<string> = new Set([
  "assert",
  "assert/strict",
  "async_hooks",
  "buffer",
  "child_process",
  "cluster",
  "console",
  "constants",
  "crypto",
  "dgram",
  "diagnostics_channel",
  "dns",
  "dns/promises",
  "domain",
  "events",
  "fs",
  "fs/promises",
  "http",
  "http2",
  "https",
  "inspector",
  "inspector/promises",
  "module",
  "net",
  "os",
  "path",
  "path/posix",
  "path/win32",
  "perf_hooks",
  "process",
  "punycode",
  "querystring",
  "readline",
  "readline/promises",
  "repl",
  "stream",
  "stream/consumers",
  "stream/promises",
  "stream/web",
  "string_decoder",
  "sys",
  "timers",
  "timers/promises",
  "tls",
  "trace_events",
  "tty",
  "url",
  "util",
  "util/types",
  "v8",
  "vm",
  "wasi",
  "worker_threads",
  "zlib",
]);

/** A runtime module rather than a package: `node:*`, a Node.js built-in name, the two Workers modules. */
export function isBuiltin(specifier: string): boolean {
  return (
    specifier.startsWith("node:") ||
    specifier === "cloudflare:sockets" ||
    specifier === "cloudflare:workers" ||
    NODE_BUILTINS.has(specifier)
  );
}

/** A bare specifier split into its package name and the subpath in the package (`.` or `./…`). */
export interface BareSpecifier {
  name: string;
  subpath: string;
}

/**
 * npm's rule for package names (validate-npm-package-name), with the capital letters of names
 * published before the rule: url-safe characters, not starting with `.` or `_`, at most 214.
 */
const PACKAGE_NAME = /^(?:@[a-z0-9~-][a-z0-9*._~-]*\/)?[a-z0-9~-][a-z0-9._~-]*$/i;

export function isPackageName(name: string): boolean {
  return name.length <= 214 && PACKAGE_NAME.test(name);
}

/**
 * `zod` → `{ name: "zod", subpath: "." }`, `@scope/pkg/a/b` → `{ name: "@scope/pkg", subpath:
 * "./a/b" }`; undefined for what is not a bare package specifier (relative, absolute, a URL, a
 * built-in, `#imports`) or names no valid package.
 */
export function parseBare(specifier: string): BareSpecifier | undefined {
  if (isBuiltin(specifier) || /^[./#]/.test(specifier) || specifier.includes(":")) return undefined;
  const parts = specifier.split("/");
  const nameParts = specifier.startsWith("@") ? 2 : 1;
  const name = parts.slice(0, nameParts).join("/");
  if (!isPackageName(name)) return undefined;
  // `punycode/` (a trailing slash) is the package, not the built-in of the same name.
  const rest = parts.slice(nameParts).join("/").replace(/\/+$/, "");
  if (rest.split("/").some((part) => part === "." || part === "..")) return undefined;
  return { name, subpath: rest === "" ? "." : `./${rest}` };
}
