import { asProblem, problemBody } from "../api/problem";
import type { AppContext } from "../env";
import type { EgressAttemptBody } from "../schemas/execution";
import type { ToolCallEventBody } from "../schemas/tools";
import type { AdmittedRun } from "./admit";

/** How often a streamed execution checks that its client is still there. */
const KEEPALIVE_MS = 1_000;
/** How long a streamed egress attempt may wait to be written (see `respond`). */
const EGRESS_RELAY_MS = 20;

const encoder = new TextEncoder();

/**
 * Runs an admitted execution and answers it as JSON, or, with `Accept: text/event-stream`, as
 * server-sent events: `log`, `egress` and `tool_call` while the code runs, then `result` (the JSON answer's
 * object), or `error` with a problem. A client that goes away cancels the execution.
 */
export async function respond(c: AppContext, run: AdmittedRun): Promise<Response> {
  if (!wantsEventStream(c.req.header("accept"))) return c.json(await run({}), 200);
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  const writer = writable.getWriter();
  const cancel = new AbortController();
  const write = (text: string) => {
    if (cancel.signal.aborted) return;
    // A write fails once the client has disconnected: that cancels the run.
    writer.write(encoder.encode(text)).catch(() => cancel.abort());
  };
  const send = (event: string, data: unknown) =>
    write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  const keepalive = setInterval(() => write(": keepalive\n\n"), KEEPALIVE_MS);
  // In-process, the gateway records an attempt in a request context of its own, and a stream
  // can only be written from the request that made it (from another, the write never settles
  // and the stream never ends): attempts wait here for this request's own timer, or its next log.
  const attempts: EgressAttemptBody[] = [];
  const sendAttempts = () => {
    for (let a = attempts.shift(); a !== undefined; a = attempts.shift()) send("egress", a);
  };
  const relay = setInterval(sendAttempts, EGRESS_RELAY_MS);
  // A tool call arrives in the request of the guest's capability (or of its runner's hop), and
  // its caller waits for it: it wakes this request at once, whose own continuation writes it.
  const toolCalls: ToolCallEventBody[] = [];
  let wake: (() => void) | undefined;
  let ended = false;
  const relayToolCalls = async () => {
    while (!ended) {
      await new Promise<void>((resolve) => {
        wake = resolve;
        if (toolCalls.length > 0 || ended) resolve();
      });
      wake = undefined;
      sendAttempts();
      for (let call = toolCalls.shift(); call !== undefined; call = toolCalls.shift()) {
        send("tool_call", call);
      }
    }
  };
  const relaying = relayToolCalls();
  const streaming = run({
    onToolCall: (call) => {
      toolCalls.push(call);
      wake?.();
    },
    onLog: (entry) => {
      sendAttempts();
      send("log", entry);
    },
    onEgress: (attempt) => attempts.push(attempt),
    signal: cancel.signal,
  })
    .then(
      (result) => {
        sendAttempts();
        send("result", result);
      },
      (err: unknown) => {
        sendAttempts();
        send("error", problemBody(asProblem(err), new URL(c.req.url).pathname));
      },
    )
    .finally(async () => {
      // Calls still unsent have ended with the run: the result lists them.
      ended = true;
      toolCalls.length = 0;
      wake?.();
      await relaying;
      clearInterval(relay);
      clearInterval(keepalive);
      // Whatever happened to the run, the client's stream ends.
      await writer.close().catch(() => {});
    });
  c.executionCtx.waitUntil(streaming);
  return new Response(readable, {
    headers: {
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
      "x-accel-buffering": "no",
    },
  });
}

/** True if the client asked for server-sent events. */
export function wantsEventStream(accept: string | undefined): boolean {
  return /(^|,)\s*text\/event-stream\s*(;|,|$)/i.test(accept ?? "");
}
