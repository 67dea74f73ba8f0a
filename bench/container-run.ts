/**
 * Side-by-side benchmark of the daemon path: `run --rm busybox true`, attached, through
 *   - berth: bin/berth against a private berthd (own data root, exec root, socket, bridge bb0 on
 *     10.231.90.0/24), containers supervised by berth-shim and run by berth-runtime;
 *   - docker: Debian's docker CLI against a private dockerd 20.10 (own data root, exec root,
 *     socket, default bridge docker0 on 10.231.91.1/24 with its iptables rules), runc under
 *     containerd-shim-runc-v2;
 *   - podman: podman 4 with a private store (own root, runroot, config files) and its default CNI
 *     network (cni-podman0 on 10.231.92.0/24), runc under conmon (crun 1.8 refuses this host's
 *     hybrid cgroups);
 * the same busybox rootfs tarball imported into each, in two modes: `--network none` and the
 * default network. Tools and modes are interleaved round by round, so machine noise hits all
 * alike; the first round warms caches and is dropped. Prints median and p90 per tool and mode,
 * and the ratios of medians berth/docker and berth/podman.
 *
 *   node dist/bench/container-run.js [--rounds N]
 *
 * Needs root. A tool that is missing or fails to start is reported and left out. Everything the
 * bench starts is removed at the end: containers, daemons, shims, bridges, the iptables rules and
 * chains that name its bridges and subnets, cgroups, host folders it created, temp dirs.
 * The engine setup is exported for bench/supervision-memory.ts.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  rmdirSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { BUSYBOX, makeRootfs } from "../test/fixtures/busybox-bundle.js";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** The networks the bench's daemons get: private subnets and bridge names, never the host's own. */
export const NETS = {
  berth: { subnet: "10.231.90.0/24", bridge: "bb0" },
  docker: { bip: "10.231.91.1/24", bridge: "docker0" },
  podman: { subnet: "10.231.92.0/24", bridge: "cni-podman0" },
} as const;
const NET_PATTERN = /\bbb0\b|\bdocker0\b|\bcni-podman0\b|10\.231\.9[012]\./;

// ---------------------------------------------------------------------------------------------
// processes

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * Runs a command to completion with stdout and stderr in files: a daemonised grandchild (conmon,
 * a shim) that inherits them cannot keep the call waiting, and every tool pays the same.
 */
export function exec(bin: string, args: string[], env: NodeJS.ProcessEnv, scratch: string, timeoutMs = 120_000): Result {
  const outFile = join(scratch, "out.log");
  const errFile = join(scratch, "err.log");
  const out = openSync(outFile, "w");
  const err = openSync(errFile, "w");
  const t0 = process.hrtime.bigint();
  const r = spawnSync(bin, args, { stdio: ["ignore", out, err], env, timeout: timeoutMs });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  closeSync(out);
  closeSync(err);
  const stderr = readFileSync(errFile, "utf8") + (r.error ? `\n${r.error.message}` : "");
  return { code: r.status ?? 128, stdout: readFileSync(outFile, "utf8"), stderr, ms };
}

/** The async twin of exec, for starting many containers at once; each call needs its own scratch dir. */
export function execAsync(bin: string, args: string[], env: NodeJS.ProcessEnv, scratch: string): Promise<Result> {
  mkdirSync(scratch, { recursive: true });
  const outFile = join(scratch, "out.log");
  const errFile = join(scratch, "err.log");
  const out = openSync(outFile, "w");
  const err = openSync(errFile, "w");
  const t0 = performance.now();
  return new Promise((res) => {
    const child = spawn(bin, args, { stdio: ["ignore", out, err], env });
    const done = (code: number, extra = "") => {
      closeSync(out);
      closeSync(err);
      res({
        code,
        stdout: readFileSync(outFile, "utf8"),
        stderr: readFileSync(errFile, "utf8") + extra,
        ms: performance.now() - t0,
      });
    };
    child.once("error", (e) => done(127, `\n${e.message}`));
    child.once("exit", (code) => done(code ?? 128));
  });
}

export const show = (r: Result) => `exit ${r.code}: ${(r.stderr.trim() || r.stdout.trim()).slice(-1500)}`;
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2)[0];
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

/** Host processes whose command line contains every one of `needles`, with their command lines. */
export function processesMatching(...needles: string[]): { pid: number; cmd: string }[] {
  const out: { pid: number; cmd: string }[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${e}/cmdline`, "utf8").replaceAll("\0", " ").trim();
      if (cmd && needles.every((n) => cmd.includes(n))) out.push({ pid: Number(e), cmd });
    } catch {
      // exited while we looked
    }
  }
  return out;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when every pid is gone. */
async function endProcesses(pids: number[], graceMs: number): Promise<void> {
  const signal = (sig: NodeJS.Signals) => {
    for (const pid of pids) {
      try {
        process.kill(pid, sig);
      } catch {
        // already gone
      }
    }
  };
  signal("SIGTERM");
  for (let t = 0; t < graceMs && pids.some(pidAlive); t += 50) await sleep(50);
  if (pids.some(pidAlive)) signal("SIGKILL");
  for (let i = 0; i < 100 && pids.some(pidAlive); i++) await sleep(50);
}

function which(name: string, prefer: string[] = []): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(":"), "/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"];
  return [...prefer, ...dirs.filter(Boolean).map((d) => join(d, name))].find((p) => {
    try {
      return statSync(p).isFile() && (statSync(p).mode & 0o111) !== 0;
    } catch {
      return false;
    }
  });
}

// ---------------------------------------------------------------------------------------------
// host state: what the daemons add outside their own folders, removed at the end

function mountsUnder(base: string): string[] {
  const out: string[] = [];
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const mp = line.split(" ")[4]?.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
    if (mp && (mp === base || mp.startsWith(`${base}/`))) out.push(mp);
  }
  return out;
}

/** Lazily unmount everything at or under base, deepest first. */
export function unmountAll(base: string): void {
  for (const mp of mountsUnder(base).sort((a, b) => b.length - a.length)) spawnSync("umount", ["-l", mp], { stdio: "ignore" });
}

function cgroupMounts(): string[] {
  const out = new Set<string>();
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const [pre, post] = line.split(" - ");
    const fstype = post?.split(" ")[0];
    const mp = pre?.split(" ")[4];
    if (mp && (fstype === "cgroup" || fstype === "cgroup2")) out.add(mp);
  }
  return [...out];
}

/** Every cgroup folder at or below /<rel> in any hierarchy, deepest first. */
function cgroupDirs(rel: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    out.push(dir);
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) walk(join(dir, e.name));
  };
  for (const m of cgroupMounts()) if (existsSync(join(m, rel))) walk(join(m, rel));
  return out.sort((a, b) => b.length - a.length);
}

function removeCgroups(rel: string): string[] {
  const left: string[] = [];
  for (const d of cgroupDirs(rel)) {
    try {
      rmdirSync(d);
    } catch {
      left.push(d);
    }
  }
  return left;
}

interface IptablesRule {
  table: string;
  rule: string;
}
function iptablesState(): { chains: Set<string>; rules: Set<string> } {
  const chains = new Set<string>();
  const rules = new Set<string>();
  const r = spawnSync("iptables-save", [], { encoding: "utf8" });
  let table = "";
  for (const line of (r.stdout ?? "").split("\n")) {
    if (line.startsWith("*")) table = line.slice(1);
    else if (line.startsWith(":")) chains.add(`${table} ${line.slice(1).split(" ")[0]}`);
    else if (line.startsWith("-A ")) rules.add(`${table} ${line}`);
  }
  return { chains, rules };
}

/**
 * What the host looked like before the bench: links, iptables chains and rules, and the host
 * folders the engines create. `restore` removes what the bench's daemons added there and says what.
 */
export class HostState {
  private readonly links = new Set(this.linkNames());
  private readonly ipt = iptablesState();
  private readonly paths = new Map<string, boolean>();
  // trees removed whole when new; the rest only when empty
  private readonly trees = ["/var/lib/containers/cache", "/var/lib/cni/networks/podman"];

  constructor() {
    for (const p of [
      "/run/docker",
      "/run/docker/plugins",
      "/run/containerd",
      "/run/containerd/s",
      "/run/containers",
      "/run/libpod",
      "/var/lib/containers",
      "/var/lib/containers/cache",
      "/dev/shm/libpod_lock",
      "/var/lib/cni",
      "/var/lib/cni/networks",
      "/var/lib/cni/networks/podman",
      "/var/lib/cni/results",
    ])
      this.paths.set(p, existsSync(p));
  }

  private linkNames(): string[] {
    return readdirSync("/sys/class/net");
  }

  /** Remove the bench's bridges, iptables rules and chains, and new host folders; returns what it removed. */
  restore(): string[] {
    const done: string[] = [];
    for (const link of [NETS.berth.bridge, NETS.docker.bridge, NETS.podman.bridge]) {
      if (this.links.has(link) || !existsSync(`/sys/class/net/${link}`)) continue;
      if (spawnSync("ip", ["link", "del", link]).status === 0) done.push(`link ${link}`);
    }
    // chains the engines make for themselves (docker's, the CNI firewall plugin's) when they are
    // new, and any new chain or rule that names the bench's bridges or subnets
    const now = iptablesState();
    const own = new Set<string>();
    for (const c of now.chains) {
      if (this.ipt.chains.has(c)) continue;
      const name = c.split(" ")[1] ?? "";
      const body = [...now.rules].filter((r) => r.startsWith(`${c.split(" ")[0]} -A ${name} `));
      if (/^DOCKER|^CNI-(FORWARD|ADMIN)$/.test(name) || body.some((r) => NET_PATTERN.test(r))) own.add(c);
    }
    const rules: IptablesRule[] = [];
    for (const r of now.rules) {
      if (this.ipt.rules.has(r)) continue;
      const [table = "", ...rest] = r.split(" ");
      const rule = rest.join(" ");
      const chain = rest[1] ?? "";
      const target = /-j (\S+)/.exec(rule)?.[1] ?? "";
      if (NET_PATTERN.test(rule) || own.has(`${table} ${target}`) || own.has(`${table} ${chain}`)) rules.push({ table, rule });
    }
    for (const { table, rule } of rules) {
      // iptables-save quotes comments as the shell would: let a shell split it back
      const r = spawnSync("sh", ["-c", `iptables -w -t ${table} -D ${rule.slice(3)}`], { stdio: "ignore" });
      if (r.status === 0) done.push(`iptables -t ${table} ${rule.slice(0, 80)}`);
    }
    for (const c of own) {
      const [table = "", name = ""] = c.split(" ");
      spawnSync("iptables", ["-w", "-t", table, "-F", name], { stdio: "ignore" });
      if (spawnSync("iptables", ["-w", "-t", table, "-X", name], { stdio: "ignore" }).status === 0)
        done.push(`iptables chain ${table}/${name}`);
    }
    for (const p of [...this.paths.keys()].sort((a, b) => b.length - a.length)) {
      if (this.paths.get(p) || !existsSync(p)) continue;
      try {
        if (this.trees.includes(p) || !statSync(p).isDirectory()) rmSync(p, { recursive: true, force: true });
        else rmdirSync(p);
        done.push(`path ${p}`);
      } catch {
        // not empty: something else uses it now
      }
    }
    return done;
  }
}

// ---------------------------------------------------------------------------------------------
// the engines

export type Mode = "none" | "default";

export interface Engine {
  name: "berth" | "docker" | "podman";
  /** the CLI and the arguments before the subcommand */
  bin: string;
  base: string[];
  env: NodeJS.ProcessEnv;
  image: string;
  /** arguments of `run` before the image, for a mode */
  runArgs(mode: Mode): string[];
  /** the processes that supervise running containers (shims, conmon) */
  supervisors(): { pid: number; cmd: string }[];
  /** the engine's long-running daemons, for information */
  daemons(): { name: string; pid: number }[];
  /** remove every container, stop the daemons, end leftovers; returns problems found on the way */
  teardown(): Promise<string[]>;
}

/** Run an engine's CLI synchronously. */
export const cli = (e: Engine, args: string[], scratch: string, timeoutMs?: number) =>
  exec(e.bin, [...e.base, ...args], e.env, scratch, timeoutMs);

/** The bench's busybox rootfs as an uncompressed tar: the one image every engine imports. */
export function buildImageTar(dir: string): string {
  if (!existsSync(BUSYBOX)) throw new Error(`needs ${BUSYBOX} (Debian package busybox-static) for the image`);
  const rootfs = join(dir, "rootfs");
  makeRootfs(rootfs);
  const tar = join(dir, "busybox.tar");
  execFileSync("tar", ["-C", rootfs, "-cf", tar, "."]);
  rmSync(rootfs, { recursive: true, force: true });
  return tar;
}

async function waitUp(probe: () => boolean, child: ChildProcess, what: string, log: () => string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (probe()) return;
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${what} exited at start: ${log()}`);
    await sleep(100);
  }
  throw new Error(`${what} did not answer within 30 s: ${log()}`);
}

const tail = (file: string, n = 8) => {
  try {
    return readFileSync(file, "utf8").trim().split("\n").slice(-n).join("\n");
  } catch {
    return `(no ${file})`;
  }
};

/** berthd on its own data root, exec root, socket and bridge; busybox:latest imported before it starts. */
export async function startBerth(work: string, tar: string): Promise<Engine> {
  const berth = join(repo, "bin", "berth");
  const berthd = join(repo, "bin", "berthd");
  for (const f of [berth, berthd, join(repo, "bin", "berth-shim"), join(repo, "bin", "berth-runtime")])
    if (!existsSync(f)) throw new Error(`${f} is missing: run node scripts/build.mjs`);
  const base = mkdtempSync(join(work, "berth-"));
  const dataRoot = join(base, "data");
  const execRoot = join(base, "exec");
  const sock = join(base, "berthd.sock");
  const scratch = join(base, "scratch");
  mkdirSync(scratch);
  writeFileSync(join(base, "daemon.json"), "{}\n");
  const env = { ...process.env };
  delete env.BERTH_HOST;
  const imp = exec(berth, ["--data-root", dataRoot, "import", tar, "busybox:latest"], env, scratch);
  if (imp.code !== 0) throw new Error(`berth import: ${show(imp)}`);
  const logFile = join(base, "berthd.log");
  const daemon = spawn(
    berthd,
    [
      "--data-root",
      dataRoot,
      "--exec-root",
      execRoot,
      "-H",
      `unix://${sock}`,
      "--bip",
      NETS.berth.subnet,
      "--bridge",
      NETS.berth.bridge,
      "--config-file",
      join(base, "daemon.json"),
      "--log-file",
      logFile,
    ],
    { stdio: "ignore", detached: true, env },
  );
  daemon.unref();
  const e: Engine = {
    name: "berth",
    bin: berth,
    base: ["-H", `unix://${sock}`],
    env,
    image: "busybox",
    runArgs: (mode) => (mode === "none" ? ["--network", "none"] : []),
    supervisors: () => processesMatching("berth-shim", execRoot),
    daemons: () => (daemon.pid ? [{ name: "berthd", pid: daemon.pid }] : []),
    teardown: async () => {
      const problems: string[] = [];
      if (daemon.pid && pidAlive(daemon.pid)) {
        const ids = cli(e, ["ps", "-aq"], scratch).stdout.split("\n").filter(Boolean);
        if (ids.length) {
          const rm = cli(e, ["rm", "-f", ...ids], scratch);
          if (rm.code !== 0) problems.push(`berth rm -f: ${show(rm)}`);
        }
        await endProcesses([daemon.pid], 10_000);
      }
      await sleep(200);
      // shims outlive berthd by design and linger a while when empty: the bench ends them
      const shims = e.supervisors();
      await endProcesses(
        shims.map((s) => s.pid),
        3_000,
      );
      const rest = processesMatching(base);
      if (rest.length) problems.push(`berth: processes left after berthd and its shims: ${rest.map((p) => p.cmd).join("; ")}`);
      await endProcesses(
        rest.map((p) => p.pid),
        1_000,
      );
      const mounts = mountsUnder(base).filter((m) => m !== join(execRoot, "netns"));
      if (mounts.length) problems.push(`berth: mounts left: ${mounts.join(", ")}`);
      unmountAll(base);
      rmSync(base, { recursive: true, force: true });
      return problems;
    },
  };
  await waitUp(
    () => cli(e, ["version"], scratch, 5_000).code === 0,
    daemon,
    "berthd",
    () => tail(logFile),
  );
  return e;
}

/** dockerd 20.10 on its own data root, exec root and socket, with its default bridge on NETS.docker. */
export async function startDocker(work: string, tar: string): Promise<Engine> {
  const dockerd = which("dockerd");
  const docker = which("docker", ["/usr/bin/docker"]);
  const missing = [
    ["dockerd", dockerd],
    ["docker", docker],
    ["containerd", which("containerd")],
    ["containerd-shim-runc-v2", which("containerd-shim-runc-v2")],
    ["runc", which("runc")],
  ].filter(([, p]) => !p);
  if (!dockerd || !docker || missing.length)
    throw new Error(`not installed (missing ${missing.map(([n]) => n).join(", ")}; Debian package docker.io)`);
  const base = mkdtempSync(join(work, "docker-"));
  const sock = join(base, "docker.sock");
  const scratch = join(base, "scratch");
  const cgroupParent = `berth-bench-dk-${process.pid}`;
  mkdirSync(scratch);
  mkdirSync(join(base, "cli"));
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_CONFIG: join(base, "cli") };
  delete env.DOCKER_HOST;
  delete env.DOCKER_CONTEXT;
  // deprecated-key-path keeps dockerd 20.10 from writing /etc/docker/key.json
  writeFileSync(join(base, "daemon.json"), JSON.stringify({ "deprecated-key-path": join(base, "key.json") }));
  const logFile = join(base, "dockerd.log");
  const logFd = openSync(logFile, "a");
  const daemon = spawn(
    dockerd,
    [
      "--config-file",
      join(base, "daemon.json"),
      "--data-root",
      join(base, "data"),
      "--exec-root",
      join(base, "exec"),
      "--pidfile",
      join(base, "dockerd.pid"),
      "--host",
      `unix://${sock}`,
      "--bip",
      NETS.docker.bip,
      "--storage-driver",
      "overlay2",
      "--shutdown-timeout",
      "2",
      "--cgroup-parent",
      `/${cgroupParent}`,
    ],
    { detached: true, stdio: ["ignore", logFd, logFd], env: { ...env, PATH: `${env.PATH}:/usr/sbin:/sbin` } },
  );
  closeSync(logFd);
  daemon.unref();
  const e: Engine = {
    name: "docker",
    bin: docker,
    base: ["-H", `unix://${sock}`],
    env,
    image: "busybox",
    runArgs: (mode) => (mode === "none" ? ["--network", "none"] : []),
    supervisors: () => processesMatching("containerd-shim", base),
    daemons: () => [
      ...(daemon.pid ? [{ name: "dockerd", pid: daemon.pid }] : []),
      ...processesMatching("containerd", "--config", base)
        .filter((p) => !p.cmd.includes("containerd-shim"))
        .map((p) => ({ name: "containerd", pid: p.pid })),
    ],
    teardown: async () => {
      const problems: string[] = [];
      if (daemon.pid && pidAlive(daemon.pid)) {
        const ids = cli(e, ["ps", "-aq", "--no-trunc"], scratch).stdout.split("\n").filter(Boolean);
        if (ids.length) {
          const rm = cli(e, ["rm", "-f", ...ids], scratch);
          if (rm.code !== 0) problems.push(`docker rm -f: ${show(rm)}`);
        }
        await endProcesses([daemon.pid], 20_000);
      }
      await sleep(200);
      const rest = processesMatching(base);
      if (rest.length) problems.push(`docker: processes left after dockerd: ${rest.map((p) => p.cmd.slice(0, 120)).join("; ")}`);
      await endProcesses(
        rest.map((p) => p.pid),
        1_000,
      );
      unmountAll(base);
      const cgs = removeCgroups(cgroupParent);
      if (cgs.length) problems.push(`docker: cgroups left: ${cgs.join(", ")}`);
      rmSync(base, { recursive: true, force: true });
      return problems;
    },
  };
  await waitUp(
    () => cli(e, ["version", "--format", "{{.Server.Version}}"], scratch, 5_000).code === 0,
    daemon,
    "dockerd",
    () => tail(logFile),
  );
  const imp = cli(e, ["import", tar, "busybox:latest"], scratch);
  if (imp.code !== 0) {
    await e.teardown();
    throw new Error(`docker import: ${show(imp)}`);
  }
  return e;
}

/** The hard limit of an rlimit of this process, from /proc/self/limits (26-column names). */
function hardLimit(name: string): string {
  const line = readFileSync("/proc/self/limits", "utf8")
    .split("\n")
    .find((l) => l.startsWith(name));
  return line?.slice(26).trim().split(/\s+/)[1] ?? "unlimited";
}

/** podman with a private store and config, runc, and its default CNI network on NETS.podman. */
export async function startPodman(work: string, tar: string): Promise<Engine> {
  const podman = which("podman");
  const conmon = which("conmon", ["/usr/bin/conmon", "/usr/libexec/podman/conmon"]);
  const runc = which("runc");
  if (!podman || !conmon || !runc)
    throw new Error(
      `not installed (missing ${[!podman && "podman", !conmon && "conmon", !runc && "runc"].filter(Boolean).join(", ")})`,
    );
  const base = mkdtempSync(join(work, "podman-"));
  const scratch = join(base, "scratch");
  const cgroupParent = `berth-bench-pm-${process.pid}`;
  for (const d of ["root", "run", "tmp", "cni", "scratch"]) mkdirSync(join(base, d));
  // root here may lack CAP_SYS_RESOURCE: podman's own rlimit defaults (nofile 1048576) would be
  // refused by the runtime, so ask for what this process holds
  const nofile = hardLimit("Max open files") === "unlimited" ? 1048576 : Number(hardLimit("Max open files"));
  const nproc = hardLimit("Max processes") === "unlimited" ? 32768 : Math.min(Number(hardLimit("Max processes")), 32768);
  writeFileSync(
    join(base, "containers.conf"),
    [
      "[containers]",
      `default_ulimits = ["nofile=${nofile}:${nofile}", "nproc=${nproc}:${nproc}"]`,
      'log_driver = "k8s-file"',
      "[engine]",
      'cgroup_manager = "cgroupfs"',
      'events_logger = "file"',
      `events_logfile_path = "${join(base, "events.log")}"`,
      `tmp_dir = "${join(base, "tmp")}"`,
      'runtime = "runc"',
      `conmon_path = ["${conmon}"]`,
      "[network]",
      'network_backend = "cni"',
      `network_config_dir = "${join(base, "cni")}"`,
      `default_subnet = "${NETS.podman.subnet}"`,
      "",
    ].join("\n"),
  );
  writeFileSync(
    join(base, "storage.conf"),
    `[storage]\ndriver = "overlay"\ngraphroot = "${join(base, "root")}"\nrunroot = "${join(base, "run")}"\n`,
  );
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CONTAINERS_CONF: join(base, "containers.conf"),
    CONTAINERS_STORAGE_CONF: join(base, "storage.conf"),
    PATH: `${process.env.PATH}:/usr/sbin:/sbin`,
  };
  const e: Engine = {
    name: "podman",
    bin: podman,
    base: ["--root", join(base, "root"), "--runroot", join(base, "run"), "--tmpdir", join(base, "tmp")],
    env,
    image: "localhost/busybox",
    runArgs: (mode) => ["--cgroup-parent", `/${cgroupParent}`, ...(mode === "none" ? ["--network", "none"] : [])],
    supervisors: () => processesMatching("conmon", base).filter((p) => p.cmd.split(" ")[0]?.endsWith("conmon")),
    daemons: () => [],
    teardown: async () => {
      const problems: string[] = [];
      const rm = cli(e, ["rm", "-af", "-t", "0"], scratch);
      if (rm.code !== 0) problems.push(`podman rm -af: ${show(rm)}`);
      cli(e, ["rmi", "-af"], scratch);
      await sleep(200);
      const rest = processesMatching(base);
      if (rest.length) problems.push(`podman: processes left: ${rest.map((p) => p.cmd.slice(0, 120)).join("; ")}`);
      await endProcesses(
        rest.map((p) => p.pid),
        1_000,
      );
      unmountAll(base);
      // conmon's cgroup (<parent>/conmon) is podman's own
      const cgs = removeCgroups(cgroupParent);
      if (cgs.length) problems.push(`podman: cgroups left: ${cgs.join(", ")}`);
      rmSync(base, { recursive: true, force: true });
      return problems;
    },
  };
  const imp = cli(e, ["import", "-q", tar, "localhost/busybox:latest"], scratch);
  if (imp.code !== 0) {
    await e.teardown();
    throw new Error(`podman import: ${show(imp)}`);
  }
  return e;
}

/**
 * Start every engine (a failing one is reported and left out), run `body`, then tear everything
 * down, also on SIGINT/SIGTERM. Returns body's exit code, 1 when cleanup found problems.
 */
export async function withEngines(prefix: string, body: (engines: Engine[], work: string) => Promise<number>): Promise<number> {
  if (process.getuid?.() !== 0) {
    console.error(`${prefix}: needs root (daemons, namespaces, bridges, iptables)`);
    return 1;
  }
  const host = new HostState();
  // short: podman refuses a runroot path over 50 characters
  const work = mkdtempSync(join(tmpdir(), "berth-bench-"));
  const engines: Engine[] = [];
  let cleaned = false;
  const cleanup = async (): Promise<string[]> => {
    if (cleaned) return [];
    cleaned = true;
    const problems: string[] = [];
    for (const e of engines) {
      try {
        problems.push(...(await e.teardown()));
      } catch (err) {
        problems.push(`${e.name} teardown: ${(err as Error).message}`);
      }
    }
    const removed = host.restore();
    const count = (kind: string) => removed.filter((r) => r.startsWith(kind)).length;
    if (removed.length)
      console.log(
        `cleanup removed: ${count("iptables -t")} iptables rules, ${count("iptables chain")} chains; ${removed
          .filter((r) => !r.startsWith("iptables"))
          .join(", ")}`,
      );
    rmSync(work, { recursive: true, force: true });
    return problems;
  };
  const onSignal = (sig: NodeJS.Signals) => {
    console.error(`${prefix}: ${sig}: cleaning up`);
    void cleanup().then(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  let code = 1;
  try {
    const tar = buildImageTar(work);
    for (const [name, start] of [
      ["berth", startBerth],
      ["docker", startDocker],
      ["podman", startPodman],
    ] as const) {
      try {
        engines.push(await start(work, tar));
      } catch (err) {
        console.log(`${name}: left out: ${(err as Error).message}`);
      }
    }
    code = await body(engines, work);
  } finally {
    const problems = await cleanup();
    for (const p of problems) console.log(`cleanup problem: ${p}`);
    if (problems.length) code = code || 1;
  }
  return code;
}

// ---------------------------------------------------------------------------------------------
// the bench

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  // nearest rank
  return s[Math.max(0, Math.ceil(q * s.length) - 1)] ?? Number.NaN;
}

async function bench(engines: Engine[], work: string, rounds: number): Promise<number> {
  const modes: Mode[] = ["none", "default"];
  const samples = new Map<string, number[]>();
  const failed = new Map<string, string>();
  const scratch = join(work, "scratch");
  mkdirSync(scratch, { recursive: true });
  const key = (e: Engine, m: Mode) => `${e.name} ${m}`;
  console.log(
    `rounds: ${rounds} (+1 warm-up), \`run --rm <busybox> true\`, engines: ${engines.map((e) => e.name).join(", ") || "none"}`,
  );
  for (let i = 0; i <= rounds; i++) {
    // rotate the order each round, so no engine always runs right after another
    const order = engines.map((_, k) => engines[(k + i) % engines.length] as Engine);
    for (const mode of i % 2 ? [...modes].reverse() : modes) {
      for (const e of order) {
        const k = key(e, mode);
        if (failed.has(k)) continue;
        const r = cli(e, ["run", "--rm", ...e.runArgs(mode), e.image, "true"], scratch);
        if (r.code !== 0) {
          failed.set(k, show(r));
          console.log(`${k}: run failed in round ${i}, left out from here: ${show(r)}`);
          continue;
        }
        if (i > 0) samples.set(k, [...(samples.get(k) ?? []), r.ms]);
      }
    }
  }
  // `run --rm` must leave nothing behind
  for (const e of engines) {
    const left = cli(e, ["ps", "-aq"], scratch).stdout.split("\n").filter(Boolean);
    if (left.length) console.log(`${e.name}: ${left.length} container(s) left after run --rm: ${left.join(" ")}`);
  }

  const col = 20;
  const names = ["berth", "docker", "podman"] as const;
  const cell = (xs: number[] | undefined) =>
    xs?.length ? `${quantile(xs, 0.5).toFixed(0)} / ${quantile(xs, 0.9).toFixed(0)} ms` : "-";
  console.log("");
  console.log(`${"network".padEnd(10)}${names.map((n) => `${n} med/p90`.padStart(col)).join("")}  berth/docker  berth/podman`);
  for (const mode of modes) {
    const get = (n: string) => samples.get(`${n} ${mode}`);
    const med = (n: string) => {
      const xs = get(n);
      return xs?.length ? quantile(xs, 0.5) : Number.NaN;
    };
    const ratio = (other: string) => {
      const r = med("berth") / med(other);
      return Number.isFinite(r) ? r.toFixed(2) : "-";
    };
    console.log(
      `${mode.padEnd(10)}${names.map((n) => cell(get(n)).padStart(col)).join("")}${ratio("docker").padStart(14)}${ratio("podman").padStart(14)}`,
    );
  }
  console.log("target: berth/docker <= 0.33");
  return [...failed.keys()].some((k) => k.startsWith("berth ")) || !engines.some((e) => e.name === "berth") ? 1 : 0;
}

async function main(): Promise<number> {
  const at = process.argv.indexOf("--rounds");
  const rounds = at > 0 ? Number(process.argv[at + 1]) : 10;
  if (!Number.isSafeInteger(rounds) || rounds < 1) {
    console.error("container-run: --rounds wants a positive integer");
    return 2;
  }
  return withEngines("container-run", (engines, work) => bench(engines, work, rounds));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) process.exitCode = await main();
