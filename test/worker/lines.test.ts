import { describe, expect, it } from "vitest";
import { LineSplitter } from "../../src/runner/lines";

const encoder = new TextEncoder();

/** Feeds `text` to a splitter in chunks of `size` bytes; returns the lines and the bytes scanned. */
function split(text: string, size: number) {
  const bytes = encoder.encode(text);
  const splitter = new LineSplitter();
  const lines: string[] = [];
  for (let at = 0; at < bytes.length; at += size) {
    lines.push(...splitter.push(bytes.subarray(at, at + size)));
  }
  return { lines, scanned: splitter.scanned };
}

describe("reading a runner's answer line by line", () => {
  it("scans each byte of a 4 MB line once, however small the chunks it arrives in", () => {
    const line = JSON.stringify({ f: "x".repeat(4 * 1024 * 1024), n: "Error" });
    const text = `{"l":"[]","d":0}\n${line}\n`;
    const { lines, scanned } = split(text, 16 * 1024);
    expect(lines).toEqual(['{"l":"[]","d":0}', line]);
    expect(scanned).toBeLessThanOrEqual(2 * text.length);
  });

  it("splits lines across chunk boundaries and keeps multi-byte characters whole", () => {
    const text = `{"l":"é€😀"}\n{"k":1}\n{"e":{"result":"ü"}}\n`;
    for (const size of [1, 2, 3, 5, 7, text.length]) {
      expect(split(text, size).lines).toEqual(['{"l":"é€😀"}', '{"k":1}', '{"e":{"result":"ü"}}']);
    }
  });

  it("holds back a last line that has no newline yet", () => {
    const splitter = new LineSplitter();
    expect(splitter.push(encoder.encode('{"k":1}\n{"t"'))).toEqual(['{"k":1}']);
    expect(splitter.push(encoder.encode(":1}\n"))).toEqual(['{"t":1}']);
  });
});
