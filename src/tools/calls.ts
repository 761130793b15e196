// The control plane's side of one execution's tool calls: it numbers them, holds those waiting
// for the caller's answer, enforces the cap and the sizes, calls MCP servers, scrubs what passes
// in either direction and lists every call for the result. The guest reaches it through its
// capabilities (src/sandbox/capabilities.ts); the caller answers through the execution's
// registry entry (./registry.ts and POST /v1/executions/{id}/tool-calls/{callId}).
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { TOOL_LIMITS } from "../config";
import type { EgressSecret, InFlight } from "../egress/audit";
import { mapJsonStrings, scanText, scrubSecrets } from "../redact/scan";
import type { AnswerWait, ToolDispatch } from "../sandbox/capabilities";
import {
  isMcpNamespace,
  type ToolCallEventBody,
  type ToolsBody,
  type ToolUseBody,
} from "../schemas/tools";
import { callTool, connect, McpFailure } from "./mcp";

/** The caller's answer to a call: a result, or an error message for the code to throw. */
export type ToolAnswer = { result: unknown } | { error: { message: string } };

/** What answering a call came to. */
export type AnswerOutcome = "answered" | "unknown" | "already-answered";

export interface ToolCallsOptions {
  executionId: string;
  tenant: string;
  /** The session the execution runs in: that session's token may answer its calls too. */
  session?: string;
  tools: ToolsBody;
  /** Calls the execution may make (the tenant policy's `limits.toolCalls`, at most the server's). */
  cap: number;
  /** The tenant's secrets: their values never pass in either direction, and MCP headers name them. */
  secrets: readonly EgressSecret[];
  /** Told of each call the caller must answer (the event stream's `tool_call`). */
  onCall?: (event: ToolCallEventBody) => void;
  /** The execution's timeout: no call waits longer than that for its answer. */
  timeoutMs: number;
}

const encoder = new TextEncoder();

/** The longest a polled wait sleeps between looks at its answer. */
const POLL_MAX_MS = 20;

/** One execution's tool calls. */
export class ToolCalls implements ToolDispatch {
  readonly executionId: string;
  readonly tenant: string;
  readonly session: string | undefined;
  /** The namespaces' names: each one a binding of the code. */
  readonly namespaces: string[];
  readonly #tools: ToolsBody;
  readonly #cap: number;
  readonly #waitMs: number;
  readonly #secrets: readonly EgressSecret[];
  readonly #values: string[];
  readonly #onCall: ((event: ToolCallEventBody) => void) | undefined;
  readonly #pending = new Map<string, (answer: ToolAnswer) => void>();
  readonly #answered = new Set<string>();
  readonly #uses: ToolUseBody[] = [];
  readonly #clients = new Map<string, Promise<Client>>();
  #egress: InFlight | undefined;
  #calls = 0;
  #refused = 0;
  #closed = false;

  constructor(options: ToolCallsOptions) {
    this.executionId = options.executionId;
    this.tenant = options.tenant;
    this.session = options.session;
    this.#tools = options.tools;
    this.namespaces = Object.keys(options.tools);
    this.#cap = options.cap;
    this.#waitMs = options.timeoutMs;
    this.#secrets = options.secrets;
    this.#values = options.secrets.map((s) => s.value);
    this.#onCall = options.onCall;
  }

  /** The execution's egress, through which its MCP servers are called. */
  attach(egress: InFlight): void {
    this.#egress = egress;
  }

  /**
   * A call of the code: `args` is the JSON text of its argument. Answers JSON text, `{"r": value}`
   * or `{"e": message}`; never throws.
   */
  async call(
    namespace: string,
    name: string,
    args: string,
    how: AnswerWait = "woken",
  ): Promise<string> {
    const started = Date.now();
    if (this.#closed) return failed("the execution has ended");
    const tools = Object.hasOwn(this.#tools, namespace) ? this.#tools[namespace] : undefined;
    if (typeof namespace !== "string" || typeof name !== "string" || tools === undefined) {
      return failed(`no tool namespace ${String(namespace)}`);
    }
    if (this.#calls >= this.#cap) {
      this.#refused++;
      return failed(`tool call cap reached: an execution may make at most ${this.#cap} tool calls`);
    }
    this.#calls++;
    const use: ToolUseBody = { namespace, name, ok: false, ms: 0 };
    this.#uses.push(use);
    const answer = await this.#dispatch(tools, namespace, name, args, how);
    use.ok = "result" in answer;
    use.ms = Date.now() - started;
    return this.#encode(answer);
  }

  async #dispatch(
    tools: ToolsBody[string],
    namespace: string,
    name: string,
    args: string,
    how: AnswerWait,
  ): Promise<ToolAnswer> {
    if (typeof args !== "string" || encoder.encode(args).byteLength > TOOL_LIMITS.argsBytes) {
      return {
        error: { message: `tool arguments are larger than ${TOOL_LIMITS.argsBytes} bytes` },
      };
    }
    let value: unknown;
    try {
      value = JSON.parse(args);
    } catch {
      return { error: { message: "tool arguments must be JSON" } };
    }
    const clean = this.#scrub(value);
    if (isMcpNamespace(tools)) return this.#callMcp(namespace, tools.mcp, name, clean);
    if (!Object.hasOwn(tools, name)) {
      return { error: { message: `no tool ${name} in namespace ${namespace}` } };
    }
    if (!this.#onCall) {
      return { error: { message: "callback tools need the event stream" } };
    }
    const callId = `call_${crypto.randomUUID()}`;
    const box: { answer?: ToolAnswer } = {};
    const deadline = Date.now() + this.#waitMs;
    let wake: (() => void) | undefined;
    this.#pending.set(callId, (answer) => {
      box.answer = answer;
      wake?.();
    });
    this.#onCall({ executionId: this.executionId, callId, namespace, name, args: clean });
    if (how === "woken") {
      // The answer comes on another request, which wakes this one. A timer of this one keeps
      // the runtime from taking it for hung, and ends the wait if the execution outlives it.
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        wake = resolve;
        if (box.answer !== undefined) resolve();
        else timer = setTimeout(resolve, this.#waitMs);
      });
      clearTimeout(timer);
    } else {
      // A guest's RPC in this worker's own loader runs in a context that another request may not
      // settle a promise of (its continuation would run in the answering request, which cannot
      // answer the RPC): it looks for the answer on timers of its own, soon at first.
      for (let wait = 1; box.answer === undefined && Date.now() < deadline; ) {
        await new Promise((resolve) => setTimeout(resolve, wait));
        wait = Math.min(wait * 2, POLL_MAX_MS);
      }
    }
    this.#pending.delete(callId);
    return box.answer ?? { error: { message: "the tool call was not answered in time" } };
  }

  async #callMcp(
    namespace: string,
    server: Extract<ToolsBody[string], { mcp: unknown }>["mcp"],
    name: string,
    args: unknown,
  ): Promise<ToolAnswer> {
    const egress = this.#egress;
    if (!egress) return { error: { message: "MCP servers are not reachable from here" } };
    let client = this.#clients.get(namespace);
    if (!client) {
      client = connect(server, egress, this.#secrets);
      this.#clients.set(namespace, client);
      // Whoever awaits it sees the failure; a failed connection is tried again by the next call.
      client.catch(() => this.#clients.delete(namespace));
    }
    try {
      const answer = await callTool(await client, name, args);
      return answer.ok ? { result: answer.value } : { error: { message: answer.message } };
    } catch (err) {
      const message =
        err instanceof McpFailure ? err.message : "the MCP server could not be reached";
      return { error: { message } };
    }
  }

  /** The caller's answer to `callId`. */
  answer(callId: string, answer: ToolAnswer): AnswerOutcome {
    const resolve = this.#pending.get(callId);
    if (resolve) {
      this.#pending.delete(callId);
      this.#answered.add(callId);
      resolve(answer);
      return "answered";
    }
    return this.#answered.has(callId) ? "already-answered" : "unknown";
  }

  /**
   * Ends the execution's calls: one still waiting gets no answer (its run has ended), MCP
   * sessions close. Answers the calls made, and one entry for those refused past the cap.
   */
  close(): ToolUseBody[] {
    if (!this.#closed) {
      this.#closed = true;
      for (const resolve of this.#pending.values()) {
        resolve({ error: { message: "the execution has ended" } });
      }
      this.#pending.clear();
      for (const client of this.#clients.values()) {
        // Closing tells the server the session is over; nothing waits for it.
        void client.then((c) => c.close()).catch(() => {});
      }
    }
    const uses = this.#uses.map((use) => ({ ...use }));
    if (this.#refused > 0) {
      uses.push({ namespace: "*", name: "*", ok: false, ms: 0 });
    }
    return uses;
  }

  /** Calls refused past the cap (an incident of the execution). */
  get refused(): number {
    return this.#refused;
  }

  /** A value with the tenant's secret values and credential-shaped strings replaced. */
  #scrub(value: unknown): unknown {
    return mapJsonStrings(
      value,
      (text) =>
        scanText(this.#values.length > 0 ? scrubSecrets(text, this.#values) : text, "logs").text,
    );
  }

  #encode(answer: ToolAnswer): string {
    if ("error" in answer) return failed(this.#scrub(answer.error.message) as string);
    const text = JSON.stringify({ r: this.#scrub(answer.result) ?? null });
    if (encoder.encode(text).byteLength > TOOL_LIMITS.answerBytes + 8) {
      return failed(`the tool's result is larger than ${TOOL_LIMITS.answerBytes} bytes`);
    }
    return text;
  }
}

function failed(message: string): string {
  return JSON.stringify({ e: message });
}
