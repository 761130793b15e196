// What guest code gets for `cloudflare:workers`, however it reaches it (a static import is
// compiled to this module, a dynamic import, `require` or `process.getBuiltinModule` lands here
// through modules.ts). The runtime's own module also holds `exports` (a way back into this
// isolate), `abortIsolate` and a `waitUntil` whose work would run on after the execution answered;
// the guest gets its classes, an empty `env` and a `waitUntil` bounded by its execution.
import { DurableObject, RpcStub, RpcTarget, WorkerEntrypoint } from "cloudflare:workers";
import { provideStandIn, waitUntil } from "../core";
import * as self from "./workers";

export { DurableObject, RpcStub, RpcTarget, WorkerEntrypoint, waitUntil };

/** Nothing of the server's bindings: the guest's capabilities are fetch() and connect(). */
export const env = Object.freeze({});

provideStandIn(["cloudflare:workers"], self);
