// Tool namespaces as the code sees them: for each namespace of the execution, an object whose
// every method calls that tool through the run's capabilities, `await ns.tool(args)`. They are made
// for each run and handed to the code as bindings of its scope (../compile.ts), never put on the
// global object, so executions sharing a reused isolate never see each other's tools.
import {
  ErrorCtor,
  freeze,
  hasOwn,
  PromiseCtor,
  ProxyCtor,
  parseJson,
  promiseThen,
  StringCtor,
  settled,
  stringify,
  TypeErrorCtor,
} from "./builtins";
import type { Run } from "./context";

/** A namespace: a tool by any name, except what would make it look like a promise. */
function namespaceFor(run: Run, namespace: string): object {
  return new ProxyCtor(freeze({ __proto__: null }), {
    get(_target, name) {
      if (typeof name !== "string" || name === "then") return undefined;
      return (args?: unknown) => callTool(run, namespace, name, args);
    },
    set: () => false,
    defineProperty: () => false,
    deleteProperty: () => false,
  });
}

/** Namespaces by name, on no prototype (a name like `toString` is only a namespace). */
export interface ToolNamespaces {
  __proto__?: null;
  [name: string]: object | null | undefined;
}

/** The run's namespaces, by name: what the compiled code's wrapper binds. */
export function toolNamespaces(run: Run, names: readonly string[]): ToolNamespaces {
  const namespaces: ToolNamespaces = { __proto__: null };
  for (let i = 0; i < names.length; i++) {
    const name = names[i] as string;
    namespaces[name] = namespaceFor(run, name);
  }
  return namespaces;
}

/**
 * One call: the argument goes as JSON text, and the answer (`{"r": result}` or `{"e": message}`)
 * resolves the promise with the result or rejects it with an Error of the tool's message.
 */
function callTool(run: Run, namespace: string, name: string, args: unknown): Promise<unknown> {
  return new PromiseCtor((resolve, reject) => {
    if (run.done) throw new TypeErrorCtor("tools can only be called while the code is running");
    // The code's own toJSON runs here, under its deadline; what cannot be JSON fails the call.
    const text = args === undefined ? "null" : stringify(args);
    if (typeof text !== "string") throw new TypeErrorCtor("tool arguments must be JSON values");
    promiseThen(
      settled(run.capabilities.callTool(namespace, name, text)),
      (answer) => {
        const parsed = parseJson(answer) as { r?: unknown; e?: unknown };
        if (hasOwn(parsed, "e")) reject(new ErrorCtor(StringCtor(parsed.e)));
        else resolve(parsed.r);
      },
      () => reject(new ErrorCtor(`tool ${namespace}.${name} could not be called`)),
    );
  });
}
