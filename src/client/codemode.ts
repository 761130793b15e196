/**
 * `CordonExecutor`: an executor for `@cloudflare/codemode` (its `Executor` interface) that runs the
 * model's code in Cordon, its tools answered here by the functions codemode hands over.
 *
 * ```ts
 * import { createBrowserCodeTool } from "@cloudflare/codemode/browser";
 * const executor = new CordonExecutor(new Cordon({ url, apiKey }));
 * const codeTool = createBrowserCodeTool({ tools, executor });
 * ```
 *
 * The interface is restated here (structurally), so the client needs no codemode at runtime.
 */
import type { Cordon, ExecuteRequest, Tools } from "./index.js";

type ToolFunction = (...args: unknown[]) => Promise<unknown>;

/** A namespace of functions, as codemode resolves its tool providers. */
export interface ResolvedProvider {
  name: string;
  fns: Record<string, ToolFunction>;
  /** Sandbox-side JavaScript run on the namespace first: not supported (namespaces are frozen). */
  prelude?: string;
}

/** What codemode expects of a run: never a thrown error, the error's text instead. */
export interface ExecuteResult {
  result: unknown;
  error?: string;
  logs?: string[];
}

export interface CordonExecutorOptions {
  /** The execution's timeout, in milliseconds (Cordon's default when left out). */
  timeoutMs?: number;
  /** Anything else of the execution request (egress allow list, MCP-server namespaces). */
  request?: Omit<ExecuteRequest, "code" | "tools" | "timeoutMs">;
}

/** The default namespace of codemode's tools. */
const DEFAULT_NAMESPACE = "codemode";

/** Runs codemode's code in Cordon. */
export class CordonExecutor {
  readonly #cordon: Cordon;
  readonly #options: CordonExecutorOptions;

  constructor(cordon: Cordon, options: CordonExecutorOptions = {}) {
    this.#cordon = cordon;
    this.#options = options;
  }

  async execute(
    code: string,
    providersOrFns: ResolvedProvider[] | Record<string, ToolFunction>,
  ): Promise<ExecuteResult> {
    const providers: ResolvedProvider[] = Array.isArray(providersOrFns)
      ? providersOrFns
      : [{ name: DEFAULT_NAMESPACE, fns: providersOrFns }];
    const tools: Tools = {};
    for (const { name, fns } of providers) {
      const namespace: Record<string, { handler: (args: unknown) => unknown }> = {};
      for (const [tool, fn] of Object.entries(fns))
        namespace[tool] = { handler: (args) => fn(args) };
      tools[name] = namespace;
    }
    try {
      const result = await this.#cordon.execute({
        ...this.#options.request,
        code: asModule(code),
        ...(Object.keys(tools).length > 0 ? { tools } : {}),
        ...(this.#options.timeoutMs !== undefined ? { timeoutMs: this.#options.timeoutMs } : {}),
      });
      const logs = result.logs.map((entry) =>
        entry.level === "log" ? entry.message : `[${entry.level}] ${entry.message}`,
      );
      if (result.status === "ok") return { result: result.result, logs };
      const error = result.error ? `${result.error.name}: ${result.error.message}` : result.status;
      return { result: undefined, error, logs };
    } catch (err) {
      return { result: undefined, error: err instanceof Error ? err.message : String(err) };
    }
  }
}

/**
 * Codemode hands over an async arrow function (`async () => { … }`); Cordon runs a default
 * export that is a function by calling it. Anything else runs as it is (its last expression is
 * the result).
 */
function asModule(code: string): string {
  const trimmed = code.trim();
  return /^async\s*(\(|function\b)/.test(trimmed) ? `export default (${trimmed});` : code;
}
