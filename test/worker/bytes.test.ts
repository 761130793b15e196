import { describe, expect, it } from "vitest";
import {
  fromBase64,
  fromBase64Url,
  fromBinary,
  sha256Hex,
  toBase64,
  toBase64Url,
  toBinary,
  toHex,
} from "../../src/bytes";

// Every byte value; and more bytes than String.fromCharCode takes as arguments in one call
// (compared by hash: a deep comparison of megabytes takes seconds).
const everyByte = Uint8Array.from({ length: 256 }, (_, i) => i);
const large = Uint8Array.from({ length: 3 * 1024 * 1024 + 7 }, (_, i) => (i * 31) & 0xff);

describe("bytes", () => {
  it("spells bytes in base64 as atob reads them, a few megabytes included", async () => {
    expect(toBase64(new Uint8Array([0xfb, 0xff, 0xfe]))).toBe("+//+");
    expect(toBase64(new TextEncoder().encode("hi"))).toBe("aGk=");
    expect(fromBase64(toBase64(everyByte))).toEqual(everyByte);
    expect(await sha256Hex(fromBase64(toBase64(large)))).toBe(await sha256Hex(large));
    expect(() => fromBase64("not base64!")).toThrow();
  });

  it("spells base64url unpadded with - and _, and reads it padded or not", () => {
    expect(toBase64Url(new Uint8Array([0xfb, 0xff, 0xfe, 0x68]))).toBe("-__-aA");
    expect(fromBase64Url("-__-aA")).toEqual(new Uint8Array([0xfb, 0xff, 0xfe, 0x68]));
    expect(fromBase64Url("-__-aA==")).toEqual(new Uint8Array([0xfb, 0xff, 0xfe, 0x68]));
    expect(fromBase64Url(toBase64Url(everyByte))).toEqual(everyByte);
  });

  it("keeps one char per byte in binary strings", async () => {
    expect(toBinary(everyByte).length).toBe(256);
    expect(toBinary(new Uint8Array([0, 0x41, 0xff]))).toBe("\u0000A\u00ff");
    expect(await sha256Hex(fromBinary(toBinary(large)))).toBe(await sha256Hex(large));
  });

  it("hashes text as its UTF-8 and bytes as they are, in lower-case hex", async () => {
    expect(toHex(new Uint8Array([0, 0x0f, 0xab]))).toBe("000fab");
    expect(await sha256Hex("abc")).toBe(
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
    expect(await sha256Hex("é")).toBe(await sha256Hex(new Uint8Array([0xc3, 0xa9])));
  });
});
