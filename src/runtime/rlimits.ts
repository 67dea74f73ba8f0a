import { invalidArgument } from "../errors/index.js";

/** setrlimit(2) resource numbers on Linux. */
export const RLIMITS: Record<string, number> = {
  RLIMIT_CPU: 0,
  RLIMIT_FSIZE: 1,
  RLIMIT_DATA: 2,
  RLIMIT_STACK: 3,
  RLIMIT_CORE: 4,
  RLIMIT_RSS: 5,
  RLIMIT_NPROC: 6,
  RLIMIT_NOFILE: 7,
  RLIMIT_MEMLOCK: 8,
  RLIMIT_AS: 9,
  RLIMIT_LOCKS: 10,
  RLIMIT_SIGPENDING: 11,
  RLIMIT_MSGQUEUE: 12,
  RLIMIT_NICE: 13,
  RLIMIT_RTPRIO: 14,
  RLIMIT_RTTIME: 15,
};

export function rlimitNumber(type: string, field: string): number {
  const n = RLIMITS[type];
  if (n === undefined) throw invalidArgument(`${field}.type: unknown rlimit "${type}"`);
  return n;
}

/** RLIM_INFINITY is ~0 on Linux; config.json writes it as 2^64-1, which JSON.parse rounds. */
export function rlimitValue(v: number): bigint {
  if (v >= 2 ** 63) return 0xffffffffffffffffn;
  return BigInt(v);
}
