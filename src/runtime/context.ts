import { existsSync, readFileSync, statSync } from "node:fs";
import type { HostFacts } from "./build-plan.js";

/** What every runtime operation gets from the CLI's global flags. */
export interface RuntimeContext {
  /** state root, default /run/berth-runtime */
  root: string;
  debug: boolean;
  log(level: "debug" | "info" | "warning" | "error", msg: string): void;
  /**
   * Wait for a process this request started (attached run/exec) and return its
   * exit code. Set in warm mode, where the waiting is done by the client that
   * is the process's parent; otherwise this process waits itself.
   */
  waitProcess?: (pid: number) => Promise<number>;
}

/**
 * Thrown before any side effect when a request needs the runtime to be the
 * caller's own process (an attached terminal): the warm server hands it back.
 */
export class NeedsLocalProcess extends Error {
  constructor(why: string) {
    super(`needs a local runtime process: ${why}`);
    this.name = "NeedsLocalProcess";
  }
}

export function hostFacts(ctx: RuntimeContext, cgroupPaths: Record<string, string>): HostFacts {
  const facts: HostFacts = {
    lastCap: Number(readFileSync("/proc/sys/kernel/cap_last_cap", "utf8")),
    isDir: (p) => {
      try {
        return statSync(p).isDirectory();
      } catch {
        return false;
      }
    },
    exists: (p) => existsSync(p),
    cgroupPaths,
    warn: (m) => ctx.log("warning", m),
    apparmor: apparmorEnabled(),
    rootless: process.geteuid?.() !== 0,
  };
  const nofile = callerNofile();
  if (nofile) facts.callerNofile = nofile;
  return facts;
}

/** The RLIMIT_NOFILE our caller had, recorded by bin/berth-runtime before Node raised it. */
function callerNofile(): [bigint, bigint] | undefined {
  const v = process.env["BERTH_CALLER_NOFILE"];
  if (!v) return undefined;
  const [soft, hard] = v.split(":");
  const parse = (x: string | undefined) =>
    x === "unlimited" ? 0xffffffffffffffffn : x && /^\d+$/.test(x) ? BigInt(x) : undefined;
  const s = parse(soft);
  const h = parse(hard);
  return s !== undefined && h !== undefined ? [s, h] : undefined;
}

function apparmorEnabled(): boolean {
  try {
    return readFileSync("/sys/module/apparmor/parameters/enabled", "utf8").trim() === "Y";
  } catch {
    return false; // no AppArmor module at all
  }
}
