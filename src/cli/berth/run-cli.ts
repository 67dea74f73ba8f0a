import { writeAll } from "../write-all.js";
import { DELEGATED, main } from "./main.js";

/**
 * The reader of our output went away (`berth logs | head`): stop quietly with the status a
 * process killed by SIGPIPE has in a shell, as docker's CLI does (Node ignores SIGPIPE).
 */
const BROKEN_PIPE_EXIT = 128 + 13;
const brokenPipe = (err: unknown) => (err as NodeJS.ErrnoException | undefined)?.code === "EPIPE";

function out(s: string): void {
  try {
    writeAll(1, s);
  } catch (err) {
    if (brokenPipe(err)) process.exit(BROKEN_PIPE_EXIT);
    throw err;
  }
}

/**
 * Runs the berth CLI in this process (bin/berth -> dist/berth.cjs -> a bundle): the full one
 * (entry.ts), or the daemon-client one (entry-remote.ts), which hands what it lacks to `local`.
 */
export function runCli(local?: () => Promise<number>): void {
  main(process.argv.slice(2), {
    out,
    err: (s) => writeAll(2, s),
    stdin: () => process.stdin,
    stdoutStream: () => {
      if (process.stdout.listenerCount("error") === 0)
        process.stdout.on("error", (err) => {
          if (brokenPipe(err)) process.exit(BROKEN_PIPE_EXIT);
          throw err;
        });
      return process.stdout;
    },
    isTTY: process.stdout.isTTY === true,
    columns: process.stdout.columns ?? 80,
    ...(local ? { local } : {}),
  }).then(
    (code) => {
      if (code !== DELEGATED) done(code);
    },
    (err) => {
      if (brokenPipe(err)) process.exit(BROKEN_PIPE_EXIT);
      writeAll(2, `berth: ${String(err)}\n`);
      done(1);
    },
  );
}

/**
 * The command is over: exit now rather than after Node has closed the last sockets and timers
 * one by one and torn its environment down (~6 ms of a `run --rm` here). Nothing is lost: our
 * own output is written synchronously, and so is process.stdout/stderr's on Linux (files, pipes
 * and ttys); whatever they still hold would make us wait for it the usual way.
 */
function done(code: number): void {
  process.exitCode = code;
  if (process.stdout.writableLength === 0 && process.stderr.writableLength === 0) process.exit(code);
}
