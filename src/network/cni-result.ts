import { internal } from "../errors/index.js";
import { parseCidr, parseIPv4 } from "./cidr.js";

/** The container's end of an ADD result: its IPv4 address, gateway and MAC on `ifname`. */
export interface ContainerAddress {
  ip: string;
  prefixLen: number;
  gateway: string;
  mac: string;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Picks the container interface `ifname` and its IPv4 address out of a CNI 1.0.0 result
 * (spec "Success": `interfaces[]` with `sandbox` set for container-side ones, `ips[].interface`
 * indexing into them). `fallbackGateway` is used when the IPAM reported none.
 */
export function containerAddress(result: unknown, ifname: string, fallbackGateway: string): ContainerAddress {
  if (!isRecord(result) || !Array.isArray(result["ips"])) {
    throw internal(`cni result: no "ips" list in ${JSON.stringify(result)?.slice(0, 300)}`);
  }
  const interfaces = Array.isArray(result["interfaces"]) ? result["interfaces"] : [];
  const idx = interfaces.findIndex((i) => isRecord(i) && i["name"] === ifname && typeof i["sandbox"] === "string");
  const iface = interfaces[idx];
  for (const entry of result["ips"]) {
    if (!isRecord(entry) || typeof entry["address"] !== "string") continue;
    // results may leave out "interface"; then the address is taken as the container's
    if (typeof entry["interface"] === "number" && idx >= 0 && entry["interface"] !== idx) continue;
    const [addr] = entry["address"].split("/");
    if (addr === undefined || parseIPv4(addr) === undefined) continue; // an IPv6 address
    const prefixLen = parseCidr(entry["address"], false).prefix;
    const gateway = typeof entry["gateway"] === "string" ? entry["gateway"] : fallbackGateway;
    const mac = isRecord(iface) && typeof iface["mac"] === "string" ? iface["mac"] : "";
    return { ip: addr, prefixLen, gateway, mac };
  }
  throw internal(`cni result: no IPv4 address for interface ${ifname} in ${JSON.stringify(result).slice(0, 300)}`);
}
