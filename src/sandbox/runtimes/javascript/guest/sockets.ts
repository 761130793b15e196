// connect() from cloudflare:sockets (stand-ins/sockets.ts): a socket through the execution's
// egress gateway, never the isolate's own outbound.
import {
  apply,
  getter,
  promiseThen,
  StringCtor,
  settled,
  TypeErrorCtor,
  Uint8ArrayCtor,
  uncurry,
} from "./builtins";
import { currentRun } from "./context";
import { dataJson } from "./json";

const ReadableStreamCtor = ReadableStream;
const TransformStreamCtor = TransformStream;
const getReaderMethod = ReadableStream.prototype.getReader;
const getReader = (stream: ReadableStream<Uint8Array>): ReadableStreamDefaultReader<Uint8Array> =>
  apply(getReaderMethod, stream, []);
const getWriter = uncurry(WritableStream.prototype.getWriter);
const pipeTo = uncurry(ReadableStream.prototype.pipeTo);
const readerRead = uncurry(ReadableStreamDefaultReader.prototype.read);
const readerCancel = uncurry(ReadableStreamDefaultReader.prototype.cancel);
const readerClosed = getter(ReadableStreamDefaultReader.prototype, "closed");
const writerWrite = uncurry(WritableStreamDefaultWriter.prototype.write);
const writerRelease = uncurry(WritableStreamDefaultWriter.prototype.releaseLock);
const bytesIndexOf = uncurry(Uint8Array.prototype.indexOf);
const bytesSubarray = uncurry(Uint8Array.prototype.subarray);
const bytesSet = uncurry(Uint8Array.prototype.set);
const encoder = new TextEncoder();
const encode = uncurry(TextEncoder.prototype.encode);
const decoder = new TextDecoder();
const decode = uncurry(TextDecoder.prototype.decode);
const parseJson = JSON.parse;
const ignore = () => {};
/** The gateway's status line is short; anything longer is not one. */
const MAX_STATUS_BYTES = 65536;

function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8ArrayCtor(a.length + b.length);
  bytesSet(out, a, 0);
  bytesSet(out, b, a.length);
  return out;
}

/** What connect() takes as its address. */
type Address = string | { hostname?: unknown; port?: unknown };

/**
 * connect() from cloudflare:sockets: a socket through the execution's gateway (its capabilities'
 * `connect`, a pair of byte streams). The harness first sends the target in a preamble line and
 * waits for the gateway's status line, so a denied connect rejects `opened` (and errors both
 * streams) with a TypeError that names the rule; only then do bytes flow. TLS to the target is
 * the gateway's job ("on"); STARTTLS is not supported.
 */
export function connect(address: Address, options?: { secureTransport?: unknown }) {
  const run = currentRun();
  if (run === undefined) throw new TypeErrorCtor("connect is only available while code is running");
  const secureTransport = options?.secureTransport ?? "off";
  if (secureTransport !== "off" && secureTransport !== "on") {
    throw new TypeErrorCtor(
      `connect(): secureTransport "${StringCtor(secureTransport)}" is not supported through the egress gateway (use "off" or "on")`,
    );
  }
  const target =
    typeof address === "string"
      ? address
      : { hostname: StringCtor(address?.hostname), port: +(address?.port as number) };
  // What goes to the gateway: the preamble, then what the code writes.
  let toGatewayController: TransformStreamDefaultController<Uint8Array> | undefined;
  const toGateway = new TransformStreamCtor<Uint8Array, Uint8Array>({
    start(controller) {
      toGatewayController = controller;
    },
  });
  const reading = promiseThen(
    settled(run.capabilities.connect(toGateway.readable)),
    (fromGateway) => getReader(fromGateway),
  );
  let outgoingController: TransformStreamDefaultController<Uint8Array> | undefined;
  const outgoing = new TransformStreamCtor<Uint8Array, Uint8Array>({
    start(controller) {
      outgoingController = controller;
    },
  });
  let leftover: Uint8Array | undefined;
  /** Ends the socket both ways: the gateway sees the guest's side end, and nothing more is read. */
  const end = (reason?: unknown) => {
    try {
      toGatewayController?.terminate();
    } catch {}
    promiseThen(reading, (reader) => readerCancel(reader, reason), ignore);
  };
  const opened = (async () => {
    const writer = getWriter(toGateway.writable);
    const sent = writerWrite(
      writer,
      encode(encoder, `${dataJson({ address: target, secureTransport })}\n`),
    );
    // A socket ended before the gateway read the preamble fails the write: `reading` says why.
    promiseThen(sent, undefined, ignore);
    const reader = await reading;
    await sent;
    writerRelease(writer);
    let head: Uint8Array = new Uint8ArrayCtor(0);
    for (;;) {
      const { done, value } = await readerRead(reader);
      if (done) throw new TypeErrorCtor("connect(): the egress gateway closed the connection");
      head = concatBytes(head, value);
      const newline = bytesIndexOf(head, 10);
      if (newline !== -1) {
        leftover = bytesSubarray(head, newline + 1);
        let status: { ok?: unknown; message?: unknown } | undefined;
        try {
          status = parseJson(decode(decoder, bytesSubarray(head, 0, newline)));
        } catch {}
        if (status?.ok !== true) {
          throw new TypeErrorCtor(StringCtor(status?.message ?? "connect() was refused"));
        }
        break;
      }
      if (head.length > MAX_STATUS_BYTES) {
        throw new TypeErrorCtor("connect(): the egress gateway sent no status");
      }
    }
    promiseThen(pipeTo(outgoing.readable, toGateway.writable), undefined, ignore);
    return { __proto__: null };
  })();
  promiseThen(opened, undefined, (err: unknown) => {
    try {
      outgoingController?.error(err);
    } catch {}
    end(err);
  });
  const closed = promiseThen(opened, () =>
    promiseThen(reading, (reader) => readerClosed(reader) as Promise<undefined>),
  );
  promiseThen(closed, undefined, ignore);
  const readable = new ReadableStreamCtor<Uint8Array>({
    async pull(controller) {
      await opened;
      if (leftover !== undefined && leftover.length > 0) {
        const chunk = leftover;
        leftover = undefined;
        controller.enqueue(chunk);
        return;
      }
      const { done, value } = await readerRead(await reading);
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel(reason) {
      return promiseThen(reading, (reader) => readerCancel(reader, reason));
    },
  });
  return {
    __proto__: null,
    readable,
    writable: outgoing.writable,
    opened,
    closed,
    upgraded: false,
    secureTransport,
    close() {
      try {
        outgoingController?.terminate();
      } catch {}
      end();
      return promiseThen(
        closed,
        () => undefined,
        () => undefined,
      );
    },
    startTls() {
      throw new TypeErrorCtor(
        'startTls() is not supported through the egress gateway: connect with { secureTransport: "on" }',
      );
    },
  };
}
