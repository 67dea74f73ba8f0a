import { closeSync, read } from "node:fs";
import type net from "node:net";
import { StringDecoder } from "node:string_decoder";
import { promisify } from "node:util";
import { errnoCode } from "../errors/index.js";
import { rfc3339Nano } from "./clock.js";
import { encodeFrame } from "./frames.js";
import type { JsonFileLog, LogSnapshot } from "./json-log.js";
import type { ProcessState, ProcessStatus, StdioOptions } from "./protocol.js";
import { STREAM_EXIT, STREAM_STDERR, STREAM_STDOUT } from "./protocol.js";
import type { Pty } from "./stdio.js";
import { UNKNOWN_EXIT } from "./reaper.js";
import { shimLog } from "./shim-log.js";

const readAsync = promisify(read);

/** an exec's output kept for its first attach (docker exec attaches after starting) */
const BACKLOG_MAX = 1 << 20;
/** a client this far behind is dropped, so it cannot grow the shim without bound */
const CLIENT_BACKLOG_MAX = 8 << 20;
/** how long output may keep flowing after the process exited (a child it left holds the pipe) */
const DRAIN_MS = 2000;
/** what a failed create keeps of the runtime's stderr for the error message */
const HELD_MAX = 64 * 1024;

interface Client {
  conn: net.Socket;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  /** frames held while the log is replayed to this client */
  held: Buffer[] | undefined;
  endWhenReplayed: boolean;
}

export interface ExitInfo {
  exitCode: number;
  exitedAt: string;
}

/**
 * One supervised process (a container's init or an exec): its stdio (pipes or a pty), the
 * attached clients that share its output, its json-file log (inits only), and its exit.
 */
export class ShimProcess {
  pid = 0;
  status: ProcessStatus = "created";
  startedAt: string | undefined;
  exitCode: number | undefined;
  exitedAt: string | undefined;
  oomKilled: boolean | undefined;
  /** waitpid collected it; `status` turns "stopped" once its output is drained too */
  reaped = false;
  log: JsonFileLog | undefined;

  private readonly clients = new Set<Client>();
  private readonly waiters: ((e: ExitInfo) => void)[] = [];
  private readers: net.Socket[] = [];
  private openReaders = 0;
  private drained: (() => void) | undefined;
  private stdinPipe: net.Socket | undefined;
  private pty: Pty | undefined;
  /** exec output kept until the first attach */
  private backlog: Buffer[] | undefined;
  private backlogSize = 0;
  /** output held while the runtime creates the process (its own stderr, for an error message) */
  private held: { stream: number; data: Buffer }[] | undefined = [];
  private heldSize = 0;

  constructor(
    readonly id: string,
    readonly execId: string | undefined,
    readonly stdio: StdioOptions,
  ) {
    if (execId !== undefined) this.backlog = [];
  }

  get terminal(): boolean {
    return this.stdio.terminal;
  }

  get finished(): boolean {
    return this.status === "stopped";
  }

  usePipes(stdout: net.Socket, stderr: net.Socket, stdin: net.Socket | undefined): void {
    this.readFrom(stdout, STREAM_STDOUT);
    this.readFrom(stderr, STREAM_STDERR);
    if (stdin) {
      stdin.on("error", (e) => {
        // the process closed its stdin: what clients type has nowhere to go
        if (errnoCode(e) !== "EPIPE") shimLog(`${this.name}: stdin: ${e.message}`);
      });
      this.stdinPipe = stdin;
    }
  }

  usePty(pty: Pty): void {
    this.pty = pty;
    this.readFrom(pty.reader, STREAM_STDOUT);
  }

  /** What the runtime wrote to the process's pipes while creating it (its error, on failure). */
  heldText(): string {
    return Buffer.concat((this.held ?? []).map((h) => h.data)).toString();
  }

  /** The process exists: output from now on is the process's (the runtime's warnings first). */
  releaseHeld(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const h of held) this.output(h.stream, h.data);
  }

  resize(rows: number, cols: number): boolean {
    if (!this.pty) return false;
    this.pty.resize(rows, cols);
    return true;
  }

  writeStdin(data: Buffer): void {
    if (!this.stdio.stdin) return;
    if (this.pty) this.pty.write(data);
    else if (this.stdinPipe && !this.stdinPipe.writableEnded) this.stdinPipe.write(data);
  }

  /** docker's CloseStdin: end of input (a pipe is closed; a terminal gets its EOF character, ^D) */
  closeStdin(): void {
    if (!this.stdio.stdin) return;
    if (this.pty) this.pty.write(Buffer.from([4]));
    else if (this.stdinPipe && !this.stdinPipe.writableEnded) this.stdinPipe.end();
  }

  /** Register an attach connection; `replay` (the init's log files) is sent before live output. */
  attach(
    conn: net.Socket,
    want: { stdin: boolean; stdout: boolean; stderr: boolean },
    firstInput: Buffer,
    replay: LogSnapshot[] | undefined,
  ): void {
    const c: Client = { conn, ...want, held: replay ? [] : undefined, endWhenReplayed: false };
    conn.on("error", () => {
      // a client going away mid-stream is normal; 'close' below forgets it
    });
    conn.on("close", () => this.clients.delete(c));
    // an empty frame first: the attach is registered, output from now on reaches this client
    conn.write(encodeFrame(STREAM_STDOUT, Buffer.alloc(0)));
    if (this.backlog) {
      for (const f of this.backlog) if (this.wants(c, f[0] ?? 0)) this.send(c, f);
      this.backlog = undefined;
      this.backlogSize = 0;
    }
    if (want.stdin) {
      if (firstInput.length) this.writeStdin(firstInput);
      conn.on("data", (d: Buffer) => this.writeStdin(d));
      conn.on("end", () => {
        if (this.stdio.stdinOnce) this.closeStdin();
      });
    } else {
      conn.resume();
    }
    if (replay) void this.replay(c, replay);
    if (this.finished) this.end(c);
    else this.clients.add(c);
  }

  /** Called by the reaper; the exit is final once the output is drained (or DRAIN_MS passed). */
  async exited(exitCode: number, before: Promise<void> | undefined): Promise<ExitInfo> {
    this.reaped = true;
    const exitedAt = rfc3339Nano();
    if (this.openReaders > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, DRAIN_MS);
        this.drained = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    await before;
    this.closeIo();
    this.exitCode = exitCode;
    this.exitedAt = exitedAt;
    this.status = "stopped";
    return { exitCode, exitedAt };
  }

  /** Tell waiters and attached clients (after the owner recorded the exit). */
  notifyExit(): void {
    const info = this.exitInfo();
    if (!info) return;
    for (const w of this.waiters.splice(0)) w(info);
    for (const c of this.clients) this.end(c);
    this.clients.clear();
  }

  onExit(cb: (e: ExitInfo) => void): void {
    const info = this.exitInfo();
    if (info) cb(info);
    else this.waiters.push(cb);
  }

  /** Release every fd (delete, or a failed create). */
  closeIo(): void {
    for (const r of this.readers) r.destroy();
    this.readers = [];
    this.stdinPipe?.destroy();
    this.stdinPipe = undefined;
    this.pty?.close();
    this.pty = undefined;
    // the log object stays: `attach --logs` replays it after the exit
    this.log?.close();
  }

  /** Drop attached clients without an exit frame (the shim is going away). */
  dropClients(): void {
    for (const c of this.clients) c.conn.destroy();
    this.clients.clear();
  }

  state(): ProcessState {
    const s: ProcessState = { id: this.id, status: this.status, pid: this.pid };
    if (this.execId !== undefined) s.execId = this.execId;
    if (this.startedAt !== undefined) s.startedAt = this.startedAt;
    if (this.exitCode !== undefined) s.exitCode = this.exitCode;
    if (this.exitedAt !== undefined) s.exitedAt = this.exitedAt;
    if (this.oomKilled !== undefined) s.oomKilled = this.oomKilled;
    return s;
  }

  private get name(): string {
    return this.execId === undefined ? `container ${this.id}` : `exec ${this.execId} of ${this.id}`;
  }

  private exitInfo(): ExitInfo | undefined {
    if (this.exitCode === undefined || this.exitedAt === undefined) return undefined;
    return { exitCode: this.exitCode, exitedAt: this.exitedAt };
  }

  private readFrom(s: net.Socket, stream: number): void {
    this.readers.push(s);
    this.openReaders++;
    let done = false;
    const end = () => {
      if (done) return;
      done = true;
      this.log?.endStream(stream === STREAM_STDERR ? "stderr" : "stdout");
      if (--this.openReaders === 0) this.drained?.();
    };
    s.on("data", (d: Buffer) => this.output(stream, d));
    s.on("end", end);
    s.on("close", end);
    s.on("error", (e) => {
      // EIO: every holder of the pty's other side closed it (the terminal's end of file)
      if (errnoCode(e) !== "EIO") shimLog(`${this.name}: read output: ${e.message}`);
      end();
    });
  }

  private output(stream: number, data: Buffer): void {
    if (this.held) {
      if (this.heldSize < HELD_MAX) {
        this.held.push({ stream, data });
        this.heldSize += data.length;
      }
      return;
    }
    this.log?.write(stream === STREAM_STDERR ? "stderr" : "stdout", data);
    const f = encodeFrame(stream, data);
    if (this.backlog) {
      this.backlog.push(f);
      this.backlogSize += f.length;
      while (this.backlogSize > BACKLOG_MAX) this.backlogSize -= this.backlog.shift()?.length ?? 0;
    }
    for (const c of this.clients) if (this.wants(c, stream)) this.send(c, f);
  }

  private wants(c: Client, stream: number): boolean {
    return stream === STREAM_STDERR ? c.stderr : c.stdout;
  }

  private send(c: Client, frame: Buffer): void {
    if (c.held) {
      c.held.push(frame);
      return;
    }
    if (c.conn.destroyed) return;
    c.conn.write(frame);
    if (c.conn.writableLength > CLIENT_BACKLOG_MAX) {
      shimLog(`${this.name}: dropping an attach client that is ${c.conn.writableLength} bytes behind`);
      c.conn.destroy();
    }
  }

  /** The last frame, then close (after a replay still under way, if any). */
  private end(c: Client): void {
    if (c.held) {
      c.endWhenReplayed = true;
      return;
    }
    if (c.conn.destroyed) return;
    c.conn.end(encodeFrame(STREAM_EXIT, Buffer.from(JSON.stringify({ exitCode: this.exitCode ?? UNKNOWN_EXIT }))));
  }

  private async replay(c: Client, files: LogSnapshot[]): Promise<void> {
    try {
      for (const f of files) await this.replayFile(c, f);
    } catch (e) {
      shimLog(`${this.name}: replay the log to an attach client: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      for (const f of files) closeSync(f.fd);
      const held = c.held ?? [];
      c.held = undefined;
      for (const frame of held) this.send(c, frame);
      if (c.endWhenReplayed) this.end(c);
    }
  }

  private async replayFile(c: Client, f: LogSnapshot): Promise<void> {
    const buf = Buffer.allocUnsafe(64 * 1024);
    let pos = 0;
    let rest = "";
    const text = new StringDecoder("utf8");
    while (pos < f.size && !c.conn.destroyed) {
      const { bytesRead } = await readAsync(f.fd, buf, 0, Math.min(buf.length, f.size - pos), pos);
      if (bytesRead === 0) break;
      pos += bytesRead;
      const lines = (rest + text.write(buf.subarray(0, bytesRead))).split("\n");
      rest = lines.pop() ?? "";
      for (const line of lines) {
        let e: { log?: unknown; stream?: unknown };
        try {
          e = JSON.parse(line) as typeof e;
        } catch {
          continue; // a line cut by a crash
        }
        if (typeof e.log !== "string") continue;
        const stream = e.stream === "stderr" ? STREAM_STDERR : STREAM_STDOUT;
        if (this.wants(c, stream) && !c.conn.destroyed) c.conn.write(encodeFrame(stream, Buffer.from(e.log)));
      }
      if (c.conn.writableLength > BACKLOG_MAX) await drainedOrClosed(c.conn);
    }
  }
}

/** Wait until the client's socket buffer drained (or it closed), so a replay does not pile up in memory. */
function drainedOrClosed(conn: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      conn.off("drain", done);
      conn.off("close", done);
      resolve();
    };
    conn.on("drain", done);
    conn.on("close", done);
  });
}
