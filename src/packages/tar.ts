import { PackageError } from "./errors";

/** Caps for unpacking one tarball. */
export interface UnpackLimits {
  /** Bytes of the tar stream after gunzip, every entry counted. */
  unpackedBytes: number;
  /** Entries (files, directories, headers) in the archive. */
  entries: number;
}

/**
 * Gunzips `gzip` with the runtime's DecompressionStream, stopping as soon as the output passes
 * `maxBytes` (so a small tarball that inflates to gigabytes costs no more than the cap).
 */
export async function gunzip(
  gzip: Uint8Array,
  maxBytes: number,
  what: string,
): Promise<Uint8Array> {
  const stream = new Blob([gzip]).stream().pipeThrough(new DecompressionStream("gzip"));
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > maxBytes) {
        throw new PackageError(
          "too-large",
          `${what} unpacks to more than ${maxBytes} bytes, the cap on one package`,
        );
      }
      chunks.push(value);
    }
  } catch (err) {
    void reader.cancel().catch(() => {}); // Only frees the stream; nothing waits for it.
    if (err instanceof PackageError) throw err;
    throw new PackageError("bad-package", `${what} is not a gzip file: ${String(err)}`);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}

const BLOCK = 512;
const latin1 = new TextDecoder("latin1");
const utf8 = new TextDecoder();

/**
 * The regular files of a tar archive (ustar, with pax and GNU long names), by path with the first
 * component removed as npm does (`package/lib/a.js` is `lib/a.js`). Links, devices and entries
 * whose path leaves the package (`..`, absolute) are skipped; `keep` says which files to return
 * (the rest are only counted).
 */
export function readTar(
  tar: Uint8Array,
  limits: UnpackLimits,
  keep: (path: string) => boolean,
  what: string,
): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  let entries = 0;
  let longName: string | undefined;
  let paxPath: string | undefined;
  let paxSize: number | undefined;
  for (let at = 0; at + BLOCK <= tar.length; ) {
    const header = tar.subarray(at, at + BLOCK);
    if (header.every((byte) => byte === 0)) break;
    if (++entries > limits.entries) {
      throw new PackageError("too-large", `${what} has more than ${limits.entries} entries`);
    }
    if (!checksumMatches(header)) {
      throw new PackageError("bad-package", `${what} is not a valid tar archive`);
    }
    const type = String.fromCharCode(header[156] ?? 0);
    const size = paxSize ?? octal(header.subarray(124, 136), what);
    const start = at + BLOCK;
    const end = start + size;
    if (end > tar.length) throw new PackageError("bad-package", `${what} is truncated`);
    const data = tar.subarray(start, end);
    at = start + Math.ceil(size / BLOCK) * BLOCK;
    if (type === "x") {
      const pax = paxRecords(data);
      paxPath = pax.get("path");
      const paxSizeText = pax.get("size");
      paxSize =
        paxSizeText !== undefined && /^\d+$/.test(paxSizeText) ? Number(paxSizeText) : undefined;
      continue;
    }
    if (type === "L") {
      longName = cString(data, utf8);
      continue;
    }
    if (type === "g" || type === "K") continue;
    const name = paxPath ?? longName ?? ustarName(header);
    paxPath = undefined;
    paxSize = undefined;
    longName = undefined;
    if (type !== "0" && type !== "\0" && type !== "7") continue;
    const path = packagePath(name);
    if (path !== undefined && keep(path)) files.set(path, data);
  }
  return files;
}

/** `package/lib/../a.js` → `a.js`; undefined for a path outside the package or with no file name. */
function packagePath(name: string): string | undefined {
  const parts = name.split("/").slice(1);
  const out: string[] = [];
  for (const part of parts) {
    if (part === "" || part === ".") continue;
    if (part === "..") return undefined;
    out.push(part);
  }
  return out.length > 0 && !name.startsWith("/") ? out.join("/") : undefined;
}

function ustarName(header: Uint8Array): string {
  const name = cString(header.subarray(0, 100), utf8);
  const magic = latin1.decode(header.subarray(257, 262));
  const prefix = magic === "ustar" ? cString(header.subarray(345, 500), utf8) : "";
  return prefix ? `${prefix}/${name}` : name;
}

function cString(bytes: Uint8Array, decoder: TextDecoder): string {
  const end = bytes.indexOf(0);
  return decoder.decode(end === -1 ? bytes : bytes.subarray(0, end));
}

function octal(field: Uint8Array, what: string): number {
  // Base-256 sizes (the high bit set) are for entries of 8 GiB and more.
  if ((field[0] ?? 0) & 0x80)
    throw new PackageError("too-large", `${what} has an entry of 8 GiB or more`);
  const text = cString(field, latin1).trim();
  if (!/^[0-7]*$/.test(text))
    throw new PackageError("bad-package", `${what} is not a valid tar archive`);
  return text === "" ? 0 : Number.parseInt(text, 8);
}

/** The header's checksum: the sum of its bytes with the checksum field read as spaces. */
function checksumMatches(header: Uint8Array): boolean {
  const stored = Number.parseInt(cString(header.subarray(148, 156), latin1).trim(), 8);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : (header[i] as number);
  return stored === sum;
}

/** pax extended header records: `<length> <key>=<value>\n`, the length counting bytes. */
function paxRecords(data: Uint8Array): Map<string, string> {
  const records = new Map<string, string>();
  for (let at = 0; at < data.length; ) {
    const space = data.indexOf(0x20, at);
    if (space === -1) break;
    const length = Number(latin1.decode(data.subarray(at, space)));
    if (!Number.isInteger(length) || length <= space - at + 1 || at + length > data.length) break;
    const record = utf8.decode(data.subarray(space + 1, at + length - 1));
    const equals = record.indexOf("=");
    if (equals > 0) records.set(record.slice(0, equals), record.slice(equals + 1));
    at += length;
  }
  return records;
}
