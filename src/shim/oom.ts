import { readFileSync } from "node:fs";
import { posix } from "node:path";
import { hostCgroups, parseProcCgroup } from "../cgroups/index.js";
import { errnoCode } from "../errors/index.js";

/** Where a container's cgroup counts OOM kills, and the count when the shim first looked. */
export interface OomWatch {
  /** v1 memory.oom_control or v2 memory.events */
  file: string;
  baseline: number;
}

/**
 * Find the memory cgroup of a running process (the container's init, just created) from
 * /proc/<pid>/cgroup: the v1 memory hierarchy where there is one, else cgroup2.
 * undefined when the process is gone or no memory accounting is mounted.
 */
export function watchOom(pid: number): OomWatch | undefined {
  let own: Map<string, string>;
  try {
    own = parseProcCgroup(readFileSync(`/proc/${pid}/cgroup`, "utf8"));
  } catch (e) {
    // the init already exited: its exit is reported without OOM information
    if (errnoCode(e) === "ENOENT" || errnoCode(e) === "ESRCH") return undefined;
    throw e;
  }
  const { hierarchies } = hostCgroups();
  const v1 = hierarchies.find((h) => h.version === 1 && h.controllers.includes("memory"));
  const h = v1 ?? hierarchies.find((x) => x.version === 2);
  if (!h) return undefined;
  const path = v1 ? [...own].find(([name]) => name.split(",").includes("memory"))?.[1] : own.get("");
  if (path === undefined) return undefined;
  const rel = posix.relative(h.root, path);
  const dir = rel.startsWith("..") ? posix.join(h.mountpoint, path) : posix.join(h.mountpoint, rel);
  const file = posix.join(dir, v1 ? "memory.oom_control" : "memory.events");
  const baseline = oomKills(file);
  return baseline === undefined ? undefined : { file, baseline };
}

/** Whether the cgroup counted an OOM kill since the watch began (false once the cgroup is gone). */
export function oomKilledSince(w: OomWatch): boolean {
  const n = oomKills(w.file);
  return n !== undefined && n > w.baseline;
}

/** The `oom_kill N` counter of a memory.oom_control / memory.events file. */
function oomKills(file: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    // the cgroup was removed (runtime delete) or the kernel predates the counter
    if (errnoCode(e) === "ENOENT") return undefined;
    throw e;
  }
  const m = /^oom_kill (\d+)$/m.exec(text);
  return m ? Number(m[1]) : undefined;
}
