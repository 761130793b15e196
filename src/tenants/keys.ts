// API keys and the other random values the tenant registry hands out.
import { sha256Hex, toBase64Url } from "../bytes";

/** Hex SHA-256 of an API key: what the registry stores and looks keys up by. */
export function hashApiKey(apiKey: string): Promise<string> {
  return sha256Hex(apiKey);
}

/** `bytes` random bytes in base64url: for keys, key ids and server-side secrets. */
export function randomToken(bytes: number): string {
  return toBase64Url(crypto.getRandomValues(new Uint8Array(bytes)));
}

/** A new API key: only its hash is ever stored. */
export function newApiKey(): string {
  return `ck_${randomToken(32)}`;
}

/** A new key id, which names a key without revealing it. */
export function newKeyId(): string {
  return `key_${randomToken(12)}`;
}
