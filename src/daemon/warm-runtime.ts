import { spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from "node:fs";
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

  private running(): number | undefined {
    try {
      const pid = Number(readFileSync(this.pidFile, "utf8"));
      if (pid > 0 && processAlive(pid) && readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("warm")) return pid;
    } catch {
      // no pid file, or the process is gone
    }
    return undefined;
  }

  /** Reuse the server a previous berthd left, or start one; resolves once its socket exists. */
  async ensure(logFile: string): Promise<void> {
    if (this.running() && existsSync(this.socket)) return;
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
      writeFileSync(this.pidFile, String(child.pid));
    } finally {
      closeSync(log);
    }
    for (let i = 0; i < 250 && !existsSync(this.socket); i++) await new Promise((r) => setTimeout(r, 20));
  }

  /** berthd is stopping cleanly: the shims go cold until the next berthd starts one. */
  stop(): void {
    const pid = this.running();
    if (pid) process.kill(pid, "SIGTERM");
  }
}
