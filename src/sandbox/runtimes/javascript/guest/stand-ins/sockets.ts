// Stands in for `cloudflare:sockets` in guest isolates. The runtime's own connect() would go to
// the isolate's global outbound, which serves no execution and denies everything; this one goes
// through the running execution's egress gateway (../sockets.ts).
import { connect, provideStandIn } from "../core";
import * as self from "./sockets";

export { connect };

provideStandIn(["cloudflare:sockets"], self);
