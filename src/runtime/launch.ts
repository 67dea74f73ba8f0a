import { closeSync } from "node:fs";
import { BerthError, internal } from "../errors/index.js";
import type { Plan } from "../native/index.js";
import { Msg, SyncTag, describeStep, encodePlan, native, recvMessage, sendMessage, spawnPlan } from "../native/index.js";

export interface LaunchHandlers {
  /**
   * the init exists (host pid) and waits: write id maps, join cgroups; returns the state JSON
   * for in-container hooks. `bornInCgroup` false: a clone into a cgroup was asked for, but clone3
   * refused it (a kernel older than 5.7, a seccomp filter, pids.max), so the init is not there.
   */
  init(pid: number, bornInCgroup: boolean): string;
  /** before pivot_root: prestart and createRuntime hooks */
  createRuntime?(pid: number): void;
  /** the process loaded a seccomp filter with a notify listener: hand `fd` to the agent (closed after) */
  seccompListener?(fd: number, pid: number): void;
  /** the pty master: send it to the console socket, or keep it (run's own terminal) */
  pty?(fd: number, name: string): void;
  debug?(msg: string): void;
}

/** Setup steps are short; a child that says nothing for this long is stuck. */
const SYNC_TIMEOUT_MS = 120_000;

/**
 * Run a plan in a new child and drive the sync protocol until the child says
 * it is ready. Returns the host pid of the process that will exec. On any
 * failure the child is killed and the error names the step that failed.
 */
export function launch(plan: Plan, h: LaunchHandlers): number {
  const n = native();
  if (h.debug) plan.forEach((s, i) => h.debug?.(`plan[${i}] ${describeStep(s)}`));
  const { pid: stage1, fd, reaped } = spawnPlan(encodePlan(plan));
  let pid = 0;
  let stage1Reaped = reaped;
  let initPending = false;
  let bornInCgroup = true;
  try {
    for (;;) {
      const m = recvMessage(fd, SYNC_TIMEOUT_MS);
      if (m === null) {
        if (!stage1Reaped) n.waitpid(stage1, false);
        stage1Reaped = true;
        throw internal("container process exited during setup without a word");
      }
      switch (m.type) {
        case Msg.Pid:
          pid = m.pid;
          bornInCgroup = m.err !== 1;
          if (!stage1Reaped) n.waitpid(stage1, false);
          stage1Reaped = true;
          if (initPending) {
            initPending = false;
            sendMessage(fd, Msg.Go, Buffer.from(h.init(pid, bornInCgroup)));
          }
          break;
        case Msg.Sync:
          if (m.pid === SyncTag.Init) {
            // the init may speak before stage 1 reports its pid: answer once the pid is known
            if (pid === 0) initPending = true;
            else sendMessage(fd, Msg.Go, Buffer.from(h.init(pid, bornInCgroup)));
          } else if (m.pid === SyncTag.CreateRuntime) {
            h.createRuntime?.(pid);
            sendMessage(fd, Msg.Go);
          }
          break;
        case Msg.Pty:
          try {
            h.pty?.(m.fd, m.text);
          } finally {
            if (!h.pty) closeSync(m.fd);
          }
          sendMessage(fd, Msg.Go);
          break;
        case Msg.Seccomp:
          try {
            if (!h.seccompListener) throw internal("the container process sent a seccomp listener nobody asked for");
            h.seccompListener(m.fd, pid);
          } finally {
            closeSync(m.fd);
          }
          sendMessage(fd, Msg.Go);
          break;
        case Msg.Error: {
          const step = plan[m.step];
          const what = step ? describeStep(step) : `step ${m.step}`;
          const cause = m.err ? errnoText(m.err) : "";
          throw new BerthError(
            m.err === 2 && step?.op === "resolve-exec" ? "NotFound" : "FailedPrecondition",
            `${m.text}${cause ? `: ${cause}` : ""} (at ${what})`,
          );
        }
        case Msg.Ready:
          if (!stage1Reaped) n.waitpid(stage1, false);
          return pid;
      }
    }
  } catch (err) {
    if (pid > 0) {
      try {
        process.kill(pid, "SIGKILL");
        n.waitpid(pid, false);
      } catch {
        // already gone, or not our child (after a double fork): nothing more to do
      }
    }
    if (!stage1Reaped) {
      try {
        process.kill(stage1, "SIGKILL");
        n.waitpid(stage1, false);
      } catch {
        // stage 1 already exited
      }
    }
    throw err;
  } finally {
    closeSync(fd);
  }
}

const ERRNO: Record<number, string> = {
  1: "operation not permitted",
  2: "no such file or directory",
  3: "no such process",
  5: "input/output error",
  9: "bad file descriptor",
  12: "cannot allocate memory",
  13: "permission denied",
  16: "device or resource busy",
  17: "file exists",
  19: "no such device",
  20: "not a directory",
  21: "is a directory",
  22: "invalid argument",
  24: "too many open files",
  28: "no space left on device",
  30: "read-only file system",
  36: "file name too long",
  38: "function not implemented",
  40: "too many levels of symbolic links",
  95: "operation not supported",
  110: "timed out",
  125: "operation canceled",
};

export function errnoText(e: number): string {
  return ERRNO[e] ?? `errno ${e}`;
}
