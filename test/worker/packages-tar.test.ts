import { describe, expect, it } from "vitest";
import { PackageError } from "../../src/packages/errors";
import { verifyIntegrity } from "../../src/packages/integrity";
import { gunzip, readTar } from "../../src/packages/tar";
import { gzip, integrityOf, paxPath, tar } from "../tarball";

const LIMITS = { unpackedBytes: 1024 * 1024, entries: 100 };
const text = (bytes: Uint8Array | undefined) => new TextDecoder().decode(bytes);

async function problem(promise: Promise<unknown>): Promise<PackageError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof PackageError))
    throw new Error(`expected a PackageError, got ${String(err)}`);
  return err;
}

describe("package tarballs", () => {
  it("reads the files of an npm tarball without its first path component", async () => {
    const archive = await gzip(
      tar([
        { name: "package/package.json", data: '{"name":"x"}' },
        { name: "package/lib/", type: "5" },
        { name: "package/lib/a.js", data: "export const a = 1;" },
      ]),
    );
    const files = readTar(await gunzip(archive, 1 << 20, "x"), LIMITS, () => true, "x");
    expect([...files.keys()].sort()).toEqual(["lib/a.js", "package.json"]);
    expect(text(files.get("lib/a.js"))).toBe("export const a = 1;");
  });

  it("takes a pax header's long path, and skips paths that leave the package and links", () => {
    const long = `package/${"d/".repeat(80)}deep.js`;
    const files = readTar(
      tar([
        paxPath(long),
        { name: "package/truncated-name-ignored", data: "deep" },
        { name: "package/../../etc/passwd", data: "escape" },
        { name: "/abs.js", data: "absolute" },
        { name: "package/link.js", type: "2" },
      ]),
      LIMITS,
      () => true,
      "x",
    );
    expect([...files.keys()]).toEqual([`${"d/".repeat(80)}deep.js`]);
    expect(text(files.get(`${"d/".repeat(80)}deep.js`))).toBe("deep");
  });

  it("stops a gzip bomb at the unpacked cap", async () => {
    const bomb = await gzip(new Uint8Array(4 * 1024 * 1024));
    expect(bomb.byteLength).toBeLessThan(16 * 1024);
    const err = await problem(gunzip(bomb, 1024 * 1024, "the tarball of bomb@1.0.0"));
    expect(err.problem).toBe("too-large");
    expect(err.message).toBe(
      "the tarball of bomb@1.0.0 unpacks to more than 1048576 bytes, the cap on one package",
    );
  });

  it("refuses what is not gzip, a corrupt header and too many entries", async () => {
    expect(
      (await problem(gunzip(new TextEncoder().encode("not gzip"), 1 << 20, "t"))).problem,
    ).toBe("bad-package");
    const archive = tar([{ name: "package/a.js", data: "a" }]);
    archive[0] = 0x41;
    expect(() => readTar(archive, LIMITS, () => true, "t")).toThrow("t is not a valid tar archive");
    const many = tar(Array.from({ length: 5 }, (_, i) => ({ name: `package/${i}.js`, data: "" })));
    expect(() => readTar(many, { ...LIMITS, entries: 4 }, () => true, "t")).toThrow(
      "t has more than 4 entries",
    );
  });

  it("verifies a tarball against its sha512 integrity before use", async () => {
    const archive = await gzip(tar([{ name: "package/a.js", data: "a" }]));
    await verifyIntegrity(archive, await integrityOf(archive), "a@1.0.0");
    const tampered = archive.slice();
    tampered[tampered.length - 1] = (tampered.at(-1) ?? 0) ^ 1;
    const err = await problem(verifyIntegrity(tampered, await integrityOf(archive), "a@1.0.0"));
    expect(err.problem).toBe("integrity");
    expect(err.message).toMatch(/^a@1\.0\.0: the tarball does not match the registry's integrity/);
    const none = await problem(verifyIntegrity(archive, "sha1-abc", "a@1.0.0"));
    expect(none.message).toBe(
      "a@1.0.0 has no sha512 integrity in the registry, so its tarball cannot be verified",
    );
  });
});
