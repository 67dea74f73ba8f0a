import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { DeviceCgroup, LinuxResources } from "../../oci/index.js";
import type { CgroupManager } from "../manager.js";
import type { CgroupStats } from "../stats.js";
import { oomKillsV1 } from "./memory-stats-v1.js";
import { orderMemoryWrites } from "./memory-order-v1.js";
import { controllerDir, statsV1 } from "./stats-v1.js";
import { applyWrites, v1Writes } from "./resources-v1.js";
import { mkdirP, readPids, removeCgroupDir, sleepMs, writeValue } from "../fs-util.js";

/** cgroup v1 (and the hybrid cgroup2 beside it): one directory per hierarchy. */
export class ManagerV1 implements CgroupManager {
  readonly version = 1 as const;
  constructor(readonly paths: Record<string, string>) {}

  apply(pid: number, only?: readonly string[]): void {
    for (const [name, dir] of Object.entries(this.paths)) {
      if (only && !only.includes(name)) continue;
      mkdirP(dir);
      // a new cpuset cgroup starts empty: inherit the parent's cpus and mems first
      if (name === "cpuset") inheritCpuset(dir);
      writeValue(join(dir, "cgroup.procs"), String(pid));
    }
  }

  prepareSelfJoin(create: boolean): { into?: string; tasks: string[] } {
    let into: string | undefined;
    const tasks: string[] = [];
    for (const [name, dir] of Object.entries(this.paths)) {
      if (create) {
        mkdirP(dir);
        if (name === "cpuset") inheritCpuset(dir);
      }
      // "" is the cgroup2 hierarchy of a hybrid host
      if (name === "") into = dir;
      else tasks.push(join(dir, "tasks"));
    }
    return into === undefined ? { tasks } : { into, tasks };
  }

  set(resources: LinuxResources, devices: DeviceCgroup[] = []): void {
    const writes = v1Writes(resources, devices);
    for (const c of new Set(writes.map((w) => w.controller))) {
      const dir = this.paths[c] ?? Object.entries(this.paths).find(([k]) => k.split(",").includes(c))?.[1];
      if (dir) {
        mkdirP(dir);
        if (c === "cpuset") inheritCpuset(dir);
      }
    }
    // the limit/memsw order depends on the limit the cgroup has now
    const mem = controllerDir(this.paths, "memory");
    const ordered = orderMemoryWrites(
      writes,
      () => (mem ? Number(readFileSync(join(mem, "memory.limit_in_bytes"), "utf8").trim()) : 0),
      mem !== undefined && existsSync(join(mem, "memory.memsw.limit_in_bytes")),
    );
    applyWrites(this.paths, ordered);
  }

  pids(): number[] {
    const dir = this.paths["pids"] ?? this.paths["freezer"] ?? Object.values(this.paths)[0];
    return dir ? readPids(join(dir, "cgroup.procs")) : [];
  }

  freeze(): void {
    this.setFreezer("FROZEN");
  }

  thaw(): void {
    this.setFreezer("THAWED");
  }

  frozen(): boolean {
    const dir = this.paths["freezer"];
    if (!dir) return false;
    try {
      return readFileSync(join(dir, "freezer.state"), "utf8").trim() !== "THAWED";
    } catch {
      return false;
    }
  }

  private setFreezer(state: "FROZEN" | "THAWED"): void {
    const dir = this.paths["freezer"];
    if (!dir) throw new Error("the freezer cgroup controller is not mounted");
    const file = join(dir, "freezer.state");
    for (let i = 0; i < 1000; i++) {
      writeValue(file, state);
      if (readFileSync(file, "utf8").trim() === state) return;
      sleepMs(1);
    }
    throw new Error(`freezer did not reach ${state}`);
  }

  stats(): CgroupStats {
    return statsV1(this.paths);
  }

  oomKills(): number {
    return oomKillsV1(controllerDir(this.paths, "memory"));
  }

  destroy(): void {
    for (const dir of Object.values(this.paths)) removeCgroupDir(dir);
  }
}

function inheritCpuset(dir: string): void {
  const parent = join(dir, "..");
  for (const f of ["cpuset.cpus", "cpuset.mems"]) {
    const mine = readFileSync(join(dir, f), "utf8").trim();
    if (mine) continue;
    inheritCpuset(parent === dir ? dir : parent);
    writeValue(join(dir, f), readFileSync(join(parent, f), "utf8").trim());
  }
}
