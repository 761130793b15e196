import { z } from "@hono/zod-openapi";
import { TOOL_LIMITS } from "../config";
import { nestsDeeperThan } from "./depth";

/**
 * Names a namespace may not take: each becomes a binding in the code's scope, and one named like
 * a global (or a word JavaScript reserves) would hide what the code expects there.
 */
export const RESERVED_NAMESPACES: readonly string[] = [
  // Words JavaScript reserves (strict mode and modules included).
  "await",
  "break",
  "case",
  "catch",
  "class",
  "const",
  "continue",
  "debugger",
  "default",
  "delete",
  "do",
  "else",
  "enum",
  "export",
  "extends",
  "false",
  "finally",
  "for",
  "function",
  "if",
  "implements",
  "import",
  "in",
  "instanceof",
  "interface",
  "let",
  "new",
  "null",
  "package",
  "private",
  "protected",
  "public",
  "return",
  "static",
  "super",
  "switch",
  "this",
  "throw",
  "true",
  "try",
  "typeof",
  "var",
  "void",
  "while",
  "with",
  "yield",
  "arguments",
  "eval",
  "undefined",
  "NaN",
  "Infinity",
  // What the harness gives every execution.
  "input",
  "console",
  "fetch",
  "process",
  "require",
  "module",
  "exports",
  "global",
  "globalThis",
  "self",
  // Globals of the guest isolate code commonly reaches.
  "Object",
  "Function",
  "Array",
  "Number",
  "String",
  "Boolean",
  "Symbol",
  "BigInt",
  "Math",
  "JSON",
  "Date",
  "RegExp",
  "Error",
  "TypeError",
  "RangeError",
  "SyntaxError",
  "ReferenceError",
  "Promise",
  "Proxy",
  "Reflect",
  "Map",
  "Set",
  "WeakMap",
  "WeakSet",
  "WeakRef",
  "ArrayBuffer",
  "DataView",
  "Intl",
  "Atomics",
  "SharedArrayBuffer",
  "URL",
  "URLSearchParams",
  "Request",
  "Response",
  "Headers",
  "FormData",
  "Blob",
  "File",
  "ReadableStream",
  "WritableStream",
  "TransformStream",
  "TextEncoder",
  "TextDecoder",
  "AbortController",
  "AbortSignal",
  "Event",
  "EventTarget",
  "crypto",
  "Crypto",
  "CryptoKey",
  "atob",
  "btoa",
  "structuredClone",
  "queueMicrotask",
  "setTimeout",
  "clearTimeout",
  "setInterval",
  "clearInterval",
  "setImmediate",
  "clearImmediate",
  "performance",
  "navigator",
  "WebSocket",
  "caches",
  "scheduler",
  "Buffer",
  "WebAssembly",
  "isNaN",
  "isFinite",
  "parseInt",
  "parseFloat",
  "encodeURI",
  "encodeURIComponent",
  "decodeURI",
  "decodeURIComponent",
  "escape",
  "unescape",
  "addEventListener",
  "removeEventListener",
  "dispatchEvent",
  "reportError",
];
const RESERVED = new Set(RESERVED_NAMESPACES);

/** A JavaScript identifier (ASCII), not one the sandbox reserves (`__cordon…`). */
const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]{0,63}$/;

const Identifier = z
  .string()
  .regex(IDENTIFIER, "must be a JavaScript identifier (ASCII letters, digits, _ and $; at most 64)")
  .refine((name) => !name.startsWith("__cordon"), {
    message: "identifiers starting with __cordon are reserved by the sandbox",
  });

/** A JSON Schema, as the caller wrote it: checked only for depth and kept as it is. */
const JsonSchema = z
  .record(z.string(), z.unknown())
  .refine((schema) => !nestsDeeperThan(schema, 32), {
    message: "must nest at most 32 levels deep",
  })
  .openapi({ description: "A JSON Schema of the tool's argument (an object)." });

/** One tool of a callback namespace: the caller runs it when the code calls it. */
export const CallbackTool = z
  .object({
    description: z.string().max(4096).optional(),
    inputSchema: JsonSchema.optional(),
  })
  .strict()
  .openapi("CallbackTool");

/** A remote MCP server (Streamable HTTP) Cordon calls through the tenant's egress gateway. */
export const McpServer = z
  .object({
    url: z
      .string()
      .max(2048)
      .refine((url) => URL.canParse(url) && /^https?:$/.test(new URL(url).protocol), {
        message: "must be an http or https URL",
      }),
    headers: z
      .record(
        z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/, "must be a header name"),
        z.string().max(8192),
      )
      .refine((headers) => Object.keys(headers).length <= 32, { message: "at most 32 headers" })
      .optional()
      .openapi({
        description:
          // biome-ignore lint/suspicious/noTemplateCurlyInString: the syntax a caller writes
          "Headers sent with every request; `${NAME}` in a value stands for the tenant secret NAME, put in by the gateway only on that secret's hosts.",
      }),
  })
  .strict()
  .openapi("McpServer");

const McpNamespace = z.object({ mcp: McpServer }).strict();
const CallbackNamespace = z
  .record(Identifier, CallbackTool)
  .refine((tools) => Object.keys(tools).length <= 256, { message: "at most 256 tools" });

/** A namespace: an MCP server, or callback tools by name. */
export const ToolNamespace = z.union([McpNamespace, CallbackNamespace]).openapi("ToolNamespace", {
  description:
    'Callback tools `{ "<tool>": { description?, inputSchema? } }` (answered by the caller over the event stream), or an MCP server `{ "mcp": { url, headers? } }`.',
});

/** The `tools` of an execution request: namespaces by name, each a global of the code. */
export const Tools = z
  .record(Identifier, ToolNamespace)
  .superRefine((tools, ctx) => {
    const names = Object.keys(tools);
    if (names.length > 32) ctx.addIssue({ code: "custom", message: "at most 32 namespaces" });
    for (const name of names) {
      if (RESERVED.has(name)) {
        ctx.addIssue({
          code: "custom",
          path: [name],
          message: `"${name}" is a global or a reserved word of the guest; pick another namespace name`,
        });
      }
    }
  })
  .openapi("Tools", {
    description:
      "Namespaces of tools the code calls as globals: `await ns.tool(args)`. Callback namespaces need `Accept: text/event-stream`.",
    example: {
      codemode: { add: { inputSchema: { type: "object", properties: { a: { type: "number" } } } } },
      docs: {
        mcp: {
          url: "https://mcp.example.com/mcp",
          // biome-ignore lint/suspicious/noTemplateCurlyInString: the syntax a caller writes
          headers: { authorization: "Bearer ${DOCS_TOKEN}" },
        },
      },
    },
  });

export type ToolsBody = z.infer<typeof Tools>;
export type McpServerBody = z.infer<typeof McpServer>;
export type CallbackToolBody = z.infer<typeof CallbackTool>;

/** Whether a namespace is an MCP server (else callback tools). */
export function isMcpNamespace(namespace: ToolsBody[string]): namespace is { mcp: McpServerBody } {
  return (
    typeof (namespace as { mcp?: unknown }).mcp === "object" &&
    Object.keys(namespace).length === 1 &&
    typeof (namespace as { mcp: { url?: unknown } }).mcp.url === "string"
  );
}

/** Whether any namespace needs the caller to answer over the event stream. */
export function hasCallbackTools(tools: ToolsBody | undefined): boolean {
  return Object.values(tools ?? {}).some((namespace) => !isMcpNamespace(namespace));
}

/** The caller's answer to one tool call. */
export const ToolCallAnswer = z
  .union([
    z.object({ result: z.unknown() }).strict(),
    z.object({ error: z.object({ message: z.string().max(64 * 1024) }).strict() }).strict(),
  ])
  .refine((answer) => !nestsDeeperThan(answer, 100), {
    message: "must nest arrays and objects at most 100 levels deep",
  })
  .openapi("ToolCallAnswer", {
    description: `\`{ "result": any }\` resolves the call; \`{ "error": { "message" } }\` rejects it. At most ${TOOL_LIMITS.answerBytes} bytes.`,
  });

/** The `tool_call` event of an execution's event stream. */
export const ToolCallEvent = z
  .object({
    executionId: z.string(),
    callId: z.string(),
    namespace: z.string(),
    name: z.string(),
    args: z.unknown(),
  })
  .openapi("ToolCallEvent");

/** One tool call as the execution result lists it. */
export const ToolUse = z
  .object({
    namespace: z.string(),
    name: z.string(),
    ok: z.boolean(),
    ms: z.number(),
  })
  .openapi("ToolUse");

export type ToolUseBody = z.infer<typeof ToolUse>;
export type ToolCallEventBody = z.infer<typeof ToolCallEvent>;

export const ToolTypesRequest = z.object({ tools: Tools }).strict().openapi("ToolTypesRequest");
export const ToolTypesResult = z.object({ typescript: z.string() }).openapi("ToolTypesResult", {
  example: {
    typescript:
      "declare const codemode: {\n  add(args: { a: number; b: number }): Promise<unknown>;\n};\n",
  },
});
