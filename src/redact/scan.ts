import { toBase64, toBinary } from "../bytes";
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

/** Every rule's keywords, each once. */
const KEYWORDS = [...new Set(COMPILED.flatMap((rule) => rule.keywords))];

/**
 * Finds, in one pass over the text, the keyword starting at each position (the longest, as the
 * alternatives are sorted longest first); a shorter keyword at the same position is a prefix of
 * the longer one, so `keywordsIn` recovers it. One pass instead of one `includes` per rule: on
 * megabytes of output the per-rule scans took most of the control plane's time.
 */
const KEYWORD_AT = new RegExp(
  `(?=(${[...KEYWORDS]
    .sort((a, b) => b.length - a.length)
    .map((k) => k.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
    .join("|")}))`,
  "g",
);

/** The rule keywords that occur in `lower` (a lower-cased text). */
function keywordsIn(lower: string): Set<string> {
  const found = new Set<string>();
  for (const match of lower.matchAll(KEYWORD_AT)) found.add(match[1] as string);
  const present = new Set<string>();
  for (const keyword of KEYWORDS) {
    for (const hit of found) {
      if (hit.includes(keyword)) {
        present.add(keyword);
        break;
      }
    }
  }
  return present;
}

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
  const present = keywordsIn(text.toLowerCase());
  const spans: Span[] = [];
  if (present.size === 0) return spans;
  for (const rule of COMPILED) {
    if (!rule.keywords.some((k) => present.has(k))) continue;
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

/*
 * Spellings are matched in views of the text: the text itself, the text with its escapes decoded
 * (percent `%XX` in either hex case, JSON and JavaScript `\uXXXX`, `\xXX`, `\n`, `\"`, … in any
 * mix with plain characters), decoded twice (escaped JSON inside JSON, percent-encoded JSON), with
 * `+` read as a space (form encoding), and each of those with the line breaks inside base64 taken
 * out (base64 wrapped at any width). A match in a view maps back to the characters it came from.
 */
const ESCAPES = /%([0-9A-Fa-f]{2})|\\(?:u([0-9A-Fa-f]{4})|x([0-9A-Fa-f]{2})|(["\\/bfnrt]))/g;
const FORM_ESCAPES =
  /%([0-9A-Fa-f]{2})|\\(?:u([0-9A-Fa-f]{4})|x([0-9A-Fa-f]{2})|(["\\/bfnrt]))|\+/g;
const SIMPLE_ESCAPES: Record<string, string> = {
  '"': '"',
  "\\": "\\",
  "/": "/",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
};
const BASE64_LINE_BREAK = /(?<=[A-Za-z0-9+/=_-])\r?\n(?=[A-Za-z0-9+/_-])/g;

function decodeEscape(
  match: string,
  pct?: string,
  u?: string,
  x?: string,
  simple?: string,
): string {
  const hex = pct ?? u ?? x;
  if (hex !== undefined) return String.fromCharCode(Number.parseInt(hex, 16));
  if (simple !== undefined) return SIMPLE_ESCAPES[simple] ?? simple;
  return match === "+" ? " " : "";
}

/**
 * How many characters at the end of a view may still decode differently once more text arrives:
 * an unfinished escape (5), the same seen through a second decoding (10), a line break that waits
 * for the character after it (2). More than enough, since holding back more is always safe.
 */
const UNSETTLED_TAIL = 16;

/** A replacement made when a view was decoded from its parent. */
interface Shift {
  /** Where the replacement starts in the view. */
  at: number;
  /** Where the replaced characters start in the parent, and how many there were. */
  from: number;
  length: number;
  /** How many characters replaced them. */
  out: number;
}

interface View {
  text: string;
  parent: View | null;
  shifts: Shift[];
  /** Which spellings are looked for in it: plain values, base64 forms, or both. */
  plain: boolean;
  base64: boolean;
}

/** `parent` decoded by `re`, or null when nothing in it decodes (the view would be the same). */
function decoded(
  parent: View,
  re: RegExp,
  replace: (match: string, ...groups: (string | undefined)[]) => string,
  plain: boolean,
  base64: boolean,
): View | null {
  const shifts: Shift[] = [];
  let removed = 0;
  const text = parent.text.replace(re, (match: string, ...rest: unknown[]) => {
    const groups = rest.slice(0, -2) as (string | undefined)[];
    const offset = rest[rest.length - 2] as number;
    const out = replace(match, ...groups);
    shifts.push({ at: offset - removed, from: offset, length: match.length, out: out.length });
    removed += match.length - out.length;
    return out;
  });
  return shifts.length === 0 ? null : { text, parent, shifts, plain, base64 };
}

/** The range of `view.parent` that character `i` of `view` came from. */
function parentRange(view: View, i: number): [number, number] {
  const { shifts } = view;
  let lo = 0;
  let hi = shifts.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if ((shifts[mid]?.at ?? 0) <= i) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  const shift = shifts[found];
  if (shift === undefined) return [i, i + 1];
  if (i < shift.at + shift.out) return [shift.from, shift.from + shift.length];
  const p = shift.from + shift.length + (i - shift.at - shift.out);
  return [p, p + 1];
}

/** Characters `[start, end)` of `view` as a range of the original text. */
function toOriginal(view: View, start: number, end: number): [number, number] {
  let range: [number, number] = [start, end];
  for (let v: View = view; v.parent !== null; v = v.parent) {
    const first = parentRange(v, range[0]);
    const last = range[1] > range[0] ? parentRange(v, range[1] - 1) : first;
    range = [first[0], range[1] > range[0] ? last[1] : first[0]];
  }
  return range;
}

/** Where character `i` of `view` starts in the original text (its end when `i` is past it). */
function originalStart(view: View, i: number): number {
  let at = i;
  for (let v: View = view; v.parent !== null; v = v.parent) {
    if (at >= v.text.length) return originalLength(v);
    at = parentRange(v, at)[0];
  }
  return at;
}

function originalLength(view: View): number {
  let v = view;
  while (v.parent !== null) v = v.parent;
  return v.text.length;
}

/** Every view of `text` in which some spelling could be found. */
function viewsOf(text: string, formEncoded: boolean): View[] {
  const raw: View = { text, parent: null, shifts: [], plain: true, base64: true };
  const views = [raw];
  const once = /[%\\]/.test(text) ? decoded(raw, ESCAPES, decodeEscape, true, true) : null;
  const twice =
    once && /[%\\]/.test(once.text) ? decoded(once, ESCAPES, decodeEscape, true, true) : null;
  for (const v of [once, twice]) if (v) views.push(v);
  for (const v of [raw, once, twice]) {
    if (v?.text.includes("\n")) {
      const unwrapped = decoded(v, BASE64_LINE_BREAK, () => "", false, true);
      if (unwrapped) views.push(unwrapped);
    }
  }
  if (formEncoded && text.includes("+")) {
    const form = decoded(raw, FORM_ESCAPES, decodeEscape, true, false);
    if (form) views.push(form);
  }
  return views;
}

/** One spelling of one secret, with its KMP failure table for finding unfinished matches. */
interface Form {
  text: string;
  secret: number;
  base64: boolean;
  failure: Int32Array;
}

function failureTable(form: string): Int32Array {
  const table = new Int32Array(form.length);
  let k = 0;
  for (let i = 1; i < form.length; i++) {
    while (k > 0 && form[i] !== form[k]) k = table[k - 1] ?? 0;
    if (form[i] === form[k]) k++;
    table[i] = k;
  }
  return table;
}

/** The length of the longest end of `text[from, to)` that begins `form` without being all of it. */
function unfinished(text: string, from: number, to: number, form: Form): number {
  const f = form.text;
  let k = 0;
  for (let i = Math.max(from, to - f.length + 1); i < to; i++) {
    while (k > 0 && text[i] !== f[k]) k = form.failure[k - 1] ?? 0;
    if (text[i] === f[k]) k++;
    if (k === f.length) k = form.failure[k - 1] ?? 0;
  }
  return k;
}

/** A span of the original text that spells a secret, and which secret (its index). */
export interface SecretSpan {
  start: number;
  end: number;
  secret: number;
}

/**
 * Secret values prepared for finding them in text: plain (as text and as UTF-8 bytes read one
 * char per byte), base64 and base64url at any offset, each also through the views above.
 */
export class SecretMatcher {
  readonly #forms: Form[];
  readonly #formEncoded: boolean;

  constructor(values: readonly string[]) {
    const forms: Form[] = [];
    values.forEach((value, secret) => {
      if (value.length < MIN_SECRET_LENGTH) return;
      const seen = new Set<string>();
      const add = (text: string, base64: boolean) => {
        if (seen.has(text)) return;
        seen.add(text);
        forms.push({ text, secret, base64, failure: failureTable(text) });
      };
      add(value, false);
      // As its UTF-8 bytes read one char per byte: how it reads in a body.
      add(toBinary(new TextEncoder().encode(value)), false);
      for (const b64 of base64Forms(new TextEncoder().encode(value))) add(b64, true);
    });
    this.#forms = forms;
    this.#formEncoded = values.some((v) => v.length >= MIN_SECRET_LENGTH && v.includes(" "));
  }

  /** True when there is nothing to find (no values, or all too short to match safely). */
  get empty(): boolean {
    return this.#forms.length === 0;
  }

  /** Every spelling of a secret in `text`, as ranges of `text` (they may overlap). */
  spans(text: string): SecretSpan[] {
    return this.#scan(text, false).spans;
  }

  /**
   * For text that goes on: the spellings found so far, and `settled`, the index before which
   * no spelling can still be completed by what follows.
   */
  scanUnfinished(text: string): { spans: SecretSpan[]; settled: number } {
    return this.#scan(text, true);
  }

  #scan(text: string, unfinishedToo: boolean): { spans: SecretSpan[]; settled: number } {
    const spans: SecretSpan[] = [];
    let settled = text.length;
    if (this.empty) return { spans, settled };
    for (const view of viewsOf(text, this.#formEncoded)) {
      const t = view.text;
      // The end of a view may still change; what begins a spelling before it must wait.
      const end = unfinishedToo ? Math.max(0, t.length - UNSETTLED_TAIL) : t.length;
      if (unfinishedToo) settled = Math.min(settled, originalStart(view, end));
      for (const form of this.#forms) {
        if (form.base64 ? !view.base64 : !view.plain) continue;
        const f = form.text;
        for (let at = t.indexOf(f); at !== -1; at = t.indexOf(f, at + f.length)) {
          const [start, stop] = toOriginal(view, at, at + f.length);
          spans.push({ start, end: stop, secret: form.secret });
        }
        if (unfinishedToo) {
          const k = unfinished(t, 0, end, form);
          if (k > 0) settled = Math.min(settled, originalStart(view, end - k));
        }
      }
    }
    return { spans, settled };
  }
}

// Gateways and output redaction ask again and again for the same tenant's values.
const matchers = new Map<string, SecretMatcher>();
const MATCHER_CACHE_ENTRIES = 64;

/** The matcher for `values`, from a small cache keyed by the values themselves. */
export function matcherFor(values: readonly string[]): SecretMatcher {
  const key = JSON.stringify(values);
  let matcher = matchers.get(key);
  if (matcher === undefined) {
    matcher = new SecretMatcher(values);
    if (matchers.size >= MATCHER_CACHE_ENTRIES) {
      const oldest = matchers.keys().next().value;
      if (oldest !== undefined) matchers.delete(oldest);
    }
  } else {
    matchers.delete(key);
  }
  matchers.set(key, matcher);
  return matcher;
}

function secretSpans(spans: SecretSpan[]): Span[] {
  return spans.map((s) => ({ start: s.start, end: s.end, kind: SECRET_KIND }));
}

/**
 * Replaces each secret value with `[REDACTED:secret]`: plain, base64 and base64url at any offset
 * (also wrapped in lines), and through percent, form, JSON and JavaScript escapes, up to twice.
 */
export function scrubSecrets(text: string, values: readonly string[]): string {
  if (values.length === 0) return text;
  // Found in one pass over the original text, so a secret such as "secret" or "REDACTED" cannot
  // match inside a marker written for another one.
  return applySpans(text, mergeSpans(secretSpans(matcherFor(values).spans(text))));
}

/**
 * `scrubSecrets` over a stream of text that arrives in pieces. `push` returns what is safe to
 * pass on and holds back the tail that could still be the start of a secret's spelling; `flush`
 * scrubs and returns what is held back. `found` lists the secrets (by index) seen so far.
 */
export class SecretScrubber {
  readonly #matcher: SecretMatcher;
  readonly #found = new Set<number>();
  #carry = "";

  constructor(values: readonly string[]) {
    this.#matcher = matcherFor(values);
  }

  /** True when there is nothing to scrub, so callers may pass data through untouched. */
  get idle(): boolean {
    return this.#matcher.empty;
  }

  /** True while some text is held back. */
  get holding(): boolean {
    return this.#carry !== "";
  }

  /** The indexes of the values found so far, held back or passed on. */
  get found(): ReadonlySet<number> {
    return this.#found;
  }

  push(text: string): string {
    if (this.idle) return text;
    const all = this.#carry + text;
    const { spans, settled } = this.#matcher.scanUnfinished(all);
    for (const span of spans) this.#found.add(span.secret);
    const merged = mergeSpans(secretSpans(spans));
    let cut = settled;
    // A spelling across the cut waits whole for the next push, where it is found again.
    for (const span of merged) if (span.start < cut && span.end > cut) cut = span.start;
    this.#carry = all.slice(cut);
    return applySpans(
      all.slice(0, cut),
      merged.filter((s) => s.end <= cut),
    );
  }

  flush(): string {
    const rest = this.#carry;
    this.#carry = "";
    const spans = this.#matcher.spans(rest);
    for (const span of spans) this.#found.add(span.secret);
    return applySpans(rest, mergeSpans(secretSpans(spans)));
  }
}
