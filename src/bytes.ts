// Bytes and their spellings, for the worker and its Durable Objects. Guest modules (*.guest.js)
// run inside the isolate and cannot import this; they keep their own.

const encoder = new TextEncoder();

// String.fromCharCode takes its bytes as arguments: a whole megabyte at once would pass the
// engine's argument limit, so they go in slices.
const SLICE = 0x8000;

/** Bytes as a string of one char per byte (0–255): what `btoa` takes and scrubbers scan. */
export function toBinary(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += SLICE) {
    out += String.fromCharCode(...bytes.subarray(i, i + SLICE));
  }
  return out;
}

/** The bytes of a string of one char per byte; chars past 255 keep their low byte. */
export function fromBinary(text: string): Uint8Array {
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

/** Padded base64 with `+` and `/`. */
export function toBase64(bytes: Uint8Array): string {
  return btoa(toBinary(bytes));
}

/** The bytes of a base64 text; throws on anything `atob` refuses. */
export function fromBase64(text: string): Uint8Array {
  return fromBinary(atob(text));
}

/** Unpadded base64url (`-` and `_`): safe in URLs, names and tokens. */
export function toBase64Url(bytes: Uint8Array): string {
  return toBase64(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The bytes of a base64url text, padded or not; throws on anything `atob` refuses. */
export function fromBase64Url(text: string): Uint8Array {
  return fromBase64(text.replace(/-/g, "+").replace(/_/g, "/"));
}

/** Lower-case hex, two digits a byte. */
export function toHex(bytes: Uint8Array | ArrayBuffer): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let out = "";
  for (const byte of view) out += byte.toString(16).padStart(2, "0");
  return out;
}

/** SHA-256 of bytes, or of a text's UTF-8. */
export async function sha256(data: string | Uint8Array): Promise<Uint8Array> {
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

/** SHA-256 in lower-case hex. */
export async function sha256Hex(data: string | Uint8Array): Promise<string> {
  return toHex(await sha256(data));
}

/** An HMAC-SHA-256 key made from a text secret, to sign and verify with. */
export function hmacKey(secret: string): Promise<CryptoKey> {
  return crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign", "verify"],
  );
}
