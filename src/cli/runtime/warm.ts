import type { BigIntStats } from "node:fs";
import {
  closeSync,
  constants,
  existsSync,
  fstatSync,
  ftruncateSync,
  openSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  realpathSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import type { FlagSpec } from "../args.js";
import { int, parseFlags, str } from "../args.js";
import { resetHostCgroups } from "../../cgroups/index.js";
import { failedPrecondition, invalidArgument } from "../../errors/index.js";
import { native, packageRoot, setSpawner } from "../../native/index.js";
import { NeedsLocalProcess } from "../../runtime/index.js";
import { writeAll } from "../write-all.js";
import type { Io } from "./main.js";
import { main } from "./main.js";

/**
 * Warm mode. Node's start-up (~45 ms) is most of a runtime CLI's latency, and
 * every runc-compatible caller starts the CLI once per step. `berth-runtime
 * warm` keeps one Node process ready; bin/berth-runtime (a small C client)
 * hands it the command line, cwd, umask, environment and stdio, and does the
 * forking itself so the container stays a descendant of the caller
 * (containerd-shim and conmon reap it as their child). Anything the server
 * cannot do for a remote caller (an attached terminal) goes back to the
 * client, which runs the CLI cold; so does a request that finds the server
 * busy. See src/native/launcher.c, which also starts a server on the default
 * socket when none answers (`--serve-fd`: its own request comes first, over a
 * socket pair).
 *
 * Who is served: the server does for a caller what the caller could do by
 * running the runtime itself, and nothing more. So the caller must
 * - have the server's uid (SO_PEERCRED), and hold the server's proof: an fd of
 *   an unlinked file only the server has, which a caller can reopen through
 *   /proc/<pid>/fd only if the kernel lets it ptrace-read the server (same uids
 *   and gids, a superset of its capabilities, LSM ptrace rules);
 * - run in the server's context: the same namespaces (mount, user, pid, net,
 *   cgroup, ipc, uts, time), the same cgroup, seccomp mode and no_new_privs,
 *   read from the /proc/self directory the caller sends (the kernel ties an
 *   open /proc/<pid> directory to its task);
 * - be the same build: the same launcher binary, and the server's own files
 *   (launcher, bundle, addon) unchanged since it started. A server that finds
 *   its files changed declines and exits, so a stale server never serves.
 * The caller's environment is carried in the request and applied for the
 * request (hooks, `ps` and other helpers inherit it, XDG_RUNTIME_DIR picks the
 * state root), rather than compared: callers such as conmon or a shell differ
 * in variables the runtime never reads, and comparing would decline them all.
 *
 * Frames on the SOCK_SEQPACKET socket: u32 type (little-endian) + payload.
 */
export const WARM_SOCKET = "/run/berth-runtime.warm.sock";

const F = { Ack: 1, Spawn: 2, Wait: 3, Exit: 4, Cold: 5, Spawned: 6, Waited: 7, Stdio: 8 } as const;

const FLAGS: FlagSpec[] = [
  { name: "socket", type: "string" },
  { name: "idle-timeout", type: "int" },
  { name: "serve-fd", type: "int" },
];

interface Request {
  argv: string[];
  cwd: string;
  umask: number;
  nofile?: string;
  /** the client's binary (realpath) */
  exe?: string;
  /** the client's environment, "NAME=value" */
  env?: string[];
}

/** What a caller must share with this server; see the module comment. */
interface ServerContext {
  uid: number;
  /** the launcher of this build, as the client names itself */
  launcher: string;
  files: string[];
  fingerprint: string;
  /** namespace name -> "mnt:[4026531840]" */
  ns: Map<string, string>;
  status: string;
  proof: BigIntStats;
  /** the environment the server started with, restored after each request */
  env: string[];
}

function frame(type: number, payload = ""): Buffer {
  const b = Buffer.alloc(4 + Buffer.byteLength(payload));
  b.writeUInt32LE(type, 0);
  b.write(payload, 4);
  return b;
}

function frameBuf(type: number, payload: Buffer): Buffer {
  const b = Buffer.alloc(4 + payload.length);
  b.writeUInt32LE(type, 0);
  payload.copy(b, 4);
  return b;
}

/** The identity of this build's files: a rebuild or `npm ci` changes it. */
function fingerprint(files: string[]): string {
  return files
    .map((f) => {
      try {
        const s = statSync(f, { bigint: true });
        return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}`;
      } catch {
        // a missing file is part of the identity too (a half-finished build)
        return "-";
      }
    })
    .join(" ");
}

/**
 * The lines of /proc/<pid>/status that decide what a process may do beyond its uid: its
 * groups, capability sets, seccomp mode and filter count, no_new_privs.
 */
function confinement(status: string): string {
  return status
    .split("\n")
    .filter((l) => /^(Groups|CapInh|CapPrm|CapEff|CapBnd|CapAmb|Seccomp|Seccomp_filters|NoNewPrivs):/.test(l))
    .join("\n");
}

function environment(): string[] {
  return Object.entries(process.env).map(([k, v]) => `${k}=${v ?? ""}`);
}

/** Make process.env (and so the C environment helpers inherit) exactly `env`. */
function applyEnv(env: string[]): void {
  const want = new Map<string, string>();
  for (const e of env) {
    const i = e.indexOf("=");
    if (i > 0) want.set(e.slice(0, i), e.slice(i + 1));
  }
  for (const k of Object.keys(process.env)) if (!want.has(k)) delete process.env[k];
  for (const [k, v] of want) if (process.env[k] !== v) process.env[k] = v;
}

/**
 * The socket's lock ("<socket>.lock", held for the server's life): one server
 * per socket, so two launchers racing to start one end with one, and a socket
 * left by a killed server is replaced by the next that takes the lock. The
 * lock file names the server's pid and the fd of its proof. undefined when
 * another server holds it.
 */
function acquire(path: string, uid: number): { lock: number; proof: number } | undefined {
  const n = native();
  const lockPath = `${path}.lock`;
  const lock = openSync(lockPath, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  try {
    const st = fstatSync(lock);
    if (st.uid !== uid || (st.mode & 0o077) !== 0)
      throw failedPrecondition(
        `warm: lock "${lockPath}" belongs to uid ${st.uid} with mode ${(st.mode & 0o777).toString(8)}; remove it`,
      );
    if (!n.flock(lock, 2 | 4)) {
      closeSync(lock);
      return undefined;
    }
  } catch (e) {
    closeSync(lock);
    throw e;
  }
  const proofPath = join(dirname(path), `.${basename(path)}.proof.${process.pid}`);
  const proof = openSync(proofPath, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  unlinkSync(proofPath);
  ftruncateSync(lock, 0);
  writeSync(lock, `${process.pid} ${proof}\n`, 0);
  return { lock, proof };
}

/** Who holds the lock, for the error message of a second explicit server. */
function holder(path: string): string {
  try {
    return `pid ${readFileSync(`${path}.lock`, "utf8").split(" ")[0]}`;
  } catch {
    return "another server";
  }
}

function ownContext(proof: number): ServerContext {
  const root = packageRoot();
  const launcher = join(root, "build/Release/berth-runtime");
  const files = [
    launcher,
    join(root, "build/Release/berth_native.node"),
    join(root, "dist/berth-runtime.cjs"),
    join(root, "dist/berth-runtime-main.cjs"),
  ];
  const ns = new Map<string, string>();
  for (const name of readdirSync("/proc/self/ns")) ns.set(name, readlinkSync(`/proc/self/ns/${name}`));
  let real = launcher;
  try {
    real = realpathSync(launcher);
  } catch {
    // no launcher built: no client can name it, every socket caller is declined
  }
  return {
    uid: process.getuid?.() ?? 0,
    launcher: real,
    files,
    fingerprint: fingerprint(files),
    ns,
    status: confinement(readFileSync("/proc/self/status", "utf8")),
    proof: fstatSync(proof, { bigint: true }),
    env: environment(),
  };
}

/** Why a caller on the socket is not served (it then runs cold), or undefined. */
function declineReason(c: number, fds: number[], req: Request, ctx: ServerContext): string | undefined {
  const n = native();
  if (fds.length !== 2) return `the request carries ${fds.length} fds, not /proc/self and the proof`;
  const [, proof] = fds as [number, number];
  // the process that connected, as the kernel says (never what it sent): it waits for our
  // answer, so its pid is its own while we look
  const [pid, uid] = n.peerCred(c);
  if (uid !== ctx.uid) return `uid ${uid} is not the server's ${ctx.uid}`;
  const p = fstatSync(proof, { bigint: true });
  if (p.dev !== ctx.proof.dev || p.ino !== ctx.proof.ino) return "the caller holds no proof it may ptrace the server";
  if (req.exe !== ctx.launcher) return `the caller is another build (${req.exe ?? "unknown"}, this is ${ctx.launcher})`;
  const peer = `/proc/${pid}`;
  try {
    if (readlinkSync(`${peer}/root`) !== readlinkSync("/proc/self/root")) return "the caller has another root directory";
    for (const [name, link] of ctx.ns)
      if (readlinkSync(`${peer}/ns/${name}`) !== link) return `the caller is in another ${name} namespace`;
    if (readFileSync(`${peer}/cgroup`, "utf8") !== readFileSync("/proc/self/cgroup", "utf8"))
      return "the caller is in another cgroup";
    if (confinement(readFileSync(`${peer}/status`, "utf8")) !== ctx.status)
      return "the caller has other groups, capabilities, seccomp filters or no_new_privs";
  } catch (e) {
    // the caller exited meanwhile
    return `cannot read the caller's /proc entry: ${(e as Error).message}`;
  }
  return undefined;
}

export async function serveWarm(argv: string[], io: Io): Promise<number> {
  const { flags, rest } = parseFlags(argv, FLAGS, "warm");
  if (rest.length) throw invalidArgument(`warm: unexpected arguments ${JSON.stringify(rest)}`);
  const path = str(flags, "socket") ?? process.env["BERTH_RUNTIME_WARM_SOCKET"] ?? WARM_SOCKET;
  const idle = (int(flags, "idle-timeout") ?? 0) * 1000;
  // started by a launcher that found no server: its request waits on this fd
  const first = int(flags, "serve-fd");
  const uid = process.getuid?.() ?? 0;
  let held = acquire(path, uid);
  let next = first;
  if (!held) {
    if (first === undefined) throw failedPrecondition(`warm: ${holder(path)} already serves "${path}"`);
    // lost the race to another server: serve our launcher, then leave quietly, unless the
    // holder was a server killed a moment ago whose lock is released by now
    await serveOnce(first);
    next = undefined;
    held = acquire(path, uid);
    if (!held) return 0;
  }
  const ctx = ownContext(held.proof);
  const n = native();
  const lfd = n.listen(path);
  const stop = () => {
    // we hold the lock, so the socket at `path` is ours
    if (existsSync(path)) unlinkSync(path);
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  io.err(`berth-runtime: warm on ${path}\n`);
  // the idle clock runs from the last request served: callers it declines do not keep it alive
  let lastServed = Date.now();
  let lastCheck = Date.now();
  for (;;) {
    let c = next ?? -1;
    const trusted = next !== undefined;
    next = undefined;
    // accept in slices so signals get their turn on the event loop
    while (c < 0) {
      if (idle > 0 && Date.now() - lastServed >= idle) stop();
      // a rebuilt berth must not leave its old server waiting for the idle timeout
      if (Date.now() - lastCheck >= 5000) {
        lastCheck = Date.now();
        if (fingerprint(ctx.files) !== ctx.fingerprint) stop();
      }
      c = n.accept(lfd, 200);
      if (c < 0) await new Promise((r) => setImmediate(r));
    }
    let stale = false;
    try {
      const outcome = await serveOne(c, trusted ? undefined : ctx, io);
      if (outcome === "served") lastServed = Date.now();
      stale = outcome === "stale";
    } catch (err) {
      io.err(`berth-runtime warm: ${(err as Error).message}\n`);
    } finally {
      closeSync(c);
    }
    if (stale) {
      io.err("berth-runtime warm: this build changed on disk since the server started; exiting\n");
      stop();
    }
  }
}

/** Serve the one request of a launcher that started this process as its private server. */
export async function serveOnce(c: number): Promise<void> {
  try {
    await serveOne(c, undefined, { out: () => {}, err: (s) => writeAll(2, s) });
  } finally {
    closeSync(c);
  }
}

/**
 * One request. `ctx` undefined: a trusted channel (a socket pair from the
 * launcher that started this process, whose context and environment it has).
 */
async function serveOne(c: number, ctx: ServerContext | undefined, log: Io): Promise<"served" | "declined" | "stale"> {
  const n = native();
  const first = n.recvPacket(c, 1000);
  if (!first) return "declined";
  const fds = first.fds;
  let applied = false;
  // the server's umask, to restore after the request (read by setting, as Node wants)
  const umask = process.umask(0o022);
  process.umask(umask);
  try {
    const req = JSON.parse(first.data.toString()) as Request;
    if (ctx) {
      if (fingerprint(ctx.files) !== ctx.fingerprint) {
        n.sendPacket(c, frame(F.Cold), []);
        return "stale";
      }
      const why = declineReason(c, fds, req, ctx);
      if (why) {
        log.err(`berth-runtime warm: declined a caller (it runs cold): ${why}\n`);
        n.sendPacket(c, frame(F.Cold), []);
        return "declined";
      }
      applyEnv(req.env ?? []);
      applied = true;
    }
    n.sendPacket(c, frame(F.Ack), []);
    // the caller's stdio comes only now (a request we never took must not hold its pipes)
    const stdio = n.recvPacket(c, 10_000);
    if (stdio) fds.push(...stdio.fds);
    if (!stdio || stdio.data.readUInt32LE(0) !== F.Stdio || stdio.fds.length !== 3)
      throw new Error("warm client sent no stdio after the ack");
    const [, out, err] = stdio.fds as [number, number, number];
    const io: Io = { out: (s) => writeAll(out, s), err: (s) => writeAll(err, s) };
    process.chdir(req.cwd);
    process.umask(req.umask);
    if (req.nofile) process.env["BERTH_CALLER_NOFILE"] = req.nofile;
    else delete process.env["BERTH_CALLER_NOFILE"];
    resetHostCgroups();
    setSpawner({
      spawn(plan) {
        n.sendPacket(c, frameBuf(F.Spawn, plan), []);
        const r = n.recvPacket(c, 60_000);
        if (!r || r.data.readUInt32LE(0) !== F.Spawned) throw new Error("warm client went away while spawning");
        const pid = Number(r.data.subarray(4).toString());
        const fd = r.fds[0];
        if (pid <= 0 || fd === undefined) throw new Error(`warm client could not fork: errno ${-pid}`);
        return { pid, fd, reaped: true };
      },
    });
    let code: number;
    try {
      code = await main(req.argv, io, {
        waitProcess: async (pid) => {
          n.sendPacket(c, frame(F.Wait, String(pid)), []);
          const r = n.recvPacket(c, -1);
          if (!r || r.data.readUInt32LE(0) !== F.Waited) throw new Error("warm client went away while waiting");
          return Number(r.data.subarray(4).toString());
        },
      });
    } catch (e) {
      if (e instanceof NeedsLocalProcess) {
        // the client runs the CLI in its own place
        n.sendPacket(c, frame(F.Cold, "local"), []);
        return "declined";
      }
      throw e;
    }
    n.sendPacket(c, frame(F.Exit, String(code)), []);
    return "served";
  } finally {
    // the server's own state back first: nothing below may leave one caller's for the next
    setSpawner(undefined);
    if (ctx && applied) applyEnv(ctx.env);
    process.chdir("/");
    process.umask(umask);
    for (const fd of fds) {
      try {
        closeSync(fd);
      } catch {
        // already closed: nothing to release
      }
    }
  }
}
