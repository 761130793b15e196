// The harness's answer: JSON text it builds itself, so guest code that replaced globals or
// prototypes cannot forge its status, result or error.
import { apply, StringCtor, uncurry } from "./builtins";
import { format } from "./console";
import { quote, resultJson, TOO_LARGE } from "./json";

const USER_FRAME = /user\.js:(\d+):(\d+)/;
const regexpExec = uncurry(RegExp.prototype.exec);
const encoder = new TextEncoder();
const encode = uncurry(TextEncoder.prototype.encode);
/** UTF-8 size of a string, computed only when it could be over `cap`. */
const overBytes = (text: string, cap: number) =>
  text.length * 3 > cap && encode(encoder, text).byteLength > cap;

/** Reads a thrown value without letting its getters break the harness: the error's JSON. */
export function describeError(thrown: unknown): string {
  let name = "Error";
  let message = "";
  let stack = "";
  try {
    if (thrown !== null && (typeof thrown === "object" || typeof thrown === "function")) {
      const error = thrown as { name?: unknown; message?: unknown; stack?: unknown };
      name = StringCtor(error.name ?? "Error");
      message = StringCtor(error.message ?? "");
      stack = StringCtor(error.stack ?? "");
    } else {
      message = apply(format, undefined, [thrown]);
    }
  } catch {
    message = message || "[thrown value could not be read]";
  }
  let location = "";
  const match = regexpExec(USER_FRAME, stack);
  if (match !== null)
    location = `,"line":${+(match[1] as string)},"column":${+(match[2] as string)}`;
  return `{"name":${quote(name)},"message":${quote(message)}${location}}`;
}

function describeErrorMessage(err: unknown): string {
  try {
    return StringCtor((err as { message?: unknown } | null)?.message ?? err);
  } catch {
    return "unknown error";
  }
}

/** The result part of an answer: the value as JSON, or why it has none. */
export function resultBody(value: unknown, cap: number): string {
  let json: string | undefined;
  try {
    json = resultJson(value, cap);
  } catch (err) {
    if (err !== TOO_LARGE) {
      const message = `the result could not be converted to JSON: ${describeErrorMessage(err)}`;
      return `"status":"error","error":{"name":"ResultNotSerializable","message":${quote(message)}}`;
    }
  }
  return json === undefined || overBytes(json, cap)
    ? `"status":"error","error":{"name":"ResultTooLarge","message":"the result is larger than ${cap} bytes"}`
    : `"status":"ok","result":${json}`;
}

/** An error answer's body. */
export function errorBody(thrown: unknown): string {
  return `"status":"error","error":${describeError(thrown)}`;
}

/** The whole answer: the body, then the console entries not yet sent and the drop count. */
export function envelope(body: string, logs: string, dropped: number): string {
  return `{${body},"logs":[${logs}],"dropped":${dropped}}`;
}
