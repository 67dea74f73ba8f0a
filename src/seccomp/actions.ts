import { invalidArgument } from "../errors/index.js";

/** SECCOMP_RET_* (linux/seccomp.h); the low 16 bits carry data for ERRNO and TRACE. */
export const SECCOMP_RET = {
  KILL_PROCESS: 0x80000000,
  KILL_THREAD: 0x00000000,
  TRAP: 0x00030000,
  ERRNO: 0x00050000,
  USER_NOTIF: 0x7fc00000,
  TRACE: 0x7ff00000,
  LOG: 0x7ffc0000,
  ALLOW: 0x7fff0000,
} as const;

const EPERM = 1;

/** The actions this compiler supports (runtime-spec config-linux.md#seccomp), by name. */
const ACTIONS: Record<string, { ret: number; data: boolean }> = {
  SCMP_ACT_KILL: { ret: SECCOMP_RET.KILL_THREAD, data: false },
  SCMP_ACT_KILL_THREAD: { ret: SECCOMP_RET.KILL_THREAD, data: false },
  SCMP_ACT_KILL_PROCESS: { ret: SECCOMP_RET.KILL_PROCESS, data: false },
  SCMP_ACT_TRAP: { ret: SECCOMP_RET.TRAP, data: false },
  SCMP_ACT_ERRNO: { ret: SECCOMP_RET.ERRNO, data: true },
  SCMP_ACT_TRACE: { ret: SECCOMP_RET.TRACE, data: true },
  SCMP_ACT_ALLOW: { ret: SECCOMP_RET.ALLOW, data: false },
  SCMP_ACT_LOG: { ret: SECCOMP_RET.LOG, data: false },
  SCMP_ACT_NOTIFY: { ret: SECCOMP_RET.USER_NOTIF, data: false },
};

/** Action names for `features`. */
export const SUPPORTED_ACTIONS: readonly string[] = Object.keys(ACTIONS).sort();

/**
 * The SECCOMP_RET_* value of an OCI action. ERRNO and TRACE carry `errnoRet` (EPERM when
 * absent, as runc does); other actions may not have one: the spec says the runtime fails.
 */
export function actionValue(action: string, errnoRet: number | undefined, field: string): number {
  const a = ACTIONS[action];
  if (!a) throw invalidArgument(`${field}: unknown seccomp action "${action}"`);
  if (!a.data) {
    if (errnoRet !== undefined)
      throw invalidArgument(`${field}: errnoRet is only valid with SCMP_ACT_ERRNO and SCMP_ACT_TRACE, not ${action}`);
    return a.ret;
  }
  const data = errnoRet ?? EPERM;
  if (!Number.isInteger(data) || data < 0 || data > 0xffff)
    throw invalidArgument(`${field}: errnoRet ${data} is not in 0..65535`);
  return (a.ret | data) >>> 0;
}
