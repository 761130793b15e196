/** Reasons the gateway gives in audits and errors, shared by fetch() and connect(). */

export function subrequestCapReason(cap: number): string {
  return `subrequest cap of ${cap} per execution reached`;
}

export function requestCapReason(cap: number): string {
  return `request bytes over the cap of ${cap} per execution`;
}

export function responseCapReason(cap: number): string {
  return `response bytes over the cap of ${cap} per execution`;
}

/** Where in a request (or socket) a secret was found. */
export type Place = "header" | "url" | "body" | "host" | "socket";

const PLACE_NAMES: Record<Place, string> = {
  header: "a header",
  url: "the url",
  body: "the body",
  host: "the host name",
  socket: "a socket",
};

/** A placeholder on its way to a host its secret is not bound to. */
export function notBoundReason(name: string): string {
  return `secret ${name} not bound to host`;
}

/** A placeholder where its secret's `in` does not let the value go (never the host, a socket). */
export function placementReason(name: string, place: Place, allowed: readonly string[]): string {
  if (place === "host") return `secret ${name} may never go in the host name`;
  if (place === "socket") return `secret ${name} may never go on a socket`;
  return `secret ${name} may not go in ${PLACE_NAMES[place]} (its binding allows ${allowed.join(", ")})`;
}

/** A secret's value (in a spelling the gateway knows) where the gateway would not have put it. */
export function valueReason(name: string, place: Place, bound: boolean): string {
  const where = PLACE_NAMES[place];
  if (place === "host") return `the value of secret ${name} is in the host name`;
  if (place === "socket") return `the value of secret ${name} was written to a socket`;
  return bound
    ? `the value of secret ${name} is in ${where}, which its binding does not allow`
    : `the value of secret ${name} is in ${where} of a request to a host it is not bound to`;
}

/** A response the gateway cannot scrub, refused for a tenant with secrets. */
export function undecodableReason(encoding: string): string {
  return `the response is in an encoding the gateway cannot decode and scrub (${encoding})`;
}

export const PARTIAL_RESPONSE = "a partial (206) response cannot be scrubbed";

/** Attempts that reach an isolate's global outbound, which serves no execution. */
export const BYPASS_REASON =
  "requests that do not go through fetch() or connect() from cloudflare:sockets are not allowed";

/** The message of the TypeError a denied attempt throws in the guest. */
export function deniedMessage(method: string, url: string, reason: string): string {
  return `egress is not allowed: ${method} ${url}: ${reason}`;
}
