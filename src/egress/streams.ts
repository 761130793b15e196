/** Byte-stream plumbing of the gateway: bounded reads, caps and secret scrubbing in flight. */
import { SecretScrubber } from "../redact/scan";
import type { EgressAttempt, InFlight } from "./audit";
import { requestCapReason, responseCapReason } from "./reasons";
import { binaryScrubValues, fromBinary, toBinary } from "./secrets";

function bytesOf(chunk: unknown): Uint8Array {
  if (chunk instanceof Uint8Array) return chunk;
  if (ArrayBuffer.isView(chunk)) {
    return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  }
  if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk);
  throw new TypeError("a stream chunk is not bytes");
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Reads a whole body, or stops and answers "over" as soon as it passes `limit` bytes. */
export async function readBounded(
  stream: ReadableStream,
  limit: number,
): Promise<Uint8Array | "over"> {
  const reader = stream.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return concat(parts, total);
    const bytes = bytesOf(value);
    total += bytes.length;
    if (total > limit) {
      await reader.cancel().catch(() => {});
      return "over";
    }
    parts.push(bytes);
  }
}

/**
 * What flows from upstream to the guest: counted against the execution's response cap (the
 * stream errors past it), with every secret value of the tenant scrubbed out. `idleFlushMs`
 * (sockets only) lets held-back bytes go once upstream pauses, since an interactive protocol
 * may wait for them; HTTP bodies end, so they hold back until the end.
 */
export function inbound(
  source: ReadableStream,
  run: InFlight,
  entry: EgressAttempt,
  idleFlushMs?: number,
): ReadableStream<Uint8Array> {
  const cap = run.context.caps.responseBytes;
  const scrubber = new SecretScrubber(binaryScrubValues(run.context.secrets.map((s) => s.value)));
  const reader = source.getReader();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let open = true;
  // A hand-written pull loop rather than a TransformStream: erroring a pipe's transform leaves
  // a rejected pipe promise behind that nobody can catch.
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        const { done, value } = await reader.read();
        clearTimeout(timer);
        if (done) {
          open = false;
          const rest = scrubber.flush();
          if (rest !== "") controller.enqueue(fromBinary(rest));
          controller.close();
          return;
        }
        const bytes = bytesOf(value);
        run.responseBytes += bytes.length;
        entry.bytes = (entry.bytes ?? 0) + bytes.length;
        if (run.responseBytes > cap) {
          open = false;
          controller.error(new TypeError(responseCapReason(cap)));
          await reader.cancel().catch(() => {});
          return;
        }
        if (scrubber.idle) {
          controller.enqueue(bytes);
          return;
        }
        const out = scrubber.push(toBinary(bytes));
        if (idleFlushMs !== undefined && scrubber.holding) {
          timer = setTimeout(() => {
            const rest = open ? scrubber.flush() : "";
            if (rest !== "") controller.enqueue(fromBinary(rest));
          }, idleFlushMs);
        }
        if (out !== "") {
          controller.enqueue(fromBinary(out));
          return;
        }
      }
    },
    cancel(reason) {
      open = false;
      clearTimeout(timer);
      return reader.cancel(reason);
    },
  });
}

/** What flows from the guest to upstream on a socket: counted against the request cap. */
export function outbound(source: ReadableStream, run: InFlight): ReadableStream<Uint8Array> {
  const cap = run.context.caps.requestBytes;
  const reader = source.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) {
        controller.close();
        return;
      }
      const bytes = bytesOf(value);
      run.requestBytes += bytes.length;
      if (run.requestBytes > cap) {
        controller.error(new TypeError(requestCapReason(cap)));
        await reader.cancel().catch(() => {});
        return;
      }
      controller.enqueue(bytes);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

/**
 * Reads newline-terminated preamble lines off a socket, then hands over the rest of the stream,
 * bytes already read included.
 */
export class LineReader {
  readonly #reader: ReadableStreamDefaultReader;
  #buffered: Uint8Array = new Uint8Array(0);

  constructor(stream: ReadableStream) {
    this.#reader = stream.getReader();
  }

  /** The next line, or null if the stream ends or the line is longer than `max` bytes first. */
  async line(max: number): Promise<string | null> {
    for (;;) {
      const newline = this.#buffered.indexOf(10);
      if (newline !== -1) {
        const line = this.#buffered.subarray(0, newline);
        this.#buffered = this.#buffered.subarray(newline + 1);
        return new TextDecoder().decode(line);
      }
      if (this.#buffered.length > max) return null;
      const { done, value } = await this.#reader.read();
      if (done) return null;
      const bytes = bytesOf(value);
      this.#buffered = concat([this.#buffered, bytes], this.#buffered.length + bytes.length);
    }
  }

  /** Everything after the lines read so far. */
  rest(): ReadableStream<Uint8Array> {
    const reader = this.#reader;
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        if (this.#buffered.length > 0) {
          controller.enqueue(this.#buffered);
          this.#buffered = new Uint8Array(0);
          return;
        }
        const { done, value } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(bytesOf(value));
      },
      cancel: (reason) => reader.cancel(reason),
    });
  }

  cancel(): void {
    this.#reader.cancel().catch(() => {});
  }
}
