/**
 * The egress policy: decides, for every outbound fetch() or connect() of a guest, whether it may
 * leave. Pure (no DNS, no I/O), so the gateway, the admin API's validation and the tests share it.
 */

import {
  type Cidr,
  cidrContains,
  classify,
  type IpAddress,
  parseCidr,
  parseIPv4,
  parseIPv6,
} from "./addresses";

export type EgressRule =
  | string
  | {
      host: string;
      scheme?: "http" | "https";
      port?: number;
      methods?: string[];
      paths?: string[];
    };

export interface EgressPolicy {
  allow: EgressRule[];
}

export interface Decision {
  allowed: boolean;
  reason: string;
  /** The normalised URL (href, without userinfo or fragment), or the raw input if unparseable. */
  url: string;
}

export interface PolicyOptions {
  /** CORDON_ALLOW_PRIVATE_EGRESS=1: private, loopback and metadata addresses may be named by rules. */
  allowPrivate: boolean;
}

type Scheme = "http" | "https";

const DEFAULT_PORT: Record<Scheme, number> = { http: 80, https: 443 };

type HostPattern =
  | { kind: "name"; name: string }
  | { kind: "wildcard"; suffix: string }
  | { kind: "ip"; address: IpAddress }
  | { kind: "cidr"; block: Cidr };

interface CompiledRule {
  label: string;
  host: HostPattern;
  scheme: Scheme;
  port: number;
  methods: string[] | null;
  paths: string[] | null;
}

/** A destination after normalisation: `host` is what reasons print (IPv6 in brackets). */
interface Target {
  host: string;
  ip: IpAddress | null;
}

interface Attempt {
  /** null for a TCP connect, which has no scheme, method or path. */
  http: { scheme: Scheme; method: string; path: string } | null;
  port: number;
}

// Names that resolve only inside a private network, whatever a rule says.
const INTERNAL_SUFFIXES = [
  "localhost",
  "localdomain",
  "local",
  "internal",
  "home.arpa",
  "lan",
  "intranet",
  "corp",
  "home",
  "private",
];
const INTERNAL_NAMES = new Set(["metadata.google.internal", "metadata.tencentyun.com"]);

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const RULE_KEYS = new Set(["host", "scheme", "port", "methods", "paths"]);

/** Decides an outbound fetch(): allowed only if every layer allows it. */
export function decideFetch(
  layers: EgressPolicy[],
  method: string,
  url: string,
  options: PolicyOptions,
): Decision {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { allowed: false, reason: "invalid URL", url };
  }
  const scheme = parsed.protocol.slice(0, -1);
  if (scheme !== "http" && scheme !== "https") {
    return deny(`scheme ${scheme}: is not allowed`, scrub(parsed));
  }
  if (parsed.username !== "" || parsed.password !== "" || authorityHasAt(url)) {
    return deny("userinfo in URL is not allowed", scrub(parsed));
  }
  const target = normaliseHost(parsed.hostname);
  if (!target) {
    return deny(`invalid URL: host ${parsed.hostname} is not a valid DNS name`, scrub(parsed));
  }
  const port = parsed.port === "" ? DEFAULT_PORT[scheme] : Number(parsed.port);
  const portPart = port === DEFAULT_PORT[scheme] ? "" : `:${port}`;
  const href = `${scheme}://${target.host}${portPart}${parsed.pathname}${parsed.search}`;
  const attempt: Attempt = {
    http: { scheme, method: method.toUpperCase(), path: normalisePath(parsed.pathname) },
    port,
  };
  return decide(layers, target, attempt, options, href);
}

/** Decides a TCP connect() from cloudflare:sockets: rules match on host and port only. */
export function decideConnect(
  layers: EgressPolicy[],
  host: string,
  port: number,
  options: PolicyOptions,
): Decision {
  const raw = `tcp://${host}:${port}`;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    return deny(`invalid URL: port ${port} is out of range`, raw);
  }
  const target = parseBareHost(host);
  if (!target) return deny(`invalid URL: ${host} is not a valid host`, raw);
  return decide(layers, target, { http: null, port }, options, `tcp://${target.host}:${port}`);
}

/** Validates a rule at write time; returns error messages (empty when the rule is valid). */
export function ruleErrors(rule: EgressRule): string[] {
  const compiled = compileRule(rule);
  return Array.isArray(compiled) ? compiled : [];
}

function deny(reason: string, url: string): Decision {
  return { allowed: false, reason, url };
}

function decide(
  layers: EgressPolicy[],
  target: Target,
  attempt: Attempt,
  options: PolicyOptions,
  url: string,
): Decision {
  if (!options.allowPrivate) {
    const kind = privateKind(target);
    if (kind) return deny(`private address ${target.host} is not allowed (${kind})`, url);
  }
  // No layer at all means nobody granted anything.
  const effective = layers.length === 0 ? [{ allow: [] }] : layers;
  const labels: string[] = [];
  for (const layer of effective) {
    const verdict = decideLayer(layer, target, attempt);
    if (!verdict.allowed) return deny(verdict.reason, url);
    if (!labels.includes(verdict.reason)) labels.push(verdict.reason);
  }
  return { allowed: true, reason: `allowed by rule ${labels.join(" and rule ")}`, url };
}

/**
 * Rules as decisions read them, by the rules array they were compiled from: a policy is compiled
 * the first time a decision meets it, and every later decision over it (each redirect hop, each
 * request of the execution, each execution of a cached tenant policy) reads the prepared rules.
 * Keyed by the array rather than the policy, since a secret's hosts are wrapped in a new policy
 * for every request they are checked on. Policies are never changed once stored or parsed.
 */
const preparedRules = new WeakMap<readonly EgressRule[], readonly CompiledRule[]>();

/** The layer's valid rules, compiled once; invalid ones allow nothing (writes refuse them). */
function rulesOf(layer: EgressPolicy): readonly CompiledRule[] {
  const rules: unknown = layer?.allow;
  if (!Array.isArray(rules)) return [];
  let compiled = preparedRules.get(rules);
  if (compiled === undefined) {
    compiled = rules.map(compileRule).filter((rule): rule is CompiledRule => !Array.isArray(rule));
    preparedRules.set(rules, compiled);
  }
  return compiled;
}

/** On success, `reason` is the matching rule's label. */
function decideLayer(
  layer: EgressPolicy,
  target: Target,
  attempt: Attempt,
): { allowed: boolean; reason: string } {
  let nearest: { stage: number; reason: string } | null = null;
  for (const compiled of rulesOf(layer)) {
    if (!hostMatches(compiled.host, target)) continue;
    const miss = mismatch(compiled, target, attempt);
    if (!miss) return { allowed: true, reason: compiled.label };
    // Report the rule that came closest, so the reason names what the user must change.
    if (!nearest || miss.stage > nearest.stage) nearest = miss;
  }
  if (nearest) return { allowed: false, reason: nearest.reason };
  const reason = target.ip
    ? `IP literal ${target.host} is not allowed (name it in a rule)`
    : `no rule allows ${target.host}`;
  return { allowed: false, reason };
}

function mismatch(
  rule: CompiledRule,
  target: Target,
  attempt: Attempt,
): { stage: number; reason: string } | null {
  const { http } = attempt;
  if (http && http.scheme !== rule.scheme) {
    return { stage: 0, reason: `scheme ${http.scheme} not allowed for ${target.host}` };
  }
  if (attempt.port !== rule.port) {
    return { stage: 1, reason: `port ${attempt.port} not allowed for ${target.host}` };
  }
  if (!http) {
    // A raw socket could speak any method to any path, so a rule that narrows them cannot admit it.
    if (rule.methods || rule.paths) {
      return { stage: 2, reason: `method CONNECT not allowed for ${target.host}` };
    }
    return null;
  }
  if (rule.methods && !rule.methods.includes(http.method)) {
    return { stage: 2, reason: `method ${http.method} not allowed for ${target.host}` };
  }
  if (rule.paths && !rule.paths.some((p) => http.path.startsWith(p))) {
    return { stage: 3, reason: `path ${http.path} not allowed for ${target.host}` };
  }
  return null;
}

function hostMatches(pattern: HostPattern, target: Target): boolean {
  const { ip } = target;
  switch (pattern.kind) {
    case "name":
      return !ip && target.host === pattern.name;
    case "wildcard":
      return !ip && target.host.endsWith(`.${pattern.suffix}`);
    case "ip":
      return !!ip && ip.version === pattern.address.version && ip.bits === pattern.address.bits;
    case "cidr":
      return !!ip && cidrContains(pattern.block, ip);
  }
}

function privateKind(target: Target): string | null {
  if (target.ip) return classify(target.ip);
  const { host } = target;
  if (INTERNAL_NAMES.has(host)) return "cloud metadata";
  // A dotless name is resolved through the local search domains (`metadata`, `instance-data`).
  if (!host.includes(".")) return "internal hostname";
  for (const suffix of INTERNAL_SUFFIXES) {
    if (host === suffix || host.endsWith(`.${suffix}`)) return "internal hostname";
  }
  return null;
}

/**
 * Canonicalises a hostname the URL parser produced: trailing dots go, and whatever is left is
 * parsed again, since `127.0.0.1..` only becomes an IP address once its dots are stripped.
 */
function normaliseHost(hostname: string): Target | null {
  let host = hostname;
  for (;;) {
    const stripped = host.replace(/\.+$/, "");
    if (stripped === host) break;
    if (stripped === "") return null;
    try {
      host = new URL(`https://${stripped}/`).hostname;
    } catch {
      return null;
    }
  }
  if (host.startsWith("[")) {
    const ip = parseIPv6(host);
    return ip ? { host, ip } : null;
  }
  const v4 = parseIPv4(host);
  if (v4) return { host, ip: v4 };
  // The URL parser lets `*`, `;`, `$` and friends through; a resolver or proxy might not agree on
  // what they mean, so only real DNS labels pass (underscore included: it occurs in SRV-ish names).
  if (!/^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/.test(host)) return null;
  return { host, ip: null };
}

/** Normalises a host written without a URL around it (connect() targets and rule hosts). */
function parseBareHost(text: string): Target | null {
  // Characters that would make the URL parser read a path, port, query or userinfo instead.
  if (text === "" || hasControlOrSpace(text) || /[/\\?#@%]/.test(text)) return null;
  let host = text;
  if (host.includes(":")) {
    if (!host.startsWith("[")) host = `[${host}]`;
    if (!host.endsWith("]")) return null;
  }
  let parsed: URL;
  try {
    parsed = new URL(`https://${host}/`);
  } catch {
    return null;
  }
  if (parsed.port !== "" || parsed.pathname !== "/" || parsed.username !== "") return null;
  return normaliseHost(parsed.hostname);
}

/**
 * Looks for userinfo the way an RFC 3986 parser would, not only the WHATWG way: in
 * `https://allowed.com\@evil.com` WHATWG sees host allowed.com, a different parser sees evil.com,
 * and an empty `https://@host` leaves no trace in the parsed URL at all.
 */
function authorityHasAt(raw: string): boolean {
  const stripped = raw.replace(/[\t\n\r]/g, "");
  let start = 0;
  // The URL parser drops leading C0 controls and spaces before it looks for the scheme.
  while (start < stripped.length && stripped.charCodeAt(start) <= 0x20) start++;
  const s = stripped.slice(start);
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:/.exec(s);
  if (!scheme) return false;
  const rest = s.slice(scheme[0].length).replace(/^[/\\]+/, "");
  const end = rest.search(/[/?#]/);
  return (end < 0 ? rest : rest.slice(0, end)).includes("@");
}

/**
 * The path that path rules match against. Beyond what the URL parser already did, it decodes
 * unreserved characters and encoded slashes and resolves dot segments again, also `..;` (which
 * servlet containers treat as `..`), so `/repos/..%2fadmin` cannot pass a `/repos/` rule.
 */
function normalisePath(pathname: string): string {
  const decoded = pathname.replace(/%([0-9A-Fa-f]{2})/g, (match, hex: string) => {
    const c = String.fromCharCode(Number.parseInt(hex, 16));
    if (c === "/" || c === "\\") return "/";
    return /[A-Za-z0-9\-._~]/.test(c) ? c : match;
  });
  const segments = decoded.replace(/\\/g, "/").split("/").slice(1);
  const out: string[] = [];
  for (const [i, segment] of segments.entries()) {
    const bare = segment.split(";")[0];
    if (bare === "." || bare === "..") {
      if (bare === "..") out.pop();
      // `/a/b/..` is the directory `/a/`, not the file `/a`.
      if (i === segments.length - 1) out.push("");
      continue;
    }
    out.push(segment);
  }
  return `/${out.join("/")}`;
}

/** True for spaces and C0/C1 controls, none of which belong in a host, a rule or a path. */
function hasControlOrSpace(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c <= 0x20 || (c >= 0x7f && c <= 0x9f)) return true;
  }
  return false;
}

function scrub(url: URL): string {
  const copy = new URL(url.href);
  copy.username = "";
  copy.password = "";
  copy.hash = "";
  return copy.href;
}

function compileRule(rule: EgressRule): CompiledRule | string[] {
  if (typeof rule === "string") return compileStringRule(rule);
  if (typeof rule !== "object" || rule === null || Array.isArray(rule)) {
    return ["a rule must be a host string or an object with a host"];
  }
  return compileObjectRule(rule);
}

function compileStringRule(rule: string): CompiledRule | string[] {
  const quoted = JSON.stringify(rule);
  if (rule === "") return ["a rule must not be empty"];
  if (hasControlOrSpace(rule)) {
    return [`rule ${quoted} contains whitespace or control characters`];
  }
  let rest = rule;
  let scheme: Scheme = "https";
  const schemeMatch = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(rule);
  if (schemeMatch) {
    const name = (schemeMatch[1] ?? "").toLowerCase();
    if (name !== "http" && name !== "https") {
      return [`rule ${quoted}: scheme ${name} is not allowed (only http and https)`];
    }
    scheme = name;
    rest = rest.slice(schemeMatch[0].length);
  }
  if (rest.includes("@")) return [`rule ${quoted} must not contain userinfo`];
  if (/[?#\\]/.test(rest)) {
    return [`rule ${quoted} may only name a scheme, host and port (use an object rule for paths)`];
  }
  // Tolerate the trailing slash of a pasted origin, `https://api.github.com/`.
  if (rest.endsWith("/") && rest.indexOf("/") === rest.length - 1) rest = rest.slice(0, -1);

  let hostText: string;
  let portText: string | undefined;
  if (rest.startsWith("[")) {
    const close = rest.indexOf("]");
    if (close < 0) return [`rule ${quoted} has an unterminated IPv6 address`];
    const after = rest.slice(close + 1);
    const m = /^(\/[^:]*)?(?::(.*))?$/.exec(after);
    if (!m) return [`rule ${quoted} has text after the IPv6 address`];
    hostText = rest.slice(0, close + 1) + (m[1] ?? "");
    portText = m[2];
  } else if (rest.split(":").length > 2) {
    // A bare IPv6 address (or CIDR) cannot carry a port: its colons would be ambiguous.
    hostText = rest;
  } else {
    const colon = rest.indexOf(":");
    hostText = colon < 0 ? rest : rest.slice(0, colon);
    portText = colon < 0 ? undefined : rest.slice(colon + 1);
  }
  const errors: string[] = [];
  let port = DEFAULT_PORT[scheme];
  if (portText !== undefined) {
    const parsed = parsePort(portText);
    if (typeof parsed === "string") errors.push(`rule ${quoted}: ${parsed}`);
    else port = parsed;
  }
  const host = compileHost(hostText);
  if (typeof host === "string") errors.push(`rule ${quoted}: ${host}`);
  if (errors.length > 0 || typeof host === "string") return errors;
  return { label: rule, host, scheme, port, methods: null, paths: null };
}

function compileObjectRule(rule: Record<string, unknown>): CompiledRule | string[] {
  const errors: string[] = [];
  for (const key of Object.keys(rule)) {
    if (!RULE_KEYS.has(key)) errors.push(`unknown field "${key}" in rule`);
  }
  let host: HostPattern | string = "host must be a non-empty string";
  if (typeof rule.host === "string" && rule.host !== "") {
    if (rule.host.includes("://")) host = "host must not include a scheme; use the scheme field";
    else host = compileHost(rule.host, true);
  }
  const label = JSON.stringify(rule.host);
  if (typeof host === "string") errors.push(`host ${label}: ${host}`);

  let scheme: Scheme = "https";
  if (rule.scheme !== undefined) {
    const s = typeof rule.scheme === "string" ? rule.scheme.toLowerCase() : "";
    if (s === "http" || s === "https") scheme = s;
    else errors.push(`scheme ${JSON.stringify(rule.scheme)} is not allowed (only http and https)`);
  }
  let port = DEFAULT_PORT[scheme];
  if (rule.port !== undefined) {
    const p = rule.port;
    if (typeof p === "number" && Number.isInteger(p) && p >= 1 && p <= 65535) port = p;
    else errors.push(`port ${JSON.stringify(p)} must be an integer between 1 and 65535`);
  }
  const methods = stringList(rule.methods, "methods", errors, (m) =>
    TOKEN.test(m) ? null : `method ${JSON.stringify(m)} is not a valid HTTP method`,
  );
  const paths = stringList(rule.paths, "paths", errors, (p) =>
    p.startsWith("/") && !hasControlOrSpace(p) && !/[?#]/.test(p)
      ? null
      : `path ${JSON.stringify(p)} must start with / and contain no spaces, ? or #`,
  );
  if (errors.length > 0 || typeof host === "string") return errors;
  return {
    label: ruleLabel(rule),
    host,
    scheme,
    port,
    methods: methods?.map((m) => m.toUpperCase()) ?? null,
    paths: paths?.map(normalisePath) ?? null,
  };
}

function stringList(
  value: unknown,
  field: string,
  errors: string[],
  check: (item: string) => string | null,
): string[] | null {
  if (value === undefined) return null;
  if (!Array.isArray(value) || value.length === 0) {
    errors.push(`${field} must be a non-empty array of strings (leave it out to allow any)`);
    return null;
  }
  const out: string[] = [];
  for (const item of value) {
    if (typeof item !== "string") {
      errors.push(`${field} must contain only strings`);
      continue;
    }
    const problem = check(item);
    if (problem) errors.push(problem);
    else out.push(item);
  }
  return out;
}

/** A stable label for an object rule, fields in a fixed order whatever order the user wrote. */
function ruleLabel(rule: Record<string, unknown>): string {
  const ordered: Record<string, unknown> = {};
  for (const key of RULE_KEYS) if (rule[key] !== undefined) ordered[key] = rule[key];
  return JSON.stringify(ordered);
}

function parsePort(text: string): number | string {
  if (!/^[0-9]{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) {
    return `port ${text} must be an integer between 1 and 65535`;
  }
  return Number(text);
}

/** Compiles a rule's host: a name, `*.suffix`, an IP address or a CIDR block. */
function compileHost(text: string, bare = false): HostPattern | string {
  if (bare && /^[^:[\]]+:[0-9]*$/.test(text)) {
    return "host must not include a port; use the port field";
  }
  const cidr = /^([^/]*)\/([0-9]+)$/.exec(text);
  if (cidr) {
    const target = parseBareHost(cidr[1] ?? "");
    if (!target?.ip) return `${text} is not a valid CIDR block (address/prefix length)`;
    const block = parseCidr(target.ip, cidr[2] ?? "");
    return typeof block === "string" ? block : { kind: "cidr", block };
  }
  if (text.includes("/")) return `${text}: a host has no path (use an object rule with paths)`;
  if (text.includes("*")) {
    if (!text.startsWith("*.") || text.slice(2).includes("*")) {
      return `wildcard ${text} must be "*." followed by a domain`;
    }
    const suffix = parseBareHost(text.slice(2));
    if (!suffix || suffix.ip) return `wildcard ${text} must be "*." followed by a domain`;
    // A wildcard over a top-level domain would open a whole registry.
    if (!suffix.host.includes("."))
      return `wildcard ${text} is too broad: name at least two labels`;
    return { kind: "wildcard", suffix: suffix.host };
  }
  const target = parseBareHost(text);
  if (!target) return `${text} is not a valid host name or IP address`;
  return target.ip ? { kind: "ip", address: target.ip } : { kind: "name", name: target.host };
}
