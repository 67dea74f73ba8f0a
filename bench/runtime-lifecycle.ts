/**
 * Side-by-side benchmark of a trivial container's lifecycle: `run` (attached,
 * `true`), and `create`, `start`, `delete` timed separately, for berth-runtime,
 * runc and crun, interleaved round by round so machine noise hits all alike.
 * Prints medians and ratios against runc.
 *
 *   node dist/bench/runtime-lifecycle.js [--rounds N]
 *
 * crun 1.8 refuses this host's hybrid cgroups, so it runs in a private mount
 * namespace without /sys/fs/cgroup/unified (the wrapper costs it ~2 ms).
 *
 * berth-runtime runs four ways: cold (BERTH_RUNTIME_COLD=1: Node per call, no
 * server), default (what a plain `berth-runtime` call gets: the server the
 * launcher starts by itself on the default socket), warm (an explicit `warm`
 * server), and, measured apart, the default's first call (no server yet: it
 * starts one) against a cold call of the launcher without auto-start. The whole
 * benchmark runs in a private mount namespace with its own /run, so the default
 * socket it uses is no other program's.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { makeBundle } from "../test/fixtures/busybox-bundle.js";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
if (!process.env["BERTH_BENCH_PRIVATE_RUN"]) {
  const r = spawnSync(
    "unshare",
    [
      "-m",
      "--propagation",
      "private",
      "sh",
      "-c",
      'mount -t tmpfs -o mode=755 berth-bench /run && exec "$@"',
      "sh",
      process.execPath,
      ...process.argv.slice(1),
    ],
    { stdio: "inherit", env: { ...process.env, BERTH_BENCH_PRIVATE_RUN: "1" } },
  );
  process.exit(r.status ?? 1);
}
const rounds = Number(process.argv[process.argv.indexOf("--rounds") + 1]) || 30;
const work = mkdtempSync(join(tmpdir(), "berth-bench-"));
// crun 1.8 knows runtime-spec versions up to 1.1: write one all three accept
const bundle = makeBundle(join(work, "bundle"), ["true"], (s) => {
  s.ociVersion = "1.0.2";
});

const crunWrapper = join(work, "crun");
writeFileSync(
  crunWrapper,
  `#!/bin/sh\nexec unshare -m sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec /usr/bin/crun "$@"' crun "$@"\n`,
  {
    mode: 0o755,
  },
);

interface Runtime {
  name: string;
  bin: string;
  env?: Record<string, string>;
}
const berth = join(repo, "bin/berth-runtime");
const warmSocket = join(work, "warm.sock");
const DEFAULT_SOCKET = "/run/berth-runtime.warm.sock";
const plain = { BERTH_RUNTIME_WARM_SOCKET: "", BERTH_RUNTIME_COLD: "", BERTH_RUNTIME_WARM_IDLE: "" };
const runtimes: Runtime[] = [
  { name: "berth cold", bin: berth, env: { ...plain, BERTH_RUNTIME_COLD: "1" } },
  // auto-start is opt-in (BERTH_RUNTIME_WARM_IDLE > 0): see README "Warm mode"
  { name: "berth auto", bin: berth, env: { ...plain, BERTH_RUNTIME_WARM_IDLE: "60" } },
  { name: "berth warm", bin: berth, env: { ...plain, BERTH_RUNTIME_WARM_SOCKET: warmSocket } },
];
const server = spawn(berth, ["warm", "--socket", warmSocket], { stdio: "ignore" });
for (let i = 0; i < 200 && !existsSync(warmSocket); i++) await new Promise((r) => setTimeout(r, 20));
if (existsSync("/usr/sbin/runc")) runtimes.push({ name: "runc", bin: "/usr/sbin/runc" });
if (existsSync("/usr/bin/crun")) runtimes.push({ name: "crun", bin: crunWrapper });

const ops = ["run", "create", "start", "delete"] as const;
const samples = new Map<string, number[]>();
const key = (r: Runtime, op: string) => `${r.name} ${op}`;

// the container inherits the runtime's stdio: a pipe would keep spawnSync waiting for the container
const errLog = join(work, "stderr.log");
const root = (r: Runtime) => join(work, `root-${r.name.replace(/\W+/g, "-")}`);
/** the environment of a runtime's calls; "" removes a variable */
function envOf(r: Runtime): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...r.env };
  for (const [k, v] of Object.entries(env)) if (v === "") delete env[k];
  return env;
}
function timed(r: Runtime, op: string, args: string[]): void {
  const err = openSync(errLog, "w");
  const t0 = process.hrtime.bigint();
  const res = spawnSync(r.bin, ["--root", root(r), ...args], {
    cwd: bundle,
    stdio: ["ignore", "ignore", err],
    env: envOf(r),
  });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  closeSync(err);
  if (res.status !== 0) throw new Error(`${r.name} ${args.join(" ")} failed (${res.status}): ${readFileSync(errLog, "utf8")}`);
  const k = key(r, op);
  samples.set(k, [...(samples.get(k) ?? []), ms]);
}

for (let i = 0; i < rounds + 2; i++) {
  for (const r of runtimes) {
    const id = `bench-${i}`;
    timed(r, "run", ["run", id]);
    if (!r.name.startsWith("berth")) spawnSync(r.bin, ["--root", root(r), "delete", "--force", id]);
    timed(r, "create", ["create", "--bundle", bundle, `${id}-c`]);
    timed(r, "start", ["start", `${id}-c`]);
    // wait for `true` to exit before delete
    for (let k = 0; k < 200; k++) {
      const st = execFileSync(r.bin, ["--root", root(r), "state", `${id}-c`], {
        encoding: "utf8",
        env: envOf(r),
      });
      if (JSON.parse(st).status === "stopped") break;
    }
    timed(r, "delete", ["delete", `${id}-c`]);
  }
  // the first two rounds warm caches and are dropped
  if (i === 1) samples.clear();
}

// the default's first call (it starts the server) against the launcher's cold call without
// auto-start (its own Node child): stop the default server before each
function stopDefault(): void {
  try {
    const pid = Number(readFileSync(`${DEFAULT_SOCKET}.lock`, "utf8").split(" ")[0]);
    process.kill(pid, "SIGTERM");
    for (let i = 0; i < 500; i++) {
      if (!existsSync(`/proc/${pid}`) || readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.startsWith("Z")) break;
      execFileSync("sleep", ["0.01"]);
    }
  } catch {
    // no server
  }
}
const first: Runtime = { name: "berth first", bin: berth, env: { ...plain, BERTH_RUNTIME_WARM_IDLE: "60" } };
const noAuto: Runtime = { name: "berth no-auto", bin: berth, env: { ...plain, BERTH_RUNTIME_WARM_IDLE: "0" } };
for (let i = 0; i < rounds; i++) {
  for (const r of [first, noAuto]) {
    stopDefault();
    timed(r, "run", ["run", `first-${i}`]);
  }
}
stopDefault();

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
};
const base = runtimes.find((r) => r.name === "runc");
const berths = runtimes.filter((r) => r.name.startsWith("berth"));
console.log(`rounds: ${rounds}, bundle: busybox true, host: ${execFileSync("uname", ["-r"], { encoding: "utf8" }).trim()}`);
console.log(
  `${"op".padEnd(8)}${runtimes.map((r) => r.name.padStart(15)).join("")}${berths.map((r) => `${r.name.slice(6)}/runc`.padStart(14)).join("")}`,
);
for (const op of ops) {
  const meds = runtimes.map((r) => median(samples.get(key(r, op)) ?? []));
  const b = base ? median(samples.get(key(base, op)) ?? []) : Number.NaN;
  const ratios = berths.map((r) => (median(samples.get(key(r, op)) ?? []) / b).toFixed(2).padStart(14));
  console.log(`${op.padEnd(8)}${meds.map((m) => `${m.toFixed(1)} ms`.padStart(15)).join("")}${ratios.join("")}`);
}
const firstMs = median(samples.get(key(first, "run")) ?? []);
const noAutoMs = median(samples.get(key(noAuto, "run")) ?? []);
console.log(
  `first run (starts the default server): ${firstMs.toFixed(1)} ms; launcher cold without auto-start: ${noAutoMs.toFixed(1)} ms (first/cold ${(firstMs / noAutoMs).toFixed(2)})`,
);
server.kill("SIGTERM");
rmSync(work, { recursive: true, force: true });
