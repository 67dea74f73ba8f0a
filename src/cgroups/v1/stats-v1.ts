import type { CgroupStats } from "../stats.js";
import { hugePageSizes } from "../stats.js";
import { blkioStatsV1 } from "./blkio-stats-v1.js";
import { cpuStatsV1 } from "./cpu-stats-v1.js";
import { hugetlbStatsV1 } from "./hugetlb-stats-v1.js";
import { memoryStatsV1 } from "./memory-stats-v1.js";
import { pidsStats } from "../pids-stats.js";

/** The directory of controller `c`, whether it has a hierarchy of its own or shares one ("cpu,cpuacct"). */
export function controllerDir(paths: Record<string, string>, c: string): string | undefined {
  return paths[c] ?? Object.entries(paths).find(([k]) => k.split(",").includes(c))?.[1];
}

/** Every controller's statistics for a v1 container; a controller the host lacks reads as zeros. */
export function statsV1(paths: Record<string, string>, sizes: string[] = hugePageSizes()): CgroupStats {
  const dir = (c: string) => controllerDir(paths, c);
  return {
    cpu: cpuStatsV1(dir("cpuacct"), dir("cpu")),
    memory: memoryStatsV1(dir("memory")),
    pids: pidsStats(dir("pids")),
    blkio: blkioStatsV1(dir("blkio")),
    hugetlb: hugetlbStatsV1(dir("hugetlb"), sizes),
  };
}
