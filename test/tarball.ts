// Writes npm-style tarballs (gzip of ustar) for the registry fixture and the tar reader's tests.
// Only web APIs, so both Node.js and the Workers runtime can use it.

/** One entry of a tar archive; `type` defaults to a regular file ("0"). */
export interface TarEntry {
  name: string;
  data?: Uint8Array | string;
  type?: string;
}

const encoder = new TextEncoder();

function header(name: string, size: number, type: string): Uint8Array {
  const block = new Uint8Array(512);
  const put = (text: string, at: number, length: number) => {
    block.set(encoder.encode(text).subarray(0, length), at);
  };
  const octal = (n: number, length: number) => `${n.toString(8).padStart(length - 1, "0")}\0`;
  put(name, 0, 100);
  put(octal(0o644, 8), 100, 8);
  put(octal(0, 8), 108, 8);
  put(octal(0, 8), 116, 8);
  put(octal(size, 12), 124, 12);
  put(octal(0, 12), 136, 12);
  put("        ", 148, 8);
  put(type, 156, 1);
  put("ustar\u000000", 257, 8);
  let sum = 0;
  for (const byte of block) sum += byte;
  put(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8);
  return block;
}

/** A tar archive of `entries`, names as given (npm's are `package/…`). */
export function tar(entries: TarEntry[]): Uint8Array<ArrayBuffer> {
  const parts: Uint8Array[] = [];
  for (const entry of entries) {
    const data =
      typeof entry.data === "string"
        ? encoder.encode(entry.data)
        : (entry.data ?? new Uint8Array());
    parts.push(header(entry.name, data.byteLength, entry.type ?? "0"));
    parts.push(data);
    parts.push(new Uint8Array((512 - (data.byteLength % 512)) % 512));
  }
  parts.push(new Uint8Array(1024));
  const out = new Uint8Array(parts.reduce((n, part) => n + part.byteLength, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}

/** A pax extended header entry setting the next entry's path. */
export function paxPath(path: string): TarEntry {
  const record = (length: number) => `${length} path=${path}\n`;
  let length = encoder.encode(record(0)).byteLength;
  while (encoder.encode(record(length)).byteLength !== length) length++;
  return { name: "PaxHeader", type: "x", data: record(length) };
}

export async function gzip(bytes: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** The SRI string npm puts in `dist.integrity`. */
export async function integrityOf(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-512", bytes));
  let binary = "";
  for (const byte of digest) binary += String.fromCharCode(byte);
  return `sha512-${btoa(binary)}`;
}
