import { spawn } from "node:child_process";
import { join } from "node:path";
import { internal } from "../errors/index.js";
import { packageRoot } from "../native/index.js";

export interface LaunchShimOptions {
  socket: string;
  stateDir: string;
  lingerMs?: number;
  /** the bundled shim (default: dist/berth-shim.cjs of this package) */
  shimPath?: string;
  env?: NodeJS.ProcessEnv;
}

/** V8 flags that keep an idle shim's heap small (it holds fds and small buffers, not data) */
const NODE_FLAGS = ["--max-semi-space-size=1", "--max-old-space-size=128"];
const READY_TIMEOUT_MS = 20_000;

/**
 * Start a shim detached (its own session, so it outlives the caller) and wait for its
 * `ready <pid>` line; then let go of its pipes. Rejects with the shim's stderr when it fails
 * to start (another shim on the socket, a bad state dir ...).
 */
export function launchShim(o: LaunchShimOptions): Promise<{ pid: number }> {
  const shim = o.shimPath ?? join(packageRoot(), "dist", "berth-shim.cjs");
  const args = [...NODE_FLAGS, shim, "--socket", o.socket, "--state-dir", o.stateDir];
  if (o.lingerMs !== undefined) args.push("--linger-ms", String(o.lingerMs));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { detached: true, stdio: ["ignore", "pipe", "pipe"], env: o.env ?? process.env });
    let out = "";
    let err = "";
    let done = false;
    const finish = (e: Error | undefined, pid?: number) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      child.stdout?.destroy();
      child.stderr?.destroy();
      child.unref();
      if (e) reject(e);
      else resolve({ pid: pid ?? 0 });
    };
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      finish(internal(`berth-shim on ${o.socket} did not report ready within ${READY_TIMEOUT_MS} ms`));
    }, READY_TIMEOUT_MS);
    child.stdout?.setEncoding("utf8");
    child.stderr?.setEncoding("utf8");
    child.stdout?.on("data", (d: string) => {
      out += d;
      const m = /^ready (\d+)\n/m.exec(out);
      if (m) finish(undefined, Number(m[1]));
    });
    child.stderr?.on("data", (d: string) => {
      err += d;
    });
    child.on("error", (e) => finish(internal(`start berth-shim ${shim}`, e)));
    child.on("exit", (code, signal) => {
      // stderr may still be arriving: give it a moment before it becomes the message
      setTimeout(
        () => finish(internal(`berth-shim exited before it was ready (${signal ?? `exit status ${code}`}): ${err.trim()}`)),
        50,
      );
    });
  });
}
