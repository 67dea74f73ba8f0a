// Resource control: limits in config.json, `update` (flags and --resources), `events --stats` against
// the cgroup files, pause/resume by CPU time, and an OOM kill reported by `events`.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Spec } from "../../src/oci/index.js";
import type { Harness } from "./harness.js";
import { IS_BERTH, rtest, sleep, waitFor } from "./harness.js";

const MiB = 1024 * 1024;

/** The host directory of `pid`'s cgroup for a v1 controller (or the cgroup2 dir when `controller` is ""). */
function cgroupDir(pid: number, controller: string): string {
  const mounts = readFileSync("/proc/self/mountinfo", "utf8").split("\n");
  for (const line of readFileSync(`/proc/${pid}/cgroup`, "utf8").split("\n")) {
    const [, names, path] = line.split(":");
    if (names === undefined || path === undefined) continue;
    const match = controller === "" ? names === "" : names.split(",").includes(controller);
    if (!match) continue;
    for (const m of mounts) {
      const [pre, post] = m.split(" - ");
      const f = pre?.split(" ") ?? [];
      const [fstype, , opts] = post?.split(" ") ?? [];
      const ok = controller === "" ? fstype === "cgroup2" : fstype === "cgroup" && (opts ?? "").split(",").includes(controller);
      // the hierarchy's root mount (root "/"): the container's path is relative to it
      if (ok && f[3] === "/") return join(f[4] ?? "", path);
    }
  }
  throw new Error(`no ${controller || "cgroup2"} cgroup for pid ${pid}`);
}

const V2 = !existsSync("/sys/fs/cgroup/memory/memory.limit_in_bytes") && existsSync("/sys/fs/cgroup/cgroup.controllers");
const SWAP_ACCOUNTING = V2 || existsSync("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes");

/** One value of the container's cgroup, by its v1 file (the v2 equivalent where the host is unified). */
function cg(pid: number, v1: [string, string], v2: string): string {
  const [controller, file] = v1;
  return readFileSync(V2 ? join(cgroupDir(pid, ""), v2) : join(cgroupDir(pid, controller), file), "utf8").trim();
}
const memLimit = (pid: number) => cg(pid, ["memory", "memory.limit_in_bytes"], "memory.max");
const memswLimit = (pid: number) => cg(pid, ["memory", "memory.memsw.limit_in_bytes"], "memory.swap.max");
const cpuQuota = (pid: number) =>
  V2 ? cg(pid, ["", ""], "cpu.max") : `${cg(pid, ["cpu", "cpu.cfs_quota_us"], "")} ${cg(pid, ["cpu", "cpu.cfs_period_us"], "")}`;
const pidsMax = (pid: number) => cg(pid, ["pids", "pids.max"], "pids.max");

/** `cgget -n -v -r FILE /path` (Debian's cgroup-tools), where installed: a second reader of the same value. */
function cgget(pid: number, controller: string, file: string): string | undefined {
  const which = spawnSync("sh", ["-c", "command -v cgget"], { encoding: "utf8" });
  if (which.status !== 0) return undefined;
  const mount = cgroupDir(1, controller);
  const rel = cgroupDir(pid, controller).slice(mount.length) || "/";
  const r = spawnSync("cgget", ["-n", "-v", "-r", file, rel], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

function limited(s: Spec, memory: number, extra: (s: Spec) => void = () => {}): void {
  if (!s.linux) s.linux = {};
  s.linux.resources = {
    memory: { limit: memory },
    cpu: { quota: 50000, period: 100000 },
    pids: { limit: 64 },
  };
  extra(s);
}

// runc's stats JSON is deep and loosely typed; the tests index into it freely
// biome-ignore lint/suspicious/noExplicitAny: see above
type Json = Record<string, any>;

function statsOf(h: Harness, id: string): Json {
  const out = h.ok(["events", "--stats", id]).trim();
  assert.equal(out.split("\n").length, 1, `one JSON object: ${out}`);
  const e = JSON.parse(out) as Json;
  assert.equal(e["type"], "stats");
  assert.equal(e["id"], id);
  return e["data"] as Json;
}

/** CPU time (utime+stime, clock ticks) of a host pid. */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]);
}

rtest("update lowers and raises memory, cpu quota and pids.max (flags)", async (h) => {
  const { id, pid } = await h.detached(["sleep", "1000"], (s) => limited(s, 64 * MiB));
  assert.equal(memLimit(pid), String(64 * MiB));
  assert.equal(cpuQuota(pid), V2 ? "50000 100000" : "50000 100000");
  assert.equal(pidsMax(pid), "64");

  h.ok(["update", "--memory", "32m", id]);
  assert.equal(memLimit(pid), String(32 * MiB));
  // cgget on v1 only: v2 has no per-controller mount to make the path relative to
  const seen = V2 ? undefined : cgget(pid, "memory", "memory.limit_in_bytes");
  if (seen !== undefined) assert.equal(seen, String(32 * MiB), "cgget reads the same limit");

  if (SWAP_ACCOUNTING && !V2) {
    // raising both: memsw must go first, or the kernel refuses limit > memsw
    h.ok(["update", "--memory", "128m", "--memory-swap", "256m", id]);
    assert.equal(memLimit(pid), String(128 * MiB));
    assert.equal(memswLimit(pid), String(256 * MiB));
    // lowering both: the limit must go first
    h.ok(["update", "--memory", "48m", "--memory-swap", "48m", id]);
    assert.equal(memLimit(pid), String(48 * MiB));
    assert.equal(memswLimit(pid), String(48 * MiB));
    // and up again past the old memsw
    h.ok(["update", "--memory=96m", "--memory-swap=192m", id]);
    assert.equal(memLimit(pid), String(96 * MiB));
    assert.equal(memswLimit(pid), String(192 * MiB));
  }

  h.ok(["update", "--cpu-quota", "20000", id]);
  assert.equal(cpuQuota(pid), "20000 100000");
  h.ok(["update", "--cpu-quota", "150000", "--cpu-period", "200000", id]);
  assert.equal(cpuQuota(pid), "150000 200000");
  if (!V2) {
    const q = cgget(pid, "cpu", "cpu.cfs_quota_us");
    if (q !== undefined) assert.equal(q, "150000");
  }

  h.ok(["update", "--pids-limit", "10", id]);
  assert.equal(pidsMax(pid), "10");
  h.ok(["update", "--pids-limit", "200", id]);
  assert.equal(pidsMax(pid), "200");

  if (IS_BERTH) {
    // later reads see the new limits: berth records them in its state
    const st = JSON.parse(readFileSync(join(h.root, id, "state.json"), "utf8")) as { config: Spec };
    const r = st.config.linux?.resources;
    assert.equal(r?.pids?.limit, 200);
    assert.equal(r?.cpu?.quota, 150000);
    assert.equal(r?.cpu?.period, 200000);
    assert.equal(r?.memory?.limit, SWAP_ACCOUNTING && !V2 ? 96 * MiB : 32 * MiB);
  }
});

rtest("update --resources - (stdin, as containerd-shim) and --resources=FILE (as podman)", async (h) => {
  const { id, pid } = await h.detached(["sleep", "1000"], (s) => limited(s, 64 * MiB));
  h.ok(["update", "--resources", "-", id], {
    input: JSON.stringify({ memory: { limit: 40 * MiB }, cpu: { quota: 30000, period: 100000 }, pids: { limit: 33 } }),
  });
  assert.equal(memLimit(pid), String(40 * MiB));
  assert.equal(cpuQuota(pid), "30000 100000");
  assert.equal(pidsMax(pid), "33");
  const file = h.path("resources.json");
  // zeros mean "unchanged", as containerd sends every field
  writeFileSync(
    file,
    JSON.stringify({ memory: { limit: 80 * MiB, reservation: 0 }, cpu: { shares: 0, quota: 0 }, pids: { limit: 44 } }),
  );
  h.ok(["update", `--resources=${file}`, id]);
  assert.equal(memLimit(pid), String(80 * MiB));
  assert.equal(cpuQuota(pid), "30000 100000");
  assert.equal(pidsMax(pid), "44");
  const bad = h.rt(["update", "--resources", "-", id], { input: "{not json" });
  assert.notEqual(bad.code, 0);
});

rtest("update refuses a stopped container and an unknown one", async (h) => {
  const { id } = await h.detached(["sh", "-c", "exit 0"], (s) => limited(s, 64 * MiB));
  await waitFor("stopped", () => h.status(id) === "stopped");
  const r = h.rt(["update", "--memory", "32m", id]);
  assert.notEqual(r.code, 0);
  assert.notEqual(h.rt(["update", "--memory", "32m", "bt-no-such-container"]).code, 0);
  assert.notEqual(h.rt(["events", "--stats", "bt-no-such-container"]).code, 0);
});

rtest("events --stats agrees with the cgroup files", async (h) => {
  const { id, pid } = await h.detached(["sh", "-c", "sleep 1000 & sleep 1000 & wait"], (s) => limited(s, 64 * MiB));
  await waitFor("three processes", () => Number(cg(pid, ["pids", "pids.current"], "pids.current")) === 3);
  const d = statsOf(h, id);
  assert.equal(d["pids"]["current"], 3);
  assert.equal(d["pids"]["limit"], 64);
  const usage = Number(cg(pid, ["memory", "memory.usage_in_bytes"], "memory.current"));
  const reported = Number(d["memory"]["usage"]["usage"]);
  assert.ok(Math.abs(reported - usage) <= Math.max(MiB, usage / 4), `memory usage ${reported} vs ${usage}`);
  assert.equal(d["memory"]["usage"]["limit"], 64 * MiB);
  assert.equal(typeof d["memory"]["usage"]["failcnt"], "number");
  assert.ok(d["memory"]["raw"] && typeof d["memory"]["raw"] === "object", "memory.stat as raw");
  assert.ok(Number(d["cpu"]["usage"]["total"]) > 0, "cpu usage total");
  assert.equal(typeof d["cpu"]["usage"]["kernel"], "number");
  assert.equal(typeof d["cpu"]["usage"]["user"], "number");
  // cgroup v2 has no per-cpu usage (runc leaves it out there too)
  if (!V2) assert.ok(Array.isArray(d["cpu"]["usage"]["percpu"]), "per-cpu usage");
  assert.ok("blkio" in d && "hugetlb" in d);
  // the update is seen by the next read
  h.ok(["update", "--pids-limit", "12", id]);
  assert.equal(statsOf(h, id)["pids"]["limit"], 12);
});

rtest("pause: state says paused and the process uses no CPU; resume: it goes on", async (h) => {
  const { id, pid } = await h.detached(["sh", "-c", "while :; do :; done"]);
  await sleep(200);
  h.ok(["pause", id]);
  assert.equal(h.status(id), "paused");
  const t0 = cpuTicks(pid);
  await sleep(600);
  assert.equal(cpuTicks(pid), t0, "a frozen process gets no CPU time");
  h.ok(["resume", id]);
  assert.equal(h.status(id), "running");
  await waitFor("CPU time after resume", () => cpuTicks(pid) > t0 + 5, 5000);
});

rtest("a process over the memory limit is OOM-killed and events reports it", async (h) => {
  const { id, pid, bundle } = await h.detached(
    // tail keeps a line in memory until its end: 64 MiB with no newline in a 16 MiB cgroup; its
    // oom_score_adj makes it the victim, so the kernel never picks the init (runc's stats need it alive).
    // head gets the same: should a second OOM come while tail's memory is still being reaped, the
    // victim is head, never the init (seen once in CI)
    [
      "sh",
      "-c",
      "while [ ! -e /go ]; do sleep 0.05; done; sh -c 'echo 1000 >/proc/self/oom_score_adj; exec head -c 67108864 /dev/zero' | sh -c 'echo 1000 >/proc/self/oom_score_adj; exec tail'; echo survived; exec sleep 1000",
    ],
    (s) =>
      limited(s, 16 * MiB, (x) => {
        // no swap to escape into
        if (SWAP_ACCOUNTING && x.linux?.resources?.memory) x.linux.resources.memory.swap = 16 * MiB;
      }),
  );
  const ev = h.spawn(["events", "--interval", "200ms", id]);
  h.onCleanup(() => ev.child.kill("SIGKILL"));
  let out = "";
  ev.child.stdout?.on("data", (b) => (out += b));
  await waitFor("a stats event", () => out.includes('"type":"stats"'));
  writeFileSync(join(bundle, "rootfs/go"), "");
  await waitFor("an oom event", () => out.includes('"type":"oom"'), 20_000);
  const oom = out
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .find((e) => e["type"] === "oom");
  assert.equal(oom?.["id"], id);
  // the event comes when the cgroup is under OOM; the kill is counted a moment later
  if (!V2)
    await waitFor("oom_kill counted", () =>
      /oom_kill [1-9]/.test(readFileSync(join(cgroupDir(pid, "memory"), "memory.oom_control"), "utf8")),
    );
  const mem = statsOf(h, id)["memory"];
  // runc 1.1 does not read memory.peak on v2
  if (!V2 || IS_BERTH)
    assert.ok(Number(mem["usage"]["max"]) > 8 * MiB, `peak usage ${mem["usage"]["max"]} near the 16 MiB limit`);
  if (!V2) {
    const failcnt = (f: string) => Number(readFileSync(join(cgroupDir(pid, "memory"), f), "utf8"));
    assert.equal(mem["usage"]["failcnt"], failcnt("memory.failcnt"));
    if (SWAP_ACCOUNTING) assert.equal(mem["swap"]["failcnt"], failcnt("memory.memsw.failcnt"));
  }
  h.ok(["kill", id, "KILL"]);
  await waitFor("stopped", () => h.status(id) === "stopped");
  if (IS_BERTH) {
    // berth's stream ends with the container; runc's when the cgroup goes (at delete)
    const r = await ev.done;
    assert.equal(r.code, 0, r.stderr);
  }
});

rtest("exec into a container at its pids limit works: the process is moved in, which the limit does not stop", async (h) => {
  const { id, pid } = await h.detached(["sleep", "1000"], (s) => {
    if (!s.linux) s.linux = {};
    s.linux.resources = { pids: { limit: 1 } };
  });
  assert.equal(pidsMax(pid), "1");
  // berth-runtime clones the exec'd process into the cgroup (cgroup2) where it can: pids.max
  // refuses that clone, and the process is then placed by the runtime as a move, as before.
  // runc's own init forks inside the cgroup once moved there, which the limit refuses.
  const r = h.rt(["exec", id, "echo", "inside"]);
  if (IS_BERTH) {
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "inside\n");
  }
  h.ok(["delete", "--force", id]);
});
