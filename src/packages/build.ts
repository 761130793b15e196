import type { ImportExpression, Program } from "acorn";
import { parse as lexCommonJs } from "cjs-module-lexer";
import { exports as exportsTargets, imports as importsTargets } from "resolve.exports";
import { parseModule } from "../sandbox/runtimes/javascript/parse";
import { STAND_INS } from "../sandbox/runtimes/javascript/shims";
import { PackageError } from "./errors";
import type { Lock, LockedPackage } from "./lock";
import { isBuiltin, parseBare } from "./specifier";
import { literalString, specifierNodes } from "./syntax";

/** The guest module package code reaches at run time (src/packages/runtime.guest.js). */
export const RUNTIME_MODULE = "npm-runtime.js";
/** What `browser: { "x": false }` maps a module to. */
const EMPTY_MODULE = "npm-empty.js";

/** How the code reaches a package: a static or dynamic import, or `require`. */
export type ImportKind = "import" | "require";

/** A module of a Worker Loader module map, as the build makes them (plain data: it travels as JSON). */
export type PackageModule = { js: string } | { cjs: string } | { json: unknown };

/** A bare specifier of the code and how it is reached. */
export interface PackageEntry {
  specifier: string;
  kind: ImportKind;
}

/** The package modules of one resolved set, ready to join a guest isolate's module map. */
export interface PackageBuild {
  /** Module name → module (`{ js }` ESM, `{ cjs }` CommonJS, `{ json }`). */
  modules: Record<string, PackageModule>;
  /** The code's bare specifiers, as imported, to the module name they load. */
  imports: Record<string, string>;
  /** The code's bare specifiers, as required, to the module name they load. */
  requires: Record<string, string>;
  /** Runtime built-ins that package modules import statically (a reused isolate seals them first). */
  builtins: string[];
  /** Every package of the set, dependencies included: what the execution result lists. */
  packages: { name: string; version: string; integrity: string }[];
  /** Characters of module source (JSON as text), what the isolate is handed. */
  bytes: number;
}

/** The files of every package of a lock, by package key, each by path in the package. */
export type PackageFiles = Map<string, Map<string, Uint8Array>>;

type Format = "esm" | "cjs" | "json";

interface FileRef {
  key: string;
  path: string;
}

type Target = { builtin: string } | { file: FileRef } | { empty: true } | { missing: string };

interface PackageJson {
  name?: unknown;
  type?: unknown;
  main?: unknown;
  module?: unknown;
  browser?: unknown;
  exports?: unknown;
  imports?: unknown;
}

/** Conditions of `exports` and `imports` maps, besides `default`; the map's own order decides. */
const CONDITIONS = {
  import: ["workerd", "worker", "browser", "import"],
  require: ["workerd", "worker", "browser", "require"],
} as const;

/** Extensions tried after a path that names no file, in order (bundlers' and Node's CommonJS). */
const EXTENSIONS = [".js", ".mjs", ".cjs", ".json"];
/** File names a module name may carry: anything else would be read as part of a URL. */
const SAFE_PATH = /^[\w.@+~!$&'()*,;=-]+(?:\/[\w.@+~!$&'()*,;=-]+)*$/;
/** Files a build reads: code, JSON and every package.json. */
export const KEPT_FILE = /\.(?:js|mjs|cjs|json)$/;

const utf8 = new TextDecoder();

/**
 * Turns the files of a lock's packages into the modules a guest isolate loads: only the files the
 * code's entries reach, through static imports, literal `require()` calls and literal dynamic
 * imports. Every specifier in package code is rewritten to the module name it resolved to; a
 * computed `import()` and every `require` go through the guest's package runtime, which reaches
 * only the modules resolved here and runtime built-ins, never another module of the isolate.
 * CommonJS modules imported from ESM get a facade exporting the names Node.js would
 * (cjs-module-lexer); ESM modules required from CommonJS get one whose default is the namespace.
 */
export function buildPackages(
  lock: Lock,
  files: PackageFiles,
  entries: PackageEntry[],
  maxBytes: number,
): PackageBuild {
  return new Builder(lock, files, maxBytes).build(entries);
}

class Builder {
  readonly #lock: Lock;
  readonly #files: PackageFiles;
  readonly #maxBytes: number;
  readonly #modules: Record<string, PackageModule> = {};
  readonly #parsed = new Map<string, { format: Format; program?: Program }>();
  readonly #queued = new Set<string>();
  readonly #queue: FileRef[] = [];
  readonly #builtins = new Set<string>();
  #bytes = 0;

  constructor(lock: Lock, files: PackageFiles, maxBytes: number) {
    this.#lock = lock;
    this.#files = files;
    this.#maxBytes = maxBytes;
  }

  build(entries: PackageEntry[]): PackageBuild {
    const imports: Record<string, string> = {};
    const requires: Record<string, string> = {};
    for (const { specifier, kind } of entries) {
      const target = this.#resolveBare(specifier, undefined, kind);
      if ("missing" in target) {
        throw new PackageError("unresolved", `Cannot import "${specifier}": ${target.missing}`);
      }
      const name = this.#moduleFor(target, kind);
      if (name === undefined) continue;
      (kind === "import" ? imports : requires)[specifier] = name;
    }
    for (let ref = this.#queue.shift(); ref; ref = this.#queue.shift()) this.#emit(ref);
    return {
      modules: this.#modules,
      imports,
      requires,
      builtins: [...this.#builtins].sort(),
      packages: Object.values(this.#lock.packages)
        .map(({ name, version, integrity }) => ({ name, version, integrity }))
        .sort((a, b) =>
          a.name < b.name ? -1 : a.name > b.name ? 1 : a.version < b.version ? -1 : 1,
        ),
      bytes: this.#bytes,
    };
  }

  /** The module name an importer of `kind` loads for `target`; undefined for a built-in. */
  #moduleFor(target: Target, kind: ImportKind): string | undefined {
    if ("builtin" in target) return undefined;
    if ("empty" in target) {
      this.#add(EMPTY_MODULE, { cjs: "" }, 0);
      return `/${EMPTY_MODULE}`;
    }
    if ("missing" in target) return undefined;
    const ref = target.file;
    const id = fileId(ref);
    if (!this.#queued.has(id)) {
      this.#queued.add(id);
      this.#queue.push(ref);
    }
    const format = this.#format(ref);
    if (format === "cjs" && kind === "import") return `/${this.#esmFacade(ref)}`;
    if (format === "esm" && kind === "require") {
      const name = `npm-cjs/${ref.key}/${ref.path}`;
      const source = `import * as namespace from ${JSON.stringify(`/npm/${id}`)};\nexport default namespace;\n`;
      this.#add(name, { js: source }, source.length);
      return `/${name}`;
    }
    return `/npm/${id}`;
  }

  #add(name: string, module: PackageModule, bytes: number): void {
    if (this.#modules[name]) return;
    this.#bytes += bytes;
    if (this.#bytes > this.#maxBytes) {
      throw new PackageError(
        "too-large",
        `the imported packages reach more than ${this.#maxBytes} bytes of modules (the cap)`,
      );
    }
    this.#modules[name] = module;
  }

  /** Writes one file's module, its specifiers rewritten (and queues what they reach). */
  #emit(ref: FileRef): void {
    const id = fileId(ref);
    const name = `npm/${id}`;
    const format = this.#format(ref);
    const text = this.#text(ref);
    if (format === "json") {
      try {
        this.#add(name, { json: JSON.parse(text) }, text.length);
      } catch {
        throw new PackageError("bad-package", `${describe(ref)} is not valid JSON`);
      }
      return;
    }
    const program = this.#parse(ref, text, format);
    this.#parsed.set(id, { format });
    const edits: Edit[] = [];
    const table: [string, string | null][] = [];
    for (const node of specifierNodes(program, { esm: format === "esm", cjs: format === "cjs" })) {
      if (node.type === "ImportExpression") {
        this.#dynamicImport(ref, node, edits);
        continue;
      }
      const source = node.type === "CallExpression" ? node.arguments[0] : node.source;
      const specifier = source?.type === "SpreadElement" ? undefined : literalString(source);
      if (specifier === undefined || !source) continue;
      if (node.type === "CallExpression") {
        if (table.some(([known]) => known === specifier)) continue;
        const target = this.#resolve(specifier, ref, "require");
        if ("builtin" in target) continue;
        table.push([specifier, this.#moduleFor(target, "require") ?? null]);
        continue;
      }
      const target = this.#resolve(specifier, ref, "import");
      if ("missing" in target) {
        throw new PackageError(
          "unresolved",
          `${describe(ref)} imports "${specifier}": ${target.missing}`,
        );
      }
      edits.push({
        start: source.start,
        end: source.end,
        text: JSON.stringify(this.#esmSpecifier(target)),
      });
    }
    if (format === "esm") {
      const source = applyEdits(text, edits);
      this.#add(name, { js: source }, source.length);
      return;
    }
    // The module's own function, so `this` is `module.exports` (as in Node.js), `require` is the
    // package runtime's and `arguments` holds nothing of the runtime's. The source parsed as a
    // script on its own, so it is exactly that function's body. The runtime's `require` is called
    // where the runtime put it: it needs the receiver it gets there.
    const body = applyEdits(text.startsWith("#!") ? `//${text.slice(2)}` : text, edits);
    const source =
      `(function (exports, require, module, __filename, __dirname) {${body}\n}).call(module.exports, exports, ` +
      `require(${JSON.stringify(`/${RUNTIME_MODULE}`)}).requireFor((id) => require(id), ${JSON.stringify(table)}), module, __filename, __dirname);\n`;
    this.#add(name, { cjs: source }, source.length);
  }

  /** `import(x)`: a literal that resolves is rewritten to its module; anything else is checked at run time. */
  #dynamicImport(ref: FileRef, node: ImportExpression, edits: Edit[]): void {
    const specifier = literalString(node.source);
    if (specifier !== undefined) {
      const target = this.#resolve(specifier, ref, "import");
      if (!("missing" in target)) {
        edits.push({
          start: node.source.start,
          end: node.source.end,
          text: JSON.stringify(this.#esmSpecifier(target)),
        });
        return;
      }
    }
    edits.push({
      start: node.start,
      end: node.source.start,
      text: `(async (s, o) => import((await import(${JSON.stringify(`/${RUNTIME_MODULE}`)})).default.importSpecifier(s), o))(`,
    });
  }

  /** What an ESM import statement names for a target that resolved. */
  #esmSpecifier(target: Exclude<Target, { missing: string }>): string {
    if ("builtin" in target) {
      const standIn = STAND_INS.get(target.builtin);
      if (standIn !== undefined) return `/${standIn}`;
      this.#builtins.add(target.builtin);
      return target.builtin;
    }
    return this.#moduleFor(target, "import") as string;
  }

  /** The ESM facade of a CommonJS module: its `module.exports` as default, and the names Node.js finds. */
  #esmFacade(ref: FileRef): string {
    const name = `npm-esm/${fileId(ref)}`;
    if (this.#modules[name]) return name;
    const names = [...this.#commonJsExports(ref, new Set())].filter((n) => n !== "default").sort();
    const locals = names.map((_, i) => `e${i}`);
    const source =
      `import m from ${JSON.stringify(`/npm/${fileId(ref)}`)};\nexport default m;\n` +
      (names.length === 0
        ? ""
        : `const ${names.map((n, i) => `${locals[i]} = m?.[${JSON.stringify(n)}]`).join(", ")};\n` +
          `export { ${names.map((n, i) => `${locals[i]} as ${JSON.stringify(n)}`).join(", ")} };\n`);
    this.#add(name, { js: source }, source.length);
    return name;
  }

  /** The named exports cjs-module-lexer finds, following `module.exports = require(…)` re-exports. */
  #commonJsExports(ref: FileRef, seen: Set<string>): Set<string> {
    const names = new Set<string>();
    const id = fileId(ref);
    if (seen.has(id) || seen.size > 32) return names;
    seen.add(id);
    let lexed: { exports: string[]; reexports: string[] };
    try {
      lexed = lexCommonJs(this.#text(ref));
    } catch {
      return names;
    }
    for (const name of lexed.exports) if (isWellFormed(name)) names.add(name);
    for (const specifier of lexed.reexports) {
      const target = this.#resolve(specifier, ref, "require");
      if (!("file" in target) || this.#format(target.file) !== "cjs") continue;
      for (const name of this.#commonJsExports(target.file, seen)) names.add(name);
    }
    return names;
  }

  #text(ref: FileRef): string {
    const bytes = this.#files.get(ref.key)?.get(ref.path);
    return bytes === undefined ? "" : utf8.decode(bytes);
  }

  /**
   * How a file is loaded: by extension, then by the nearest package.json's `type`, then (a `.js`
   * file with no `type`, such as a `module` build) by its syntax, as bundlers do.
   */
  #format(ref: FileRef): Format {
    const id = fileId(ref);
    const known = this.#parsed.get(id);
    if (known) return known.format;
    let format: Format;
    if (ref.path.endsWith(".json")) format = "json";
    else if (ref.path.endsWith(".mjs")) format = "esm";
    else if (ref.path.endsWith(".cjs")) format = "cjs";
    else {
      const type = this.#nearestType(ref);
      if (type === "module") format = "esm";
      else if (type === "commonjs") format = "cjs";
      else {
        const text = this.#text(ref);
        try {
          const program = parseModule(text, SCRIPT);
          this.#parsed.set(id, { format: "cjs", program });
          return "cjs";
        } catch {
          format = "esm";
        }
      }
    }
    this.#parsed.set(id, { format });
    return format;
  }

  #parse(ref: FileRef, text: string, format: "esm" | "cjs"): Program {
    const cached = this.#parsed.get(fileId(ref))?.program;
    if (cached) return cached;
    try {
      return parseModule(text, format === "esm" ? {} : SCRIPT);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      throw new PackageError(
        "bad-package",
        `${describe(ref)} is not valid ${format === "esm" ? "ES module" : "CommonJS"} code: ${message}`,
      );
    }
  }

  #nearestType(ref: FileRef): unknown {
    const parts = ref.path.split("/").slice(0, -1);
    for (let n = parts.length; n >= 0; n--) {
      const json = this.#packageJson(ref.key, parts.slice(0, n).join("/"));
      if (json) return json.type;
    }
    return undefined;
  }

  #packageJson(key: string, dir: string): PackageJson | undefined {
    const bytes = this.#files.get(key)?.get(dir === "" ? "package.json" : `${dir}/package.json`);
    if (bytes === undefined) return undefined;
    try {
      const json: unknown = JSON.parse(utf8.decode(bytes));
      return typeof json === "object" && json !== null && !Array.isArray(json) ? json : undefined;
    } catch {
      return undefined;
    }
  }

  /** Resolves a specifier in package code (`from`). */
  #resolve(specifier: string, from: FileRef, kind: ImportKind, mapped = false): Target {
    const replaced = mapped ? undefined : this.#browserMap(from.key, specifier);
    if (replaced === false) return { empty: true };
    if (replaced !== undefined)
      return this.#resolve(replaced, { key: from.key, path: "" }, kind, true);
    if (isBuiltin(specifier)) return { builtin: specifier };
    if (
      specifier === "." ||
      specifier === ".." ||
      specifier.startsWith("./") ||
      specifier.startsWith("../")
    ) {
      const path = joinPath(dirname(from.path), specifier);
      if (path === undefined) return { missing: "the path leaves the package" };
      return this.#file(from.key, path);
    }
    if (specifier.startsWith("#")) return this.#internal(specifier, from, kind);
    return this.#resolveBare(specifier, from, kind);
  }

  /** `#name` through the package's `imports` map. */
  #internal(specifier: string, from: FileRef, kind: ImportKind): Target {
    const json = this.#packageJson(from.key, "") ?? {};
    let targets: string[] | undefined;
    try {
      targets =
        importsTargets(json, specifier, { conditions: CONDITIONS[kind], unsafe: true }) ??
        undefined;
    } catch {
      targets = undefined;
    }
    const first = targets?.[0];
    if (first === undefined)
      return { missing: `the package's "imports" map has no "${specifier}"` };
    if (first.startsWith("./")) return this.#file(from.key, first.slice(2));
    return this.#resolveBare(first, from, kind);
  }

  /** A bare specifier, from the code itself (`from` undefined) or from package code. */
  #resolveBare(specifier: string, from: FileRef | undefined, kind: ImportKind): Target {
    if (isBuiltin(specifier)) return { builtin: specifier };
    const bare = parseBare(specifier);
    if (!bare) return { missing: "it is not a package name, a path in the package or a built-in" };
    let key: string | undefined;
    if (from) {
      const dependent = this.#lock.packages[from.key] as LockedPackage;
      key =
        dependent.dependencies[bare.name] ?? (dependent.name === bare.name ? from.key : undefined);
      if (key === undefined) {
        return { missing: `"${bare.name}" is not a dependency of ${from.key}` };
      }
    } else {
      key = this.#lock.roots[bare.name];
      if (key === undefined) return { missing: `"${bare.name}" was not resolved` };
    }
    if (!this.#files.has(key)) return { missing: `${key} has no files` };
    return this.#entry(key, bare.subpath, kind);
  }

  /** A subpath of a package (`.` or `./x`): its `exports` map, else its main fields and files. */
  #entry(key: string, subpath: string, kind: ImportKind): Target {
    const json = this.#packageJson(key, "") ?? {};
    if (json.exports !== undefined && json.exports !== null) {
      let targets: string[] | undefined;
      try {
        targets =
          exportsTargets({ ...json, name: String(json.name ?? key) }, subpath, {
            conditions: CONDITIONS[kind],
            unsafe: true,
          }) ?? undefined;
      } catch {
        targets = undefined;
      }
      for (const target of targets ?? []) {
        const path = joinPath("", target);
        if (path === undefined) continue;
        const found = this.#file(key, path);
        if (!("missing" in found)) return found;
      }
      return { missing: `${key} does not export "${subpath}" (its "exports" map)` };
    }
    if (subpath !== ".") return this.#file(key, subpath.slice(2));
    const fields =
      kind === "import" ? [json.browser, json.module, json.main] : [json.browser, json.main];
    for (const field of fields) {
      if (typeof field !== "string") continue;
      const path = joinPath("", field);
      if (path === undefined) continue;
      const found = this.#file(key, path);
      if (!("missing" in found)) return found;
    }
    return this.#file(key, "");
  }

  /** A path in a package: the file, with an extension added, or a directory's main or index. */
  #file(key: string, path: string, depth = 0): Target {
    const files = this.#files.get(key);
    if (!files) return { missing: `${key} has no files` };
    const candidates = path === "" ? [] : [path, ...EXTENSIONS.map((ext) => path + ext)];
    let found = candidates.find((candidate) => files.has(candidate) && KEPT_FILE.test(candidate));
    if (found === undefined) {
      const json = this.#packageJson(key, path);
      if (json && typeof json.main === "string" && depth < 4) {
        const main = joinPath(path, json.main);
        if (main !== undefined && main !== path) {
          const viaMain = this.#file(key, main, depth + 1);
          if (!("missing" in viaMain)) return viaMain;
        }
      }
      const prefix = path === "" ? "" : `${path}/`;
      found = EXTENSIONS.map((ext) => `${prefix}index${ext}`).find((candidate) =>
        files.has(candidate),
      );
    }
    if (found === undefined) return { missing: `${key} has no file "${path || "index.js"}"` };
    const mapped = this.#browserMap(key, `./${found}`);
    if (mapped === false) return { empty: true };
    if (mapped !== undefined && mapped !== `./${found}`) {
      const other = joinPath("", mapped);
      if (other !== undefined && depth < 4) return this.#file(key, other, depth + 1);
    }
    if (!SAFE_PATH.test(found))
      return { missing: `${key}'s file "${found}" has a name modules cannot have` };
    return { file: { key, path: found } };
  }

  /** What the package's `browser` object maps `specifier` to: false (nothing), a replacement, or undefined. */
  #browserMap(key: string, specifier: string): string | false | undefined {
    const browser = this.#packageJson(key, "")?.browser;
    if (typeof browser !== "object" || browser === null || Array.isArray(browser)) return undefined;
    const map = browser as Record<string, unknown>;
    const forms = specifier.startsWith("./")
      ? [specifier, specifier.replace(/\.(?:js|mjs|cjs|json)$/, "")]
      : [specifier];
    for (const form of forms) {
      if (!Object.hasOwn(map, form)) continue;
      const value = map[form];
      if (value === false) return false;
      if (typeof value === "string") return value;
    }
    return undefined;
  }
}

const SCRIPT = {
  sourceType: "script",
  allowReturnOutsideFunction: true,
  allowHashBang: true,
} as const;

interface Edit {
  start: number;
  end: number;
  text: string;
}

function applyEdits(text: string, edits: Edit[]): string {
  edits.sort((a, b) => a.start - b.start);
  let out = "";
  let at = 0;
  for (const edit of edits) {
    out += text.slice(at, edit.start) + edit.text;
    at = edit.end;
  }
  return out + text.slice(at);
}

function fileId(ref: FileRef): string {
  return `${ref.key}/${ref.path}`;
}

function describe(ref: FileRef): string {
  return `${ref.key}'s ${ref.path}`;
}

function dirname(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash === -1 ? "" : path.slice(0, slash);
}

/** `base` joined with a relative path, normalised; undefined if it leaves the package. */
function joinPath(base: string, relative: string): string | undefined {
  const out = base === "" ? [] : base.split("/");
  for (const part of relative.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (out.length === 0) return undefined;
      out.pop();
    } else out.push(part);
  }
  return out.join("/");
}

function isWellFormed(name: string): boolean {
  return !/[\uD800-\uDFFF]/.test(name.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, ""));
}
