// TypeScript declarations of an execution's tools, the text an agent puts in its prompt: one
// `declare const` per namespace, one method per tool, its argument typed from its JSON Schema.

/** What a tool offers to declare. */
export interface DeclaredTool {
  name: string;
  description?: string | undefined;
  inputSchema?: unknown;
  outputSchema?: unknown;
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
/** Deeper schemas end in `unknown`: the declaration is for reading, not for proving. */
const MAX_DEPTH = 8;

/** The declarations of `namespaces` (in the order given). */
export function declareTools(namespaces: { name: string; tools: DeclaredTool[] }[]): string {
  return namespaces
    .map(({ name, tools }) => {
      const methods = tools
        .filter((tool) => IDENTIFIER.test(tool.name))
        .map((tool) => {
          const doc = tool.description ? `${comment(tool.description, "  ")}\n` : "";
          const args = tool.inputSchema === undefined ? "unknown" : typeOf(tool.inputSchema, 1);
          const result = tool.outputSchema === undefined ? "unknown" : typeOf(tool.outputSchema, 1);
          return `${doc}  ${tool.name}(args: ${args}): Promise<${result}>;`;
        });
      return `declare const ${name}: {\n${methods.join("\n")}\n};\n`;
    })
    .join("\n");
}

function comment(text: string, indent: string): string {
  const lines = text.replaceAll("*/", "*\\/").split(/\r?\n/);
  if (lines.length === 1) return `${indent}/** ${lines[0]} */`;
  return `${indent}/**\n${lines.map((line) => `${indent} * ${line}`).join("\n")}\n${indent} */`;
}

type Schema = Record<string, unknown>;

function isSchema(value: unknown): value is Schema {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The TypeScript type a JSON Schema describes, as far as it is plain to see. */
export function typeOf(schema: unknown, depth: number): string {
  if (schema === true || schema === undefined) return "unknown";
  if (schema === false) return "never";
  if (!isSchema(schema) || depth > MAX_DEPTH) return "unknown";
  if ("const" in schema) return literal(schema.const);
  if (Array.isArray(schema.enum)) {
    const values = schema.enum.map(literal);
    return values.length > 0 ? values.join(" | ") : "never";
  }
  for (const key of ["anyOf", "oneOf"] as const) {
    const options = schema[key];
    if (Array.isArray(options) && options.length > 0) {
      return options.map((option) => typeOf(option, depth + 1)).join(" | ");
    }
  }
  const type = schema.type;
  if (Array.isArray(type)) {
    return type.map((t) => typeOf({ ...schema, type: t }, depth)).join(" | ");
  }
  switch (type) {
    case "string":
      return "string";
    case "number":
    case "integer":
      return "number";
    case "boolean":
      return "boolean";
    case "null":
      return "null";
    case "array": {
      const items = typeOf(schema.items, depth + 1);
      return /^[\w.$]+$/.test(items) ? `${items}[]` : `Array<${items}>`;
    }
    case "object":
      return objectType(schema, depth);
    default:
      return isSchema(schema.properties) ? objectType(schema, depth) : "unknown";
  }
}

function objectType(schema: Schema, depth: number): string {
  const properties = isSchema(schema.properties) ? schema.properties : {};
  const required = new Set(
    Array.isArray(schema.required) ? schema.required.filter((r) => typeof r === "string") : [],
  );
  const indent = "  ".repeat(depth + 1);
  const members = Object.entries(properties).map(([key, value]) => {
    const name = IDENTIFIER.test(key) ? key : JSON.stringify(key);
    const optional = required.has(key) ? "" : "?";
    const description =
      isSchema(value) && typeof value.description === "string" ? value.description : "";
    const doc = description ? `${comment(description, indent)}\n` : "";
    return `${doc}${indent}${name}${optional}: ${typeOf(value, depth + 1)};`;
  });
  const extra = schema.additionalProperties;
  if (isSchema(extra) || (extra === true && members.length === 0)) {
    members.push(`${indent}[key: string]: ${typeOf(extra, depth + 1)};`);
  }
  if (members.length === 0) return "Record<string, unknown>";
  return `{\n${members.join("\n")}\n${"  ".repeat(depth)}}`;
}

function literal(value: unknown): string {
  return value === undefined ? "undefined" : JSON.stringify(value);
}
