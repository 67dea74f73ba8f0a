// Resource limits under real load, as the talk shows them: Debian's `stress` inside a busybox
// container against a memory limit (OOM kill), a CPU quota (throttling), a pids limit (fork
// failures), a cpuset, `update` of a running container, and pause/resume. Every limit is read back
// twice: from the cgroup file and with `cgget` (cgroup-tools). cgroup v1 files; skipped on a
// unified (v2-only) host.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { TestContext } from "node:test";
import type { LinuxMemory, LinuxResources, Spec } from "../../src/oci/index.js";
import { HAVE_STRESS, makeStressBundle } from "../fixtures/stress-rootfs.js";
import type { Harness } from "./harness.js";
import { alive, rtest, sleep, waitFor } from "./harness.js";

const MiB = 1024 * 1024;
const V1 = existsSync("/sys/fs/cgroup/memory/memory.limit_in_bytes");
const SWAP_ACCOUNTING = existsSync("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes");
const HAVE_CGGET = spawnSync("sh", ["-c", "command -v cgget"]).status === 0;

/** The mount point of the v1 hierarchy that holds `controller` (its root mount). */
function controllerMount(controller: string): string {
  for (const m of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const [pre, post] = m.split(" - ");
    const f = pre?.split(" ") ?? [];
    const [fstype, , opts] = post?.split(" ") ?? [];
    if (fstype === "cgroup" && f[3] === "/" && (opts ?? "").split(",").includes(controller)) return f[4] ?? "";
  }
  throw new Error(`no cgroup v1 mount for ${controller}`);
}

/** `pid`'s cgroup path in the v1 hierarchy of `controller`, relative to its mount (what cgget takes). */
function cgroupPath(pid: number, controller: string): string {
  for (const line of readFileSync(`/proc/${pid}/cgroup`, "utf8").split("\n")) {
    const [, names, path] = line.split(":");
    if (names !== undefined && path !== undefined && names.split(",").includes(controller)) return path;
  }
  throw new Error(`no ${controller} cgroup for pid ${pid}`);
}

/** The container's cgroup in one v1 controller: its files read directly and through cgget. */
class Cgroup {
  readonly path: string;
  readonly dir: string;
  constructor(
    pid: number,
    readonly controller: string,
  ) {
    this.path = cgroupPath(pid, controller);
    this.dir = join(controllerMount(controller), this.path);
    // a container in the runtime's own cgroup would measure the host, not the container
    assert.notEqual(this.path, "/", `${controller}: the container has a cgroup of its own`);
  }

  read(file: string): string {
    return readFileSync(join(this.dir, file), "utf8").trim();
  }

  num(file: string): number {
    return Number(this.read(file));
  }

  /** `file` in a flat-keyed file such as cpu.stat */
  key(file: string, key: string): number {
    const line = this.read(file)
      .split("\n")
      .find((l) => l.startsWith(`${key} `));
    assert.ok(line, `${key} in ${file}`);
    return Number(line.split(" ")[1]);
  }

  /** `cgget -n -v -r FILE PATH`: a second reader of the same value */
  cgget(file: string): string {
    const r = spawnSync("cgget", ["-n", "-v", "-r", file, this.path], { encoding: "utf8" });
    assert.equal(r.status, 0, `cgget -r ${file} ${this.path}: ${r.stderr}`);
    return r.stdout.trim();
  }

  /** The file holds `want`, and cgget reads the same. */
  expect(file: string, want: string | number): void {
    assert.equal(this.read(file), String(want), `${this.dir}/${file}`);
    assert.equal(this.cgget(file), String(want), `cgget -r ${file} ${this.path}`);
  }
}

/** Skip where the files these tests read do not exist; fail where the tools are missing. */
function preflight(t: TestContext): boolean {
  if (!V1) {
    t.skip("cgroup v1 files (cpuacct.usage, memory.max_usage_in_bytes, freezer.state): this host is unified");
    return false;
  }
  assert.ok(HAVE_STRESS, "/usr/bin/stress is missing: apt-get install stress (scripts/setup.sh)");
  assert.ok(HAVE_CGGET, "cgget is missing: apt-get install cgroup-tools (scripts/setup.sh)");
  return true;
}

/** Set `r` as the container's linux.resources, keeping the default spec's device rules. */
function withResources(r: LinuxResources): (s: Spec) => void {
  return (s) => {
    if (!s.linux) s.linux = {};
    s.linux.resources = { ...s.linux.resources, ...r };
  };
}

/** A memory limit with memsw equal to it where swap is accounted: no swap to escape into. */
function memory(limit: number): LinuxMemory {
  return SWAP_ACCOUNTING ? { limit, swap: limit } : { limit };
}

let bundles = 0;

interface Running {
  id: string;
  pid: number;
  bundle: string;
  rootfs: string;
}

/** A detached container from a stress bundle, started and running. */
function detached(h: Harness, args: string[], edit?: (s: Spec) => void): Running {
  const bundle = makeStressBundle(h.path(`stress${++bundles}`), args, edit);
  const id = h.id("stress");
  h.ok(["run", "--detach", "--bundle", bundle, id]);
  const pid = Number(h.state(id)["pid"]);
  return { id, pid, bundle, rootfs: join(bundle, "rootfs") };
}

/**
 * A container whose init waits for /go, runs `job` with its output in /tmp/out and its exit code
 * after it, marks /done, then stays up as `sleep` (no fork needed after the job: a full pids
 * cgroup cannot stop it), so the cgroup can be read after the job.
 */
function gated(h: Harness, job: string, edit?: (s: Spec) => void): Running & { go(): void; done(): boolean; out(): string } {
  const c = detached(
    h,
    [
      "sh",
      "-c",
      `while [ ! -e /go ]; do sleep 0.05; done; { ${job}; } >/tmp/out 2>&1; echo "rc=$?" >>/tmp/out; : >/done; exec sleep 1000`,
    ],
    edit,
  );
  return {
    ...c,
    go: () => writeFileSync(join(c.rootfs, "go"), ""),
    done: () => existsSync(join(c.rootfs, "done")),
    out: () => readFileSync(join(c.rootfs, "tmp/out"), "utf8"),
  };
}

/** /proc/PID/stat after the comm field: index 0 is field 3 (state). */
function statFields(pid: number): string[] {
  const s = readFileSync(`/proc/${pid}/stat`, "utf8");
  return s.slice(s.lastIndexOf(")") + 2).split(" ");
}

function comm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return ""; // exited
  }
}

/** stress workers in the container: `stress` processes whose parent is `stress` (the dispatcher). */
function workers(cpuset: Cgroup): number[] {
  return cpuset
    .read("cgroup.procs")
    .split("\n")
    .filter(Boolean)
    .map(Number)
    .filter((p) => {
      try {
        return comm(p) === "stress" && comm(Number(statFields(p)[1])) === "stress" && alive(p);
      } catch {
        return false; // exited while we looked
      }
    });
}

/** CPU seconds per second the container's cgroup used over `ms`, from cpuacct.usage (ns). */
async function cpuRate(cpuacct: Cgroup, ms: number): Promise<{ rate: number; seconds: number; used: number }> {
  const u0 = cpuacct.num("cpuacct.usage");
  const t0 = process.hrtime.bigint();
  await sleep(ms);
  const u1 = cpuacct.num("cpuacct.usage");
  const t1 = process.hrtime.bigint();
  const seconds = Number(t1 - t0) / 1e9;
  const used = (u1 - u0) / 1e9;
  return { rate: used / seconds, seconds, used };
}

// runc's JSON is deep and loosely typed; the tests index into it freely
// biome-ignore lint/suspicious/noExplicitAny: see above
type Json = Record<string, any>;

function stats(h: Harness, id: string): Json {
  const e = JSON.parse(h.ok(["events", "--stats", id]).trim()) as Json;
  assert.equal(e["type"], "stats");
  return e["data"] as Json;
}

/** `events` streaming in the background; `lines()` parses what it printed so far. */
async function eventStream(h: Harness, id: string): Promise<{ lines(): Json[] }> {
  const ev = h.spawn(["events", "--interval", "200ms", id]);
  h.onCleanup(() => ev.child.kill("SIGKILL"));
  let out = "";
  ev.child.stdout?.on("data", (b) => (out += b));
  // the first stats event: the stream (and runc's OOM eventfd) is set up
  await waitFor("a stats event", () => out.includes('"type":"stats"'));
  return {
    lines: () =>
      out
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as Json),
  };
}

const oomKills = (mem: Cgroup) => mem.key("memory.oom_control", "oom_kill");

rtest("memory 64 MiB: stress --vm 128M is OOM-killed, events reports oom, usage never passed the limit", async (h, t) => {
  if (!preflight(t)) return;
  const c = gated(h, "stress --vm 1 --vm-bytes 128M --vm-hang 0 --timeout 20", withResources({ memory: memory(64 * MiB) }));
  const mem = new Cgroup(c.pid, "memory");
  mem.expect("memory.limit_in_bytes", 64 * MiB);
  if (SWAP_ACCOUNTING) mem.expect("memory.memsw.limit_in_bytes", 64 * MiB);
  const events = await eventStream(h, c.id);
  c.go();
  await waitFor("stress to end", c.done, 20_000);
  const out = c.out();
  assert.match(out, /got signal 9/, `stress reports its worker OOM-killed:\n${out}`);
  assert.match(out, /rc=1\n/, out);
  assert.ok(oomKills(mem) >= 1, `memory.oom_control: ${mem.read("memory.oom_control")}`);
  const oom = await waitFor("an oom event", () => events.lines().find((e) => e["type"] === "oom"), 5000);
  assert.equal(oom["id"], c.id);
  const max = mem.num("memory.max_usage_in_bytes");
  assert.ok(max <= 64 * MiB, `memory.max_usage_in_bytes ${max} > limit`);
  assert.ok(max > 32 * MiB, `the worker pushed usage up to the limit: max ${max}`);
  if (SWAP_ACCOUNTING) assert.ok(mem.num("memory.memsw.max_usage_in_bytes") <= 64 * MiB, "memsw max usage");
  assert.equal(h.status(c.id), "running", "the init survives: only the worker was killed");
});

rtest(
  "cpu quota 0.5: stress --cpu 2 uses ≤ 0.55 CPU·s/s, is throttled, and events --stats agrees with cpu.stat",
  async (h, t) => {
    if (!preflight(t)) return;
    const c = gated(h, "stress --cpu 2 --timeout 4", withResources({ cpu: { quota: 50000, period: 100000 } }));
    const cpu = new Cgroup(c.pid, "cpu");
    const cpuacct = new Cgroup(c.pid, "cpuacct");
    const cpuset = new Cgroup(c.pid, "cpuset");
    cpu.expect("cpu.cfs_quota_us", 50000);
    cpu.expect("cpu.cfs_period_us", 100000);
    c.go();
    await waitFor("two stress workers", () => workers(cpuset).length === 2);
    // a 3 s window inside the 4 s run
    const r = await cpuRate(cpuacct, 3000);
    assert.ok(r.seconds >= 3, `window ${r.seconds} s`);
    assert.ok(
      r.rate <= 0.55,
      `${r.used.toFixed(3)} CPU·s in ${r.seconds.toFixed(3)} s = ${r.rate.toFixed(3)} CPU, over the 0.5 quota`,
    );
    t.diagnostic(`usage ${r.rate.toFixed(3)} CPU over ${r.seconds.toFixed(2)} s`);
    await waitFor("stress to end", c.done, 10_000);
    assert.match(c.out(), /rc=0\n/, c.out());
    // nothing runs in the cgroup once the init is a sleeping `sleep`: the counters hold still
    await waitFor("the init to exec sleep", () => comm(c.pid) === "sleep");
    await sleep(200);
    const throttled = cpu.key("cpu.stat", "nr_throttled");
    assert.ok(throttled > 0, `cpu.stat: ${cpu.read("cpu.stat")}`);
    const d = stats(h, c.id);
    const th = d["cpu"]["throttling"];
    t.diagnostic(`cpu.stat ${cpu.read("cpu.stat").replace(/\n/g, ", ")}; events --stats throttling ${JSON.stringify(th)}`);
    // runc's names (types/events.go Throttling: periods, throttledPeriods, throttledTime)
    assert.equal(th["periods"], cpu.key("cpu.stat", "nr_periods"), "throttling.periods = nr_periods");
    assert.equal(th["throttledPeriods"], throttled, "throttling.throttledPeriods = nr_throttled");
    assert.equal(th["throttledTime"], cpu.key("cpu.stat", "throttled_time"), "throttling.throttledTime = throttled_time");
    assert.equal(d["cpu"]["usage"]["total"], cpuacct.num("cpuacct.usage"), "cpu.usage.total = cpuacct.usage");
  },
);

rtest("pids 32: a fork loop fails to fork, the container stays alive and answers, the host is fine", async (h, t) => {
  if (!preflight(t)) return;
  // busybox ash leaves a non-interactive script at its first "can't fork"; an interactive one
  // reports it and reads the next line, so each line is one attempt and every failure is counted.
  // /tried (a builtin redirection: no fork) marks the end of the attempts; `wait` then reaps the
  // sleeps, which as orphans would stay zombies under an init that never reaps and hold their pids
  const c = gated(h, "sh -i </bomb.sh >/dev/null 2>/tmp/bomb.err", withResources({ pids: { limit: 32 } }));
  writeFileSync(join(c.rootfs, "bomb.sh"), `${"sleep 5 &\n".repeat(100)}: >/tried\nwait\n`);
  const pids = new Cgroup(c.pid, "pids");
  pids.expect("pids.max", 32);
  const before = pids.key("pids.events", "max");
  c.go();
  await waitFor("the fork attempts to end", () => existsSync(join(c.rootfs, "tried")), 20_000);
  const errors = readFileSync(join(c.rootfs, "tmp/bomb.err"), "utf8");
  const failures = errors.split("\n").filter((l) => /can't fork/.test(l)).length;
  t.diagnostic(`${failures} of 100 forks failed; pids.current ${pids.read("pids.current")}; ${pids.read("pids.events")}`);
  // 32 slots: the init, the loop's shell and 30 sleeps; the other 70 attempts fail
  assert.equal(failures, 70, `70 of 100 forks fail under pids.max 32:\n${errors}`);
  assert.equal(pids.num("pids.current"), 32, "pids.current");
  assert.ok(pids.key("pids.events", "max") >= before + 70, `pids.events: ${pids.read("pids.events")}`);
  // alive, and answering while the cgroup is full
  assert.equal(h.status(c.id), "running");
  assert.ok(alive(c.pid), "the init lives");
  const d = stats(h, c.id);
  assert.equal(d["pids"]["limit"], 32);
  assert.equal(d["pids"]["current"], 32);
  // the host still forks
  const host = spawnSync("sh", ["-c", "sleep 0 & wait; echo ok"], { encoding: "utf8", timeout: 5000 });
  assert.equal(host.stdout.trim(), "ok", "the host forks");
  // once the sleeps end the container runs new processes again
  await waitFor("the fork loop to end", c.done, 15_000);
  assert.match(c.out(), /rc=0\n/, c.out());
  assert.equal(h.ok(["exec", c.id, "sh", "-c", "echo pong"]).trim(), "pong");
});

rtest("cpuset 0: stress --cpu 2 workers run only on CPU 0", async (h, t) => {
  if (!preflight(t)) return;
  const c = detached(h, ["stress", "--cpu", "2", "--timeout", "30"], withResources({ cpu: { cpus: "0" } }));
  const cpuset = new Cgroup(c.pid, "cpuset");
  cpuset.expect("cpuset.cpus", "0");
  const ws = await waitFor("two stress workers", () => {
    const w = workers(cpuset);
    return w.length === 2 && w;
  });
  const percpu = (): number[] => new Cgroup(c.pid, "cpuacct").read("cpuacct.usage_percpu").split(/\s+/).map(Number);
  const before = percpu();
  for (let i = 0; i < 5; i++) {
    for (const w of ws) {
      // field 39: the CPU the task last ran on
      assert.equal(statFields(w)[36], "0", `worker ${w} on CPU 0 (sample ${i})`);
      assert.match(readFileSync(`/proc/${w}/status`, "utf8"), /^Cpus_allowed_list:\s*0$/m, `worker ${w} allowed only CPU 0`);
    }
    await sleep(200);
  }
  const after = percpu();
  t.diagnostic(`cpuacct.usage_percpu ${before.join(" ")} -> ${after.join(" ")}`);
  assert.ok((after[0] ?? 0) > (before[0] ?? 0), "the workers ran on CPU 0");
  after.forEach((ns, cpu) => {
    if (cpu !== 0) assert.equal(ns, before[cpu], `no container time on CPU ${cpu}`);
  });
});

rtest("update lowers then raises memory and cpu quota; the next stress runs obey", async (h, t) => {
  if (!preflight(t)) return;
  const c = detached(h, ["sleep", "1000"], withResources({ memory: memory(256 * MiB), cpu: { quota: 100000, period: 100000 } }));
  const mem = new Cgroup(c.pid, "memory");
  const cpu = new Cgroup(c.pid, "cpu");
  const cpuacct = new Cgroup(c.pid, "cpuacct");
  const cpuset = new Cgroup(c.pid, "cpuset");
  mem.expect("memory.limit_in_bytes", 256 * MiB);
  cpu.expect("cpu.cfs_quota_us", 100000);
  const swap = (m: string) => (SWAP_ACCOUNTING ? ["--memory-swap", m] : []);

  h.ok(["update", "--memory", "32m", ...swap("32m"), "--cpu-quota", "30000", c.id]);
  mem.expect("memory.limit_in_bytes", 32 * MiB);
  if (SWAP_ACCOUNTING) mem.expect("memory.memsw.limit_in_bytes", 32 * MiB);
  cpu.expect("cpu.cfs_quota_us", 30000);
  cpu.expect("cpu.cfs_period_us", 100000);
  // 64 MiB under the lowered 32 MiB: the worker is OOM-killed
  const kills = oomKills(mem);
  const vm = h.rt(["exec", c.id, "stress", "--vm", "1", "--vm-bytes", "64M", "--vm-hang", "0", "--timeout", "20"]);
  assert.notEqual(vm.code, 0, `stress fails:\n${vm.stdout}${vm.stderr}`);
  assert.match(vm.stdout + vm.stderr, /got signal 9/);
  const killed = oomKills(mem);
  assert.ok(killed > kills, "memory.oom_control oom_kill grew");
  assert.ok(mem.num("memory.max_usage_in_bytes") <= 32 * MiB, `max usage ${mem.read("memory.max_usage_in_bytes")}`);
  // two CPU hogs under the lowered 0.3 CPU quota (the 10% on top of it)
  const hog = h.spawn(["exec", c.id, "stress", "--cpu", "2", "--timeout", "4"]);
  h.onCleanup(() => hog.child.kill("SIGKILL"));
  await waitFor("two stress workers", () => workers(cpuset).length === 2);
  const throttled = cpu.key("cpu.stat", "nr_throttled");
  const r = await cpuRate(cpuacct, 3000);
  assert.ok(cpu.key("cpu.stat", "nr_throttled") > throttled, `throttled under the lowered quota: ${cpu.read("cpu.stat")}`);
  t.diagnostic(`usage under quota 0.3: ${r.rate.toFixed(3)} CPU over ${r.seconds.toFixed(2)} s`);
  assert.ok(r.rate <= 0.33, `${r.rate.toFixed(3)} CPU over the lowered 0.3 quota`);
  assert.equal((await hog.done).code, 0);

  h.ok(["update", "--memory", "256m", ...swap("256m"), "--cpu-quota", "200000", c.id]);
  mem.expect("memory.limit_in_bytes", 256 * MiB);
  if (SWAP_ACCOUNTING) mem.expect("memory.memsw.limit_in_bytes", 256 * MiB);
  cpu.expect("cpu.cfs_quota_us", 200000);
  // the same 64 MiB now fits
  const fits = h.rt(["exec", c.id, "stress", "--vm", "1", "--vm-bytes", "64M", "--vm-hang", "0", "--timeout", "1"]);
  assert.equal(fits.code, 0, `stress runs under the raised limit:\n${fits.stdout}${fits.stderr}`);
  assert.equal(oomKills(mem), killed, "no further OOM kill");
});

rtest("pause: stress uses no CPU and state says paused; resume: usage grows again", async (h, t) => {
  if (!preflight(t)) return;
  const c = detached(h, ["stress", "--cpu", "2", "--timeout", "30"]);
  const cpuacct = new Cgroup(c.pid, "cpuacct");
  const freezer = new Cgroup(c.pid, "freezer");
  const u = () => cpuacct.num("cpuacct.usage");
  const start = u();
  await waitFor("CPU use", () => u() > start + 0.1e9, 5000);
  h.ok(["pause", c.id]);
  assert.equal(h.status(c.id), "paused");
  freezer.expect("freezer.state", "FROZEN");
  const frozen = await cpuRate(cpuacct, 1000);
  assert.equal(frozen.used, 0, `a frozen cgroup used ${frozen.used} CPU·s`);
  h.ok(["resume", c.id]);
  assert.equal(h.status(c.id), "running");
  freezer.expect("freezer.state", "THAWED");
  const thawed = u();
  await waitFor("CPU use after resume", () => u() > thawed + 0.1e9, 5000);
});
