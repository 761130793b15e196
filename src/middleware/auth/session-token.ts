import { fromBase64Url, hmacKey, toBase64Url } from "../../bytes";
import type { Env } from "../../env";
import { fromRegistry, registry } from "../../tenants/registry";

/** What a session token grants: one session of one tenant, until it expires. */
export interface SessionClaims {
  tenant: string;
  session: string;
  /** Expiry, milliseconds since the epoch (the session's own expiry when it was issued). */
  exp: number;
}

export const TOKEN_PREFIX = "cst_";
const encoder = new TextEncoder();

// The signing key lives in the registry (on disk self-hosted); each isolate fetches it once.
let signingKey: Promise<CryptoKey> | undefined;

function key(env: Env): Promise<CryptoKey> {
  signingKey ??= fromRegistry(registry(env).sessionSigningKey())
    .then(hmacKey)
    .catch((err: unknown) => {
      signingKey = undefined;
      throw err;
    });
  return signingKey;
}

/** Signs a session token: `cst_<claims>.<HMAC-SHA256>`. */
export async function signSessionToken(env: Env, claims: SessionClaims): Promise<string> {
  const payload = toBase64Url(encoder.encode(JSON.stringify(claims)));
  const mac = await crypto.subtle.sign("HMAC", await key(env), encoder.encode(payload));
  return `${TOKEN_PREFIX}${payload}.${toBase64Url(new Uint8Array(mac))}`;
}

/**
 * A token as `signSessionToken` spells it: the prefix, the claims and the 32-byte MAC, both in
 * unpadded base64url, and nothing else.
 */
const TOKEN = /^cst_([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{43})$/;

/** The claims of a genuine, unexpired token; null for anything else. */
export async function verifySessionToken(env: Env, token: string): Promise<SessionClaims | null> {
  const [, payload = "", mac = ""] = TOKEN.exec(token) ?? [];
  const macBytes = canonical(mac);
  if (!macBytes || !canonical(payload)) return null;
  // Outside the check: a registry that cannot hand out the key is a 503, not a bad token.
  const signing = await key(env);
  if (!(await crypto.subtle.verify("HMAC", signing, macBytes, encoder.encode(payload)))) {
    return null;
  }
  const claims = JSON.parse(new TextDecoder().decode(fromBase64Url(payload))) as SessionClaims;
  return claims.exp > Date.now() ? claims : null;
}

/**
 * The bytes of a base64url text that is their one canonical spelling; null otherwise (other
 * spellings of the same bytes, with padding or stray low bits, would be other valid tokens).
 */
function canonical(text: string): Uint8Array | null {
  if (text === "") return null;
  try {
    const bytes = fromBase64Url(text);
    return toBase64Url(bytes) === text ? bytes : null;
  } catch {
    return null;
  }
}
