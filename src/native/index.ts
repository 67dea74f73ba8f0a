/**
 * The native executor (C, N-API) and its typed binding: it forks the child
 * that runs a plan, and offers the few syscalls Node lacks. Policy lives in
 * TypeScript; see DESIGN.md "Policy in TypeScript, mechanism in a small C executor".
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export { encodePlan } from "./encode-plan.js";
export { describeStep, SyncTag } from "./plan.js";
export type { Plan, Step } from "./plan.js";

export const Msg = { Pid: 1, Sync: 2, Go: 3, Ready: 4, Error: 5, Pty: 6, Abort: 7, Seccomp: 8 } as const;

export interface ChildMessage {
  type: number;
  step: number;
  err: number;
  pid: number;
  text: string;
  /** an fd passed with SCM_RIGHTS, or -1 */
  fd: number;
}

export interface Binding {
  /** fork the stage-1 child running the encoded plan: [pid, parent end of the sync socket] */
  spawn(plan: Buffer): [number, number];
  waitpid(pid: number, nohang: boolean): { pid: number; code: number; signal: number } | null;
  mkfifo(path: string, mode: number): void;
  /** connect to a unix stream socket, send `payload` with `fd` attached (SCM_RIGHTS); errors name `what` */
  sendFd(socketPath: string, fd: number, payload: string, what: string): void;
  setSubreaper(): void;
  setWinsize(fd: number, rows: number, cols: number): void;
  setRaw(fd: number, raw: boolean): void;
  setBlocking(fd: number, blocking: boolean): void;
  /** umount2(2); flags: MNT_DETACH = 2 */
  umount(path: string, flags: number): void;
  /** a SOCK_SEQPACKET unix socket listening at path (mode 0600) */
  listen(path: string): number;
  /** the next connection, or -1 after timeoutMs */
  accept(fd: number, timeoutMs: number): number;
  peerUid(fd: number): number;
  /** SO_PEERCRED: [pid, uid, gid] of the connected process */
  peerCred(fd: number): [number, number, number];
  sendPacket(fd: number, data: Buffer, fds: number[]): void;
  recvPacket(fd: number, timeoutMs: number): { data: Buffer; fds: number[] } | null;
  /** mknod(2); mode includes the type bits (S_IFCHR, S_IFBLK, S_IFIFO) */
  mknod(path: string, mode: number, major: number, minor: number): void;
  lsetxattr(path: string, name: string, value: Buffer): void;
  /** null when the attribute is absent */
  lgetxattr(path: string, name: string): Buffer | null;
  llistxattr(path: string): string[];
  /** mount(2); fstype and data may be "" */
  mount(source: string, target: string, fstype: string, flags: number, data: string): void;
  /** flock(2): LOCK_SH 1, LOCK_EX 2, LOCK_NB 4, LOCK_UN 8; false when LOCK_NB finds the lock held */
  flock(fd: number, op: number): boolean;
  /** BPF_PROG_LOAD of a BPF_PROG_TYPE_CGROUP_DEVICE program (raw struct bpf_insn bytes): its fd; a refusal's error carries the verifier log */
  bpfProgLoad(insns: Buffer, license: string): number;
  /** BPF_PROG_ATTACH to a cgroup directory fd as BPF_CGROUP_DEVICE; flags: BPF_F_ALLOW_MULTI = 2 */
  bpfProgAttach(cgroupFd: number, progFd: number, flags: number): void;
  /** BPF_PROG_DETACH of that BPF_CGROUP_DEVICE program from the cgroup */
  bpfProgDetach(cgroupFd: number, progFd: number): void;
  /** BPF_PROG_QUERY: ids of the BPF_CGROUP_DEVICE programs attached to the cgroup itself */
  bpfProgQuery(cgroupFd: number): number[];
  /** BPF_PROG_GET_FD_BY_ID */
  bpfProgGetFdById(id: number): number;
  /** a new network namespace with lo up, bind-mounted on the existing file `path` (as `ip netns add`) */
  netnsCreate(path: string): void;
}

let binding: Binding | undefined;

/** Who forks the stage-1 child of a plan: this process, or (warm mode) the client that asked. */
export interface Spawner {
  /** returns stage 1's pid, the parent end of the sync socket, and whether stage 1 was reaped already */
  spawn(plan: Buffer): { pid: number; fd: number; reaped: boolean };
}

let spawner: Spawner | undefined;

/** Install a spawner for the current request (undefined: fork here). */
export function setSpawner(s: Spawner | undefined): void {
  spawner = s;
}

export function spawnPlan(plan: Buffer): { pid: number; fd: number; reaped: boolean } {
  if (spawner) return spawner.spawn(plan);
  const [pid, fd] = native().spawn(plan);
  return { pid, fd, reaped: false };
}

/** Where the package lives: found by walking up from this module (bundled or not). */
export function packageRoot(): string {
  const here = typeof __dirname === "string" ? __dirname : dirname(fileURLToPath(import.meta.url));
  for (let d = here; ; d = dirname(d)) {
    if (existsSync(join(d, "binding.gyp"))) return d;
    if (dirname(d) === d) throw new Error(`cannot find the berth package above ${here}`);
  }
}

/** The next message of the child on the sync socket (struct berth_msg); null when it closed its end. */
export function recvMessage(fd: number, timeoutMs: number): ChildMessage | null {
  const p = native().recvPacket(fd, timeoutMs);
  if (!p) return null;
  const d = p.data;
  const text = d.subarray(16, 256);
  const nul = text.indexOf(0);
  return {
    type: d.readUInt32LE(0),
    step: d.readInt32LE(4),
    err: d.readInt32LE(8),
    pid: d.readInt32LE(12),
    text: text.subarray(0, nul < 0 ? text.length : nul).toString(),
    fd: p.fds[0] ?? -1,
  };
}

/** A message to the child: u32 type, then the payload (the GO message carries the state JSON). */
export function sendMessage(fd: number, type: number, payload?: Buffer): void {
  const b = Buffer.alloc(4 + (payload?.length ?? 0));
  b.writeUInt32LE(type, 0);
  payload?.copy(b, 4);
  native().sendPacket(fd, b, []);
}

export function native(): Binding {
  if (!binding) {
    const require = createRequire(join(packageRoot(), "package.json"));
    binding = require("./build/Release/berth_native.node") as Binding;
  }
  return binding;
}

/** Whether a process exists (kill(pid, 0)); EPERM means it does, as another user's. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return typeof e === "object" && e !== null && "code" in e && e.code === "EPERM";
  }
}
