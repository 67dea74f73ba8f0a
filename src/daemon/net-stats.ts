import { readFileSync } from "node:fs";

/** docker's per-interface counters in a container's stats ("networks"). */
export interface InterfaceCounters {
  rx_bytes: number;
  rx_packets: number;
  rx_errors: number;
  rx_dropped: number;
  tx_bytes: number;
  tx_packets: number;
  tx_errors: number;
  tx_dropped: number;
}

/** The counters of the interfaces in the network namespace of process `pid` (/proc/<pid>/net/dev). */
export function interfaceCounters(pid: number): Record<string, InterfaceCounters> {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/net/dev`, "utf8");
  } catch {
    return {}; // the process is gone
  }
  return parseNetDev(text);
}

/** /proc/net/dev: two header lines, then "name: rx bytes packets errs drop fifo frame compressed multicast tx bytes packets errs drop ...". */
export function parseNetDev(text: string): Record<string, InterfaceCounters> {
  const out: Record<string, InterfaceCounters> = {};
  for (const line of text.split("\n").slice(2)) {
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    if (name === "lo") continue;
    const v = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    if (v.length < 12) continue;
    out[name] = {
      rx_bytes: v[0] ?? 0,
      rx_packets: v[1] ?? 0,
      rx_errors: v[2] ?? 0,
      rx_dropped: v[3] ?? 0,
      tx_bytes: v[8] ?? 0,
      tx_packets: v[9] ?? 0,
      tx_errors: v[10] ?? 0,
      tx_dropped: v[11] ?? 0,
    };
  }
  return out;
}
