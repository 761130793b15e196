/** Byte-stream plumbing of the gateway: bounded reads, caps and secret scrubbing in flight. */
import { fromBinary, toBinary } from "../bytes";
import { SecretScrubber } from "../redact/scan";
import type { EgressAttempt, InFlight } from "./audit";
import {
  placementReason,
  requestCapReason,
  responseCapReason,
  undecodableReason,
  valueReason,
} from "./reasons";

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

/** How one direction of a stream is counted, scrubbed and, if need be, stopped. */
interface Flow {
  /** Counts bytes read; answers why to stop if they pass a cap. */
  count(bytes: Uint8Array): string | undefined;
  scrubber: SecretScrubber;
  /** Consulted after each scrub: why to stop, if what the scrubber found must not pass at all. */
  refuse?(found: ReadonlySet<number>): string | undefined;
  /** Lets held-back bytes go once the source pauses this long (sockets). */
  idleFlushMs?: number;
  /** Ends the stream as if the source had ended. */
  until?: AbortSignal;
}

/**
 * `source` as it flows on: counted, scrubbed, stopped with a TypeError when `count` or `refuse`
 * says so. A hand-written pull loop rather than a TransformStream: erroring a pipe's transform
 * leaves a rejected pipe promise behind that nobody can catch.
 */
function flow(source: ReadableStream, f: Flow): ReadableStream<Uint8Array> {
  const { scrubber } = f;
  const reader = source.getReader();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let open = true;
  const { until } = f;
  const ended =
    until &&
    new Promise<{ done: true; value?: undefined }>((resolve) => {
      if (until.aborted) resolve({ done: true });
      until.addEventListener("abort", () => resolve({ done: true }));
    });
  const stop = (controller: ReadableStreamDefaultController<Uint8Array>, reason: string) => {
    open = false;
    clearTimeout(timer);
    controller.error(new TypeError(reason));
    return reader.cancel().catch(() => {});
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        const { done, value } = await (ended
          ? Promise.race([reader.read(), ended])
          : reader.read());
        clearTimeout(timer);
        if (!open) return;
        if (done) {
          open = false;
          const rest = scrubber.flush();
          const refused = f.refuse?.(scrubber.found);
          if (refused !== undefined) return void (await stop(controller, refused));
          if (rest !== "") controller.enqueue(fromBinary(rest));
          controller.close();
          return;
        }
        const bytes = bytesOf(value);
        const over = f.count(bytes);
        if (over !== undefined) return void (await stop(controller, over));
        if (scrubber.idle) {
          controller.enqueue(bytes);
          return;
        }
        const out = scrubber.push(toBinary(bytes));
        const refused = f.refuse?.(scrubber.found);
        if (refused !== undefined) return void (await stop(controller, refused));
        if (f.idleFlushMs !== undefined && scrubber.holding) {
          timer = setTimeout(() => {
            if (!open) return;
            const rest = scrubber.flush();
            const late = f.refuse?.(scrubber.found);
            // A timer cannot wait for the cancel; stop() swallows its failure.
            if (late !== undefined) void stop(controller, late);
            else if (rest !== "") controller.enqueue(fromBinary(rest));
          }, f.idleFlushMs);
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
  socket?: { idleFlushMs: number; until: AbortSignal },
): ReadableStream<Uint8Array> {
  const cap = run.context.caps.responseBytes;
  return flow(source, {
    count(bytes) {
      run.responseBytes += bytes.length;
      entry.bytes = (entry.bytes ?? 0) + bytes.length;
      return run.responseBytes > cap ? responseCapReason(cap) : undefined;
    },
    scrubber: new SecretScrubber(run.context.secrets.map((s) => s.value)),
    ...socket,
  });
}

/**
 * What flows from the guest to upstream on a socket: counted against the request cap, and, for
 * a tenant with secrets, stopped when a secret's placeholder or value (in any spelling the
 * scrubber knows) is written, since no secret ever goes on a socket. Held back like `inbound`.
 * `onRefused` hears why, once, to audit it.
 */
export function outbound(
  source: ReadableStream,
  run: InFlight,
  onRefused: (reason: string) => void,
): ReadableStream<Uint8Array> {
  const cap = run.context.caps.requestBytes;
  const { secrets } = run.context;
  const watched = [...secrets.map((s) => s.value), ...secrets.map((s) => s.placeholder)];
  return flow(source, {
    count(bytes) {
      run.requestBytes += bytes.length;
      return run.requestBytes > cap ? requestCapReason(cap) : undefined;
    },
    scrubber: new SecretScrubber(watched),
    refuse(found) {
      for (const index of found) {
        const secret = secrets[index % secrets.length];
        if (secret === undefined) continue;
        const reason =
          index < secrets.length
            ? valueReason(secret.name, "socket", false)
            : placementReason(secret.name, "socket", secret.in);
        onRefused(reason);
        return reason;
      }
      return undefined;
    },
    idleFlushMs: SOCKET_IDLE_FLUSH_MS,
  });
}

/** How long held-back socket bytes wait for more before they go on anyway. */
export const SOCKET_IDLE_FLUSH_MS = 20;

const DECOMPRESSORS: Record<string, "gzip" | "deflate"> = {
  gzip: "gzip",
  "x-gzip": "gzip",
  deflate: "deflate",
};

/**
 * A body with its `Content-Encoding` undone (names compared case-insensitively, stacked ones in
 * reverse order), or why it cannot be: an encoding DecompressionStream does not speak.
 */
export function decodeBody(
  body: ReadableStream,
  contentEncoding: string | null,
): { body: ReadableStream } | { refused: string } {
  if (contentEncoding === null) return { body };
  const formats: ("gzip" | "deflate")[] = [];
  for (const coding of contentEncoding.split(",")) {
    const name = coding.trim().toLowerCase();
    if (name === "" || name === "identity") continue;
    const format = DECOMPRESSORS[name];
    if (format === undefined) return { refused: undecodableReason(contentEncoding.trim()) };
    formats.push(format);
  }
  let decoded = body;
  for (const format of formats.reverse()) {
    decoded = decoded.pipeThrough(new DecompressionStream(format));
  }
  return { body: decoded };
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
