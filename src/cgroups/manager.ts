/**
 * The contract every cgroup driver (v1/, v2/) fulfils for one container.
 * A manager only ever touches the container's own cgroup directories.
 */
import type { DeviceCgroup, LinuxResources } from "../oci/index.js";
import type { CgroupStats } from "./stats.js";

export interface CgroupManager {
  readonly version: 1 | 2;
  /** controller or hierarchy name -> absolute directory of the container's cgroup */
  readonly paths: Record<string, string>;
  /** create the cgroup directories (mkdir -p) and move `pid` into them; `only`: those hierarchies ("" is cgroup2) */
  apply(pid: number, only?: readonly string[]): void;
  /**
   * the cgroup2 directory to clone a process into (CLONE_INTO_CGROUP) and the v1 `tasks` files
   * it writes "0" to, for a process that places itself; `create` makes the directories first
   * (a new container's), without it they must exist (an exec's: a missing one means the
   * container is gone, and must not be made again)
   */
  prepareSelfJoin(create: boolean): { into?: string; tasks: string[] };
  /** create the directories and write the limits; `devices` are the config's devices, always allowed */
  set(resources: LinuxResources, devices?: DeviceCgroup[]): void;
  /** every pid in the container's cgroup */
  pids(): number[];
  freeze(): void;
  thaw(): void;
  frozen(): boolean;
  /** usage counters of every controller, in runc's `events` shape; a missing controller reads as zeros */
  stats(): CgroupStats;
  /** how many processes the kernel's OOM killer has killed in the container's memory cgroup so far */
  oomKills(): number;
  /** remove the container's cgroup directories, retrying while the kernel still holds them */
  destroy(): void;
}
