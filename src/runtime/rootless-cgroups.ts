import { accessSync, constants, mkdirSync } from "node:fs";
import { join } from "node:path";
import { errnoCode, permissionDenied } from "../errors/index.js";
import type { CgroupManager } from "../cgroups/index.js";
import { loadManager } from "../cgroups/index.js";
import type { LinuxResources, Spec } from "../oci/index.js";

/** The v1 controllers each resource field writes to (v2 has one directory for all). */
const CONTROLLERS: Record<Exclude<keyof LinuxResources, "devices">, string[]> = {
  memory: ["memory"],
  cpu: ["cpu", "cpuset"],
  pids: ["pids"],
  blockIO: ["blkio"],
  hugepageLimits: ["hugetlb"],
  network: ["net_cls", "net_prio"],
  rdma: ["rdma"],
  unified: [""],
};

/** Can this caller create (or join) the cgroup `dir` and move processes into it? */
export function mayUseCgroup(dir: string): boolean {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(join(dir, "cgroup.procs"), constants.W_OK);
    return true;
  } catch (err) {
    // not delegated to us: a root-owned hierarchy (EACCES, EPERM) or a read-only cgroupfs (EROFS)
    if (["EACCES", "EPERM", "EROFS"].includes(errnoCode(err) ?? "")) return false;
    throw err;
  }
}

/**
 * The cgroups of a container created by an unprivileged caller, as runc has
 * them: every hierarchy whose cgroup the caller may create or join (a
 * delegated subtree) is kept; the others are left out, said at debug level,
 * unless config.json names its cgroupsPath (then it is an error). A resource
 * limit whose controller was left out is an error ("container could not join
 * or create cgroup"), never silently unenforced; device rules are dropped, as
 * the device cgroup cannot be written without privileges (and a user
 * namespace cannot mknod anyway).
 */
export function rootlessCgroups(
  cg: CgroupManager,
  spec: Spec,
  debug: (msg: string) => void,
  may: (dir: string) => boolean = mayUseCgroup,
): { cg: CgroupManager; resources: LinuxResources | undefined } {
  const kept: Record<string, string> = {};
  const dropped: string[] = [];
  for (const [name, dir] of Object.entries(cg.paths)) {
    if (may(dir)) kept[name] = dir;
    else dropped.push(name === "" ? "unified" : name);
  }
  if (dropped.length) {
    const where = `${dropped.join(" ")} (uid ${process.geteuid?.()}, not delegated)`;
    if (spec.linux?.cgroupsPath)
      throw permissionDenied(`linux.cgroupsPath: cannot create or join cgroup "${spec.linux.cgroupsPath}" in ${where}`);
    debug(`rootless: no permission to create the container's cgroup in ${where}: running without them`);
  }
  const { devices: _ignored, ...rest } = spec.linux?.resources ?? {};
  const has = (c: string) => (cg.version === 2 ? "" in kept : Object.keys(kept).some((k) => hierarchyHas(k, c)));
  for (const [field, value] of Object.entries(rest)) {
    if (value === undefined) continue;
    const controllers = CONTROLLERS[field as keyof typeof CONTROLLERS] ?? [""];
    if (!controllers.some(has))
      throw permissionDenied(
        `linux.resources.${field}: cannot set the limit: the container could not join or create its cgroup (rootless; delegate a cgroup and set linux.cgroupsPath)`,
      );
  }
  return { cg: loadManager(cg.version, kept), resources: Object.keys(rest).length ? rest : undefined };
}

/** Whether the v1 hierarchy `name` ("cpu,cpuacct", "" for the hybrid cgroup2) holds controller `c`. */
const hierarchyHas = (name: string, c: string) =>
  name
    .replace(/^name=/, "")
    .split(",")
    .includes(c);
