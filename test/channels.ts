// Ways one execution could leave something for a later execution of the same code in a reused
// (warm) isolate. Shared by the worker and end-to-end tests of that isolation.

/** A channel: imports it needs, a statement that writes `secret` into it, an expression reading it. */
export interface Channel {
  name: string;
  imports?: string;
  write: string;
  read: string;
}

export const CHANNELS: Channel[] = [
  { name: "globalThis.x", write: "globalThis.x = secret", read: "globalThis.x" },
  { name: "Object.prototype", write: "Object.prototype.leak = secret", read: "({}).leak" },
  { name: "Array.prototype", write: "Array.prototype.leak = secret", read: "[].leak" },
  {
    name: "Function.prototype",
    write: "Function.prototype.leak = secret",
    read: "(function () {}).leak",
  },
  {
    name: "Promise.prototype",
    write: "Promise.prototype.leak = secret",
    read: "Promise.resolve().leak",
  },
  { name: "JSON", write: "JSON.leak = secret", read: "JSON.leak" },
  { name: "Math", write: "Math.leak = secret", read: "Math.leak" },
  { name: "Reflect", write: "Reflect.leak = secret", read: "Reflect.leak" },
  { name: "console", write: "console.leak = secret", read: "console.leak" },
  { name: "crypto", write: "crypto.leak = secret", read: "crypto.leak" },
  {
    name: "URL.prototype",
    write: "URL.prototype.leak = secret",
    read: 'new URL("https://a.example/").leak',
  },
  {
    name: "Response.prototype",
    write: "Response.prototype.leak = secret",
    read: 'new Response("").leak',
  },
  { name: "Request", write: "Request.leak = secret", read: "Request.leak" },
  {
    name: "Headers.prototype",
    write: "Headers.prototype.leak = secret",
    read: "new Headers().leak",
  },
  {
    name: "node:fs",
    imports: 'import fs from "node:fs";',
    write: "fs.leak = secret",
    read: "fs.leak",
  },
  {
    name: "node:buffer (Buffer)",
    imports: 'import { Buffer } from "node:buffer";',
    write: "Buffer.leak = secret",
    read: "Buffer.leak",
  },
  {
    name: "node:util",
    imports: 'import util from "node:util";',
    write: "util.leak = secret",
    read: "util.leak",
  },
  {
    name: "node:util inspect.defaultOptions",
    imports: 'import util from "node:util";',
    write: "util.inspect.defaultOptions = { breakLength: secret.length }",
    read: "util.inspect.defaultOptions.breakLength === 80 ? undefined : util.inspect.defaultOptions.breakLength",
  },
  {
    name: "node:events",
    imports: 'import events from "node:events";',
    write: "events.EventEmitter.prototype.leak = secret",
    read: "new events.EventEmitter().leak",
  },
  { name: "process", write: "process.leak = secret", read: "process.leak" },
  { name: "process.env", write: "process.env.LEAK = secret", read: "process.env.LEAK" },
  {
    name: "the stdout node:process exports",
    imports: 'import { stdout } from "node:process";',
    write: "stdout.leak = secret",
    read: "stdout.leak",
  },
  {
    name: "a method of the stdout node:process exports",
    imports: 'import { stdout } from "node:process";',
    write: "stdout.write.leak = secret",
    read: "stdout.write.leak",
  },
  {
    name: "process.stdout's class",
    write: "Object.getPrototypeOf(process.stdout).leak = secret",
    read: "process.stdout.leak",
  },
  {
    name: "env from cloudflare:workers",
    imports: 'import { env } from "cloudflare:workers";',
    write: "env.LEAK = secret",
    read: "env.LEAK",
  },
  {
    name: "a module reached by a dynamic import",
    write: '(await import("node:url")).default.leak = secret',
    read: '(await import("node:url")).default.leak',
  },
  {
    name: "a module reached through process.getBuiltinModule",
    write: 'process.getBuiltinModule("node:os").leak = secret',
    read: 'process.getBuiltinModule("node:os").leak',
  },
  {
    name: "a module reached through createRequire",
    imports: 'import { createRequire } from "node:module";',
    write: 'createRequire("/")("node:path").leak = secret',
    read: 'createRequire("/")("node:path").leak',
  },
];

/**
 * The code for one channel: writes the run's `input` into it and answers whether the write
 * threw a TypeError, what the channel held, and whether node:fs is frozen (only in a reused,
 * hardened isolate).
 */
export function channelCode(channel: Channel): string {
  return `${channel.imports ?? ""}
const secret = input;
let wrote = "wrote";
try { ${channel.write} } catch (e) { wrote = e instanceof TypeError ? "TypeError" : String(e) }
let seen;
try { seen = ${channel.read} } catch (e) { seen = "unreadable: " + e.message }
({ wrote, seen: seen ?? null, hardened: Object.isFrozen(process.getBuiltinModule("node:fs")) })`;
}
