/**
 * `connect()` (TCP) through the gateway. The guest's end is a pair of byte streams: handed over by
 * the execution's capabilities (src/sandbox/capabilities.ts), or a runner's socket to the control
 * plane's egress ingress. Since a socket has no status line of its own, the two ends speak a
 * one-line preamble each way before any payload:
 *
 *   runner → control plane (runner processes only): {"e": executionId, "t": token, "i": isolate, "a": address}
 *   harness → gateway: {"address": "host:port" | {hostname, port}, "secureTransport": "off" | "on"}
 *   gateway → harness: {"ok": true} | {"ok": false, "message": "…"}
 *
 * Then bytes flow both ways, counted against the execution's caps, with secrets scrubbed from
 * what comes back. TLS, when asked for, is spoken by the gateway to the upstream.
 */
import { connect } from "cloudflare:sockets";
import { scrubSecrets } from "../redact/scan";
import { type InFlight, recordBypass, runnerEgress } from "./audit";
import { decideConnect } from "./policy";
import { BYPASS_REASON, deniedMessage, subrequestCapReason } from "./reasons";
import { secretInAddress } from "./secrets";
import { inbound, LineReader, outbound, SOCKET_IDLE_FLUSH_MS } from "./streams";

const PREAMBLE_MAX_BYTES = 4096;
const PREAMBLE_TIMEOUT_MS = 10_000;

const encoder = new TextEncoder();

type Status = { ok: true } | { ok: false; message: string };

/** A target as connect() takes it, split into host and port; null when it is not one. */
export function parseAddress(address: unknown): { host: string; port: number } | null {
  if (typeof address === "object" && address !== null) {
    const { hostname, port } = address as { hostname?: unknown; port?: unknown };
    if (typeof hostname !== "string" || typeof port !== "number") return null;
    return { host: hostname, port };
  }
  if (typeof address !== "string") return null;
  const colon = address.lastIndexOf(":");
  if (colon <= 0) return null;
  const portText = address.slice(colon + 1);
  if (!/^\d{1,5}$/.test(portText)) return null;
  let host = address.slice(0, colon);
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  return { host, port: Number(portText) };
}

function bypassUrl(address: unknown): string {
  const target = parseAddress(address);
  if (!target) return "tcp://(invalid address)";
  return decideConnect([], target.host, target.port, { allowPrivate: false }).url;
}

/** A connect that reached an isolate's global outbound: denied, and audited where possible. */
export async function refuseBypassConnect(socket: Socket, isolate?: string): Promise<void> {
  const { localAddress } = await socket.opened;
  if (isolate) {
    recordBypass(isolate, {
      method: "CONNECT",
      url: bypassUrl(localAddress),
      decision: "denied",
      reason: BYPASS_REASON,
    });
  }
  await socket.close();
}

function parseLine(line: string | null): Record<string, unknown> | null {
  if (line === null) return null;
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === "object" && value !== null ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

async function within<T>(promise: Promise<T>, ms: number, signal?: AbortSignal): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limits = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    signal?.addEventListener("abort", () => reject(new Error("the execution has ended")));
  });
  try {
    return await Promise.race([promise, limits]);
  } finally {
    clearTimeout(timer);
  }
}

/** The gateway's end of a guest socket: the guest's bytes come in, the gateway's go out. */
export interface GuestSocket {
  readable: ReadableStream;
  writable: WritableStream;
  close(): Promise<void>;
}

/**
 * A runner's socket to the egress ingress: its first line names the execution and proves it with
 * the egress token (src/runner); then it is served as that execution's socket, or, for a token
 * that is not a running execution's, closed (and audited as a bypass when the runner names the
 * isolate it came from).
 */
export async function serveRunnerConnect(socket: Socket): Promise<void> {
  const lines = new LineReader(socket.readable);
  let run: InFlight | undefined;
  try {
    const runner = parseLine(await within(lines.line(PREAMBLE_MAX_BYTES), PREAMBLE_TIMEOUT_MS));
    const e = typeof runner?.e === "string" ? runner.e : "";
    const t = typeof runner?.t === "string" ? runner.t : "";
    run = runnerEgress(e, t);
    if (!run && typeof runner?.i === "string") {
      recordBypass(runner.i, {
        method: "CONNECT",
        url: bypassUrl(runner.a),
        decision: "denied",
        reason: BYPASS_REASON,
      });
    }
  } catch {
    // The runner went away or sent garbage; there is nobody left to tell.
  }
  if (run) return serveConnect(run, socket, lines);
  lines.cancel();
  await socket.close().catch(() => {});
}

/**
 * Serves one guest socket of `run`: reads the harness's preamble (from `lines`, when something
 * before it was read already), decides it, and if allowed pipes bytes both ways until either end
 * closes or the execution ends.
 */
export async function serveConnect(
  run: InFlight | undefined,
  socket: GuestSocket,
  lines = new LineReader(socket.readable),
): Promise<void> {
  const writer = socket.writable.getWriter();
  const answer = (status: Status) => writer.write(encoder.encode(`${JSON.stringify(status)}\n`));
  let upstream: Socket | undefined;
  try {
    if (!run?.open) return;
    const { layers, allowPrivate, caps, secrets } = run.context;
    const values = secrets.map((s) => s.value);
    const request = parseLine(await within(lines.line(PREAMBLE_MAX_BYTES), PREAMBLE_TIMEOUT_MS));
    const target = parseAddress(request?.address);
    const tls = request?.secureTransport === "on" ? "on" : "off";
    const deny = async (url: string, reason: string) => {
      // A policy reason may quote the host, and a host may spell a value.
      const shown = scrubSecrets(url, values);
      const why = scrubSecrets(reason, values);
      run.record({ method: "CONNECT", url: shown, decision: "denied", reason: why });
      await answer({ ok: false, message: deniedMessage("CONNECT", shown, why) });
    };
    if (!target) return await deny("tcp://(invalid address)", "invalid address");
    const decision = decideConnect(layers, target.host, target.port, { allowPrivate });
    const misplaced = secretInAddress(secrets, target.host);
    if (misplaced !== undefined) return await deny(decision.url, misplaced);
    if (!decision.allowed) return await deny(decision.url, decision.reason);
    if (run.allowed >= caps.subrequests) {
      return await deny(decision.url, subrequestCapReason(caps.subrequests));
    }
    run.allowed++;
    const entry = run.record({
      method: "CONNECT",
      url: decision.url,
      decision: "allowed",
      reason: decision.reason,
    });
    const started = Date.now();
    try {
      upstream = connect(decision.url.slice("tcp://".length), {
        secureTransport: tls,
        allowHalfOpen: true,
      });
      await within(upstream.opened, caps.requestTimeoutMs, run.signal());
    } catch (err) {
      entry.ms = Date.now() - started;
      const why = scrubSecrets(err instanceof Error ? err.message : String(err), values);
      entry.reason = `${entry.reason}; the connection failed: ${why}`;
      await answer({ ok: false, message: `CONNECT ${entry.url} failed: ${why}` });
      return;
    }
    entry.ms = Date.now() - started;
    entry.bytes = 0;
    await answer({ ok: true });
    writer.releaseLock();
    const signal = run.signal();
    // A secret written to the socket ends it both ways: what comes back ends as if upstream had
    // closed (aborting that pipe would wait on the upstream read, which a close does not end).
    const stopped = new AbortController();
    const refused = (reason: string) => {
      run.record({ method: "CONNECT", url: entry.url, decision: "denied", reason });
      stopped.abort();
    };
    await Promise.allSettled([
      outbound(lines.rest(), run, refused).pipeTo(upstream.writable, { signal }),
      inbound(upstream.readable, run, entry, {
        idleFlushMs: SOCKET_IDLE_FLUSH_MS,
        until: stopped.signal,
      }).pipeTo(socket.writable, { signal }),
    ]);
  } catch {
    // The guest went away or sent garbage; there is nobody left to tell.
  } finally {
    lines.cancel();
    await upstream?.close().catch(() => {});
    await socket.close().catch(() => {});
  }
}
