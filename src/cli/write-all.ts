import { writeSync } from "node:fs";

/**
 * Write all of `s` to an fd synchronously. The CLI writes fds 1 and 2 this way
 * rather than through process.stdout: setting up Node's stdio streams costs a
 * few milliseconds at every start, and it makes pipes non-blocking, which the
 * container inheriting them must not see. EAGAIN (a non-blocking pipe that is
 * full) is waited out.
 */
export function writeAll(fd: number, s: string): void {
  const b = Buffer.from(s);
  for (let off = 0; off < b.length; ) {
    try {
      off += writeSync(fd, b, off);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EAGAIN") throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
  }
}
