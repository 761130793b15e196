/**
 * `connect()` (TCP) through the gateway. Workerd hands the gateway entrypoint's `connect` handler
 * the guest's end of the socket. Since a socket has no status line of its own, the two ends
 * speak a one-line preamble each way before any payload:
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
import { execution, executionSignal, recordAttempt, recordBypass, validEgressToken } from "./audit";
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

/**
 * Whether a plain TCP connection to `host:port` opens within `ms`: how the gateway tells the
 * network failures workerd's fetch reports alike apart (no name resolution from a failed TLS
 * handshake, a refused connection from one the server closed). Nothing is sent on it.
 */
export async function reachable(
  host: string,
  port: number,
  ms: number,
  signal: AbortSignal,
): Promise<boolean> {
  let probe: Socket | undefined;
  try {
    probe = connect({ hostname: host, port });
    await within(probe.opened, ms, signal);
    return true;
  } catch {
    return false;
  } finally {
    await probe?.close().catch(() => {});
  }
}

/**
 * Serves one guest socket. `executionId` is null on the runners' ingress, where the runner's
 * preamble line names the execution (and proves it with the egress token).
 */
export async function handleConnect(executionId: string | null, socket: Socket): Promise<void> {
  const lines = new LineReader(socket.readable);
  const writer = socket.writable.getWriter();
  const answer = (status: Status) => writer.write(encoder.encode(`${JSON.stringify(status)}\n`));
  let upstream: Socket | undefined;
  try {
    let id = executionId;
    if (id === null) {
      const runner = parseLine(await within(lines.line(PREAMBLE_MAX_BYTES), PREAMBLE_TIMEOUT_MS));
      const e = typeof runner?.e === "string" ? runner.e : "";
      const t = typeof runner?.t === "string" ? runner.t : "";
      if (!validEgressToken(e, t)) {
        if (typeof runner?.i === "string") {
          recordBypass(runner.i, {
            method: "CONNECT",
            url: bypassUrl(runner.a),
            decision: "denied",
            reason: BYPASS_REASON,
          });
        }
        return;
      }
      id = e;
    }
    const run = execution(id);
    if (!run) return;
    const { layers, allowPrivate, caps, secrets } = run.context;
    const values = secrets.map((s) => s.value);
    const request = parseLine(await within(lines.line(PREAMBLE_MAX_BYTES), PREAMBLE_TIMEOUT_MS));
    const target = parseAddress(request?.address);
    const tls = request?.secureTransport === "on" ? "on" : "off";
    const deny = async (url: string, reason: string) => {
      // A policy reason may quote the host, and a host may spell a value.
      const shown = scrubSecrets(url, values);
      const why = scrubSecrets(reason, values);
      recordAttempt(id, { method: "CONNECT", url: shown, decision: "denied", reason: why });
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
    const entry = recordAttempt(id, {
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
      await within(upstream.opened, caps.requestTimeoutMs, executionSignal(run));
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
    const signal = executionSignal(run);
    // A secret written to the socket ends it both ways: what comes back ends as if upstream had
    // closed (aborting that pipe would wait on the upstream read, which a close does not end).
    const stopped = new AbortController();
    const refused = (reason: string) => {
      recordAttempt(id, { method: "CONNECT", url: entry.url, decision: "denied", reason });
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
