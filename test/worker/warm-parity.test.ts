import { describe, expect, it } from "vitest";
import { run } from "./helpers";

// Code sent for the first time runs in a one-shot isolate; from the second time on it runs in a
// reused isolate, sealed and frozen (docs/isolates.md). Ordinary code must not notice: every run
// answers what the first one did, status, result, error and logs alike.
const unique = () => crypto.randomUUID().slice(0, 8);

/** What a user sees of a run, without what differs from run to run (ids, timings). */
async function outcome(code: string, input: unknown) {
  const r = await run({ code, input });
  return { status: r.status, result: r.result, error: r.error, logs: r.logs };
}

const corpus: [string, string][] = [
  [
    "process.stdout.write and process.stderr.write",
    `process.stdout.write("hi\\n"); process.stderr.write("oops\\n");
const a = process.stdout.write("a"); process.stdout.write(new TextEncoder().encode("b\\n"));
[a, typeof process.stdout.on, process.stdout.writable]`,
  ],
  [
    "console.log after process.stdout.write",
    `process.stdout.write("x\\n"); console.log("y"); await new Promise((r) => setTimeout(r, 5)); "ok"`,
  ],
  [
    "a Readable piped through a PassThrough into a Writable (pipeline)",
    `import { PassThrough, Readable, Writable, pipeline } from "node:stream";
import { promisify } from "node:util";
const chunks = [];
const sink = new Writable({ write(c, _e, cb) { chunks.push(String(c)); cb() } });
await promisify(pipeline)(Readable.from(["a", "b", "c"]), new PassThrough(), sink);
chunks`,
  ],
  [
    "node:stream/promises pipeline with a Transform and async iteration",
    `import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
const up = new Transform({ transform(c, _e, cb) { cb(null, String(c).toUpperCase()) } });
const out = [];
await pipeline(Readable.from(["x", "y"]), up, async function (src) { for await (const c of src) out.push(String(c)) });
out`,
  ],
  [
    "stream classes with construct, read, write, final and destroy",
    `import { Duplex, Readable, Writable } from "node:stream";
const log = [];
const r = new Readable({ construct(cb) { log.push("construct"); cb() }, read() { this.push("r"); this.push(null) } });
for await (const c of r) log.push(String(c));
const w = new Writable({ write(c, _e, cb) { log.push("w" + c); cb() }, final(cb) { log.push("final"); cb() } });
await new Promise((res) => { w.on("finish", res); w.write("1"); w.end("2") });
const d = new Duplex({ read() {}, write(_c, _e, cb) { cb() } }); d.destroy();
await new Promise((res) => d.on("close", res));
const rr = new Readable({ read() {} }); rr._read = function () { this.push(null) };
rr.resume(); await new Promise((res) => rr.on("end", res));
[log, d.destroyed, rr.readableEnded]`,
  ],
  [
    "an EventEmitter of its own, on, once, emit and errors",
    `import { EventEmitter, once } from "node:events";
const e = new EventEmitter(); const got = [];
e.on("x", (v) => got.push(v)); e.once("x", (v) => got.push("once " + v));
e.emit("x", 1); e.emit("x", 2); e.setMaxListeners(20);
class Sub extends EventEmitter {} const s = new Sub();
setTimeout(() => s.emit("ready", 3), 1); const [v] = await once(s, "ready");
let caught; try { e.emit("error", new Error("boom")) } catch (err) { caught = err.message }
[got, v, e.listenerCount("x"), e.getMaxListeners(), caught, e.eventNames()]`,
  ],
  [
    "process.nextTick and queueMicrotask",
    `const order = [];
await new Promise((r) => { process.nextTick(() => { order.push("tick"); r() }); queueMicrotask(() => order.push("micro")) });
const v = await new Promise((r) => process.nextTick(r, 5));
[order.sort(), v]`,
  ],
  [
    "process.on, process.emit and process.off",
    `const got = []; const f = (v) => got.push(v);
process.on("custom", f); process.emit("custom", 1); process.off("custom", f); process.emit("custom", 2);
[got, process.listenerCount("custom")]`,
  ],
  [
    "process properties",
    "[typeof process.env, process.platform, typeof process.version, typeof process.cwd(), Array.isArray(process.argv), typeof process.hrtime.bigint()]",
  ],
  [
    "node:buffer",
    `import { Blob, Buffer, constants } from "node:buffer";
const b = Buffer.alloc(4); b.writeUInt32LE(258); const c = Buffer.concat([Buffer.from("ab"), b]);
[c.toString("hex"), Buffer.from("aGk=", "base64").toString(), Buffer.byteLength("é"), await new Blob(["xy"]).text(),
 typeof constants.MAX_LENGTH, Buffer.isBuffer(c), c.subarray(1, 3).toJSON(), atob(btoa("z"))]`,
  ],
  [
    "node:util format, inspect, promisify, types, inherits",
    `import util from "node:util";
function cb(x, done) { setTimeout(() => done(null, x * 2), 1) }
function Old() {} util.inherits(Old, Object);
[util.format("%s=%d %j", "a", 1, { b: 2 }), util.inspect({ a: [1, { b: new Map([[1, 2]]) }] }, { depth: 4 }),
 await util.promisify(cb)(4), util.types.isPromise(Promise.resolve()), util.isDeepStrictEqual({ a: 1 }, { a: 1 }),
 util.inspect("s", { colors: false }), typeof util.deprecate(() => 1, "old")]`,
  ],
  [
    "node:crypto createHash, createHmac, randomUUID, randomBytes",
    `import crypto from "node:crypto";
const h = crypto.createHash("sha256"); h.update("a"); h.update("b");
[h.digest("hex"), crypto.createHmac("sha256", "k").update("m").digest("base64"),
 crypto.randomUUID().length, crypto.randomBytes(8).length, crypto.createHash("md5").update("x").digest("hex"),
 crypto.timingSafeEqual(Buffer.from("a"), Buffer.from("a"))]`,
  ],
  [
    "node:path and node:url",
    `import path from "node:path"; import url, { URL, URLSearchParams, fileURLToPath, pathToFileURL } from "node:url";
const u = new URL("https://a.example/p?q=1#h"); u.searchParams.append("r", "2");
[path.join("/a", "..", "b", "c.txt"), path.extname("x.tar.gz"), path.resolve("/x", "y"), path.posix.basename("/q/w.e"),
 u.href, new URLSearchParams({ a: "1 2" }).toString(), fileURLToPath("file:///tmp/x"), pathToFileURL("/tmp/y").href,
 url.format({ protocol: "http", host: "h", pathname: "/p" })]`,
  ],
  [
    "node:zlib",
    `import zlib from "node:zlib"; import { promisify } from "node:util";
const gz = zlib.gzipSync("hello hello hello"); const back = zlib.gunzipSync(gz).toString();
const deflated = await promisify(zlib.deflate)("abc"); const inflated = String(zlib.inflateSync(deflated));
[back, inflated, zlib.brotliDecompressSync(zlib.brotliCompressSync("b")).toString(), typeof zlib.constants.Z_BEST_SPEED]`,
  ],
  [
    "node:zlib streams",
    `import zlib from "node:zlib"; import { Readable } from "node:stream"; import { pipeline } from "node:stream/promises";
const parts = [];
await pipeline(Readable.from([Buffer.from("zz")]), zlib.createGzip(), zlib.createGunzip(), async function (s) { for await (const c of s) parts.push(String(c)) });
parts.join("")`,
  ],
  [
    "node:string_decoder",
    `import { StringDecoder } from "node:string_decoder";
const d = new StringDecoder("utf8"); const euro = Buffer.from("€");
[d.write(euro.subarray(0, 1)), d.write(euro.subarray(1)), d.end()]`,
  ],
  [
    "TextEncoderStream and TextDecoderStream",
    `const out = [];
const rs = new ReadableStream({ start(c) { c.enqueue("héllo"); c.close() } });
for await (const s of rs.pipeThrough(new TextEncoderStream()).pipeThrough(new TextDecoderStream())) out.push(s);
[out.join(""), new TextDecoder().decode(new TextEncoder().encode("ü"))]`,
  ],
  [
    "web streams: ReadableStream, TransformStream, WritableStream",
    `const t = new TransformStream({ transform(chunk, c) { c.enqueue(chunk * 2) } });
const w = t.writable.getWriter(); void w.write(1); void w.write(2); void w.close();
const got = []; for await (const v of t.readable) got.push(v);
const sunk = []; await new ReadableStream({ pull(c) { c.enqueue(sunk.length); if (sunk.length > 1) c.close() } })
  .pipeTo(new WritableStream({ write(v) { sunk.push(v) } }));
const [a, b] = new ReadableStream({ start(c) { c.enqueue("t"); c.close() } }).tee();
[got, sunk, (await a.getReader().read()).value, (await b.getReader().read()).value]`,
  ],
  [
    "CompressionStream and DecompressionStream",
    `const data = new TextEncoder().encode("compress me ".repeat(10));
const packed = new Response(new Blob([data]).stream().pipeThrough(new CompressionStream("gzip")));
const unpacked = await new Response((await packed.blob()).stream().pipeThrough(new DecompressionStream("gzip"))).text();
unpacked.length`,
  ],
  [
    "structuredClone",
    `const src = { m: new Map([[1, { d: new Date(0) }]]), s: new Set([1n]), u: new Uint8Array([1, 2]) }; src.self = src;
const c = structuredClone(src);
[c.m.get(1).d.toISOString(), [...c.s].map(String), [...c.u], c.self === c, c !== src]`,
  ],
  [
    "Intl",
    `[new Intl.NumberFormat("de-DE", { style: "currency", currency: "EUR" }).format(1234.5),
 new Intl.DateTimeFormat("en-US", { timeZone: "UTC", dateStyle: "medium" }).format(new Date(0)),
 ["b", "a", "C"].sort(new Intl.Collator("en").compare), new Intl.PluralRules("en").select(1),
 new Intl.RelativeTimeFormat("en").format(-1, "day"), [...new Intl.Segmenter("en", { granularity: "word" }).segment("a b")].length,
 new Intl.ListFormat("en").format(["x", "y"]), (1e6).toLocaleString("en-US"), new Date(0).toLocaleDateString("en-US", { timeZone: "UTC" })]`,
  ],
  [
    "AbortController and AbortSignal",
    `const ac = new AbortController(); const seen = [];
ac.signal.addEventListener("abort", () => seen.push("listener")); ac.signal.onabort = () => seen.push("onabort");
ac.abort(new Error("stop"));
const t = await new Promise((r) => AbortSignal.timeout(5).addEventListener("abort", (e) => r(e.target.reason.name)));
[seen, ac.signal.aborted, ac.signal.reason.message, t, AbortSignal.abort().aborted, AbortSignal.any([ac.signal]).aborted]`,
  ],
  [
    "timers and node:timers/promises",
    `import { setTimeout as sleep, setImmediate as immediate } from "node:timers/promises";
const order = [];
await new Promise((r) => { setImmediate(() => { order.push("immediate"); r() }) });
let n = 0; const id = setInterval(() => n++, 1); await sleep(10); clearInterval(id);
const t = setTimeout(() => order.push("never"), 1); clearTimeout(t);
[order, n > 0, await sleep(1, "v"), await immediate("i"), typeof t]`,
  ],
  [
    "fetch of a data: URL",
    `const r = await fetch("data:text/plain,hello"); [r.status, await r.text()]`,
  ],
  [
    "Request, Response, Headers, FormData, Blob",
    `const h = new Headers({ a: "1" }); h.append("b", "2");
const req = new Request("https://x.example/", { method: "POST", body: "b", headers: h });
const fd = new FormData(); fd.append("k", "v");
[await req.text(), [...h], await Response.json({ j: 1 }).json(), fd.get("k"), await new Blob(["bl"]).text(),
 new Response(null, { status: 204 }).status]`,
  ],
  [
    "class instances with private fields, accessors and static blocks",
    `class Counter { #n = 0; static #made = 0; static { Counter.kind = "c" }
  constructor() { Counter.#made++ } inc() { return ++this.#n } get n() { return this.#n }
  static made() { return Counter.#made } static has(o) { return #n in o } }
const a = new Counter(); a.inc(); a.inc(); new Counter();
[a.n, Counter.made(), Counter.has(a), Counter.has({}), Counter.kind]`,
  ],
  [
    "EventTarget and Event of its own",
    `const t = new EventTarget(); const got = [];
t.addEventListener("x", (e) => got.push(e.type + e.detail), { once: true });
t.dispatchEvent(new CustomEvent("x", { detail: 1 })); t.dispatchEvent(new CustomEvent("x", { detail: 2 }));
got`,
  ],
  [
    "node:assert, node:querystring and node:async_hooks",
    `import assert from "node:assert"; import qs from "node:querystring"; import { AsyncLocalStorage } from "node:async_hooks";
let msg; try { assert.strictEqual(1, 2) } catch (e) { msg = e.name }
const als = new AsyncLocalStorage();
const v = await als.run("store", async () => { await null; return als.getStore() });
[msg, qs.stringify({ a: [1, 2] }), qs.parse("x=1&y=2").y, v]`,
  ],
  [
    "node:fs in /tmp",
    `import fs from "node:fs";
fs.writeFileSync("/tmp/p.txt", "data"); const s = fs.readFileSync("/tmp/p.txt", "utf8");
await fs.promises.writeFile("/tmp/q.txt", "q"); [s, await fs.promises.readFile("/tmp/q.txt", "utf8"), fs.existsSync("/tmp/none")]`,
  ],
  [
    "an error thrown from inside a stream callback",
    `import { Writable } from "node:stream";
const w = new Writable({ write(_c, _e, cb) { cb(new Error("bad chunk")) } });
const err = await new Promise((r) => { w.on("error", (e) => r(e.message)); w.write("x") });
[err, w.destroyed, w.errored?.message]`,
  ],
  [
    "process imported from node:process, and its named stdio exports",
    `import process2, { stdout, stderr, nextTick, env } from "node:process";
process2.stdout.write("p2\\n"); stdout.write("named\\n"); stderr.write("named err\\n");
await new Promise((r) => nextTick(r));
[process2 === process, typeof env, stdout.writable]`,
  ],
  [
    "process.stdout.write with a callback, end of line later, and stdin at its end",
    `const done = await new Promise((r) => process.stdout.write("cb", () => r("called")));
process.stdout.write(" then\\n");
const chunks = []; for await (const c of process.stdin) chunks.push(c);
[done, chunks.length, process.stdin.fd, process.stdout.fd, process.stderr.fd, process.stdout.isTTY ?? null]`,
  ],
  [
    "process.emitWarning, process.hrtime, process.memoryUsage, process.uptime",
    `const warned = await new Promise((r) => { process.once("warning", (w) => r(w.message)); process.emitWarning("careful") });
const t = process.hrtime(); const d = process.hrtime(t);
[warned, t.length, d.length, typeof process.uptime(), typeof process.memoryUsage]`,
  ],
  [
    "Error.prepareStackTrace and Error.captureStackTrace",
    `const o = {}; Error.captureStackTrace(o); const had = typeof o.stack;
let prepared; try { Error.prepareStackTrace = (_e, frames) => frames; prepared = "set" } catch (e) { prepared = e.name }
class Own extends Error { constructor() { super("own"); Error.captureStackTrace(this, Own) } }
[had, prepared, typeof new Error("x").stack, new Own().stack.split("\\n")[0]]`,
  ],
  [
    "node:readline over a stream",
    `import readline from "node:readline"; import { Readable } from "node:stream";
const rl = readline.createInterface({ input: Readable.from(["a\\nb", "\\nc\\n"]) });
const lines = []; for await (const l of rl) lines.push(l);
lines`,
  ],
  [
    "node:events async iterator, EventEmitter.once and captureRejections",
    `import { EventEmitter, on } from "node:events";
const e = new EventEmitter({ captureRejections: true });
setTimeout(() => { e.emit("v", 1); e.emit("v", 2) }, 1);
const got = []; for await (const [v] of on(e, "v")) { got.push(v); if (got.length === 2) break }
got`,
  ],
  [
    "node:stream toWeb, fromWeb, finished and Readable.from an async generator",
    `import { Readable, Writable, finished } from "node:stream";
async function* gen() { yield "g1"; yield "g2" }
const web = Readable.toWeb(Readable.from(gen())); const got = [];
for await (const c of web) got.push(String(c));
const back = Readable.fromWeb(new ReadableStream({ start(c) { c.enqueue("w"); c.close() } }), { objectMode: true });
for await (const c of back) got.push(String(c));
const w = new Writable({ write(_c, _e, cb) { cb() } }); w.end("x");
await new Promise((r, j) => finished(w, (err) => (err ? j(err) : r())));
got`,
  ],
  [
    "node:crypto ciphers, key derivation and webcrypto",
    `import crypto from "node:crypto";
const key = crypto.scryptSync("pw", "salt", 32); const iv = Buffer.alloc(16, 1);
const c = crypto.createCipheriv("aes-256-cbc", key, iv); const enc = Buffer.concat([c.update(Buffer.from("text")), c.final()]);
const d = crypto.createDecipheriv("aes-256-cbc", key, iv); const dec = Buffer.concat([d.update(enc), d.final()]).toString();
const k = await crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, true, ["sign"]);
[dec, crypto.pbkdf2Sync("p", "s", 1, 8, "sha256").toString("hex"), k.type, crypto.getRandomValues(new Uint8Array(4)).length,
 crypto.createHash("sha1").copy().digest("hex").length]`,
  ],
  [
    "node:util inspect.custom, TextDecoder streaming and debuglog",
    `import util from "node:util";
class P { [util.inspect.custom]() { return "P!" } }
const dec = new util.TextDecoder(); const euro = new TextEncoder().encode("€");
const s = dec.decode(euro.subarray(0, 2), { stream: true }) + dec.decode(euro.subarray(2));
[util.inspect(new P()), s,
 typeof util.debuglog("x"), util.inspect(new Map([["k", new Set([1])]]))]`,
  ],
  [
    "node:fs streams in /tmp",
    `import fs from "node:fs"; import { pipeline } from "node:stream/promises";
fs.writeFileSync("/tmp/in.txt", "stream me");
await pipeline(fs.createReadStream("/tmp/in.txt"), fs.createWriteStream("/tmp/out.txt"));
fs.readFileSync("/tmp/out.txt", "utf8")`,
  ],
  [
    "node:timers objects: ref, unref, refresh, hasRef",
    `import timers from "node:timers";
const t = timers.setTimeout(() => {}, 1000); t.unref(); const a = t.hasRef(); t.ref(); t.refresh(); timers.clearTimeout(t);
const v = await new Promise((r) => timers.setImmediate(r, "imm"));
[a, t.hasRef(), v, typeof t[Symbol.toPrimitive]]`,
  ],
  [
    "MessageChannel, BroadcastChannel-free messaging, and queueMicrotask ordering",
    `const { port1, port2 } = new MessageChannel();
const got = await new Promise((r) => { port2.onmessage = (e) => r(e.data); port1.postMessage({ m: 1 }) });
port1.close(); port2.close();
got`,
  ],
  [
    "subclasses of Array, Map, Promise and Error",
    `class A extends Array { sum() { return this.reduce((a, b) => a + b, 0) } }
class M extends Map { getOr(k, d) { return this.has(k) ? this.get(k) : d } }
class P extends Promise {} class E extends TypeError { name = "E" }
const p = await P.resolve(1).then((v) => v + 1);
[A.from([1, 2, 3]).sum(), A.of(1).map((x) => x) instanceof A, new M([[1, 2]]).getOr(3, 4), p, String(new E("m")), new E() instanceof TypeError]`,
  ],
  [
    "newer built-ins: iterator helpers, Set methods, groupBy, withResolvers, fromAsync",
    `const { promise, resolve } = Promise.withResolvers(); resolve(1);
[await promise, [1, 2, 3].values().map((x) => x * 2).filter((x) => x > 2).toArray(), [...new Set([1, 2]).union(new Set([3]))],
 Object.groupBy([1, 2, 3], (x) => (x % 2 ? "odd" : "even")), await Array.fromAsync((async function* () { yield 1 })()),
 URL.canParse("https://x"), typeof URLPattern]`,
  ],
  [
    "console methods",
    `console.info("i"); console.warn("w"); console.error("e"); console.debug("d"); console.table([1]);
console.group("g"); console.groupEnd(); console.assert(false, "a"); console.dir({ x: 1 }); console.count(); console.count();
null`,
  ],
  [
    "Buffer and typed array writes on its own objects",
    `const b = Buffer.from([1, 2, 3]); b[0] = 9; b.fill(7, 2); const u = new Uint8Array(2); u.set([4, 5]);
const dv = new DataView(new ArrayBuffer(4)); dv.setInt16(0, -2);
[[...b], [...u], dv.getInt16(0), b.swap16 ? "swap" : "none", Buffer.compare(b, Buffer.from([9]))]`,
  ],
  [
    "eval, new Function and the Function constructors",
    `const out = [];
for (const f of [() => eval("1 + 1"), () => new Function("a", "return a * 2")(3), () => (0, eval)("typeof globalThis"),
  () => new (async function () {}).constructor("return 4")()]) {
  try { out.push(f()) } catch (e) { out.push(e.name) }
}
await Promise.all(out)`,
  ],
  [
    "node:http, node:https and node:net clients reach the gateway like fetch",
    `import http from "node:http"; import net from "node:net";
const h = await new Promise((r) => { const req = http.get("http://example.com/", (res) => r("status " + res.statusCode)); req.on("error", (e) => r(e.name)) });
const n = await new Promise((r) => { const s = net.connect(80, "example.com"); s.on("error", (e) => r(e.name)); s.on("close", () => r("closed")) });
[h, n, typeof http.globalAgent, typeof http.STATUS_CODES[404]]`,
  ],
  [
    "node:os, node:tty, node:punycode and node:assert/strict",
    `import os from "node:os"; import tty from "node:tty"; import assert from "node:assert/strict";
let deep; try { assert.deepEqual({ a: [1] }, { a: [2] }) } catch (e) { deep = e.code }
[os.EOL, typeof os.platform(), tty.isatty(1), deep, typeof os.tmpdir()]`,
  ],
  [
    "node:async_hooks AsyncResource, executionAsyncId, and AsyncLocalStorage.enterWith",
    `import { AsyncLocalStorage, AsyncResource } from "node:async_hooks";
const als = new AsyncLocalStorage(); const seen = [];
als.run(1, () => { const bound = AsyncResource.bind(() => seen.push(als.getStore())); als.run(2, bound) });
const r = new AsyncResource("X"); r.runInAsyncScope(() => seen.push("scope"));
await new Promise((res) => als.run(3, () => setTimeout(() => { seen.push(als.getStore()); res() }, 1)));
seen`,
  ],
  [
    "crypto key pairs, signing and ECDH",
    `import crypto from "node:crypto";
const { publicKey, privateKey } = crypto.generateKeyPairSync("ed25519");
const sig = crypto.sign(null, Buffer.from("m"), privateKey);
const a = crypto.createECDH("prime256v1"); const b = crypto.createECDH("prime256v1"); a.generateKeys(); b.generateKeys();
[crypto.verify(null, Buffer.from("m"), publicKey, sig), a.computeSecret(b.getPublicKey()).equals(b.computeSecret(a.getPublicKey())),
 publicKey.export({ format: "jwk" }).kty]`,
  ],
  [
    "Request and Response clone and tee, File, and scheduler.wait",
    `const res = new Response("body"); const copy = res.clone();
const [x, y] = new Response("tt").body.tee();
const f = new File(["f"], "f.txt", { type: "text/plain" });
await scheduler.wait(1);
[await res.text(), await copy.text(), (await x.getReader().read()).value.length, (await new Response(y).text()), f.name, f.type, await f.text()]`,
  ],
  [
    "using, DisposableStack, AggregateError and structuredClone of errors",
    `const log = [];
{ using s = new DisposableStack(); s.defer(() => log.push("disposed")); log.push("body") }
const agg = new AggregateError([new Error("a")], "many");
const cloned = structuredClone(new RangeError("r", { cause: 1 }));
[log, agg.errors.length, cloned.name, cloned.cause, cloned instanceof RangeError]`,
  ],
  [
    "prototypes of its own objects: __proto__, setPrototypeOf, Object.create",
    `const base = { hi() { return "hi " + this.n } };
const a = { n: 1 }; a.__proto__ = base; const b = Object.setPrototypeOf({ n: 2 }, base); const c = Object.create(base, { n: { value: 3 } });
const arr = Object.setPrototypeOf([], Array.prototype);
[a.hi(), b.hi(), c.hi(), Array.isArray(arr), Object.getPrototypeOf(a) === base]`,
  ],
  [
    "dates, locales and text",
    `const d = new Date(Date.UTC(2020, 0, 2, 3, 4, 5));
[d.toISOString(), d.toLocaleString("en-GB", { timeZone: "UTC" }), "ä".localeCompare("z", "de"), "İ".toLocaleLowerCase("tr"),
 "e\\u0301".normalize("NFC").length, new Intl.DateTimeFormat().resolvedOptions().timeZone, typeof Date.now(), Math.random() < 1]`,
  ],
  [
    "util.inspect of process.stdout and of a class with private fields",
    `import util from "node:util";
class Q { #secret = 1; pub = 2 }
[util.inspect(new Q()), typeof util.inspect(process.stdout), util.inspect(new Error("x")).split("\\n")[0]]`,
  ],
];

describe("ordinary code answers the same in a one-shot and in a reused isolate", () => {
  it.each(corpus)("%s", async (_name, snippet) => {
    const code = `// ${unique()}\n${snippet}`;
    const first = await outcome(code, 0);
    expect(first.status, JSON.stringify(first.error)).toBe("ok");
    for (let i = 1; i < 4; i++) expect(await outcome(code, i), `run ${i + 1}`).toEqual(first);
  });
});

describe("what an execution leaves in process stays with it", () => {
  it("a line an execution left unfinished on stdout is logged in its own logs, not a later one's", async () => {
    const code = `// ${unique()}\nprocess.stdout.write(input); process.stderr.write(input + "!"); 1`;
    for (const input of ["a", "secret-b", "c", "d"]) {
      const r = await run({ code, input });
      expect(r.logs.map((l) => `${l.level} ${l.message}`).sort()).toEqual([
        `log stderr: ${input}!`,
        `log stdout: ${input}`,
      ]);
    }
  });

  it("executions running at once in a reused isolate each log only what they wrote to stdout", async () => {
    const code = `// ${unique()}
for (let i = 0; i < 20; i++) { process.stdout.write(input); await (i % 3 ? new Promise((r) => setTimeout(r, 1)) : null) }
process.stdout.write("|" + input + "\\n"); 1`;
    for (const input of ["a", "b"]) await run({ code, input });
    const inputs = ["X", "Y", "Z"];
    const results = await Promise.all(inputs.map((input) => run({ code, input })));
    for (const [i, r] of results.entries()) {
      const input = inputs[i] as string;
      const text = r.logs.map((l) => l.message.replace(/^stdout: /, "")).join("");
      expect(text).toBe(`${input.repeat(20)}|${input}`);
    }
  });

  it("a later execution neither calls nor counts the listeners an earlier one added to process", async () => {
    const code = `// ${unique()}
const before = [process.listenerCount("x"), process.eventNames()];
let got = []; process.on("x", (v) => got.push(input + ":" + v)); process.once("y", () => {});
process.emit("x", input); process.stdout.on("finish", () => {}); process.stdout.cork();
[before, got, process.stdout.listenerCount("finish"), process.stdout.writableCorked]`;
    // The runtime's own listeners, as a one-shot isolate has them.
    const runtimeEvents = (await run({ code: `// ${unique()}\nprocess.eventNames()` })).result;
    for (let i = 0; i < 4; i++) {
      const r = await run({ code, input: i });
      expect(r.result).toEqual([[0, runtimeEvents], [`${i}:${i}`], 1, 1]);
    }
  });

  it("the stdio streams node:process exports by name are the execution's own too", async () => {
    const code = `// ${unique()}
import { stderr, stdin, stdout } from "node:process";
const before = [stdout.listenerCount("x"), stdout.writableCorked];
stdout.on("x", () => {}); stdout.cork(); stdout.write(input + "\\n"); stdout.uncork(); stderr.write(input + "!\\n");
const read = []; for await (const c of stdin) read.push(c);
[before, stdout.listenerCount("x"), read.length]`;
    for (const input of ["a", "b", "c"]) {
      const r = await run({ code, input });
      expect(r.result).toEqual([[0, 0], 1, 0]);
      expect(r.logs.map((l) => l.message).sort()).toEqual([
        `stderr: ${input}!`,
        `stdout: ${input}`,
      ]);
    }
  });

  it("a later execution starts in the working directory, whatever an earlier one changed it to", async () => {
    const code = `// ${unique()}
import { chdir, cwd } from "node:process";
const before = [process.cwd(), cwd()];
if (input === "process") process.chdir("/tmp"); else if (input === "named") chdir("/tmp");
[before, process.cwd()]`;
    const first = (await run({ code, input: "none" })).result as [string[], string];
    const start = first[1];
    expect(first).toEqual([[start, start], start]);
    for (const input of ["process", "none", "named", "none"]) {
      expect((await run({ code, input })).result, input).toEqual([
        [start, start],
        input === "none" ? start : "/tmp",
      ]);
    }
  });

  it("Error.stackTraceLimit set by an execution reads back in it alone", async () => {
    const code = `// ${unique()}
const before = Error.stackTraceLimit; Error.stackTraceLimit = input; await null;
[before, Error.stackTraceLimit, typeof new Error("e").stack]`;
    for (const input of [3, 4, 5, 6]) {
      expect((await run({ code, input })).result).toEqual([10, input, "string"]);
    }
  });
});
