// Session state inside a guest isolate: variables carried between executions (encoded so that
// Map, Set, Date, BigInt, typed arrays, undefined and shared or cyclic references survive JSON)
// and the workspace files under /tmp/workspace. Part of the harness, evaluated before any user
// code runs, so the built-ins it keeps are the original ones.
import type { GuestSession } from "../../../guest";
import {
  ArrayBufferCtor,
  builtinModule,
  type Constructor,
  DateCtor,
  dateGetTime,
  ErrorCtor,
  isArray,
  isFiniteNumber,
  isInstance,
  isView,
  MapCtor,
  mapEntries,
  mapGet,
  mapIteratorNext,
  mapSet,
  objectKeys,
  RegExpCtor,
  SetCtor,
  StringCtor,
  setIteratorNext,
  setValues,
  Uint8ArrayCtor,
  uncurry,
} from "./builtins";
import { dataJson, quote } from "./json";

export const WORKSPACE = "/tmp/workspace";

/** What the session code uses of node:fs and node:buffer. */
interface NodeParts {
  mkdirSync: (path: string, options: { recursive: boolean }) => unknown;
  readdirSync: (path: string, options: { withFileTypes: true }) => Dirent[];
  readFileSync: (path: string) => Uint8Array;
  writeFileSync: (path: string, data: Uint8Array) => void;
  isDirectory: (entry: Dirent) => boolean;
  isFile: (entry: Dirent) => boolean;
  bufferFrom: (data: Uint8Array | string, encoding?: string) => Uint8Array;
  bufferToString: (buffer: Uint8Array, encoding: string) => string;
}

/** A directory entry of node:fs, as far as the walk reads it. */
interface Dirent {
  name: string;
}

let node: NodeParts | undefined;
/**
 * What the session code needs of node:fs and node:buffer, loaded when a session run first needs
 * it: importing any node: module with every isolate cost milliseconds of each fresh isolate that
 * one-shot runs do not need. Session runs never share an isolate with one-shot runs
 * (src/sandbox/executor.ts) and every session run hydrates its workspace before its code runs,
 * so these are captured before any code of the isolate could replace them.
 */
function builtins(): NodeParts {
  if (node === undefined) {
    const { Dirent, mkdirSync, readdirSync, readFileSync, writeFileSync } =
      builtinModule("node:fs");
    const { Buffer } = builtinModule("node:buffer");
    node = {
      mkdirSync,
      readdirSync,
      readFileSync,
      writeFileSync,
      isDirectory: uncurry(Dirent.prototype.isDirectory),
      isFile: uncurry(Dirent.prototype.isFile),
      bufferFrom: Buffer.from,
      bufferToString: uncurry(Buffer.prototype.toString),
    };
  }
  return node;
}

const parseJson = JSON.parse;
const clone = structuredClone;
const ObjectCtor = Object;
const BigIntCtor = BigInt;
const isNaNNumber = Number.isNaN;
const objectIs = Object.is;
const getPrototypeOf = Object.getPrototypeOf;
const defineProperty = Object.defineProperty;
const hasOwn = Object.hasOwn;
const objectPrototype = Object.prototype;
const NumberCtor = Number;
const BooleanCtor = Boolean;
/** The primitive inside a String, Number, Boolean or BigInt object (structuredClone keeps them). */
const BOXES: [Constructor, (self: unknown) => unknown][] = [
  [StringCtor, uncurry(String.prototype.valueOf)],
  [NumberCtor, uncurry(Number.prototype.valueOf)],
  [BooleanCtor, uncurry(Boolean.prototype.valueOf)],
  [BigIntCtor, uncurry(BigInt.prototype.valueOf)],
];
/** The error types structuredClone recreates as themselves; other errors become `Error`. */
const ERRORS: { __proto__?: null; [name: string]: ErrorConstructor | null | undefined } = {
  __proto__: null,
  Error,
  EvalError,
  RangeError,
  ReferenceError,
  SyntaxError,
  TypeError,
  URIError,
};
const TYPED: {
  __proto__?: null;
  [name: string]: (new (buffer: ArrayBuffer) => object) | null | undefined;
} = {
  __proto__: null,
  DataView,
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
};

const base64 = (bytes: Uint8Array) =>
  builtins().bufferToString(builtins().bufferFrom(bytes), "base64");
const unbase64 = (text: string) => new Uint8ArrayCtor(builtins().bufferFrom(text, "base64"));

/**
 * Encodes a structured-cloneable value as JSON text: a table of nodes, so shared and cyclic
 * references stay shared. Throws if the value cannot be cloned. The text is written directly
 * (json.guest.js says why).
 */
export function encodeValue(value: unknown): string {
  clone(value);
  const table: { __proto__?: null; [index: number]: string | null } = { __proto__: null };
  let size = 0;
  const seen = new MapCtor();
  const add = (node: string | null) => {
    table[size] = node;
    return size++;
  };
  const visit = (v: unknown): number => {
    switch (typeof v) {
      case "undefined":
        return add('["u"]');
      case "bigint":
        return add(`["b",${quote(StringCtor(v))}]`);
      case "number":
        if (!isFiniteNumber(v) || objectIs(v, -0)) {
          const text = isNaNNumber(v) ? "NaN" : v === 0 ? "-0" : v > 0 ? "Infinity" : "-Infinity";
          return add(`["n","${text}"]`);
        }
        return add(`["p",${dataJson(v)}]`);
      case "string":
      case "boolean":
        return add(`["p",${dataJson(v)}]`);
      default:
        break;
    }
    if (v === null) return add('["p",null]');
    const known = mapGet(seen, v);
    if (known !== undefined) return known;
    const index = add(null);
    mapSet(seen, v, index);
    let node: string;
    // The code's own object: any property may be a getter or a trap.
    const o = v as Record<PropertyKey, unknown>;
    const boxed = unboxed(o);
    if (boxed.length === 1) node = `["w",${visit(boxed[0])}]`;
    else if (isInstance(v, DateCtor)) node = `["d",${dataJson(dateGetTime(v as Date))}]`;
    else if (isInstance(v, RegExpCtor)) {
      node = `["r",${quote(StringCtor(o.source))},${quote(StringCtor(o.flags))}]`;
    } else if (isInstance(v, MapCtor)) {
      let pairs = "";
      const it = mapEntries(v as Map<unknown, unknown>);
      for (let s = mapIteratorNext(it); !s.done; s = mapIteratorNext(it)) {
        pairs += `${pairs === "" ? "" : ","}[${visit(s.value[0])},${visit(s.value[1])}]`;
      }
      node = `["m",[${pairs}]]`;
    } else if (isInstance(v, SetCtor)) {
      let items = "";
      const it = setValues(v as Set<unknown>);
      for (let s = setIteratorNext(it); !s.done; s = setIteratorNext(it)) {
        items += `${items === "" ? "" : ","}${visit(s.value)}`;
      }
      node = `["s",[${items}]]`;
    } else if (isInstance(v, ArrayBufferCtor))
      node = `["ab",${quote(base64(new Uint8ArrayCtor(v as ArrayBuffer)))}]`;
    else if (isView(v)) {
      const bytes = base64(new Uint8ArrayCtor(v.buffer, v.byteOffset, v.byteLength));
      node = `["t",${quote(StringCtor(o[Symbol.toStringTag]))},${quote(bytes)}]`;
    } else if (isArray(v)) {
      const keys = objectKeys(v);
      const length = v.length;
      if (keys.length === length && (length === 0 || keys[length - 1] === StringCtor(length - 1))) {
        let items = "";
        for (let i = 0; i < length; i++) items += `${i === 0 ? "" : ","}${visit(v[i])}`;
        node = `["a",[${items}]]`;
      } else {
        // Holes and properties besides the elements: only what is there, so a sparse array
        // costs what it holds, not its length.
        let entries = "";
        for (let i = 0; i < keys.length; i++) {
          const key = keys[i] as string;
          entries += `${i === 0 ? "" : ","}[${quote(key)},${visit(o[key])}]`;
        }
        node = `["A",${dataJson(length)},[${entries}]]`;
      }
    } else if (isInstance(v, ErrorCtor)) {
      const cause = hasOwn(o, "cause") ? `,${visit(o.cause)}` : "";
      node = `["e",${quote(StringCtor(o.name))},${quote(StringCtor(o.message))}${cause}]`;
    } else {
      let entries = "";
      const keys = objectKeys(o);
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i] as string;
        entries += `${i === 0 ? "" : ","}[${quote(key)},${visit(o[key])}]`;
      }
      node = `["o",[${entries}]]`;
    }
    table[index] = node;
    return index;
  };
  const root = visit(value);
  let nodes = "";
  for (let i = 0; i < size; i++) nodes += `${i === 0 ? "" : ","}${table[i]}`;
  return `[${root},[${nodes}]]`;
}

/** `[primitive]` if `value` is a String, Number, Boolean or BigInt object, else `[]`. */
function unboxed(value: object): unknown[] {
  for (let i = 0; i < BOXES.length; i++) {
    const [Ctor, primitiveOf] = BOXES[i] as (typeof BOXES)[number];
    if (!isInstance(value, Ctor)) continue;
    try {
      return [primitiveOf(value)];
    } catch {
      // Inherits from the prototype without being one (Object.create(String.prototype)).
    }
  }
  return [];
}

/** Sets an own data property, `__proto__` included (assigning that one sets the prototype). */
function setOwn(object: object, key: string, value: unknown): void {
  if (key === "__proto__") {
    defineProperty(object, key, { value, writable: true, enumerable: true, configurable: true });
  } else (object as Record<string, unknown>)[key] = value;
}

/** A property as error constructors define `cause`: not enumerable. */
const hidden = (value: unknown) => ({
  value,
  writable: true,
  enumerable: false,
  configurable: true,
});

/**
 * A node of `encodeValue`'s table, as JSON.parse makes it: the harness's own encoding, read by its
 * tag; a value that does not fit throws, and the run leaves that binding undefined.
 */
// biome-ignore lint/suspicious/noExplicitAny: read by tag, as encodeValue wrote it
type EncodedNode = any[];

/** Decodes what `encodeValue` made. */
export function decodeValue(text: string): unknown {
  const [root, table]: [number, EncodedNode[]] = parseJson(text);
  const made: ({ value: unknown } | undefined)[] = [];
  const build = (index: number): unknown => {
    const done = made[index];
    if (done !== undefined) return done.value;
    const node = table[index] as EncodedNode;
    const tag = node[0];
    const hold = <T>(value: T): T => {
      made[index] = { value };
      return value;
    };
    switch (tag) {
      case "u":
        return undefined;
      case "p":
        return node[1];
      case "b":
        return BigIntCtor(node[1]);
      case "n":
        return node[1] === "-0" ? -0 : Number(node[1]);
      case "d":
        // An invalid date's time is NaN, which JSON wrote as null.
        return hold(new DateCtor(node[1] ?? NaN));
      case "r":
        return hold(new RegExpCtor(node[1], node[2]));
      case "w":
        return hold(ObjectCtor(build(node[1])));
      case "ab":
        return hold(unbase64(node[1]).buffer);
      case "t": {
        const bytes = unbase64(node[2]);
        const Typed = TYPED[node[1]] ?? Uint8ArrayCtor;
        return hold(
          new Typed(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)),
        );
      }
      case "e": {
        const Known = ERRORS[node[1]];
        const error = hold(new (Known ?? ErrorCtor)(node[2]));
        if (Known === undefined) defineProperty(error, "name", hidden(node[1]));
        if (node.length > 3) defineProperty(error, "cause", hidden(build(node[3])));
        return error;
      }
      case "m": {
        const map = hold(new MapCtor());
        for (const [k, v] of node[1]) map.set(build(k), build(v));
        return map;
      }
      case "s": {
        const set = hold(new SetCtor());
        for (const item of node[1]) set.add(build(item));
        return set;
      }
      case "a": {
        const array: unknown[] = hold([]);
        for (let i = 0; i < node[1].length; i++) array[i] = build(node[1][i]);
        return array;
      }
      case "A": {
        const array: unknown[] = hold([]);
        array.length = node[1];
        for (const [key, item] of node[2]) setOwn(array, key, build(item));
        return array;
      }
      default: {
        const object = hold({});
        for (const [key, item] of node[1]) setOwn(object, key, build(item));
        return object;
      }
    }
  };
  return build(root);
}

/**
 * Reads every binding the code left (getters made by the compiler) and answers, as JSON text, per
 * name `{ v: encoded }`, `{ f: 1 }` for a function or class, or `{ x: reason }`. The getters read
 * the code's own bindings: call it inside the run's context.
 */
export function captureBindings(getters: Record<string, () => unknown> | undefined): string {
  let out = "";
  if (getters) {
    const names = objectKeys(getters);
    for (let i = 0; i < names.length; i++) {
      const name = names[i] as string;
      let value: unknown;
      let what: string | undefined;
      try {
        value = (getters[name] as () => unknown)();
      } catch {
        what = '{"x":"uninitialized"}';
      }
      if (what === undefined && typeof value === "function") what = '{"f":1}';
      if (what === undefined) {
        try {
          what = `{"v":${quote(encodeValue(value))}}`;
        } catch {
          what = `{"x":${quote(`not cloneable (${describeKind(value)})`)}}`;
        }
      }
      out += `${out === "" ? "" : ","}${quote(name)}:${what}`;
    }
  }
  return `{${out}}`;
}

function describeKind(value: unknown): string {
  if (value === null || typeof value !== "object") return typeof value;
  if (getPrototypeOf(value) === objectPrototype)
    return "an object holding something that cannot be cloned";
  try {
    const maker = (value as { constructor?: { name?: unknown } }).constructor;
    return `a ${StringCtor(maker?.name || "object")}`;
  } catch {
    return "an object";
  }
}

/** Writes the session's files into an empty workspace; returns what was written, by path. */
export function hydrateWorkspace(files: GuestSession["files"] | undefined): Map<string, string> {
  // /tmp is private to each run (the runtime gives every request its own), so the workspace
  // starts empty; a session's files are written into it.
  const { mkdirSync, writeFileSync } = builtins();
  mkdirSync(WORKSPACE, { recursive: true });
  const before = new MapCtor();
  for (const { path, data } of files ?? []) {
    const full = `${WORKSPACE}/${path}`;
    mkdirSync(full.slice(0, full.lastIndexOf("/")), { recursive: true });
    writeFileSync(full, unbase64(data));
    before.set(path, data);
  }
  return before;
}

/**
 * What changed in the workspace since `before`, as JSON text:
 * `{ changed: [{ path, data }], deleted: [path] }`.
 */
export function collectWorkspace(before: Map<string, string>): string {
  const now = new MapCtor();
  const { isDirectory, isFile, readdirSync, readFileSync } = builtins();
  const walk = (dir: string, prefix: string): void => {
    let entries: Dirent[] = [];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i] as Dirent;
      const path = prefix === "" ? entry.name : `${prefix}/${entry.name}`;
      if (isDirectory(entry)) walk(`${dir}/${entry.name}`, path);
      else if (isFile(entry)) mapSet(now, path, base64(readFileSync(`${dir}/${entry.name}`)));
    }
  };
  walk(WORKSPACE, "");
  let changed = "";
  let deleted = "";
  let it = mapEntries(now);
  for (let s = mapIteratorNext(it); !s.done; s = mapIteratorNext(it)) {
    const path = s.value[0];
    const data = s.value[1];
    if (mapGet(before, path) !== data) {
      changed += `${changed === "" ? "" : ","}{"path":${quote(path)},"data":${quote(data)}}`;
    }
  }
  it = mapEntries(before);
  for (let s = mapIteratorNext(it); !s.done; s = mapIteratorNext(it)) {
    const path = s.value[0];
    if (mapGet(now, path) === undefined) deleted += `${deleted === "" ? "" : ","}${quote(path)}`;
  }
  return `{"changed":[${changed}],"deleted":[${deleted}]}`;
}
