/**
 * Where requests for a registry domain go, and how securely: docker.io's endpoint, mirrors, and
 * docker's insecure-registry rules (loopback is always insecure; "host:port" entries and CIDRs).
 */
import { lookup } from "node:dns/promises";
import { BlockList, isIP } from "node:net";
import { invalidArgument } from "../errors/index.js";

/** One place to send a repository's requests. */
export interface Endpoint {
  /** scheme, host and any path prefix, without a trailing slash: "https://registry-1.docker.io" */
  base: URL;
  /** the registry domain the reference names ("docker.io") */
  domain: string;
  /** whose credentials to send: the registry domain, or a mirror's host */
  credentialsFor: string;
  mirror: boolean;
  /** TLS without certificate verification */
  insecureTls: boolean;
}

/** The host docker.io's API is served from. */
export function registryHost(domain: string): string {
  return domain === "docker.io" || domain === "index.docker.io" ? "registry-1.docker.io" : domain;
}

/** "host:port" -> "host"; "[::1]:5000" -> "::1". */
export function hostname(host: string): string {
  if (host.startsWith("[")) return host.slice(1, host.indexOf("]"));
  const colon = host.lastIndexOf(":");
  return colon === -1 || host.indexOf(":") !== colon ? host : host.slice(0, colon);
}

const loopback = new BlockList();
loopback.addSubnet("127.0.0.0", 8, "ipv4");
loopback.addAddress("::1", "ipv6");
loopback.addSubnet("::ffff:127.0.0.0", 104, "ipv6");

export function isLoopback(host: string): boolean {
  const h = hostname(host).toLowerCase();
  if (h === "localhost" || h.endsWith(".localhost")) return true;
  const v = isIP(h);
  return v !== 0 && loopback.check(h, v === 4 ? "ipv4" : "ipv6");
}

/** docker's `insecure-registries`: exact "host[:port]" names and CIDRs matched against the host's addresses. */
export class InsecurePolicy {
  private readonly names = new Set<string>();
  private readonly cidrs = new BlockList();
  private hasCidrs = false;
  private readonly resolved = new Map<string, Promise<boolean>>();

  constructor(entries: readonly string[] = []) {
    for (const raw of entries) {
      const e = raw
        .trim()
        .replace(/^[a-z]+:\/\//i, "")
        .replace(/\/+$/, "")
        .toLowerCase();
      const m = /^(.+)\/(\d{1,3})$/.exec(e);
      const ip = m?.[1] ?? "";
      if (m && isIP(ip) !== 0) {
        const prefix = Number(m[2]);
        const family = isIP(ip) === 4 ? "ipv4" : "ipv6";
        if (prefix > (family === "ipv4" ? 32 : 128))
          throw invalidArgument(`insecure registry ${JSON.stringify(raw)}: bad CIDR prefix`);
        this.cidrs.addSubnet(ip, prefix, family);
        this.hasCidrs = true;
      } else if (e !== "" && !e.includes("/")) {
        this.names.add(e);
      } else {
        throw invalidArgument(`insecure registry ${JSON.stringify(raw)}: not "host[:port]" or a CIDR`);
      }
    }
  }

  /** Whether plain HTTP and unverified TLS are allowed for `host` ("host:port"). */
  async isInsecure(host: string): Promise<boolean> {
    const h = host.toLowerCase();
    if (isLoopback(h)) return true;
    if (this.names.has(h) || this.names.has(hostname(h))) return true;
    if (!this.hasCidrs) return false;
    const name = hostname(h);
    const v = isIP(name);
    if (v !== 0) return this.cidrs.check(name, v === 4 ? "ipv4" : "ipv6");
    let p = this.resolved.get(name);
    if (!p) {
      p = lookup(name, { all: true }).then(
        (addrs) => addrs.some((a) => this.cidrs.check(a.address, a.family === 4 ? "ipv4" : "ipv6")),
        () => false, // an unresolvable name is in no CIDR; the request itself will report the DNS error
      );
      this.resolved.set(name, p);
    }
    return p;
  }
}

/** A mirror URL from the options ("https://mirror.example", "http://127.0.0.1:5001/prefix"). */
export function mirrorBase(url: string): URL {
  let u: URL;
  try {
    u = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? url : `https://${url}`);
  } catch (e) {
    throw invalidArgument(`registry mirror ${JSON.stringify(url)}: not a URL`, e);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:")
    throw invalidArgument(`registry mirror ${JSON.stringify(url)}: not http or https`);
  u.pathname = u.pathname.replace(/\/+$/, "").replace(/\/v2$/, "");
  u.search = "";
  u.hash = "";
  return u;
}
