import { closeSync, constants, mkdirSync, openSync } from "node:fs";
import { join } from "node:path";
import { native } from "../native/index.js";

const LOCK_SH = 1;
const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;

/**
 * The data root's lock (flock on `<root>/store.lock`): pulls, loads and mounts share it;
 * garbage collection takes it alone, so it never deletes what a running pull is about to
 * reference. Several berth processes (and later berthd) on one store are safe this way.
 */
export async function withStoreLock<T>(root: string, mode: "shared" | "exclusive", f: () => Promise<T>): Promise<T> {
  const release = await acquireStoreLock(root, mode);
  try {
    return await f();
  } finally {
    release();
  }
}

/** Take the lock and return its release (for holders that outlive one call: a save's stream). */
export async function acquireStoreLock(root: string, mode: "shared" | "exclusive"): Promise<() => void> {
  mkdirSync(root, { recursive: true, mode: 0o711 });
  const fd = openSync(join(root, "store.lock"), constants.O_RDWR | constants.O_CREAT, 0o600);
  try {
    const op = mode === "shared" ? LOCK_SH : LOCK_EX;
    for (let wait = 5; !native().flock(fd, op | LOCK_NB); wait = Math.min(wait * 2, 100))
      await new Promise((r) => setTimeout(r, wait));
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  let released = false;
  return () => {
    if (released) return;
    released = true;
    native().flock(fd, LOCK_UN);
    closeSync(fd);
  };
}
