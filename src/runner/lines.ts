const NEWLINE = 10;

/**
 * Splits a runner's NDJSON answer into lines as its chunks arrive. Each byte is looked at once:
 * a long line (an envelope with megabytes of output or workspace files) that arrives in many
 * chunks is kept as the chunks themselves and decoded once, when its newline comes. Rescanning
 * and re-slicing a growing string per chunk made a 4 MB line cost seconds.
 */
export class LineSplitter {
  readonly #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  readonly #decoder = new TextDecoder();
  /** Bytes looked at for a line end so far: each byte once (what the tests check). */
  scanned = 0;

  /** The lines this chunk completes, without their newlines. */
  push(chunk: Uint8Array): string[] {
    const lines: string[] = [];
    let start = 0;
    for (;;) {
      const end = chunk.indexOf(NEWLINE, start);
      this.scanned += (end === -1 ? chunk.length : end + 1) - start;
      if (end === -1) break;
      lines.push(this.#line(chunk.subarray(start, end)));
      start = end + 1;
    }
    if (start < chunk.length) {
      this.#pending.push(chunk.subarray(start));
      this.#pendingBytes += chunk.length - start;
    }
    return lines;
  }

  /** The pending pieces and `tail` as one line. A newline never splits a UTF-8 character. */
  #line(tail: Uint8Array): string {
    if (this.#pending.length === 0) return this.#decoder.decode(tail);
    const bytes = new Uint8Array(this.#pendingBytes + tail.length);
    let at = 0;
    for (const piece of this.#pending) {
      bytes.set(piece, at);
      at += piece.length;
    }
    bytes.set(tail, at);
    this.#pending.length = 0;
    this.#pendingBytes = 0;
    return this.#decoder.decode(bytes);
  }
}
