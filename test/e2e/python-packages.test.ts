// Third-party Python packages: the operator points CORDON_PYODIDE_PACKAGES at a directory of
// wheels and a lock file; they are installed into the snapshot, and nothing is fetched at run time.
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Server, startServer } from "./server";

/** A zip archive of `files` (stored, not compressed), as a wheel is one. */
function zip(files: [string, Buffer][]): Buffer {
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const [name, data] of files) {
    const nameBytes = Buffer.from(name);
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    locals.push(local, nameBytes, data);
    const entry = Buffer.alloc(46);
    entry.writeUInt32LE(0x02014b50, 0);
    entry.writeUInt16LE(20, 4);
    entry.writeUInt16LE(20, 6);
    entry.writeUInt32LE(crc, 16);
    entry.writeUInt32LE(data.length, 20);
    entry.writeUInt32LE(data.length, 24);
    entry.writeUInt16LE(nameBytes.length, 28);
    entry.writeUInt32LE(offset, 42);
    central.push(entry, nameBytes);
    offset += local.length + nameBytes.length + data.length;
  }
  const directory = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(files.length, 8);
  end.writeUInt16LE(files.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

/** Builds tinypkg's wheel from test/fixtures/python and a lock file naming it, in a new directory. */
function packagesDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "cordon-wheels-"));
  const info = "tinypkg-0.1.0.dist-info";
  const wheel = zip([
    ["tinypkg/__init__.py", readFileSync("test/fixtures/python/tinypkg/__init__.py")],
    [`${info}/METADATA`, Buffer.from("Metadata-Version: 2.1\nName: tinypkg\nVersion: 0.1.0\n")],
    [
      `${info}/WHEEL`,
      Buffer.from(
        "Wheel-Version: 1.0\nGenerator: cordon-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
      ),
    ],
    [`${info}/RECORD`, Buffer.from("")],
  ]);
  const fileName = "tinypkg-0.1.0-py3-none-any.whl";
  writeFileSync(join(dir, fileName), wheel);
  const lock = {
    packages: {
      tinypkg: {
        name: "tinypkg",
        version: "0.1.0",
        file_name: fileName,
        install_dir: "site",
        sha256: createHash("sha256").update(wheel).digest("hex"),
        package_type: "package",
        imports: ["tinypkg"],
        depends: [],
      },
    },
  };
  writeFileSync(join(dir, "pyodide-lock.json"), JSON.stringify(lock));
  return dir;
}

let server: Server;
beforeAll(async () => {
  server = await startServer({ CORDON_PYODIDE_PACKAGES: packagesDir() });
}, 60_000);
afterAll(async () => {
  await server?.stop();
});

describe("CORDON_PYODIDE_PACKAGES", () => {
  it("installs the operator's wheels into every Python run, offline", async () => {
    const code = "import tinypkg\n[tinypkg.greet(input), tinypkg.spread([1, 1, 3, 3])]";
    // The first run makes the snapshot, with the packages in it.
    const first = await server.execute({
      code,
      language: "python",
      input: "you",
      timeoutMs: 60_000,
    });
    expect(first).toMatchObject({ status: "ok", result: ["hello, you, from tinypkg", 1] });
    expect(first.egress).toEqual([]);
    const again = await server.execute({ code, language: "python", input: "again" });
    expect(again).toMatchObject({ status: "ok", result: ["hello, again, from tinypkg", 1] });
  }, 120_000);

  it("has nothing else: a package the lock file does not name cannot be imported", async () => {
    const r = await server.execute({ code: "import numpy", language: "python", timeoutMs: 60_000 });
    expect(r).toMatchObject({ status: "error", error: { name: "ModuleNotFoundError" } });
  }, 120_000);
});
