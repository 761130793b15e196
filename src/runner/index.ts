import { WorkerEntrypoint } from "cloudflare:workers";
import type { Env } from "../env";
import { failure } from "../sandbox/backend";
import { LogReceiver, runGuest } from "../sandbox/guest";
import {
  EGRESS_HEADERS,
  fitsHeader,
  HEARTBEAT_MS,
  JOB_HEADER,
  OUTCOME_HEADER,
  type RunLine,
  type RunRequest,
} from "./protocol";

/** Bindings of a runner process (see host/config.mjs). */
type RunnerEnv = Pick<Env, "LOADER" | "CONTROL" | "CORDON_WARM_ISOLATES">;

interface EgressProps {
  executionId: string;
  egressToken: string;
  /** Set on an isolate's global outbound (no execution): lets the gateway audit bypasses. */
  isolate?: string;
}

/** A guest's way out from a runner: every request is forwarded to the control plane's gateway. */
export class RunnerEgress extends WorkerEntrypoint<RunnerEnv, EgressProps> {
  override async fetch(request: Request): Promise<Response> {
    const headers = new Headers(request.headers);
    headers.set(EGRESS_HEADERS.execution, this.ctx.props.executionId);
    headers.set(EGRESS_HEADERS.token, this.ctx.props.egressToken);
    headers.set(EGRESS_HEADERS.target, request.url);
    if (this.ctx.props.isolate) headers.set(EGRESS_HEADERS.isolate, this.ctx.props.isolate);
    if (!this.env.CONTROL) throw new Error("runner has no CONTROL binding");
    return this.env.CONTROL.fetch("http://control/egress", {
      method: request.method,
      headers,
      body: request.body,
      redirect: "manual",
    });
  }

  /**
   * A guest socket: tunnelled to the control plane's egress socket (HTTP CONNECT), prefixed by
   * one line that names the execution and proves it with the egress token (src/egress/connect.ts).
   */
  override async connect(socket: Socket): Promise<void> {
    if (!this.env.CONTROL) throw new Error("runner has no CONTROL binding");
    const { localAddress } = await socket.opened;
    const control = this.env.CONTROL.connect("egress.cordon:1");
    try {
      const { executionId, egressToken, isolate } = this.ctx.props;
      const preamble = { e: executionId, t: egressToken, i: isolate ?? "", a: localAddress ?? "" };
      const writer = control.writable.getWriter();
      await writer.write(encoder.encode(`${JSON.stringify(preamble)}\n`));
      writer.releaseLock();
      await Promise.allSettled([
        socket.readable.pipeTo(control.writable),
        control.readable.pipeTo(socket.writable),
      ]);
    } finally {
      await control.close().catch(() => {});
      await socket.close().catch(() => {});
    }
  }
}

class StreamSink extends LogReceiver {
  readonly #write: (line: RunLine) => void;
  constructor(write: (line: RunLine) => void) {
    super();
    this.#write = write;
  }
  log(batch: string, dropped: number): void {
    this.#write({ l: batch, d: dropped });
  }
}

const encoder = new TextEncoder();
const NDJSON = { "content-type": "application/x-ndjson" };

/** A line to send; the harness's envelope is JSON already and goes into its line as it is. */
type Final = RunLine | { envelope: string };

function lineText(line: Final): string {
  return "envelope" in line ? `{"e":${line.envelope}}\n` : `${JSON.stringify(line)}\n`;
}

/**
 * The answer of a run that had nothing to stream: its outcome line, in the `cordon-outcome`
 * header when it is short printable ASCII (most runs; reading a body cost the control plane
 * about a sixth of its time per warm run), else as the body.
 */
function oneAnswer(line: string): Response {
  const outcome = line.slice(0, -1);
  if (fitsHeader(outcome)) return new Response(null, { headers: { [OUTCOME_HEADER]: outcome } });
  return new Response(line, { headers: NDJSON });
}

/** The runner role: `POST /run` runs one job and streams its output; `GET /healthz` answers. */
export async function runnerFetch(
  request: Request,
  env: RunnerEnv,
  ctx: ExecutionContext,
): Promise<Response> {
  const { pathname } = new URL(request.url);
  if (pathname === "/healthz") return Response.json({ ok: true, role: "runner" });
  if (pathname !== "/run" || request.method !== "POST") return new Response(null, { status: 404 });

  const { job, executionId, egressToken } = JSON.parse(
    request.headers.get(JOB_HEADER) ?? (await request.text()),
  ) as RunRequest;
  // The answer streams only once there is something to stream (console output, heartbeats);
  // a run that finishes first is answered in one piece, which is most runs and much cheaper.
  let respond: (response: Response) => void = () => {};
  const answer = new Promise<Response>((resolve) => {
    respond = resolve;
  });
  let writer: WritableStreamDefaultWriter<Uint8Array> | undefined;
  const open = () => {
    if (!writer) {
      const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
      writer = writable.getWriter();
      respond(new Response(readable, { headers: NDJSON }));
    }
    return writer;
  };
  let closed = false;
  const write = (line: Final) => {
    if (closed) return;
    // Writes are queued in order by the stream; a failed write means the caller went away,
    // which cancels a cancellable run.
    open()
      .write(encoder.encode(lineText(line)))
      .catch(() => {
        closed = true;
        sink.cancel();
      });
  };
  const sink = new StreamSink(write);
  if (job.limits.cancellable) open();
  const egress = (props: EgressProps) => ctx.exports.RunnerEgress({ props });
  const maxWarm = Number(env.CORDON_WARM_ISOLATES ?? 64);

  const running = runGuest(
    env.LOADER,
    maxWarm,
    job,
    egress({ executionId, egressToken }),
    () => egress({ executionId: "", egressToken: "", isolate: job.hash }),
    sink,
  ).then(
    (json): Final => ({ envelope: json }),
    (err: unknown): Final => {
      const outcome = failure(err);
      if (outcome.kind === "timeout") return { t: 1 };
      return outcome.kind === "failed" ? { f: outcome.message, n: outcome.name } : { t: 1 };
    },
  );
  const deadline = Date.now() + job.limits.timeoutMs;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const ended = new Promise<Final>((resolve) => {
    // One timer per run for two jobs. Every run that lasts streams a heartbeat: without output,
    // only a periodic write finds out that the caller went away, and the control plane tells a
    // frozen runner from a live one by it (a runner silent since before a run arrived was frozen
    // by another run). And a run still waiting at its deadline is answered `{t: 1}`.
    const tick = () => {
      const left = deadline - Date.now();
      if (left <= 0) return resolve({ t: 1 });
      write({ k: 1 });
      timer = setTimeout(tick, Math.min(HEARTBEAT_MS, left));
    };
    timer = setTimeout(tick, Math.min(HEARTBEAT_MS, job.limits.timeoutMs));
    void running.then(resolve);
  });
  ctx.waitUntil(
    ended.then(async (line) => {
      clearTimeout(timer);
      sink.ended();
      if (!writer) {
        closed = true;
        respond(oneAnswer(lineText(line)));
        return;
      }
      write(line);
      closed = true;
      await writer.close().catch(() => {});
    }),
  );
  return answer;
}
