import { spawn } from "node:child_process";
import { closeSync } from "node:fs";
import type { StdioOptions } from "node:child_process";
import { open, stat } from "node:fs/promises";
import { join } from "node:path";
import type { ErrorKind } from "../errors/index.js";
import { BerthError, errnoCode, internal, notFound } from "../errors/index.js";
import type { RuntimeRef } from "./protocol.js";

/** Pids of runtime processes this shim spawned: libuv reaps them, the orphan sweep must not. */
export interface ChildTracker {
  add(pid: number): void;
  delete(pid: number): void;
}

export interface RuntimeCall {
  runtime: RuntimeRef;
  /** the bundle: the runtime's `--log` is `<bundle>/log.json` */
  bundle: string;
  /** the subcommand and its arguments */
  args: string[];
  /** the runtime's fds 0-2 (a container's init and execs inherit them); default: /dev/null, pipe, pipe */
  stdio?: [number | "ignore" | "pipe", number | "pipe", number | "pipe"];
  /** written to the runtime's stdin (`update --resources -`) */
  input?: string;
  /** fds to close once the runtime was spawned (the caller's copies of what it inherits) */
  closeAfterSpawn?: number[];
  /** the runtime's stderr when `stdio[2]` is a fd the caller reads (its text for an error message) */
  stderrText?: () => string;
}

/** How long to wait for the runtime's output pipes to close after it exited (a helper it left may hold them). */
const PIPE_GRACE_MS = 2000;
/** How much of log.json to read back for the error message. */
const LOG_TAIL = 256 * 1024;

/**
 * Run `<runtime> [...args] --root R --log <bundle>/log.json --log-format json <sub> ...`, as
 * containerd's shim runs runc, asynchronously (the shim serves many containers meanwhile).
 * Resolves with the runtime's stdout; rejects with the runtime's last `"level":"error"` msg of
 * this run from log.json, else its stderr, as a BerthError whose kind the message implies.
 */
export async function runRuntime(call: RuntimeCall, children: ChildTracker): Promise<string> {
  const logFile = join(call.bundle, "log.json");
  const logStart = await fileSize(logFile);
  const argv = [
    ...(call.runtime.args ?? []),
    "--root",
    call.runtime.root,
    "--log",
    logFile,
    "--log-format",
    "json",
    ...call.args,
  ];
  const stdio: StdioOptions = call.stdio ?? [call.input === undefined ? "ignore" : "pipe", "pipe", "pipe"];
  const what = `${call.runtime.name} ${call.args[0] ?? ""}`;
  const { code, signal, stdout, stderr } = await new Promise<{
    code: number | null;
    signal: NodeJS.Signals | null;
    stdout: string;
    stderr: string;
  }>((resolve, reject) => {
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(call.runtime.path, argv, { stdio });
    } finally {
      for (const fd of call.closeAfterSpawn ?? []) closeSync(fd);
    }
    const pid = child.pid;
    if (pid !== undefined) children.add(pid);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on("data", (d: Buffer) => out.push(d));
    child.stderr?.on("data", (d: Buffer) => err.push(d));
    if (call.input !== undefined) {
      child.stdin?.on("error", () => {
        // the runtime exited without reading its input: its exit status says why
      });
      child.stdin?.end(call.input);
    }
    let settled = false;
    let grace: NodeJS.Timeout | undefined;
    const finish = (c: number | null, s: NodeJS.Signals | null) => {
      if (settled) return;
      settled = true;
      if (grace) clearTimeout(grace);
      if (pid !== undefined) children.delete(pid);
      child.stdout?.destroy();
      child.stderr?.destroy();
      resolve({
        code: c,
        signal: s,
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
      });
    };
    child.on("error", (e) => {
      if (settled) return;
      settled = true;
      if (pid !== undefined) children.delete(pid);
      const msg = `run ${call.runtime.name} at "${call.runtime.path}": ${e.message}`;
      reject(errnoCode(e) === "ENOENT" ? notFound(msg, e) : internal(msg, e));
    });
    child.on("exit", (c, s) => {
      grace = setTimeout(() => finish(c, s), PIPE_GRACE_MS);
    });
    child.on("close", (c, s) => finish(c, s));
  });
  if (code === 0) return stdout;
  const msg =
    (await lastLoggedError(logFile, logStart)) ??
    lastLine(stderr || call.stderrText?.() || "") ??
    (signal ? `${what}: killed by ${signal}` : `${what}: exit status ${code}`);
  throw new BerthError(kindOf(msg), msg);
}

/** Which error kind a runtime's message implies (runc's, crun's and berth-runtime's wording). */
export function kindOf(msg: string): ErrorKind {
  if (/does not exist|not exist/i.test(msg)) return "NotFound";
  if (/already exists/i.test(msg)) return "AlreadyExists";
  if (
    /not running|is stopped|not paused|is paused|already paused|is running|not created|cannot (start|delete|kill|pause|resume)/i.test(
      msg,
    )
  )
    return "FailedPrecondition";
  return "Internal";
}

/** The msg of the last `"level":"error"` line written to log.json after `from`. */
export async function lastLoggedError(file: string, from: number): Promise<string | undefined> {
  let text: string;
  try {
    const fh = await open(file, "r");
    try {
      const size = (await fh.stat()).size;
      const start = Math.max(from, size - LOG_TAIL);
      if (size <= start) return undefined;
      const b = Buffer.alloc(size - start);
      await fh.read(b, 0, b.length, start);
      text = b.toString();
    } finally {
      await fh.close();
    }
  } catch (e) {
    // the runtime never opened its log (it failed before, or does not write one)
    if (errnoCode(e) === "ENOENT") return undefined;
    throw e;
  }
  let msg: string | undefined;
  for (const line of text.split("\n")) {
    if (!line.includes('"error"')) continue;
    try {
      const o = JSON.parse(line) as { level?: unknown; msg?: unknown };
      if (o.level === "error" && typeof o.msg === "string") msg = o.msg;
    } catch {
      // a line cut by a crash, or not JSON: not an error record
    }
  }
  return msg;
}

function lastLine(text: string): string | undefined {
  const lines = text.trim().split("\n");
  const l = lines[lines.length - 1]?.trim();
  return l ? l : undefined;
}

async function fileSize(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (e) {
    if (errnoCode(e) === "ENOENT") return 0;
    throw e;
  }
}
