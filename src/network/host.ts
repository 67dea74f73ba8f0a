import { readFile, writeFile } from "node:fs/promises";
import { failedPrecondition, internal } from "../errors/index.js";
import { type Cidr, parseCidr } from "./cidr.js";
import { execProgram, firstLine } from "./exec.js";

/** The destinations of the host's IPv4 routes (`ip -j route`), without the default route. */
export function parseRoutes(json: string): Cidr[] {
  const routes = JSON.parse(json) as unknown;
  if (!Array.isArray(routes)) return [];
  const out: Cidr[] = [];
  for (const r of routes) {
    const dst = typeof r === "object" && r !== null && "dst" in r ? r.dst : undefined;
    if (typeof dst !== "string" || dst === "default") continue;
    try {
      out.push(parseCidr(dst, false));
    } catch {
      // an IPv6 or otherwise odd destination: it cannot clash with an IPv4 subnet
    }
  }
  return out;
}

/** The host's IPv4 routes, so that a new network's subnet does not shadow one. */
export async function hostRoutes(): Promise<Cidr[]> {
  const res = await execProgram("ip", ["-4", "-j", "route", "show", "table", "main"]);
  if (res.code !== 0) throw internal(`read host routes: ip route: ${firstLine(res.stderr)}`);
  return parseRoutes(res.stdout || "[]");
}

/**
 * Checks that the kernel can make bridges and veth pairs, by making both in a throwaway network
 * namespace (module lists are no help: built-in drivers do not always show in /sys/module).
 */
export async function checkKernelSupport(): Promise<void> {
  const script = "ip link add name b0 type bridge || exit 3; ip link add name v0 type veth peer name v1 || exit 4";
  const res = await execProgram("unshare", ["--net", "sh", "-c", script]);
  if (res.code === 3) throw failedPrecondition(`host lacks bridge support (CONFIG_BRIDGE): ${firstLine(res.stderr)}`);
  if (res.code === 4) throw failedPrecondition(`host lacks veth support (CONFIG_VETH): ${firstLine(res.stderr)}`);
  if (res.code !== 0) {
    throw failedPrecondition(`check kernel network support: unshare --net: ${firstLine(res.stderr) || `exit ${res.code}`}`);
  }
}

const ipForward = "/proc/sys/net/ipv4/ip_forward";

/** Turns on IPv4 forwarding, as dockerd does for masquerading bridge networks. */
export async function ensureIpForward(): Promise<void> {
  let current: string;
  try {
    current = (await readFile(ipForward, "utf8")).trim();
  } catch (e) {
    throw failedPrecondition(`read ${ipForward}: containers need IPv4 forwarding`, e);
  }
  if (current === "1") return;
  try {
    await writeFile(ipForward, "1\n");
  } catch (e) {
    throw failedPrecondition(`enable IPv4 forwarding: write ${ipForward} (net.ipv4.ip_forward=0 and not writable)`, e);
  }
}

/** Deletes a network link; nothing to do when it does not exist. */
export async function deleteLink(name: string): Promise<void> {
  const show = await execProgram("ip", ["link", "show", "dev", name]);
  if (show.code !== 0) return; // no such device
  const res = await execProgram("ip", ["link", "delete", "dev", name]);
  if (res.code !== 0) throw internal(`delete link ${name}: ${firstLine(res.stderr)}`);
}
