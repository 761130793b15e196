import { describe, expect, it } from "vitest";
import {
  decideConnect,
  decideFetch,
  type EgressPolicy,
  type EgressRule,
  ruleErrors,
} from "../../src/egress/policy";

const STRICT = { allowPrivate: false };
const PRIVATE_OK = { allowPrivate: true };

// Names private addresses too: a rule must not be able to open them without the server flag.
const TENANT: EgressPolicy = {
  allow: [
    "allowed.com",
    "*.wild.com",
    "http://plain.com:8080",
    { host: "api.github.com", methods: ["GET", "HEAD"], paths: ["/repos/"] },
    "8.8.8.8",
    "[2606:4700:4700::1111]",
    "exämple.com",
    "127.0.0.1",
    "10.0.0.0/8",
    "169.254.169.254",
    "[::1]",
    "[fd00::]/8",
    "localhost",
    "metadata.google.internal",
  ],
};

interface DenyRow {
  name: string;
  url: string;
  reason: string;
  method?: string;
}

const PRIVATE = "private address";
const USERINFO = "userinfo in URL is not allowed";
const INVALID = "invalid URL";

const denied: DenyRow[] = [
  // Default deny and parser differentials.
  {
    name: "denies a host no rule names",
    url: "https://evil.com/",
    reason: "no rule allows evil.com",
  },
  {
    name: "denies a fragment that hides an allowed host behind @",
    url: "http://evil.com#@allowed.com",
    reason: "no rule allows evil.com",
  },
  {
    name: "denies an https fragment that hides an allowed host behind @",
    url: "https://evil.com/#@allowed.com/",
    reason: "no rule allows evil.com",
  },
  {
    name: "denies an allowed host used as userinfo for another host",
    url: "https://allowed.com@evil.com/",
    reason: USERINFO,
  },
  {
    name: "denies an allowed host and port used as userinfo",
    url: "https://allowed.com:443@evil.com/",
    reason: USERINFO,
  },
  {
    name: "denies a username and password",
    url: "https://user:pass@allowed.com/",
    reason: USERINFO,
  },
  { name: "denies a username alone", url: "https://user@allowed.com/", reason: USERINFO },
  { name: "denies an empty userinfo", url: "https://@allowed.com/", reason: USERINFO },
  {
    name: "denies an empty username and password",
    url: "https://:@allowed.com/",
    reason: USERINFO,
  },
  {
    name: "denies a backslash before @ (host differs between parsers)",
    url: "https://allowed.com\\@evil.com/",
    reason: USERINFO,
  },
  {
    name: "denies an encoded slash inside userinfo",
    url: "https://allowed.com%2f@evil.com/",
    reason: USERINFO,
  },
  {
    name: "denies an ampersand before @",
    url: "https://allowed.com&@evil.com#@allowed.com",
    reason: USERINFO,
  },
  {
    name: "denies a CRLF that the URL parser strips before @",
    url: "https://allowed.com\r\n@evil.com/",
    reason: USERINFO,
  },
  {
    name: "denies userinfo after leading spaces",
    url: "  https://@allowed.com/",
    reason: USERINFO,
  },
  {
    name: "denies userinfo written without slashes",
    url: "https:user@allowed.com",
    reason: USERINFO,
  },
  {
    name: "denies an encoded @ in the host",
    url: "https://allowed.com%40evil.com/",
    reason: INVALID,
  },
  {
    name: "denies an allowed host placed in the query",
    url: "https://evil.com?.allowed.com",
    reason: "no rule allows evil.com",
  },
  {
    name: "denies an allowed host placed in the path",
    url: "https://evil.com/.allowed.com",
    reason: "no rule allows evil.com",
  },
  {
    name: "denies an allowed host after a backslash",
    url: "https://evil.com\\.allowed.com",
    reason: "no rule allows evil.com",
  },
  {
    name: "denies an allowed host used as a subdomain prefix",
    url: "https://allowed.com.evil.com/",
    reason: "no rule allows allowed.com.evil.com",
  },
  {
    name: "denies an allowed host as a name suffix without a dot",
    url: "https://evilallowed.com/",
    reason: "no rule allows evilallowed.com",
  },
  {
    name: "denies a tab that joins the allowed host to another",
    url: "https://allowed.com\t.evil.com/",
    reason: "no rule allows allowed.com.evil.com",
  },
  {
    name: "denies a newline that joins the allowed host to another",
    url: "https://allowed.com\n.evil.com/",
    reason: "no rule allows allowed.com.evil.com",
  },
  {
    name: "denies a percent-encoded tab in the host",
    url: "https://allowed.com%09.evil.com/",
    reason: INVALID,
  },
  {
    name: "denies a percent-encoded NUL in the host",
    url: "https://allowed.com%00.evil.com/",
    reason: INVALID,
  },
  {
    name: "denies a semicolon that only some resolvers accept",
    url: "https://evil.com;.wild.com/",
    reason: INVALID,
  },
  {
    name: "denies a scheme without slashes",
    url: "https:evil.com",
    reason: "no rule allows evil.com",
  },
  {
    name: "denies mixed slashes after the scheme",
    url: "https:/\\evil.com/",
    reason: "no rule allows evil.com",
  },
  {
    name: "denies three slashes after the scheme",
    url: "https:///evil.com/",
    reason: "no rule allows evil.com",
  },
  { name: "denies a literal asterisk host", url: "https://*.wild.com/", reason: INVALID },
  {
    name: "denies a DNS-rebinding name that embeds a metadata address",
    url: "http://169.254.169.254.nip.io/",
    reason: "no rule allows 169.254.169.254.nip.io",
  },
  // Ports and schemes of a named host.
  {
    name: "denies a port the rule does not name",
    url: "https://allowed.com:8443/",
    reason: "port 8443 not allowed for allowed.com",
  },
  {
    name: "denies port 80 on https",
    url: "https://allowed.com:80/",
    reason: "port 80 not allowed for allowed.com",
  },
  {
    name: "denies port 0",
    url: "https://allowed.com:0/",
    reason: "port 0 not allowed for allowed.com",
  },
  { name: "denies a port above 65535", url: "https://allowed.com:65536/", reason: INVALID },
  { name: "denies a negative port", url: "https://allowed.com:-1/", reason: INVALID },
  { name: "denies text after the port", url: "https://allowed.com:443.evil.com/", reason: INVALID },
  {
    name: "denies plain http to an https-only rule",
    url: "http://allowed.com/",
    reason: "scheme http not allowed for allowed.com",
  },
  {
    name: "denies http on port 443 to an https-only rule",
    url: "http://allowed.com:443/",
    reason: "scheme http not allowed for allowed.com",
  },
  {
    name: "denies the default port of an http:8080 rule",
    url: "http://plain.com/",
    reason: "port 80 not allowed for plain.com",
  },
  {
    name: "denies https to an http rule",
    url: "https://plain.com:8080/",
    reason: "scheme https not allowed for plain.com",
  },
  // Wildcards never match their apex.
  {
    name: "denies the apex of a wildcard",
    url: "https://wild.com/",
    reason: "no rule allows wild.com",
  },
  {
    name: "denies the apex of a wildcard with a trailing dot",
    url: "https://wild.com./",
    reason: "no rule allows wild.com",
  },
  {
    name: "denies the upper-case apex of a wildcard",
    url: "https://WILD.COM/",
    reason: "no rule allows wild.com",
  },
  {
    name: "denies a name that only ends like a wildcard suffix",
    url: "https://notwild.com/",
    reason: "no rule allows notwild.com",
  },
  {
    name: "denies a wildcard suffix followed by another domain",
    url: "https://a.wild.com.evil.com/",
    reason: "no rule allows a.wild.com.evil.com",
  },
  {
    name: "denies an empty leading label under a wildcard",
    url: "https://.wild.com/",
    reason: INVALID,
  },
  {
    name: "denies an empty inner label under a wildcard",
    url: "https://a..wild.com/",
    reason: INVALID,
  },
  // Methods and paths of an object rule.
  {
    name: "denies a method the rule does not list",
    method: "POST",
    url: "https://api.github.com/repos/x",
    reason: "method POST not allowed for api.github.com",
  },
  {
    name: "denies a lower-case method the rule does not list",
    method: "delete",
    url: "https://api.github.com/repos/x",
    reason: "method DELETE not allowed for api.github.com",
  },
  {
    name: "denies a path outside the rule's prefixes",
    url: "https://api.github.com/admin",
    reason: "path /admin not allowed for api.github.com",
  },
  {
    name: "denies dot segments that leave the allowed prefix",
    url: "https://api.github.com/repos/../admin",
    reason: "path /admin not allowed for api.github.com",
  },
  {
    name: "denies encoded dot segments",
    url: "https://api.github.com/repos/%2e%2e/admin",
    reason: "path /admin not allowed for api.github.com",
  },
  {
    name: "denies upper-case encoded dot segments",
    url: "https://api.github.com/repos/%2E%2E/admin",
    reason: "path /admin not allowed for api.github.com",
  },
  {
    name: "denies a dot segment joined by an encoded slash",
    url: "https://api.github.com/repos/..%2fadmin",
    reason: "path /admin not allowed for api.github.com",
  },
  {
    name: "denies a dot segment joined by an encoded backslash",
    url: "https://api.github.com/repos/..%5cadmin",
    reason: "path /admin not allowed for api.github.com",
  },
  {
    name: "denies backslash dot segments",
    url: "https://api.github.com/repos\\..\\admin",
    reason: "path /admin not allowed for api.github.com",
  },
  {
    name: "denies a servlet-style ..; segment",
    url: "https://api.github.com/repos/..;/admin",
    reason: "path /admin not allowed for api.github.com",
  },
  {
    name: "denies encoded slashes that climb out of the prefix",
    url: "https://api.github.com/repos%2f..%2f..%2fadmin",
    reason: "path /admin not allowed for api.github.com",
  },
  {
    name: "denies a path equal to the prefix without its trailing slash",
    url: "https://api.github.com/repos",
    reason: "path /repos not allowed for api.github.com",
  },
  {
    name: "denies a path that differs from the prefix only in case",
    url: "https://api.github.com/REPOS/x",
    reason: "path /REPOS/x not allowed for api.github.com",
  },
  {
    name: "denies an encoded leading slash before the prefix",
    url: "https://api.github.com/%2Frepos/x",
    reason: "path //repos/x not allowed for api.github.com",
  },
  {
    name: "denies plain http to an object rule",
    url: "http://api.github.com/repos/x",
    reason: "scheme http not allowed for api.github.com",
  },
  // Schemes other than http and https.
  { name: "denies file:", url: "file:///etc/passwd", reason: "scheme file: is not allowed" },
  { name: "denies ftp:", url: "ftp://allowed.com/", reason: "scheme ftp: is not allowed" },
  {
    name: "denies gopher:",
    url: "gopher://allowed.com:70/_GET%20/",
    reason: "scheme gopher: is not allowed",
  },
  {
    name: "denies dict:",
    url: "dict://allowed.com:11211/stat",
    reason: "scheme dict: is not allowed",
  },
  { name: "denies ws:", url: "ws://allowed.com/", reason: "scheme ws: is not allowed" },
  { name: "denies wss:", url: "wss://allowed.com/", reason: "scheme wss: is not allowed" },
  {
    name: "denies javascript:",
    url: "javascript:alert(1)",
    reason: "scheme javascript: is not allowed",
  },
  { name: "denies data:", url: "data:text/plain,hi", reason: "scheme data: is not allowed" },
  {
    name: "denies blob:",
    url: "blob:https://allowed.com/0f1e",
    reason: "scheme blob: is not allowed",
  },
  { name: "denies jar:", url: "jar:https://allowed.com!/", reason: "scheme jar: is not allowed" },
  { name: "denies ldap:", url: "ldap://allowed.com/", reason: "scheme ldap: is not allowed" },
  { name: "denies tftp:", url: "tftp://allowed.com/x", reason: "scheme tftp: is not allowed" },
  { name: "denies netdoc:", url: "netdoc:///etc/passwd", reason: "scheme netdoc: is not allowed" },
  // Unparseable input.
  { name: "denies text that is not a URL", url: "not a url", reason: INVALID },
  { name: "denies an empty URL", url: "", reason: INVALID },
  { name: "denies a URL without a host", url: "https://", reason: INVALID },
  { name: "denies a scheme-relative URL", url: "//allowed.com/", reason: INVALID },
  { name: "denies an unterminated IPv6 literal", url: "http://[::1/", reason: INVALID },
  { name: "denies an IPv6 zone id", url: "http://[fe80::1%25eth0]/", reason: INVALID },
  { name: "denies an IPv4 address with five parts", url: "http://1.2.3.4.5/", reason: INVALID },
  { name: "denies an invalid octal part", url: "http://08.0.0.1/", reason: INVALID },
  { name: "denies a decimal address above 32 bits", url: "http://4294967296/", reason: INVALID },
  { name: "denies a space in the host", url: "https://allo wed.com/", reason: INVALID },
  {
    name: "denies an encoded slash after a metadata address",
    url: "http://169.254.169.254%2f.allowed.com/",
    reason: INVALID,
  },
  // Loopback, in every spelling.
  { name: "denies localhost even when a rule names it", url: "http://localhost/", reason: PRIVATE },
  {
    name: "denies an upper-case localhost with a trailing dot",
    url: "http://LOCALHOST./",
    reason: PRIVATE,
  },
  { name: "denies an enclosed-letter localhost", url: "http://ⓛⓞⓒⓐⓛⓗⓞⓢⓣ/", reason: PRIVATE },
  { name: "denies a subdomain of localhost", url: "http://api.localhost/", reason: PRIVATE },
  { name: "denies localhost.localdomain", url: "http://localhost.localdomain/", reason: PRIVATE },
  {
    name: "denies the loopback address even when a rule names it",
    url: "http://127.0.0.1/",
    reason: "private address 127.0.0.1 is not allowed (loopback)",
  },
  { name: "denies a two-part loopback address", url: "http://127.1/", reason: PRIVATE },
  { name: "denies a three-part loopback address", url: "http://127.0.1/", reason: PRIVATE },
  {
    name: "denies a decimal-encoded loopback address",
    url: "http://2130706433/",
    reason: "private address 127.0.0.1",
  },
  { name: "denies a hex-encoded loopback address", url: "http://0x7f000001/", reason: PRIVATE },
  { name: "denies a short hex loopback address", url: "http://0x7f.1/", reason: PRIVATE },
  { name: "denies an octal loopback address", url: "http://0177.0.0.1/", reason: PRIVATE },
  { name: "denies a single octal loopback number", url: "http://017700000001/", reason: PRIVATE },
  { name: "denies a mixed hex loopback address", url: "http://0x7f.0.0.0x1/", reason: PRIVATE },
  {
    name: "denies a mixed octal and hex loopback address",
    url: "http://0177.0.0x0.1/",
    reason: PRIVATE,
  },
  { name: "denies zero-padded loopback octets", url: "http://127.000.000.001/", reason: PRIVATE },
  { name: "denies loopback with a trailing dot", url: "http://127.0.0.1./", reason: PRIVATE },
  {
    name: "denies loopback with two trailing dots",
    url: "http://127.0.0.1../",
    reason: "private address 127.0.0.1 is not allowed (loopback)",
  },
  {
    name: "denies a percent-encoded loopback address",
    url: "http://%31%32%37.0.0.1/",
    reason: PRIVATE,
  },
  { name: "denies an enclosed-digit loopback address", url: "http://①②⑦.⓪.⓪.①/", reason: PRIVATE },
  { name: "denies a fullwidth loopback address", url: "http://１２７.０.０.１/", reason: PRIVATE },
  { name: "denies a fullwidth hex loopback address", url: "http://０x７f.1/", reason: PRIVATE },
  {
    name: "denies ideographic full stops in loopback",
    url: "http://127。0。0。1/",
    reason: PRIVATE,
  },
  { name: "denies the top of the loopback block", url: "http://127.255.255.254/", reason: PRIVATE },
  {
    name: "denies the bare zero address",
    url: "http://0/",
    reason: "private address 0.0.0.0 is not allowed (unspecified)",
  },
  { name: "denies 0.0.0.0", url: "http://0.0.0.0:8080/", reason: PRIVATE },
  {
    name: "denies the IPv6 loopback even when a rule names it",
    url: "http://[::1]/",
    reason: "private address [::1] is not allowed (loopback)",
  },
  {
    name: "denies the uncompressed IPv6 loopback",
    url: "http://[0:0:0:0:0:0:0:1]/",
    reason: PRIVATE,
  },
  { name: "denies the IPv6 unspecified address", url: "http://[::]/", reason: PRIVATE },
  {
    name: "denies IPv4-mapped loopback in dotted form",
    url: "http://[::ffff:127.0.0.1]/",
    reason: "private address [::ffff:7f00:1] is not allowed (loopback 127.0.0.1 embedded",
  },
  {
    name: "denies IPv4-mapped loopback in hex form",
    url: "http://[::ffff:7f00:1]/",
    reason: PRIVATE,
  },
  {
    name: "denies uncompressed IPv4-mapped loopback",
    url: "http://[0:0:0:0:0:ffff:127.0.0.1]/",
    reason: PRIVATE,
  },
  { name: "denies IPv4-compatible loopback", url: "http://[::127.0.0.1]/", reason: PRIVATE },
  { name: "denies IPv4-translated loopback", url: "http://[::ffff:0:127.0.0.1]/", reason: PRIVATE },
  { name: "denies NAT64 loopback", url: "http://[64:ff9b::127.0.0.1]/", reason: PRIVATE },
  { name: "denies 6to4 loopback", url: "http://[2002:7f00:1::]/", reason: PRIVATE },
  {
    name: "denies a Teredo address whose client is loopback",
    url: "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",
    reason: "private address [2001:0:4136:e378:8000:63bf:80ff:fffe] is not allowed (loopback",
  },
  // Cloud metadata.
  {
    name: "denies the metadata address even when a rule names it",
    url: "http://169.254.169.254/latest/meta-data/",
    reason: "private address 169.254.169.254 is not allowed (cloud metadata)",
  },
  { name: "denies a decimal metadata address", url: "http://2852039166/", reason: PRIVATE },
  { name: "denies a hex metadata address", url: "http://0xa9fea9fe/", reason: PRIVATE },
  { name: "denies an octal metadata address", url: "http://0251.0376.0251.0376/", reason: PRIVATE },
  {
    name: "denies a dotted-hex metadata address",
    url: "http://0xa9.0xfe.0xa9.0xfe/",
    reason: PRIVATE,
  },
  { name: "denies a short-form metadata address", url: "http://169.254.43518/", reason: PRIVATE },
  {
    name: "denies an IPv4-mapped metadata address",
    url: "http://[::ffff:169.254.169.254]/",
    reason: PRIVATE,
  },
  {
    name: "denies a hex IPv4-mapped metadata address",
    url: "http://[::ffff:a9fe:a9fe]/",
    reason: PRIVATE,
  },
  { name: "denies a NAT64 metadata address", url: "http://[64:ff9b::a9fe:a9fe]/", reason: PRIVATE },
  { name: "denies a 6to4 metadata address", url: "http://[2002:a9fe:a9fe::]/", reason: PRIVATE },
  {
    name: "denies the AWS IPv6 metadata address",
    url: "http://[fd00:ec2::254]/latest/meta-data/",
    reason: "private address [fd00:ec2::254] is not allowed (cloud metadata)",
  },
  {
    name: "denies the GCP metadata host name even when a rule names it",
    url: "http://metadata.google.internal/computeMetadata/v1/",
    reason: "private address metadata.google.internal is not allowed (cloud metadata)",
  },
  { name: "denies a dotless metadata host name", url: "http://metadata/", reason: PRIVATE },
  {
    name: "denies the dotless AWS instance-data name",
    url: "http://instance-data/",
    reason: PRIVATE,
  },
  {
    name: "denies an .internal metadata name",
    url: "http://instance-data.ec2.internal/",
    reason: PRIVATE,
  },
  {
    name: "denies the Alibaba Cloud metadata address",
    url: "http://100.100.100.200/",
    reason: PRIVATE,
  },
  { name: "denies the Oracle Cloud metadata address", url: "http://192.0.0.192/", reason: PRIVATE },
  { name: "denies the Azure WireServer address", url: "http://168.63.129.16/", reason: PRIVATE },
  {
    name: "denies the ECS credentials address",
    url: "http://169.254.170.2/v2/credentials",
    reason: PRIVATE,
  },
  {
    name: "denies the Tencent Cloud metadata name",
    url: "http://metadata.tencentyun.com/",
    reason: PRIVATE,
  },
  // Private, reserved and special ranges.
  {
    name: "denies a private address inside a CIDR rule",
    url: "https://10.0.0.1/",
    reason: "private address 10.0.0.1 is not allowed (private)",
  },
  { name: "denies a decimal private address", url: "https://167772161/", reason: PRIVATE },
  { name: "denies 172.16/12", url: "https://172.16.0.1/", reason: PRIVATE },
  { name: "denies the top of 172.16/12", url: "https://172.31.255.255/", reason: PRIVATE },
  { name: "denies 192.168/16", url: "https://192.168.1.1/", reason: PRIVATE },
  { name: "denies carrier-grade NAT", url: "https://100.64.0.1/", reason: PRIVATE },
  { name: "denies link-local IPv4", url: "https://169.254.1.1/", reason: PRIVATE },
  { name: "denies the benchmarking range", url: "https://198.18.0.1/", reason: PRIVATE },
  { name: "denies TEST-NET-1", url: "https://192.0.2.1/", reason: PRIVATE },
  { name: "denies TEST-NET-2", url: "https://198.51.100.7/", reason: PRIVATE },
  { name: "denies TEST-NET-3", url: "https://203.0.113.9/", reason: PRIVATE },
  { name: "denies IPv4 multicast", url: "https://224.0.0.1/", reason: PRIVATE },
  {
    name: "denies the limited broadcast address",
    url: "https://255.255.255.255/",
    reason: PRIVATE,
  },
  { name: "denies a hex broadcast address", url: "https://0xffffffff/", reason: PRIVATE },
  { name: "denies the reserved class E range", url: "https://240.0.0.1/", reason: PRIVATE },
  { name: "denies IPv6 link-local", url: "https://[fe80::1]/", reason: PRIVATE },
  {
    name: "denies IPv6 unique local inside a CIDR rule",
    url: "https://[fd12:3456::1]/",
    reason: PRIVATE,
  },
  { name: "denies fc00::/7", url: "https://[fc00::1]/", reason: PRIVATE },
  { name: "denies IPv6 site-local", url: "https://[fec0::1]/", reason: PRIVATE },
  { name: "denies IPv6 multicast", url: "https://[ff02::1]/", reason: PRIVATE },
  { name: "denies IPv6 documentation", url: "https://[2001:db8::1]/", reason: PRIVATE },
  { name: "denies IPv6 benchmarking", url: "https://[2001:2::1]/", reason: PRIVATE },
  { name: "denies the IPv6 discard prefix", url: "https://[100::1]/", reason: PRIVATE },
  { name: "denies local-use NAT64", url: "https://[64:ff9b:1::a00:1]/", reason: PRIVATE },
  { name: "denies unallocated IPv6 space", url: "https://[4000::1]/", reason: PRIVATE },
  {
    name: "denies IPv4-mapped private addresses",
    url: "https://[::ffff:10.0.0.1]/",
    reason: PRIVATE,
  },
  { name: "denies IPv4-mapped 192.168/16", url: "https://[::ffff:c0a8:1]/", reason: PRIVATE },
  { name: "denies an mDNS .local name", url: "http://printer.local/", reason: PRIVATE },
  { name: "denies an .internal name", url: "http://db.internal/", reason: PRIVATE },
  { name: "denies a home.arpa name", url: "http://router.home.arpa/", reason: PRIVATE },
  // Public IP literals need a rule naming them.
  {
    name: "denies a public IP literal no rule names",
    url: "https://1.1.1.1/",
    reason: "IP literal 1.1.1.1 is not allowed (name it in a rule)",
  },
  {
    name: "denies a decimal public IP literal no rule names",
    url: "https://16843009/",
    reason: "IP literal 1.1.1.1 is not allowed",
  },
  {
    name: "denies a public IPv6 literal no rule names",
    url: "https://[2606:4700:4700::1001]/",
    reason: "IP literal [2606:4700:4700::1001] is not allowed",
  },
  {
    name: "denies an IPv4-mapped form of a named address",
    url: "https://[::ffff:8.8.8.8]/",
    reason: "IP literal [::ffff:808:808] is not allowed",
  },
  {
    name: "denies a named IP literal on another port",
    url: "https://8.8.8.8:8443/",
    reason: "port 8443 not allowed for 8.8.8.8",
  },
  {
    name: "denies a named IP literal over http",
    url: "http://8.8.8.8/",
    reason: "scheme http not allowed for 8.8.8.8",
  },
  // Unicode look-alikes.
  {
    name: "denies a fullwidth host",
    url: "https://ｅｖｉｌ.com/",
    reason: "no rule allows evil.com",
  },
  {
    name: "denies an enclosed-letter host",
    url: "https://ⓔⓥⓘⓛ.com/",
    reason: "no rule allows evil.com",
  },
  {
    name: "denies an ideographic full stop that joins the allowed host to another",
    url: "https://allowed。com。evil.com/",
    reason: "no rule allows allowed.com.evil.com",
  },
  {
    name: "denies a Cyrillic look-alike of the allowed host",
    url: "https://аllowed.com/",
    reason: "no rule allows xn--llowed-",
  },
  {
    name: "denies a fullwidth dot that joins the allowed host to another",
    url: "https://allowed．com．evil.com/",
    reason: "no rule allows allowed.com.evil.com",
  },
];

describe("decideFetch denies bypass attempts", () => {
  it.each(denied)("$name", ({ url, reason, method }) => {
    const d = decideFetch([TENANT], method ?? "GET", url, STRICT);
    expect(d.allowed).toBe(false);
    expect(d.reason.slice(0, reason.length)).toBe(reason);
  });
});

interface AllowRow {
  name: string;
  url: string;
  rule: string;
  method?: string;
}

const allowed: AllowRow[] = [
  { name: "allows an exact host", url: "https://allowed.com/x?y=1", rule: "allowed.com" },
  { name: "allows an explicit :443", url: "https://allowed.com:443/", rule: "allowed.com" },
  { name: "allows a zero-padded :443", url: "https://allowed.com:0443/", rule: "allowed.com" },
  {
    name: "allows an upper-case host with a trailing dot",
    url: "https://ALLOWED.COM./",
    rule: "allowed.com",
  },
  {
    name: "allows a host with two trailing dots",
    url: "https://allowed.com../",
    rule: "allowed.com",
  },
  { name: "allows an upper-case scheme", url: "HTTPS://Allowed.Com/", rule: "allowed.com" },
  {
    name: "allows a fullwidth spelling",
    url: "https://ａｌｌｏｗｅｄ.ｃｏｍ/",
    rule: "allowed.com",
  },
  { name: "allows an enclosed-letter spelling", url: "https://ⓐⓛⓛⓞⓦⓔⓓ.com/", rule: "allowed.com" },
  { name: "allows an ideographic full stop", url: "https://allowed。com/", rule: "allowed.com" },
  { name: "allows a percent-encoded host", url: "https://%61llowed.com/", rule: "allowed.com" },
  {
    name: "allows surrounding spaces the URL parser trims",
    url: "  https://allowed.com/ ",
    rule: "allowed.com",
  },
  { name: "allows a wildcard subdomain", url: "https://a.wild.com/", rule: "*.wild.com" },
  { name: "allows a wildcard at any depth", url: "https://a.b.c.wild.com/", rule: "*.wild.com" },
  {
    name: "allows a wildcard subdomain with a trailing dot",
    url: "https://A.Wild.Com./",
    rule: "*.wild.com",
  },
  {
    name: "allows a listed method and path of an object rule",
    url: "https://api.github.com/repos/cordon/issues",
    rule: '{"host":"api.github.com","methods":["GET","HEAD"],"paths":["/repos/"]}',
  },
  {
    name: "allows a lower-case method",
    method: "head",
    url: "https://API.GitHub.com./repos/x",
    rule: '{"host":"api.github.com","methods":["GET","HEAD"],"paths":["/repos/"]}',
  },
  {
    name: "allows an encoded unreserved character in the path",
    url: "https://api.github.com/%72epos/x",
    rule: '{"host":"api.github.com","methods":["GET","HEAD"],"paths":["/repos/"]}',
  },
  {
    name: "allows dot segments that end inside the prefix",
    url: "https://api.github.com/x/../repos/y",
    rule: '{"host":"api.github.com","methods":["GET","HEAD"],"paths":["/repos/"]}',
  },
  {
    name: "allows an http rule's scheme and port",
    url: "http://plain.com:8080/",
    rule: "http://plain.com:8080",
  },
  { name: "allows a named public IP", url: "https://8.8.8.8/", rule: "8.8.8.8" },
  { name: "allows a decimal spelling of a named IP", url: "https://134744072/", rule: "8.8.8.8" },
  {
    name: "allows an uncompressed spelling of a named IPv6 address",
    url: "https://[2606:4700:4700:0:0:0:0:1111]/",
    rule: "[2606:4700:4700::1111]",
  },
  {
    name: "allows an IDN host in punycode",
    url: "https://xn--exmple-cua.com/",
    rule: "exämple.com",
  },
  { name: "allows an upper-case IDN host", url: "https://EXÄMPLE.com/", rule: "exämple.com" },
];

describe("decideFetch allows", () => {
  it.each(allowed)("$name", ({ url, rule, method }) => {
    const d = decideFetch([TENANT], method ?? "GET", url, STRICT);
    expect(d).toMatchObject({ allowed: true, reason: `allowed by rule ${rule}` });
  });
});

const LOCAL_DEV: EgressPolicy = {
  allow: [
    "10.0.0.0/8",
    "http://127.0.0.2:8787",
    "[fd00::]/8",
    "http://localhost:8787",
    { host: "192.168.0.0/16", scheme: "http", port: 8080 },
  ],
};

describe("decideFetch with private egress enabled", () => {
  it.each([
    { name: "allows an address inside a CIDR rule", url: "https://10.1.2.3/", rule: "10.0.0.0/8" },
    {
      name: "allows a named loopback address and port",
      url: "http://127.0.0.2:8787/",
      rule: "http://127.0.0.2:8787",
    },
    {
      name: "allows a decimal spelling of a named loopback address",
      url: "http://2130706434:8787/",
      rule: "http://127.0.0.2:8787",
    },
    { name: "allows an IPv6 CIDR rule", url: "https://[fd00::1]/", rule: "[fd00::]/8" },
    {
      name: "allows a named localhost",
      url: "http://localhost:8787/x",
      rule: "http://localhost:8787",
    },
    {
      name: "allows an object rule with a CIDR host",
      url: "http://192.168.1.10:8080/",
      rule: '{"host":"192.168.0.0/16","scheme":"http","port":8080}',
    },
  ])("$name", ({ url, rule }) => {
    const d = decideFetch([LOCAL_DEV], "GET", url, PRIVATE_OK);
    expect(d).toMatchObject({ allowed: true, reason: `allowed by rule ${rule}` });
  });

  it.each([
    {
      name: "still denies a private address no rule names",
      url: "http://127.0.0.1/",
      reason: "IP literal 127.0.0.1 is not allowed (name it in a rule)",
    },
    {
      name: "still denies the wrong port of a named private address",
      url: "http://127.0.0.2:9999/",
      reason: "port 9999 not allowed for 127.0.0.2",
    },
    {
      name: "still denies an address outside the CIDR rule",
      url: "https://11.0.0.1/",
      reason: "IP literal 11.0.0.1 is not allowed",
    },
    {
      name: "still denies an IPv4-mapped form of a CIDR member",
      url: "https://[::ffff:10.0.0.1]/",
      reason: "IP literal [::ffff:a00:1] is not allowed",
    },
  ])("$name", ({ url, reason }) => {
    const d = decideFetch([LOCAL_DEV], "GET", url, PRIVATE_OK);
    expect(d.allowed).toBe(false);
    expect(d.reason.slice(0, reason.length)).toBe(reason);
  });
});

describe("decideFetch intersects layers", () => {
  const tenant: EgressPolicy = { allow: ["*.github.com", "allowed.com"] };
  const session: EgressPolicy = { allow: [{ host: "api.github.com", methods: ["GET"] }] };
  const request: EgressPolicy = { allow: ["api.github.com"] };

  it.each<{ name: string; layers: EgressPolicy[]; url: string; reason: string; method?: string }>([
    {
      name: "denies everything when no layer is given",
      layers: [],
      url: "https://allowed.com/",
      reason: "no rule allows allowed.com",
    },
    {
      name: "denies everything under an empty layer",
      layers: [tenant, { allow: [] }],
      url: "https://allowed.com/",
      reason: "no rule allows allowed.com",
    },
    {
      name: "denies a host the tenant allows but the session does not",
      layers: [tenant, session],
      url: "https://allowed.com/",
      reason: "no rule allows allowed.com",
    },
    {
      name: "denies a method the session narrows away",
      layers: [tenant, session],
      method: "POST",
      url: "https://api.github.com/x",
      reason: "method POST not allowed for api.github.com",
    },
    {
      name: "denies a host the session allows but the tenant does not",
      layers: [{ allow: ["allowed.com"] }, request],
      url: "https://api.github.com/",
      reason: "no rule allows api.github.com",
    },
  ])("$name", ({ layers, url, reason, method }) => {
    const d = decideFetch(layers, method ?? "GET", url, STRICT);
    expect(d.allowed).toBe(false);
    expect(d.reason).toBe(reason);
  });

  it("allows what every layer allows and names each layer's rule", () => {
    const d = decideFetch([tenant, session, request], "GET", "https://api.github.com/x", STRICT);
    expect(d).toEqual({
      allowed: true,
      reason:
        'allowed by rule *.github.com and rule {"host":"api.github.com","methods":["GET"]} and rule api.github.com',
      url: "https://api.github.com/x",
    });
  });
});

describe("decideFetch reports a normalised URL", () => {
  it.each([
    {
      name: "folds case, trailing dots, the default port and the fragment",
      url: "HTTPS://ALLOWED.com.:443/a?b=1#frag",
      expected: "https://allowed.com/a?b=1",
    },
    {
      name: "drops credentials from a denied URL",
      url: "https://user:secret@allowed.com/",
      expected: "https://allowed.com/",
    },
    {
      name: "canonicalises an IPv4 spelling",
      url: "http://0x7f.1:8080/",
      expected: "http://127.0.0.1:8080/",
    },
    {
      name: "keeps the raw input when it does not parse",
      url: "http://[::1",
      expected: "http://[::1",
    },
  ])("$name", ({ url, expected }) => {
    expect(decideFetch([TENANT], "GET", url, STRICT).url).toBe(expected);
  });
});

interface ConnectRow {
  name: string;
  host: string;
  port: number;
  reason: string;
}

const connectDenied: ConnectRow[] = [
  {
    name: "denies a host no rule names",
    host: "evil.com",
    port: 443,
    reason: "no rule allows evil.com",
  },
  {
    name: "denies a port the rule does not name",
    host: "allowed.com",
    port: 22,
    reason: "port 22 not allowed for allowed.com",
  },
  {
    name: "denies a host whose only rule narrows methods and paths",
    host: "api.github.com",
    port: 443,
    reason: "method CONNECT not allowed for api.github.com",
  },
  { name: "denies loopback", host: "127.0.0.1", port: 6379, reason: "private address 127.0.0.1" },
  { name: "denies a bare IPv6 loopback", host: "::1", port: 5432, reason: "private address [::1]" },
  {
    name: "denies a bracketed IPv4-mapped metadata address",
    host: "[::ffff:169.254.169.254]",
    port: 80,
    reason: "private address [::ffff:a9fe:a9fe]",
  },
  {
    name: "denies a decimal loopback",
    host: "2130706433",
    port: 80,
    reason: "private address 127.0.0.1",
  },
  { name: "denies localhost", host: "localhost", port: 8080, reason: PRIVATE },
  {
    name: "denies the GCP metadata name",
    host: "metadata.google.internal",
    port: 80,
    reason: PRIVATE,
  },
  { name: "denies a host with a path", host: "allowed.com/x", port: 443, reason: INVALID },
  { name: "denies a host with a port", host: "allowed.com:443", port: 443, reason: INVALID },
  { name: "denies a host with userinfo", host: "user@allowed.com", port: 443, reason: INVALID },
  { name: "denies a percent-encoded host", host: "%61llowed.com", port: 443, reason: INVALID },
  { name: "denies a zone id", host: "fe80::1%eth0", port: 22, reason: INVALID },
  { name: "denies port 0", host: "allowed.com", port: 0, reason: INVALID },
  { name: "denies a port above 65535", host: "allowed.com", port: 70000, reason: INVALID },
  {
    name: "denies a public IP no rule names",
    host: "1.1.1.1",
    port: 53,
    reason: "IP literal 1.1.1.1 is not allowed (name it in a rule)",
  },
];

describe("decideConnect", () => {
  it.each(connectDenied)("$name", ({ host, port, reason }) => {
    const d = decideConnect([TENANT], host, port, STRICT);
    expect(d.allowed).toBe(false);
    expect(d.reason.slice(0, reason.length)).toBe(reason);
  });

  it.each([
    {
      name: "allows a named host on its port",
      host: "allowed.com",
      port: 443,
      rule: "allowed.com",
    },
    {
      name: "allows an http rule's port, ignoring the scheme",
      host: "plain.com",
      port: 8080,
      rule: "http://plain.com:8080",
    },
    { name: "allows a normalised spelling", host: "ALLOWED.com.", port: 443, rule: "allowed.com" },
    { name: "allows a named IP", host: "8.8.8.8", port: 443, rule: "8.8.8.8" },
    { name: "allows a wildcard subdomain", host: "db.wild.com", port: 443, rule: "*.wild.com" },
  ])("$name", ({ host, port, rule }) => {
    const d = decideConnect([TENANT], host, port, STRICT);
    expect(d).toMatchObject({ allowed: true, reason: `allowed by rule ${rule}` });
  });

  it("reports the target as a tcp URL", () => {
    expect(decideConnect([TENANT], "ALLOWED.com.", 443, STRICT).url).toBe("tcp://allowed.com:443");
  });

  it("allows a named private address when private egress is enabled", () => {
    const d = decideConnect([{ allow: ["127.0.0.1:6379"] }], "127.0.0.1", 6379, PRIVATE_OK);
    expect(d).toMatchObject({ allowed: true, reason: "allowed by rule 127.0.0.1:6379" });
  });
});

describe("ruleErrors", () => {
  it.each([
    "api.github.com",
    "*.example.com",
    "*.co.uk",
    "http://host.example:8080",
    "https://api.github.com",
    "https://api.github.com/",
    "api.example.com:8443",
    "1.2.3.4",
    "10.0.0.0/8",
    "[2001:db8::]/32",
    "2001:db8::1",
    "[2001:db8::1]:8443",
    "localhost",
    "exämple.com",
  ])("accepts %s", (rule) => {
    expect(ruleErrors(rule)).toEqual([]);
  });

  it.each([
    {
      name: "accepts an object rule with methods and paths",
      rule: { host: "api.github.com", methods: ["GET"], paths: ["/repos/"] },
    },
    {
      name: "accepts an object rule with a CIDR host and port",
      rule: { host: "10.0.0.0/8", port: 5432 },
    },
    {
      name: "accepts an object wildcard over http",
      rule: { host: "*.example.com", scheme: "http" as const },
    },
  ])("$name", ({ rule }) => {
    expect(ruleErrors(rule)).toEqual([]);
  });

  it.each([
    { name: "rejects a wildcard over a top-level domain", rule: "*.com.", error: "too broad" },
    { name: "rejects a bare asterisk", rule: "*", error: "wildcard" },
    { name: "rejects a port above 65535", rule: "http://x.example:99999", error: "port 99999" },
    { name: "rejects a space", rule: "a b", error: "whitespace" },
    { name: "rejects an empty rule", rule: "", error: "empty" },
    { name: "rejects a non-http scheme", rule: "ftp://x.example", error: "scheme ftp" },
    { name: "rejects a path in a string rule", rule: "https://x.example/path", error: "path" },
    { name: "rejects userinfo", rule: "user@x.example", error: "userinfo" },
    { name: "rejects a nested wildcard", rule: "*.*.example.com", error: "wildcard" },
    { name: "rejects an inner wildcard", rule: "api.*.example.com", error: "wildcard" },
    { name: "rejects a wildcard over an IP address", rule: "*.1.2.3", error: "wildcard" },
    { name: "rejects an IPv4 prefix over 32", rule: "10.0.0.0/33", error: "between 0 and 32" },
    { name: "rejects host bits after the prefix", rule: "10.1.0.0/8", error: "host bits" },
    {
      name: "rejects an IPv6 prefix over 128",
      rule: "[2001:db8::]/129",
      error: "between 0 and 128",
    },
    { name: "rejects an empty port", rule: "x.example:", error: "port" },
    { name: "rejects an unterminated IPv6 address", rule: "[::1", error: "IPv6" },
    { name: "rejects a query", rule: "https://x.example?q=1", error: "scheme, host and port" },
    { name: "rejects a non-object rule", rule: 42, error: "host string or an object" },
    { name: "rejects an object without a host", rule: { host: "" }, error: "host" },
    {
      name: "rejects an object scheme other than http(s)",
      rule: { host: "x.example", scheme: "ftp" },
      error: "scheme",
    },
    {
      name: "rejects port 0 in an object rule",
      rule: { host: "x.example", port: 0 },
      error: "port 0",
    },
    {
      name: "rejects a fractional port",
      rule: { host: "x.example", port: 1.5 },
      error: "port 1.5",
    },
    {
      name: "rejects an empty methods list",
      rule: { host: "x.example", methods: [] },
      error: "methods",
    },
    {
      name: "rejects a method with a space",
      rule: { host: "x.example", methods: ["GET POST"] },
      error: "method",
    },
    {
      name: "rejects a path without a leading slash",
      rule: { host: "x.example", paths: ["repos"] },
      error: "path",
    },
    {
      name: "rejects a scheme inside an object host",
      rule: { host: "https://x.example" },
      error: "scheme",
    },
    {
      name: "rejects a port inside an object host",
      rule: { host: "x.example:8080" },
      error: "port",
    },
    {
      name: "rejects an unknown field",
      rule: { host: "x.example", method: ["GET"] },
      error: 'unknown field "method"',
    },
  ] satisfies { name: string; rule: unknown; error: string }[])("$name", ({ rule, error }) => {
    const errors = ruleErrors(rule as EgressRule);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.join("\n")).toContain(error);
  });

  it("ignores an invalid rule when deciding", () => {
    const d = decideFetch([{ allow: ["*", "allowed.com"] }], "GET", "https://evil.com/", STRICT);
    expect(d).toMatchObject({ allowed: false, reason: "no rule allows evil.com" });
  });
});
