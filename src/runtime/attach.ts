import { closeSync, createReadStream, createWriteStream } from "node:fs";
import { native } from "../native/index.js";

const FORWARDED: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGWINCH"];

/**
 * Stay with a child we started (attached `run` or `exec`): forward signals to
 * it, proxy our terminal to its pty when it has one, and resolve with its exit
 * code (128+signal when killed), as a shell reports it.
 */
export function waitAttached(pid: number, ptyFd?: number): Promise<number> {
  const n = native();
  return new Promise((resolve) => {
    const handlers = new Map<NodeJS.Signals, () => void>();
    let restoreTty = false;
    let stdinStream: NodeJS.ReadableStream | undefined;
    if (ptyFd !== undefined) {
      if (process.stdin.isTTY) {
        n.setRaw(0, true);
        restoreTty = true;
        if (process.stdout.columns) n.setWinsize(ptyFd, process.stdout.rows, process.stdout.columns);
      }
      const out = createReadStream("", { fd: ptyFd, autoClose: false });
      out.on("data", (d) => process.stdout.write(d));
      out.on("error", () => {
        // EIO once the last slave fd closes: the container's side is gone
      });
      const toPty = createWriteStream("", { fd: ptyFd, autoClose: false });
      stdinStream = process.stdin;
      process.stdin.on("data", (d) => toPty.write(d));
      process.stdin.on("error", () => {});
    }
    for (const sig of FORWARDED) {
      const h = () => {
        if (sig === "SIGWINCH" && ptyFd !== undefined && process.stdout.columns)
          n.setWinsize(ptyFd, process.stdout.rows, process.stdout.columns);
        else if (sig !== "SIGWINCH") {
          try {
            process.kill(pid, sig);
          } catch {
            // it is already gone; SIGCHLD will follow
          }
        }
      };
      handlers.set(sig, h);
      process.on(sig, h);
    }
    // signal listeners do not keep Node alive; this timer does, and is a safety net for a lost SIGCHLD
    const keepAlive = setInterval(() => check(), 1000);
    const check = () => {
      const r = n.waitpid(pid, true);
      if (!r) return;
      clearInterval(keepAlive);
      process.removeListener("SIGCHLD", check);
      for (const [sig, h] of handlers) process.removeListener(sig, h);
      if (restoreTty) n.setRaw(0, false);
      if (stdinStream) {
        process.stdin.pause();
        process.stdin.unref?.();
      }
      // let the last output drain before the caller exits
      setTimeout(
        () => {
          if (ptyFd !== undefined) closeSync(ptyFd);
          resolve(r.signal ? 128 + r.signal : r.code);
        },
        ptyFd !== undefined ? 20 : 0,
      );
    };
    process.on("SIGCHLD", check);
    check();
  });
}
