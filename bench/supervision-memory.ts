/**
 * Side-by-side measure of what it costs in memory to supervise a running container: N busybox
 * `sleep` containers (default 50) started detached, with `--network none`, under
 *   - berth: berthd + berth-shim (one Node process per group of up to 32 containers),
 *   - docker: dockerd + containerd + one containerd-shim-runc-v2 per container,
 *   - podman: one conmon per container (no daemon),
 * each on a private store, as bench/container-run.ts sets them up. Then, for the supervising
 * processes only (berth-shim; containerd-shim*; conmon), the summed RSS (VmRSS) and, where the
 * kernel has /proc/PID/smaps_rollup, PSS (shared pages split among the processes that map them),
 * divided by N. Prints a table, the ratio to the 4 MiB per-container target, and the daemons' own
 * RSS for information (berthd, dockerd, containerd).
 *
 *   node dist/bench/supervision-memory.js [--containers N]
 *
 * Needs root. Everything it starts is removed at the end.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { type Engine, cli, execAsync, show, sleep, withEngines } from "./container-run.js";

const TARGET_MIB = 4;
const PARALLEL = 4;
const MiB = 1024 * 1024;

/** A field of /proc/PID/status or smaps_rollup in bytes ("VmRSS:  1234 kB"); undefined when absent. */
function procField(file: string, field: string): number | undefined {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(file, "utf8"));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}
const rss = (pid: number) => procField(`/proc/${pid}/status`, "VmRSS");
const pss = (pid: number) => procField(`/proc/${pid}/smaps_rollup`, "Pss");

/** Start n sleep containers, PARALLEL at a time; returns how many run, with the first error. */
async function startSleepers(e: Engine, n: number, work: string): Promise<{ started: number; error?: string }> {
  let next = 0;
  let started = 0;
  let error: string | undefined;
  const worker = async (w: number) => {
    while (next < n && error === undefined) {
      const i = next++;
      const r = await execAsync(
        e.bin,
        [...e.base, "run", "-d", "--name", `sup-${i}`, ...e.runArgs("none"), e.image, "sleep", "100000"],
        e.env,
        join(work, `scratch-${e.name}-${w}`),
      );
      if (r.code === 0) started++;
      else error ??= `${e.name} run -d sup-${i}: ${show(r)}`;
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, (_, w) => worker(w)));
  return error === undefined ? { started } : { started, error };
}

interface Row {
  engine: string;
  supervisor: string;
  procs: number;
  running: number;
  rss: number;
  pss: number | undefined;
  daemons: string;
}

async function measure(engines: Engine[], work: string, n: number): Promise<number> {
  const rows: Row[] = [];
  let code = 0;
  console.log(`containers per engine: ${n} (busybox sleep, --network none), engines: ${engines.map((e) => e.name).join(", ")}`);
  for (const e of engines) {
    const t0 = performance.now();
    const { started, error } = await startSleepers(e, n, work);
    const secs = ((performance.now() - t0) / 1000).toFixed(1);
    if (error) console.log(`${e.name}: ${started} of ${n} started: ${error}`);
    else console.log(`${e.name}: ${started} containers started in ${secs} s`);
    if (e.name === "berth" && error) code = 1;
    // let start-up garbage settle: a supervisor's steady state is what matters
    await sleep(3000);
    const running = cli(e, ["ps", "-q"], join(work, `scratch-${e.name}-0`))
      .stdout.split("\n")
      .filter(Boolean).length;
    const sup = e.supervisors();
    const pssValues = sup.map((p) => pss(p.pid));
    const haveP = pssValues.every((v) => v !== undefined);
    rows.push({
      engine: e.name,
      supervisor: { berth: "berth-shim", docker: "containerd-shim", podman: "conmon" }[e.name],
      procs: sup.length,
      running,
      rss: sup.reduce((s, p) => s + (rss(p.pid) ?? 0), 0),
      pss: haveP ? pssValues.reduce((s: number, v) => s + (v ?? 0), 0) : undefined,
      daemons:
        e
          .daemons()
          .map((d) => `${d.name} ${((rss(d.pid) ?? 0) / MiB).toFixed(1)} MiB`)
          .join(", ") || "-",
    });
    // remove them now: the next engine is measured on a host without this one's containers
    const ids = cli(e, ["ps", "-aq"], join(work, `scratch-${e.name}-0`))
      .stdout.split("\n")
      .filter(Boolean);
    if (ids.length) {
      const rm = cli(
        e,
        ["rm", "-f", ...(e.name === "podman" ? ["-t", "0"] : []), ...ids],
        join(work, `scratch-${e.name}-0`),
        300_000,
      );
      if (rm.code !== 0) console.log(`${e.name} rm -f: ${show(rm)}`);
    }
  }

  const mib = (b: number | undefined, div: number) => (b === undefined ? "-" : `${(b / MiB / div).toFixed(2)}`);
  console.log("");
  console.log(
    `${"engine".padEnd(8)}${"supervisor".padEnd(17)}${"procs".padStart(6)}${"running".padStart(8)}` +
      `${"RSS MiB".padStart(10)}${"PSS MiB".padStart(10)}${"RSS/ctr".padStart(9)}${"PSS/ctr".padStart(9)}` +
      `${`RSS/${TARGET_MIB}MiB`.padStart(10)}${`PSS/${TARGET_MIB}MiB`.padStart(10)}   daemons (RSS, not counted)`,
  );
  for (const r of rows) {
    const per = Math.max(r.running, 1);
    console.log(
      `${r.engine.padEnd(8)}${r.supervisor.padEnd(17)}${String(r.procs).padStart(6)}${String(r.running).padStart(8)}` +
        `${mib(r.rss, 1).padStart(10)}${mib(r.pss, 1).padStart(10)}${mib(r.rss, per).padStart(9)}${mib(r.pss, per).padStart(9)}` +
        `${(r.rss / per / MiB / TARGET_MIB).toFixed(2).padStart(10)}` +
        `${(r.pss === undefined ? "-" : (r.pss / per / MiB / TARGET_MIB).toFixed(2)).padStart(10)}   ${r.daemons}`,
    );
  }
  console.log(`per container = summed over the supervising processes / running containers; target ${TARGET_MIB} MiB`);
  return code;
}

async function main(): Promise<number> {
  const at = process.argv.indexOf("--containers");
  const n = at > 0 ? Number(process.argv[at + 1]) : 50;
  if (!Number.isSafeInteger(n) || n < 1) {
    console.error("supervision-memory: --containers wants a positive integer");
    return 2;
  }
  return withEngines("supervision-memory", (engines, work) => measure(engines, work, n));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) process.exitCode = await main();
