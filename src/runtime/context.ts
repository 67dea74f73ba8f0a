import { existsSync, readFileSync, statSync } from "node:fs";
import type { HostFacts } from "./build-plan.js";

/** What every runtime operation gets from the CLI's global flags. */
export interface RuntimeContext {
  /** state root, default /run/berth-runtime */
  root: string;
  debug: boolean;
  log(level: "debug" | "info" | "warning" | "error", msg: string): void;
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
