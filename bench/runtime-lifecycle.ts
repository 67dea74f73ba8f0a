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
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { makeBundle } from "../test/fixtures/busybox-bundle.js";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
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
// berth-runtime cold (a Node start per command, as any CLI) and warm (bin/berth-runtime as the
// client of a `berth-runtime warm` process on a private socket)
const berth = join(repo, "bin/berth-runtime");
const warmSocket = join(work, "warm.sock");
const runtimes: Runtime[] = [
  { name: "berth-runtime", bin: berth, env: { BERTH_RUNTIME_WARM_SOCKET: join(work, "no-warm.sock") } },
  { name: "berth (warm)", bin: berth, env: { BERTH_RUNTIME_WARM_SOCKET: warmSocket } },
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
function timed(r: Runtime, op: string, args: string[]): void {
  const err = openSync(errLog, "w");
  const t0 = process.hrtime.bigint();
  const res = spawnSync(r.bin, ["--root", root(r), ...args], {
    cwd: bundle,
    stdio: ["ignore", "ignore", err],
    env: { ...process.env, ...r.env },
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
        env: { ...process.env, ...r.env },
      });
      if (JSON.parse(st).status === "stopped") break;
    }
    timed(r, "delete", ["delete", `${id}-c`]);
  }
  // the first two rounds warm caches and are dropped
  if (i === 1) samples.clear();
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
};
const base = runtimes.find((r) => r.name === "runc");
console.log(`rounds: ${rounds}, bundle: busybox true, host: ${execFileSync("uname", ["-r"], { encoding: "utf8" }).trim()}`);
console.log(`${"op".padEnd(8)}${runtimes.map((r) => r.name.padStart(16)).join("")}   berth/runc  warm/runc`);
for (const op of ops) {
  const meds = runtimes.map((r) => median(samples.get(key(r, op)) ?? []));
  const b = base ? median(samples.get(key(base, op)) ?? []) : Number.NaN;
  const ratios = [meds[0] ?? 0, meds[1] ?? 0].map((m) => (m / b).toFixed(2).padStart(10));
  console.log(`${op.padEnd(8)}${meds.map((m) => `${m.toFixed(1)} ms`.padStart(16)).join("")} ${ratios.join(" ")}`);
}
server.kill("SIGTERM");
rmSync(work, { recursive: true, force: true });
