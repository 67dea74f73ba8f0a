import { spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { processAlive } from "../native/index.js";

/**
 * berth-runtime's warm server for berthd's shims: with it, every runtime step a shim runs
 * (create, start, kill, delete, exec) is a small C client served by one resident process
 * instead of a new Node process (~15 ms instead of ~150 ms a step). It runs detached, so
 * shims keep it after a berthd crash; without it the client starts the runtime cold, so it is
 * an optimisation only, never a dependency.
 */
export class WarmRuntime {
  readonly socket: string;
  private readonly pidFile: string;

  /** `cli`: berth-runtime's bundled CLI (dist/berth-runtime.cjs), run by this Node */
  constructor(
    execRoot: string,
    private readonly cli: string,
  ) {
    this.socket = join(execRoot, "berth-runtime.warm.sock");
    this.pidFile = join(execRoot, "berth-runtime.warm.pid");
  }

  /** the pid file says "<pid> <mtime of the runtime's bundle it runs>" */
  private running(): { pid: number; stale: boolean } | undefined {
    try {
      const [pid, built] = readFileSync(this.pidFile, "utf8").trim().split(" ").map(Number) as [number, number];
      if (pid > 0 && processAlive(pid) && readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("warm"))
        return { pid, stale: built !== this.built() };
    } catch {
      // no pid file, or the process is gone
    }
    return undefined;
  }

  private built(): number {
    return Math.floor(statSync(this.cli.replace(/\.cjs$/, "-main.cjs")).mtimeMs);
  }

  /**
   * Reuse the server a previous berthd left (unless berth was rebuilt since it started), or
   * start one; resolves once its socket exists.
   */
  async ensure(logFile: string): Promise<void> {
    const old = this.running();
    if (old && !old.stale && existsSync(this.socket)) return;
    if (old) {
      // the old one unlinks its socket as it exits: let it finish before the new one binds
      process.kill(old.pid, "SIGTERM");
      for (let i = 0; i < 100 && processAlive(old.pid); i++) await new Promise((r) => setTimeout(r, 20));
    }
    const env = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS;
    delete env.NODE_OPTIONS;
    delete env.BERTH_RUNTIME_WARM_SOCKET;
    const log = openSync(logFile, "a");
    try {
      const child = spawn(process.execPath, [this.cli, "warm", "--socket", this.socket], {
        detached: true,
        stdio: ["ignore", log, log],
        env,
      });
      child.unref();
      writeFileSync(this.pidFile, `${child.pid} ${this.built()}`);
    } finally {
      closeSync(log);
    }
    for (let i = 0; i < 250 && !existsSync(this.socket); i++) await new Promise((r) => setTimeout(r, 20));
  }

  /** berthd is stopping cleanly: the shims go cold until the next berthd starts one. */
  stop(): void {
    const r = this.running();
    if (r) process.kill(r.pid, "SIGTERM");
  }
}
