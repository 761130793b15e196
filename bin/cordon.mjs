#!/usr/bin/env node
// The Cordon command line: runs code, manages sessions and their files through the typed client.
import { readFileSync, writeFileSync } from "node:fs";
import { extname } from "node:path";
import { parseArgs } from "node:util";

const USAGE = `usage:
  cordon exec FILE [--session ID] [--input JSON] [--allow HOST]... [--timeout MS]
                   [--mcp NS=URL]... [--language javascript|typescript|python] [--stream] [--json]
  cordon session create [--ttl SECONDS] [--json]
  cordon session info ID [--json]
  cordon session delete ID
  cordon session fork ID [--snapshot SNAPSHOT] [--ttl SECONDS] [--json]
  cordon snapshot take ID [--json]
  cordon snapshot ls ID [--json]
  cordon snapshot restore ID SNAPSHOT [--json]
  cordon snapshot rm ID SNAPSHOT
  cordon files ls ID [--json]
  cordon files get ID PATH [--out FILE]
  cordon files put ID PATH [FILE]        (reads standard input without FILE)
  cordon files rm ID PATH

--mcp NS=URL makes the MCP server at URL the global NS of the code (await NS.tool(args)); the
tenant's egress policy must allow URL.
FILE may be - for standard input. The language follows the extension (.ts is TypeScript, .py is Python).
Environment: CORDON_URL (default http://127.0.0.1:8787), CORDON_API_KEY (a tenant API key or
a session token). Exit status: 0 ok; 1 the code ended in error, timeout or killed; 2 usage or
an HTTP problem.`;

/** A usage mistake: printed with the usage, exit status 2. */
class UsageError extends Error {}

const OPTIONS = {
  session: { type: "string" },
  input: { type: "string" },
  allow: { type: "string", multiple: true },
  mcp: { type: "string", multiple: true },
  timeout: { type: "string" },
  language: { type: "string" },
  stream: { type: "boolean" },
  json: { type: "boolean" },
  ttl: { type: "string" },
  out: { type: "string" },
  snapshot: { type: "string" },
  help: { type: "boolean", short: "h" },
};

async function main(argv) {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true });
  } catch (err) {
    throw new UsageError(err.message);
  }
  const { values: opts, positionals: args } = parsed;
  if (opts.help || args.length === 0) {
    process.stdout.write(`${USAGE}\n`);
    return opts.help ? 0 : 2;
  }
  const cordon = await client();
  const [command, sub, ...rest] = args;
  switch (command) {
    case "exec":
      return exec(
        cordon,
        [sub, ...rest].filter((a) => a !== undefined),
        opts,
      );
    case "session":
      return session(cordon, sub, rest, opts);
    case "files":
      return files(cordon, sub, rest, opts);
    case "snapshot":
      return snapshot(cordon, sub, rest, opts);
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

async function client() {
  let mod;
  try {
    mod = await import("../dist/client/index.js");
  } catch {
    process.stderr.write("cordon: the client is not built; run `npm run build` first\n");
    process.exit(2);
  }
  const apiKey = process.env.CORDON_API_KEY;
  if (!apiKey) throw new UsageError("set CORDON_API_KEY to a tenant API key or a session token");
  const url = process.env.CORDON_URL || "http://127.0.0.1:8787";
  return new mod.Cordon({ url, apiKey });
}

function expectArgs(args, count, what) {
  if (args.length !== count) throw new UsageError(`expected ${what}`);
}

async function exec(cordon, args, opts) {
  expectArgs(args, 1, "exactly one FILE to run");
  const [file] = args;
  const request = { code: readSource(file), language: language(file, opts.language) };
  if (opts.input !== undefined) {
    try {
      request.input = JSON.parse(opts.input);
    } catch (err) {
      throw new UsageError(`--input is not JSON: ${err.message}`);
    }
  }
  if (opts.timeout !== undefined) {
    const ms = Number(opts.timeout);
    if (!Number.isInteger(ms) || ms <= 0) throw new UsageError("--timeout takes milliseconds");
    request.timeoutMs = ms;
  }
  if (opts.allow) request.egress = { allow: opts.allow };
  if (opts.mcp) {
    request.tools = {};
    for (const spec of opts.mcp) {
      const at = spec.indexOf("=");
      if (at <= 0) throw new UsageError(`--mcp takes NS=URL, not ${JSON.stringify(spec)}`);
      request.tools[spec.slice(0, at)] = { mcp: { url: spec.slice(at + 1) } };
    }
  }

  let result;
  if (opts.stream && !opts.json) {
    const events = opts.session
      ? cordon.sessions.executeStream(opts.session, request)
      : cordon.executeStream(request);
    for await (const event of events) {
      if (event.type === "log") printLog(event.data);
      else if (event.type === "egress") printEgress(event.data);
      else if (event.type === "result") result = event.data;
    }
    printOutcome(result);
  } else {
    result = opts.session
      ? await cordon.sessions.execute(opts.session, request)
      : await cordon.execute(request);
    if (opts.json) printJson(result);
    else printResult(result);
  }
  return result.status === "ok" ? 0 : 1;
}

function readSource(file) {
  try {
    return readFileSync(file === "-" ? 0 : file, "utf8");
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${err.message}`);
  }
}

function language(file, given) {
  if (given !== undefined) {
    if (given !== "javascript" && given !== "typescript" && given !== "python") {
      throw new UsageError("--language is javascript, typescript or python");
    }
    return given;
  }
  const ext = extname(file).toLowerCase();
  if (ext === ".py") return "python";
  return [".ts", ".mts", ".cts"].includes(ext) ? "typescript" : "javascript";
}

async function session(cordon, sub, args, opts) {
  switch (sub) {
    case "create": {
      expectArgs(args, 0, "no arguments after `session create`");
      printCreated(await cordon.sessions.create(ttlOption(opts)), opts);
      return 0;
    }
    case "fork": {
      expectArgs(args, 1, "the session ID to fork");
      const options = { ...ttlOption(opts) };
      if (opts.snapshot !== undefined) options.snapshotId = opts.snapshot;
      printCreated(await cordon.sessions.fork(args[0], options), opts);
      return 0;
    }
    case "info": {
      expectArgs(args, 1, "a session ID");
      const info = await cordon.sessions.get(args[0]);
      if (opts.json) printJson(info);
      else {
        process.stdout.write(
          `session    ${info.sessionId}\ncreated    ${info.createdAt}\nexpires    ${info.expiresAt}\n` +
            `executions ${info.executions}\nvariables  ${info.variables.join(", ") || "-"}\nfiles      ${info.files}\n`,
        );
      }
      return 0;
    }
    case "delete":
      expectArgs(args, 1, "a session ID");
      await cordon.sessions.delete(args[0]);
      process.stdout.write(`deleted ${args[0]}\n`);
      return 0;
    default:
      throw new UsageError("session takes create, fork, info or delete");
  }
}

function ttlOption(opts) {
  if (opts.ttl === undefined) return {};
  const ttl = Number(opts.ttl);
  if (!Number.isInteger(ttl) || ttl <= 0) throw new UsageError("--ttl takes seconds");
  return { ttlSeconds: ttl };
}

function printCreated(created, opts) {
  if (opts.json) printJson(created);
  else {
    process.stdout.write(
      `session ${created.sessionId}\ntoken   ${created.token}\nexpires ${created.expiresAt}\n`,
    );
  }
}

async function snapshot(cordon, sub, args, opts) {
  const line = (s) => `${s.snapshotId}  ${s.createdAt}  ${String(s.bytes).padStart(10)} bytes\n`;
  switch (sub) {
    case "take": {
      expectArgs(args, 1, "a session ID");
      const taken = await cordon.sessions.snapshot(args[0]);
      if (opts.json) printJson(taken);
      else process.stdout.write(line(taken));
      return 0;
    }
    case "ls": {
      expectArgs(args, 1, "a session ID");
      const list = await cordon.sessions.snapshots(args[0]);
      if (opts.json) printJson(list);
      else for (const s of list.snapshots) process.stdout.write(line(s));
      return 0;
    }
    case "restore": {
      expectArgs(args, 2, "a session ID and a SNAPSHOT");
      const info = await cordon.sessions.restore(args[0], args[1]);
      if (opts.json) printJson(info);
      else process.stdout.write(`restored ${args[0]} to ${args[1]}\n`);
      return 0;
    }
    case "rm":
      expectArgs(args, 2, "a session ID and a SNAPSHOT");
      await cordon.sessions.deleteSnapshot(args[0], args[1]);
      process.stdout.write(`deleted ${args[1]}\n`);
      return 0;
    default:
      throw new UsageError("snapshot takes take, ls, restore or rm");
  }
}

async function files(cordon, sub, args, opts) {
  switch (sub) {
    case "ls": {
      expectArgs(args, 1, "a session ID");
      const list = await cordon.files.list(args[0]);
      if (opts.json) printJson(list);
      else {
        for (const f of list.files) {
          process.stdout.write(`${String(f.size).padStart(10)}  ${f.updatedAt}  ${f.path}\n`);
        }
      }
      return 0;
    }
    case "get": {
      expectArgs(args, 2, "a session ID and a PATH");
      const bytes = await cordon.files.get(args[0], args[1]);
      if (opts.out !== undefined) writeFileSync(opts.out, bytes);
      else process.stdout.write(bytes);
      return 0;
    }
    case "put": {
      if (args.length !== 2 && args.length !== 3) {
        throw new UsageError("expected a session ID, a PATH and optionally a FILE");
      }
      const source = args[2] ?? "-";
      let bytes;
      try {
        bytes = readFileSync(source === "-" ? 0 : source);
      } catch (err) {
        throw new UsageError(`cannot read ${source}: ${err.message}`);
      }
      await cordon.files.put(args[0], args[1], new Uint8Array(bytes));
      process.stdout.write(`stored ${bytes.byteLength} bytes at ${args[1]}\n`);
      return 0;
    }
    case "rm":
      expectArgs(args, 2, "a session ID and a PATH");
      await cordon.files.delete(args[0], args[1]);
      process.stdout.write(`deleted ${args[1]}\n`);
      return 0;
    default:
      throw new UsageError("files takes ls, get, put or rm");
  }
}

function printJson(value) {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

function printLog(entry) {
  process.stdout.write(`[${entry.level}] ${entry.message}\n`);
}

function printEgress(attempt) {
  const status = attempt.status === undefined ? "" : ` ${attempt.status}`;
  const ms = attempt.ms === undefined ? "" : ` ${Math.round(attempt.ms)} ms`;
  process.stdout.write(
    `egress ${attempt.decision} ${attempt.method} ${attempt.url}${status}${ms} (${attempt.reason})\n`,
  );
}

function printResult(result) {
  for (const entry of result.logs) printLog(entry);
  for (const attempt of result.egress) printEgress(attempt);
  printOutcome(result);
}

function printOutcome(result) {
  for (const r of result.redactions) process.stdout.write(`redacted ${r.kind} in ${r.where}\n`);
  if (result.status === "ok") {
    const value =
      result.result === undefined ? "undefined" : JSON.stringify(result.result, null, 2);
    process.stdout.write(`result: ${value}\n`);
  } else if (result.error) {
    const { name, message, line, column } = result.error;
    const where = line === undefined ? "" : ` (at ${line}:${column ?? 0})`;
    process.stdout.write(`${name}: ${message}${where}\n`);
  }
  process.stdout.write(
    `status: ${result.status} in ${result.usage.wallMs} ms (execution ${result.executionId})\n`,
  );
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    if (err instanceof UsageError) {
      process.stderr.write(`cordon: ${err.message}\n\n${USAGE}\n`);
    } else if (err && typeof err.status === "number" && typeof err.title === "string") {
      // A CordonError: the problem's title and detail, and field errors if any.
      const status = err.status ? ` (${err.status})` : "";
      process.stderr.write(`cordon: ${err.title}${status}: ${err.detail}\n`);
      for (const field of err.errors ?? []) {
        process.stderr.write(`  ${field.path}: ${field.message}\n`);
      }
    } else {
      process.stderr.write(`cordon: ${err?.stack ?? err}\n`);
    }
    process.exitCode = 2;
  },
);
