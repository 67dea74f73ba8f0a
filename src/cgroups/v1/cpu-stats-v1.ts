import { join } from "node:path";
import type { CgroupStats } from "../stats.js";
import { omitZero, parseFlatKeyed, readOptional, readUintOptional } from "../stats.js";

/** cpuacct.stat counts USER_HZ ticks; the kernel's USER_HZ is 100 on every architecture runc supports. */
const NS_PER_TICK = 1e9 / 100;

const perCpu = (text: string | undefined) =>
  text === undefined ? undefined : text.trim().split(/\s+/).filter(Boolean).map(Number);

/** CPU usage from cpuacct (usage, per-cpu, user/system) and throttling from cpu.stat. */
export function cpuStatsV1(cpuacctDir: string | undefined, cpuDir: string | undefined): CgroupStats["cpu"] {
  const usage: CgroupStats["cpu"]["usage"] = { kernel: 0, user: 0 };
  if (cpuacctDir) {
    const total = readUintOptional(join(cpuacctDir, "cpuacct.usage"));
    if (total) usage.total = total;
    const percpu = perCpu(readOptional(join(cpuacctDir, "cpuacct.usage_percpu")));
    if (percpu?.length) usage.percpu = percpu;
    const kernel = perCpu(readOptional(join(cpuacctDir, "cpuacct.usage_percpu_sys")));
    if (kernel?.length) usage.percpu_kernel = kernel;
    const user = perCpu(readOptional(join(cpuacctDir, "cpuacct.usage_percpu_user")));
    if (user?.length) usage.percpu_user = user;
    const stat = readOptional(join(cpuacctDir, "cpuacct.stat"));
    if (stat !== undefined) {
      const s = parseFlatKeyed(stat, "cpuacct.stat");
      usage.user = (s["user"] ?? 0) * NS_PER_TICK;
      usage.kernel = (s["system"] ?? 0) * NS_PER_TICK;
    }
  }
  let throttling: CgroupStats["cpu"]["throttling"] = {};
  const stat = cpuDir ? readOptional(join(cpuDir, "cpu.stat")) : undefined;
  if (stat !== undefined) {
    const s = parseFlatKeyed(stat, "cpu.stat");
    throttling = omitZero({
      periods: s["nr_periods"],
      throttledPeriods: s["nr_throttled"],
      throttledTime: s["throttled_time"],
    });
  }
  return { usage, throttling };
}
