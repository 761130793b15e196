/**
 * IP address parsing and classification for the egress policy. Pure: no DNS, no I/O.
 *
 * Addresses are held as bigints so IPv4 and IPv6 share one CIDR routine. Parsers accept only the
 * canonical spellings the WHATWG URL parser produces (callers canonicalise through `URL` first),
 * which keeps the attack surface of this file small.
 */

export interface IpAddress {
  version: 4 | 6;
  bits: bigint;
}

export interface Cidr {
  version: 4 | 6;
  network: bigint;
  prefix: number;
}

const WIDTH = { 4: 32, 6: 128 } as const;

/** Parses a dotted-quad IPv4 address with decimal octets and no leading zeros. */
export function parseIPv4(text: string): IpAddress | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  let bits = 0n;
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return null;
    const octet = Number(part);
    if (octet > 255) return null;
    bits = (bits << 8n) | BigInt(octet);
  }
  return { version: 4, bits };
}

/** Parses an IPv6 address (with or without brackets, `::` and a trailing dotted quad allowed). */
export function parseIPv6(text: string): IpAddress | null {
  let body = text;
  if (body.startsWith("[") && body.endsWith("]")) body = body.slice(1, -1);
  // Zone ids name an interface on this machine: never meaningful for an outbound request.
  if (body.includes("%") || body.length === 0) return null;
  const halves = body.split("::");
  if (halves.length > 2) return null;
  const head = halves[0] === "" ? [] : (halves[0] ?? "").split(":");
  const tail = halves.length === 2 ? (halves[1] === "" ? [] : (halves[1] ?? "").split(":")) : [];
  const groups: number[] = [];
  const parseGroups = (list: string[], allowQuad: boolean): number[] | null => {
    const out: number[] = [];
    for (let i = 0; i < list.length; i++) {
      const g = list[i] ?? "";
      if (allowQuad && i === list.length - 1 && g.includes(".")) {
        const v4 = parseIPv4(g);
        if (!v4) return null;
        out.push(Number(v4.bits >> 16n), Number(v4.bits & 0xffffn));
        continue;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      out.push(Number.parseInt(g, 16));
    }
    return out;
  };
  const headGroups = parseGroups(head, halves.length === 1);
  const tailGroups = parseGroups(tail, true);
  if (!headGroups || !tailGroups) return null;
  if (halves.length === 1) {
    if (headGroups.length !== 8) return null;
    groups.push(...headGroups);
  } else {
    const missing = 8 - headGroups.length - tailGroups.length;
    // "::" stands for at least one zero group.
    if (missing < 1) return null;
    groups.push(...headGroups, ...new Array<number>(missing).fill(0), ...tailGroups);
  }
  let bits = 0n;
  for (const g of groups) bits = (bits << 16n) | BigInt(g);
  return { version: 6, bits };
}

/** Parses either family; IPv6 may be bracketed. */
export function parseIp(text: string): IpAddress | null {
  return text.includes(":") ? parseIPv6(text) : parseIPv4(text);
}

/** Formats an IPv4 address as a dotted quad. */
export function formatIPv4(bits: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => String((bits >> s) & 0xffn)).join(".");
}

/** Parses `addr/prefix`; returns an error message when it is not a valid CIDR block. */
export function parseCidr(address: IpAddress, prefixText: string): Cidr | string {
  const width = WIDTH[address.version];
  if (!/^(0|[1-9][0-9]{0,2})$/.test(prefixText) || Number(prefixText) > width) {
    return `CIDR prefix length /${prefixText} must be between 0 and ${width}`;
  }
  const prefix = Number(prefixText);
  const network = maskTo(address.bits, prefix, width);
  if (network !== address.bits) {
    return "CIDR block has host bits set after the prefix length";
  }
  return { version: address.version, network, prefix };
}

/** True when the CIDR block contains the address (same family only). */
export function cidrContains(block: Cidr, address: IpAddress): boolean {
  if (block.version !== address.version) return false;
  return maskTo(address.bits, block.prefix, WIDTH[block.version]) === block.network;
}

function maskTo(bits: bigint, prefix: number, width: number): bigint {
  const hostBits = BigInt(width - prefix);
  return (bits >> hostBits) << hostBits;
}

interface Range {
  block: Cidr;
  kind: string;
}

function range(text: string, kind: string): Range {
  const slash = text.lastIndexOf("/");
  const address = parseIp(slash < 0 ? text : text.slice(0, slash));
  if (!address) throw new Error(`bad built-in range ${text}`);
  const prefix = slash < 0 ? String(WIDTH[address.version]) : text.slice(slash + 1);
  const block = parseCidr(address, prefix);
  if (typeof block === "string") throw new Error(`bad built-in range ${text}: ${block}`);
  return { block, kind };
}

// Most specific first: the first hit names the kind in the denial reason.
const V4_RANGES: Range[] = [
  range("169.254.169.254", "cloud metadata"),
  range("169.254.170.2", "ECS task credentials"),
  range("169.254.170.23", "EKS pod identity"),
  range("169.254.0.23", "Tencent Cloud metadata"),
  range("100.100.100.200", "Alibaba Cloud metadata"),
  range("192.0.0.192", "Oracle Cloud metadata"),
  // A public address, but Azure routes it to the host's WireServer from inside every VM.
  range("168.63.129.16", "Azure WireServer"),
  range("255.255.255.255", "broadcast"),
  range("0.0.0.0/8", "unspecified"),
  range("10.0.0.0/8", "private"),
  range("100.64.0.0/10", "carrier-grade NAT"),
  range("127.0.0.0/8", "loopback"),
  range("169.254.0.0/16", "link-local"),
  range("172.16.0.0/12", "private"),
  range("192.0.0.0/24", "IETF protocol assignments"),
  range("192.0.2.0/24", "documentation"),
  range("192.88.99.0/24", "6to4 relay anycast"),
  range("192.168.0.0/16", "private"),
  range("198.18.0.0/15", "benchmarking"),
  range("198.51.100.0/24", "documentation"),
  range("203.0.113.0/24", "documentation"),
  range("224.0.0.0/4", "multicast"),
  range("240.0.0.0/4", "reserved"),
];

const V6_RANGES: Range[] = [
  range("::/128", "unspecified"),
  range("::1/128", "loopback"),
  range("64:ff9b:1::/48", "local-use NAT64"),
  range("100::/64", "discard-only"),
  range("2001:2::/48", "benchmarking"),
  range("2001:10::/28", "ORCHID"),
  range("2001:20::/28", "ORCHIDv2"),
  range("2001:db8::/32", "documentation"),
  range("3fff::/20", "documentation"),
  range("fd00:ec2::254/128", "cloud metadata"),
  range("fc00::/7", "unique local"),
  range("fe80::/10", "link-local"),
  range("fec0::/10", "site-local"),
  range("ff00::/8", "multicast"),
];

const GLOBAL_UNICAST = range("2000::/3", "global unicast").block;

interface Embedding {
  block: Cidr;
  name: string;
  extract: (bits: bigint) => bigint[];
}

const low32 = (bits: bigint): bigint[] => [bits & 0xffffffffn];

// Addresses that carry an IPv4 address inside them reach that IPv4 host on some path, so the
// embedded address is classified as if it had been written directly.
const EMBEDDINGS: Embedding[] = [
  { block: range("::ffff:0:0/96", "").block, name: "an IPv4-mapped", extract: low32 },
  { block: range("::ffff:0:0:0/96", "").block, name: "an IPv4-translated", extract: low32 },
  { block: range("::/96", "").block, name: "an IPv4-compatible", extract: low32 },
  { block: range("64:ff9b::/96", "").block, name: "a NAT64", extract: low32 },
  {
    block: range("2002::/16", "").block,
    name: "a 6to4",
    extract: (bits) => [(bits >> 80n) & 0xffffffffn],
  },
  {
    block: range("2001::/32", "").block,
    name: "a Teredo",
    // Server in bits 32-63; client in the last 32 bits, stored inverted.
    extract: (bits) => [(bits >> 64n) & 0xffffffffn, ~bits & 0xffffffffn],
  },
];

/** Why an address must not be reached, or null when it is an ordinary public address. */
export function classify(address: IpAddress): string | null {
  if (address.version === 4) return classifyV4(address);
  for (const r of V6_RANGES) if (cidrContains(r.block, address)) return r.kind;
  for (const e of EMBEDDINGS) {
    if (!cidrContains(e.block, address)) continue;
    for (const v4 of e.extract(address.bits)) {
      const kind = classifyV4({ version: 4, bits: v4 });
      if (kind) return `${kind} ${formatIPv4(v4)} embedded in ${e.name} address`;
    }
    return null;
  }
  if (!cidrContains(GLOBAL_UNICAST, address)) return "reserved";
  return null;
}

function classifyV4(address: IpAddress): string | null {
  for (const r of V4_RANGES) if (cidrContains(r.block, address)) return r.kind;
  return null;
}
