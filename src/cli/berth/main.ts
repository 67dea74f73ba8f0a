import { existsSync } from "node:fs";
import { BerthError, describe, invalidArgument } from "../../errors/index.js";
import { bool, list, parseFlags, str } from "../args.js";
import { GLOBAL } from "./global-flags.js";
// the image commands, login and cp load on first use: a container command (`berth run`) then
// starts without the image store, SQLite and the registry client
import type * as ImageCommands from "./image-commands.js";
import type { ImageBackend, Io } from "./image-commands.js";
import {
  attachCmd,
  type ContainerCmd,
  createCmd,
  eventsCmd,
  execCmd,
  infoCmd,
  inspectCmd as cInspectCmd,
  killCmd,
  logsCmd,
  pauseCmd,
  portCmd,
  psCmd,
  renameCmd,
  restartCmd,
  rmCmd,
  runCmd,
  startCmd,
  statsCmd,
  stopCmd,
  topCmd,
  updateCmd,
  versionCmd,
  waitCmd,
} from "./container-commands.js";
import { networkCmd, volumeCmd } from "./resource-commands.js";
import { pruneCmd as pruneObjects, systemCmd } from "./system-commands.js";

export const VERSION = "0.1.0";

/** `Io.local`'s answer when the full CLI runs the command and sets the exit code itself. */
export const DELEGATED = -1;

const USAGE = `Usage:  berth [OPTIONS] COMMAND

A container engine: images from OCI registries, containers on any OCI runtime.

Options:
  -H, --host unix:///PATH        berthd's socket (default unix:///run/berth/berth.sock, env BERTH_HOST)
      --data-root DIR            where images and containers live (default /var/lib/berth, env BERTH_DATA_ROOT)
      --insecure-registry HOST   allow plain HTTP and unverified TLS for HOST[:PORT] or a CIDR (repeatable;
                                 in-process image commands and login)
      --registry-mirror URL      a mirror tried before docker.io (repeatable; in-process)
      --snapshotter NAME         overlayfs (default) or native (in-process)
  -D, --debug                    print error causes in full
  -v, --version                  print the version

Container commands (through berthd):
  run         Create and run a container from an image (-d, -it, --rm, -e, -v, -p, --network, ...)
  create      Create a container
  start       Start containers (-a, -i)
  stop        Stop containers (-t SECONDS)
  restart     Restart containers
  kill        Send a signal to containers (-s SIGNAL)
  rm          Remove containers (-f, -v)
  ps          List containers (-a, -q, --filter, --format json, --no-trunc)
  logs        Show a container's output (-f, --tail, --since, --until, -t)
  exec        Run a command in a running container (-it, -d, -e, -u, -w)
  attach      Attach to a running container's stdio
  inspect     Show containers or images in detail (-f TEMPLATE)
  top         Show a container's processes
  stats       Show containers' CPU, memory and pids use (--no-stream, --format json)
  wait        Wait for containers to stop; print their exit codes
  pause       Freeze containers
  unpause     Thaw containers
  rename      Rename a container
  update      Change a container's resource limits or restart policy
  port        Show a container's published ports
  cp          Copy files between a container and the local filesystem (-a, -L; "-" for a tar stream)
  events      Stream berthd's events (--since, --until, --filter)
  info        Show berthd's state
  version     Show client and berthd versions
  network     Manage networks: create (--subnet, --gateway, --internal), ls, rm, inspect
  volume      Manage volumes: create, ls, rm, inspect, prune
  system      df (disk use), prune (-a, -f, --volumes)
  container   Manage containers: ls, rm, prune, and every container command above

Image commands: in this process on the store, as podman's, with --data-root or BERTH_DATA_ROOT;
otherwise through berthd, as docker's, when -H or BERTH_HOST names it or its default socket exists
(else in this process on /var/lib/berth). A flag beats the environment; --data-root beats -H.
  pull        Download an image from a registry
  images      List images (--format json, -q, --digests)
  rmi         Remove images (-f)
  tag         Give an image another name
  save        Write images to an archive (--format docker-archive|oci-archive|oci-dir, -o FILE)
  load        Load images from an archive (-i FILE)
  import      Create an image from a rootfs tarball
  login       Log in to a registry
  logout      Log out from a registry
  image       Manage images: ls, pull, rm, inspect, tag, save, load, import, mount, unmount, prune

Run 'berth COMMAND --help' for more information on a command.
`;

type Cmd = (images: () => Promise<ImageBackend>, args: string[], io: Io) => Promise<number>;

const containerCommands: Record<string, ContainerCmd> = {
  run: runCmd,
  create: createCmd,
  start: startCmd,
  stop: stopCmd,
  restart: restartCmd,
  kill: killCmd,
  rm: rmCmd,
  ps: psCmd,
  logs: logsCmd,
  exec: execCmd,
  attach: attachCmd,
  inspect: cInspectCmd,
  top: topCmd,
  wait: waitCmd,
  pause: pauseCmd(true),
  unpause: pauseCmd(false),
  rename: renameCmd,
  update: updateCmd,
  port: portCmd,
  cp: async (c, args, io) => (await import("./cp.js")).cpCmd(c, args, io),
  events: eventsCmd,
  info: infoCmd,
  version: versionCmd(VERSION),
  stats: statsCmd,
  system: systemCmd,
  container: async (c, args, io) => {
    // docker's management form: berth container ls|rm|prune|...
    const [sub, ...rest] = args;
    if (sub === "prune") return pruneObjects("containers")(c, rest, io);
    const f = containerCommands[sub === "ls" || sub === "list" ? "ps" : sub === "remove" ? "rm" : (sub ?? "")];
    if (!f || sub === "container") throw invalidArgument(`container: unknown command ${JSON.stringify(sub ?? "")}`);
    return f(c, rest, io);
  },
  network: networkCmd,
  volume: volumeCmd,
};

type ImageCmdName = {
  [K in keyof typeof ImageCommands]: (typeof ImageCommands)[K] extends Cmd ? K : never;
}[keyof typeof ImageCommands];
const lazy =
  (name: ImageCmdName): Cmd =>
  async (svc, args, io) =>
    ((await import("./image-commands.js"))[name] as Cmd)(svc, args, io);

const top: Record<string, Cmd> = {
  pull: lazy("pullCmd"),
  images: lazy("imagesCmd"),
  rmi: lazy("rmiCmd"),
  tag: lazy("tagCmd"),
  save: lazy("saveCmd"),
  load: lazy("loadCmd"),
  import: lazy("importCmd"),
};

const imageSub: Record<string, Cmd> = {
  ls: lazy("imagesCmd"),
  list: lazy("imagesCmd"),
  pull: lazy("pullCmd"),
  rm: lazy("rmiCmd"),
  remove: lazy("rmiCmd"),
  inspect: lazy("inspectCmd"),
  tag: lazy("tagCmd"),
  save: lazy("saveCmd"),
  load: lazy("loadCmd"),
  import: lazy("importCmd"),
  mount: lazy("mountCmd"),
  unmount: lazy("unmountCmd"),
  umount: lazy("unmountCmd"),
  prune: lazy("pruneCmd"),
};

/** The berth CLI. Exit codes as docker's: 0, 1 for a failed operation, 125 for bad usage. */
export async function main(argv: string[], io: Io): Promise<number> {
  let debug = false;
  let openedStore = false;
  try {
    const { flags, rest } = parseFlags(argv, GLOBAL, "berth");
    debug = bool(flags, "debug");
    if (bool(flags, "version")) {
      io.out(`berth version ${VERSION}\n`);
      return 0;
    }
    const [cmd, ...args] = rest;
    if (!cmd || bool(flags, "help") || cmd === "help") {
      io.out(USAGE);
      return cmd || bool(flags, "help") ? 0 : 1;
    }
    // after the image of run/create/exec, --help belongs to the container's command
    if (args[0] === "--help" || (args.includes("--help") && !["run", "create", "exec"].includes(cmd))) {
      io.out(USAGE);
      return 0;
    }
    const hostFlag = str(flags, "host");
    const rootFlag = str(flags, "data-root");
    const host = hostFlag ?? process.env["BERTH_HOST"];
    const root = rootFlag ?? process.env["BERTH_DATA_ROOT"];
    const snap = str(flags, "snapshotter") ?? str(flags, "storage-driver");
    if (
      snap !== undefined &&
      snap !== "overlayfs" &&
      snap !== "overlay" &&
      snap !== "overlay2" &&
      snap !== "native" &&
      snap !== "vfs"
    )
      throw invalidArgument(`--snapshotter ${snap}: use overlayfs or native`);
    const { DaemonClient, DEFAULT_HOST } = await import("./client.js");
    // where the image commands act (see USAGE): a data root means this process, a host means
    // berthd; a flag beats the environment; with neither, berthd if its socket is there
    const remote =
      rootFlag === undefined &&
      (hostFlag !== undefined ||
        (process.env["BERTH_DATA_ROOT"] === undefined &&
          (host !== undefined || existsSync(new DaemonClient(DEFAULT_HOST).socketPath))));
    let backend: ImageBackend | undefined;
    const images = async (): Promise<ImageBackend> => {
      if (backend) return backend;
      if (remote) {
        const local = ["insecure-registry", "registry-mirror"].filter((f) => list(flags, f).length > 0);
        if (snap) local.push("snapshotter");
        if (local.length)
          throw invalidArgument(
            `--${local[0]} applies to image commands run in this process (with --data-root); through berthd, set it on berthd`,
          );
        const { RemoteImages } = await import("./remote-images.js");
        backend = new RemoteImages(new DaemonClient(host ?? DEFAULT_HOST));
        return backend;
      }
      const { ImageService } = await import("../../daemon/index.js");
      const service = await ImageService.open({
        root: root ?? "/var/lib/berth",
        ...(snap ? { snapshotter: snap === "native" || snap === "vfs" ? "native" : "overlayfs" } : {}),
        registry: {
          insecureRegistries: list(flags, "insecure-registry"),
          mirrors: list(flags, "registry-mirror").length ? { "docker.io": list(flags, "registry-mirror") } : {},
          userAgent: `berth/${VERSION}`,
        },
      });
      openedStore = true;
      const { LocalImages } = await import("./image-commands.js");
      backend = new LocalImages(service);
      return backend;
    };
    const cf = containerCommands[cmd];
    if (cf) {
      const client = new DaemonClient(host ?? DEFAULT_HOST);
      return await cf(client, args, io);
    }
    // the daemon-client bundle stops here: image commands, login, an unknown command are the full CLI's
    if (io.local) return await io.local();
    if (cmd === "login")
      return await (await import("./login.js")).loginCmd(args, io, { insecure: list(flags, "insecure-registry") });
    if (cmd === "logout") return await (await import("./login.js")).logoutCmd(args, io);
    if (cmd === "image") {
      const [sub, ...subArgs] = args;
      const f = sub ? imageSub[sub] : undefined;
      if (!f) throw invalidArgument(`image: unknown command ${JSON.stringify(sub ?? "")} (see 'berth --help')`);
      return await f(images, subArgs, io);
    }
    const f = top[cmd];
    if (!f) throw invalidArgument(`unknown command "${cmd}" for "berth" (see 'berth --help')`);
    return await f(images, args, io);
  } catch (e) {
    io.err(`Error: ${describe(e)}\n`);
    if (debug && e instanceof Error && !(e instanceof BerthError)) io.err(`${e.stack}\n`);
    return e instanceof BerthError && e.kind === "InvalidArgument" && /^[a-z ]*:? ?(flag|unknown command|"berth)/.test(e.message)
      ? 125
      : 1;
  } finally {
    if (openedStore) {
      const { closeDatabases } = await import("../../images/index.js");
      closeDatabases();
    }
  }
}
