/**
 * Secret placeholders: the guest holds `process.env.NAME` as a placeholder, and the gateway swaps
 * in the real value only on requests to the hosts the secret is bound to.
 */
import type { EgressSecret } from "./audit";
import { decideFetch } from "./policy";

/**
 * A placeholder: only characters that URL, form and header encodings leave alone, so the guest
 * can put it anywhere and the gateway still finds it. `mac` is a keyed hash of tenant and name.
 */
export function placeholderFor(name: string, mac: string): string {
  return `cordon-secret-${name}-${mac}`;
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

/**
 * Replaces the placeholders of `secrets` in URL, headers (Basic credentials included) and body
 * with their values, for a request to `url`. A placeholder, or a real value, on its way to a host
 * its secret is not bound to makes the whole request refused: the name is returned instead.
 */
export function injectSecrets(
  secrets: EgressSecret[],
  method: string,
  request: Outbound,
): Outbound | { unbound: string } {
  if (secrets.length === 0) return request;
  let { url, body } = request;
  const headers = new Headers(request.headers);
  for (const secret of secrets) {
    const { placeholder, value } = secret;
    const basic = basicCredentials(headers);
    const inUrl = url.includes(placeholder);
    const inHeaders = [...headers].some(([, v]) => v.includes(placeholder));
    const inBasic = basic.some(([, decoded]) => decoded.includes(placeholder));
    const placeholderBytes = encoder.encode(placeholder);
    const inBody = body !== null && indexOfBytes(body, placeholderBytes, 0) !== -1;
    // A real value can only come from upstream (a redirect's Location echoing it).
    const leaked = url.includes(value) || url.includes(encodeURIComponent(value));
    if (!inUrl && !inHeaders && !inBasic && !inBody && !leaked) continue;
    if (!boundTo(secret, method, url)) return { unbound: secret.name };
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
    if (body !== null && inBody) body = replaceBytes(body, placeholderBytes, encoder.encode(value));
  }
  return { url, headers, body };
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

/** Bytes as a string of one char per byte (0–255), the form secrets are scrubbed in. */
export function toBinary(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    out += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return out;
}

export function fromBinary(text: string): Uint8Array {
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

/**
 * The values to scrub from a response body handled as a binary string: each value, and its UTF-8
 * bytes as such a string when it is not plain ASCII (so both its encodings and its raw bytes match).
 */
export function binaryScrubValues(values: string[]): string[] {
  const out = new Set<string>();
  for (const value of values) {
    out.add(value);
    const binary = toBinary(encoder.encode(value));
    if (binary !== value) out.add(binary);
  }
  return [...out];
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
