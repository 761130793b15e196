import { WorkerEntrypoint } from "cloudflare:workers";
import { MAX_REDIRECTS } from "../config";
import type { Env } from "../env";
import { scrubSecrets } from "../redact/scan";
import { EGRESS_HEADERS, TOOL_CALL_PATH } from "../runner/protocol";
import { serveRunnerToolCall } from "../tools/ingress";
import { type EgressAttempt, type InFlight, recordBypass, runnerEgress } from "./audit";
import { reachable, refuseBypassConnect, serveRunnerConnect } from "./connect";
import { decideFetch } from "./policy";
import {
  BYPASS_REASON,
  deniedMessage,
  PARTIAL_RESPONSE,
  requestCapReason,
  subrequestCapReason,
} from "./reasons";
import { type Outbound, prepareRequest } from "./secrets";
import { decodeBody, inbound, readBounded } from "./streams";

/** What an isolate's global outbound knows: only the isolate it belongs to. */
export interface GatewayProps {
  /** The guest isolate (its key) whose global outbound this is, to audit bypass attempts. */
  isolate: string;
}

/** How long the gateway waits to learn whether a host it failed to fetch from takes connections. */
const PROBE_MS = 5_000;

/** Header on a gateway answer that means "this fetch fails"; the harness throws a TypeError. */
export const DENIED_HEADER = "cordon-egress-denied";

/** Headers the guest harness adds to each request for the gateway (and the gateway removes). */
export const HARNESS_HEADERS = {
  /** The URL exactly as the code passed it, percent-encoded, when it passed a string. */
  rawUrl: "cordon-raw-url",
  /** The request's redirect mode: follow (default), manual or error. */
  redirect: "cordon-redirect",
} as const;

// RFC 9110 §7.6.1, plus the proxy ones; they describe one connection, not the request.
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "host",
  "content-length",
]);
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const NULL_BODY = new Set([101, 204, 205, 304]);
const BODY_HEADERS = ["content-type", "content-encoding", "content-language", "content-location"];

/** A copy of `headers` without hop-by-hop headers, the ones `Connection` names, or cordon-*. */
function endToEnd(headers: Headers): Headers {
  const named = (headers.get("connection") ?? "")
    .split(",")
    .map((h) => h.trim().toLowerCase())
    .filter(Boolean);
  const out = new Headers();
  for (const [name, value] of headers) {
    if (HOP_BY_HOP.has(name) || named.includes(name) || name.startsWith("cordon-")) continue;
    out.append(name, value);
  }
  return out;
}

function failure(message: string): Response {
  return new Response(message, {
    status: 403,
    headers: { [DENIED_HEADER]: "1", "content-type": "text/plain" },
  });
}

function secretValues(run: InFlight): string[] {
  return run.context.secrets.map((s) => s.value);
}

/**
 * Decides one outbound request of an execution, sends it if allowed (following redirects hop by
 * hop, each decided again), and records every hop in the execution's audit. Without a running
 * execution (an isolate's global outbound, or an execution that has ended), it is denied, and
 * audited in the executions of `isolate` when that is known.
 */
export async function handleEgress(
  run: InFlight | undefined,
  request: Request,
  isolate?: string,
): Promise<Response> {
  const method = request.method.toUpperCase();
  if (!run?.open) {
    const url = decideFetch([], method, request.url, { allowPrivate: false }).url;
    if (isolate) {
      recordBypass(isolate, { method, url, decision: "denied", reason: BYPASS_REASON });
    }
    await request.body?.cancel().catch(() => {});
    return failure(deniedMessage(method, url, BYPASS_REASON));
  }
  const { layers, allowPrivate, caps, secrets } = run.context;
  const values = secretValues(run);
  const options = { allowPrivate };
  const deny = (url: string, reason: string) => {
    // A policy reason may quote the host, and a host may spell a value.
    const shown = scrubSecrets(url, values);
    const why = scrubSecrets(reason, values);
    run.record({ method, url: shown, decision: "denied", reason: why });
    return failure(deniedMessage(method, shown, why));
  };

  // The URL as the code wrote it and as the runtime parsed it must both pass: a parser
  // differential must not turn a denied spelling into an allowed one.
  let decision = decideFetch(layers, method, request.url, options);
  const raw = rawUrl(request.headers);
  if (raw !== undefined && decision.allowed) {
    const rawDecision = decideFetch(layers, method, raw, options);
    if (!rawDecision.allowed) decision = { ...rawDecision, url: decision.url };
  }
  if (!decision.allowed) {
    await request.body?.cancel().catch(() => {});
    return deny(decision.url, decision.reason);
  }

  let body: Uint8Array | null = null;
  if (request.body) {
    const read = await readBounded(request.body, caps.requestBytes - run.requestBytes);
    if (read === "over") return deny(decision.url, requestCapReason(caps.requestBytes));
    body = read;
  }
  const redirect = request.headers.get(HARNESS_HEADERS.redirect) ?? "follow";
  // What the code sent, placeholders and all; each hop injects secrets for its own host.
  let hop: Outbound & { method: string } = {
    method,
    url: decision.url,
    headers: endToEnd(request.headers),
    body,
  };

  for (let redirects = 0; ; redirects++) {
    if (redirects > 0) {
      decision = decideFetch(layers, hop.method, hop.url, options);
      if (!decision.allowed) return deny(decision.url, decision.reason);
      hop.url = decision.url;
    }
    if (run.allowed >= caps.subrequests) {
      return deny(hop.url, subrequestCapReason(caps.subrequests));
    }
    const injected = prepareRequest(secrets, hop.method, hop);
    if ("refused" in injected) return deny(hop.url, injected.refused);
    const sent = injected.body?.length ?? 0;
    if (run.requestBytes + sent > caps.requestBytes) {
      return deny(hop.url, requestCapReason(caps.requestBytes));
    }
    run.allowed++;
    run.requestBytes += sent;
    const entry = run.record({
      method: hop.method,
      url: scrubSecrets(injected.url, values),
      decision: "allowed",
      reason: decision.reason,
    });

    const started = Date.now();
    let response: Response;
    try {
      response = await fetch(injected.url, {
        method: hop.method,
        headers: injected.headers,
        body: injected.body,
        redirect: "manual",
        // The raw bytes, whatever the encoding: the gateway decodes what it can scrub itself.
        ...(secrets.length > 0 ? { encodeResponseBody: "manual" as const } : {}),
        signal: AbortSignal.any([run.signal(), AbortSignal.timeout(caps.requestTimeoutMs)]),
      });
    } catch (err) {
      entry.ms = Date.now() - started;
      const why = await requestError(err, injected.url, caps.requestTimeoutMs, run, values);
      entry.reason = `${entry.reason}; the request failed: ${why}`;
      return failure(`${hop.method} ${entry.url} failed: ${why}`);
    }
    entry.ms = Date.now() - started;
    entry.status = response.status;

    const location = response.headers.get("location");
    if (!REDIRECTS.has(response.status) || location === null || redirect === "manual") {
      return toGuest(response, run, entry, hop.method);
    }
    await response.body?.cancel().catch(() => {});
    entry.bytes = 0;
    if (redirect === "error") {
      return failure(`${hop.method} ${entry.url} failed: redirected, and redirect is "error"`);
    }
    if (redirects >= MAX_REDIRECTS) {
      return failure(
        `${hop.method} ${entry.url} failed: more than ${MAX_REDIRECTS} redirects were followed`,
      );
    }
    let next: string;
    try {
      next = new URL(location, hop.url).href;
    } catch {
      return failure(`${hop.method} ${entry.url} failed: the redirect's Location is not a URL`);
    }
    hop = nextHop(hop, response.status, next);
  }
}

/** The raw URL the harness passed along, if any. */
function rawUrl(headers: Headers): string | undefined {
  const encoded = headers.get(HARNESS_HEADERS.rawUrl);
  if (encoded === null) return undefined;
  try {
    return decodeURIComponent(encoded);
  } catch {
    // Undecodable means tampered with; an unparseable URL is denied as such.
    return "invalid:";
  }
}

/** The request a redirect leads to, as fetch() would make it (WHATWG Fetch §4.4). */
function nextHop(
  hop: Outbound & { method: string },
  status: number,
  url: string,
): Outbound & { method: string } {
  const headers = new Headers(hop.headers);
  let { method, body } = hop;
  if (
    (status === 303 && method !== "HEAD") ||
    ((status === 301 || status === 302) && method === "POST")
  ) {
    method = "GET";
    body = null;
    for (const name of BODY_HEADERS) headers.delete(name);
  }
  if (new URL(url).origin !== new URL(hop.url).origin) {
    // Credentials meant for one origin do not follow a redirect to another.
    headers.delete("authorization");
    headers.delete("cookie");
  }
  return { method, url, headers, body };
}

/**
 * Why a request failed, as the guest and the audit show it. Workerd reports a name that does not
 * resolve and a failed TLS handshake alike as "internal error; reference = …", and a refused
 * connection like one the server closed ("Network connection lost."): a plain TCP connection to
 * the same host and port, opened and closed, tells them apart.
 */
async function requestError(
  err: unknown,
  url: string,
  timeoutMs: number,
  run: InFlight,
  values: string[],
): Promise<string> {
  if (err instanceof Error && err.name === "TimeoutError") return `timed out after ${timeoutMs} ms`;
  const message = err instanceof Error ? err.message : String(err);
  const hidden = /^internal error\b/.test(message);
  const lost = /^Network connection lost/.test(message);
  if (!hidden && !lost) return scrubSecrets(message, values);
  const target = new URL(url);
  const port = Number(target.port) || (target.protocol === "https:" ? 443 : 80);
  const host = target.hostname.replace(/^\[(.*)\]$/, "$1");
  const opens = await reachable(host, port, PROBE_MS, run.signal());
  if (lost) {
    return opens
      ? "the server closed the connection without an answer"
      : "the connection was refused";
  }
  if (!opens) return "the host name did not resolve (DNS), or no address of it can be reached";
  return target.protocol === "https:"
    ? "the TLS handshake failed"
    : "the server's answer was not HTTP";
}

/**
 * The upstream answer as the guest gets it: no hop-by-hop headers, capped, secrets scrubbed. For
 * a tenant with secrets the body is decoded first, and one that cannot be (an unknown encoding, a
 * part of a whole) is refused: the guest's fetch rejects, and the audit says why.
 */
async function toGuest(
  response: Response,
  run: InFlight,
  entry: EgressAttempt,
  method: string,
): Promise<Response> {
  const values = secretValues(run);
  const headers = new Headers();
  for (const [name, value] of endToEnd(response.headers)) {
    headers.append(name, scrubSecrets(value, values));
  }
  entry.bytes = 0;
  let source = response.body === null || NULL_BODY.has(response.status) ? null : response.body;
  if (source !== null && values.length > 0) {
    const decoded =
      response.status === 206
        ? { refused: PARTIAL_RESPONSE }
        : decodeBody(source, response.headers.get("content-encoding"));
    if ("refused" in decoded) {
      await source.cancel().catch(() => {});
      const why = scrubSecrets(decoded.refused, values);
      entry.reason = `${entry.reason}; the response was refused: ${why}`;
      return failure(`${method} ${entry.url} failed: ${why}`);
    }
    source = decoded.body;
    headers.delete("content-encoding");
  }
  const body = source === null ? null : inbound(source, run, entry);
  return new Response(body, {
    status: response.status,
    statusText: scrubSecrets(response.statusText, values),
    headers,
  });
}

/**
 * The global outbound of a guest isolate in this worker's own LOADER: what reaches it went around
 * the harness's fetch() and connect() (which use the execution's capabilities), so it is denied,
 * and audited in the executions running in that isolate.
 */
export class Gateway extends WorkerEntrypoint<Env, GatewayProps> {
  override fetch(request: Request): Promise<Response> {
    return handleEgress(undefined, request, this.ctx.props.isolate);
  }

  override connect(socket: Socket): Promise<void> {
    return refuseBypassConnect(socket, this.ctx.props.isolate);
  }
}

/**
 * The control plane's egress socket for runner processes: a runner forwards each guest request
 * with the execution's id and egress token, so a runner can only spend the policy of a run it
 * was given (src/runner).
 */
export class EgressIngress extends WorkerEntrypoint<Env> {
  override async fetch(request: Request): Promise<Response> {
    if (new URL(request.url).pathname === TOOL_CALL_PATH) return serveRunnerToolCall(request);
    const executionId = request.headers.get(EGRESS_HEADERS.execution) ?? "";
    const token = request.headers.get(EGRESS_HEADERS.token) ?? "";
    const target = request.headers.get(EGRESS_HEADERS.target) ?? "";
    const isolate = request.headers.get(EGRESS_HEADERS.isolate) ?? undefined;
    const headers = new Headers(request.headers);
    for (const name of Object.values(EGRESS_HEADERS)) headers.delete(name);
    let forwarded: Request;
    try {
      forwarded = new Request(target, {
        method: request.method,
        headers,
        body: request.body,
        redirect: "manual",
      });
    } catch {
      return failure("egress denied: the runner sent no valid target URL");
    }
    const run = runnerEgress(executionId, token);
    return run ? handleEgress(run, forwarded) : handleEgress(undefined, forwarded, isolate);
  }

  /** A runner's socket: its first line names the execution and token, then the guest's bytes. */
  override connect(socket: Socket): Promise<void> {
    return serveRunnerConnect(socket);
  }
}
