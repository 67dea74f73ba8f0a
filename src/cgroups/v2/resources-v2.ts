import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { LinuxResources } from "../../oci/index.js";
import { writeValue } from "../fs-util.js";
import { rdmaLines } from "../v1/resources-v1.js";

/** cpu.shares (2..262144) to cpu.weight (1..10000), as runc and crun convert it (integer division). */
export function sharesToWeight(shares: number): number {
  if (shares === 0) return 0;
  return 1 + Math.floor(((shares - 2) * 9999) / 262142);
}

/** blkio weight (10..1000) to io.weight (1..10000), for hosts without BFQ, as runc converts it. */
export function blkioWeightToIoWeight(weight: number): number {
  if (weight === 0) return 0;
  return 1 + Math.floor(((weight - 10) * 9999) / 990);
}

/** The cgroup v2 key/values for LinuxResources; `unified` entries win. */
export function v2Values(r: LinuxResources): Map<string, string> {
  const v = new Map<string, string>();
  const cpu = r.cpu;
  if (cpu) {
    if (cpu.shares) v.set("cpu.weight", String(sharesToWeight(cpu.shares)));
    if (cpu.quota !== undefined || cpu.period !== undefined)
      v.set("cpu.max", `${cpu.quota !== undefined && cpu.quota > 0 ? cpu.quota : "max"} ${cpu.period ?? 100000}`);
    if (cpu.burst !== undefined) v.set("cpu.max.burst", String(cpu.burst));
    if (cpu.idle !== undefined) v.set("cpu.idle", String(cpu.idle));
    if (cpu.cpus) v.set("cpuset.cpus", cpu.cpus);
    if (cpu.mems) v.set("cpuset.mems", cpu.mems);
  }
  const mem = r.memory;
  if (mem) {
    if (mem.limit !== undefined) v.set("memory.max", mem.limit > 0 ? String(mem.limit) : "max");
    if (mem.reservation !== undefined) v.set("memory.low", String(mem.reservation));
    // v1's memsw is memory+swap; v2's swap.max is swap alone
    if (mem.swap !== undefined) v.set("memory.swap.max", mem.swap < 0 ? "max" : String(Math.max(0, mem.swap - (mem.limit ?? 0))));
  }
  if (r.pids) v.set("pids.max", r.pids.limit > 0 ? String(r.pids.limit) : "max");
  const io = r.blockIO;
  // the default weight, then "MAJ:MIN W" per device (v2 has no leaf weight; runc ignores it too)
  const weights = [
    ...(io?.weight ? [String(io.weight)] : []),
    ...(io?.weightDevice ?? []).filter((d) => d.weight).map((d) => `${d.major}:${d.minor} ${d.weight}`),
  ];
  if (weights.length) v.set("io.bfq.weight", weights.join("\n"));
  // io.max takes one device per write: "MAJ:MIN rbps=N wiops=N ...", one line per device here
  const max = new Map<string, string[]>();
  const throttle = [
    [io?.throttleReadBpsDevice, "rbps"],
    [io?.throttleWriteBpsDevice, "wbps"],
    [io?.throttleReadIOPSDevice, "riops"],
    [io?.throttleWriteIOPSDevice, "wiops"],
  ] as const;
  for (const [devices, key] of throttle)
    for (const d of devices ?? []) {
      const dev = `${d.major}:${d.minor}`;
      max.set(dev, [...(max.get(dev) ?? []), `${key}=${d.rate}`]);
    }
  if (max.size) v.set("io.max", [...max].map(([dev, kv]) => `${dev} ${kv.join(" ")}`).join("\n"));
  for (const h of r.hugepageLimits ?? []) v.set(`hugetlb.${h.pageSize}.max`, String(h.limit));
  const rdma = rdmaLines(r);
  if (rdma.length) v.set("rdma.max", rdma.join("\n"));
  for (const [k, val] of Object.entries(r.unified ?? {})) v.set(k, val);
  return v;
}

/** Enable the controllers we need in every ancestor's subtree_control, then write the values. */
export function applyV2(dir: string, values: Map<string, string>): void {
  const wanted = new Set([...values.keys()].map((k) => k.split(".")[0] ?? ""));
  if (wanted.size) enableControllers(dir, wanted);
  for (const [k, val] of values) {
    let file = join(dir, k);
    let value = val;
    // io.bfq.weight exists only while the BFQ scheduler is loaded; elsewhere the weight goes to
    // io.weight (iocost), converted, as runc does
    if (k === "io.bfq.weight" && !existsSync(file)) {
      file = join(dir, "io.weight");
      // per-device weights are BFQ's: without it they are ignored, as runc ignores them
      const dflt = val.split("\n").find((line) => /^\d+$/.test(line));
      if (dflt === undefined) continue;
      value = String(blkioWeightToIoWeight(Number(dflt)));
    }
    if (!existsSync(file)) throw new Error(`${k}: not supported by this kernel or controller not enabled`);
    // a file with one entry per write (io.max): one write per line
    for (const line of value.split("\n")) writeValue(file, line);
  }
}

function enableControllers(dir: string, wanted: Set<string>): void {
  const chain: string[] = [];
  for (let d = dirname(dir); existsSync(join(d, "cgroup.subtree_control")); d = dirname(d)) {
    chain.unshift(d);
    if (d === dirname(d)) break;
  }
  for (const d of chain) {
    const available = readFileSync(join(d, "cgroup.controllers"), "utf8").trim().split(/\s+/);
    const add = [...wanted].filter((c) => available.includes(c)).map((c) => `+${c}`);
    if (add.length) writeValue(join(d, "cgroup.subtree_control"), add.join(" "));
  }
}
