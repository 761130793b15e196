// What an execution hands its guest: one RpcTarget made for the run, passed to the harness as an
// argument, through which the guest logs, learns of its cancellation and reaches the outside
// (fetch, connect) and calls its tools. The per-execution state (the log sink, the egress
// policy, secrets, caps and audit, the tool calls) travels with it, so nothing looks an execution up by
// its id. A runner process gives its guests the same shape (src/runner), forwarding over its
// socket to the control plane.
import { RpcTarget } from "cloudflare:workers";
import type { InFlight } from "../egress/audit";
import { serveConnect } from "../egress/connect";
import { handleEgress } from "../egress/gateway";
import { NO_TOOLS } from "../tools/registry";
import type { LogSink } from "./logs";

/** What a guest harness calls for its execution, wherever the isolate runs. */
export interface GuestCapabilities {
  /** Console entries (JSON array items, built by the harness) and how many it dropped so far. */
  log(batch: string, dropped: number): void;
  /** Resolves true if the run is cancelled (its client went away), false once it ended without. */
  waitCancel(): Promise<boolean>;
  /** An outbound request, decided, sent and audited by the egress gateway. */
  fetch(request: Request): Promise<Response>;
  /**
   * A socket through the egress gateway: the guest's bytes (its preamble line first) go in, and
   * the gateway's (its status line first) come back.
   */
  connect(fromGuest: ReadableStream<Uint8Array>): Promise<ReadableStream<Uint8Array>>;
  /**
   * A call of tool `name` in `namespace` with the JSON text of its argument: answers JSON text,
   * `{"r": result}` or `{"e": message}`.
   */
  callTool(namespace: string, name: string, args: string): Promise<string>;
}

/**
 * How a call waits for an answer that another request brings: woken by it, or looking for it
 * on timers of its own (a guest's RPC in this worker's own loader, see src/tools/calls.ts).
 */
export type AnswerWait = "woken" | "polled";

/** Where an execution's tool calls go (src/tools/calls.ts). */
export interface ToolDispatch {
  call(namespace: string, name: string, args: string, how?: AnswerWait): Promise<string>;
}

/** Tells a cancellable run that its client has gone away (or that it ended without that). */
export class Cancellation {
  #outcome: boolean | undefined;
  readonly #waiters: ((cancelled: boolean) => void)[] = [];

  /** Resolves true if the run is cancelled, false once it has ended without that. */
  wait(): Promise<boolean> {
    if (this.#outcome !== undefined) return Promise.resolve(this.#outcome);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Cancels the run: its harness stops it at once. */
  cancel(): void {
    this.#settle(true);
  }

  /** The run is over; nothing is waiting for a cancellation any more. */
  ended(): void {
    this.#settle(false);
  }

  #settle(cancelled: boolean): void {
    if (this.#outcome !== undefined) return;
    this.#outcome = cancelled;
    for (const resolve of this.#waiters.splice(0)) resolve(cancelled);
  }
}

/** One execution on the control plane while it runs. */
export class Execution {
  readonly id: string;
  /** Its console output, capped. */
  readonly logs: LogSink;
  /** Its egress: policy, secrets, caps and audit. */
  readonly egress: InFlight;
  readonly cancellation = new Cancellation();
  /** Its tools, if the request named any. */
  readonly tools: ToolDispatch | undefined;
  #capabilities: ExecutionCapabilities | undefined;

  constructor(id: string, logs: LogSink, egress: InFlight, tools?: ToolDispatch) {
    this.id = id;
    this.logs = logs;
    this.egress = egress;
    this.tools = tools;
  }

  /** What its guest is handed (made once). */
  get capabilities(): ExecutionCapabilities {
    this.#capabilities ??= new ExecutionCapabilities(this);
    return this.#capabilities;
  }
}

/**
 * The RpcTarget handed to the guest of one execution in this worker's own LOADER. Every public
 * method is callable from the guest, so it has only what the guest may call; the execution itself
 * stays out of reach. Its methods run in the execution's own request, which made it.
 */
export class ExecutionCapabilities extends RpcTarget implements GuestCapabilities {
  readonly #execution: Execution;

  constructor(execution: Execution) {
    super();
    this.#execution = execution;
  }

  log(batch: string, dropped: number): void {
    this.#execution.logs.log(batch, dropped);
  }

  waitCancel(): Promise<boolean> {
    return this.#execution.cancellation.wait();
  }

  fetch(request: Request): Promise<Response> {
    return handleEgress(this.#execution.egress, request);
  }

  callTool(namespace: string, name: string, args: string): Promise<string> {
    return (
      this.#execution.tools?.call(namespace, name, args, "polled") ?? Promise.resolve(NO_TOOLS)
    );
  }

  connect(fromGuest: ReadableStream<Uint8Array>): Promise<ReadableStream<Uint8Array>> {
    let toGuest: TransformStreamDefaultController<Uint8Array> | undefined;
    const back = new TransformStream<Uint8Array, Uint8Array>({
      start(controller) {
        toGuest = controller;
      },
    });
    const served = serveConnect(this.#execution.egress, {
      readable: fromGuest,
      writable: back.writable,
      async close() {
        try {
          // Ends what the guest reads, whatever still holds the writable side.
          toGuest?.terminate();
        } catch {}
      },
    });
    // The socket lives on after this call answers: it ends when either side closes it or with
    // the execution (whose end aborts its pipes), and serveConnect never rejects.
    void served;
    return Promise.resolve(back.readable);
  }
}
