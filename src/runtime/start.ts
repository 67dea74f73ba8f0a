import { closeSync, constants, openSync, readSync, unlinkSync } from "node:fs";
import { errnoCode, failedPrecondition } from "../errors/index.js";
import { sleepMs } from "../cgroups/fs-util.js";
import type { ContainerState } from "./container-state.js";
import { canStart, fifoPath, hookState, loadState, processStart, requireStatus, statusOf } from "./container-state.js";
import type { RuntimeContext } from "./context.js";
import { runHooks } from "./hooks.js";

/** `start`: release the init from the exec fifo, then run poststart hooks. */
export function start(ctx: RuntimeContext, id: string): ContainerState {
  const s = loadState(ctx.root, id);
  const st = statusOf(ctx.root, s);
  requireStatus(id, st, canStart(st), "start");
  const fifo = fifoPath(ctx.root, id);
  let fd: number;
  try {
    // non-blocking: a dead init must not leave us waiting forever for a writer
    fd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    if (errnoCode(err) === "ENOENT") throw failedPrecondition(`cannot start container "${id}": it was started already`);
    throw err;
  }
  try {
    const buf = Buffer.alloc(1);
    const readByte = (): boolean => {
      try {
        return readSync(fd, buf, 0, 1, null) === 1;
      } catch (err) {
        if (errnoCode(err) !== "EAGAIN") throw err;
        return false;
      }
    };
    for (let i = 0; !readByte(); i++) {
      // a quick container may write the byte, exec and exit between our read and this check:
      // the byte then still waits in the fifo, so read once more before calling the init gone
      if (processStart(s.pid) !== s.pidStart) {
        if (readByte()) break;
        throw failedPrecondition(`cannot start container "${id}": its init process is gone`);
      }
      sleepMs(i < 100 ? 0.1 : 5);
    }
    // the init holds the fifo until its execve closes it: EOF means the container's process runs
    // (after the startContainer hooks), which poststart hooks must wait for
    for (let i = 0; ; i++) {
      let n = -1;
      try {
        n = readSync(fd, buf, 0, 1, null);
      } catch (err) {
        if (errnoCode(err) !== "EAGAIN") throw err;
      }
      if (n === 0) break;
      sleepMs(i < 100 ? 0.1 : 5);
    }
  } finally {
    closeSync(fd);
  }
  unlinkSync(fifo);
  try {
    runHooks(s.config.hooks?.poststart, "poststart", hookState(ctx.root, s, "running"));
  } catch (err) {
    // the runtime spec: a failing poststart hook is a warning, the lifecycle goes on
    ctx.log("warning", (err as Error).message);
  }
  return s;
}
