// fetch() for guest code: every outbound request goes through the execution's own egress
// capability, never the isolate's.
import { apply, StringCtor, stringStartsWith, TypeErrorCtor, uncurry } from "./builtins";
import { currentRun } from "./context";

const RequestCtor = Request;
const ResponseCtor = Response;
const ReadableStreamCtor = ReadableStream;
const getReaderMethod = ReadableStream.prototype.getReader;
const readerRead = uncurry(ReadableStreamDefaultReader.prototype.read);
const readerCancel = uncurry(ReadableStreamDefaultReader.prototype.cancel);
const nativeFetch = fetch;
const arrayFrom = Array.from;
const headersGet = uncurry(Headers.prototype.get);
const headersSet = uncurry(Headers.prototype.set);
const headersDelete = uncurry(Headers.prototype.delete);
const headersKeys = uncurry(Headers.prototype.keys);
const responseText = uncurry(Response.prototype.text);
const encodeComponent = encodeURIComponent;
const toWellFormed = uncurry(String.prototype.toWellFormed);

/**
 * Outbound requests go through the execution's own egress capability, never the isolate's.
 * `cordon-*` headers carry what the gateway needs besides the request: the URL as the code wrote
 * it (the gateway checks it as well as the parsed one) and the redirect mode (the gateway follows
 * redirects itself). The code cannot set them.
 */
export async function guestFetch(
  resource: RequestInfo | URL,
  init?: RequestInit,
): Promise<Response> {
  const run = currentRun();
  const request = new RequestCtor(resource, init);
  if (run === undefined) throw new TypeErrorCtor("fetch is only available while code is running");
  // Only http(s) is an outbound attempt: the runtime serves data: itself and refuses the rest
  // (and whatever it would not refuse meets the isolate's deny-all global outbound).
  if (!stringStartsWith(request.url, "http:") && !stringStartsWith(request.url, "https:")) {
    return nativeFetch(request);
  }
  const headers = request.headers;
  const names = arrayFrom(headersKeys(headers));
  for (let i = 0; i < names.length; i++) {
    const name = names[i] as string;
    if (stringStartsWith(name, "cordon-")) headersDelete(headers, name);
  }
  if (typeof resource === "string") {
    headersSet(headers, "cordon-raw-url", encodeComponent(toWellFormed(resource)));
  }
  headersSet(headers, "cordon-redirect", StringCtor(request.redirect));
  const response = await run.capabilities.fetch(request);
  const denied = headersGet(response.headers, "cordon-egress-denied");
  if (denied !== null) throw new TypeErrorCtor(await responseText(response));
  return failingAsFetch(response);
}

/**
 * The response with a body that fails the way fetch()'s does: with a TypeError. The gateway
 * errors a body it stops (a cap, a secret, an encoding it cannot scrub) with one, but an error
 * crossing the capability's RPC boundary arrives as a plain Error.
 */
function failingAsFetch(response: Response): Response {
  const body = response.body;
  if (body === null) return response;
  const reader: ReadableStreamDefaultReader<Uint8Array> = apply(getReaderMethod, body, []);
  const typed = new ReadableStreamCtor<Uint8Array>({
    async pull(controller) {
      let read: ReadableStreamReadResult<Uint8Array>;
      try {
        read = await readerRead(reader);
      } catch (err) {
        throw new TypeErrorCtor(StringCtor((err as { message?: unknown } | null)?.message ?? err));
      }
      if (read.done) controller.close();
      else controller.enqueue(read.value);
    },
    cancel(reason) {
      return readerCancel(reader, reason);
    },
  });
  return new ResponseCtor(typed, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}
