import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { LinuxResources } from "../../oci/index.js";
import type { CgroupManager } from "../manager.js";
import type { CgroupStats } from "../stats.js";
import { oomKillsV2 } from "./memory-stats-v2.js";
import { statsV2 } from "./stats-v2.js";
import { applyV2, v2Values } from "./resources-v2.js";
import { mkdirP, readPids, removeCgroupDir, sleepMs, writeValue } from "../fs-util.js";

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

  set(resources: LinuxResources): void {
    // device rules on v2 need an eBPF program, which the executor does not load yet
    mkdirP(this.dir);
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
