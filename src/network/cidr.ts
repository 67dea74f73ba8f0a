import { invalidArgument } from "../errors/index.js";

/** An IPv4 prefix: the network address as a 32-bit unsigned number, and the prefix length. */
export interface Cidr {
  base: number;
  prefix: number;
}

const octet = /^(0|[1-9][0-9]{0,2})$/;

/** "10.1.2.3" as an unsigned 32-bit number; undefined when it is not a dotted quad. */
export function parseIPv4(text: string): number | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!octet.test(p)) return undefined;
    const v = Number(p);
    if (v > 255) return undefined;
    n = n * 256 + v;
  }
  return n;
}

export function formatIPv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

/** The netmask of a prefix length as an unsigned number. */
export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/**
 * "10.1.0.0/16" as a Cidr. With `strict`, host bits must be zero (a subnet); without, they are
 * cleared ("10.1.2.3/16" names 10.1.0.0/16, as a route or an interface address may).
 */
export function parseCidr(text: string, strict = true): Cidr {
  const slash = text.indexOf("/");
  const addr = slash < 0 ? text : text.slice(0, slash);
  const plen = slash < 0 ? "32" : text.slice(slash + 1);
  const ip = parseIPv4(addr);
  if (ip === undefined || !/^[0-9]{1,2}$/.test(plen) || Number(plen) > 32) {
    throw invalidArgument(`parse subnet "${text}": not an IPv4 CIDR (a.b.c.d/len)`);
  }
  const prefix = Number(plen);
  const base = (ip & maskOf(prefix)) >>> 0;
  if (strict && base !== ip) {
    throw invalidArgument(`parse subnet "${text}": host bits are set (did you mean ${formatCidr({ base, prefix })}?)`);
  }
  return { base, prefix };
}

export function formatCidr(c: Cidr): string {
  return `${formatIPv4(c.base)}/${c.prefix}`;
}

/** The number of addresses in a prefix. */
export function sizeOf(c: Cidr): number {
  return 2 ** (32 - c.prefix);
}

/** The last address of a prefix (its broadcast address). */
export function lastOf(c: Cidr): number {
  return c.base + sizeOf(c) - 1;
}

export function contains(c: Cidr, ip: number): boolean {
  return ip >= c.base && ip <= lastOf(c);
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.base <= lastOf(b) && b.base <= lastOf(a);
}
