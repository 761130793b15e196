export type LogLevel = "log" | "info" | "warn" | "error" | "debug";

/** A console entry as the execution result reports it. */
export interface LogEntry {
  level: LogLevel;
  message: string;
  truncated?: true;
}

const LEVELS = new Set<string>(["log", "info", "warn", "error", "debug"]);
const encoder = new TextEncoder();

/**
 * Receives console output from the guest while it runs and enforces the caps in bytes, so what
 * was logged before a timeout is kept and nothing past the cap is stored.
 */
export class LogSink {
  readonly #entries: LogEntry[] = [];
  readonly #maxLines: number;
  readonly #maxBytes: number;
  readonly #onEntry: ((entry: LogEntry) => void) | undefined;
  #bytes = 0;
  #dropped = 0;
  #guestDropped = 0;
  #closed = false;

  constructor(maxLines: number, maxBytes: number, onEntry?: (entry: LogEntry) => void) {
    this.#maxLines = maxLines;
    this.#maxBytes = maxBytes;
    this.#onEntry = onEntry;
  }

  /** Called by the guest harness with a batch of entries (JSON array items) and its drop count. */
  log(batch: string, dropped: number): void {
    if (this.#closed || typeof batch !== "string") return;
    let items: unknown;
    try {
      items = JSON.parse(`[${batch}]`);
    } catch {
      return;
    }
    this.#accept(items, dropped);
  }

  /** Takes the harness's last entries and returns every entry, with the truncation marker if any. */
  finish(items: unknown, dropped: number): LogEntry[] {
    if (!this.#closed) this.#accept(items, dropped);
    this.#closed = true;
    const more = this.#dropped + this.#guestDropped;
    if (more === 0) return this.#entries;
    return [
      ...this.#entries,
      {
        level: "warn",
        message: `log cap reached (${this.#maxLines} lines or ${this.#maxBytes} bytes): ${more} more lines truncated`,
        truncated: true,
      },
    ];
  }

  /** Stops accepting entries (the execution ended without the harness answering). */
  close(): LogEntry[] {
    return this.finish([], this.#guestDropped);
  }

  #accept(items: unknown, dropped: number): void {
    if (typeof dropped === "number" && dropped > this.#guestDropped) this.#guestDropped = dropped;
    if (!Array.isArray(items)) return;
    for (const item of items) {
      const { level, message } = (item ?? {}) as { level?: unknown; message?: unknown };
      if (typeof level !== "string" || !LEVELS.has(level) || typeof message !== "string") continue;
      if (this.#entries.length >= this.#maxLines || this.#bytes >= this.#maxBytes) {
        this.#dropped++;
        continue;
      }
      let text = message;
      let size = encoder.encode(text).byteLength;
      const room = this.#maxBytes - this.#bytes;
      if (size > room) {
        text = truncateToBytes(text, room);
        size = encoder.encode(text).byteLength;
      }
      const entry: LogEntry = { level: level as LogLevel, message: text };
      this.#entries.push(entry);
      this.#bytes += size;
      this.#onEntry?.(entry);
    }
  }
}

function truncateToBytes(text: string, bytes: number): string {
  const encoded = encoder.encode(text).subarray(0, bytes);
  return new TextDecoder().decode(encoded).replace(/\uFFFD$/, "");
}
