/**
 * What an execution hands back (result, logs, error) with the tenant's secret values and any
 * credential-shaped strings replaced by markers, and a list of what was redacted where.
 */
import {
  mapJsonStrings,
  type Redaction,
  scanJson,
  scanText,
  scrubSecrets,
  type Where,
} from "./scan";

const SECRET_KIND = "secret";

export interface Output {
  result?: unknown;
  error?: { name: string; message: string; line?: number; column?: number; stack?: string };
  logs: { level: string; message: string; truncated?: true }[];
}

/** A redactor that scrubs secret values and notes, once per place, that it did. */
function secretScrubber(secrets: string[], found: Redaction[]) {
  return (text: string, where: Where): string => {
    if (secrets.length === 0) return text;
    const out = scrubSecrets(text, secrets);
    if (out !== text && !found.some((r) => r.kind === SECRET_KIND && r.where === where)) {
      found.push({ kind: SECRET_KIND, where });
    }
    return out;
  };
}

function merge(into: Redaction[], more: Redaction[]): void {
  for (const r of more) {
    if (!into.some((x) => x.kind === r.kind && x.where === r.where)) into.push(r);
  }
}

/** One log entry, redacted (for entries streamed while the code runs). */
export function redactLogEntry<T extends Output["logs"][number]>(entry: T, secrets: string[]): T {
  const scrubbed = secrets.length > 0 ? scrubSecrets(entry.message, secrets) : entry.message;
  return { ...entry, message: scanText(scrubbed, "logs").text };
}

/** Redacts an execution's output; secret values first, so they are reported as `secret`. */
export function redactOutput<T extends Output>(
  fields: T,
  secrets: string[],
): { fields: T; redactions: Redaction[] } {
  const found: Redaction[] = [];
  const scrub = secretScrubber(secrets, found);
  const out: T = { ...fields };
  if (fields.result !== undefined) {
    const scanned = scanJson(
      mapJsonStrings(fields.result, (text) => scrub(text, "result")),
      "result",
    );
    out.result = scanned.value;
    merge(found, scanned.redactions);
  }
  out.logs = fields.logs.map((entry) => {
    const scanned = scanText(scrub(entry.message, "logs"), "logs");
    merge(found, scanned.redactions);
    return { ...entry, message: scanned.text };
  });
  if (fields.error) {
    const name = scanText(scrub(fields.error.name, "error"), "error");
    const message = scanText(scrub(fields.error.message, "error"), "error");
    merge(found, name.redactions);
    merge(found, message.redactions);
    out.error = { ...fields.error, name: name.text, message: message.text };
    if (fields.error.stack !== undefined) {
      const stack = scanText(scrub(fields.error.stack, "error"), "error");
      merge(found, stack.redactions);
      out.error.stack = stack.text;
    }
  }
  return { fields: out, redactions: found };
}
