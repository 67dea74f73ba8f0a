import { readFileSync, readlinkSync } from "node:fs";
import { invalidArgument } from "../errors/index.js";
import { native } from "../native/index.js";
import type { NamespaceType, Process } from "../oci/index.js";
import { validateProcess } from "../oci/index.js";
import { NS_FILES, buildExecPlan } from "./build-plan.js";
import { canExec, cgroupOf, hasCgroup, hookState, loadState, placesItself, requireStatus, statusOf } from "./container-state.js";
import { sendSeccompListener } from "./seccomp-agent.js";
import type { RuntimeContext } from "./context.js";
import { NeedsLocalProcess, hostFacts } from "./context.js";
import { launch } from "./launch.js";
import { writePidFile } from "./pid-file.js";

export interface ExecOptions {
  id: string;
  /** a process JSON file (`--process`), or undefined to build one from `args` and the flags */
  processFile?: string;
  args: string[];
  tty?: boolean;
  cwd?: string;
  env?: string[];
  user?: string;
  additionalGids?: number[];
  caps?: string[];
  noNewPrivs?: boolean;
  detach?: boolean;
  pidFile?: string;
  consoleSocket?: string;
  preserveFds?: number;
}

/** The process to exec: the --process file, or the container's process with the command-line overrides. */
export function execProcess(base: Process | undefined, o: ExecOptions): Process {
  if (o.processFile) {
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(o.processFile, "utf8"));
    } catch (err) {
      throw invalidArgument(`read process file "${o.processFile}"`, err);
    }
    return validateProcess(json, "process");
  }
  if (o.args.length === 0) throw invalidArgument("exec: no command given (use --process FILE or ID COMMAND [ARGS...])");
  const p: Process = {
    user: { ...(base?.user ?? { uid: 0, gid: 0 }) },
    cwd: o.cwd ?? base?.cwd ?? "/",
    args: o.args,
    env: [...(base?.env ?? []), ...(o.env ?? [])],
    terminal: o.tty ?? false,
  };
  if (base?.capabilities) p.capabilities = structuredClone(base.capabilities);
  if (base?.rlimits) p.rlimits = base.rlimits;
  if (base?.noNewPrivileges || o.noNewPrivs) p.noNewPrivileges = true;
  if (base?.apparmorProfile) p.apparmorProfile = base.apparmorProfile;
  if (o.user) {
    const m = /^(\d+)(?::(\d+))?$/.exec(o.user);
    if (!m) throw invalidArgument(`--user: want UID[:GID] with numbers, got "${o.user}"`);
    p.user = { uid: Number(m[1]), gid: Number(m[2] ?? 0) };
  }
  if (o.additionalGids?.length) p.user.additionalGids = o.additionalGids;
  if (o.caps?.length) {
    const c = p.capabilities ?? {};
    for (const set of ["bounding", "effective", "permitted", "inheritable"] as const)
      c[set] = [...new Set([...(c[set] ?? []), ...o.caps])];
    p.capabilities = c;
  }
  return p;
}

/** Namespaces of the init that differ from ours: the ones exec must join. */
function initNamespaces(pid: number, types: NamespaceType[]): { type: NamespaceType; path: string }[] {
  const out: { type: NamespaceType; path: string }[] = [];
  for (const type of types) {
    const path = `/proc/${pid}/ns/${NS_FILES[type]}`;
    let theirs: string;
    try {
      theirs = readlinkSync(path);
    } catch {
      continue; // the kernel lacks this namespace type
    }
    if (theirs !== readlinkSync(`/proc/self/ns/${NS_FILES[type]}`)) out.push({ type, path });
  }
  return out;
}

/** Whether the init's user namespace denies setgroups(2) (a rootless self-mapping; user_namespaces(7)). */
function setgroupsDenied(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/setgroups`, "utf8").trim() === "deny";
  } catch {
    return false; // no such file before Linux 3.19: setgroups is governed by capabilities alone
  }
}

/** `exec`: start a process in a running container. Returns its pid (detached) or its exit code. */
export async function exec(ctx: RuntimeContext, o: ExecOptions): Promise<{ pid: number; exitCode?: number }> {
  const s = loadState(ctx.root, o.id);
  const st = statusOf(ctx.root, s);
  requireStatus(o.id, st, canExec(st), "exec in");
  const proc = execProcess(s.config.process, o);
  const types = (s.config.linux?.namespaces ?? []).map((n) => n.type);
  const cg = cgroupOf(s);
  let pty: number | undefined;
  if (proc.terminal && !o.consoleSocket && o.detach) throw invalidArgument("exec: a detached terminal needs --console-socket");
  if (ctx.waitProcess && proc.terminal && !o.consoleSocket)
    throw new NeedsLocalProcess("exec with a terminal and no console socket");
  // the process places itself in the container's cgroups, as create's init does (see create.ts)
  const selfJoin = placesItself(s.cgroupPaths, types);
  const plan = buildExecPlan(
    proc,
    initNamespaces(s.pid, types),
    {
      preserveFds: o.preserveFds ?? 0,
      terminal: Boolean(proc.terminal),
      seccomp: s.config.linux?.seccomp,
      ...(selfJoin ? { cgroupJoin: cg.prepareSelfJoin(false) } : {}),
    },
    { ...hostFacts(ctx, cg.paths), setgroupsDenied: setgroupsDenied(s.pid) },
  );
  const pid = launch(plan, {
    init(pid, bornInCgroup) {
      if (!hasCgroup(s)) return "";
      // a process that placed itself wrote its v1 tasks files; the cgroup2 one is ours where clone3 was refused
      if (!selfJoin) cg.apply(pid);
      else if (!bornInCgroup) cg.apply(pid, [""]);
      return "";
    },
    seccompListener(fd, pid) {
      sendSeccompListener(s.config.linux?.seccomp, fd, pid, hookState(ctx.root, s, "running"));
    },
    pty(fd, name) {
      if (o.consoleSocket) native().sendFd(o.consoleSocket, fd, name, "console socket");
      else pty = fd;
    },
    ...(ctx.debug ? { debug: (m: string) => ctx.log("debug", m) } : {}),
  });
  if (o.pidFile) writePidFile(o.pidFile, pid);
  if (o.detach) return { pid };
  if (ctx.waitProcess) return { pid, exitCode: await ctx.waitProcess(pid) };
  const { waitAttached } = await import("./attach.js");
  return { pid, exitCode: await waitAttached(pid, pty) };
}
