/**
 * cgroups: where a container's processes are placed and accounted. A
 * CgroupManager per container, with a driver for v1 (and hybrid) and for v2;
 * the host's mode is detected at run time. Resource limits arrive with the
 * resource-control work; this folder owns every file under /sys/fs/cgroup
 * berth writes.
 */
import type { CgroupManager } from "./manager.js";
import { cgroupDir, hostCgroups } from "./hierarchy.js";
import { ManagerV1 } from "./v1/manager-v1.js";
import { ManagerV2 } from "./v2/manager-v2.js";

export type { CgroupManager } from "./manager.js";
export type { CgroupStats } from "./stats.js";
export { detectMode, hostCgroups, parseHierarchies, parseProcCgroup, resetHostCgroups } from "./hierarchy.js";
export type { CgroupMode, Hierarchy } from "./hierarchy.js";

/** A manager for a new container at `cgroupsPath` (absolute, or relative to the caller's cgroup). */
export function newManager(cgroupsPath: string): CgroupManager {
  const { hierarchies, own, mode } = hostCgroups();
  const paths: Record<string, string> = {};
  for (const h of hierarchies) {
    if (mode === "unified" && h.version !== 2) continue;
    paths[h.name] = cgroupDir(h, own.get(h.name), cgroupsPath);
  }
  return mode === "unified" ? new ManagerV2(paths) : new ManagerV1(paths);
}

/** A manager for paths recorded earlier (in the container's state). */
export function loadManager(version: 1 | 2, paths: Record<string, string>): CgroupManager {
  return version === 2 ? new ManagerV2(paths) : new ManagerV1(paths);
}
