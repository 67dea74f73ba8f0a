import { appendFileSync, existsSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { ApiServer, Daemon, type LogConfig, normalizeLogConfig } from "../../daemon/index.js";
import { describe, failedPrecondition, invalidArgument } from "../../errors/index.js";
import { native } from "../../native/index.js";
import { bool, list, parseFlags, str } from "../args.js";

const USAGE = `Usage:  berthd [OPTIONS]

berth's daemon: images, containers (supervised by berth-shim), networks and events,
served on a unix socket with the Docker Engine API's paths and shapes.

Options:
      --config-file FILE         JSON settings (default /etc/berth/daemon.json): the long flag names as keys
      --data-root DIR            images, containers, volumes (default /var/lib/berth)
      --exec-root DIR            shims, bundles, runtime state (default /run/berth)
  -H, --host unix:///PATH        the API socket (default unix:///run/berth/berth.sock, mode 0660)
      --add-runtime NAME=PATH    an OCI runtime by name, as dockerd's (repeatable)
      --default-runtime NAME     the runtime of containers that name none (default berth-runtime)
      --storage-driver NAME      overlayfs (default) or native
      --insecure-registry HOST   plain HTTP / unverified TLS for HOST[:PORT] or a CIDR (repeatable)
      --registry-mirror URL      a mirror tried before docker.io (repeatable)
      --bip CIDR                 the default bridge network's subnet (default 172.20.0.0/16)
  -b, --bridge NAME              the default bridge network's interface (default berth0)
      --cni-path DIR             where the CNI plugins are (repeatable; default /usr/lib/cni, /opt/cni/bin)
      --containers-per-shim N    containers one berth-shim process supervises (default 32)
      --log-driver NAME          containers' default logging driver: json-file (default) or none
      --log-opt KEY=VALUE        its default options, e.g. max-size=10m, max-file=3 (repeatable)
      --log-file FILE            log here instead of stderr
  -D, --debug                    log more
`;

/** berthd's command line: flags over the config file; runs until SIGTERM/SIGINT (containers keep running). */
export async function main(argv: string[]): Promise<number | undefined> {
  const { flags, rest } = parseFlags(
    argv,
    [
      { name: "config-file", type: "string" },
      { name: "data-root", type: "string" },
      { name: "exec-root", type: "string" },
      { name: "host", short: "H", type: "string" },
      { name: "add-runtime", type: "list" },
      { name: "default-runtime", type: "string" },
      { name: "storage-driver", type: "string" },
      { name: "insecure-registry", type: "list" },
      { name: "registry-mirror", type: "list" },
      { name: "log-file", type: "string" },
      { name: "bip", type: "string" },
      { name: "bridge", short: "b", type: "string" },
      { name: "cni-path", type: "list" },
      { name: "containers-per-shim", type: "int" },
      { name: "log-driver", type: "string" },
      { name: "log-opt", type: "list" },
      { name: "debug", short: "D", type: "bool" },
      { name: "help", short: "h", type: "bool" },
      { name: "version", short: "v", type: "bool" },
    ],
    "berthd",
  );
  if (bool(flags, "help")) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (bool(flags, "version")) {
    const { VERSION } = await import("../../daemon/index.js");
    process.stdout.write(`berthd version ${VERSION}\n`);
    return 0;
  }
  if (rest.length) throw invalidArgument(`berthd takes no arguments (got ${rest.join(" ")})`);
  const configFile = str(flags, "config-file") ?? "/etc/berth/daemon.json";
  let conf: Record<string, unknown> = {};
  if (existsSync(configFile)) {
    try {
      conf = JSON.parse(readFileSync(configFile, "utf8"));
    } catch (e) {
      throw invalidArgument(`config file ${configFile}: ${(e as Error).message}`);
    }
  } else if (str(flags, "config-file")) throw invalidArgument(`config file ${configFile}: not found`);
  const pick = (k: string): string | undefined =>
    str(flags, k) ?? (typeof conf[k] === "string" ? (conf[k] as string) : undefined);
  const pickList = (k: string, confKey = k): string[] => [
    ...(Array.isArray(conf[confKey]) ? (conf[confKey] as string[]) : []),
    ...list(flags, k),
  ];
  const logFile = pick("log-file");
  if (logFile) mkdirSync(dirname(logFile), { recursive: true });
  const log = (m: string) => {
    const line = `${new Date().toISOString()} berthd: ${m}\n`;
    if (logFile) appendFileSync(logFile, line);
    else process.stderr.write(line);
  };
  const runtimes: Record<string, string> = {};
  // daemon.json's "runtimes": {"name": {"path": "..."}}, as dockerd's
  for (const [name, v] of Object.entries((conf.runtimes as Record<string, { path?: string }>) ?? {}))
    if (v?.path) runtimes[name] = v.path;
  for (const r of list(flags, "add-runtime")) {
    const eq = r.indexOf("=");
    if (eq <= 0) throw invalidArgument(`--add-runtime ${r}: want NAME=PATH`);
    runtimes[r.slice(0, eq)] = r.slice(eq + 1);
  }
  const host = pick("host") ?? "unix:///run/berth/berth.sock";
  if (!host.startsWith("unix://")) throw invalidArgument(`--host ${host}: only unix:// sockets are served`);
  const sockPath = host.slice(7);
  const driver = pick("storage-driver");
  const mirrors = pickList("registry-mirror", "registry-mirrors");
  // one berthd per exec root: a second would answer for the same shims and handle every exit twice
  const execRoot = pick("exec-root") ?? "/run/berth";
  mkdirSync(execRoot, { recursive: true, mode: 0o711 });
  const lockFd = openSync(join(execRoot, "berthd.lock"), "w", 0o600);
  if (!native().flock(lockFd, 2 | 4))
    throw failedPrecondition(`another berthd is running on ${execRoot} (its lock ${join(execRoot, "berthd.lock")} is held)`);
  const logConfig = defaultLogConfig(pick("log-driver"), conf["log-opts"], list(flags, "log-opt"));
  const d = await Daemon.open({
    dataRoot: pick("data-root") ?? "/var/lib/berth",
    execRoot,
    runtimes,
    ...(pick("default-runtime") ? { defaultRuntime: pick("default-runtime") as string } : {}),
    ...(driver ? { snapshotter: driver === "native" || driver === "vfs" ? "native" : "overlayfs" } : {}),
    insecureRegistries: pickList("insecure-registry", "insecure-registries"),
    ...(mirrors.length ? { registryMirrors: { "docker.io": mirrors } } : {}),
    ...(pick("bip") ? { bridgeSubnet: pick("bip") as string } : {}),
    ...(pick("bridge") ? { bridgeName: pick("bridge") as string } : {}),
    ...(pickList("cni-path").length ? { cniPath: pickList("cni-path") } : {}),
    ...(typeof flags["containers-per-shim"] === "number" ? { containersPerShim: flags["containers-per-shim"] as number } : {}),
    logConfig,
    log,
  });
  const api = new ApiServer(d);
  mkdirSync(dirname(sockPath), { recursive: true, mode: 0o711 });
  await api.listen(sockPath);
  log(`berthd ${process.pid} serving ${host} (data root ${d.dataRoot}, exec root ${d.execRoot})`);
  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      log(`${sig}: shutting down; containers keep running under their shims`);
      resolve();
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
  try {
    await api.close();
    await d.drain();
    d.close();
  } catch (e) {
    log(`shutdown: ${describe(e)}`);
  }
  return 0;
}

/**
 * Containers' default log config: daemon.json's "log-driver" and "log-opts" (an object of strings)
 * under the flags, checked as a container's own would be (a bad one stops berthd at start).
 */
function defaultLogConfig(driver: string | undefined, confOpts: unknown, flagOpts: string[]): LogConfig {
  const opts: Record<string, string> = {};
  if (confOpts !== undefined) {
    if (typeof confOpts !== "object" || confOpts === null || Array.isArray(confOpts))
      throw invalidArgument(`config file: "log-opts" must be an object of strings`);
    for (const [k, v] of Object.entries(confOpts)) {
      if (typeof v !== "string") throw invalidArgument(`config file: "log-opts": ${k} must be a string`);
      opts[k] = v;
    }
  }
  for (const o of flagOpts) {
    const eq = o.indexOf("=");
    if (eq <= 0) throw invalidArgument(`--log-opt ${o}: want KEY=VALUE`);
    opts[o.slice(0, eq)] = o.slice(eq + 1);
  }
  try {
    return normalizeLogConfig({ Type: driver ?? "", Config: opts });
  } catch (e) {
    throw invalidArgument(`default log config: ${(e as Error).message}`);
  }
}
