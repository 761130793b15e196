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

/** Why a request carrying a placeholder to a host its secret is not bound to is refused. */
export const NOT_BOUND = "secret not bound to host";

/** Attempts that reach an isolate's global outbound, which serves no execution. */
export const BYPASS_REASON =
  "requests that do not go through fetch() or connect() from cloudflare:sockets are not allowed";

/** The message of the TypeError a denied attempt throws in the guest. */
export function deniedMessage(method: string, url: string, reason: string): string {
  return `egress is not allowed: ${method} ${url}: ${reason}`;
}
