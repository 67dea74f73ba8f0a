import type * as ChildProcess from "node:child_process";
import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import type { FlagSpec } from "../args.js";
import { bool, int, list, parseFlags, str } from "../args.js";
import { BerthError, describe, invalidArgument, notImplemented } from "../../errors/index.js";
import { OCI_VERSION } from "../../oci/index.js";
import * as rt from "../../runtime/index.js";
import type { RuntimeContext } from "../../runtime/index.js";

export const VERSION = "0.1.0";

const GLOBAL: FlagSpec[] = [
  { name: "root", type: "string" },
  { name: "log", type: "string" },
  { name: "log-format", type: "string" },
  { name: "debug", type: "bool" },
  { name: "systemd-cgroup", type: "bool" },
  { name: "rootless", type: "string" },
  { name: "criu", type: "string" },
  { name: "version", short: "v", type: "bool" },
  { name: "help", short: "h", type: "bool" },
];

const CREATE: FlagSpec[] = [
  { name: "bundle", short: "b", type: "string" },
  { name: "pid-file", type: "string" },
  { name: "console-socket", type: "string" },
  { name: "no-pivot", type: "bool" },
  { name: "no-new-keyring", type: "bool" },
  { name: "preserve-fds", type: "int" },
];

const USAGE = `berth-runtime: a runc-compatible OCI runtime

usage: berth-runtime [global flags] COMMAND [flags] ARGS

commands:
  create    create a container from a bundle (init waits for start)
  start     start a created container
  run       create and start a container (attached unless --detach)
  state     print the state of a container as JSON
  kill      send a signal to a container's init (--all: to every process)
  delete    delete a container (--force: even a running one)
  exec      run a new process in a running container
  list      list containers (--format table|json, --quiet)
  ps        list the processes of a container (--format table|json)
  pause     freeze every process of a container
  resume    thaw a paused container
  spec      write a default config.json into the bundle (--rootless: for an unprivileged user)
  update    change the resource limits of a container (--resources FILE|-, or --memory, --cpu-quota ...)
  events    print a container's resource statistics (--stats) or stream them and OOM events
  features  print the features this runtime supports as JSON
  warm      serve bin/berth-runtime calls from this process (--socket P, --idle-timeout S; see README)

global flags:
  --root DIR           state root (default /run/berth-runtime; not root: $XDG_RUNTIME_DIR/berth-runtime)
  --log FILE           also write log lines to FILE
  --log-format FORMAT  text or json
  --debug              log debug messages (the plan)
  --systemd-cgroup     use systemd for cgroups (refused where systemd does not run)
  --version            print the version
`;

export interface Io {
  out(s: string): void;
  err(s: string): void;
}

/** Set by the warm server: how to wait for a process the client started. */
export interface MainOptions {
  waitProcess?: (pid: number) => Promise<number>;
}

export async function main(argv: string[], io: Io, opts: MainOptions = {}): Promise<number> {
  let logFile: string | undefined;
  let logJson = false;
  const log = (level: string, msg: string) => {
    if (logFile) {
      const time = new Date().toISOString();
      const line = logJson ? JSON.stringify({ level, msg, time }) : `time="${time}" level=${level} msg="${msg}"`;
      try {
        appendFileSync(logFile, `${line}\n`);
      } catch {
        // the log is best effort; the error still reaches stderr
      }
    }
  };
  try {
    const { flags: g, rest } = parseFlags(argv, GLOBAL, "berth-runtime");
    logFile = str(g, "log");
    const fmt = str(g, "log-format") ?? "text";
    if (fmt !== "text" && fmt !== "json") throw invalidArgument(`--log-format: want text or json, got "${fmt}"`);
    logJson = fmt === "json";
    if (bool(g, "version")) {
      io.out(`berth-runtime version ${VERSION}\ncommit: none\nspec: ${OCI_VERSION}\n`);
      return 0;
    }
    const [cmd, ...args] = rest;
    if (bool(g, "help") || !cmd || cmd === "help") {
      io.out(USAGE);
      return cmd || bool(g, "help") ? 0 : 1;
    }
    const debug = bool(g, "debug");
    const ctx: RuntimeContext = {
      root: resolve(str(g, "root") ?? defaultRoot()),
      debug,
      log: (level, msg) => {
        if (level === "debug" && !debug) return;
        log(level, msg);
        if (level === "warning" || (level === "debug" && !logFile)) io.err(`${level}: ${msg}\n`);
      },
    };
    if (opts.waitProcess) ctx.waitProcess = opts.waitProcess;
    if (cmd === "warm") {
      const { serveWarm } = await import("./warm.js");
      return await serveWarm(args, io);
    }
    if (bool(g, "systemd-cgroup") && ["create", "run"].includes(cmd)) {
      const why = existsSync("/run/systemd/system")
        ? "the systemd cgroup driver is not implemented yet; run without --systemd-cgroup"
        : "systemd is not running on this host (no /run/systemd/system); run without --systemd-cgroup";
      throw notImplemented(`--systemd-cgroup: ${why}`);
    }
    return await command(ctx, cmd, args, io);
  } catch (err) {
    if (err instanceof rt.NeedsLocalProcess) throw err;
    const msg = describe(err);
    log("error", msg);
    io.err(`berth-runtime: ${msg}\n`);
    return err instanceof BerthError && err.kind === "InvalidArgument" && /flag/.test(err.message) ? 2 : 1;
  }
}

/**
 * The state root without --root: /run/berth-runtime for root; for anyone else
 * $XDG_RUNTIME_DIR/berth-runtime when set (runc: $XDG_RUNTIME_DIR/runc), as an
 * unprivileged user cannot write /run.
 */
export function defaultRoot(env: NodeJS.ProcessEnv = process.env, euid = process.geteuid?.() ?? 0): string {
  const xdg = env["XDG_RUNTIME_DIR"];
  return euid !== 0 && xdg ? `${xdg}/berth-runtime` : "/run/berth-runtime";
}

function one(args: string[], cmd: string, what = "container id"): string {
  const [id, ...extra] = args;
  if (!id) throw invalidArgument(`${cmd}: ${what} is required`);
  if (extra.length) throw invalidArgument(`${cmd}: unexpected arguments ${JSON.stringify(extra)}`);
  return id;
}

async function command(ctx: RuntimeContext, cmd: string, argv: string[], io: Io): Promise<number> {
  switch (cmd) {
    case "create": {
      const { flags, rest } = parseFlags(argv, CREATE, cmd);
      rt.create(ctx, createOpts(flags, one(rest, cmd)));
      return 0;
    }
    case "run": {
      const { flags, rest } = parseFlags(
        argv,
        [...CREATE, { name: "detach", short: "d", type: "bool" }, { name: "keep", type: "bool" }],
        cmd,
      );
      return await rt.run(ctx, {
        ...createOpts(flags, one(rest, cmd)),
        detach: bool(flags, "detach"),
        keep: bool(flags, "keep"),
      });
    }
    case "start":
      rt.start(ctx, one(parseFlags(argv, [], cmd).rest, cmd));
      return 0;
    case "state": {
      const id = one(parseFlags(argv, [], cmd).rest, cmd);
      io.out(`${JSON.stringify(rt.ociState(ctx.root, rt.loadState(ctx.root, id)), null, 2)}\n`);
      return 0;
    }
    case "kill": {
      const { flags, rest } = parseFlags(argv, [{ name: "all", short: "a", type: "bool" }], cmd);
      const [id, sig, ...extra] = rest;
      if (!id) throw invalidArgument("kill: container id is required");
      if (extra.length) throw invalidArgument(`kill: unexpected arguments ${JSON.stringify(extra)}`);
      rt.kill(ctx, id, rt.parseSignal(sig), bool(flags, "all"));
      return 0;
    }
    case "delete": {
      const { flags, rest } = parseFlags(argv, [{ name: "force", short: "f", type: "bool" }], cmd);
      rt.deleteContainer(ctx, one(rest, cmd), bool(flags, "force"));
      return 0;
    }
    case "pause":
      rt.pause(ctx, one(parseFlags(argv, [], cmd).rest, cmd));
      return 0;
    case "resume":
      rt.resume(ctx, one(parseFlags(argv, [], cmd).rest, cmd));
      return 0;
    case "exec": {
      const { flags, rest } = parseFlags(
        argv,
        [
          { name: "process", short: "p", type: "string" },
          { name: "tty", short: "t", type: "bool" },
          { name: "cwd", type: "string" },
          { name: "env", short: "e", type: "list" },
          { name: "user", short: "u", type: "string" },
          { name: "additional-gids", short: "g", type: "list" },
          { name: "cap", short: "c", type: "list" },
          { name: "no-new-privs", type: "bool" },
          { name: "detach", short: "d", type: "bool" },
          { name: "pid-file", type: "string" },
          { name: "console-socket", type: "string" },
          { name: "preserve-fds", type: "int" },
          { name: "apparmor", type: "string" },
          { name: "process-label", type: "string" },
          { name: "ignore-paused", type: "bool" },
          { name: "cgroup", type: "list" },
        ],
        cmd,
      );
      const [id, ...args] = rest;
      if (!id) throw invalidArgument("exec: container id is required");
      const o: rt.ExecOptions = {
        id,
        args,
        detach: bool(flags, "detach"),
        tty: bool(flags, "tty"),
        noNewPrivs: bool(flags, "no-new-privs"),
      };
      const set = <K extends keyof rt.ExecOptions>(k: K, v: rt.ExecOptions[K] | undefined) => {
        if (v !== undefined) o[k] = v;
      };
      set("processFile", str(flags, "process"));
      set("cwd", str(flags, "cwd"));
      set("env", list(flags, "env"));
      set("user", str(flags, "user"));
      set("caps", list(flags, "cap"));
      set("pidFile", str(flags, "pid-file"));
      set("consoleSocket", str(flags, "console-socket"));
      set("preserveFds", int(flags, "preserve-fds"));
      const gids = list(flags, "additional-gids").flatMap((g) => g.split(","));
      if (gids.length) o.additionalGids = gids.map((g) => Number(g));
      const r = await rt.exec(ctx, o);
      return r.exitCode ?? 0;
    }
    case "list": {
      const { flags } = parseFlags(
        argv,
        [
          { name: "format", short: "f", type: "string" },
          { name: "quiet", short: "q", type: "bool" },
        ],
        cmd,
      );
      const all = rt.list(ctx);
      if (bool(flags, "quiet")) io.out(all.map((c) => `${c.id}\n`).join(""));
      else if ((str(flags, "format") ?? "table") === "json") io.out(`${JSON.stringify(all)}\n`);
      else
        io.out(
          table([
            ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"],
            ...all.map((c) => [c.id, String(c.pid), c.status, c.bundle, c.created, c.owner]),
          ]),
        );
      return 0;
    }
    case "ps": {
      const { flags, rest } = parseFlags(argv, [{ name: "format", short: "f", type: "string" }], cmd);
      const [id, ...psArgs] = rest;
      if (!id) throw invalidArgument("ps: container id is required");
      const pids = rt.ps(ctx, id);
      const format = str(flags, "format") ?? "table";
      if (format === "json") {
        io.out(`${JSON.stringify(pids)}\n`);
        return 0;
      }
      if (format !== "table") throw invalidArgument(`ps: --format: want table or json, got "${format}"`);
      const { execFileSync } = process.getBuiltinModule("node:child_process") as typeof ChildProcess;
      const out = execFileSync("ps", psArgs.length ? psArgs : ["-ef"], { encoding: "utf8" }).split("\n");
      const header = out[0] ?? "";
      const col = header.trim().split(/\s+/).indexOf("PID");
      if (col < 0) throw invalidArgument("ps: the ps output has no PID column");
      const set = new Set(pids.map(String));
      io.out(`${[header, ...out.slice(1).filter((l) => set.has(l.trim().split(/\s+/)[col] ?? ""))].join("\n")}\n`);
      return 0;
    }
    case "spec": {
      const { flags } = parseFlags(
        argv,
        [
          { name: "bundle", short: "b", type: "string" },
          { name: "rootless", type: "bool" },
        ],
        cmd,
      );
      const file = resolve(str(flags, "bundle") ?? ".", "config.json");
      if (existsSync(file)) throw invalidArgument(`spec: "${file}" exists; remove it first`);
      const spec = bool(flags, "rootless")
        ? rt.toRootless(rt.defaultSpec(), { uid: process.geteuid?.() ?? 0, gid: process.getegid?.() ?? 0 })
        : rt.defaultSpec();
      writeFileSync(file, `${JSON.stringify(spec, null, "\t")}\n`);
      return 0;
    }
    case "features":
      parseFlags(argv, [], cmd);
      io.out(`${JSON.stringify(rt.features(VERSION), null, 2)}\n`);
      return 0;
    case "update": {
      const { flags, rest } = parseFlags(
        argv,
        [
          { name: "resources", short: "r", type: "string" },
          ...[
            "memory",
            "memory-reservation",
            "memory-swap",
            "kernel-memory",
            "kernel-memory-tcp",
            "cpu-share",
            "cpu-shares",
            "cpu-quota",
            "cpu-period",
            "cpu-burst",
            "cpu-rt-period",
            "cpu-rt-runtime",
            "cpu-idle",
            "cpuset-cpus",
            "cpuset-mems",
            "l3-cache-schema",
            "mem-bw-schema",
          ].map((name): FlagSpec => ({ name, type: "string" })),
          { name: "pids-limit", type: "int" },
          { name: "blkio-weight", type: "int" },
        ],
        cmd,
      );
      const id = one(rest, cmd);
      if (str(flags, "l3-cache-schema") || str(flags, "mem-bw-schema"))
        throw notImplemented("update: Intel RDT schemas are not supported by berth-runtime");
      const file = str(flags, "resources");
      let request: rt.UpdateFlags | undefined;
      let resources: Parameters<typeof rt.update>[2];
      if (file) {
        // as runc: with --resources, every other flag is ignored
        if (file === "-" && ctx.waitProcess) throw new rt.NeedsLocalProcess("update --resources - reads the caller's stdin");
        resources = rt.parseResourcesJson(readFileSync(file === "-" ? 0 : file, "utf8"), file === "-" ? "stdin" : file);
      } else {
        request = {};
        const set = <K extends keyof rt.UpdateFlags>(k: K, v: rt.UpdateFlags[K] | undefined) => {
          if (v !== undefined) (request as rt.UpdateFlags)[k] = v;
        };
        set("memory", str(flags, "memory"));
        set("memoryReservation", str(flags, "memory-reservation"));
        set("memorySwap", str(flags, "memory-swap"));
        set("kernelMemory", str(flags, "kernel-memory"));
        set("kernelMemoryTcp", str(flags, "kernel-memory-tcp"));
        set("cpuShares", str(flags, "cpu-share") ?? str(flags, "cpu-shares"));
        set("cpuQuota", str(flags, "cpu-quota"));
        set("cpuPeriod", str(flags, "cpu-period"));
        set("cpuBurst", str(flags, "cpu-burst"));
        set("cpuRtPeriod", str(flags, "cpu-rt-period"));
        set("cpuRtRuntime", str(flags, "cpu-rt-runtime"));
        set("cpuIdle", str(flags, "cpu-idle"));
        set("cpusetCpus", str(flags, "cpuset-cpus"));
        set("cpusetMems", str(flags, "cpuset-mems"));
        set("pidsLimit", int(flags, "pids-limit"));
        set("blkioWeight", int(flags, "blkio-weight"));
        resources = rt.resourcesFromFlags(request);
      }
      rt.update(ctx, id, resources);
      return 0;
    }
    case "events": {
      const { flags, rest } = parseFlags(
        argv,
        [
          { name: "interval", type: "string" },
          { name: "stats", type: "bool" },
        ],
        cmd,
      );
      const id = one(rest, cmd);
      const stats = bool(flags, "stats");
      // a stream lasts as long as the container: it would hold the warm server for all that time
      if (!stats && ctx.waitProcess) throw new rt.NeedsLocalProcess("events streams until the container stops");
      await rt.events(ctx, {
        id,
        stats,
        intervalMs: rt.parseDuration(str(flags, "interval") ?? "5s"),
        emit: (e) => io.out(`${JSON.stringify(e)}\n`),
      });
      return 0;
    }
    case "checkpoint":
    case "restore":
      throw notImplemented(`${cmd}: not supported by this version of berth-runtime`);
    default:
      throw invalidArgument(`unknown command "${cmd}"; see berth-runtime --help`);
  }
}

function createOpts(flags: Record<string, unknown>, id: string): rt.CreateOptions {
  const f = flags as Parameters<typeof str>[0];
  const o: rt.CreateOptions = { id, bundle: str(f, "bundle") ?? "." };
  const pidFile = str(f, "pid-file");
  const consoleSocket = str(f, "console-socket");
  const preserve = int(f, "preserve-fds");
  if (pidFile) o.pidFile = pidFile;
  if (consoleSocket) o.consoleSocket = consoleSocket;
  if (preserve !== undefined) o.preserveFds = preserve;
  if (bool(f, "no-pivot")) o.noPivot = true;
  if (bool(f, "no-new-keyring")) o.noNewKeyring = true;
  return o;
}

function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd((widths[i] ?? 0) + 3))).join("")).join("\n") + "\n";
}
