import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import type { BigIntStats } from "node:fs";
import { availableParallelism, hostname as osHostname, release } from "node:os";
import { posix } from "node:path";
import { hostCgroups } from "../cgroups/index.js";
import { errnoCode, failedPrecondition, internal, invalidArgument } from "../errors/index.js";
import type {
  Device,
  DeviceCgroup,
  ImageRunConfig,
  LinuxResources,
  Mount,
  Namespace,
  Rlimit,
  Seccomp,
  SeccompArg,
  SeccompSyscall,
  Spec,
} from "../oci/index.js";
import { OCI_VERSION } from "../oci/index.js";
import { CAPABILITIES } from "../runtime/capabilities.js";
import { RLIMITS } from "../runtime/rlimits.js";
import type { DefaultProfileOptions } from "../seccomp/index.js";
import { SUPPORTED_ACTIONS, SUPPORTED_FLAGS, SUPPORTED_OPERATORS, defaultSeccompProfile } from "../seccomp/index.js";
import type { ContainerConfig, ContainerFiles, DeviceMapping, HostConfig, MountSpec, Ulimit } from "./container-types.js";
import type { ResolvedUser } from "./user.js";

/** A volume the container needs: `ContainerSpecInput.volumePath` creates or finds it. */
export interface VolumeRequest {
  /** the volume's name; undefined for an anonymous volume, which the caller names and creates */
  name: string | undefined;
  /** where it is mounted in the container */
  destination: string;
  readOnly: boolean;
  /** "nocopy": do not copy the image's files at `destination` into a new volume */
  noCopy: boolean;
}

/**
 * Everything `buildContainerSpec` turns into a config.json. Mounts are not passed resolved:
 * the function reads HostConfig.Binds, HostConfig.Mounts, HostConfig.Tmpfs and the image's
 * and request's Volumes itself, and asks `volumePath` for each named or anonymous volume.
 */
export interface ContainerSpecInput {
  /** the container id (Docker's 64 hex digits; any [a-zA-Z0-9][a-zA-Z0-9_.-]* is taken) */
  id: string;
  /** the image's runtime config (`ImageConfig["config"]`) */
  image: ImageRunConfig | undefined;
  /** the create request's Config */
  config: ContainerConfig;
  /** the create request's HostConfig */
  hostConfig: HostConfig;
  /** absolute path of the container's root filesystem (the mounted snapshot); read-only when HostConfig.ReadonlyRootfs */
  rootfs: string;
  /** the hostname, hosts and resolv.conf files to bind-mount (see `writeContainerFiles`) */
  files: ContainerFiles;
  /** who the process runs as (see `resolveUser`, given Config.User and HostConfig.GroupAdd) */
  user: ResolvedUser;
  /** the container's hostname; default `containerHostname(id, config, hostConfig)` */
  hostname?: string;
  /**
   * The host path of a volume: called once per named volume (Binds "name:/dst", Mounts of type
   * volume) and per anonymous one (image or request Volumes not covered by another mount, and
   * Mounts of type volume without a Source). Without it, a container that needs a volume is refused.
   */
  volumePath?: (v: VolumeRequest) => string;
  /**
   * The network namespace: "host" for the host's (no namespace), an absolute path of a
   * namespace to join (the bridge's netns, another container's), or undefined for a new,
   * empty one (NetworkMode "none"). NetworkMode "host" also means the host's.
   */
  netns?: string;
  /** for PidMode / IpcMode "container:<id>": that container's namespace files and its /dev/shm */
  containerNamespaces?: { pid?: string; ipc?: string; shm?: string };
  /** IpcMode "shareable": the host tmpfs bound at /dev/shm, which containers joining its IPC bind too */
  shmPath?: string;
  /** host path of the init (tini) bind-mounted at /sbin/docker-init when HostConfig.Init */
  initPath?: string;
  /** the cgroup parent when HostConfig.CgroupParent is empty; default "/berth" */
  cgroupParent?: string;
  /** whether to give the container its own cgroup namespace; default: when the host is cgroup v2 only (Docker's default) */
  cgroupNamespace?: boolean;
  /** whether the host can limit swap (memory.memsw on v1); default: probed. Without it swap is left unlimited, with a warning */
  swapLimit?: boolean;
  /** the daemon's default ulimits (dockerd --default-ulimit); the request's win by name */
  defaultUlimits?: Ulimit[];
  /** passed to `defaultSeccompProfile` and used to pick a profile's archMap entry (tests) */
  seccomp?: DefaultProfileOptions;
}

/** A spec and the warnings Docker would return in the create response. */
export interface ContainerSpecResult {
  spec: Spec;
  warnings: string[];
}

const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/** Where Docker mounts its init and what it runs; berth keeps the name so images that look for it find it. */
const INIT_PATH = "/sbin/docker-init";
export const DEFAULT_SHM_SIZE = 64 * 1024 * 1024;
const MIN_MEMORY = 6 * 1024 * 1024;
const CPU_PERIOD = 100_000;
/** RLIM_INFINITY as config.json writes it (2^64-1; the runtime reads anything past 2^63 as infinity) */
const RLIM_INFINITY = 2 ** 64 - 1;

/** Docker's default capabilities: what a container needs to act as root on its own files. */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FSETID",
  "CAP_FOWNER",
  "CAP_MKNOD",
  "CAP_NET_RAW",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETFCAP",
  "CAP_SETPCAP",
  "CAP_NET_BIND_SERVICE",
  "CAP_SYS_CHROOT",
  "CAP_KILL",
  "CAP_AUDIT_WRITE",
];

/** /proc and /sys files that reveal or change the host: hidden (masked) or read-only, as Docker does. */
export const DEFAULT_MASKED_PATHS: readonly string[] = [
  "/proc/asound",
  "/proc/acpi",
  "/proc/interrupts",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/proc/scsi",
  "/sys/firmware",
  "/sys/devices/virtual/powercap",
];
export const DEFAULT_READONLY_PATHS: readonly string[] = [
  "/proc/bus",
  "/proc/fs",
  "/proc/irq",
  "/proc/sys",
  "/proc/sysrq-trigger",
];

const rule = (type: string, major: number | undefined, minor: number | undefined): DeviceCgroup => ({
  allow: true,
  type,
  ...(major === undefined ? {} : { major }),
  ...(minor === undefined ? {} : { minor }),
  access: "rwm",
});
/**
 * The device cgroup: deny everything, then allow mknod of any node (using one still needs a
 * rule) and the devices every container gets (runtime-spec config-linux.md#default-devices,
 * the console and the pty pair).
 */
const DEFAULT_DEVICE_RULES: readonly DeviceCgroup[] = [
  { allow: false, access: "rwm" },
  { allow: true, type: "c", access: "m" },
  { allow: true, type: "b", access: "m" },
  rule("c", 1, 3), // null
  rule("c", 1, 5), // zero
  rule("c", 1, 7), // full
  rule("c", 1, 8), // random
  rule("c", 1, 9), // urandom
  rule("c", 5, 0), // tty
  rule("c", 5, 1), // console
  rule("c", 5, 2), // ptmx
  rule("c", 136, undefined), // pts/*
];

/**
 * The OCI runtime spec (config.json) of a Docker container, as dockerd builds it from a create
 * request and its image: the command (Entrypoint + Cmd), environment, working directory and
 * user; Docker's capabilities, seccomp profile, masked paths, mounts and device rules, each
 * adjusted by the request (CapAdd/CapDrop, SecurityOpt, Privileged, Binds/Mounts/Tmpfs,
 * Devices, ...); namespaces per Pid/Ipc/UTS/NetworkMode; resources, ulimits and sysctls.
 * Every invalid field is an InvalidArgument naming it. Side effects are Docker's: a missing
 * Binds source directory is created, device paths are stat'ed, and `volumePath` is called.
 */
export function buildContainerSpec(input: ContainerSpecInput): ContainerSpecResult {
  const { id, config, hostConfig: h } = input;
  const warnings: string[] = [];
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(id)) throw invalidArgument(`invalid container id "${id}"`);
  if (!posix.isAbsolute(input.rootfs)) throw invalidArgument(`container rootfs "${input.rootfs}" is not an absolute path`);
  const privileged = h.Privileged === true;

  const utsHost = namespaceMode(h.UTSMode, "UTSMode", false) === "host";
  if (utsHost && config.Hostname)
    throw invalidArgument("conflicting options: Hostname and the host's UTS namespace (UTSMode host)");
  const hostname = input.hostname ?? containerHostname(id, config, h);
  validateHostname(hostname);
  if (config.Domainname !== undefined && config.Domainname !== "") validateHostname(config.Domainname);

  let args = containerArgs(input.image, config);
  if (h.Init) args = [INIT_PATH, "--", ...args];
  const env = containerEnv(input.image?.Env ?? [], config.Env ?? [], hostname, config.Tty === true, input.user.home);
  const cwd = containerCwd(input.image, config);
  const caps = containerCapabilities(h.CapAdd ?? [], h.CapDrop ?? [], privileged);
  const security = parseSecurityOpts(h.SecurityOpt ?? []);

  const { namespaces, ipc } = containerNamespaces(input, h);
  const mounts = containerMounts(input, { privileged, ipc });

  const devices: Device[] = [];
  let deviceRules: DeviceCgroup[] = privileged ? [{ allow: true, access: "rwm" }] : [...DEFAULT_DEVICE_RULES];
  if (privileged) devices.push(...hostDevices());
  for (const m of h.Devices ?? []) {
    for (const d of devicesFromMapping(m)) {
      const at = devices.findIndex((x) => x.path === d.device.path);
      if (at >= 0) devices.splice(at, 1);
      devices.push(d.device);
      if (!privileged) deviceRules = [...deviceRules, d.rule];
    }
  }

  const resources = containerResources(h, input.swapLimit ?? hostSwapLimit(), warnings);
  resources.devices = deviceRules;

  const rlimits = containerRlimits(input.defaultUlimits ?? [], h.Ulimits ?? []);
  const sysctl = containerSysctls(h.Sysctls ?? {}, { hostIpc: ipc === "host", hostNet: isHostNetwork(input), utsHost });
  if (h.OomScoreAdj !== undefined && (!Number.isInteger(h.OomScoreAdj) || h.OomScoreAdj < -1000 || h.OomScoreAdj > 1000))
    throw invalidArgument(`invalid OomScoreAdj ${h.OomScoreAdj}: the range is -1000 to 1000`);

  let seccomp: Seccomp | undefined;
  if (!privileged && security.seccomp !== "unconfined") {
    seccomp =
      security.seccomp === "default"
        ? defaultSeccompProfile(caps, input.seccomp)
        : convertSeccompProfile(security.seccomp, caps, input.seccomp);
  }

  const spec: Spec = {
    ociVersion: OCI_VERSION,
    process: {
      terminal: config.Tty === true,
      user: { uid: input.user.uid, gid: input.user.gid, additionalGids: input.user.additionalGids },
      args,
      env,
      cwd,
      // not inheritable (CVE-2022-24769) nor ambient: a non-root user gains them only from file capabilities
      capabilities: { bounding: [...caps], effective: [...caps], permitted: [...caps] },
      ...(rlimits.length > 0 ? { rlimits } : {}),
      ...(security.noNewPrivileges ? { noNewPrivileges: true } : {}),
      ...(h.OomScoreAdj !== undefined ? { oomScoreAdj: h.OomScoreAdj } : {}),
    },
    root: { path: input.rootfs, readonly: h.ReadonlyRootfs === true },
    ...(utsHost ? {} : { hostname }),
    ...(!utsHost && config.Domainname ? { domainname: config.Domainname } : {}),
    mounts,
    linux: {
      namespaces,
      cgroupsPath: cgroupsPath(id, h.CgroupParent || input.cgroupParent || "/berth"),
      resources,
      ...(devices.length > 0 ? { devices } : {}),
      ...(Object.keys(sysctl).length > 0 ? { sysctl } : {}),
      ...(seccomp ? { seccomp } : {}),
      ...(privileged || security.systemPathsUnconfined
        ? {}
        : { maskedPaths: [...DEFAULT_MASKED_PATHS], readonlyPaths: [...DEFAULT_READONLY_PATHS] }),
      ...rootfsPropagation(mounts),
    },
  };
  return { spec, warnings };
}

/**
 * The container's hostname as Docker picks it: the request's, else the host's when the
 * container shares the host's network or UTS namespace, else the first 12 digits of its id.
 */
export function containerHostname(id: string, config: ContainerConfig, hostConfig: HostConfig): string {
  if (config.Hostname) return config.Hostname;
  if (hostConfig.NetworkMode === "host" || hostConfig.UTSMode === "host") return osHostname();
  return id.slice(0, 12);
}

function validateHostname(name: string): void {
  // sethostname(2) takes at most 64 bytes; the name goes into /etc/hosts, so no white space
  if (name.length === 0 || Buffer.byteLength(name) > 64 || !/^[a-zA-Z0-9_.-]+$/.test(name) || name.startsWith("-"))
    throw invalidArgument(`invalid hostname "${name}": at most 64 of letters, digits, "-", "_" and "."`);
}

/**
 * Docker's command: Entrypoint + Cmd. A request Entrypoint replaces the image's, and then the
 * image's Cmd is dropped too (a new entrypoint would not know what to do with it); a request
 * Cmd replaces the image's. `Entrypoint: []` clears the image's entrypoint but keeps its Cmd;
 * `[""]` (the CLI's `--entrypoint ""`) clears both.
 */
export function containerArgs(image: ImageRunConfig | undefined, config: ContainerConfig): string[] {
  const ep: string[] | null | undefined = config.Entrypoint;
  const cmd = config.Cmd ?? [];
  let entrypoint: string[];
  let args: string[];
  if (ep === undefined || ep === null || ep.length === 0) {
    entrypoint = ep ?? image?.Entrypoint ?? [];
    args = cmd.length > 0 ? cmd : (image?.Cmd ?? []);
  } else {
    entrypoint = ep.length === 1 && ep[0] === "" ? [] : ep;
    args = cmd;
  }
  const all = [...entrypoint, ...args];
  if (all.length === 0 || all[0] === "") throw invalidArgument("no command specified");
  for (const a of all) if (a.includes("\0")) throw invalidArgument("command arguments may not contain NUL bytes");
  return all;
}

const envKey = (e: string) => {
  const i = e.indexOf("=");
  return i < 0 ? e : e.slice(0, i);
};

/**
 * The environment as Docker builds it: PATH, HOSTNAME (and TERM=xterm with a tty) first,
 * each replaced in place when the image or request sets it; then the request's variables,
 * then the image's that the request does not set. A request entry without "=" unsets the
 * variable. HOME comes last, from passwd, when nothing set it.
 */
export function containerEnv(imageEnv: string[], requestEnv: string[], hostname: string, tty: boolean, home: string): string[] {
  for (const e of [...imageEnv, ...requestEnv]) {
    if (envKey(e) === "") throw invalidArgument(`invalid environment variable "${e}": empty name`);
    if (e.includes("\0")) throw invalidArgument(`invalid environment variable "${envKey(e)}": contains a NUL byte`);
  }
  const requested = new Set(requestEnv.map(envKey));
  const merged = [...requestEnv, ...imageEnv.filter((e) => !requested.has(envKey(e)))];
  const out: (string | undefined)[] = [`PATH=${DEFAULT_PATH}`, `HOSTNAME=${hostname}`];
  if (tty) out.push("TERM=xterm");
  const index = new Map(out.map((e, i) => [envKey(e as string), i]));
  for (const e of merged) {
    const k = envKey(e);
    const i = index.get(k);
    if (!e.includes("=")) {
      if (i !== undefined) out[i] = undefined;
      continue;
    }
    if (i !== undefined) out[i] = e;
    else {
      index.set(k, out.length);
      out.push(e);
    }
  }
  const env = out.filter((e): e is string => e !== undefined);
  if (!env.some((e) => envKey(e) === "HOME")) env.push(`HOME=${home || "/"}`);
  return env;
}

function containerCwd(image: ImageRunConfig | undefined, config: ContainerConfig): string {
  const dir = config.WorkingDir || image?.WorkingDir || "/";
  if (!posix.isAbsolute(dir)) throw invalidArgument(`the working directory "${dir}" is invalid: it needs to be an absolute path`);
  return posix.normalize(dir).replace(/(.)\/+$/, "$1");
}

/**
 * The capabilities a privileged container (or CapAdd "ALL") gets: every one berth knows that
 * this daemon can grant, i.e. that is in its own bounding set. Where the daemon itself runs
 * with some dropped (in a container, under a restricted VM), asking for more would only make
 * capset(2) fail in the runtime (containerd does the same).
 */
function allCapabilities(): string[] {
  let bounding = (1n << 64n) - 1n;
  try {
    const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync("/proc/self/status", "utf8"));
    if (m?.[1] !== undefined) bounding = BigInt(`0x${m[1]}`);
  } catch (err) {
    // no /proc (a test chroot): every capability berth knows; the runtime drops those the kernel lacks
    if (errnoCode(err) !== "ENOENT") throw internal("read the daemon's capabilities from /proc/self/status", err);
  }
  return Object.entries(CAPABILITIES)
    .filter(([, n]) => (bounding >> BigInt(n)) & 1n)
    .map(([name]) => name);
}

/** "net_admin", "CAP_NET_ADMIN", "Net_Admin" -> "CAP_NET_ADMIN"; "all" -> "ALL". */
function normalizeCapability(c: string): string {
  const u = c.trim().toUpperCase();
  if (u === "ALL") return u;
  const name = u.startsWith("CAP_") ? u : `CAP_${u}`;
  if (CAPABILITIES[name] === undefined) throw invalidArgument(`unknown capability: "${c}"`);
  return name;
}

/**
 * The capability set: all with Privileged; else Docker's defaults less CapDrop plus CapAdd,
 * where CapAdd "ALL" starts from every capability (then less CapDrop) and CapDrop "ALL"
 * keeps only CapAdd.
 */
export function containerCapabilities(capAdd: string[], capDrop: string[], privileged: boolean): string[] {
  const add = capAdd.map(normalizeCapability);
  const drop = capDrop.map(normalizeCapability);
  if (privileged) return allCapabilities();
  let caps: string[];
  if (add.includes("ALL")) caps = allCapabilities().filter((c) => !drop.includes(c));
  else if (drop.includes("ALL")) caps = add;
  else caps = [...DEFAULT_CAPABILITIES.filter((c) => !drop.includes(c)), ...add];
  return [...new Set(caps)];
}

interface SecurityOpts {
  seccomp: "default" | "unconfined" | unknown;
  noNewPrivileges: boolean;
  systemPathsUnconfined: boolean;
}

/** HostConfig.SecurityOpt: "key=value" (or the older "key:value"), and the bare "no-new-privileges". */
function parseSecurityOpts(opts: string[]): SecurityOpts {
  const out: SecurityOpts = { seccomp: "default", noNewPrivileges: false, systemPathsUnconfined: false };
  for (const opt of opts) {
    if (opt === "no-new-privileges") {
      out.noNewPrivileges = true;
      continue;
    }
    let sep = opt.indexOf("=");
    if (sep < 0) sep = opt.indexOf(":");
    if (sep <= 0) throw invalidArgument(`invalid SecurityOpt "${opt}": expected "key=value"`);
    const key = opt.slice(0, sep);
    const value = opt.slice(sep + 1);
    switch (key) {
      case "seccomp":
        if (value === "unconfined") out.seccomp = "unconfined";
        else if (value === "" || value === "builtin") out.seccomp = "default";
        else {
          try {
            out.seccomp = JSON.parse(value);
          } catch (err) {
            throw invalidArgument("decoding seccomp profile failed: SecurityOpt seccomp= takes the profile's JSON", err);
          }
        }
        break;
      case "no-new-privileges":
        if (value !== "true" && value !== "false")
          throw invalidArgument(`invalid SecurityOpt "${opt}": no-new-privileges takes true or false`);
        out.noNewPrivileges = value === "true";
        break;
      case "systempaths":
        if (value !== "unconfined") throw invalidArgument(`invalid SecurityOpt "${opt}": systempaths takes only "unconfined"`);
        out.systemPathsUnconfined = true;
        break;
      case "apparmor":
        // berth applies no AppArmor profile, so "unconfined" is what every container already is
        if (value !== "unconfined")
          throw invalidArgument(`invalid SecurityOpt "${opt}": berth does not support AppArmor profiles`);
        break;
      case "label":
        // likewise for SELinux labels: "disable" asks for what berth does anyway
        if (value !== "disable") throw invalidArgument(`invalid SecurityOpt "${opt}": berth does not support SELinux labels`);
        break;
      default:
        throw invalidArgument(`invalid SecurityOpt "${opt}": unknown option "${key}"`);
    }
  }
  return out;
}

/** Node's process.arch as Go's GOARCH, which a Docker profile's includes/excludes name. */
const GOARCH: Record<string, string> = {
  x64: "amd64",
  ia32: "386",
  arm64: "arm64",
  arm: "arm",
  ppc64: "ppc64le",
  s390x: "s390x",
  riscv64: "riscv64",
  loong64: "loong64",
};
/** Node's process.arch as libseccomp's native architecture, which a Docker profile's archMap names. */
const SCMP_ARCH: Record<string, string> = {
  x64: "SCMP_ARCH_X86_64",
  ia32: "SCMP_ARCH_X86",
  arm64: "SCMP_ARCH_AARCH64",
  arm: "SCMP_ARCH_ARM",
  ppc64: "SCMP_ARCH_PPC64LE",
  s390x: "SCMP_ARCH_S390X",
  riscv64: "SCMP_ARCH_RISCV64",
  loong64: "SCMP_ARCH_LOONGARCH64",
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === "string");

function kernelAtLeast(release: string, min: string): boolean {
  const a = release.split(/[.-]/).map((x) => Number.parseInt(x, 10) || 0);
  const b = min.split(".").map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x > y;
  }
  return true;
}

/**
 * A seccomp profile from SecurityOpt, in Docker's format (a superset of the OCI one: `archMap`,
 * `name`, and `includes`/`excludes` conditions on architecture, capabilities and kernel version)
 * or the OCI one, as the OCI `linux.seccomp` for this host and these capabilities.
 */
export function convertSeccompProfile(profile: unknown, caps: string[], o: DefaultProfileOptions = {}): Seccomp {
  const bad = (msg: string) => invalidArgument(`invalid seccomp profile: ${msg}`);
  if (!isObject(profile)) throw bad("expected a JSON object");
  const arch = o.arch ?? process.arch;
  const kernel = o.kernel ?? release();
  const p = profile;
  if (typeof p.defaultAction !== "string" || !SUPPORTED_ACTIONS.includes(p.defaultAction))
    throw bad(`defaultAction ${JSON.stringify(p.defaultAction)} is not one of ${SUPPORTED_ACTIONS.join(", ")}`);
  const out: Seccomp = { defaultAction: p.defaultAction };
  if (p.defaultErrnoRet !== undefined) {
    if (!Number.isInteger(p.defaultErrnoRet)) throw bad("defaultErrnoRet must be an integer");
    out.defaultErrnoRet = p.defaultErrnoRet as number;
  }

  const archs = p.architectures ?? [];
  const archMap = p.archMap ?? [];
  if (!isStringArray(archs)) throw bad("architectures must be a list of names");
  if (!Array.isArray(archMap)) throw bad("archMap must be a list");
  if (archs.length > 0 && archMap.length > 0)
    throw bad("'architectures' and 'archMap' were both specified; use either 'architectures' or 'archMap'");
  if (archs.length > 0) out.architectures = archs;
  for (const m of archMap) {
    if (!isObject(m) || typeof m.architecture !== "string") throw bad("archMap entries need an architecture");
    const sub = m.subArchitectures ?? [];
    if (!isStringArray(sub)) throw bad("archMap subArchitectures must be a list of names");
    if (m.architecture === SCMP_ARCH[arch]) out.architectures = [m.architecture, ...sub];
  }
  if (p.flags !== undefined) {
    if (!isStringArray(p.flags)) throw bad("flags must be a list of names");
    for (const f of p.flags) if (!SUPPORTED_FLAGS.includes(f)) throw bad(`unknown flag "${f}"`);
    if (p.flags.length > 0) out.flags = p.flags;
  }
  if (typeof p.listenerPath === "string" && p.listenerPath !== "") out.listenerPath = p.listenerPath;
  if (typeof p.listenerMetadata === "string" && p.listenerMetadata !== "") out.listenerMetadata = p.listenerMetadata;

  const goarch = GOARCH[arch] ?? arch;
  const syscalls: SeccompSyscall[] = [];
  const list = p.syscalls ?? [];
  if (!Array.isArray(list)) throw bad("syscalls must be a list");
  list.forEach((s: unknown, i: number) => {
    const at = `syscalls[${i}]`;
    if (!isObject(s)) throw bad(`${at} is not an object`);
    const inc = s.includes ?? {};
    const exc = s.excludes ?? {};
    if (!isObject(inc) || !isObject(exc)) throw bad(`${at}: includes and excludes must be objects`);
    for (const [k, v] of [...Object.entries(inc), ...Object.entries(exc)])
      if (k !== "minKernel" && !isStringArray(v)) throw bad(`${at}: ${k} must be a list of names`);
    if (isStringArray(inc.arches) && inc.arches.length > 0 && !inc.arches.includes(goarch)) return;
    if (isStringArray(inc.caps) && !inc.caps.every((c) => caps.includes(c))) return;
    if (inc.minKernel !== undefined) {
      if (typeof inc.minKernel !== "string" || !/^\d+(\.\d+)*$/.test(inc.minKernel))
        throw bad(`${at}: minKernel must be a version such as "4.8"`);
      if (!kernelAtLeast(kernel, inc.minKernel)) return;
    }
    if (isStringArray(exc.arches) && exc.arches.includes(goarch)) return;
    if (isStringArray(exc.caps) && exc.caps.some((c) => caps.includes(c))) return;

    if (s.name !== undefined && s.names !== undefined)
      throw bad(`${at}: 'name' and 'names' were both specified; use either 'name' or 'names'`);
    const names = s.name !== undefined ? [s.name] : (s.names ?? []);
    if (!isStringArray(names) || names.length === 0 || names.some((n) => n === ""))
      throw bad(`${at}: names must be a non-empty list of syscall names`);
    if (typeof s.action !== "string" || !SUPPORTED_ACTIONS.includes(s.action))
      throw bad(`${at}: action ${JSON.stringify(s.action)} is not one of ${SUPPORTED_ACTIONS.join(", ")}`);
    const call: SeccompSyscall = { names, action: s.action };
    if (s.errnoRet !== undefined) {
      if (!Number.isInteger(s.errnoRet)) throw bad(`${at}: errnoRet must be an integer`);
      call.errnoRet = s.errnoRet as number;
    }
    if (s.args !== undefined && s.args !== null) {
      if (!Array.isArray(s.args)) throw bad(`${at}: args must be a list`);
      const args: SeccompArg[] = s.args.map((a: unknown, j: number) => {
        if (!isObject(a)) throw bad(`${at}.args[${j}] is not an object`);
        if (!Number.isInteger(a.index) || (a.index as number) < 0 || (a.index as number) > 5)
          throw bad(`${at}.args[${j}]: index must be 0 to 5`);
        if (typeof a.op !== "string" || !SUPPORTED_OPERATORS.includes(a.op))
          throw bad(`${at}.args[${j}]: op ${JSON.stringify(a.op)} is not one of ${SUPPORTED_OPERATORS.join(", ")}`);
        if (typeof a.value !== "number" || (a.valueTwo !== undefined && typeof a.valueTwo !== "number"))
          throw bad(`${at}.args[${j}]: value and valueTwo must be numbers`);
        return {
          index: a.index as number,
          value: a.value,
          op: a.op,
          ...(typeof a.valueTwo === "number" && a.valueTwo !== 0 ? { valueTwo: a.valueTwo } : {}),
        };
      });
      if (args.length > 0) call.args = args;
    }
    syscalls.push(call);
  });
  if (syscalls.length > 0) out.syscalls = syscalls;
  return out;
}

type NamespaceMode = "private" | "host" | "container" | "none";

/** "", "private", "host", "container:<id>" (and, for IPC, "shareable" and "none"). */
function namespaceMode(mode: string | undefined, field: string, ipc: boolean): NamespaceMode {
  const m = mode ?? "";
  if (m === "" || m === "private" || (ipc && m === "shareable")) return "private";
  if (m === "host") return "host";
  if (ipc && m === "none") return "none";
  if (field !== "UTSMode" && m.startsWith("container:") && m.length > "container:".length) return "container";
  throw invalidArgument(`invalid ${field} "${m}"`);
}

function isHostNetwork(input: ContainerSpecInput): boolean {
  return input.netns === "host" || input.hostConfig.NetworkMode === "host";
}

function containerNamespaces(input: ContainerSpecInput, h: HostConfig): { namespaces: Namespace[]; ipc: NamespaceMode } {
  const namespaces: Namespace[] = [];
  const joined = input.containerNamespaces ?? {};
  const join = (type: "pid" | "ipc", field: string, mode: string | undefined) => {
    const path = joined[type];
    if (path === undefined || !posix.isAbsolute(path))
      throw failedPrecondition(`${field} "${mode}": the namespace of that container is not known (containerNamespaces.${type})`);
    namespaces.push({ type, path });
  };

  const pid = namespaceMode(h.PidMode, "PidMode", false);
  if (pid === "private") namespaces.push({ type: "pid" });
  else if (pid === "container") join("pid", "PidMode", h.PidMode);

  const ipc = namespaceMode(h.IpcMode, "IpcMode", true);
  if (ipc === "private" || ipc === "none") namespaces.push({ type: "ipc" });
  else if (ipc === "container") join("ipc", "IpcMode", h.IpcMode);

  if (namespaceMode(h.UTSMode, "UTSMode", false) !== "host") namespaces.push({ type: "uts" });
  namespaces.push({ type: "mount" });

  if (h.NetworkMode === "host" && input.netns !== undefined && input.netns !== "host")
    throw invalidArgument(`NetworkMode host conflicts with the network namespace "${input.netns}"`);
  if (!isHostNetwork(input)) {
    if (input.netns === undefined) namespaces.push({ type: "network" });
    else if (posix.isAbsolute(input.netns)) namespaces.push({ type: "network", path: input.netns });
    else throw invalidArgument(`network namespace "${input.netns}" is neither "host" nor an absolute path`);
  }
  // Docker's default: a private cgroup namespace on cgroup v2 hosts, the host's on v1
  if (input.cgroupNamespace ?? hostCgroups().mode === "unified") namespaces.push({ type: "cgroup" });
  return { namespaces, ipc };
}

/** Whether the host can limit memory+swap (cgroup v1 needs swap accounting: swapaccount=1). */
function hostSwapLimit(): boolean {
  const { hierarchies, mode } = hostCgroups();
  if (mode === "unified") return true;
  const mem = hierarchies.find((x) => x.version === 1 && x.controllers.includes("memory"));
  return mem !== undefined && existsSync(posix.join(mem.mountpoint, "memory.memsw.limit_in_bytes"));
}

/** A cleaned absolute container path for a mount destination. */
function mountDestination(dest: string | undefined, what: string): string {
  if (dest === undefined || dest === "") throw invalidArgument(`${what}: empty mount destination`);
  if (!posix.isAbsolute(dest)) throw invalidArgument(`${what}: mount destination "${dest}" is not an absolute path`);
  if (dest.includes("\0")) throw invalidArgument(`${what}: mount destination contains a NUL byte`);
  const clean = posix.normalize(dest).replace(/(.)\/+$/, "$1");
  if (clean === "/") throw invalidArgument(`${what}: invalid mount destination "/": cannot mount over the root`);
  return clean;
}

const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
const PROPAGATIONS = ["private", "rprivate", "shared", "rshared", "slave", "rslave"];

/** The families of mount options where a later one cancels an earlier one. */
const OPTION_FAMILY: Record<string, string> = {
  ro: "ro",
  rw: "ro",
  exec: "exec",
  noexec: "exec",
  suid: "suid",
  nosuid: "suid",
  dev: "dev",
  nodev: "dev",
  atime: "atime",
  noatime: "atime",
  relatime: "atime",
  strictatime: "atime",
  diratime: "diratime",
  nodiratime: "diratime",
  sync: "sync",
  async: "sync",
  tmpcopyup: "tmpcopyup",
  ...Object.fromEntries(PROPAGATIONS.map((p) => [p, "propagation"])),
};
const TMPFS_DATA = new Set(["size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol", "huge"]);

/** Options in order, a later one replacing an earlier one of its family (or its data key). */
function mergeOptions(options: string[]): string[] {
  const family = (o: string) => OPTION_FAMILY[o] ?? (o.includes("=") ? `data:${o.slice(0, o.indexOf("="))}` : o);
  const out: string[] = [];
  for (const o of options) {
    const f = family(o);
    const at = out.findIndex((x) => family(x) === f);
    if (at >= 0) out.splice(at, 1);
    out.push(o);
  }
  return out;
}

/** Validate tmpfs options ("size=64m,mode=1777,exec"); Docker mounts tmpfs noexec,nosuid,nodev unless told otherwise. */
function tmpfsOptions(data: string[], what: string): string[] {
  for (const o of data) {
    const eq = o.indexOf("=");
    if (eq < 0) {
      if (OPTION_FAMILY[o] === undefined || PROPAGATIONS.includes(o))
        throw invalidArgument(`${what}: unknown tmpfs option "${o}"`);
      continue;
    }
    const key = o.slice(0, eq);
    const value = o.slice(eq + 1);
    if (!TMPFS_DATA.has(key)) throw invalidArgument(`${what}: unknown tmpfs option "${o}"`);
    const ok =
      key === "size" || key === "nr_blocks" || key === "nr_inodes"
        ? /^\d+[kKmMgGtTpPeE%]?$/.test(value)
        : key === "mode"
          ? /^[0-7]{1,4}$/.test(value)
          : key === "uid" || key === "gid"
            ? /^\d+$/.test(value)
            : value !== "";
    if (!ok) throw invalidArgument(`${what}: invalid tmpfs option "${o}"`);
  }
  return data;
}

interface MountFlags {
  privileged: boolean;
  ipc: NamespaceMode;
}

/**
 * The mounts in Docker's order: its defaults (less those a request mount replaces), then the
 * /etc files and the request's mounts sorted so that a parent is mounted before its children,
 * then the init.
 */
function containerMounts(input: ContainerSpecInput, f: MountFlags): Mount[] {
  const h = input.hostConfig;
  const user = requestMounts(input);
  const taken = new Set(user.map((m) => m.destination));

  const shmSize = h.ShmSize ?? 0;
  if (!Number.isInteger(shmSize) || shmSize < 0)
    throw invalidArgument(`invalid ShmSize ${h.ShmSize}: it must be 0 or more bytes`);
  let shm: Mount | undefined = {
    destination: "/dev/shm",
    type: "tmpfs",
    source: "shm",
    options: ["nosuid", "noexec", "nodev", "mode=1777", `size=${shmSize || DEFAULT_SHM_SIZE}`],
  };
  // sharing another IPC namespace means sharing its POSIX shared memory too, which lives in /dev/shm
  let sharedShm: string | undefined;
  if (f.ipc === "host") sharedShm = "/dev/shm";
  else if (f.ipc === "container") {
    sharedShm = input.containerNamespaces?.shm;
    if (sharedShm === undefined || !posix.isAbsolute(sharedShm))
      throw failedPrecondition(`IpcMode "${h.IpcMode}": the /dev/shm of that container is not known (containerNamespaces.shm)`);
  }
  if (f.ipc === "private" && input.shmPath !== undefined) sharedShm = input.shmPath;
  if (sharedShm !== undefined)
    shm = { destination: "/dev/shm", type: "bind", source: sharedShm, options: ["rbind", "nosuid", "noexec", "nodev"] };
  if (f.ipc === "none") shm = undefined;

  const ro = f.privileged ? [] : ["ro"];
  const defaults: Mount[] = [
    { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
    { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
    {
      destination: "/dev/pts",
      type: "devpts",
      source: "devpts",
      options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
    },
    { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", ...ro] },
    {
      destination: "/sys/fs/cgroup",
      type: "cgroup",
      source: "cgroup",
      options: ["nosuid", "noexec", "nodev", "relatime", ...ro],
    },
    { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
    ...(shm ? [shm] : []),
  ].filter((m) => !taken.has(m.destination) && !(taken.has("/dev") && m.destination.startsWith("/dev/")));

  const etcOptions = ["rbind", "rprivate", ...(h.ReadonlyRootfs ? ["ro"] : [])];
  const etc: Mount[] = [
    { destination: "/etc/resolv.conf", type: "bind", source: input.files.resolvConf, options: [...etcOptions] },
    { destination: "/etc/hostname", type: "bind", source: input.files.hostname, options: [...etcOptions] },
    { destination: "/etc/hosts", type: "bind", source: input.files.hosts, options: [...etcOptions] },
  ].filter((m) => !taken.has(m.destination));
  for (const m of etc)
    if (!posix.isAbsolute(m.source ?? "")) throw invalidArgument(`container file "${m.source}" is not an absolute path`);

  const depth = (m: Mount) => m.destination.split("/").length;
  const ordered = [...etc, ...user].sort((a, b) => depth(a) - depth(b));

  const init: Mount[] = [];
  if (h.Init) {
    if (input.initPath === undefined) throw failedPrecondition("Init was requested but the daemon has no init binary configured");
    if (!posix.isAbsolute(input.initPath)) throw invalidArgument(`init binary path "${input.initPath}" is not absolute`);
    init.push({ destination: INIT_PATH, type: "bind", source: input.initPath, options: ["bind", "ro"] });
  }
  return [...defaults, ...ordered, ...init];
}

/** Binds, Mounts, Tmpfs and the anonymous volumes of Volumes, as OCI mounts; each destination once. */
function requestMounts(input: ContainerSpecInput): Mount[] {
  const h = input.hostConfig;
  const out: Mount[] = [];
  const add = (m: Mount) => {
    if (out.some((x) => x.destination === m.destination)) throw invalidArgument(`duplicate mount point: ${m.destination}`);
    out.push(m);
  };
  const volume = (v: VolumeRequest, what: string): string => {
    if (input.volumePath === undefined) throw failedPrecondition(`${what}: volumes are not available here`);
    const p = input.volumePath(v);
    if (!posix.isAbsolute(p)) throw internal(`${what}: volume path "${p}" is not absolute`);
    return p;
  };

  for (const b of h.Binds ?? []) add(parseBind(b, volume));
  (h.Mounts ?? []).forEach((m, i) => add(parseMountSpec(m, `Mounts[${i}]`, volume)));
  for (const [dest, opts] of Object.entries(h.Tmpfs ?? {})) {
    const what = `Tmpfs "${dest}"`;
    const data = opts === "" ? ["size=65536k"] : tmpfsOptions(opts.split(","), what);
    add({
      destination: mountDestination(dest, what),
      type: "tmpfs",
      source: "tmpfs",
      options: mergeOptions(["noexec", "nosuid", "nodev", "rprivate", ...data]),
    });
  }
  const anonymous = new Set([...Object.keys(input.image?.Volumes ?? {}), ...Object.keys(input.config.Volumes ?? {})]);
  for (const v of anonymous) {
    const what = `volume "${v}"`;
    const destination = mountDestination(v, what);
    if (out.some((m) => m.destination === destination)) continue;
    const source = volume({ name: undefined, destination, readOnly: false, noCopy: false }, what);
    out.push({ destination, type: "bind", source, options: ["rbind", "rprivate"] });
  }
  return out;
}

/** A Binds entry: "/host:/ctr[:opts]" (a bind) or "name:/ctr[:opts]" (a named volume). */
function parseBind(spec: string, volume: (v: VolumeRequest, what: string) => string): Mount {
  const what = `Binds "${spec}"`;
  const parts = spec.split(":");
  if (parts.length < 2 || parts.length > 3 || parts[0] === "")
    throw invalidArgument(`invalid volume specification ${what}: expected "source:destination[:options]"`);
  const [src = "", dst = "", opts = ""] = parts;
  const destination = mountDestination(dst, what);
  let readOnly = false;
  let mode: string | undefined;
  let propagation: string | undefined;
  let noCopy = false;
  for (const o of opts === "" ? [] : opts.split(",")) {
    if (o === "ro" || o === "rw") {
      if (mode !== undefined) throw invalidArgument(`invalid mode in ${what}: "${mode}" and "${o}"`);
      mode = o;
      readOnly = o === "ro";
    } else if (PROPAGATIONS.includes(o)) {
      if (propagation !== undefined) throw invalidArgument(`invalid mode in ${what}: "${propagation}" and "${o}"`);
      propagation = o;
    } else if (o === "nocopy") noCopy = true;
    else if (o === "z" || o === "Z") {
      // SELinux relabelling: berth sets no labels, so there is nothing to relabel
    } else throw invalidArgument(`invalid mode in ${what}: "${o}"`);
  }
  const ro = readOnly ? ["ro"] : [];
  if (posix.isAbsolute(src)) {
    if (noCopy) throw invalidArgument(`invalid mode in ${what}: "nocopy" applies only to volumes`);
    // Docker's -v creates a missing host directory (unlike Mounts, which refuses)
    try {
      mkdirSync(src, { recursive: true, mode: 0o755 });
    } catch (err) {
      throw invalidArgument(`${what}: create the bind source "${src}"`, err);
    }
    return { destination, type: "bind", source: src, options: ["rbind", propagation ?? "rprivate", ...ro] };
  }
  if (!VOLUME_NAME.test(src))
    throw invalidArgument(
      `${what}: "${src}" includes invalid characters for a local volume name, only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed; ` +
        "to mount a host directory, use an absolute path",
    );
  if (propagation !== undefined) throw invalidArgument(`invalid mode in ${what}: propagation applies only to bind mounts`);
  const source = volume({ name: src, destination, readOnly, noCopy }, what);
  return { destination, type: "bind", source, options: ["rbind", "rprivate", ...ro] };
}

/** A Mounts entry (`--mount`). */
function parseMountSpec(m: MountSpec, what: string, volume: (v: VolumeRequest, what: string) => string): Mount {
  const destination = mountDestination(m.Target, what);
  const ro = m.ReadOnly ? ["ro"] : [];
  switch (m.Type) {
    case "bind": {
      const src = m.Source ?? "";
      if (!posix.isAbsolute(src)) throw invalidArgument(`${what}: bind source "${src}" is not an absolute path`);
      if (m.TmpfsOptions !== undefined) throw invalidArgument(`${what}: TmpfsOptions do not apply to a bind mount`);
      if (!existsSync(src)) throw invalidArgument(`${what}: bind source path does not exist: ${src}`);
      const prop = m.BindOptions?.Propagation || "rprivate";
      if (!PROPAGATIONS.includes(prop)) throw invalidArgument(`${what}: invalid propagation "${prop}"`);
      return { destination, type: "bind", source: src, options: ["rbind", prop, ...ro] };
    }
    case "volume": {
      if (m.BindOptions !== undefined) throw invalidArgument(`${what}: BindOptions do not apply to a volume`);
      if (m.TmpfsOptions !== undefined) throw invalidArgument(`${what}: TmpfsOptions do not apply to a volume`);
      const name = m.Source || undefined;
      if (name !== undefined && !VOLUME_NAME.test(name))
        throw invalidArgument(`${what}: invalid volume name "${name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
      const source = volume({ name, destination, readOnly: m.ReadOnly === true, noCopy: m.VolumeOptions?.NoCopy === true }, what);
      return { destination, type: "bind", source, options: ["rbind", "rprivate", ...ro] };
    }
    case "tmpfs": {
      if (m.Source) throw invalidArgument(`${what}: a tmpfs mount takes no Source`);
      if (m.BindOptions !== undefined) throw invalidArgument(`${what}: BindOptions do not apply to a tmpfs mount`);
      const data: string[] = [];
      const size = m.TmpfsOptions?.SizeBytes;
      if (size !== undefined && size !== 0) {
        if (!Number.isInteger(size) || size < 0) throw invalidArgument(`${what}: invalid tmpfs size ${size}`);
        data.push(`size=${size}`);
      }
      const mode = m.TmpfsOptions?.Mode;
      if (mode !== undefined && mode !== 0) {
        if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw invalidArgument(`${what}: invalid tmpfs mode ${mode}`);
        data.push(`mode=${mode.toString(8)}`);
      }
      return {
        destination,
        type: "tmpfs",
        source: "tmpfs",
        options: mergeOptions(["noexec", "nosuid", "nodev", ...data, ...ro]),
      };
    }
    default:
      throw invalidArgument(`${what}: unknown mount type "${(m as { Type: unknown }).Type}"`);
  }
}

/** The rootfs propagation a shared or slave bind needs: its mount must propagate from the root down. */
function rootfsPropagation(mounts: Mount[]): { rootfsPropagation?: string } {
  const opts = mounts.filter((m) => m.type === "bind").flatMap((m) => m.options ?? []);
  if (opts.some((o) => o === "shared" || o === "rshared")) return { rootfsPropagation: "shared" };
  if (opts.some((o) => o === "slave" || o === "rslave")) return { rootfsPropagation: "rslave" };
  return {};
}

/** The cgroup of the container: `<parent>/<id>`, the parent made absolute. */
function cgroupsPath(id: string, parent: string): string {
  if (parent.split("/").includes("..")) throw invalidArgument(`invalid CgroupParent "${parent}": ".." is not allowed`);
  return posix.join("/", parent, id);
}

/** Linux's major and minor from st_rdev (glibc's gnu_dev_major/minor). */
function majorMinor(st: BigIntStats): { major: number; minor: number } {
  const d = st.rdev;
  return {
    major: Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & 0xfffff000n)),
    minor: Number((d & 0xffn) | ((d >> 12n) & 0xffffff00n)),
  };
}

function deviceOf(st: BigIntStats, path: string): Device | undefined {
  const type = st.isCharacterDevice() ? "c" : st.isBlockDevice() ? "b" : undefined;
  if (type === undefined) return undefined;
  return { type, path, ...majorMinor(st), fileMode: Number(st.mode & 0o777n), uid: Number(st.uid), gid: Number(st.gid) };
}

/** Every device node under `dir` (not following symlinks), with its path relative to `dir`. */
function walkDevices(dir: string, skip: (rel: string, isDir: boolean) => boolean): { rel: string; st: BigIntStats }[] {
  const out: { rel: string; st: BigIntStats }[] = [];
  const visit = (rel: string) => {
    let names: string[];
    try {
      names = readdirSync(posix.join(dir, rel));
    } catch (err) {
      // a directory that vanished or that even root may not list (a FUSE mount): no devices there
      if (["ENOENT", "EACCES", "EPERM"].includes(errnoCode(err) ?? "")) return;
      throw internal(`list devices under "${posix.join(dir, rel)}"`, err);
    }
    for (const name of names.sort()) {
      const r = posix.join(rel, name);
      let st: BigIntStats;
      try {
        st = lstatSync(posix.join(dir, r), { bigint: true });
      } catch (err) {
        // removed since the listing (udev at work)
        if (errnoCode(err) === "ENOENT") continue;
        throw internal(`stat device "${posix.join(dir, r)}"`, err);
      }
      if (skip(r, st.isDirectory())) continue;
      if (st.isDirectory()) visit(r);
      else if (st.isCharacterDevice() || st.isBlockDevice()) out.push({ rel: r, st });
    }
  };
  visit("");
  return out;
}

/** The host's devices, for a privileged container (Docker gives it all of /dev but the pty and shm instances). */
function hostDevices(): Device[] {
  const skipDirs = new Set(["pts", "shm", "mqueue", "fd", ".lxc", ".lxd-mounts", ".udev"]);
  return walkDevices("/dev", (rel, isDir) => (isDir ? skipDirs.has(rel) : rel === "console"))
    .map((d) => deviceOf(d.st, posix.join("/dev", d.rel)))
    .filter((d): d is Device => d !== undefined);
}

/** A HostConfig.Devices entry: the host node (or every node under a host directory) and its cgroup rule. */
function devicesFromMapping(m: DeviceMapping): { device: Device; rule: DeviceCgroup }[] {
  const what = `device "${m.PathOnHost}"`;
  const access = m.CgroupPermissions || "rwm";
  if (!/^[rwm]{1,3}$/.test(access) || new Set(access).size !== access.length)
    throw invalidArgument(`${what}: invalid cgroup permissions "${access}": a combination of r, w and m`);
  if (!posix.isAbsolute(m.PathOnHost ?? "")) throw invalidArgument(`${what}: the host path must be absolute`);
  const dest = m.PathInContainer || m.PathOnHost;
  if (!posix.isAbsolute(dest)) throw invalidArgument(`${what}: the container path "${dest}" must be absolute`);
  let st: BigIntStats;
  try {
    st = statSync(m.PathOnHost, { bigint: true });
  } catch (err) {
    throw invalidArgument(`error gathering device information while adding custom ${what}`, err);
  }
  const toRule = (d: Device): DeviceCgroup => ({
    allow: true,
    type: d.type,
    major: d.major as number,
    minor: d.minor as number,
    access,
  });
  if (st.isDirectory()) {
    return walkDevices(m.PathOnHost, () => false).map(({ rel, st: s }) => {
      const device = deviceOf(s, posix.join(dest, rel)) as Device;
      return { device, rule: toRule(device) };
    });
  }
  const device = deviceOf(st, posix.normalize(dest));
  if (device === undefined)
    throw invalidArgument(`error gathering device information while adding custom ${what}: not a device node`);
  return [{ device, rule: toRule(device) }];
}

const CPUSET = /^\d+(-\d+)?(,\d+(-\d+)?)*$/;

function validCpuset(s: string): boolean {
  if (!CPUSET.test(s)) return false;
  return s.split(",").every((r) => {
    const [a, b] = r.split("-").map(Number);
    return b === undefined || (a as number) <= b;
  });
}

/** Docker's resource fields as OCI `linux.resources`, validated as dockerd validates them. */
export function containerResources(h: HostConfig, swapLimit: boolean, warnings: string[]): LinuxResources {
  const r: LinuxResources = {};
  const int = (v: number | undefined, field: string): number => {
    if (v === undefined) return 0;
    if (!Number.isSafeInteger(v)) throw invalidArgument(`invalid ${field} ${v}: expected an integer`);
    return v;
  };

  const memory = int(h.Memory, "Memory");
  const reservation = int(h.MemoryReservation, "MemoryReservation");
  let swap = int(h.MemorySwap, "MemorySwap");
  if (memory < 0) throw invalidArgument(`invalid Memory ${memory}: it must be 0 (unlimited) or more`);
  if (memory > 0 && memory < MIN_MEMORY) throw invalidArgument("minimum memory limit allowed is 6MB");
  if (reservation < 0) throw invalidArgument(`invalid MemoryReservation ${reservation}: it must be 0 or more`);
  if (reservation > 0 && reservation < MIN_MEMORY) throw invalidArgument("minimum memory reservation allowed is 6MB");
  if (memory > 0 && reservation > memory)
    throw invalidArgument("minimum memory limit can not be less than memory reservation limit, see usage");
  if (swap < -1) throw invalidArgument(`invalid MemorySwap ${swap}: it must be -1 (unlimited), 0 or more`);
  if (swap > 0 && memory === 0)
    throw invalidArgument("you should always set the memory limit when using the memoryswap limit, see usage");
  if (swap > 0 && swap < memory) throw invalidArgument("minimum memoryswap limit should be larger than memory limit, see usage");
  // Docker's default: as much swap as memory (memory+swap = twice the limit)
  if (swap === 0 && memory > 0) swap = memory * 2;
  if (swap !== 0 && !swapLimit) {
    if (h.MemorySwap !== undefined && h.MemorySwap !== 0 && h.MemorySwap !== -1)
      warnings.push(
        "Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.",
      );
    swap = 0;
  }
  const swappiness = h.MemorySwappiness;
  if (swappiness !== undefined && swappiness !== -1 && (!Number.isInteger(swappiness) || swappiness < 0 || swappiness > 100))
    throw invalidArgument(`invalid MemorySwappiness ${swappiness}: valid memory swappiness range is 0-100`);
  const mem = {
    ...(memory > 0 ? { limit: memory } : {}),
    ...(reservation > 0 ? { reservation } : {}),
    ...(swap !== 0 ? { swap } : {}),
    ...(swappiness !== undefined && swappiness !== -1 ? { swappiness } : {}),
    ...(h.OomKillDisable ? { disableOOMKiller: true } : {}),
  };
  if (h.OomKillDisable && memory === 0)
    warnings.push(
      "OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.",
    );
  if (Object.keys(mem).length > 0) r.memory = mem;

  const nano = int(h.NanoCpus, "NanoCpus");
  let period = int(h.CpuPeriod, "CpuPeriod");
  let quota = int(h.CpuQuota, "CpuQuota");
  const shares = int(h.CpuShares, "CpuShares");
  if (nano !== 0) {
    if (period !== 0) throw invalidArgument("conflicting options: Nano CPUs and CPU Period cannot both be set");
    if (quota !== 0) throw invalidArgument("conflicting options: Nano CPUs and CPU Quota cannot both be set");
    const ncpu = availableParallelism();
    period = CPU_PERIOD;
    quota = Math.floor((nano * CPU_PERIOD) / 1e9);
    if (nano < 0 || nano > ncpu * 1e9 || quota < 1000)
      throw invalidArgument(`range of CPUs is from 0.01 to ${ncpu}.00, as there are only ${ncpu} CPUs available`);
  }
  if (period !== 0 && (period < 1000 || period > 1_000_000))
    throw invalidArgument(`CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000): ${period}`);
  if (quota !== 0 && quota !== -1 && quota < 1000)
    throw invalidArgument(`CPU cfs quota can not be less than 1ms (i.e. 1000): ${quota}`);
  let cpuShares = shares;
  if (shares < 0) throw invalidArgument(`invalid CpuShares ${shares}: it must be 0 (the default) or more`);
  if (shares > 0 && shares < 2) {
    warnings.push(`Your kernel does not support CPU shares below 2; ${shares} was raised to 2.`);
    cpuShares = 2;
  } else if (shares > 262144) {
    warnings.push(`Your kernel does not support CPU shares above 262144; ${shares} was lowered to 262144.`);
    cpuShares = 262144;
  }
  for (const [field, v] of [
    ["CpusetCpus", h.CpusetCpus],
    ["CpusetMems", h.CpusetMems],
  ] as const)
    if (v !== undefined && v !== "" && !validCpuset(v))
      throw invalidArgument(`invalid ${field} "${v}": expected a list such as "0-3,5"`);
  const cpu = {
    ...(cpuShares > 0 ? { shares: cpuShares } : {}),
    ...(quota !== 0 ? { quota } : {}),
    ...(period !== 0 ? { period } : {}),
    ...(h.CpusetCpus ? { cpus: h.CpusetCpus } : {}),
    ...(h.CpusetMems ? { mems: h.CpusetMems } : {}),
  };
  if (Object.keys(cpu).length > 0) r.cpu = cpu;

  const pids = int(h.PidsLimit, "PidsLimit");
  if (pids > 0) r.pids = { limit: pids }; // 0 and -1 (any negative, as Docker reads it) are unlimited

  const weight = int(h.BlkioWeight, "BlkioWeight");
  if (weight !== 0 && (weight < 10 || weight > 1000))
    throw invalidArgument(`range of blkio weight is from 10 to 1000: ${weight}`);
  if (weight !== 0) r.blockIO = { weight };
  return r;
}

/** Ulimits as rlimits: the daemon's defaults, then the request's, the later winning by name. */
function containerRlimits(defaults: Ulimit[], request: Ulimit[]): Rlimit[] {
  const byType = new Map<string, Rlimit>();
  for (const u of [...defaults, ...request]) {
    const type = `RLIMIT_${String(u.Name).toUpperCase()}`;
    if (RLIMITS[type] === undefined) throw invalidArgument(`invalid ulimit "${u.Name}": unknown resource`);
    const value = (v: number, which: string) => {
      if (!Number.isSafeInteger(v) || v < -1) throw invalidArgument(`invalid ulimit ${u.Name}: ${which} limit ${v}`);
      return v === -1 ? RLIM_INFINITY : v; // -1 is "unlimited"
    };
    const soft = value(u.Soft, "soft");
    const hard = value(u.Hard, "hard");
    if (soft > hard)
      throw invalidArgument(
        `invalid ulimit ${u.Name}: soft limit must be less than or equal to hard limit: ${u.Soft} > ${u.Hard}`,
      );
    byType.set(type, { type, soft, hard });
  }
  return [...byType.values()];
}

/** The IPC sysctls a container's IPC namespace has its own copy of (namespaces(7)). */
const IPC_SYSCTLS = new Set([
  "kernel.msgmax",
  "kernel.msgmnb",
  "kernel.msgmni",
  "kernel.sem",
  "kernel.shmall",
  "kernel.shmmax",
  "kernel.shmmni",
  "kernel.shm_rmid_forced",
]);

/**
 * Sysctls, allowed only where the container has its own copy: IPC ones (not with the host's
 * IPC namespace), net.* (not with the host's network) and kernel.domainname (not with the
 * host's UTS namespace). Anything else would change the host.
 */
function containerSysctls(
  sysctls: Record<string, string>,
  o: { hostIpc: boolean; hostNet: boolean; utsHost: boolean },
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(sysctls)) {
    const k = key.replaceAll("/", ".");
    if (typeof value !== "string") throw invalidArgument(`sysctl "${key}": the value must be a string`);
    if (IPC_SYSCTLS.has(k) || k.startsWith("fs.mqueue.")) {
      if (o.hostIpc) throw invalidArgument(`sysctl "${key}" is not allowed in the host's IPC namespace`);
    } else if (k.startsWith("net.")) {
      if (o.hostNet) throw invalidArgument(`sysctl "${key}" is not allowed in the host's network namespace`);
    } else if (k === "kernel.domainname") {
      if (o.utsHost) throw invalidArgument(`sysctl "${key}" is not allowed in the host's UTS namespace`);
    } else if (k === "kernel.hostname") {
      throw invalidArgument(`sysctl "${key}" is not allowed: set Hostname instead`);
    } else throw invalidArgument(`sysctl "${key}" is not namespaced: a container may not change it for the host`);
    out[key] = value;
  }
  return out;
}
