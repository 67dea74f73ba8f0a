import { closeSync, existsSync, unlinkSync } from "node:fs";
import type { FlagSpec } from "../args.js";
import { int, parseFlags, str } from "../args.js";
import { resetHostCgroups } from "../../cgroups/index.js";
import { invalidArgument } from "../../errors/index.js";
import { native, setSpawner } from "../../native/index.js";
import { NeedsLocalProcess } from "../../runtime/index.js";
import { writeAll } from "../write-all.js";
import type { Io } from "./main.js";
import { main } from "./main.js";

/**
 * Warm mode. Node's start-up (~45 ms) is most of a runtime CLI's latency, and
 * every runc-compatible caller starts the CLI once per step. `berth-runtime
 * warm` keeps one Node process ready; bin/berth-runtime (a small C client)
 * hands it the command line, cwd, umask and stdio, and does the forking itself
 * so the container stays a descendant of the caller (containerd-shim and conmon
 * reap it as their child). Anything the server cannot do for a remote caller
 * (an attached terminal) goes back to the client, which runs the CLI cold; so
 * does a request that finds the server busy. See src/native/launcher.c.
 *
 * Frames on the SOCK_SEQPACKET socket: u32 type (little-endian) + payload.
 */
export const WARM_SOCKET = "/run/berth-runtime.warm.sock";

const F = { Ack: 1, Spawn: 2, Wait: 3, Exit: 4, Cold: 5, Spawned: 6, Waited: 7 } as const;

const FLAGS: FlagSpec[] = [
  { name: "socket", type: "string" },
  { name: "idle-timeout", type: "int" },
];

interface Request {
  argv: string[];
  cwd: string;
  umask: number;
  nofile?: string;
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

export async function serveWarm(argv: string[], io: Io): Promise<number> {
  const { flags, rest } = parseFlags(argv, FLAGS, "warm");
  if (rest.length) throw invalidArgument(`warm: unexpected arguments ${JSON.stringify(rest)}`);
  const path = str(flags, "socket") ?? process.env["BERTH_RUNTIME_WARM_SOCKET"] ?? WARM_SOCKET;
  const idle = (int(flags, "idle-timeout") ?? 0) * 1000;
  const n = native();
  const lfd = n.listen(path);
  const stop = () => {
    if (existsSync(path)) unlinkSync(path);
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  io.err(`berth-runtime: warm on ${path}\n`);
  for (;;) {
    // accept in slices so signals get their turn on the event loop
    let c = -1;
    for (let waited = 0; c < 0; waited += 200) {
      if (idle > 0 && waited >= idle) stop();
      c = n.accept(lfd, 200);
      if (c < 0) await new Promise((r) => setImmediate(r));
    }
    try {
      await serveOne(c);
    } catch (err) {
      io.err(`berth-runtime warm: ${(err as Error).message}\n`);
    } finally {
      closeSync(c);
    }
  }
}

/** Serve the one request of a launcher that started this process as its private server. */
export async function serveOnce(c: number): Promise<void> {
  try {
    await serveOne(c);
  } finally {
    closeSync(c);
  }
}

async function serveOne(c: number): Promise<void> {
  const n = native();
  const first = n.recvPacket(c, 1000);
  if (!first) return;
  const fds = first.fds;
  try {
    // only the server's own user may borrow its powers
    if (n.peerUid(c) !== process.getuid?.() || fds.length !== 3) {
      n.sendPacket(c, frame(F.Cold), []);
      return;
    }
    n.sendPacket(c, frame(F.Ack), []);
    const req = JSON.parse(first.data.toString()) as Request;
    const [, out, err] = fds as [number, number, number];
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
        n.sendPacket(c, frame(F.Cold), []);
        return;
      }
      throw e;
    }
    n.sendPacket(c, frame(F.Exit, String(code)), []);
  } finally {
    setSpawner(undefined);
    for (const fd of fds) closeSync(fd);
    process.chdir("/");
  }
}
