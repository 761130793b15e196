// Cordon as an MCP client: the official SDK's client over Streamable HTTP, every request of it
// sent through the egress gateway of the execution (or of the tenant, for `POST /v1/tools/types`),
// so the tenant's policy, its secrets' host bindings, the caps and the audit apply as to the
// guest's own fetch().
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { Tool } from "@modelcontextprotocol/sdk/types.js";
import type {
  JsonSchemaValidator,
  jsonSchemaValidator,
} from "@modelcontextprotocol/sdk/validation/types.js";
import { ExpiringCache } from "../cache";
import { TOOL_LIMITS } from "../config";
import type { EgressSecret, InFlight } from "../egress/audit";
import { DENIED_HEADER, handleEgress } from "../egress/gateway";
import type { McpServerBody } from "../schemas/tools";

const CLIENT_INFO = { name: "cordon", version: "1.0.0" };

/**
 * The SDK validates a tool's structured result against its output schema with Ajv, which compiles
 * schemas with `new Function` (refused in a Worker). The structured result is data for the code,
 * not for Cordon, so it is passed on as the server sent it.
 */
const passThrough: jsonSchemaValidator = {
  getValidator<T>(): JsonSchemaValidator<T> {
    return (input) => ({ valid: true, data: input as T, errorMessage: undefined });
  },
};

/** A `${NAME}` in a header value: the tenant secret NAME. */
const SECRET_REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/**
 * The server's headers with each `${NAME}` turned into the secret's placeholder, which the
 * gateway swaps for the value only on a request to a host the secret is bound to.
 */
export function serverHeaders(
  server: McpServerBody,
  secrets: readonly EgressSecret[],
): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(server.headers ?? {})) {
    headers[name] = value.replace(SECRET_REFERENCE, (_, secret: string) => {
      const found = secrets.find((s) => s.name === secret);
      if (!found)
        throw new McpFailure(`header ${name} names ${secret}, which is no secret of this tenant`);
      return found.placeholder;
    });
  }
  return headers;
}

/** What went wrong talking to a server, in words the code (and the caller) may read. */
export class McpFailure extends Error {}

/** A fetch for the SDK that goes through the gateway of `egress`. */
function gatewayFetch(egress: InFlight) {
  return async (url: string | URL, init?: RequestInit): Promise<Response> => {
    const response = await handleEgress(egress, new Request(url, init));
    // The gateway's refusal is a response to the guest; to the SDK it is a failed request.
    if (response.headers.has(DENIED_HEADER)) throw new McpFailure(await response.text());
    return response;
  };
}

/** A connected client of one server, for one execution. */
export async function connect(
  server: McpServerBody,
  egress: InFlight,
  secrets: readonly EgressSecret[],
): Promise<Client> {
  const transport = new StreamableHTTPClientTransport(new URL(server.url), {
    fetch: gatewayFetch(egress),
    requestInit: { headers: serverHeaders(server, secrets) },
  });
  const client = new Client(CLIENT_INFO, { jsonSchemaValidator: passThrough });
  try {
    await client.connect(transport);
  } catch (err) {
    throw new McpFailure(`MCP server ${server.url}: ${messageOf(err)}`);
  }
  return client;
}

/** A tool's answer as the code gets it: its structured content, else its text (JSON if it parses). */
export type McpAnswer = { ok: true; value: unknown } | { ok: false; message: string };

/** Calls tool `name`; `isError` and a failed request both answer `ok: false`. */
export async function callTool(client: Client, name: string, args: unknown): Promise<McpAnswer> {
  let result: Awaited<ReturnType<Client["callTool"]>>;
  try {
    result = await client.callTool({
      name,
      arguments: (args ?? {}) as Record<string, unknown>,
    });
  } catch (err) {
    return { ok: false, message: messageOf(err) };
  }
  const text = textOf(result.content);
  if (result.isError) return { ok: false, message: text || `tool ${name} failed` };
  if (result.structuredContent !== undefined) return { ok: true, value: result.structuredContent };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: true, value: text };
  }
}

function textOf(content: unknown): string {
  if (!Array.isArray(content)) return "";
  return content
    .filter((part): part is { type: "text"; text: string } => part?.type === "text")
    .map((part) => part.text)
    .join("\n");
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** `tools/list` answers by tenant and URL, kept briefly: an agent asks for types again and again. */
const lists = new ExpiringCache<string, Tool[]>(1_024, TOOL_LIMITS.listCacheMs);

/** The server's tools, from the cache or asked through `egress`. */
export function listTools(
  tenant: string,
  server: McpServerBody,
  egress: InFlight,
  secrets: readonly EgressSecret[],
): Promise<Tool[]> {
  return lists.get(`${tenant}\u0000${server.url}`, async () => {
    const client = await connect(server, egress, secrets);
    try {
      const tools: Tool[] = [];
      let cursor: string | undefined;
      // Bounded: a server that pages forever gets listed up to 20 pages.
      for (let page = 0; page < 20; page++) {
        const answer = await client.listTools(cursor === undefined ? {} : { cursor });
        tools.push(...answer.tools);
        cursor = answer.nextCursor;
        if (cursor === undefined) break;
      }
      return tools;
    } catch (err) {
      throw new McpFailure(`MCP server ${server.url}: ${messageOf(err)}`);
    } finally {
      await client.close().catch(() => {});
    }
  });
}
