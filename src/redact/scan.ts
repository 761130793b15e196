import { RULES } from "./rules";

export type Where = "result" | "logs" | "error";
export interface Redaction {
  kind: string;
  where: Where;
}

interface Span {
  start: number;
  end: number;
  kind: string;
}

interface CompiledRule {
  kind: string;
  keywords: readonly string[];
  re: RegExp;
}

// Compiled once: `g` to walk every match, `d` for the index of the secret's capturing group.
const COMPILED: readonly CompiledRule[] = RULES.map((rule) => ({
  kind: rule.kind,
  keywords: rule.keywords.map((k) => k.toLowerCase()),
  re: new RegExp(rule.pattern, `gd${rule.flags ?? ""}`),
}));

const SECRET_KIND = "secret";
// Shorter values would match inside ordinary words and numbers.
const MIN_SECRET_LENGTH = 4;
// A secret inside a larger base64 blob is found by the characters that depend on its bytes
// alone; fewer than 6 of them (secrets under 5 bytes) occur by chance in large blobs.
const MIN_EMBEDDED_BASE64_LENGTH = 6;

function marker(kind: string): string {
  return `[REDACTED:${kind}]`;
}

/** Every credential-shaped span of `text`, in no particular order, possibly overlapping. */
function findSpans(text: string): Span[] {
  const lower = text.toLowerCase();
  const spans: Span[] = [];
  for (const rule of COMPILED) {
    if (!rule.keywords.some((k) => lower.includes(k))) continue;
    const re = rule.re;
    re.lastIndex = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      const [start, end] = m.indices?.[1] ?? m.indices?.[0] ?? [m.index, m.index + m[0].length];
      if (m[0].length === 0) re.lastIndex++;
      if (end > start) spans.push({ start, end, kind: rule.kind });
    }
  }
  return spans;
}

/** Overlapping spans become one; it is labelled by the earliest-starting (then longest) span. */
function mergeSpans(spans: Span[]): Span[] {
  const sorted = [...spans].sort((a, b) => a.start - b.start || b.end - a.end);
  const merged: Span[] = [];
  for (const span of sorted) {
    const last = merged[merged.length - 1];
    if (last !== undefined && span.start < last.end) {
      last.end = Math.max(last.end, span.end);
    } else {
      merged.push({ ...span });
    }
  }
  return merged;
}

function applySpans(text: string, spans: readonly Span[]): string {
  if (spans.length === 0) return text;
  const parts: string[] = [];
  let at = 0;
  for (const span of spans) {
    parts.push(text.slice(at, span.start), marker(span.kind));
    at = span.end;
  }
  parts.push(text.slice(at));
  return parts.join("");
}

class RedactionSet {
  private readonly seen = new Map<string, Redaction>();

  add(kind: string, where: Where): void {
    const key = `${where}\u0000${kind}`;
    if (!this.seen.has(key)) this.seen.set(key, { kind, where });
  }

  list(): Redaction[] {
    return [...this.seen.values()];
  }
}

function redactWith(text: string, spans: Span[], where: Where, found: RedactionSet): string {
  const merged = mergeSpans(spans);
  for (const span of merged) found.add(span.kind, where);
  return applySpans(text, merged);
}

/** Replaces every credential-shaped match with `[REDACTED:<kind>]`; reports each kind+where once. */
export function scanText(text: string, where: Where): { text: string; redactions: Redaction[] } {
  const found = new RedactionSet();
  const out = redactWith(text, findSpans(text), where, found);
  return { text: out, redactions: found.list() };
}

/**
 * Scans a property value as if it were written `"key": "value"`, so "name = value" rules see the
 * name (e.g. `{ AWS_SECRET_ACCESS_KEY: "…" }`); only spans inside the value are kept.
 */
function scanPropertyValue(key: string, value: string, where: Where, found: RedactionSet): string {
  const prefix = `"${key}": "`;
  const combined = `${prefix}${value}"`;
  const from = prefix.length;
  const to = from + value.length;
  const spans: Span[] = [];
  for (const span of findSpans(combined)) {
    const start = Math.max(span.start, from);
    const end = Math.min(span.end, to);
    if (end > start) spans.push({ start: start - from, end: end - from, kind: span.kind });
  }
  return redactWith(value, spans, where, found);
}

type JsonObject = Record<string, unknown>;

function isPlainObject(value: unknown): value is JsonObject {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function defineEntry(target: JsonObject, key: string, value: unknown): void {
  // Plain assignment would treat a "__proto__" key as the prototype setter.
  Object.defineProperty(target, key, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

/** Applies scanText to every string inside a JSON value (keys too), returning a new value. */
export function scanJson(
  value: unknown,
  where: Where,
): { value: unknown; redactions: Redaction[] } {
  const found = new RedactionSet();
  const scanned = mapJsonStrings(value, (text, key) =>
    key === undefined
      ? redactWith(text, findSpans(text), where, found)
      : scanPropertyValue(key, text, where, found),
  );
  return { value: scanned, redactions: found.list() };
}

/**
 * A copy of a JSON value with `fn` applied to every string: keys, array items, and property
 * values (which get their key too). Only arrays and plain objects are walked.
 */
export function mapJsonStrings(
  value: unknown,
  fn: (text: string, key?: string) => string,
): unknown {
  // Iterative, not recursive: a hostile result may nest deeper than the call stack allows.
  // `copies` also keeps shared (or, outside JSON, cyclic) references from being walked twice.
  const copies = new Map<object, unknown[] | JsonObject>();
  const pending: { from: unknown[] | JsonObject; to: unknown[] | JsonObject }[] = [];

  const copy = (v: unknown, key?: string): unknown => {
    if (typeof v === "string") return fn(v, key);
    if (!Array.isArray(v) && !isPlainObject(v)) return v;
    const existing = copies.get(v);
    if (existing !== undefined) return existing;
    const to: unknown[] | JsonObject = Array.isArray(v) ? [] : {};
    copies.set(v, to);
    pending.push({ from: v, to });
    return to;
  };

  const root = copy(value);
  for (let job = pending.pop(); job !== undefined; job = pending.pop()) {
    const { from, to } = job;
    if (Array.isArray(from) && Array.isArray(to)) {
      for (const item of from) to.push(copy(item));
    } else if (!Array.isArray(from) && !Array.isArray(to)) {
      for (const [k, v] of Object.entries(from)) defineEntry(to, fn(k), copy(v, k));
    }
  }
  return root;
}

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

function urlSafe(b64: string): string {
  return b64.replaceAll("+", "-").replaceAll("/", "_");
}

/**
 * Base64 forms of `bytes`: the whole value (padded and not), and, for each of the three byte
 * offsets it can start at inside a longer blob, the run of characters that depend on its bytes
 * alone (the characters at either edge mix in the neighbouring bytes, so they cannot be known).
 */
function base64Forms(bytes: Uint8Array): string[] {
  const padded = toBase64(bytes);
  const forms = [padded, padded.replace(/=+$/, "")];
  for (let offset = 0; offset < 3; offset++) {
    const shifted = new Uint8Array(offset + bytes.length);
    shifted.set(bytes, offset);
    const encoded = toBase64(shifted);
    const first = Math.ceil((8 * offset) / 6);
    const last = Math.floor((8 * (offset + bytes.length)) / 6);
    const core = encoded.slice(first, last);
    if (core.length >= MIN_EMBEDDED_BASE64_LENGTH) forms.push(core);
  }
  return forms.flatMap((f) => [f, urlSafe(f)]);
}

/** The spellings in which a secret value can reach output. */
function encodedForms(value: string): string[] {
  const forms = new Set<string>();
  const add = (form: string) => {
    if (form.length >= MIN_SECRET_LENGTH) forms.add(form);
  };
  add(value);
  const jsonEscaped = JSON.stringify(value).slice(1, -1);
  add(jsonEscaped);
  add(JSON.stringify(jsonEscaped).slice(1, -1));
  const percent = encodeURIComponent(value);
  add(percent);
  add(percent.replace(/%[0-9A-F]{2}/g, (hex) => hex.toLowerCase()));
  add(new URLSearchParams([["", value]]).toString().slice(1));
  for (const b64 of base64Forms(new TextEncoder().encode(value))) {
    add(b64);
    add(encodeURIComponent(b64));
  }
  return [...forms];
}

/** Replaces each secret value (plain, base64 at any offset, percent-encoded, JSON-escaped) with `[REDACTED:secret]`. */
export function scrubSecrets(text: string, values: string[]): string {
  const spans: Span[] = [];
  for (const value of values) {
    if (value.length < MIN_SECRET_LENGTH) continue;
    for (const form of encodedForms(value)) {
      for (let at = text.indexOf(form); at !== -1; at = text.indexOf(form, at + form.length)) {
        spans.push({ start: at, end: at + form.length, kind: SECRET_KIND });
      }
    }
  }
  // Found in one pass over the original text, so a secret such as "secret" or "REDACTED" cannot
  // match inside a marker written for another one.
  return applySpans(text, mergeSpans(spans));
}

/**
 * `scrubSecrets` over a stream of text that arrives in pieces. `push` returns what is safe to
 * pass on and holds back the tail that could still be the start of a secret's spelling (one
 * character less than the longest spelling); `flush` scrubs and returns what is held back.
 */
export class SecretScrubber {
  readonly #forms: string[];
  readonly #hold: number;
  #carry = "";

  constructor(values: string[]) {
    const forms = new Set<string>();
    for (const value of values) {
      if (value.length < MIN_SECRET_LENGTH) continue;
      for (const form of encodedForms(value)) forms.add(form);
    }
    this.#forms = [...forms];
    this.#hold = Math.max(0, ...this.#forms.map((f) => f.length - 1));
  }

  /** True when there is nothing to scrub, so callers may pass data through untouched. */
  get idle(): boolean {
    return this.#forms.length === 0;
  }

  /** True while some text is held back. */
  get holding(): boolean {
    return this.#carry !== "";
  }

  push(text: string): string {
    if (this.idle) return text;
    const all = this.#carry + text;
    let cut = all.length - this.#hold;
    if (cut <= 0) {
      this.#carry = all;
      return "";
    }
    const spans = mergeSpans(this.#spans(all));
    // A spelling that straddles the cut is complete (an incomplete one starts after the cut),
    // so it goes out whole, as its marker.
    for (const span of spans) if (span.start < cut && span.end > cut) cut = span.end;
    this.#carry = all.slice(cut);
    return applySpans(
      all.slice(0, cut),
      spans.filter((s) => s.end <= cut),
    );
  }

  flush(): string {
    const rest = this.#carry;
    this.#carry = "";
    return applySpans(rest, mergeSpans(this.#spans(rest)));
  }

  #spans(text: string): Span[] {
    const spans: Span[] = [];
    for (const form of this.#forms) {
      for (let at = text.indexOf(form); at !== -1; at = text.indexOf(form, at + form.length)) {
        spans.push({ start: at, end: at + form.length, kind: SECRET_KIND });
      }
    }
    return spans;
  }
}
