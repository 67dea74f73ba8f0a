import { readdirSync, readFileSync } from "node:fs";
import { errnoCode } from "../errors/index.js";
import { native, processAlive } from "../native/index.js";
import type { ChildTracker } from "./runtime-cli.js";
import { shimLog } from "./shim-log.js";

/** Exit status as a shell reports it: the code, or 128 + the signal that killed it. */
export type ExitCallback = (exitCode: number) => void;

/** containerd reports a process whose status could not be collected as 255 */
export const UNKNOWN_EXIT = 255;
const SWEEP_MS = 1000;
/** orphans are looked for this long after a SIGCHLD, once for a burst of them */
const ORPHAN_SCAN_DELAY_MS = 50;

/**
 * Collects exits of the processes the shim supervises. The shim is a child subreaper: container
 * inits and execs are re-parented to it when their runtime exits. Node (libuv) reaps the
 * runtimes it spawned itself, so this never calls waitpid(-1): it waits for each known pid,
 * and reaps other zombie children (a container's orphans) only when they are neither known
 * nor a runtime, and never while a runtime is launching a process whose pid is not known yet.
 */
export class Reaper implements ChildTracker {
  private readonly known = new Map<number, ExitCallback>();
  private readonly runtimes = new Set<number>();
  /** create/exec runs in flight: their process may exit before its pid file is read */
  private launching = 0;
  private readonly timer: NodeJS.Timeout;
  private orphanScan: NodeJS.Timeout | undefined;

  constructor() {
    process.on("SIGCHLD", () => this.sweep());
    // SIGCHLDs coalesce, and a process re-parented already dead may come with none we see
    this.timer = setInterval(() => this.sweep(), SWEEP_MS);
    this.timer.unref();
  }

  add(pid: number): void {
    this.runtimes.add(pid);
  }

  delete(pid: number): void {
    this.runtimes.delete(pid);
  }

  /** Run `launch` (a runtime create/exec) with the orphan sweep held off. */
  async launch<T>(launch: () => Promise<T>): Promise<T> {
    this.launching++;
    try {
      return await launch();
    } finally {
      this.launching--;
    }
  }

  watch(pid: number, onExit: ExitCallback): void {
    this.known.set(pid, onExit);
    this.collect(pid, onExit);
  }

  forget(pid: number): void {
    this.known.delete(pid);
  }

  stop(): void {
    clearInterval(this.timer);
    clearTimeout(this.orphanScan);
  }

  sweep(): void {
    for (const [pid, cb] of this.known) this.collect(pid, cb);
    // the /proc scan (every thread's children list, ~1 ms) waits until the exits just collected
    // are handled: a container's exit (its delete, berthd's reply) does not queue behind it
    this.orphanScan ??= setTimeout(() => {
      this.orphanScan = undefined;
      if (this.launching === 0) this.reapOrphans();
    }, ORPHAN_SCAN_DELAY_MS).unref();
  }

  private collect(pid: number, cb: ExitCallback): void {
    let r: { code: number; signal: number } | null;
    try {
      r = native().waitpid(pid, true);
    } catch (e) {
      if (errnoCode(e) !== "ECHILD") throw e;
      // not (or no longer) our child: gone means its status is lost; alive means it has
      // not been re-parented to us yet, so look again on the next sweep
      if (processAlive(pid)) return;
      shimLog(`process ${pid} exited but its status could not be collected; reporting ${UNKNOWN_EXIT}`);
      r = { code: UNKNOWN_EXIT, signal: 0 };
    }
    if (!r) return;
    this.known.delete(pid);
    cb(r.signal ? 128 + r.signal : r.code);
  }

  private reapOrphans(): void {
    for (const pid of children()) {
      if (this.known.has(pid) || this.runtimes.has(pid) || !isZombie(pid)) continue;
      try {
        native().waitpid(pid, true);
      } catch (e) {
        // libuv reaped it between the scan and now (ECHILD): nothing left to do
        if (errnoCode(e) !== "ECHILD") throw e;
      }
    }
  }
}

/** This process's children, from every thread's /proc children list (any thread may be the reaper). */
function children(): number[] {
  const out: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync("/proc/self/task");
  } catch {
    return out;
  }
  for (const t of tasks) {
    let text: string;
    try {
      text = readFileSync(`/proc/self/task/${t}/children`, "utf8");
    } catch (e) {
      // the thread ended (ENOENT/ESRCH); without CONFIG_PROC_CHILDREN fall back to /proc/*/stat
      if (errnoCode(e) === "ENOENT" && t === String(process.pid)) return childrenFromStat();
      continue;
    }
    for (const s of text.split(" ")) if (s.trim()) out.push(Number(s));
  }
  return out;
}

function childrenFromStat(): number[] {
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const st = statFields(Number(name));
    if (st && st.ppid === process.pid) out.push(Number(name));
  }
  return out;
}

function isZombie(pid: number): boolean {
  return statFields(pid)?.state === "Z";
}

/** state and ppid from /proc/<pid>/stat (after the last ")", the comm may hold anything) */
function statFields(pid: number): { state: string; ppid: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return { state: f[0] ?? "", ppid: Number(f[1]) };
}
