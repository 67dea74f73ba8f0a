/**
 * A plan: the flat list of primitive steps the executor performs in the
 * container's child process. Plain data — built and unit-tested in TypeScript,
 * printed by `--debug`, encoded for C by encode-plan.ts.
 */

export type Step =
  | { op: "open-slot"; slot: number; path: string; flags: number }
  | { op: "close-slot"; slot: number }
  | { op: "setns"; slot: number; nstype: number; path: string }
  | { op: "unshare"; flags: number }
  /** with `cgroupSlot`: clone3 into the cgroup2 directory open in that slot */
  | { op: "clone"; flags: number; cgroupSlot?: number }
  | { op: "sync"; tag: SyncTag }
  | {
      op: "mount";
      source: string | null;
      target: string;
      fstype: string | null;
      flags: number;
      data: string | null;
      root: number | null;
      create?: "dir" | "file";
      remount?: boolean;
      propagation?: number;
    }
  | { op: "unmount"; target: string; flags: number; ignoreMissing: boolean }
  | { op: "mkdir-all"; path: string; mode: number; root: number | null }
  | { op: "mknod"; path: string; mode: number; dev: number; root: number | null; owner: string | null }
  | { op: "symlink"; path: string; target: string; root: number | null }
  | { op: "pivot-root"; rootfs: string; noPivot: boolean; chroot?: boolean }
  | { op: "chdir"; path: string; verify?: boolean }
  | { op: "sethostname"; name: string }
  | { op: "setdomainname"; name: string }
  | { op: "write-file"; path: string; data: string; ignoreMissing: boolean }
  /** write `data` to the file open in `slot` (opened earlier, elsewhere), then close it; `path` names it in errors */
  | { op: "write-slot"; slot: number; data: string; path: string }
  | { op: "setrlimit"; resource: number; soft: bigint; hard: bigint; name: string }
  | { op: "prctl"; option: number; arg2: number; arg3: number; name: string }
  | { op: "dumpable"; value: number }
  | { op: "caps-bounding"; bounding: bigint; lastCap: number }
  | { op: "caps"; effective: bigint; permitted: bigint; inheritable: bigint; ambient: bigint }
  | { op: "setgroups"; gids: number[] }
  | { op: "setid"; uid: number; gid: number }
  | { op: "umask"; mask: number }
  | { op: "seccomp"; filter: Uint8Array; flags: number; listener: boolean }
  | { op: "open-pty"; ptmx: string; rows: number; cols: number }
  | { op: "setsid" }
  | { op: "wait-fifo"; slot: number }
  | { op: "hook"; path: string; args: string[]; env: string[]; timeout: number; kind: string }
  | { op: "mask-path"; path: string }
  | { op: "readonly-path"; path: string }
  | { op: "remount-ro-root" }
  | { op: "resolve-exec"; args: string[]; env: string[] }
  | { op: "exec"; args: string[]; env: string[]; preserveFds: number }
  | { op: "close-fds"; preserveFds: number }
  | { op: "ready" };

/** Why the child stopped to wait for the parent (the `tag` of a SYNC message). */
export const SyncTag = {
  /** born: the parent writes id maps and joins cgroups */
  Init: 1,
  /** namespaces ready, before pivot_root: the parent runs prestart and createRuntime hooks */
  CreateRuntime: 2,
} as const;
export type SyncTag = (typeof SyncTag)[keyof typeof SyncTag];

export type Plan = Step[];

/** One line per step, for `--debug` and for error messages. */
export function describeStep(s: Step): string {
  switch (s.op) {
    case "mount":
      return `mount ${s.fstype ?? "bind"} ${s.source ?? ""} on ${s.target}`;
    case "hook":
      return `${s.kind} hook ${s.path}`;
    case "exec":
    case "resolve-exec":
      return `${s.op} ${JSON.stringify(s.args)}`;
    case "seccomp":
      return `seccomp (${s.filter.length / 8} instructions${s.listener ? ", with a notify listener" : ""})`;
    default: {
      const { op, ...rest } = s;
      const args = Object.entries(rest)
        .map(([k, v]) => `${k}=${typeof v === "bigint" ? `0x${v.toString(16)}` : JSON.stringify(v)}`)
        .join(" ");
      return `${op} ${args}`.trim();
    }
  }
}
