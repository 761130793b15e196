import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { type BlobStore, DurableObjectStore, R2Store } from "../../src/packages";

declare global {
  namespace Cloudflare {
    interface Env {
      /** Only in tests (vitest.config.ts). */
      PACKAGES_TEST_BUCKET: R2Bucket;
    }
  }
}

const stores: [string, () => BlobStore][] = [
  ["Durable Object storage", () => new DurableObjectStore(env.PACKAGE_CACHE)],
  ["R2", () => new R2Store(env.PACKAGES_TEST_BUCKET)],
];

describe.each(stores)("the package cache in %s", (_name, store) => {
  it("reads back a blob of several parts, and misses what was never written", async () => {
    const bytes = new Uint8Array(2.5 * 1024 * 1024);
    for (let i = 0; i < bytes.length; i++) bytes[i] = i % 251;
    const key = `tarballs/${"ab".repeat(32)}`;
    expect(await store().get(key)).toBeUndefined();
    await store().put(key, bytes);
    const back = await store().get(key);
    expect(back?.byteLength).toBe(bytes.byteLength);
    // The first byte that differs (a deep comparison of megabytes is slow to report).
    expect(bytes.findIndex((byte, i) => back?.[i] !== byte)).toBe(-1);
  });

  it("refuses a key that is not a kind and a hex digest", async () => {
    await expect(store().get("tarballs/../../x")).rejects.toThrow("not a package cache key");
    await expect(store().put("builds/ABC", new Uint8Array(1))).rejects.toThrow(
      "not a package cache key",
    );
  });
});
