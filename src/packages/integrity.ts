import { PackageError } from "./errors";

/** The sha512 digests (base64) an SRI string such as a packument's `dist.integrity` names. */
export function sha512Digests(integrity: string | undefined): string[] {
  if (integrity === undefined) return [];
  return integrity
    .split(/\s+/)
    .filter((entry) => entry.startsWith("sha512-"))
    .map((entry) => entry.slice("sha512-".length).replace(/\?.*$/, ""));
}

/**
 * Checks `bytes` against the registry's `dist.integrity` before anything reads them: only a
 * sha512 digest counts (npm's own since 2017); a package version without one is refused.
 */
export async function verifyIntegrity(
  bytes: Uint8Array,
  integrity: string | undefined,
  what: string,
): Promise<void> {
  const expected = sha512Digests(integrity);
  if (expected.length === 0) {
    throw new PackageError(
      "integrity",
      `${what} has no sha512 integrity in the registry, so its tarball cannot be verified`,
    );
  }
  const actual = toBase64(new Uint8Array(await crypto.subtle.digest("SHA-512", bytes)));
  if (!expected.includes(actual)) {
    throw new PackageError(
      "integrity",
      `${what}: the tarball does not match the registry's integrity (sha512-${actual} instead of sha512-${expected[0]})`,
    );
  }
}

/** Hex of the SHA-256 of `text`: the content address of a resolved set or a build. */
export async function sha256Hex(text: string): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)),
  );
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}
