import { posix } from "node:path";
import { invalidArgument, notImplemented } from "../errors/index.js";
import type { Plan, Step } from "../native/index.js";
import { SyncTag } from "../native/index.js";
import type { Hook, Mount, NamespaceType, Process, Seccomp, Spec } from "../oci/index.js";
import { compileSeccomp } from "../seccomp/index.js";
import { capSets } from "./capabilities.js";
import { MS, PROPAGATION, parseMountOptions } from "./mount-options.js";
import { rlimitNumber, rlimitValue } from "./rlimits.js";

/** clone(2) flags of each namespace type. */
export const NS_FLAGS: Record<NamespaceType, number> = {
  mount: 0x00020000,
  cgroup: 0x02000000,
  uts: 0x04000000,
  ipc: 0x08000000,
  user: 0x10000000,
  pid: 0x20000000,
  network: 0x40000000,
  time: 0x80,
};

/** The /proc/<pid>/ns/ file of each namespace type. */
export const NS_FILES: Record<NamespaceType, string> = {
  mount: "mnt",
  cgroup: "cgroup",
  uts: "uts",
  ipc: "ipc",
  user: "user",
  pid: "pid",
  network: "net",
  time: "time",
};

const O_RDONLY = 0;
const O_DIRECTORY = 0o200000;
const O_PATH = 0o10000000;
const PR_SET_NO_NEW_PRIVS = 38;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;

/** Slots (fd registers in the executor): BERTH_SLOTS of executor.h. */
const SLOTS = 64;
const SLOT_ROOT = 0;
const SLOT_FIFO = 1;
const SLOT_CGROUP = 2;
/** the v1 `tasks` files an init that places itself writes to (after the namespace slots) */
const SLOT_TASKS = 24;
const O_WRONLY = 1;
const SLOT_NS = 8;

export interface HostFacts {
  /** /proc/sys/kernel/cap_last_cap */
  lastCap: number;
  /** whether each bind source is a directory (others are files) */
  isDir(path: string): boolean;
  exists(path: string): boolean;
  /** the container's cgroup directory per hierarchy, for cgroup mounts */
  cgroupPaths: Record<string, string>;
  /** the RLIMIT_NOFILE soft/hard the caller gave the runtime, when known */
  callerNofile?: [bigint, bigint];
  /** Node's `process.arch` of the host, whose ABI every seccomp filter includes (default: this process's) */
  arch?: string;
  /** whether the kernel enforces AppArmor (/sys/module/apparmor/parameters/enabled) */
  apparmor?: boolean;
  /**
   * the runtime runs unprivileged (euid != 0, runc's "rootless"): a new user namespace's
   * maps are written by the caller's own uid, which the kernel allows only while the
   * child is dumpable (its /proc files are otherwise owned by root)
   */
  rootless?: boolean;
  /**
   * /proc/<pid>/setgroups of the user namespace the process ends up in reads "deny"
   * (user_namespaces(7)): setgroups(2) fails there, so additional groups cannot be set
   */
  setgroupsDenied?: boolean;
  warn(msg: string): void;
}

export interface CreateOptions {
  /** absolute path of the rootfs on the host */
  rootfs: string;
  bundle: string;
  fifo: string;
  noPivot: boolean;
  preserveFds: number;
  /** whether the pty master goes to a caller (console socket, or run's own proxy) */
  terminal: boolean;
  /**
   * The init places itself in its (already made) cgroups instead of the parent moving it:
   * `into` is the cgroup2 directory it is cloned into (CLONE_INTO_CGROUP), `tasks` the v1
   * `tasks` files it writes "0" to (a single thread moving itself skips the kernel's
   * threadgroup lock, whose write side waits for an RCU grace period).
   */
  cgroupJoin?: { into?: string; tasks: string[] };
}

const DEFAULT_DEVICES = [
  { path: "/dev/null", major: 1, minor: 3 },
  { path: "/dev/zero", major: 1, minor: 5 },
  { path: "/dev/full", major: 1, minor: 7 },
  { path: "/dev/random", major: 1, minor: 8 },
  { path: "/dev/urandom", major: 1, minor: 9 },
  { path: "/dev/tty", major: 5, minor: 0 },
];

/** A path inside the container, cleaned so ".." cannot climb above "/". */
export function cleanPath(p: string): string {
  return posix.resolve("/", p);
}

function makedev(major: number, minor: number): number {
  // glibc's gnu_dev_makedev, in arithmetic: JS bit operators are 32-bit signed
  return (minor & 0xff) + (major & 0xfff) * 0x100 + Math.floor(minor / 0x100) * 0x100000 + Math.floor(major / 0x1000) * 2 ** 32;
}

/** Namespaces the spec asks for: the new ones as clone flags, the joined ones by path. */
export function namespacePlan(spec: Spec): {
  newFlags: number;
  join: { type: NamespaceType; path: string }[];
  types: Set<NamespaceType>;
} {
  let newFlags = 0;
  const join: { type: NamespaceType; path: string }[] = [];
  const types = new Set<NamespaceType>();
  for (const ns of spec.linux?.namespaces ?? []) {
    types.add(ns.type);
    if (ns.path) join.push({ type: ns.type, path: ns.path });
    else newFlags |= NS_FLAGS[ns.type];
  }
  // the user namespace first: joining it grants the rights to join the others
  join.sort((a, b) => Number(b.type === "user") - Number(a.type === "user"));
  return { newFlags, join, types };
}

/** Stage 1: join namespaces by path, then clone the init with the new ones. */
function stageOne(
  plan: Step[],
  join: { type: NamespaceType; path: string }[],
  newFlags: number,
  spec: Spec,
  host: HostFacts,
  cgroupJoin: CreateOptions["cgroupJoin"],
): void {
  // an unprivileged caller writes the new user namespace's maps itself: the init stays dumpable
  // until then (runc does the same); it is the caller's uid either way, nothing is exposed
  if (!(host.rootless && newFlags & NS_FLAGS.user)) plan.push({ op: "dumpable", value: 0 });
  // the cgroup files are opened here, in the host's mount namespace: paths resolved after joining
  // a container's mount namespace would be the container's to redirect
  const { into, tasks = [] } = cgroupJoin ?? {};
  if (tasks.length > SLOTS - SLOT_TASKS)
    throw invalidArgument(`cgroups: ${tasks.length} v1 hierarchies, at most ${SLOTS - SLOT_TASKS}`);
  if (into) plan.push({ op: "open-slot", slot: SLOT_CGROUP, path: into, flags: O_RDONLY | O_DIRECTORY });
  tasks.forEach((path, i) => plan.push({ op: "open-slot", slot: SLOT_TASKS + i, path, flags: O_WRONLY }));
  // a process that places itself joins a cgroup namespace after that: from inside one, a cgroup
  // outside its root (where the process comes from) is out of reach (clone3 gets ENOENT)
  const late = (j: { type: NamespaceType }) => cgroupJoin !== undefined && j.type === "cgroup";
  join.forEach((j, i) => plan.push({ op: "open-slot", slot: SLOT_NS + i, path: j.path, flags: O_RDONLY }));
  join.forEach((j, i) => {
    if (!late(j)) plan.push({ op: "setns", slot: SLOT_NS + i, nstype: NS_FLAGS[j.type], path: j.path });
  });
  join.forEach((j, i) => {
    if (!late(j)) plan.push({ op: "close-slot", slot: SLOT_NS + i });
  });
  if (newFlags & NS_FLAGS.time) {
    plan.push({ op: "unshare", flags: NS_FLAGS.time });
    const offsets = Object.entries(spec.linux?.timeOffsets ?? {})
      .map(([clock, o]) => `${clock} ${o.secs ?? 0} ${o.nanosecs ?? 0}`)
      .join("\n");
    if (offsets) plan.push({ op: "write-file", path: "/proc/self/timens_offsets", data: offsets, ignoreMissing: false });
  }
  // the cgroup namespace is unshared by the init once it sits in its cgroup; time is done above
  const flags = newFlags & ~(NS_FLAGS.cgroup | NS_FLAGS.time);
  if (!into) plan.push({ op: "clone", flags });
  else {
    plan.push({ op: "clone", flags, cgroupSlot: SLOT_CGROUP });
    plan.push({ op: "close-slot", slot: SLOT_CGROUP });
  }
  // the init (a single thread) moves itself: "0" is the writer
  tasks.forEach((path, i) => plan.push({ op: "write-slot", slot: SLOT_TASKS + i, data: "0", path }));
  join.forEach((j, i) => {
    if (!late(j)) return;
    plan.push({ op: "setns", slot: SLOT_NS + i, nstype: NS_FLAGS[j.type], path: j.path });
    plan.push({ op: "close-slot", slot: SLOT_NS + i });
  });
}

/**
 * The steps that turn a process into the configured one: shared by create and exec.
 * `beforeExec` goes right before the exec step: a seccomp filter under no_new_privs loads
 * there, as late as it can (runc does the same), so the profile need not allow the
 * runtime's own setup calls; without no_new_privs loading it needs CAP_SYS_ADMIN, so it
 * loads before the ids and capabilities change, as runc does. A filter with a notify
 * listener must hand the listener to the parent while the sync socket is open: under
 * no_new_privs it loads at the end of `after` (the last setup step before "ready").
 */
export function processSteps(
  proc: Process,
  host: HostFacts,
  opts: { terminal: boolean; consoleInContainer: boolean; rlimitsDefault?: boolean; seccomp?: Seccomp | undefined },
): { before: Step[]; after: Step[]; beforeExec: Step[] } {
  const before: Step[] = [];
  if (proc.terminal && opts.terminal) {
    before.push({
      op: "open-pty",
      ptmx: "/dev/ptmx",
      rows: proc.consoleSize?.height ?? 0,
      cols: proc.consoleSize?.width ?? 0,
    });
  } else {
    before.push({ op: "setsid" });
  }
  if (proc.oomScoreAdj !== undefined)
    before.push({ op: "write-file", path: "/proc/self/oom_score_adj", data: String(proc.oomScoreAdj), ignoreMissing: false });
  const limits = proc.rlimits ?? [];
  limits.forEach((r, i) =>
    before.push({
      op: "setrlimit",
      resource: rlimitNumber(r.type, `process.rlimits[${i}]`),
      soft: rlimitValue(r.soft),
      hard: rlimitValue(r.hard),
      name: r.type,
    }),
  );
  // Node raised its own RLIMIT_NOFILE: give the container what the caller had, unless configured
  if (!limits.some((r) => r.type === "RLIMIT_NOFILE") && host.callerNofile)
    before.push({ op: "setrlimit", resource: 7, soft: host.callerNofile[0], hard: host.callerNofile[1], name: "RLIMIT_NOFILE" });
  const caps = capSets(proc.capabilities, host.lastCap, host.warn);
  before.push({ op: "caps-bounding", bounding: caps.bounding, lastCap: host.lastCap });
  // reach cwd once as root and check with getcwd that it lies inside our root (CVE-2024-21626),
  // before a seccomp profile (which may deny getcwd) is loaded; the user's chdir below applies
  // the user's permissions to the same place
  before.push({ op: "chdir", path: proc.cwd, verify: true });
  if (proc.apparmorProfile) {
    // a requested confinement the host cannot give is an error, never a silent downgrade (runc fails too)
    if (!host.apparmor)
      throw invalidArgument(`process.apparmorProfile: AppArmor is not enabled on this host ("${proc.apparmorProfile}")`);
    // the profile takes effect at execve; written while still root, as runc does
    before.push({
      op: "write-file",
      path: "/proc/self/attr/apparmor/exec",
      data: `exec ${proc.apparmorProfile}`,
      ignoreMissing: false,
    });
  }
  const after: Step[] = [];
  const beforeExec: Step[] = [];
  let notifyLate: Step | undefined;
  if (opts.seccomp) {
    const { filter, flags, listener } = compileSeccomp(opts.seccomp, host.arch ?? process.arch);
    // a listener goes to the parent over the sync socket, which closes at "ready": under
    // no_new_privs such a filter loads at the end of setup instead (see the push below)
    if (listener && proc.noNewPrivileges) notifyLate = { op: "seccomp", filter, flags, listener };
    else (proc.noNewPrivileges ? beforeExec : after).push({ op: "seccomp", filter, flags, listener });
  }
  if (!host.setgroupsDenied) after.push({ op: "setgroups", gids: proc.user.additionalGids ?? [] });
  // the groups are then those the user namespace was entered with; asked-for ones are an
  // error, never silently dropped (runc: "cannot set any additional groups in a rootless container")
  else if (proc.user.additionalGids?.length)
    throw invalidArgument(
      "process.user.additionalGids: cannot set additional groups: setgroups is denied in the container's user namespace (rootless)",
    );
  after.push({ op: "setid", uid: proc.user.uid, gid: proc.user.gid });
  after.push({ op: "chdir", path: proc.cwd });
  after.push({
    op: "caps",
    effective: caps.effective,
    permitted: caps.permitted,
    inheritable: caps.inheritable,
    ambient: caps.ambient,
  });
  if (proc.noNewPrivileges) after.push({ op: "prctl", option: PR_SET_NO_NEW_PRIVS, arg2: 1, arg3: 0, name: "no_new_privs" });
  after.push({ op: "umask", mask: proc.user.umask ?? 0o022 });
  after.push({ op: "resolve-exec", args: proc.args ?? [], env: proc.env ?? [] });
  if (notifyLate) after.push(notifyLate);
  return { before, after, beforeExec };
}

function hookSteps(hooks: Hook[] | undefined, kind: string): Step[] {
  return (hooks ?? []).map((h) => ({
    op: "hook",
    kind,
    path: h.path,
    args: h.args ?? [h.path],
    env: h.env ?? [],
    timeout: h.timeout ?? 0,
  }));
}

function mountSteps(m: Mount, i: number, spec: Spec, opts: CreateOptions, host: HostFacts, userns: boolean): Step[] {
  const field = `mounts[${i}]`;
  const target = cleanPath(m.destination);
  const o = parseMountOptions(m.options, field);
  if (m.uidMappings || m.gidMappings) throw notImplemented(`${field}: id-mapped mounts are not supported yet`);
  const type = m.type ?? (o.bind ? "bind" : "");
  const steps: Step[] = [];
  if (type === "cgroup" || type === "cgroup2") return cgroupMountSteps(target, o.flags, host);
  if (o.bind || type === "bind") {
    if (!m.source) throw invalidArgument(`${field}.source: a bind mount needs a source`);
    const source = posix.resolve(opts.bundle, m.source);
    if (!host.exists(source)) throw invalidArgument(`${field}.source: "${source}" does not exist`);
    const flags = o.flags | MS.BIND;
    const extra = flags & ~(MS.BIND | MS.REC | MS.REMOUNT);
    const step: Step = {
      op: "mount",
      source,
      target,
      fstype: null,
      flags,
      data: null,
      root: SLOT_ROOT,
      create: host.isDir(source) ? "dir" : "file",
    };
    if (extra) step.remount = true;
    if (o.propagation) step.propagation = o.propagation;
    steps.push(step);
    return steps;
  }
  if (!type) throw invalidArgument(`${field}.type: a non-bind mount needs a type`);
  let flags = o.flags;
  // a user namespace cannot mount sysfs without a network namespace of its own: bind the host's, as runc does
  if (type === "sysfs" && userns && !(spec.linux?.namespaces ?? []).some((n) => n.type === "network" && !n.path)) {
    steps.push({
      op: "mount",
      source: "/sys",
      target,
      fstype: null,
      flags: MS.BIND | MS.REC,
      data: null,
      root: SLOT_ROOT,
      create: "dir",
    });
    return steps;
  }
  if (type === "mqueue" && userns) flags &= ~MS.NODEV;
  const step: Step = {
    op: "mount",
    source: m.source ?? type,
    target,
    fstype: type,
    flags,
    data: o.data.length ? o.data.join(",") : null,
    root: SLOT_ROOT,
    create: "dir",
  };
  if (o.propagation) step.propagation = o.propagation;
  steps.push(step);
  return steps;
}

/** /sys/fs/cgroup in the container: a tmpfs holding the container's own cgroup of each hierarchy. */
function cgroupMountSteps(target: string, flags: number, host: HostFacts): Step[] {
  const steps: Step[] = [];
  const base = flags & (MS.NOSUID | MS.NODEV | MS.NOEXEC);
  const entries = Object.entries(host.cgroupPaths);
  const onlyV2 = entries.length === 1 && entries[0]?.[0] === "";
  if (onlyV2) {
    const dir = entries[0]?.[1] ?? "";
    steps.push({
      op: "mount",
      source: dir,
      target,
      fstype: null,
      flags: MS.BIND | MS.REC | flags,
      data: null,
      root: SLOT_ROOT,
      create: "dir",
      remount: (flags & ~(MS.BIND | MS.REC)) !== 0,
    });
    return steps;
  }
  steps.push({
    op: "mount",
    source: "tmpfs",
    target,
    fstype: "tmpfs",
    flags: base,
    data: "mode=755",
    root: SLOT_ROOT,
    create: "dir",
  });
  for (const [name, dir] of entries) {
    const sub = name === "" ? "unified" : name.replace(/^name=/, "");
    const t = posix.join(target, sub);
    steps.push({
      op: "mount",
      source: dir,
      target: t,
      fstype: null,
      flags: MS.BIND | MS.REC | flags,
      data: null,
      root: SLOT_ROOT,
      create: "dir",
      remount: true,
    });
    // co-mounted controllers ("cpu,cpuacct") are reachable by each name, as on the host
    if (sub.includes(","))
      for (const c of sub.split(",")) steps.push({ op: "symlink", path: posix.join(target, c), target: sub, root: SLOT_ROOT });
  }
  if (flags & MS.RDONLY)
    steps.push({
      op: "mount",
      source: null,
      target,
      fstype: null,
      flags: MS.REMOUNT | MS.RDONLY | base,
      data: null,
      root: SLOT_ROOT,
    });
  return steps;
}

function deviceSteps(spec: Spec, host: HostFacts, userns: boolean): Step[] {
  const steps: Step[] = [];
  const devMount = (spec.mounts ?? []).find((m) => cleanPath(m.destination) === "/dev");
  const hostDev = devMount && (devMount.type === "bind" || (devMount.options ?? []).some((o) => o === "bind" || o === "rbind"));
  if (hostDev) return steps;
  const devices: { path: string; type: string; major: number; minor: number; mode: number; uid: number; gid: number }[] = [];
  for (const d of DEFAULT_DEVICES) devices.push({ ...d, type: "c", mode: 0o666, uid: 0, gid: 0 });
  for (const d of spec.linux?.devices ?? []) {
    const path = cleanPath(d.path);
    const entry = {
      path,
      type: d.type,
      major: d.major ?? 0,
      minor: d.minor ?? 0,
      mode: d.fileMode ?? 0o666,
      uid: d.uid ?? 0,
      gid: d.gid ?? 0,
    };
    const k = devices.findIndex((x) => x.path === path);
    if (k >= 0) devices[k] = entry;
    else devices.push(entry);
  }
  const made = new Set<string>();
  for (const d of devices) {
    const parent = posix.dirname(d.path);
    if (parent !== "/" && !made.has(parent)) steps.push({ op: "mkdir-all", path: parent, mode: 0o755, root: SLOT_ROOT });
    made.add(parent);
    if (userns) {
      // mknod is not allowed in a user namespace: bind the host's node instead
      if (!host.exists(d.path))
        throw invalidArgument(`linux.devices: cannot bind "${d.path}" in a user namespace: no such device on the host`);
      steps.push({
        op: "mount",
        source: d.path,
        target: d.path,
        fstype: null,
        flags: MS.BIND,
        data: null,
        root: SLOT_ROOT,
        create: "file",
      });
      continue;
    }
    const kind = d.type === "b" ? S_IFBLK : d.type === "p" ? S_IFIFO : S_IFCHR;
    steps.push({
      op: "mknod",
      path: d.path,
      mode: kind | (d.mode & 0o7777),
      dev: d.type === "p" ? 0 : makedev(d.major, d.minor),
      root: SLOT_ROOT,
      owner: `${d.uid}:${d.gid}`,
    });
  }
  return steps;
}

/**
 * The whole plan of `create`: from config.json to an init parked on the exec
 * fifo. The order follows the runtime spec's lifecycle and runc's init:
 * namespaces, mounts, createRuntime/createContainer hooks, pivot_root, /proc
 * hardening, the process's identity, then "ready", the fifo, startContainer
 * hooks and execve.
 */
export function buildCreatePlan(spec: Spec, opts: CreateOptions, host: HostFacts): Plan {
  const proc = spec.process;
  if (!proc) throw invalidArgument("process: config.json has no process to run");
  const { newFlags, join, types } = namespacePlan(spec);
  // no mount namespace at all: the container shares the runtime's, so its mounts are made there
  // (and removed by delete) and its root is a chroot, never a pivot_root of the host
  const sharedMountNs = !types.has("mount");
  if (spec.hostname && !types.has("uts"))
    throw invalidArgument("hostname: cannot set a hostname without a private uts namespace");
  if (spec.domainname && !types.has("uts"))
    throw invalidArgument("domainname: cannot set a domainname without a private uts namespace");
  if (spec.linux?.timeOffsets && !(newFlags & NS_FLAGS.time))
    throw invalidArgument("linux.timeOffsets: time offsets need a new time namespace");
  const userns = types.has("user");
  if (newFlags & NS_FLAGS.user && !spec.linux?.uidMappings?.length)
    throw invalidArgument("linux.uidMappings: a new user namespace needs uid mappings");
  if (!userns && (spec.linux?.uidMappings?.length || spec.linux?.gidMappings?.length))
    throw invalidArgument("linux.uidMappings: mappings given without a user namespace");

  const plan: Step[] = [];
  // open the fifo as the host's root, before any namespace: a user-namespaced init may not
  // search the state root (0700, owned by an unmapped uid); it reopens this fd to write
  plan.push({ op: "open-slot", slot: SLOT_FIFO, path: opts.fifo, flags: O_PATH });
  stageOne(plan, join, newFlags, spec, host, opts.cgroupJoin);

  // stage 2: the container's init
  const mapsBySelf = Boolean(host.rootless && newFlags & NS_FLAGS.user);
  if (!mapsBySelf) plan.push({ op: "dumpable", value: 0 });
  // nothing of the runtime (Node's fds, a log file, a host directory) survives into the container
  plan.push({ op: "close-fds", preserveFds: opts.preserveFds });
  plan.push({ op: "sync", tag: SyncTag.Init });
  if (mapsBySelf) plan.push({ op: "dumpable", value: 0 });
  // become root of the new user namespace: files it creates (in its own tmpfs, devpts) need a
  // mapped owner. Like runc, the bundle must then be searchable by the mapped root.
  if (newFlags & NS_FLAGS.user) plan.push({ op: "setid", uid: 0, gid: 0 });
  if (newFlags & NS_FLAGS.cgroup) plan.push({ op: "unshare", flags: NS_FLAGS.cgroup });
  plan.push({ op: "umask", mask: 0 });
  if (spec.hostname) plan.push({ op: "sethostname", name: spec.hostname });
  if (spec.domainname) plan.push({ op: "setdomainname", name: spec.domainname });

  // the rootfs: propagation, a mount point of its own, then the configured mounts inside it
  // nothing we mount may reach the host: every mount becomes a slave first; the configured
  // propagation is applied to the new root after pivot_root (pivot_root refuses shared mounts)
  if (!sharedMountNs)
    plan.push({ op: "mount", source: null, target: "/", fstype: null, flags: MS.SLAVE | MS.REC, data: null, root: null });
  plan.push({
    op: "mount",
    source: opts.rootfs,
    target: opts.rootfs,
    fstype: "bind",
    flags: MS.BIND | MS.REC,
    data: null,
    root: null,
  });
  plan.push({ op: "open-slot", slot: SLOT_ROOT, path: opts.rootfs, flags: O_PATH | O_DIRECTORY });
  const mounts = spec.mounts ?? [];
  mounts.forEach((m, i) => plan.push(...mountSteps(m, i, spec, opts, host, userns)));
  plan.push(...deviceSteps(spec, host, userns));
  const hasDevpts = mounts.some((m) => cleanPath(m.destination) === "/dev/pts" && m.type === "devpts");
  const devLinks: [string, string][] = [
    ["/dev/fd", "/proc/self/fd"],
    ["/dev/stdin", "/proc/self/fd/0"],
    ["/dev/stdout", "/proc/self/fd/1"],
    ["/dev/stderr", "/proc/self/fd/2"],
  ];
  if (host.exists("/proc/kcore")) devLinks.push(["/dev/core", "/proc/kcore"]);
  if (hasDevpts) devLinks.push(["/dev/ptmx", "pts/ptmx"]);
  const hasDev = mounts.some((m) => cleanPath(m.destination) === "/dev");
  if (hasDev) for (const [path, target] of devLinks) plan.push({ op: "symlink", path, target, root: SLOT_ROOT });
  plan.push({ op: "close-slot", slot: SLOT_ROOT });
  if (spec.hooks?.prestart?.length || spec.hooks?.createRuntime?.length) plan.push({ op: "sync", tag: SyncTag.CreateRuntime });
  plan.push(...hookSteps(spec.hooks?.createContainer, "createContainer"));
  plan.push({ op: "pivot-root", rootfs: opts.rootfs, noPivot: opts.noPivot, chroot: sharedMountNs });
  const rootProp = spec.linux?.rootfsPropagation ? PROPAGATION[spec.linux.rootfsPropagation] : undefined;
  if (rootProp !== undefined && !sharedMountNs)
    plan.push({ op: "mount", source: null, target: "/", fstype: null, flags: rootProp | MS.REC, data: null, root: null });

  // inside the container
  for (const [key, value] of Object.entries(spec.linux?.sysctl ?? {}))
    plan.push({ op: "write-file", path: `/proc/sys/${key.replaceAll(".", "/")}`, data: value, ignoreMissing: false });
  for (const p of spec.linux?.readonlyPaths ?? []) plan.push({ op: "readonly-path", path: cleanPath(p) });
  for (const p of spec.linux?.maskedPaths ?? []) plan.push({ op: "mask-path", path: cleanPath(p) });
  if (spec.root?.readonly) plan.push({ op: "remount-ro-root" });
  if (proc.terminal && !opts.terminal) throw invalidArgument("process.terminal: a terminal needs --console-socket");
  const { before, after, beforeExec } = processSteps(proc, host, {
    terminal: opts.terminal,
    consoleInContainer: true,
    seccomp: spec.linux?.seccomp,
  });
  plan.push(...before, ...after);
  plan.push({ op: "ready" });
  plan.push({ op: "wait-fifo", slot: SLOT_FIFO });
  plan.push(...hookSteps(spec.hooks?.startContainer, "startContainer"));
  plan.push(...beforeExec);
  plan.push({ op: "exec", args: proc.args ?? [], env: proc.env ?? [], preserveFds: opts.preserveFds });
  return plan;
}

/** The plan of `exec`: join every namespace of the running init, then become `proc` (under the container's seccomp profile). */
export function buildExecPlan(
  proc: Process,
  nsPaths: { type: NamespaceType; path: string }[],
  opts: {
    preserveFds: number;
    terminal: boolean;
    seccomp?: Seccomp | undefined;
    /** as create's: the process places itself in the container's cgroups */
    cgroupJoin?: CreateOptions["cgroupJoin"];
  },
  host: HostFacts,
): Plan {
  const plan: Step[] = [];
  const join = [...nsPaths].sort((a, b) => Number(b.type === "user") - Number(a.type === "user"));
  stageOne(plan, join, 0, {} as Spec, host, opts.cgroupJoin);
  plan.push({ op: "dumpable", value: 0 });
  // nothing of the runtime (Node's fds, a log file, a host directory) survives into the container
  plan.push({ op: "close-fds", preserveFds: opts.preserveFds });
  plan.push({ op: "sync", tag: SyncTag.Init });
  const { before, after, beforeExec } = processSteps(proc, host, {
    terminal: opts.terminal,
    consoleInContainer: false,
    seccomp: opts.seccomp,
  });
  plan.push(...before, ...after);
  plan.push({ op: "ready" });
  plan.push(...beforeExec);
  plan.push({ op: "exec", args: proc.args ?? [], env: proc.env ?? [], preserveFds: opts.preserveFds });
  return plan;
}
