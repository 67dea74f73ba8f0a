import { writeSync } from "node:fs";
import { rfc3339Nano } from "./clock.js";

/**
 * The shim's own diagnostics: a timestamped line on fd 2, which entry.ts points at
 * `<state-dir>/shim.log` once the shim is ready (before that, at the caller's stderr).
 */
export function shimLog(message: string): void {
  try {
    writeSync(2, `${rfc3339Nano()} ${message}\n`);
  } catch {
    // nowhere left to report to (the log's disk is full or fd 2 is gone): drop the line
  }
}
