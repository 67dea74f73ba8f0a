import { createSocket } from "node:dgram";
import { createServer } from "node:net";
import { alreadyExists, invalidArgument, unavailable } from "../errors/index.js";
import { parseIPv4 } from "./cidr.js";
import type { PortMapping, PublishedPort } from "./types.js";

/** The range ephemeral host ports are taken from (Linux's default ip_local_port_range). */
export const ephemeralPorts = { first: 32768, last: 60999 };

const validPort = (p: number) => Number.isInteger(p) && p >= 1 && p <= 65535;

/** Validates mappings; hostPort 0 (or absent) is kept as 0 for `assignHostPorts` to fill. */
export function normalizePorts(mappings: readonly PortMapping[]): PublishedPort[] {
  return mappings.map((m) => {
    const hostIP = m.hostIP === undefined || m.hostIP === "" ? "0.0.0.0" : m.hostIP;
    const hostPort = m.hostPort ?? 0;
    const what = `port mapping ${hostIP}:${hostPort}->${m.containerPort}/${m.protocol}`;
    if (m.protocol !== "tcp" && m.protocol !== "udp") throw invalidArgument(`${what}: protocol must be tcp or udp`);
    if (!validPort(m.containerPort)) throw invalidArgument(`${what}: container port must be 1-65535`);
    if (hostPort !== 0 && !validPort(hostPort)) throw invalidArgument(`${what}: host port must be 0-65535`);
    if (parseIPv4(hostIP) === undefined) throw invalidArgument(`${what}: host IP must be an IPv4 address`);
    return { hostIP, hostPort, containerPort: m.containerPort, protocol: m.protocol };
  });
}

/** Whether two bindings would claim the same host socket (an unspecified address claims them all). */
export function portsClash(a: PublishedPort, b: PublishedPort): boolean {
  return (
    a.protocol === b.protocol &&
    a.hostPort === b.hostPort &&
    (a.hostIP === b.hostIP || a.hostIP === "0.0.0.0" || b.hostIP === "0.0.0.0")
  );
}

/** Throws AlreadyExists when a fixed host port is taken by another attachment or twice in `wanted`. */
export function checkPortConflicts(wanted: readonly PublishedPort[], inUse: readonly PublishedPort[]): void {
  for (const [i, p] of wanted.entries()) {
    if (p.hostPort === 0) continue;
    const other = [...inUse, ...wanted.slice(0, i)].find((q) => portsClash(p, q));
    if (other) throw alreadyExists(`bind for ${p.hostIP}:${p.hostPort}/${p.protocol} failed: port is already allocated`);
  }
}

/** Whether the host could bind this port now (nothing else listens there). */
export function hostPortFree(p: PublishedPort): Promise<boolean> {
  return new Promise((resolve) => {
    if (p.protocol === "udp") {
      const s = createSocket("udp4");
      s.once("error", () => resolve(false));
      s.bind(p.hostPort, p.hostIP, () => s.close(() => resolve(true)));
      return;
    }
    const srv = createServer();
    srv.once("error", () => resolve(false));
    srv.listen({ port: p.hostPort, host: p.hostIP, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/**
 * Fills in every hostPort 0 with a port of the ephemeral range that no attachment publishes and
 * no host socket holds, as dockerd's port allocator does for `-p <containerPort>`.
 */
export async function assignHostPorts(
  wanted: readonly PublishedPort[],
  inUse: readonly PublishedPort[],
  isFree: (p: PublishedPort) => Promise<boolean> = hostPortFree,
): Promise<PublishedPort[]> {
  const out: PublishedPort[] = [];
  const taken = [...inUse, ...wanted.filter((p) => p.hostPort !== 0)];
  for (const p of wanted) {
    if (p.hostPort !== 0) {
      out.push(p);
      continue;
    }
    let chosen: PublishedPort | undefined;
    for (let port = ephemeralPorts.first; port <= ephemeralPorts.last && !chosen; port++) {
      const candidate = { ...p, hostPort: port };
      if (taken.some((q) => portsClash(candidate, q))) continue;
      if (await isFree(candidate)) chosen = candidate;
    }
    if (!chosen) throw unavailable(`publish ${p.containerPort}/${p.protocol}: no free host port in the ephemeral range`);
    taken.push(chosen);
    out.push(chosen);
  }
  return out;
}
