import { existsSync } from "node:fs";
import { join } from "node:path";
import type { DeviceCgroup, LinuxResources } from "../../oci/index.js";
import { writeValue } from "../fs-util.js";

/** One write to a cgroup file; a plan of these is what `set` performs (and what tests inspect). */
export interface CgroupWrite {
  controller: string;
  file: string;
  value: string;
}

/** The devices every container may use whatever its config says, as runc and Docker allow them. */
export const DEFAULT_ALLOWED_DEVICES: DeviceCgroup[] = [
  // mknod of any node (using one still needs its own rule), as runc and Docker allow
  { allow: true, type: "c", access: "m" },
  { allow: true, type: "b", access: "m" },
  { allow: true, type: "c", major: 1, minor: 3, access: "rwm" }, // null
  { allow: true, type: "c", major: 1, minor: 5, access: "rwm" }, // zero
  { allow: true, type: "c", major: 1, minor: 7, access: "rwm" }, // full
  { allow: true, type: "c", major: 1, minor: 8, access: "rwm" }, // random
  { allow: true, type: "c", major: 1, minor: 9, access: "rwm" }, // urandom
  { allow: true, type: "c", major: 5, minor: 0, access: "rwm" }, // tty
  { allow: true, type: "c", major: 5, minor: 1, access: "rwm" }, // console
  { allow: true, type: "c", major: 5, minor: 2, access: "rwm" }, // ptmx
  { allow: true, type: "c", major: 136, access: "rwm" }, // pts/*
  { allow: true, type: "c", major: 10, minor: 200, access: "rwm" }, // net/tun
];

/** rdma.max lines ("mlx5_1 hca_handle=3 hca_object=10000"), one per device, only the limits set (v1 and v2 alike). */
export function rdmaLines(r: LinuxResources): string[] {
  const out: string[] = [];
  for (const [dev, l] of Object.entries(r.rdma ?? {})) {
    const kv = [
      ...(l.hcaHandles !== undefined ? [`hca_handle=${l.hcaHandles}`] : []),
      ...(l.hcaObjects !== undefined ? [`hca_object=${l.hcaObjects}`] : []),
    ];
    if (kv.length) out.push(`${dev} ${kv.join(" ")}`);
  }
  return out;
}

export function deviceRule(d: DeviceCgroup): string {
  const num = (n: number | undefined) => (n === undefined || n < 0 ? "*" : String(n));
  const type = d.type ?? "a";
  if (type === "a") return "a *:* rwm".replace("rwm", d.access ?? "rwm");
  return `${type} ${num(d.major)}:${num(d.minor)} ${d.access ?? "rwm"}`;
}

/** The cgroup v1 writes for LinuxResources, in the order the kernel accepts them. */
export function v1Writes(r: LinuxResources, extraDevices: DeviceCgroup[] = []): CgroupWrite[] {
  const w: CgroupWrite[] = [];
  const put = (controller: string, file: string, value: string | number | bigint | undefined) => {
    if (value !== undefined) w.push({ controller, file, value: String(value) });
  };
  // as runc reads LinuxResources, zero means "not set" for these (callers such as dockerd send zeros)
  const nz = (v: number | undefined) => (v === 0 ? undefined : v);
  const cpu = r.cpu;
  if (cpu) {
    put("cpu", "cpu.shares", nz(cpu.shares));
    // period before quota: a quota larger than the old period is refused otherwise
    put("cpu", "cpu.cfs_period_us", nz(cpu.period));
    put("cpu", "cpu.cfs_quota_us", nz(cpu.quota));
    put("cpu", "cpu.cfs_burst_us", cpu.burst);
    put("cpu", "cpu.rt_period_us", nz(cpu.realtimePeriod));
    put("cpu", "cpu.rt_runtime_us", nz(cpu.realtimeRuntime));
    put("cpu", "cpu.idle", cpu.idle);
    put("cpuset", "cpuset.cpus", cpu.cpus || undefined);
    put("cpuset", "cpuset.mems", cpu.mems || undefined);
  }
  const mem = r.memory;
  if (mem) {
    put("memory", "memory.limit_in_bytes", nz(mem.limit));
    put("memory", "memory.soft_limit_in_bytes", nz(mem.reservation));
    // memsw must stay >= limit: when both are set it is written after the limit
    put("memory", "memory.memsw.limit_in_bytes", nz(mem.swap));
    put("memory", "memory.kmem.limit_in_bytes", nz(mem.kernel));
    put("memory", "memory.kmem.tcp.limit_in_bytes", nz(mem.kernelTCP));
    put(
      "memory",
      "memory.swappiness",
      mem.swappiness !== undefined && mem.swappiness >= 0 && mem.swappiness <= 100 ? mem.swappiness : undefined,
    );
    if (mem.disableOOMKiller) put("memory", "memory.oom_control", 1);
  }
  if (r.pids && r.pids.limit !== 0) put("pids", "pids.max", r.pids.limit > 0 ? r.pids.limit : "max");
  const io = r.blockIO;
  if (io) {
    // CFQ's blkio.weight is gone from current kernels; BFQ's is the same knob
    put("blkio", "blkio.weight|blkio.bfq.weight", nz(io.weight));
    put("blkio", "blkio.leaf_weight", nz(io.leafWeight));
    for (const d of io.weightDevice ?? []) {
      if (d.weight !== undefined) put("blkio", "blkio.weight_device", `${d.major}:${d.minor} ${d.weight}`);
      if (d.leafWeight !== undefined) put("blkio", "blkio.leaf_weight_device", `${d.major}:${d.minor} ${d.leafWeight}`);
    }
    const throttle: [keyof typeof io, string][] = [
      ["throttleReadBpsDevice", "blkio.throttle.read_bps_device"],
      ["throttleWriteBpsDevice", "blkio.throttle.write_bps_device"],
      ["throttleReadIOPSDevice", "blkio.throttle.read_iops_device"],
      ["throttleWriteIOPSDevice", "blkio.throttle.write_iops_device"],
    ];
    for (const [key, file] of throttle)
      for (const d of (io[key] as { major: number; minor: number; rate: number }[] | undefined) ?? [])
        put("blkio", file, `${d.major}:${d.minor} ${d.rate}`);
  }
  for (const h of r.hugepageLimits ?? []) put("hugetlb", `hugetlb.${h.pageSize}.limit_in_bytes`, h.limit);
  for (const line of rdmaLines(r)) put("rdma", "rdma.max", line);
  if (r.network?.classID !== undefined) put("net_cls", "net_cls.classid", r.network.classID);
  for (const p of r.network?.priorities ?? []) put("net_prio", "net_prio.ifpriomap", `${p.name} ${p.priority}`);
  if (r.devices) {
    // start from nothing, then the rules in order, then what every container needs
    put("devices", "devices.deny", "a");
    for (const d of [...r.devices, ...extraDevices, ...DEFAULT_ALLOWED_DEVICES])
      put("devices", d.allow ? "devices.allow" : "devices.deny", deviceRule(d));
  }
  return w;
}

/** Perform writes against the container's directories; a controller the host lacks is an error naming the field. */
export function applyWrites(paths: Record<string, string>, writes: CgroupWrite[]): void {
  for (const x of writes) {
    const dir = paths[x.controller] ?? Object.entries(paths).find(([k]) => k.split(",").includes(x.controller))?.[1];
    if (!dir) throw new Error(`cgroup controller "${x.controller}" is not mounted on this host (needed for ${x.file})`);
    const file = x.file
      .split("|")
      .map((f) => join(dir, f))
      .find((f) => existsSync(f));
    if (!file) throw new Error(`${x.file.split("|")[0]}: not supported by this kernel`);
    try {
      writeValue(file, x.value);
    } catch (err) {
      throw new Error(`write ${x.value} to ${x.file}: ${(err as Error).message}`, { cause: err });
    }
  }
}
