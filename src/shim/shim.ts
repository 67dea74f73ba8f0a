import { closeSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import {
  BerthError,
  describe,
  errnoCode,
  failedPrecondition,
  internal,
  invalidArgument,
  isKind,
  notFound,
} from "../errors/index.js";
import { rfc3339Nano } from "./clock.js";
import { encodeFrame } from "./frames.js";
import { JsonFileLog } from "./json-log.js";
import type { OomWatch } from "./oom.js";
import { oomKilledSince, watchOom } from "./oom.js";
import { parseRequest, seqOf } from "./parse-request.js";
import type {
  AttachRequest,
  ContainerEntry,
  CreateRequest,
  ExecRequest,
  ProcessState,
  Request,
  Response,
  RuntimeRef,
  ShimEvent,
  StdioOptions,
} from "./protocol.js";
import { STREAM_EXIT } from "./protocol.js";
import { Reaper } from "./reaper.js";
import type { RuntimeCall } from "./runtime-cli.js";
import { runRuntime } from "./runtime-cli.js";
import { ShimProcess } from "./shim-process.js";
import { shimLog } from "./shim-log.js";
import { ConsoleSocket, devNull, listenPrivate, makePipe, Pty, pipeReader, pipeWriter } from "./stdio.js";

export interface ShimOptions {
  socket: string;
  stateDir: string;
  /** how long to stay up with no containers before exiting */
  lingerMs: number;
}

/** a request line longer than this is refused (and the connection closed) */
const MAX_LINE = 4 << 20;
/** exited execs kept per container for `state`/`wait` (the protocol has no exec delete) */
const EXITED_EXECS_KEPT = 32;
/** how long delete waits for a force-killed init to be reaped */
const DELETE_REAP_MS = 10_000;
const CONSOLE_MS = 2000;

interface Container {
  id: string;
  bundle: string;
  runtime: RuntimeRef;
  init: ShimProcess;
  execs: Map<string, ShimProcess>;
  oom: OomWatch | undefined;
  /** serialises start/delete/pause/resume */
  lock: Promise<unknown>;
  /** a start in flight: the init's exit is reported after its start */
  starting: Promise<void> | undefined;
  deleteOnExit: boolean;
  /** the runtime's delete started at the init's exit (deleteOnExit) */
  exitDelete: ExitDelete | undefined;
}

/** The runtime's delete run at the init's exit: queued on the container's lock until it runs. */
interface ExitDelete {
  state: "queued" | "cancelled" | "ran";
  /** true once the runtime deleted the container */
  done: Promise<boolean>;
}

interface Control {
  conn: net.Socket;
  inflight: number;
  ended: boolean;
}

/**
 * berth-shim: supervises a group of containers between berthd and an OCI runtime. It holds
 * their stdio, reaps them (as a child subreaper), records and persists their exits, and
 * serves berthd over a unix socket (protocol.ts); it outlives berthd.
 */
export class Shim {
  private readonly containers = new Map<string, Container>();
  /** ids being created (not yet in `containers`) */
  private readonly creating = new Set<string>();
  private readonly subscribers = new Set<net.Socket>();
  private readonly reaper = new Reaper();
  private readonly server: net.Server;
  private linger: NodeJS.Timeout | undefined;
  private closing = false;

  private constructor(private readonly o: ShimOptions) {
    this.server = net.createServer({ allowHalfOpen: true }, (c) => this.connection(c));
  }

  /** Listen on the socket (refusing when a live shim answers there) and start lingering. */
  static async start(o: ShimOptions): Promise<Shim> {
    await removeStaleSocket(o.socket);
    const shim = new Shim(o);
    await listenPrivate(shim.server, o.socket);
    shim.server.on("error", (e) => shimLog(`socket: ${e.message}`));
    shim.maybeLinger();
    return shim;
  }

  /** Exit without touching the containers (SIGTERM, shutdown): they keep running. */
  exit(code = 0): void {
    if (this.closing) return;
    this.closing = true;
    this.reaper.stop();
    this.server.close();
    try {
      unlinkSync(this.o.socket);
    } catch (e) {
      // server.close() removed it already
      if (errnoCode(e) !== "ENOENT") shimLog(`remove socket ${this.o.socket}: ${describe(e)}`);
    }
    for (const c of this.containers.values()) {
      c.init.dropClients();
      for (const x of c.execs.values()) x.dropClients();
    }
    // give queued responses a moment to reach the sockets
    setImmediate(() => process.exit(code));
  }

  private connection(conn: net.Socket): void {
    const ctl: Control = { conn, inflight: 0, ended: false };
    let buf: Buffer = Buffer.alloc(0);
    let first = true;
    conn.on("error", () => {
      // a client that disconnects mid-request: its answers are dropped
    });
    conn.on("close", () => this.subscribers.delete(conn));
    conn.on("end", () => {
      ctl.ended = true;
      if (ctl.inflight === 0) conn.end();
    });
    // an over-long line is skipped to its end and answered with an error (its seq is the line's
    // last field, kept from its tail): the connection, and berthd's subscription on it, stay
    let skipping = false;
    let tail = "";
    const onData = (input: Buffer) => {
      let chunk = input;
      if (skipping) {
        const nl = chunk.indexOf(10);
        tail = (tail + chunk.subarray(0, nl < 0 ? chunk.length : nl).toString("latin1")).slice(-64);
        if (nl < 0) return;
        skipping = false;
        this.respond(ctl, seqOf(tail), invalidArgument(`request line longer than ${MAX_LINE} bytes`));
        tail = "";
        chunk = chunk.subarray(nl + 1);
      }
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      for (let nl = buf.indexOf(10); nl >= 0; nl = buf.indexOf(10)) {
        const line = buf.subarray(0, nl).toString();
        buf = buf.subarray(nl + 1);
        if (!line.trim()) continue;
        const wasFirst = first;
        first = false;
        let req: Request | AttachRequest;
        try {
          req = parseRequest(line);
        } catch (e) {
          this.respond(ctl, seqOf(line), e);
          continue;
        }
        if (req.op === "attach") {
          if (!wasFirst) {
            this.respond(ctl, 0, failedPrecondition("attach must be the first line of a connection"));
            continue;
          }
          conn.off("data", onData);
          conn.removeAllListeners("end");
          this.attach(conn, req, buf);
          return;
        }
        void this.handle(ctl, req);
      }
      if (buf.length > MAX_LINE) {
        skipping = true;
        tail = buf.subarray(-64).toString("latin1");
        buf = Buffer.alloc(0);
      }
    };
    conn.on("data", onData);
  }

  private async handle(ctl: Control, req: Request): Promise<void> {
    ctl.inflight++;
    let result: unknown;
    let error: unknown;
    try {
      result = await this.dispatch(ctl, req);
    } catch (e) {
      error = e;
    }
    ctl.inflight--;
    this.respond(ctl, req.seq, error, result);
    if (req.op === "shutdown" && error === undefined) this.exit(0);
  }

  private respond(ctl: Control, seq: number, error: unknown, result?: unknown): void {
    const r: Response = { seq, ok: error === undefined };
    if (error !== undefined) {
      const kind = error instanceof BerthError ? error.kind : "Internal";
      if (!(error instanceof BerthError)) shimLog(`request ${seq}: ${describe(error)}`);
      r.error = { kind, message: error instanceof BerthError ? error.message : describe(error) };
    } else if (result !== undefined) r.result = result;
    if (!ctl.conn.destroyed && ctl.conn.writable) ctl.conn.write(`${JSON.stringify(r)}\n`);
    if (ctl.ended && ctl.inflight === 0 && !ctl.conn.destroyed) ctl.conn.end();
  }

  private dispatch(ctl: Control, r: Request): Promise<unknown> | unknown {
    switch (r.op) {
      case "create":
        return this.create(r);
      case "start":
        return this.locked(this.get(r.id), (c) => this.startInit(c));
      case "kill":
        return this.kill(this.get(r.id), r.signal, r.all ?? false, r.execId);
      case "delete":
        return this.locked(this.get(r.id), (c) => this.delete(c, r.force ?? false));
      case "exec":
        return this.exec(r);
      case "state":
        return this.proc(r.id, r.execId).state();
      case "list":
        return { containers: [...this.containers.values()].map(entry), pid: process.pid };
      case "wait": {
        const p = this.proc(r.id, r.execId);
        return new Promise((resolve) => p.onExit(resolve));
      }
      case "resize":
        if (!this.proc(r.id, r.execId).resize(r.rows, r.cols))
          throw failedPrecondition(`${describeProc(r.id, r.execId)} has no terminal to resize`);
        return undefined;
      case "closeStdin":
        this.proc(r.id, r.execId).closeStdin();
        return undefined;
      case "pause":
      case "resume":
        return this.locked(this.get(r.id), (c) => this.pauseResume(c, r.op));
      case "update": {
        const c = this.get(r.id);
        return this.runtime(c, ["update", "--resources", "-", c.id], JSON.stringify(r.resources)).then(() => undefined);
      }
      case "ps": {
        const c = this.get(r.id);
        return this.runtime(c, ["ps", "--format", "json", c.id]).then(parsePids);
      }
      case "subscribe":
        this.subscribers.add(ctl.conn);
        return undefined;
      case "shutdown":
        if (this.containers.size + this.creating.size > 0 && !r.force)
          throw failedPrecondition(`the shim still has ${this.containers.size + this.creating.size} container(s)`);
        return undefined;
    }
  }

  private get(id: string): Container {
    const c = this.containers.get(id);
    if (!c) throw notFound(`container ${id} does not exist in this shim`);
    return c;
  }

  private proc(id: string, execId: string | undefined): ShimProcess {
    const c = this.get(id);
    if (execId === undefined) return c.init;
    const p = c.execs.get(execId);
    if (!p) throw notFound(`exec ${execId} of container ${id} does not exist`);
    return p;
  }

  private async locked<T>(c: Container, f: (c: Container) => Promise<T>): Promise<T> {
    const run = c.lock.then(() => f(c));
    c.lock = run.catch(() => undefined);
    return run;
  }

  private runtime(c: Container, args: string[], input?: string, stdio?: RuntimeCall["stdio"]): Promise<string> {
    const call: RuntimeCall = { runtime: c.runtime, bundle: c.bundle, args };
    if (input !== undefined) call.input = input;
    if (stdio) call.stdio = stdio;
    return runRuntime(call, this.reaper);
  }

  // ---- lifecycle

  private async create(r: CreateRequest): Promise<{ pid: number }> {
    if (this.closing) throw failedPrecondition("the shim is shutting down");
    if (this.containers.has(r.id) || this.creating.has(r.id))
      throw new BerthError("AlreadyExists", `container ${r.id} already exists in this shim`);
    this.creating.add(r.id);
    this.cancelLinger();
    const init = new ShimProcess(r.id, undefined, r);
    try {
      if (r.logPath !== undefined)
        init.log = new JsonFileLog({
          path: r.logPath,
          maxSize: r.logMaxSize,
          maxFiles: r.logMaxFiles,
          onError: (e) => shimLog(`container ${r.id}: write log ${r.logPath}: ${describe(e)}`),
        });
      const c: Container = {
        id: r.id,
        bundle: r.bundle,
        runtime: r.runtime,
        init,
        execs: new Map(),
        oom: undefined,
        lock: Promise.resolve(),
        starting: undefined,
        deleteOnExit: r.deleteOnExit === true,
        exitDelete: undefined,
      };
      const pidFile = join(r.bundle, "init.pid");
      rmSync(pidFile, { force: true });
      init.pid = await this.launch(c, init, r, (extra) => [
        "create",
        "--bundle",
        r.bundle,
        "--pid-file",
        pidFile,
        ...extra,
        r.id,
      ]).then(() => readPid(pidFile));
      c.oom = watchOom(init.pid);
      this.containers.set(r.id, c);
      this.persist(c);
      this.reaper.watch(init.pid, (code) => void this.initExited(c, code));
      return { pid: init.pid };
    } catch (e) {
      init.closeIo();
      // a create that failed after the runtime made the container (no pty, no pid file) leaves
      // it behind; the runtime's "does not exist" otherwise
      await runRuntime({ runtime: r.runtime, bundle: r.bundle, args: ["delete", "--force", r.id] }, this.reaper).catch(
        () => undefined,
      );
      throw e;
    } finally {
      this.creating.delete(r.id);
      this.maybeLinger();
    }
  }

  /**
   * Run a runtime create/exec with the process's stdio: pipes the shim holds (the runtime's
   * fds 0-2, which the process inherits) or a console socket that receives the pty master.
   */
  private async launch(
    c: Container,
    p: ShimProcess,
    s: StdioOptions & { rows?: number; cols?: number },
    args: (extra: string[]) => string[],
  ): Promise<void> {
    await this.reaper.launch(async () => {
      if (s.terminal) {
        const console = await ConsoleSocket.open(this.o.stateDir);
        try {
          await this.runtime(c, args(["--console-socket", console.path]));
          const pty = new Pty(await console.receive(CONSOLE_MS));
          p.usePty(pty);
          if (s.rows && s.cols) pty.resize(s.rows, s.cols);
        } finally {
          console.close();
        }
        p.releaseHeld();
        return;
      }
      const pipes: { shimFd: number; childFd: number }[] = [];
      try {
        pipes.push(makePipe(this.o.stateDir, "out"), makePipe(this.o.stateDir, "out"));
        if (s.stdin) pipes.push(makePipe(this.o.stateDir, "in"));
      } catch (e) {
        for (const x of pipes) for (const fd of [x.shimFd, x.childFd]) closeSync(fd);
        throw internal("make the process's stdio pipes", e);
      }
      const [out, err, inp] = pipes as [(typeof pipes)[0], (typeof pipes)[0], (typeof pipes)[0] | undefined];
      p.usePipes(pipeReader(out.shimFd), pipeReader(err.shimFd), inp ? pipeWriter(inp.shimFd) : undefined);
      const call: RuntimeCall = {
        runtime: c.runtime,
        bundle: c.bundle,
        args: args([]),
        stdio: [inp?.childFd ?? devNull(), out.childFd, err.childFd],
        stderrText: () => p.heldText(),
        // the runtime has them once spawned: our copies would hold the pipes open
        closeAfterSpawn: [out.childFd, err.childFd, ...(inp ? [inp.childFd] : [])],
      };
      await runRuntime(call, this.reaper);
      p.releaseHeld();
    });
  }

  private async startInit(c: Container): Promise<void> {
    if (c.init.status !== "created" || c.init.reaped)
      throw failedPrecondition(`container ${c.id} is ${c.init.reaped ? "stopped" : c.init.status}, not created`);
    let done: () => void = () => undefined;
    c.starting = new Promise((r) => {
      done = r;
    });
    try {
      await this.runtime(c, ["start", c.id]);
      if (!c.init.reaped) c.init.status = "running";
      c.init.startedAt = rfc3339Nano();
      this.persist(c);
      this.emit({ type: "start", id: c.id, pid: c.init.pid });
    } finally {
      c.starting = undefined;
      done();
    }
  }

  private async initExited(c: Container, exitCode: number): Promise<void> {
    const p = c.init;
    await p.exited(exitCode, c.starting);
    if (c.oom && oomKilledSince(c.oom)) {
      p.oomKilled = true;
      this.emit({ type: "oom", id: c.id });
    }
    // (after the OOM check, which reads the cgroup the delete removes)
    if (c.deleteOnExit && this.containers.get(c.id) === c) c.exitDelete = this.deleteAtExit(c);
    if (this.containers.get(c.id) === c) this.persist(c);
    const ev: ShimEvent = {
      type: "exit",
      id: c.id,
      pid: p.pid,
      exitCode,
      exitedAt: p.exitedAt ?? rfc3339Nano(),
    };
    if (p.oomKilled) ev.oomKilled = true;
    this.emit(ev);
    p.notifyExit();
  }

  private kill(c: Container, signal: number, all: boolean, execId: string | undefined): Promise<void> | undefined {
    if (execId !== undefined) {
      const p = this.proc(c.id, execId);
      if (p.reaped) throw failedPrecondition(`exec ${execId} of container ${c.id} is not running`);
      try {
        process.kill(p.pid, signal);
      } catch (e) {
        if (errnoCode(e) === "ESRCH") throw failedPrecondition(`exec ${execId} of container ${c.id} is not running`);
        throw internal(`signal exec ${execId} of container ${c.id}`, e);
      }
      return undefined;
    }
    if (c.init.reaped && !all) throw failedPrecondition(`container ${c.id} is not running`);
    return this.runtime(c, ["kill", ...(all ? ["--all"] : []), c.id, String(signal)]).then(() => undefined);
  }

  /**
   * The runtime's delete of an exited container, started at once (under the container's lock,
   * after a start in flight); a failure is logged and left to the delete request, which retries.
   */
  private deleteAtExit(c: Container): ExitDelete {
    const x: ExitDelete = { state: "queued", done: Promise.resolve(false) };
    x.done = this.locked(c, async () => {
      // a delete request that got the lock first did it
      if (x.state === "cancelled" || this.containers.get(c.id) !== c) return false;
      x.state = "ran";
      await this.runtime(c, ["delete", c.id]);
      return true;
    }).catch((e) => {
      if (!isKind(e, "NotFound")) shimLog(`container ${c.id}: delete at exit: ${describe(e)}`);
      return false;
    });
    return x;
  }

  private async delete(c: Container, force: boolean): Promise<ProcessState> {
    const init = c.init;
    if (!init.reaped && init.status !== "created" && !force)
      throw failedPrecondition(`container ${c.id} is ${init.status}: stop it first, or delete with force`);
    // the init's exit may have queued the runtime's delete on this lock: when it ran before this
    // request it is done, otherwise this request does the delete and the queued one nothing
    const x = c.exitDelete;
    let deleted = false;
    if (x?.state === "queued") x.state = "cancelled";
    else if (x?.state === "ran") deleted = await x.done;
    if (!deleted) {
      try {
        await this.runtime(c, ["delete", ...(force ? ["--force"] : []), c.id]);
      } catch (e) {
        // already gone from the runtime (its state root was cleaned): forget it here too
        if (!isKind(e, "NotFound")) throw e;
      }
    }
    // the runtime killed the init (created, or forced): collect its exit before forgetting it
    if (!init.finished && init.pid > 0) {
      const exited = new Promise<void>((resolve) => init.onExit(() => resolve()));
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, DELETE_REAP_MS)))]);
      clearTimeout(timer);
      if (!init.finished) shimLog(`container ${c.id}: deleted, but its init ${init.pid} has not exited`);
    }
    this.containers.delete(c.id);
    this.reaper.forget(init.pid);
    for (const x of c.execs.values()) {
      this.reaper.forget(x.pid);
      x.closeIo();
      x.dropClients();
    }
    init.closeIo();
    init.dropClients();
    rmSync(this.stateFile(c.id), { force: true });
    this.maybeLinger();
    return init.state();
  }

  private async pauseResume(c: Container, op: "pause" | "resume"): Promise<void> {
    const want = op === "pause" ? "running" : "paused";
    if (c.init.reaped || c.init.status !== want) throw failedPrecondition(`container ${c.id} is ${c.init.status}, not ${want}`);
    await this.runtime(c, [op, c.id]);
    if (!c.init.reaped) c.init.status = op === "pause" ? "paused" : "running";
    this.persist(c);
  }

  private async exec(r: ExecRequest): Promise<{ pid: number }> {
    const c = this.get(r.id);
    if (c.init.reaped || c.init.status !== "running")
      throw failedPrecondition(`container ${c.id} is ${c.init.reaped ? "stopped" : c.init.status}: cannot exec in it`);
    if (c.execs.has(r.execId)) throw new BerthError("AlreadyExists", `exec ${r.execId} of container ${c.id} already exists`);
    const p = new ShimProcess(c.id, r.execId, r);
    c.execs.set(r.execId, p);
    const base = join(this.o.stateDir, `${c.id}.${r.execId}`);
    const processFile = `${base}.process.json`;
    const pidFile = `${base}.pid`;
    try {
      writeFileSync(processFile, JSON.stringify({ ...r.process, terminal: r.terminal }), { mode: 0o600 });
      rmSync(pidFile, { force: true });
      await this.launch(c, p, r, (extra) => [
        "exec",
        "--process",
        processFile,
        "--detach",
        "--pid-file",
        pidFile,
        ...extra,
        c.id,
      ]);
      p.pid = readPid(pidFile);
    } catch (e) {
      c.execs.delete(r.execId);
      p.closeIo();
      throw e;
    } finally {
      rmSync(processFile, { force: true });
      rmSync(pidFile, { force: true });
    }
    p.status = "running";
    p.startedAt = rfc3339Nano();
    this.reaper.watch(p.pid, (code) => void this.execExited(c, p, code));
    return { pid: p.pid };
  }

  private async execExited(c: Container, p: ShimProcess, exitCode: number): Promise<void> {
    await p.exited(exitCode, undefined);
    const ev: ShimEvent = {
      type: "exit",
      id: c.id,
      execId: p.execId ?? "",
      pid: p.pid,
      exitCode,
      exitedAt: p.exitedAt ?? rfc3339Nano(),
    };
    this.emit(ev);
    p.notifyExit();
    // keep the most recent exited execs only
    const exited = [...c.execs.values()].filter((x) => x.finished);
    for (const x of exited.slice(0, Math.max(0, exited.length - EXITED_EXECS_KEPT))) c.execs.delete(x.execId ?? "");
  }

  // ---- attach, events, state files

  private attach(conn: net.Socket, r: AttachRequest, rest: Buffer): void {
    let p: ShimProcess;
    try {
      p = this.proc(r.id, r.execId);
    } catch (e) {
      const err = e instanceof BerthError ? { kind: e.kind, message: e.message } : { kind: "Internal", message: describe(e) };
      conn.on("error", () => undefined);
      conn.end(encodeFrame(STREAM_EXIT, Buffer.from(JSON.stringify({ error: err }))));
      return;
    }
    let replay: ReturnType<JsonFileLog["snapshot"]> | undefined;
    if (r.logs && r.execId === undefined && p.log) {
      try {
        replay = p.log.snapshot();
      } catch (e) {
        shimLog(`container ${r.id}: open the log for an attach: ${describe(e)}`);
      }
    }
    p.attach(conn, r, rest, replay);
  }

  private emit(ev: ShimEvent): void {
    const line = `${JSON.stringify(ev)}\n`;
    for (const s of this.subscribers) if (!s.destroyed && s.writable) s.write(line);
  }

  private stateFile(id: string): string {
    return join(this.o.stateDir, `${id}.json`);
  }

  /** `<state-dir>/<id>.json`, atomically: berthd reads exits from it when the shim is gone. */
  private persist(c: Container): void {
    const file = this.stateFile(c.id);
    const tmp = `${file}.tmp`;
    try {
      writeFileSync(tmp, `${JSON.stringify({ ...entry(c), shimPid: process.pid })}\n`, { mode: 0o600 });
      renameSync(tmp, file);
    } catch (e) {
      shimLog(`container ${c.id}: write state file ${file}: ${describe(e)}`);
    }
  }

  private maybeLinger(): void {
    if (this.closing || this.linger || this.containers.size + this.creating.size > 0) return;
    this.linger = setTimeout(() => {
      this.linger = undefined;
      if (this.containers.size + this.creating.size === 0) this.exit(0);
    }, this.o.lingerMs);
  }

  private cancelLinger(): void {
    if (this.linger) clearTimeout(this.linger);
    this.linger = undefined;
  }
}

function entry(c: Container): ContainerEntry {
  return { ...c.init.state(), bundle: c.bundle, runtime: c.runtime, execs: [...c.execs.values()].map((x) => x.state()) };
}

function describeProc(id: string, execId: string | undefined): string {
  return execId === undefined ? `container ${id}` : `exec ${execId} of container ${id}`;
}

function readPid(file: string): number {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw internal(`read the pid file "${file}" the runtime should have written`, e);
  }
  const pid = Number(text.trim());
  if (!Number.isSafeInteger(pid) || pid <= 0) throw internal(`pid file "${file}" holds ${JSON.stringify(text)}, not a pid`);
  return pid;
}

function parsePids(stdout: string): { pids: number[] } {
  let v: unknown;
  try {
    v = JSON.parse(stdout || "[]");
  } catch (e) {
    throw internal(`the runtime's ps printed ${JSON.stringify(stdout.slice(0, 200))}, not JSON`, e);
  }
  if (!Array.isArray(v) || !v.every((x) => typeof x === "number")) throw internal("the runtime's ps printed no array of pids");
  return { pids: v };
}

/** A stale socket file is removed; one a live shim answers on makes this start fail. */
async function removeStaleSocket(path: string): Promise<void> {
  const live = await new Promise<boolean>((resolve) => {
    const s = net.connect(path);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
  if (live) throw failedPrecondition(`another shim is serving on ${path}`);
  try {
    unlinkSync(path);
  } catch (e) {
    if (errnoCode(e) !== "ENOENT") throw internal(`remove the stale socket ${path}`, e);
  }
}
