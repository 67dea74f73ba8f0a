import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { DeviceCgroup, LinuxResources } from "../../oci/index.js";
import type { CgroupManager } from "../manager.js";
import type { CgroupStats } from "../stats.js";
import { oomKillsV2 } from "./memory-stats-v2.js";
import { statsV2 } from "./stats-v2.js";
import { applyV2, v2Values } from "./resources-v2.js";
import type { DeviceFilterSyscalls } from "./devices-v2.js";
import { installDeviceFilter } from "./devices-v2.js";
import { mkdirP, readPids, removeCgroupDir, sleepMs, writeValue } from "../fs-util.js";
import { DEFAULT_ALLOWED_DEVICES } from "../v1/resources-v1.js";

let deviceFilterSyscalls: DeviceFilterSyscalls | undefined;

/**
 * Give every v2 manager of this process the kernel calls that load and attach
 * device programs. cgroups holds the policy (devices-v2.ts) but may not import
 * the native binding, so the runtime hands it in before it sets resources.
 */
export function setDeviceFilterSyscalls(sys: DeviceFilterSyscalls | undefined): void {
  deviceFilterSyscalls = sys;
}

/** cgroup v2: one directory in the unified hierarchy. */
export class ManagerV2 implements CgroupManager {
  readonly version = 2 as const;
  constructor(readonly paths: Record<string, string>) {}

  private get dir(): string {
    const d = this.paths[""];
    if (!d) throw new Error("no cgroup2 path recorded");
    return d;
  }

  apply(pid: number): void {
    mkdirP(this.dir);
    writeValue(join(this.dir, "cgroup.procs"), String(pid));
  }

  prepareSelfJoin(create: boolean): { into?: string; tasks: string[] } {
    if (create) mkdirP(this.dir);
    return { into: this.dir, tasks: [] };
  }

  set(resources: LinuxResources, devices: DeviceCgroup[] = []): void {
    mkdirP(this.dir);
    // as on v1: from "deny all", the rules in order, the config's devices, then what every container needs;
    // no linux.resources.devices leaves the cgroup's filter as it is (`update` sends none)
    if (resources.devices)
      installDeviceFilter(this.dir, [...resources.devices, ...devices, ...DEFAULT_ALLOWED_DEVICES], deviceFilterSyscalls);
    applyV2(this.dir, v2Values(resources));
  }

  pids(): number[] {
    return readPids(join(this.dir, "cgroup.procs"));
  }

  freeze(): void {
    this.setFrozen(true);
  }

  thaw(): void {
    this.setFrozen(false);
  }

  frozen(): boolean {
    try {
      return /^frozen 1$/m.test(readFileSync(join(this.dir, "cgroup.events"), "utf8"));
    } catch {
      return false;
    }
  }

  private setFrozen(on: boolean): void {
    writeValue(join(this.dir, "cgroup.freeze"), on ? "1" : "0");
    for (let i = 0; i < 1000 && this.frozen() !== on; i++) sleepMs(1);
    if (this.frozen() !== on) throw new Error(`cgroup did not become ${on ? "frozen" : "thawed"}`);
  }

  stats(): CgroupStats {
    return statsV2(this.dir);
  }

  oomKills(): number {
    return oomKillsV2(this.dir);
  }

  destroy(): void {
    removeCgroupDir(this.dir);
  }
}
