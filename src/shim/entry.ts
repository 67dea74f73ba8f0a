/** berth-shim: the container supervisor between berthd and an OCI runtime (see shim.ts). */
import { closeSync, mkdirSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { describe } from "../errors/index.js";
import { native } from "../native/index.js";
import { parseShimArgs } from "./shim-args.js";
import { Shim } from "./shim.js";
import { shimLog } from "./shim-log.js";

async function main(): Promise<void> {
  const o = parseShimArgs(process.argv.slice(2));
  mkdirSync(o.stateDir, { recursive: true, mode: 0o700 });
  // container inits and execs are re-parented to us when their runtime exits
  native().setSubreaper();
  const shim = await Shim.start(o);
  process.on("SIGTERM", () => shim.exit(0));
  process.on("SIGINT", () => shim.exit(0));
  // detached from any terminal; a hang-up must not end the containers' supervision
  process.on("SIGHUP", () => undefined);
  // one container's bug must not end the supervision of the others: log it and carry on
  process.on("uncaughtException", (e) => shimLog(`uncaught: ${e.stack ?? describe(e)}`));
  process.on("unhandledRejection", (e) =>
    shimLog(`unhandled rejection: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`),
  );
  writeSync(1, `ready ${process.pid}\n`);
  redirectStdio(join(o.stateDir, "shim.log"));
  shimLog(`serving on ${o.socket}`);
}

/**
 * Point fds 0-2 away from the caller (it reads `ready` from a pipe and then forgets us):
 * stdin /dev/null, stdout and stderr appended to shim.log. Node has no dup2, but open(2)
 * returns the lowest free fd, so closing fd N and opening again yields N.
 */
function redirectStdio(logFile: string): void {
  const reopen = (fd: number, open: () => number) => {
    try {
      closeSync(fd);
    } catch {
      // already closed by the caller
    }
    const got = open();
    if (got !== fd) shimLog(`redirect fd ${fd}: got fd ${got}`);
  };
  reopen(0, () => openSync("/dev/null", "r"));
  reopen(1, () => openSync(logFile, "a", 0o600));
  reopen(2, () => openSync(logFile, "a", 0o600));
}

main().catch((e: unknown) => {
  try {
    writeSync(2, `berth-shim: ${describe(e)}\n`);
  } finally {
    process.exit(1);
  }
});
