import { readdirSync, readlinkSync } from "node:fs";
import type { ContainerState } from "./container-state.js";
import { cgroupOf, hasCgroup, processStart } from "./container-state.js";

/**
 * Every host pid of the container: its cgroup's processes. A container
 * without a cgroup (rootless, not delegated) is found by its pid namespace
 * instead: the processes whose /proc/PID/ns/pid is the init's; one that shares
 * the caller's pid namespace is its init alone.
 */
export function containerPids(s: ContainerState): number[] {
  if (hasCgroup(s)) return cgroupOf(s).pids();
  if (s.pid <= 0 || processStart(s.pid) !== s.pidStart) return [];
  if (!s.namespaces.includes("pid")) return [s.pid];
  let ns: string;
  try {
    ns = readlinkSync(`/proc/${s.pid}/ns/pid`);
  } catch {
    return []; // the init exited after the check above
  }
  const out: number[] = [];
  for (const p of readdirSync("/proc")) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (readlinkSync(`/proc/${p}/ns/pid`) === ns) out.push(Number(p));
    } catch {
      // exited while we looked, or not ours to inspect (then not in a namespace we own)
    }
  }
  return out.sort((a, b) => a - b);
}
