// Stands in for `cloudflare:sockets` in guest isolates. The runtime's own connect() would go to
// the isolate's global outbound, which serves no execution and denies everything; this one goes
// through the running execution's egress gateway (see connectThroughGateway in harness.guest.js).
let impl;

export function connect(address, options) {
  if (impl === undefined) throw new TypeError("connect is only available while code is running");
  return impl(address, options);
}

/** Called once by the harness before any user code runs; later calls change nothing. */
export function __cordonInstall(fn) {
  if (impl === undefined) impl = fn;
}
