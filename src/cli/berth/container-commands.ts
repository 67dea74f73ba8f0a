import { readFileSync } from "node:fs";
import type { Socket } from "node:net";
import { BerthError, invalidArgument, isKind } from "../../errors/index.js";
import { native } from "../../native/index.js";
import { bool, type FlagSpec, type FlagValues, int, list, parseFlags, str } from "../args.js";
import { type DaemonClient, demux, type Response, readAll } from "./client.js";
import { duration } from "../../daemon/views.js";
import { humanSize, shortId, table } from "./format.js";
import { formatRows } from "./format-rows.js";
import { renderTemplate } from "./go-template.js";
import type { Io } from "./image-commands.js";
import { PullProgress } from "./progress.js";

export type ContainerCmd = (c: DaemonClient, args: string[], io: Io) => Promise<number>;

const enc = encodeURIComponent;

// docker run/create flags (docker's names, short forms and meanings)
const CREATE_FLAGS: FlagSpec[] = [
  { name: "name", type: "string" },
  { name: "env", short: "e", type: "list" },
  { name: "env-file", type: "list" },
  { name: "workdir", short: "w", type: "string" },
  { name: "user", short: "u", type: "string" },
  { name: "hostname", short: "h", type: "string" },
  { name: "entrypoint", type: "string" },
  { name: "interactive", short: "i", type: "bool" },
  { name: "tty", short: "t", type: "bool" },
  { name: "rm", type: "bool" },
  { name: "volume", short: "v", type: "list" },
  { name: "mount", type: "list" },
  { name: "tmpfs", type: "list" },
  { name: "publish", short: "p", type: "list" },
  { name: "network", type: "string" },
  { name: "net", type: "string" },
  { name: "restart", type: "string" },
  { name: "memory", short: "m", type: "string" },
  { name: "memory-swap", type: "string" },
  { name: "memory-reservation", type: "string" },
  { name: "memory-swappiness", type: "int" },
  { name: "cpus", type: "string" },
  { name: "cpu-shares", short: "c", type: "int" },
  { name: "cpu-period", type: "int" },
  { name: "cpu-quota", type: "int" },
  { name: "cpuset-cpus", type: "string" },
  { name: "cpuset-mems", type: "string" },
  { name: "pids-limit", type: "int" },
  { name: "blkio-weight", type: "int" },
  { name: "read-only", type: "bool" },
  { name: "cap-add", type: "list" },
  { name: "cap-drop", type: "list" },
  { name: "privileged", type: "bool" },
  { name: "security-opt", type: "list" },
  { name: "init", type: "bool" },
  { name: "label", short: "l", type: "list" },
  { name: "runtime", type: "string" },
  { name: "stop-signal", type: "string" },
  { name: "stop-timeout", type: "int" },
  { name: "ulimit", type: "list" },
  { name: "sysctl", type: "list" },
  { name: "dns", type: "list" },
  { name: "dns-search", type: "list" },
  { name: "dns-option", type: "list" },
  { name: "add-host", type: "list" },
  { name: "shm-size", type: "string" },
  { name: "pid", type: "string" },
  { name: "ipc", type: "string" },
  { name: "uts", type: "string" },
  { name: "device", type: "list" },
  { name: "group-add", type: "list" },
  { name: "oom-score-adj", type: "int" },
  { name: "oom-kill-disable", type: "bool" },
  { name: "cgroup-parent", type: "string" },
  { name: "pull", type: "string" },
  { name: "platform", type: "string" },
  { name: "expose", type: "list" },
  { name: "log-driver", type: "string" },
  { name: "log-opt", type: "list" },
];

const RUN_FLAGS: FlagSpec[] = [
  ...CREATE_FLAGS,
  { name: "detach", short: "d", type: "bool" },
  { name: "sig-proxy", type: "bool" },
  { name: "detach-keys", type: "string" },
  { name: "quiet", short: "q", type: "bool" },
];

/** docker's RAMInBytes: 512, 64k, 100m, 1.5g (binary units) */
export function parseBytes(v: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)i?b?$/i.exec(v.trim());
  if (!m) throw invalidArgument(`invalid size '${v}' for --${flag}: use e.g. 512m or 1g`);
  const mult = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 }[(m[2] ?? "").toLowerCase()] ?? 1;
  return Math.round(Number(m[1]) * mult);
}

function kv(items: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const i of items) {
    const eq = i.indexOf("=");
    out[eq < 0 ? i : i.slice(0, eq)] = eq < 0 ? "" : i.slice(eq + 1);
  }
  return out;
}

function envList(f: FlagValues): string[] {
  const out: string[] = [];
  for (const file of list(f, "env-file"))
    for (const line of readFileSync(file, "utf8").split("\n")) {
      const l = line.trim();
      if (l && !l.startsWith("#")) out.push(l.includes("=") ? l : `${l}=${process.env[l] ?? ""}`);
    }
  // `-e NAME` takes the value from the CLI's environment, as docker does
  for (const e of list(f, "env")) out.push(e.includes("=") ? e : `${e}=${process.env[e] ?? ""}`);
  return out;
}

/** `-p [ip:][hostPort:]containerPort[/proto]` */
function portBindings(specs: string[]): {
  bindings: Record<string, Array<{ HostIp: string; HostPort: string }>>;
  exposed: Record<string, Record<string, never>>;
} {
  const bindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
  const exposed: Record<string, Record<string, never>> = {};
  for (const s of specs) {
    const [addr, proto = "tcp"] = s.split("/");
    const parts = (addr ?? "").split(":");
    const cport = parts.pop() ?? "";
    const hport = parts.pop() ?? "";
    const ip = parts.join(":");
    if (!/^\d+$/.test(cport) || (hport && !/^\d+$/.test(hport)) || !["tcp", "udp", "sctp"].includes(proto))
      throw invalidArgument(`invalid publish spec ${JSON.stringify(s)}: want [ip:][hostPort:]containerPort[/tcp|udp]`);
    const key = `${cport}/${proto}`;
    exposed[key] = {};
    const list_ = bindings[key] ?? [];
    list_.push({ HostIp: ip, HostPort: hport });
    bindings[key] = list_;
  }
  return { bindings, exposed };
}

function restartPolicy(
  v: string | undefined,
): { Name: "" | "no" | "always" | "unless-stopped" | "on-failure"; MaximumRetryCount?: number } | undefined {
  if (!v) return undefined;
  const [name, count] = v.split(":");
  if (!["no", "always", "unless-stopped", "on-failure"].includes(name ?? ""))
    throw invalidArgument(`invalid restart policy ${JSON.stringify(v)}: no, always, unless-stopped or on-failure[:max-retries]`);
  if (count !== undefined && name !== "on-failure")
    throw invalidArgument(`maximum retry count cannot be used with restart policy '${name}'`);
  return { Name: name as "no", ...(count ? { MaximumRetryCount: Number(count) } : {}) };
}

/** The create request body (docker's Config with HostConfig) from run/create flags. */
export function createBody(f: FlagValues, image: string, cmd: string[]): Record<string, unknown> {
  const { bindings, exposed } = portBindings(list(f, "publish"));
  for (const e of list(f, "expose")) exposed[e.includes("/") ? e : `${e}/tcp`] = {};
  const entrypoint = str(f, "entrypoint");
  const secOpts = list(f, "security-opt").map((o) => {
    const m = /^seccomp[=:](.+)$/.exec(o);
    if (m && m[1] !== "unconfined") return `seccomp=${readFileSync(m[1] as string, "utf8")}`;
    return o;
  });
  const cpus = str(f, "cpus");
  const hostConfig: Record<string, unknown> = {
    Binds: list(f, "volume"),
    Mounts: list(f, "mount").map(parseMount),
    Tmpfs: Object.fromEntries(list(f, "tmpfs").map((t) => [t.split(":")[0], t.split(":").slice(1).join(":")])),
    NetworkMode: str(f, "network") ?? str(f, "net") ?? "bridge",
    PortBindings: bindings,
    AutoRemove: bool(f, "rm"),
    CapAdd: list(f, "cap-add"),
    CapDrop: list(f, "cap-drop"),
    Privileged: bool(f, "privileged"),
    ReadonlyRootfs: bool(f, "read-only"),
    SecurityOpt: secOpts,
    Init: bool(f, "init"),
    ExtraHosts: list(f, "add-host"),
    Dns: list(f, "dns"),
    DnsSearch: list(f, "dns-search"),
    DnsOptions: list(f, "dns-option"),
    Sysctls: kv(list(f, "sysctl")),
    Ulimits: list(f, "ulimit").map((u) => {
      const [name, vals = ""] = u.split("=");
      const [soft, hard = soft] = vals.split(":");
      if (!name || !soft || !/^-?\d+$/.test(soft) || !/^-?\d+$/.test(hard ?? ""))
        throw invalidArgument(`invalid ulimit ${JSON.stringify(u)}: want name=soft[:hard]`);
      return { Name: name, Soft: Number(soft), Hard: Number(hard) };
    }),
    Devices: list(f, "device").map((d) => {
      const [host, ctr = host, perms = "rwm"] = d.split(":");
      return { PathOnHost: host, PathInContainer: ctr, CgroupPermissions: perms };
    }),
    GroupAdd: list(f, "group-add"),
    ...(str(f, "pid") ? { PidMode: str(f, "pid") } : {}),
    ...(str(f, "ipc") ? { IpcMode: str(f, "ipc") } : {}),
    ...(str(f, "uts") ? { UTSMode: str(f, "uts") } : {}),
    ...(str(f, "runtime") ? { Runtime: str(f, "runtime") } : {}),
    ...(str(f, "cgroup-parent") ? { CgroupParent: str(f, "cgroup-parent") } : {}),
    ...(restartPolicy(str(f, "restart")) ? { RestartPolicy: restartPolicy(str(f, "restart")) } : {}),
    ...(str(f, "memory") ? { Memory: parseBytes(str(f, "memory") as string, "memory") } : {}),
    ...(str(f, "memory-swap")
      ? { MemorySwap: str(f, "memory-swap") === "-1" ? -1 : parseBytes(str(f, "memory-swap") as string, "memory-swap") }
      : {}),
    ...(str(f, "memory-reservation")
      ? { MemoryReservation: parseBytes(str(f, "memory-reservation") as string, "memory-reservation") }
      : {}),
    ...(int(f, "memory-swappiness") !== undefined ? { MemorySwappiness: int(f, "memory-swappiness") } : {}),
    ...(cpus ? { NanoCpus: nanoCpus(cpus) } : {}),
    ...(int(f, "cpu-shares") !== undefined ? { CpuShares: int(f, "cpu-shares") } : {}),
    ...(int(f, "cpu-period") !== undefined ? { CpuPeriod: int(f, "cpu-period") } : {}),
    ...(int(f, "cpu-quota") !== undefined ? { CpuQuota: int(f, "cpu-quota") } : {}),
    ...(str(f, "cpuset-cpus") ? { CpusetCpus: str(f, "cpuset-cpus") } : {}),
    ...(str(f, "cpuset-mems") ? { CpusetMems: str(f, "cpuset-mems") } : {}),
    ...(int(f, "pids-limit") !== undefined ? { PidsLimit: int(f, "pids-limit") } : {}),
    ...(int(f, "blkio-weight") !== undefined ? { BlkioWeight: int(f, "blkio-weight") } : {}),
    ...(int(f, "oom-score-adj") !== undefined ? { OomScoreAdj: int(f, "oom-score-adj") } : {}),
    ...(bool(f, "oom-kill-disable") ? { OomKillDisable: true } : {}),
    ...(str(f, "shm-size") ? { ShmSize: parseBytes(str(f, "shm-size") as string, "shm-size") } : {}),
    ...logConfig(f),
  };
  const interactive = bool(f, "interactive");
  return {
    Image: image,
    ...(cmd.length ? { Cmd: cmd } : {}),
    ...(entrypoint !== undefined ? { Entrypoint: entrypoint === "" ? [] : [entrypoint] } : {}),
    Env: envList(f),
    ...(str(f, "workdir") ? { WorkingDir: str(f, "workdir") } : {}),
    ...(str(f, "user") ? { User: str(f, "user") } : {}),
    ...(str(f, "hostname") ? { Hostname: str(f, "hostname") } : {}),
    Tty: bool(f, "tty"),
    OpenStdin: interactive,
    StdinOnce: interactive && !bool(f, "detach"),
    AttachStdin: interactive && !bool(f, "detach"),
    AttachStdout: !bool(f, "detach"),
    AttachStderr: !bool(f, "detach"),
    Labels: kv(list(f, "label")),
    ExposedPorts: exposed,
    ...(str(f, "stop-signal") ? { StopSignal: str(f, "stop-signal") } : {}),
    ...(int(f, "stop-timeout") !== undefined ? { StopTimeout: int(f, "stop-timeout") } : {}),
    HostConfig: hostConfig,
  };
}

/** `--log-driver` and `--log-opt key=value` as docker's LogConfig (berthd validates the options). */
function logConfig(f: FlagValues): { LogConfig?: { Type: string; Config: Record<string, string> } } {
  const driver = str(f, "log-driver");
  const opts = list(f, "log-opt");
  if (driver === undefined && opts.length === 0) return {};
  const config: Record<string, string> = {};
  for (const o of opts) {
    const eq = o.indexOf("=");
    if (eq <= 0) throw invalidArgument(`invalid log opt ${JSON.stringify(o)}: want key=value`);
    config[o.slice(0, eq)] = o.slice(eq + 1);
  }
  return { LogConfig: { Type: driver ?? "", Config: config } };
}

function nanoCpus(v: string): number {
  if (!/^\d+(\.\d+)?$/.test(v)) throw invalidArgument(`invalid argument "${v}" for "--cpus" flag: a number is expected`);
  return Math.round(Number(v) * 1e9);
}

/** `--mount type=bind,source=/a,target=/b,readonly` */
function parseMount(s: string): Record<string, unknown> {
  const m: Record<string, unknown> = { Type: "volume" };
  for (const part of s.split(",")) {
    const [k = "", v] = part.split("=", 2);
    switch (k.trim().toLowerCase()) {
      case "type":
        m.Type = v;
        break;
      case "source":
      case "src":
        m.Source = v;
        break;
      case "target":
      case "destination":
      case "dst":
        m.Target = v;
        break;
      case "readonly":
      case "ro":
        m.ReadOnly = v === undefined || v === "true" || v === "1";
        break;
      case "bind-propagation":
        m.BindOptions = { Propagation: v };
        break;
      case "tmpfs-size":
        m.TmpfsOptions = { ...((m.TmpfsOptions as object) ?? {}), SizeBytes: parseBytes(v ?? "", "mount") };
        break;
      case "tmpfs-mode":
        m.TmpfsOptions = { ...((m.TmpfsOptions as object) ?? {}), Mode: Number.parseInt(v ?? "", 8) };
        break;
      default:
        throw invalidArgument(`--mount ${s}: unknown option ${k}`);
    }
  }
  if (!m.Target) throw invalidArgument(`--mount ${s}: target is required`);
  return m;
}

async function pullImage(c: DaemonClient, image: string, io: Io, quiet: boolean): Promise<void> {
  const res = await c.stream("POST", `/images/create?fromImage=${enc(image)}`);
  const progress = quiet ? undefined : new PullProgress(io.err, io.isTTY);
  let buf = "";
  let failure: string | undefined;
  await new Promise<void>((resolve) => {
    res.setEncoding("utf8");
    res.on("data", (d: string) => {
      buf += d;
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          const m = JSON.parse(line) as { status?: string; id?: string; error?: string };
          if (m.error) failure = m.error;
          else if (!quiet && m.status && !m.id) io.err(`${m.status}\n`);
        } catch {
          // partial
        }
      }
    });
    res.on("end", () => resolve());
  });
  void progress;
  if (failure) throw new BerthError("NotFound", failure);
}

async function createContainer(c: DaemonClient, f: FlagValues, image: string, cmd: string[], io: Io): Promise<string> {
  const body = createBody(f, image, cmd);
  const name = str(f, "name");
  const path = `/containers/create${name ? `?name=${enc(name)}` : ""}`;
  const pull = str(f, "pull") ?? "missing";
  if (!["missing", "always", "never"].includes(pull)) throw invalidArgument(`--pull ${pull}: missing, always or never`);
  if (pull === "always") await pullImage(c, image, io, bool(f, "quiet"));
  try {
    return (await c.call<{ Id: string }>("POST", path, body)).body.Id;
  } catch (e) {
    if (!isKind(e, "NotFound") || pull === "never" || !/image/i.test((e as Error).message)) throw e;
    io.err(`Unable to find image '${image}' locally\n`);
    await pullImage(c, image, io, bool(f, "quiet"));
    return (await c.call<{ Id: string }>("POST", path, body)).body.Id;
  }
}

export const createCmd: ContainerCmd = async (c, args, io) => {
  const { flags, rest } = parseFlags(args, CREATE_FLAGS, "create");
  const [image, ...cmd] = rest;
  if (!image) throw invalidArgument('"berth create" requires at least 1 argument: IMAGE [COMMAND] [ARG...]');
  io.out(`${await createContainer(c, flags, image, cmd, io)}\n`);
  return 0;
};

/** Copy the container's stdio to ours (and our stdin to it); resolves when its stream ends. */
async function stream(sock: Socket, io: Io, tty: boolean, stdin: boolean): Promise<void> {
  const done = demux(
    sock,
    (b) => io.stdoutStream().write(b),
    (b) => process.stderr.write(b),
    tty,
  );
  let restore = false;
  if (stdin) {
    if (tty && process.stdin.isTTY) {
      native().setRaw(0, true);
      restore = true;
    }
    process.stdin.on("data", (d) => sock.write(d));
    process.stdin.on("end", () => sock.end());
  }
  try {
    await done;
  } finally {
    if (restore) native().setRaw(0, false);
    if (stdin) {
      process.stdin.pause();
      process.stdin.unref?.();
    }
  }
  void io;
}

function resizeOnWinch(c: DaemonClient, path: string): () => void {
  if (!process.stdout.isTTY) return () => {};
  const send = () => {
    void c.call("POST", `${path}?h=${process.stdout.rows}&w=${process.stdout.columns}`).catch(() => {});
  };
  process.on("SIGWINCH", send);
  send();
  return () => process.off("SIGWINCH", send);
}

/**
 * The attach stream and the wait, both registered before a start (no byte and no exit is
 * missed), asked side by side: one round trip. When either fails the other is closed.
 */
async function attachAndWait(c: DaemonClient, attach: string, wait: string): Promise<[Socket, Response]> {
  const sock = c.hijack(attach);
  const res = c.stream("POST", wait);
  try {
    return await Promise.all([sock, res]);
  } catch (e) {
    sock.then(
      (s) => s.destroy(),
      () => {},
    );
    res.then(
      (r) => r.destroy(),
      () => {},
    );
    throw e;
  }
}

export const runCmd: ContainerCmd = async (c, args, io) => {
  const { flags, rest } = parseFlags(args, RUN_FLAGS, "run");
  const [image, ...cmd] = rest;
  if (!image) throw invalidArgument('"berth run" requires at least 1 argument: IMAGE [COMMAND] [ARG...]');
  const detach = bool(flags, "detach");
  const tty = bool(flags, "tty");
  const interactive = bool(flags, "interactive");
  if (tty && interactive && !process.stdin.isTTY && !detach) throw invalidArgument("the input device is not a TTY");
  // docker's exit codes for a run that never ran: 125 the daemon refused, 126 not executable, 127 not found
  const failed = async (e: unknown, id?: string): Promise<number> => {
    let code = 125;
    if (id) {
      try {
        const st = (await c.call<{ State: { ExitCode: number } }>("GET", `/containers/${id}/json`)).body.State.ExitCode;
        if (st === 126 || st === 127) code = st;
      } catch {
        // removed meanwhile
      }
      if (bool(flags, "rm")) await c.call("DELETE", `/containers/${id}?force=1`).catch(() => {});
    }
    io.err(`berth: Error response from daemon: ${(e as Error).message}\n`);
    return code;
  };
  let id: string;
  try {
    id = await createContainer(c, flags, image, cmd, io);
  } catch (e) {
    if (isKind(e, "Unavailable")) throw e;
    return failed(e);
  }
  if (detach) {
    try {
      await c.call("POST", `/containers/${id}/start`);
    } catch (e) {
      return failed(e, id);
    }
    io.out(`${id}\n`);
    return 0;
  }
  const [sock, waitRes] = await attachAndWait(
    c,
    `/containers/${id}/attach?stream=1&stdout=1&stderr=1${interactive ? "&stdin=1" : ""}`,
    `/containers/${id}/wait?condition=${bool(flags, "rm") ? "removed" : "next-exit"}`,
  );
  const exit = readAll(waitRes).then((t) => JSON.parse(t) as { StatusCode: number; Error?: { Message: string } });
  const streaming = stream(sock, io, tty, interactive);
  const proxied: Array<[NodeJS.Signals, () => void]> = [];
  if (!tty)
    for (const sig of ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"] as NodeJS.Signals[]) {
      const h = () => {
        void c.call("POST", `/containers/${id}/kill?signal=${sig}`).catch(() => {});
      };
      process.on(sig, h);
      proxied.push([sig, h]);
    }
  try {
    await c.call("POST", `/containers/${id}/start`);
  } catch (e) {
    sock.destroy();
    waitRes.destroy();
    for (const [sig, h] of proxied) process.off(sig, h);
    return failed(e, id);
  }
  const stopResize = tty ? resizeOnWinch(c, `/containers/${id}/resize`) : () => {};
  await streaming;
  const r = await exit;
  stopResize();
  for (const [sig, h] of proxied) process.off(sig, h);
  if (r.Error?.Message) io.err(`berth: ${r.Error.Message}\n`);
  return r.StatusCode;
};

export const startCmd: ContainerCmd = async (c, args, io) => {
  const { flags, rest } = parseFlags(
    args,
    [
      { name: "attach", short: "a", type: "bool" },
      { name: "interactive", short: "i", type: "bool" },
    ],
    "start",
    { interspersed: true },
  );
  if (rest.length === 0) throw invalidArgument('"berth start" requires at least 1 argument');
  if (bool(flags, "attach") || bool(flags, "interactive")) {
    const id = rest[0] as string;
    const info = (await c.call<{ Id: string; Config: { Tty?: boolean } }>("GET", `/containers/${enc(id)}/json`)).body;
    const stdin = bool(flags, "interactive");
    const [sock, waitRes] = await attachAndWait(
      c,
      `/containers/${info.Id}/attach?stream=1&stdout=1&stderr=1${stdin ? "&stdin=1" : ""}`,
      `/containers/${info.Id}/wait?condition=next-exit`,
    );
    const exit = readAll(waitRes).then((t) => JSON.parse(t) as { StatusCode: number });
    const streaming = stream(sock, io, info.Config.Tty === true, stdin);
    await c.call("POST", `/containers/${info.Id}/start`);
    await streaming;
    return (await exit).StatusCode;
  }
  return each(rest, io, async (id) => {
    await c.call("POST", `/containers/${enc(id)}/start`);
  });
};

/** Run `f` for every name, printing each as docker does; exit 1 if any failed. */
export async function each(ids: string[], io: Io, f: (id: string) => Promise<void>): Promise<number> {
  let rc = 0;
  for (const id of ids) {
    try {
      await f(id);
      io.out(`${id}\n`);
    } catch (e) {
      io.err(`Error response from daemon: ${(e as Error).message}\n`);
      rc = 1;
    }
  }
  return rc;
}

export const stopCmd: ContainerCmd = async (c, args, io) => {
  const { flags, rest } = parseFlags(
    args,
    [
      { name: "time", short: "t", type: "int" },
      { name: "signal", short: "s", type: "string" },
    ],
    "stop",
    { interspersed: true },
  );
  if (rest.length === 0) throw invalidArgument('"berth stop" requires at least 1 argument');
  const t = int(flags, "time");
  const sig = str(flags, "signal");
  const q = [t !== undefined ? `t=${t}` : "", sig ? `signal=${enc(sig)}` : ""].filter(Boolean).join("&");
  return each(rest, io, async (id) => {
    await c.call("POST", `/containers/${enc(id)}/stop${q ? `?${q}` : ""}`);
  });
};

export const restartCmd: ContainerCmd = async (c, args, io) => {
  const { flags, rest } = parseFlags(args, [{ name: "time", short: "t", type: "int" }], "restart", { interspersed: true });
  if (rest.length === 0) throw invalidArgument('"berth restart" requires at least 1 argument');
  const t = int(flags, "time");
  return each(rest, io, async (id) => {
    await c.call("POST", `/containers/${enc(id)}/restart${t !== undefined ? `?t=${t}` : ""}`);
  });
};

export const killCmd: ContainerCmd = async (c, args, io) => {
  const { flags, rest } = parseFlags(args, [{ name: "signal", short: "s", type: "string" }], "kill", { interspersed: true });
  if (rest.length === 0) throw invalidArgument('"berth kill" requires at least 1 argument');
  const sig = str(flags, "signal");
  return each(rest, io, async (id) => {
    await c.call("POST", `/containers/${enc(id)}/kill${sig ? `?signal=${enc(sig)}` : ""}`);
  });
};

export const rmCmd: ContainerCmd = async (c, args, io) => {
  const { flags, rest } = parseFlags(
    args,
    [
      { name: "force", short: "f", type: "bool" },
      { name: "volumes", short: "v", type: "bool" },
    ],
    "rm",
    { interspersed: true },
  );
  if (rest.length === 0) throw invalidArgument('"berth rm" requires at least 1 argument');
  const q = `?force=${bool(flags, "force") ? 1 : 0}&v=${bool(flags, "volumes") ? 1 : 0}`;
  return each(rest, io, async (id) => {
    await c.call("DELETE", `/containers/${enc(id)}${q}`);
  });
};

export const pauseCmd =
  (on: boolean): ContainerCmd =>
  async (c, args, io) => {
    if (args.length === 0) throw invalidArgument(`"berth ${on ? "pause" : "unpause"}" requires at least 1 argument`);
    return each(args, io, async (id) => {
      await c.call("POST", `/containers/${enc(id)}/${on ? "pause" : "unpause"}`);
    });
  };

export const renameCmd: ContainerCmd = async (c, args) => {
  if (args.length !== 2) throw invalidArgument('"berth rename" requires exactly 2 arguments: CONTAINER NEW_NAME');
  await c.call("POST", `/containers/${enc(args[0] as string)}/rename?name=${enc(args[1] as string)}`);
  return 0;
};

export const waitCmd: ContainerCmd = async (c, args, io) => {
  if (args.length === 0) throw invalidArgument('"berth wait" requires at least 1 argument');
  let rc = 0;
  for (const id of args) {
    try {
      const r = await c.call<{ StatusCode: number }>("POST", `/containers/${enc(id)}/wait`);
      io.out(`${r.body.StatusCode}\n`);
    } catch (e) {
      io.err(`Error response from daemon: ${(e as Error).message}\n`);
      rc = 1;
    }
  }
  return rc;
};

interface Summary {
  Id: string;
  Names: string[];
  Image: string;
  Command: string;
  Created: number;
  Status: string;
  State: string;
  Ports: Array<{ IP?: string; PrivatePort: number; PublicPort?: number; Type: string }>;
  Labels: Record<string, string>;
  NetworkSettings?: { Networks?: Record<string, unknown> };
}

export const psCmd: ContainerCmd = async (c, args, io) => {
  const { flags } = parseFlags(
    args,
    [
      { name: "all", short: "a", type: "bool" },
      { name: "quiet", short: "q", type: "bool" },
      { name: "no-trunc", type: "bool" },
      { name: "filter", short: "f", type: "list" },
      { name: "format", type: "string" },
      { name: "last", short: "n", type: "int" },
      { name: "latest", short: "l", type: "bool" },
    ],
    "ps",
    { interspersed: true },
  );
  const filters: Record<string, string[]> = {};
  for (const f of list(flags, "filter")) {
    const [k, v = ""] = f.split(/=(.*)/s);
    filters[k as string] = [...(filters[k as string] ?? []), v];
  }
  const limit = bool(flags, "latest") ? 1 : (int(flags, "last") ?? 0);
  const q = `all=${bool(flags, "all") || limit > 0 ? 1 : 0}${limit ? `&limit=${limit}` : ""}${Object.keys(filters).length ? `&filters=${enc(JSON.stringify(filters))}` : ""}`;
  const list_ = (await c.call<Summary[]>("GET", `/containers/json?${q}`)).body;
  const trunc = !bool(flags, "no-trunc");
  if (bool(flags, "quiet")) {
    for (const r of list_) io.out(`${trunc ? shortId(r.Id) : r.Id}\n`);
    return 0;
  }
  const ports = (r: Summary) =>
    r.Ports.map((p) =>
      p.PublicPort ? `${p.IP}:${p.PublicPort}->${p.PrivatePort}/${p.Type}` : `${p.PrivatePort}/${p.Type}`,
    ).join(", ");
  const cmd = (s: string) => JSON.stringify(trunc && s.length > 20 ? `${s.slice(0, 19)}…` : s);
  const format = str(flags, "format");
  if (format !== undefined && format !== "" && format !== "table") {
    // docker's fields for a --format template (and for json: what `docker ps --format json` prints)
    const rows = list_.map((r) => ({
      Command: cmd(r.Command),
      CreatedAt: goTime(r.Created),
      ID: trunc ? shortId(r.Id) : r.Id,
      Image: r.Image,
      Labels: Object.entries(r.Labels ?? {})
        .map(([k, v]) => `${k}=${v}`)
        .join(","),
      // docker's {{.Label "key"}}
      Label: (key: unknown) => r.Labels?.[String(key)] ?? "",
      LocalVolumes: "0",
      Mounts: "",
      Names: r.Names.map((n) => n.slice(1)).join(","),
      Networks: Object.keys(r.NetworkSettings?.Networks ?? {})
        .sort()
        .join(","),
      Ports: ports(r),
      RunningFor: ago(r.Created),
      Size: "",
      State: r.State,
      Status: r.Status,
    }));
    io.out(
      formatRows(format, rows, {
        ID: "CONTAINER ID",
        Image: "IMAGE",
        Command: "COMMAND",
        CreatedAt: "CREATED AT",
        RunningFor: "CREATED",
        Ports: "PORTS",
        State: "STATE",
        Status: "STATUS",
        Size: "SIZE",
        Names: "NAMES",
        Labels: "LABELS",
        Mounts: "MOUNTS",
        Networks: "NETWORKS",
        LocalVolumes: "LOCAL VOLUMES",
      }),
    );
    return 0;
  }
  io.out(
    table(
      ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"],
      list_.map((r) => [
        trunc ? shortId(r.Id) : r.Id,
        r.Image,
        cmd(r.Command),
        `${ago(r.Created)}`,
        r.Status,
        ports(r),
        r.Names.map((n) => n.slice(1)).join(","),
      ]),
    ),
  );
  return 0;
};

/** Go's time.Time String() of a unix time, as docker's CreatedAt: "2006-01-02 15:04:05 -0700 MST". */
function goTime(unixSeconds: number): string {
  const d = new Date(unixSeconds * 1000);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000 UTC`;
}

function ago(unixSeconds: number): string {
  return `${duration(Math.max(0, Date.now() - unixSeconds * 1000))} ago`;
}

export const logsCmd: ContainerCmd = async (c, args, io) => {
  const { flags, rest } = parseFlags(
    args,
    [
      { name: "follow", short: "f", type: "bool" },
      { name: "tail", short: "n", type: "string" },
      { name: "since", type: "string" },
      { name: "until", type: "string" },
      { name: "timestamps", short: "t", type: "bool" },
    ],
    "logs",
    { interspersed: true },
  );
  if (rest.length !== 1) throw invalidArgument('"berth logs" requires exactly 1 argument');
  const id = rest[0] as string;
  const info = (await c.call<{ Id: string; Config: { Tty?: boolean } }>("GET", `/containers/${enc(id)}/json`)).body;
  const q = new URLSearchParams({ stdout: "1", stderr: "1" });
  if (bool(flags, "follow")) q.set("follow", "1");
  if (bool(flags, "timestamps")) q.set("timestamps", "1");
  if (str(flags, "tail")) q.set("tail", str(flags, "tail") as string);
  for (const k of ["since", "until"]) if (str(flags, k)) q.set(k, relTime(str(flags, k) as string));
  const res = await c.stream("GET", `/containers/${info.Id}/logs?${q}`);
  await demux(
    res,
    (b) => io.stdoutStream().write(b),
    (b) => process.stderr.write(b),
    info.Config.Tty === true,
  );
  return 0;
};

/** docker accepts "10m", "1h30m" as relative to now */
function relTime(v: string): string {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(v);
  if (!m) return v;
  const mult = { ms: 0.001, s: 1, m: 60, h: 3600 }[m[2] as "s"];
  return (Date.now() / 1000 - Number(m[1]) * mult).toFixed(9);
}

export const execCmd: ContainerCmd = async (c, args, io) => {
  const { flags, rest } = parseFlags(
    args,
    [
      { name: "interactive", short: "i", type: "bool" },
      { name: "tty", short: "t", type: "bool" },
      { name: "detach", short: "d", type: "bool" },
      { name: "env", short: "e", type: "list" },
      { name: "user", short: "u", type: "string" },
      { name: "workdir", short: "w", type: "string" },
      { name: "privileged", type: "bool" },
    ],
    "exec",
  );
  const [id, ...cmd] = rest;
  if (!id || cmd.length === 0) throw invalidArgument('"berth exec" requires at least 2 arguments: CONTAINER COMMAND [ARG...]');
  const tty = bool(flags, "tty");
  const interactive = bool(flags, "interactive");
  const detach = bool(flags, "detach");
  const body = {
    Cmd: cmd,
    Env: envList(flags),
    Tty: tty,
    AttachStdin: interactive && !detach,
    AttachStdout: !detach,
    AttachStderr: !detach,
    Privileged: bool(flags, "privileged"),
    ...(str(flags, "user") ? { User: str(flags, "user") } : {}),
    ...(str(flags, "workdir") ? { WorkingDir: str(flags, "workdir") } : {}),
  };
  const x = (await c.call<{ Id: string }>("POST", `/containers/${enc(id)}/exec`, body)).body.Id;
  if (detach) {
    await c.call("POST", `/exec/${x}/start`, { Detach: true });
    return 0;
  }
  const sock = await c.hijack(`/exec/${x}/start`, { Detach: false, Tty: tty });
  const stopResize = tty ? resizeOnWinch(c, `/exec/${x}/resize`) : () => {};
  await stream(sock, io, tty, interactive);
  stopResize();
  for (let i = 0; i < 100; i++) {
    const r = (await c.call<{ Running: boolean; ExitCode: number | null }>("GET", `/exec/${x}/json`)).body;
    if (!r.Running && r.ExitCode !== null) return r.ExitCode;
    await new Promise((res) => setTimeout(res, 20));
  }
  return 1;
};

export const attachCmd: ContainerCmd = async (c, args, io) => {
  const { flags, rest } = parseFlags(
    args,
    [
      { name: "no-stdin", type: "bool" },
      { name: "sig-proxy", type: "bool" },
    ],
    "attach",
    { interspersed: true },
  );
  if (rest.length !== 1) throw invalidArgument('"berth attach" requires exactly 1 argument');
  const info = (
    await c.call<{ Id: string; Config: { Tty?: boolean; OpenStdin?: boolean }; State: { Running: boolean } }>(
      "GET",
      `/containers/${enc(rest[0] as string)}/json`,
    )
  ).body;
  if (!info.State.Running) throw invalidArgument("You cannot attach to a stopped container, start it first");
  const stdin = info.Config.OpenStdin === true && !bool(flags, "no-stdin");
  const [sock, waitRes] = await attachAndWait(
    c,
    `/containers/${info.Id}/attach?stream=1&stdout=1&stderr=1${stdin ? "&stdin=1" : ""}`,
    `/containers/${info.Id}/wait?condition=next-exit`,
  );
  const exit = readAll(waitRes).then((t) => JSON.parse(t) as { StatusCode: number });
  await stream(sock, io, info.Config.Tty === true, stdin);
  return (await exit).StatusCode;
};

export const inspectCmd: ContainerCmd = async (c, args, io) => {
  const { flags, rest } = parseFlags(
    args,
    [
      { name: "format", short: "f", type: "string" },
      { name: "type", type: "string" },
    ],
    "inspect",
    { interspersed: true },
  );
  if (rest.length === 0) throw invalidArgument('"berth inspect" requires at least 1 argument');
  const out: unknown[] = [];
  let rc = 0;
  for (const id of rest) {
    try {
      if (str(flags, "type") !== "image") {
        out.push((await c.call("GET", `/containers/${enc(id)}/json`)).body);
        continue;
      }
      throw new BerthError("NotFound", "");
    } catch (e) {
      if (!isKind(e, "NotFound")) throw e;
      try {
        out.push((await c.call("GET", `/images/${enc(id)}/json`)).body);
      } catch {
        io.err(`Error: No such object: ${id}\n`);
        rc = 1;
      }
    }
  }
  const format = str(flags, "format");
  if (format) for (const o of out) io.out(`${template(format, o)}\n`);
  else io.out(`${JSON.stringify(out, null, 4)}\n`);
  return rc;
};

/** `--format TEMPLATE` of inspect-like commands: Go's text/template, as docker's (go-template.ts). */
export function template(format: string, o: unknown): string {
  return renderTemplate(format, o);
}

export const topCmd: ContainerCmd = async (c, args, io) => {
  if (args.length < 1) throw invalidArgument('"berth top" requires at least 1 argument');
  const r = (await c.call<{ Titles: string[]; Processes: string[][] }>("GET", `/containers/${enc(args[0] as string)}/top`)).body;
  io.out(table(r.Titles, r.Processes));
  return 0;
};

export const portCmd: ContainerCmd = async (c, args, io) => {
  if (args.length < 1) throw invalidArgument('"berth port" requires at least 1 argument');
  const r = (
    await c.call<{ NetworkSettings: { Ports: Record<string, Array<{ HostIp: string; HostPort: string }>> } }>(
      "GET",
      `/containers/${enc(args[0] as string)}/json`,
    )
  ).body;
  for (const [k, v] of Object.entries(r.NetworkSettings.Ports ?? {})) {
    if (args[1] && k !== args[1] && k !== `${args[1]}/tcp`) continue;
    for (const b of v) io.out(args[1] ? `${b.HostIp}:${b.HostPort}\n` : `${k} -> ${b.HostIp}:${b.HostPort}\n`);
  }
  return 0;
};

export const updateCmd: ContainerCmd = async (c, args, io) => {
  const { flags, rest } = parseFlags(
    args,
    CREATE_FLAGS.filter((f) =>
      [
        "memory",
        "memory-swap",
        "memory-reservation",
        "cpus",
        "cpu-shares",
        "cpu-period",
        "cpu-quota",
        "cpuset-cpus",
        "cpuset-mems",
        "pids-limit",
        "blkio-weight",
        "restart",
      ].includes(f.name),
    ),
    "update",
    { interspersed: true },
  );
  if (rest.length === 0) throw invalidArgument('"berth update" requires at least 1 argument');
  const body = createBody(flags, "", []).HostConfig as Record<string, unknown>;
  const picked = Object.fromEntries(
    Object.entries(body).filter(
      ([k, v]) =>
        ![
          "Binds",
          "Mounts",
          "Tmpfs",
          "NetworkMode",
          "PortBindings",
          "AutoRemove",
          "CapAdd",
          "CapDrop",
          "Privileged",
          "ReadonlyRootfs",
          "SecurityOpt",
          "Init",
          "ExtraHosts",
          "Dns",
          "DnsSearch",
          "DnsOptions",
          "Sysctls",
          "Ulimits",
          "Devices",
          "GroupAdd",
        ].includes(k) && v !== undefined,
    ),
  );
  return each(rest, io, async (id) => {
    await c.call("POST", `/containers/${enc(id)}/update`, picked);
  });
};

export const eventsCmd: ContainerCmd = async (c, args, io) => {
  const { flags } = parseFlags(
    args,
    [
      { name: "since", type: "string" },
      { name: "until", type: "string" },
      { name: "filter", short: "f", type: "list" },
      { name: "format", type: "string" },
    ],
    "events",
    { interspersed: true },
  );
  const q = new URLSearchParams();
  for (const k of ["since", "until"]) if (str(flags, k)) q.set(k, relTime(str(flags, k) as string));
  const filters: Record<string, string[]> = {};
  for (const f of list(flags, "filter")) {
    const [k, v = ""] = f.split(/=(.*)/s);
    filters[k as string] = [...(filters[k as string] ?? []), v];
  }
  if (Object.keys(filters).length) q.set("filters", JSON.stringify(filters));
  const res = await c.stream("GET", `/events?${q}`);
  res.setEncoding("utf8");
  let buf = "";
  const json = str(flags, "format") === "json" || str(flags, "format") === "{{json .}}";
  await new Promise<void>((resolve) => {
    res.on("data", (d: string) => {
      buf += d;
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (!line) continue;
        if (json) {
          io.out(`${line}\n`);
          continue;
        }
        const e = JSON.parse(line) as {
          Type: string;
          Action: string;
          Actor: { ID: string; Attributes: Record<string, string> };
          timeNano: number;
        };
        const attrs = Object.entries(e.Actor.Attributes)
          .map(([k, v]) => `${k}=${v}`)
          .sort()
          .join(", ");
        const t = new Date(Math.floor(e.timeNano / 1e6))
          .toISOString()
          .replace("Z", `${String(e.timeNano % 1e6).padStart(6, "0")}Z`);
        io.out(`${t} ${e.Type} ${e.Action} ${e.Actor.ID}${attrs ? ` (${attrs})` : ""}\n`);
      }
    });
    res.on("end", () => resolve());
    res.on("close", () => resolve());
  });
  return 0;
};

export const infoCmd: ContainerCmd = async (c, args, io) => {
  const { flags } = parseFlags(args, [{ name: "format", short: "f", type: "string" }], "info", { interspersed: true });
  const i = (await c.call<Record<string, unknown>>("GET", "/info")).body;
  if (str(flags, "format")) {
    io.out(`${str(flags, "format") === "json" ? JSON.stringify(i) : template(str(flags, "format") as string, i)}\n`);
    return 0;
  }
  const lines = [
    `Containers: ${i.Containers}`,
    ` Running: ${i.ContainersRunning}`,
    ` Paused: ${i.ContainersPaused}`,
    ` Stopped: ${i.ContainersStopped}`,
    `Images: ${i.Images}`,
    `Server Version: ${i.ServerVersion}`,
    `Storage Driver: ${i.Driver}`,
    `Logging Driver: ${i.LoggingDriver ?? "json-file"}`,
    `Cgroup Driver: ${i.CgroupDriver}`,
    `Cgroup Version: ${i.CgroupVersion}`,
    `Runtimes: ${Object.keys(i.Runtimes as object).join(" ")}`,
    `Default Runtime: ${i.DefaultRuntime}`,
    `Kernel Version: ${i.KernelVersion}`,
    `Operating System: ${i.OperatingSystem}`,
    `Architecture: ${i.Architecture}`,
    `CPUs: ${i.NCPU}`,
    `Total Memory: ${humanSize(Number(i.MemTotal))}`,
    `Name: ${i.Name}`,
    `ID: ${i.ID}`,
    `Berth Root Dir: ${i.DockerRootDir}`,
  ];
  io.out(`${lines.join("\n")}\n`);
  return 0;
};

export const versionCmd =
  (clientVersion: string): ContainerCmd =>
  async (c, args, io) => {
    const { flags } = parseFlags(args, [{ name: "format", short: "f", type: "string" }], "version", { interspersed: true });
    let server: Record<string, unknown> | undefined;
    let err: string | undefined;
    try {
      server = (await c.call<Record<string, unknown>>("GET", "/version")).body;
    } catch (e) {
      err = (e as Error).message;
    }
    if (str(flags, "format") === "json") {
      io.out(`${JSON.stringify({ Client: { Version: clientVersion }, Server: server ?? null })}\n`);
      return err ? 1 : 0;
    }
    io.out(
      `Client:\n Version:           ${clientVersion}\n Node:              ${process.version}\n OS/Arch:           linux/${process.arch === "x64" ? "amd64" : process.arch}\n`,
    );
    if (server)
      io.out(
        `\nServer: berthd\n Version:           ${server.Version}\n API version:       ${server.ApiVersion}\n Kernel:            ${server.KernelVersion}\n`,
      );
    if (err) {
      io.err(`${err}\n`);
      return 1;
    }
    return 0;
  };

interface StatsView {
  id: string;
  name: string;
  cpu_stats: { cpu_usage: { total_usage: number }; system_cpu_usage: number; online_cpus: number };
  precpu_stats: { cpu_usage: { total_usage: number }; system_cpu_usage: number };
  memory_stats: { usage?: number; limit?: number; stats?: Record<string, number> };
  pids_stats: { current?: number };
  blkio_stats?: { io_service_bytes_recursive?: { op?: string; value?: number }[] | null };
  networks?: Record<string, { rx_bytes: number; tx_bytes: number }>;
}

/** docker's sizes for network and block I/O: decimal units, three significant digits ("1.23kB") */
function decimalSize(n: number): string {
  const units = ["B", "kB", "MB", "GB", "TB", "PB"];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${Number(v.toPrecision(3))}${units[i]}`;
}

/** docker's CPU % and memory (usage less the page cache, as docker's CLI shows it) */
function statsRow(s: StatsView): string[] {
  const cpuDelta = s.cpu_stats.cpu_usage.total_usage - s.precpu_stats.cpu_usage.total_usage;
  const sysDelta = s.cpu_stats.system_cpu_usage - s.precpu_stats.system_cpu_usage;
  const cpu = sysDelta > 0 && cpuDelta >= 0 ? (cpuDelta / sysDelta) * s.cpu_stats.online_cpus * 100 : 0;
  const cache = s.memory_stats.stats?.total_inactive_file ?? s.memory_stats.stats?.inactive_file ?? 0;
  const used = Math.max(0, (s.memory_stats.usage ?? 0) - cache);
  const limit = s.memory_stats.limit ?? 0;
  const nets = Object.values(s.networks ?? {});
  const blkio = (op: string) =>
    (s.blkio_stats?.io_service_bytes_recursive ?? [])
      .filter((e) => e.op?.toLowerCase() === op)
      .reduce((n, e) => n + (e.value ?? 0), 0);
  return [
    shortId(s.id),
    s.name.replace(/^\//, ""),
    `${cpu.toFixed(2)}%`,
    `${humanSize(used)} / ${humanSize(limit)}`,
    `${limit ? ((used / limit) * 100).toFixed(2) : "0.00"}%`,
    `${decimalSize(nets.reduce((n, x) => n + x.rx_bytes, 0))} / ${decimalSize(nets.reduce((n, x) => n + x.tx_bytes, 0))}`,
    `${decimalSize(blkio("read"))} / ${decimalSize(blkio("write"))}`,
    String(s.pids_stats.current ?? 0),
  ];
}

export const statsCmd: ContainerCmd = async (c, args, io) => {
  const { flags, rest } = parseFlags(
    args,
    [
      { name: "no-stream", type: "bool" },
      { name: "all", short: "a", type: "bool" },
      { name: "format", type: "string" },
    ],
    "stats",
    { interspersed: true },
  );
  const ids = rest.length
    ? rest
    : (await c.call<Summary[]>("GET", `/containers/json${bool(flags, "all") ? "?all=1" : ""}`)).body.map((s) => s.Id);
  const titles = ["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "BLOCK I/O", "PIDS"];
  const json = str(flags, "format") === "json";
  const sample = async () =>
    Promise.all(ids.map(async (id) => (await c.call<StatsView>("GET", `/containers/${enc(id)}/stats?stream=0`)).body));
  if (bool(flags, "no-stream")) {
    const all = await sample();
    if (json) for (const s of all) io.out(`${JSON.stringify(s)}\n`);
    else io.out(table(titles, all.map(statsRow)));
    return 0;
  }
  let stop = false;
  const onInt = () => {
    stop = true;
  };
  process.once("SIGINT", onInt);
  while (!stop) {
    const all = await sample();
    if (io.isTTY && !json) io.out("\x1b[2J\x1b[H");
    if (json) for (const s of all) io.out(`${JSON.stringify(s)}\n`);
    else io.out(table(titles, all.map(statsRow)));
  }
  process.off("SIGINT", onInt);
  return 0;
};
