/** One dispatched server-sent event. */
export interface SseMessage {
  /** The `event:` field, or `message` when the event named none. */
  event: string;
  /** The `data:` lines joined with `\n`. */
  data: string;
  /** The last event id seen so far, if any. */
  id?: string;
  /** A reconnection time the server asked for, in milliseconds. */
  retry?: number;
}

/**
 * Parses a `text/event-stream` body as the HTML Living Standard describes: lines end in CRLF, LF
 * or CR (also when split across chunks), `:` starts a comment, an event is dispatched at a blank
 * line, and an event the stream ends in the middle of is dropped. Stopping the iteration cancels
 * the body.
 */
export async function* parseSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseMessage> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let started = false;
  let event = "";
  let data: string[] = [];
  let lastId: string | undefined;
  let retry: number | undefined;
  let finished = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      if (!started && buffer.length > 0) {
        started = true;
        if (buffer.charCodeAt(0) === 0xfeff) buffer = buffer.slice(1);
      }
      let start = 0;
      for (;;) {
        const lf = buffer.indexOf("\n", start);
        const cr = buffer.indexOf("\r", start);
        const end = cr === -1 ? lf : lf === -1 ? cr : Math.min(cr, lf);
        if (end === -1) break;
        // A CR at the end of the buffer may be the first half of a CRLF still on its way.
        if (end === cr && end === buffer.length - 1 && !done) break;
        const line = buffer.slice(start, end);
        start = end + (end === cr && buffer[end + 1] === "\n" ? 2 : 1);
        if (line === "") {
          if (data.length > 0) {
            const message: SseMessage = { event: event || "message", data: data.join("\n") };
            if (lastId !== undefined) message.id = lastId;
            if (retry !== undefined) message.retry = retry;
            yield message;
          }
          event = "";
          data = [];
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon === -1 ? line : line.slice(0, colon);
        let fieldValue = colon === -1 ? "" : line.slice(colon + 1);
        if (fieldValue.startsWith(" ")) fieldValue = fieldValue.slice(1);
        if (field === "event") event = fieldValue;
        else if (field === "data") data.push(fieldValue);
        else if (field === "id" && !fieldValue.includes("\u0000")) lastId = fieldValue;
        else if (field === "retry" && /^\d+$/.test(fieldValue)) retry = Number(fieldValue);
      }
      buffer = buffer.slice(start);
      if (done) {
        finished = true;
        return;
      }
    }
  } finally {
    // Leaving early (a `break` in the consumer, an error) cancels the body, so the server sees
    // the client go away.
    if (!finished) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}
