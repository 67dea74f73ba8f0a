import { readFileSync, rmSync } from "node:fs";
import { native } from "../native/index.js";
import { failedPrecondition } from "../errors/index.js";
import { sleepMs } from "../cgroups/fs-util.js";
import { containerPids } from "./container-pids.js";
import { canDelete, cgroupOf, hasCgroup, containerDir, hookState, loadState, processStart, statusOf } from "./container-state.js";
import type { RuntimeContext } from "./context.js";
import { runHooks } from "./hooks.js";
import { signalAll, signalPid } from "./kill.js";

/** `delete`: remove a stopped (or, with force, any) container: processes, cgroup, state; then poststop hooks. */
export function deleteContainer(ctx: RuntimeContext, id: string, force: boolean): void {
  const s = loadState(ctx.root, id);
  const st = statusOf(ctx.root, s);
  if (!canDelete(st) && !force) throw failedPrecondition(`cannot delete container "${id}" that is not stopped: ${st}`);
  if (st !== "stopped") {
    if (s.pid > 0) signalPid(s.pid, 9);
    signalAll(s, 9);
  }
  // wait until the init is gone (a zombie waiting for its parent counts as gone)
  for (let i = 0; i < 5000 && s.pid > 0 && processStart(s.pid) === s.pidStart; i++) sleepMs(1);
  // processes of a container that shares the host pid namespace may outlive the init
  for (let i = 0; i < 200 && containerPids(s).length > 0; i++) {
    signalAll(s, 9);
    sleepMs(5);
  }
  if (hasCgroup(s)) cgroupOf(s).destroy();
  // a container without a mount namespace of its own made its mounts in ours: take them back
  if (!(s.config.linux?.namespaces ?? []).some((n) => n.type === "mount")) unmountUnder(s.rootfs);
  rmSync(containerDir(ctx.root, id), { recursive: true, force: true });
  try {
    runHooks(s.config.hooks?.poststop, "poststop", hookState(ctx.root, s, "stopped"));
  } catch (err) {
    // the runtime spec: a failing poststop hook is a warning
    ctx.log("warning", (err as Error).message);
  }
}

/** Detach every mount at or below `dir` in our mount namespace, deepest first. */
export function unmountUnder(dir: string): void {
  const points = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => (l.split(" ")[4] ?? "").replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8))))
    .filter((p) => p === dir || p.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const p of points) {
    try {
      native().umount(p, 2 /* MNT_DETACH */);
    } catch {
      // already gone with a parent's detach
    }
  }
}
