import { errnoCode, failedPrecondition } from "../errors/index.js";
import { containerPids } from "./container-pids.js";
import { canKill, cgroupOf, hasCgroup, loadState, requireStatus, statusOf } from "./container-state.js";
import type { ContainerState } from "./container-state.js";
import type { RuntimeContext } from "./context.js";

/** `kill`: signal the init, or with `all` every process in the container's cgroup. */
export function kill(ctx: RuntimeContext, id: string, signal: number, all: boolean): void {
  const s = loadState(ctx.root, id);
  const st = statusOf(ctx.root, s);
  if (all && st === "stopped") {
    signalAll(s, signal);
    return;
  }
  // containerd-shim and podman recognise runc's words "container not running" and then treat
  // the process as already finished; any other message fails `docker kill` or `stop` on a race
  if (st === "stopped") throw failedPrecondition(`cannot kill container "${id}": container not running`);
  requireStatus(id, st, canKill(st), "kill");
  if (all) signalAll(s, signal);
  else signalPid(s.pid, signal);
}

export function signalPid(pid: number, signal: number): void {
  try {
    process.kill(pid, signal);
  } catch (err) {
    // the process exited between the status check and the signal
    if (errnoCode(err) !== "ESRCH") throw err;
  }
}

/** Every process of the cgroup; frozen ones are thawed after so they can act on it. */
export function signalAll(s: ContainerState, signal: number): void {
  // no cgroup (rootless, not delegated): nothing to freeze, the processes are found by pid namespace
  if (!hasCgroup(s)) {
    for (const pid of containerPids(s)) signalPid(pid, signal);
    return;
  }
  const cg = cgroupOf(s);
  const frozen = cg.frozen();
  if (!frozen && signal === 9) {
    // freeze first so no process can fork a new one we would miss
    try {
      cg.freeze();
    } catch {
      // no freezer: signal what is there
    }
  }
  for (const pid of cg.pids()) signalPid(pid, signal);
  if (frozen || signal === 9) {
    try {
      cg.thaw();
    } catch {
      // no freezer
    }
  }
}
