/**
 * Secret placeholders: the guest holds `process.env.NAME` as a placeholder, and the gateway swaps
 * in the real value only on requests to the hosts the secret is bound to, in the places it names.
 */
import { toBinary, toHex } from "../bytes";
import { matcherFor } from "../redact/scan";
import type { EgressSecret } from "./audit";
import { decideFetch } from "./policy";
import { notBoundReason, type Place, placementReason, valueReason } from "./reasons";

/**
 * A secret's placeholder: only characters that URL, form and header encodings leave alone, so the
 * guest can put it anywhere and the gateway still finds it. It ends in a keyed hash of tenant and
 * name under `key`, so it cannot be guessed yet stays the same for every run of the tenant.
 */
export async function placeholderFor(
  key: CryptoKey,
  tenant: string,
  name: string,
): Promise<string> {
  const mac = await crypto.subtle.sign("HMAC", key, encoder.encode(`${tenant}\u0000${name}`));
  return `cordon-secret-${name}-${toHex(mac).slice(0, 32)}`;
}

/** Whether a request to `url` may carry `secret`'s real value (its hosts use the rule syntax). */
export function boundTo(secret: EgressSecret, method: string, url: string): boolean {
  // Private addresses were already judged by the policy; here only the host binding matters.
  return decideFetch([{ allow: secret.hosts }], method, url, { allowPrivate: true }).allowed;
}

/** A request as the gateway rewrites it: placeholders in, real values out. */
export interface Outbound {
  url: string;
  headers: Headers;
  body: Uint8Array | null;
}

const encoder = new TextEncoder();
const BASIC = /^(\s*basic\s+)(\S+)(\s*)$/i;

/** Where the host (and port) of a gateway-normalised `scheme://host[:port]/path?query` URL is. */
function hostRange(url: string): [number, number] {
  const start = url.indexOf("//") + 2;
  const slash = url.indexOf("/", start);
  return [start, slash === -1 ? url.length : slash];
}

/**
 * The request as it may leave for `request.url`, or why it may not. For a tenant with secrets:
 * each placeholder must be in a place its secret's `in` allows (never the host name) on a request
 * to a host it is bound to, and is then replaced by the value; then no value may be anywhere the
 * gateway would not have put it, in any spelling the scrubber knows (a redirect's Location may
 * carry one); and the answer is asked for whole and unencoded, so it can be scrubbed.
 */
export function prepareRequest(
  secrets: EgressSecret[],
  method: string,
  request: Outbound,
): Outbound | { refused: string } {
  if (secrets.length === 0) return request;
  let { url, body } = request;
  const headers = new Headers(request.headers);
  const [hostStart, hostEnd] = hostRange(url);
  for (const secret of secrets) {
    const { placeholder, value } = secret;
    const basic = basicCredentials(headers);
    const placeholderBytes = encoder.encode(placeholder);
    const places = new Set<Place>();
    // Host names are case-insensitive (and come lower-cased from the URL parser).
    if (url.slice(hostStart, hostEnd).includes(placeholder.toLowerCase())) places.add("host");
    else if (url.includes(placeholder)) places.add("url");
    if (
      [...headers].some(([, v]) => v.includes(placeholder)) ||
      basic.some(([, decoded]) => decoded.includes(placeholder))
    ) {
      places.add("header");
    }
    if (body !== null && indexOfBytes(body, placeholderBytes, 0) !== -1) places.add("body");
    if (places.size === 0) continue;
    for (const place of places) {
      if (place === "host" || !secret.in.some((allowed) => allowed === place)) {
        return { refused: placementReason(secret.name, place, secret.in) };
      }
    }
    if (!boundTo(secret, method, url)) return { refused: notBoundReason(secret.name) };
    url = url.replaceAll(placeholder, encodeURIComponent(value));
    for (const [name, v] of [...headers]) {
      if (v.includes(placeholder)) headers.set(name, v.replaceAll(placeholder, value));
    }
    for (const [name, decoded] of basic) {
      if (!decoded.includes(placeholder)) continue;
      const header = headers.get(name) ?? "";
      const match = BASIC.exec(header);
      const binary = toBinary(encoder.encode(value));
      headers.set(
        name,
        `${match?.[1] ?? "Basic "}${btoa(decoded.replaceAll(placeholder, binary))}${match?.[3] ?? ""}`,
      );
    }
    if (body !== null && places.has("body")) {
      body = replaceBytes(body, placeholderBytes, encoder.encode(value));
    }
  }
  const prepared = { url, headers, body };
  const misplaced = misplacedValue(secrets, method, prepared);
  if (misplaced !== undefined) return { refused: misplaced };
  // A compressed or partial answer cannot be scrubbed: ask for the whole thing, as it is.
  headers.set("accept-encoding", "identity");
  headers.delete("range");
  headers.delete("if-range");
  return prepared;
}

/** Why a connect() to `host` may not go: a placeholder or a value is in the host name. */
export function secretInAddress(secrets: EgressSecret[], host: string): string | undefined {
  if (secrets.length === 0) return undefined;
  const lower = host.toLowerCase();
  for (const secret of secrets) {
    if (lower.includes(secret.placeholder.toLowerCase())) {
      return placementReason(secret.name, "host", secret.in);
    }
  }
  const [span] = matcherFor(secrets.map((s) => s.value)).spans(host);
  const secret = span === undefined ? undefined : secrets[span.secret];
  return secret === undefined ? undefined : valueReason(secret.name, "host", false);
}

/**
 * Why a value found in `request` may not go (the first one found), if any: it is in the host
 * name, or on a request to a host its secret is not bound to, or in a place its `in` leaves out.
 */
function misplacedValue(
  secrets: EgressSecret[],
  method: string,
  request: Outbound,
): string | undefined {
  const matcher = matcherFor(secrets.map((s) => s.value));
  if (matcher.empty) return undefined;
  // Each secret once per place, however often its value occurs there.
  const found = new Map<string, [number, Place]>();
  const note = (secret: number, place: Place) => found.set(`${secret} ${place}`, [secret, place]);
  const [hostStart, hostEnd] = hostRange(request.url);
  for (const span of matcher.spans(request.url)) {
    note(span.secret, span.start < hostEnd && span.end > hostStart ? "host" : "url");
  }
  for (const [, v] of request.headers) {
    for (const span of matcher.spans(v)) note(span.secret, "header");
  }
  if (request.body !== null && request.body.length > 0) {
    for (const span of matcher.spans(toBinary(request.body))) note(span.secret, "body");
  }
  for (const [index, place] of found.values()) {
    const secret = secrets[index];
    if (secret === undefined) continue;
    if (place === "host") return valueReason(secret.name, place, false);
    // Two secrets may share a value: it may go wherever either binding lets it.
    const twins = secrets.filter((s) => s.value === secret.value);
    const bound = twins.filter((s) => boundTo(s, method, request.url));
    if (!bound.some((s) => s.in.some((allowed) => allowed === place))) {
      return valueReason(secret.name, place, bound.length > 0);
    }
  }
  return undefined;
}

/** The decoded `user:password` of Basic credentials, per header that carries them. */
function basicCredentials(headers: Headers): [string, string][] {
  const found: [string, string][] = [];
  for (const name of ["authorization", "proxy-authorization"]) {
    const match = BASIC.exec(headers.get(name) ?? "");
    if (!match?.[2]) continue;
    try {
      found.push([name, atob(match[2])]);
    } catch {
      // Not base64: nothing to substitute inside it.
    }
  }
  return found;
}

function indexOfBytes(haystack: Uint8Array, needle: Uint8Array, from: number): number {
  const first = needle[0];
  if (first === undefined) return -1;
  for (let i = haystack.indexOf(first, from); i !== -1; i = haystack.indexOf(first, i + 1)) {
    if (i + needle.length > haystack.length) return -1;
    let j = 1;
    while (j < needle.length && haystack[i + j] === needle[j]) j++;
    if (j === needle.length) return i;
  }
  return -1;
}

function replaceBytes(data: Uint8Array, from: Uint8Array, to: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  let at = 0;
  for (let i = indexOfBytes(data, from, 0); i !== -1; i = indexOfBytes(data, from, at)) {
    parts.push(data.subarray(at, i), to);
    at = i + from.length;
  }
  parts.push(data.subarray(at));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
