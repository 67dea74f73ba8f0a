// cgroup v2 behaviours the runtime suite does not reach on a v1 host: how config.json's resources
// land in the unified hierarchy's files (cpu.weight, cpu.max, memory.swap.max, io.weight, io.max,
// pids.max, hugetlb), the freezer (cgroup.freeze), kill --all, `events --stats` against the files,
// OOM kills counted in memory.events, and device rules (an eBPF program on v2). Black box: any
// runtime (BERTH_TEST_RUNTIME); skipped unless every controller is on cgroup2 (run it with
// test/cgroup2/run-suite.sh, which boots a cgroup2 VM where the host is v1).
import assert from "node:assert/strict";
import { closeSync, constants, existsSync, openSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { TestContext } from "node:test";
import type { Spec } from "../../src/oci/index.js";
import type { Harness, RtTestOptions } from "../integration/harness.js";
import { native } from "../../src/native/index.js";
import { alive, rtest, waitFor } from "../integration/harness.js";

const MiB = 1024 * 1024;

const mountinfo = existsSync("/proc/self/mountinfo") ? readFileSync("/proc/self/mountinfo", "utf8").split("\n") : [];
const fstypes = mountinfo.map((l) => l.split(" - ")[1]?.split(" ")[0]);
/** every controller on cgroup2: a cgroup2 mount and no v1 hierarchy */
const V2_ONLY = fstypes.includes("cgroup2") && !fstypes.includes("cgroup");

/** rtest, skipped where the host is not cgroup2-only */
function v2test(name: string, fn: (h: Harness, t: TestContext) => Promise<void> | void, o: RtTestOptions = {}): void {
  if (!V2_ONLY) {
    rtest(name, (_h, t) => t.skip("needs every controller on cgroup2 (test/cgroup2/run-suite.sh boots a VM)"));
    return;
  }
  rtest(name, fn, o);
}

/** The cgroup2 directory of a host pid. */
function cgDir(pid: number): string {
  const line = readFileSync(`/proc/${pid}/cgroup`, "utf8")
    .split("\n")
    .find((l) => l.startsWith("0::"));
  if (line === undefined) throw new Error(`pid ${pid} has no cgroup2 path`);
  for (const m of mountinfo) {
    const [pre, post] = m.split(" - ");
    const f = pre?.split(" ") ?? [];
    if (post?.startsWith("cgroup2 ") && f[3] === "/") return join(f[4] ?? "", line.slice(3));
  }
  throw new Error("no cgroup2 mount with root /");
}

const cgRead = (pid: number, file: string) => readFileSync(join(cgDir(pid), file), "utf8").trim();

/** A flat-keyed cgroup file (memory.events, cpu.stat, pids.events ...) as numbers. */
function cgKeyed(pid: number, file: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const l of cgRead(pid, file).split("\n")) {
    const [k, v] = l.split(" ");
    if (k) out[k] = Number(v);
  }
  return out;
}

function resources(s: Spec, r: NonNullable<NonNullable<Spec["linux"]>["resources"]>): void {
  s.linux ??= {};
  s.linux.resources = { ...s.linux.resources, ...r };
}

/** runc's (and crun's) linear cpu.shares -> cpu.weight, integer arithmetic (runc 1.1's libcontainer/cgroups/utils.go). */
const weightOf = (shares: number) => 1 + Math.floor(((shares - 2) * 9999) / 262142);

/** A block device of this machine ("MAJ:MIN"), for io.max and device rules; the VM has a scratch disk. */
function blockDevice(): { major: number; minor: number } | undefined {
  for (const name of existsSync("/sys/block") ? readdirSync("/sys/block").sort() : []) {
    if (/^(loop|ram|zram|nbd|dm-|md)/.test(name)) continue;
    const [major, minor] = readFileSync(`/sys/block/${name}/dev`, "utf8").trim().split(":").map(Number);
    if (major !== undefined && minor !== undefined) return { major, minor };
  }
  return undefined;
}

// biome-ignore lint/suspicious/noExplicitAny: runc's stats JSON is deep and loosely typed
type Json = Record<string, any>;

function statsOf(h: Harness, id: string): Json {
  const e = JSON.parse(h.ok(["events", "--stats", id]).trim()) as Json;
  assert.equal(e["type"], "stats");
  return e["data"] as Json;
}

v2test("cpu: shares become cpu.weight (runc's conversion), quota/period become cpu.max", async (h) => {
  const { id, pid } = await h.detached(["sleep", "1000"], (s) =>
    resources(s, { cpu: { shares: 1024, quota: 25000, period: 50000 } }),
  );
  assert.equal(cgRead(pid, "cpu.weight"), String(weightOf(1024)), "cpu.shares 1024");
  assert.equal(cgRead(pid, "cpu.max"), "25000 50000");
  h.ok(["update", "--cpu-share", "100", id]);
  assert.equal(cgRead(pid, "cpu.weight"), String(weightOf(100)), "cpu.shares 100");
  h.ok(["update", "--cpu-share", "262144", id]);
  assert.equal(cgRead(pid, "cpu.weight"), "10000", "the largest share is the largest weight");
  // with the period given: runc 1.1 resets a period left out of `update` to 100000
  h.ok(["update", "--cpu-quota", "-1", "--cpu-period", "50000", id]);
  assert.equal(cgRead(pid, "cpu.max"), "max 50000", "quota -1 lifts the limit");
});

v2test("memory: memory.max, memory.low, memory.swap.max = swap - limit (v1's memsw), unified, hugetlb", async (h) => {
  const { id, pid } = await h.detached(["sleep", "1000"], (s) =>
    resources(s, {
      memory: { limit: 64 * MiB, reservation: 32 * MiB, swap: 96 * MiB },
      hugepageLimits: [{ pageSize: "2MB", limit: 4 * MiB }],
      unified: { "memory.high": String(60 * MiB) },
    }),
  );
  assert.equal(cgRead(pid, "memory.max"), String(64 * MiB));
  assert.equal(cgRead(pid, "memory.low"), String(32 * MiB));
  assert.equal(cgRead(pid, "memory.swap.max"), String(32 * MiB), "swap 96M with limit 64M leaves 32M of swap");
  assert.equal(cgRead(pid, "memory.high"), String(60 * MiB), "linux.resources.unified is written as is");
  assert.equal(cgRead(pid, "hugetlb.2MB.max"), String(4 * MiB));
  h.ok(["update", "--memory", "48m", "--memory-swap", "64m", id]);
  assert.equal(cgRead(pid, "memory.max"), String(48 * MiB));
  assert.equal(cgRead(pid, "memory.swap.max"), String(16 * MiB));
  h.ok(["update", "--memory-swap", "-1", id]);
  assert.equal(cgRead(pid, "memory.swap.max"), "max", "--memory-swap -1: unlimited swap");
});

v2test("pids: pids.max stops the fork that would pass it, counted in pids.events", async (h) => {
  const { pid } = await h.detached(
    // the subshell meets the refused fork, the init goes on
    ["sh", "-c", "(i=0; while [ $i -lt 10 ]; do sleep 1000 & i=$((i+1)); done); exec sleep 1000"],
    (s) => resources(s, { pids: { limit: 5 } }),
  );
  assert.equal(cgRead(pid, "pids.max"), "5");
  await waitFor("a refused fork", () => (cgKeyed(pid, "pids.events")["max"] ?? 0) > 0);
  assert.ok(Number(cgRead(pid, "pids.current")) <= 5);
  await waitFor(
    "the init goes on after the refused fork",
    () => readFileSync(`/proc/${pid}/cmdline`, "utf8") === "sleep\x001000\x00",
  );
});

v2test("io: blockIO.weight becomes io.bfq.weight, or io.weight (runc's conversion) without BFQ", async (h) => {
  const { pid } = await h.detached(["sleep", "1000"], (s) => resources(s, { blockIO: { weight: 500 } }));
  if (existsSync(join(cgDir(pid), "io.bfq.weight"))) assert.match(cgRead(pid, "io.bfq.weight"), /^default 500$/m);
  // 1 + (weight - 10) * 9999 / 990, as runc's ConvertBlkIOToIOWeightValue
  else assert.match(cgRead(pid, "io.weight"), /^default 4950$/m);
});

v2test("io: weightDevice lines go to io.bfq.weight; without BFQ they are ignored (runc's rule)", async (h) => {
  const dev = blockDevice();
  assert.ok(dev, "a block device (the VM has a scratch disk)");
  const { pid } = await h.detached(["sleep", "1000"], (s) =>
    resources(s, { blockIO: { weight: 500, weightDevice: [{ major: dev.major, minor: dev.minor, weight: 200 }] } }),
  );
  if (existsSync(join(cgDir(pid), "io.bfq.weight")))
    assert.match(cgRead(pid, "io.bfq.weight"), new RegExp(`^${dev.major}:${dev.minor} 200$`, "m"));
  else {
    assert.match(cgRead(pid, "io.weight"), /^default 4950$/m);
    assert.doesNotMatch(cgRead(pid, "io.weight"), new RegExp(`^${dev.major}:${dev.minor} `, "m"));
  }
});

v2test("io: throttle devices become io.max lines", async (h) => {
  const dev = blockDevice();
  assert.ok(dev, "a block device (the VM has a scratch disk)");
  const { major, minor } = dev;
  const { pid } = await h.detached(["sleep", "1000"], (s) =>
    resources(s, {
      blockIO: {
        throttleReadBpsDevice: [{ major, minor, rate: 1 * MiB }],
        throttleWriteIOPSDevice: [{ major, minor, rate: 100 }],
      },
    }),
  );
  assert.equal(cgRead(pid, "io.max"), `${major}:${minor} rbps=${MiB} wbps=max riops=max wiops=100`);
});

v2test("pause and resume: cgroup.freeze and cgroup.events' frozen", async (h) => {
  const { id, pid } = await h.detached(["sh", "-c", "sleep 1000 & exec sleep 1001"]);
  h.ok(["pause", id]);
  assert.equal(h.status(id), "paused");
  assert.equal(cgRead(pid, "cgroup.freeze"), "1");
  assert.equal(cgKeyed(pid, "cgroup.events")["frozen"], 1);
  h.ok(["resume", id]);
  assert.equal(h.status(id), "running");
  assert.equal(cgRead(pid, "cgroup.freeze"), "0");
  assert.equal(cgKeyed(pid, "cgroup.events")["frozen"], 0);
});

v2test("kill --all: every process of the cgroup dies, also without a pid namespace", async (h) => {
  const { id, pid } = await h.detached(["sh", "-c", "sleep 1000 & sleep 1001 & exec sleep 1002"], (s) => {
    s.linux = { ...s.linux, namespaces: (s.linux?.namespaces ?? []).filter((n) => n.type !== "pid") };
  });
  const dir = cgDir(pid);
  await waitFor("three processes", () => readFileSync(join(dir, "cgroup.procs"), "utf8").trim().split("\n").length === 3);
  const pids = readFileSync(join(dir, "cgroup.procs"), "utf8").trim().split("\n").map(Number);
  h.ok(["kill", "--all", id, "KILL"]);
  await waitFor("every process gone", () => pids.every((p) => !alive(p)));
  await waitFor("cgroup.events: populated 0", () => /^populated 0$/m.test(readFileSync(join(dir, "cgroup.events"), "utf8")));
  await waitFor("stopped", () => h.status(id) === "stopped");
});

v2test("events --stats agrees with memory.current, memory.stat, cpu.stat and pids.current", async (h) => {
  const { id, pid } = await h.detached(["sh", "-c", "sleep 1000 & while :; do :; done"], (s) =>
    resources(s, { memory: { limit: 64 * MiB }, cpu: { quota: 10000, period: 100000 }, pids: { limit: 20 } }),
  );
  // at 10% of a CPU the shell may take a while to fork its sleep
  await waitFor("two processes", () => cgRead(pid, "pids.current") === "2", 20_000);
  await waitFor("throttled periods", () => (cgKeyed(pid, "cpu.stat")["nr_throttled"] ?? 0) > 2);
  const before = cgKeyed(pid, "cpu.stat");
  const d = statsOf(h, id);
  const after = cgKeyed(pid, "cpu.stat");
  const usec = (s: Record<string, number>, k: string) => (s[k] ?? 0) * 1000;
  const total = Number(d["cpu"]["usage"]["total"]);
  assert.ok(total >= usec(before, "usage_usec") && total <= usec(after, "usage_usec"), `cpu total ${total} within cpu.stat`);
  assert.ok(Number(d["cpu"]["usage"]["user"]) >= usec(before, "user_usec"), "cpu user");
  assert.ok(Number(d["cpu"]["usage"]["kernel"]) >= usec(before, "system_usec"), "cpu kernel");
  const thr = d["cpu"]["throttling"];
  assert.ok(thr["periods"] >= (before["nr_periods"] ?? 0) && thr["periods"] <= (after["nr_periods"] ?? 0), "throttling periods");
  assert.ok(thr["throttledPeriods"] >= (before["nr_throttled"] ?? 0), "throttled periods");
  const current = Number(cgRead(pid, "memory.current"));
  const usage = Number(d["memory"]["usage"]["usage"]);
  assert.ok(Math.abs(usage - current) <= Math.max(MiB, current / 4), `memory usage ${usage} vs memory.current ${current}`);
  assert.equal(d["memory"]["usage"]["limit"], 64 * MiB);
  assert.deepEqual(Object.keys(d["memory"]["raw"]).sort(), Object.keys(cgKeyed(pid, "memory.stat")).sort(), "raw is memory.stat");
  assert.equal(d["pids"]["current"], Number(cgRead(pid, "pids.current")));
  assert.equal(d["pids"]["limit"], 20);
});

v2test("an OOM kill is counted in memory.events (oom_kill) and the init survives it", async (h) => {
  const { pid } = await h.detached(
    [
      "sh",
      "-c",
      "head -c 67108864 /dev/zero | sh -c 'echo 1000 >/proc/self/oom_score_adj; exec tail'; echo survived; exec sleep 1000",
    ],
    (s) => resources(s, { memory: { limit: 16 * MiB, swap: 16 * MiB } }),
  );
  assert.equal(cgRead(pid, "memory.swap.max"), "0", "no swap to escape into");
  await waitFor("memory.events oom_kill", () => (cgKeyed(pid, "memory.events")["oom_kill"] ?? 0) >= 1, 30_000);
  assert.ok((cgKeyed(pid, "memory.events")["max"] ?? 0) >= 1, "memory.events max: the limit was hit");
  assert.ok(alive(pid), "the init was not the victim");
});

v2test("device rules: a device outside linux.resources.devices cannot be opened (eBPF on v2)", (h) => {
  const dev = blockDevice();
  assert.ok(dev, "a block device (the VM has a scratch disk)");
  const r = h.run(
    [
      "sh",
      "-c",
      `echo ok >/dev/null && echo null-ok; mknod /tmp/d b ${dev.major} ${dev.minor} && head -c 1 /tmp/d >/dev/null && echo opened`,
    ],
    (s) => {
      withDeviceCaps(s);
      resources(s, { devices: [{ allow: false, access: "rwm" }] });
    },
  );
  assert.equal(r.code === 0 || r.code === 1, true, `container exit ${r.code}: ${r.stderr}`);
  assert.match(r.stdout, /null-ok/, "an allowed device (/dev/null) works");
  assert.doesNotMatch(r.stdout, /opened/, `block device ${dev.major}:${dev.minor} must be denied`);
});

v2test("device rules: an allowed access works, the others do not, and `update` leaves one program on the cgroup", async (h) => {
  const dev = blockDevice();
  assert.ok(dev, "a block device (the VM has a scratch disk)");
  const { id, pid } = await h.detached(["sh", "-c", `mknod /tmp/d b ${dev.major} ${dev.minor} && exec sleep 1000`], (s) => {
    withDeviceCaps(s);
    resources(s, {
      devices: [
        { allow: false, access: "rwm" },
        { allow: true, type: "b", major: dev.major, minor: dev.minor, access: "rw" },
        { allow: false, type: "b", major: dev.major, minor: dev.minor, access: "w" },
      ],
    });
  });
  await waitFor("the init's mknod", () => readFileSync(`/proc/${pid}/cmdline`, "utf8").startsWith("sleep"));
  // the scratch disk discards writes, and an open for writing writes nothing anyway
  const probe = () =>
    h.ok(["exec", id, "sh", "-c", "head -c 1 /tmp/d >/dev/null && echo read-ok; (: >/tmp/d) 2>/dev/null && echo write-ok; true"]);
  const programs = () => {
    const fd = openSync(cgDir(pid), constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      return native().bpfProgQuery(fd);
    } finally {
      closeSync(fd);
    }
  };
  const before = probe();
  assert.match(before, /read-ok/, "read is allowed");
  assert.doesNotMatch(before, /write-ok/, "write is denied by the later rule");
  assert.equal(programs().length, 1, "one device program on the container's cgroup");
  h.ok(["update", "--pids-limit", "50", id]);
  assert.equal(cgRead(pid, "pids.max"), "50");
  assert.equal(programs().length, 1, "after update: replaced (or kept), never stacked");
  const after = probe();
  assert.match(after, /read-ok/, "read still allowed after update");
  assert.doesNotMatch(after, /write-ok/, "write still denied after update");
});

/** Enough privilege for a container to make and open device nodes: only the device rules stand in its way. */
function withDeviceCaps(s: Spec): void {
  const caps = ["CAP_MKNOD", "CAP_DAC_OVERRIDE", "CAP_SYS_ADMIN"];
  if (s.process?.capabilities) for (const k of ["bounding", "effective", "permitted"] as const) s.process.capabilities[k] = caps;
}
