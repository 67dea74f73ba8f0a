import { type Cidr, lastOf, overlaps, parseCidr, sizeOf } from "./cidr.js";

/** A block that networks are carved from: `base` split into subnets of prefix length `size`. */
export interface AddressPool {
  base: string;
  size: number;
}

/**
 * Where user networks get their subnets when none is given: /24s of 172.21.0.0 – 172.31.255.255
 * (172.17/16 is docker's docker0 and 172.20/16 berth's own default bridge, so they are left out).
 */
export const defaultAddressPools: readonly AddressPool[] = [
  { base: "172.21.0.0/16", size: 24 },
  { base: "172.22.0.0/15", size: 24 },
  { base: "172.24.0.0/13", size: 24 },
];

/**
 * The first subnet of the pools, in order, that overlaps none of `taken` (other networks'
 * subnets and the host's routes); undefined when the pools are exhausted.
 */
export function allocateSubnet(pools: readonly AddressPool[], taken: readonly Cidr[]): Cidr | undefined {
  for (const pool of pools) {
    const block = parseCidr(pool.base);
    if (!Number.isInteger(pool.size) || pool.size < block.prefix || pool.size > 30) continue;
    const step = 2 ** (32 - pool.size);
    for (let base = block.base; base + step - 1 <= lastOf(block); base += step) {
      const candidate = { base, prefix: pool.size };
      const clash = taken.find((t) => overlaps(t, candidate));
      if (!clash) return candidate;
      // skip past the whole clashing prefix when it is larger than one candidate
      if (sizeOf(clash) > step) base = Math.max(base, lastOf(clash) + 1 - step);
    }
  }
  return undefined;
}
