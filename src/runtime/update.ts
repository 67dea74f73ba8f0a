import { ramInBytes } from "../cgroups/memory-size.js";
import { failedPrecondition, invalidArgument } from "../errors/index.js";
import type { LinuxResources } from "../oci/index.js";
import { cgroupOf, loadState, requireStatus, saveState, statusOf } from "./container-state.js";
import type { RuntimeContext } from "./context.js";

/** Which statuses allow `update`: any with a live cgroup (runc refuses only a stopped container). */
export const canUpdate = (st: string) => st !== "stopped";

/**
 * `update`: change the resource limits of a live container. The request is
 * merged into the limits the container has (zero and "" mean "unchanged", as
 * containerd sends them), the merged limits are written through the
 * container's CgroupManager (device rules excepted, as in runc), and recorded
 * in state.json's config so later reads see them.
 */
export function update(ctx: RuntimeContext, id: string, request: LinuxResources): LinuxResources {
  const s = loadState(ctx.root, id);
  const st = statusOf(ctx.root, s);
  requireStatus(id, st, canUpdate(st), "update");
  if (request.memory?.kernel || request.memory?.kernelTCP)
    ctx.log("warning", "kernel memory settings are ignored (the kernel deprecated them), as runc ignores them");
  const merged = mergeResources(s.config.linux?.resources ?? {}, request);
  const { devices: _devices, ...apply } = merged;
  try {
    cgroupOf(s).set(apply);
  } catch (err) {
    throw failedPrecondition(`update resources of container "${id}": ${(err as Error).message}`, err);
  }
  s.config.linux = { ...s.config.linux, resources: merged };
  saveState(ctx.root, s);
  return merged;
}

/** Keep only the entries that say something: not undefined, not 0, not "". */
function given<T extends object>(o: T | undefined, zeroMeans = true): Partial<T> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o ?? {})) {
    if (v === undefined || v === "" || (zeroMeans && v === 0)) continue;
    out[k] = v;
  }
  return out as Partial<T>;
}

function upsert<T>(old: T[] | undefined, add: T[] | undefined, key: (x: T) => string): T[] | undefined {
  if (!add?.length) return old;
  const out = [...(old ?? [])];
  for (const a of add) {
    const i = out.findIndex((o) => key(o) === key(a));
    if (i >= 0) out[i] = { ...out[i], ...a };
    else out.push(a);
  }
  return out;
}

/** The container's limits after an update request. */
export function mergeResources(old: LinuxResources, req: LinuxResources): LinuxResources {
  const out: LinuxResources = structuredClone(old);
  if (req.memory) {
    const { kernel: _k, kernelTCP: _t, swappiness, disableOOMKiller, ...sizes } = req.memory;
    const memory = { ...out.memory, ...given(sizes) };
    if (swappiness !== undefined) memory.swappiness = swappiness;
    if (disableOOMKiller !== undefined) memory.disableOOMKiller = disableOOMKiller;
    // an unlimited memory limit without a swap value lifts swap too (the driver writes memsw -1)
    if (req.memory.limit === -1 && !req.memory.swap) delete memory.swap;
    out.memory = memory;
  }
  if (req.cpu) {
    const { burst, idle, ...rest } = req.cpu;
    const cpu = { ...out.cpu, ...given(rest) };
    if (burst !== undefined) cpu.burst = burst;
    if (idle !== undefined) cpu.idle = idle;
    out.cpu = cpu;
  }
  if (req.pids?.limit) out.pids = { limit: req.pids.limit };
  if (req.blockIO) {
    const io = { ...out.blockIO, ...given({ weight: req.blockIO.weight, leafWeight: req.blockIO.leafWeight }) };
    const dev = (d: { major: number; minor: number }) => `${d.major}:${d.minor}`;
    for (const k of [
      "weightDevice",
      "throttleReadBpsDevice",
      "throttleWriteBpsDevice",
      "throttleReadIOPSDevice",
      "throttleWriteIOPSDevice",
    ] as const) {
      const v = upsert<{ major: number; minor: number }>(io[k], req.blockIO[k], dev);
      if (v) (io as Record<string, unknown>)[k] = v;
    }
    out.blockIO = io;
  }
  const huge = upsert(out.hugepageLimits, req.hugepageLimits, (h) => h.pageSize);
  if (huge) out.hugepageLimits = huge;
  if (req.network) out.network = req.network;
  if (req.unified) out.unified = { ...out.unified, ...req.unified };
  return out;
}

/** The single-value flags of `runc update`, as strings from the command line. */
export interface UpdateFlags {
  memory?: string;
  memoryReservation?: string;
  memorySwap?: string;
  kernelMemory?: string;
  kernelMemoryTcp?: string;
  cpuShares?: string;
  cpuQuota?: string;
  cpuPeriod?: string;
  cpuBurst?: string;
  cpuRtPeriod?: string;
  cpuRtRuntime?: string;
  cpuIdle?: string;
  cpusetCpus?: string;
  cpusetMems?: string;
  pidsLimit?: number;
  blkioWeight?: number;
}

function integer(flag: string, v: string, unsigned: boolean): number {
  if (!(unsigned ? /^\d+$/ : /^-?\d+$/).test(v.trim())) throw invalidArgument(`invalid value for --${flag}: "${v}"`);
  return Number(v);
}

/** An update request from runc's single flags; memory sizes take units ("64m"). */
export function resourcesFromFlags(f: UpdateFlags): LinuxResources {
  const r: LinuxResources = {};
  const memory: NonNullable<LinuxResources["memory"]> = {};
  const size = (flag: string, v: string | undefined, set: (n: number) => void) => {
    if (v === undefined || v === "") return;
    try {
      set(ramInBytes(v));
    } catch (err) {
      throw invalidArgument(`invalid value for --${flag}: ${(err as Error).message}`, err);
    }
  };
  size("memory", f.memory, (n) => (memory.limit = n));
  size("memory-reservation", f.memoryReservation, (n) => (memory.reservation = n));
  size("memory-swap", f.memorySwap, (n) => (memory.swap = n));
  size("kernel-memory", f.kernelMemory, (n) => (memory.kernel = n));
  size("kernel-memory-tcp", f.kernelMemoryTcp, (n) => (memory.kernelTCP = n));
  if (Object.keys(memory).length) r.memory = memory;
  const cpu: NonNullable<LinuxResources["cpu"]> = {};
  const num = (flag: string, v: string | undefined, unsigned: boolean, set: (n: number) => void) => {
    if (v !== undefined && v !== "") set(integer(flag, v, unsigned));
  };
  num("cpu-share", f.cpuShares, true, (n) => (cpu.shares = n));
  num("cpu-quota", f.cpuQuota, false, (n) => (cpu.quota = n));
  num("cpu-period", f.cpuPeriod, true, (n) => (cpu.period = n));
  num("cpu-burst", f.cpuBurst, true, (n) => (cpu.burst = n));
  num("cpu-rt-period", f.cpuRtPeriod, true, (n) => (cpu.realtimePeriod = n));
  num("cpu-rt-runtime", f.cpuRtRuntime, false, (n) => (cpu.realtimeRuntime = n));
  num("cpu-idle", f.cpuIdle, false, (n) => (cpu.idle = n));
  if (f.cpusetCpus) cpu.cpus = f.cpusetCpus;
  if (f.cpusetMems) cpu.mems = f.cpusetMems;
  if (Object.keys(cpu).length) r.cpu = cpu;
  if (f.pidsLimit !== undefined) r.pids = { limit: f.pidsLimit };
  if (f.blkioWeight) r.blockIO = { weight: f.blkioWeight };
  return r;
}

/** An update request read from `--resources` JSON: checked at this trust boundary. */
export function parseResourcesJson(text: string, where: string): LinuxResources {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw invalidArgument(`parse resources from ${where}: ${(err as Error).message}`, err);
  }
  const isObj = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);
  if (!isObj(v)) throw invalidArgument(`parse resources from ${where}: want a JSON object`);
  const want = (section: string, fields: Record<string, "number" | "string" | "boolean">) => {
    const s = v[section];
    if (s === undefined || s === null) return;
    if (!isObj(s)) throw invalidArgument(`resources from ${where}: "${section}" must be an object`);
    for (const [k, t] of Object.entries(fields))
      if (s[k] !== undefined && s[k] !== null && typeof s[k] !== t)
        throw invalidArgument(`resources from ${where}: "${section}.${k}" must be a ${t}`);
  };
  want("memory", {
    limit: "number",
    reservation: "number",
    swap: "number",
    kernel: "number",
    kernelTCP: "number",
    swappiness: "number",
    disableOOMKiller: "boolean",
  });
  want("cpu", {
    shares: "number",
    quota: "number",
    period: "number",
    burst: "number",
    realtimeRuntime: "number",
    realtimePeriod: "number",
    cpus: "string",
    mems: "string",
    idle: "number",
  });
  want("pids", { limit: "number" });
  want("blockIO", { weight: "number", leafWeight: "number" });
  // JSON null means "absent" for every field, as Go's decoder reads it into a nil pointer
  return JSON.parse(text, (_k, x) => (x === null ? undefined : x)) as LinuxResources;
}
