import { spawn } from "node:child_process";

/** What a finished program left behind. */
export interface ExecResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  /** written to the program's stdin, which is then closed */
  input?: string;
  /** the whole environment (not merged with ours) */
  env?: NodeJS.ProcessEnv;
  /** killed with SIGKILL after this many milliseconds */
  timeoutMs?: number;
}

/**
 * Runs `file` with `args` without a shell and collects its output. Never throws for a non-zero
 * exit (the caller decides what that means); rejects only when the program cannot be started.
 */
export function execProgram(file: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: opts.env ?? process.env, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    // a program that exits without reading its stdin makes our write fail with EPIPE: its exit
    // status tells the story, so the write error is not reported separately
    child.stdin.on("error", () => {});
    const timer = opts.timeoutMs === undefined ? undefined : setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs).unref();
    child.on("error", (e) => {
      if (timer) clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") });
    });
    child.stdin.end(opts.input ?? "");
  });
}

/** The first line of a program's complaint, for error messages. */
export function firstLine(text: string): string {
  return text.trim().split("\n")[0]?.trim() ?? "";
}
