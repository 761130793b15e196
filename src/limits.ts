/** Server defaults and caps from the v1 contract ("Limits"). */
export const LIMITS = {
  codeBytes: 1024 * 1024,
  inputBytes: 1024 * 1024,
  /** Arrays and objects in one another; as deep as a result may be before it reads "[Too deep]". */
  inputDepth: 100,
  resultBytes: 1024 * 1024,
  logLines: 1000,
  logBytes: 256 * 1024,
  timeoutMs: 10_000,
  maxTimeoutMs: 300_000,
  /** Largest request body accepted before parsing: code and input at their caps plus room for JSON. */
  requestBytes: 3 * 1024 * 1024,
} as const;
