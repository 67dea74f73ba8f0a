import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { errnoCode } from "../errors/index.js";

export function readPids(file: string): number[] {
  try {
    return readFileSync(file, "utf8").split("\n").filter(Boolean).map(Number);
  } catch (err) {
    // the cgroup is already gone: no processes
    if (errnoCode(err) === "ENOENT") return [];
    throw err;
  }
}

export function writeValue(file: string, value: string): void {
  writeFileSync(file, value);
}

export function mkdirP(dir: string): void {
  mkdirSync(dir, { recursive: true });
}

export function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** rmdir a cgroup, retrying while the kernel still counts exiting tasks in it (EBUSY). */
export function removeCgroupDir(dir: string): void {
  for (let attempt = 0; ; attempt++) {
    try {
      rmdirSync(dir);
      return;
    } catch (err) {
      const code = errnoCode(err);
      if (code === "ENOENT") return;
      if (code !== "EBUSY" || attempt >= 50) throw err;
      sleepMs(Math.min(2 ** attempt, 20));
    }
  }
}
