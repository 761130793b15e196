import { RpcTarget, WorkerEntrypoint } from "cloudflare:workers";
import type { Env } from "../env";
import { failure } from "../sandbox/backends/backend";
import { Cancellation, type GuestCapabilities } from "../sandbox/capabilities";
import { runGuest } from "../sandbox/guest";
import {
  EGRESS_HEADERS,
  fitsHeader,
  HEARTBEAT_MS,
  JOB_HEADER,
  OUTCOME_HEADER,
  type RunLine,
  type RunRequest,
  TOOL_CALL_PATH,
} from "./protocol";

/** Bindings of a runner process (see host/config.mjs). */
type RunnerEnv = Pick<Env, "LOADER" | "CONTROL" | "CORDON_WARM_ISOLATES">;

/** Who a request to the control plane's egress ingress is for. */
interface EgressProps {
  /** The execution and the token that proves the runner was given it; empty on a bypass. */
  executionId: string;
  egressToken: string;
  /** Set on an isolate's global outbound (no execution): lets the gateway audit bypasses. */
  isolate?: string;
}

/** A request of a guest, forwarded to the control plane's gateway. */
function forwardFetch(control: Fetcher, request: Request, props: EgressProps): Promise<Response> {
  const headers = new Headers(request.headers);
  headers.set(EGRESS_HEADERS.execution, props.executionId);
  headers.set(EGRESS_HEADERS.token, props.egressToken);
  headers.set(EGRESS_HEADERS.target, request.url);
  if (props.isolate) headers.set(EGRESS_HEADERS.isolate, props.isolate);
  return control.fetch("http://control/egress", {
    method: request.method,
    headers,
    body: request.body,
    redirect: "manual",
  });
}

/**
 * A socket to the control plane's egress socket (HTTP CONNECT), its first line naming the
 * execution and proving it with the egress token (src/egress/connect.ts); `address` is what the
 * guest asked for, for the audit of a bypass.
 */
async function openTunnel(control: Fetcher, props: EgressProps, address: string): Promise<Socket> {
  const tunnel = control.connect("egress.cordon:1");
  const { executionId, egressToken, isolate } = props;
  const preamble = { e: executionId, t: egressToken, i: isolate ?? "", a: address };
  const writer = tunnel.writable.getWriter();
  try {
    await writer.write(encoder.encode(`${JSON.stringify(preamble)}\n`));
  } finally {
    writer.releaseLock();
  }
  return tunnel;
}

function controlOf(env: RunnerEnv): Fetcher {
  if (!env.CONTROL) throw new Error("runner has no CONTROL binding");
  return env.CONTROL;
}

/**
 * The global outbound of a guest isolate on a runner: what reaches it went around the harness's
 * fetch() and connect(), and is forwarded to the control plane to be denied and audited there.
 */
export class RunnerEgress extends WorkerEntrypoint<RunnerEnv, EgressProps> {
  override fetch(request: Request): Promise<Response> {
    return forwardFetch(controlOf(this.env), request, this.ctx.props);
  }

  override async connect(socket: Socket): Promise<void> {
    const control = controlOf(this.env);
    const { localAddress } = await socket.opened;
    const tunnel = await openTunnel(control, this.ctx.props, localAddress ?? "");
    try {
      await Promise.allSettled([
        socket.readable.pipeTo(tunnel.writable),
        tunnel.readable.pipeTo(socket.writable),
      ]);
    } finally {
      await tunnel.close().catch(() => {});
      await socket.close().catch(() => {});
    }
  }
}

/**
 * What a guest on a runner is handed for its execution: the same calls as on the control plane
 * (src/sandbox/capabilities.ts), over this runner's hop to the control plane. Console output and
 * heartbeats go back in the run's answer stream; requests, sockets and tool calls go to the
 * control plane's egress ingress with the execution's id and egress token.
 */
class RunnerCapabilities extends RpcTarget implements GuestCapabilities {
  readonly #write: (line: RunLine) => void;
  readonly #env: RunnerEnv;
  readonly #props: EgressProps;
  readonly #cancellation: Cancellation;

  constructor(
    write: (line: RunLine) => void,
    env: RunnerEnv,
    props: EgressProps,
    cancellation: Cancellation,
  ) {
    super();
    this.#write = write;
    this.#env = env;
    this.#props = props;
    this.#cancellation = cancellation;
  }

  log(batch: string, dropped: number): void {
    this.#write({ l: batch, d: dropped });
  }

  waitCancel(): Promise<boolean> {
    return this.#cancellation.wait();
  }

  fetch(request: Request): Promise<Response> {
    return forwardFetch(controlOf(this.#env), request, this.#props);
  }

  async callTool(namespace: string, name: string, args: string): Promise<string> {
    const answer = await controlOf(this.#env).fetch(`http://control${TOOL_CALL_PATH}`, {
      method: "POST",
      headers: {
        [EGRESS_HEADERS.execution]: this.#props.executionId,
        [EGRESS_HEADERS.token]: this.#props.egressToken,
      },
      body: JSON.stringify({ n: namespace, t: name, a: args }),
    });
    return answer.text();
  }

  async connect(fromGuest: ReadableStream<Uint8Array>): Promise<ReadableStream<Uint8Array>> {
    const tunnel = await openTunnel(controlOf(this.#env), this.#props, "");
    // The guest's bytes flow on after this call answers, until either side ends the socket.
    void fromGuest.pipeTo(tunnel.writable).catch(() => {});
    return tunnel.readable;
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
  const cancellation = new Cancellation();
  const write = (line: Final) => {
    if (closed) return;
    // Writes are queued in order by the stream; a failed write means the caller went away,
    // which cancels a cancellable run.
    open()
      .write(encoder.encode(lineText(line)))
      .catch(() => {
        closed = true;
        cancellation.cancel();
      });
  };
  if (job.limits.cancellable) open();
  const maxWarm = Number(env.CORDON_WARM_ISOLATES ?? 64);
  const capabilities = new RunnerCapabilities(
    write,
    env,
    { executionId, egressToken },
    cancellation,
  );

  const running = runGuest(env.LOADER, maxWarm, job, capabilities, () =>
    ctx.exports.RunnerEgress({ props: { executionId: "", egressToken: "", isolate: job.hash } }),
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
      cancellation.ended();
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
