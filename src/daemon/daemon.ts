import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { arch, cpus, hostname, release, totalmem } from "node:os";
import { join } from "node:path";
import { describe, invalidArgument } from "../errors/index.js";
import { hostCgroups } from "../cgroups/index.js";
import { closeDatabases } from "../images/index.js";
import { native, packageRoot } from "../native/index.js";
import { type Attachment, type Network, NetworkManager } from "../network/index.js";
import { ContainerSetup } from "./container-setup.js";
import { ContainerService, type RuntimeInfo } from "./container-service.js";
import { EventBus } from "./events.js";
import { ImageService } from "./image-service.js";
import type { ApiServer } from "./server.js";
import { registerImageRoutes } from "./image-routes.js";
import { ShimManager } from "./shim-manager.js";
import { VolumeStore } from "./volumes.js";
import { WarmRuntime } from "./warm-runtime.js";
import type { LogConfig } from "./container-types.js";

export const VERSION = "0.1.0";
export const API_VERSION = "1.41";

export interface DaemonOptions {
  dataRoot: string;
  execRoot: string;
  /** name=path runtimes besides the built-in berth-runtime (and runc/crun when installed) */
  runtimes?: Record<string, string>;
  defaultRuntime?: string;
  snapshotter?: "overlayfs" | "native";
  insecureRegistries?: string[];
  /** registry host -> mirror URLs (docker.io's under "docker.io") */
  registryMirrors?: Record<string, string[]>;
  /** containers per berth-shim process */
  containersPerShim?: number;
  log?: (msg: string) => void;
  /** the default bridge network's subnet and bridge name (tests use their own) */
  bridgeSubnet?: string;
  bridgeName?: string;
  /** where CNI plugins are looked up (default /usr/lib/cni, /opt/cni/bin; podman's cni_plugin_dirs) */
  cniPath?: string[];
  /** start berth-runtime's warm server for the shims (default true) */
  warmRuntime?: boolean;
  /** the log driver and options of containers that name none (dockerd's --log-driver, --log-opt) */
  logConfig?: LogConfig;
}

/** berthd: the image service, containers, networks and events behind one API. */
export class Daemon {
  readonly events = new EventBus();
  readonly runtimes = new Map<string, RuntimeInfo>();
  readonly defaultRuntime: string;
  readonly id: string;
  readonly volumes: VolumeStore;
  containers!: ContainerService;
  networks!: NetworkManager;
  setup!: ContainerSetup;
  shims!: ShimManager;
  warm: WarmRuntime | undefined;
  private warmWatch: NodeJS.Timeout | undefined;
  readonly log: (msg: string) => void;

  private constructor(
    readonly opts: DaemonOptions,
    readonly images: ImageService,
  ) {
    this.log = opts.log ?? ((m) => process.stderr.write(`${new Date().toISOString()} berthd: ${m}\n`));
    this.runtimes.set("berth-runtime", { name: "berth-runtime", path: join(packageRoot(), "bin", "berth-runtime") });
    for (const name of ["runc", "crun"]) {
      const p = which(name);
      if (p) this.runtimes.set(name, { name, path: p });
    }
    for (const [name, path] of Object.entries(opts.runtimes ?? {})) {
      if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)) throw invalidArgument(`runtime name ${JSON.stringify(name)} is not valid`);
      if (!path.startsWith("/")) throw invalidArgument(`runtime ${name}: path ${path} must be absolute`);
      this.runtimes.set(name, { name, path });
    }
    this.defaultRuntime = opts.defaultRuntime ?? "berth-runtime";
    if (!this.runtimes.has(this.defaultRuntime))
      throw invalidArgument(`default runtime ${this.defaultRuntime} is not configured`);
    const idFile = join(opts.dataRoot, "engine-id");
    if (!existsSync(idFile)) writeFileSync(idFile, randomBytes(32).toString("hex"));
    this.id = readFileSync(idFile, "utf8").trim();
    this.volumes = new VolumeStore(join(opts.dataRoot, "volumes"));
  }

  get dataRoot(): string {
    return this.opts.dataRoot;
  }
  get execRoot(): string {
    return this.opts.execRoot;
  }

  static async open(opts: DaemonOptions): Promise<Daemon> {
    mkdirSync(opts.dataRoot, { recursive: true, mode: 0o711 });
    mkdirSync(opts.execRoot, { recursive: true, mode: 0o711 });
    const images = await ImageService.open({
      root: opts.dataRoot,
      ...(opts.snapshotter ? { snapshotter: opts.snapshotter } : {}),
      registry: {
        ...(opts.insecureRegistries ? { insecureRegistries: opts.insecureRegistries } : {}),
        ...(opts.registryMirrors ? { mirrors: opts.registryMirrors } : {}),
      },
    });
    const d = new Daemon(opts, images);
    d.networks = new NetworkManager({
      stateDir: join(opts.dataRoot, "network"),
      runDir: join(opts.execRoot, "netns"),
      // in-process, lo up: no `unshare`, loopback plugin or `umount` execs per container
      netnsOps: { create: (file) => native().netnsCreate(file), unmount: (file) => native().umount(file, 2) },
      log: d.log,
      ...(opts.cniPath ? { cniPath: opts.cniPath } : {}),
      ...(opts.bridgeSubnet || opts.bridgeName
        ? {
            defaultNetwork: {
              ...(opts.bridgeSubnet ? { subnet: opts.bridgeSubnet } : {}),
              ...(opts.bridgeName ? { bridge: opts.bridgeName } : {}),
            },
          }
        : {}),
    });
    // the built-in runtime's warm server makes each runtime step a small C client (README, warm mode)
    const builtin = d.runtimes.get("berth-runtime");
    if (builtin && opts.warmRuntime !== false) {
      d.warm = new WarmRuntime(opts.execRoot, join(packageRoot(), "dist", "berth-runtime.cjs"));
      const warmLog = join(opts.execRoot, "berth-runtime.warm.log");
      await d.warm.ensure(warmLog);
      // a server that went away (killed, or exited because berth was rebuilt) is started again:
      // without it every runtime step of the shims is a cold Node process (~2x slower runs)
      d.warmWatch = setInterval(() => {
        d.warm?.ensure(warmLog).catch((e) => d.log(`warm runtime: ${describe(e)}`));
      }, 10_000);
      d.warmWatch.unref();
    }
    d.shims = new ShimManager({
      execRoot: opts.execRoot,
      ...(d.warm ? { warmSocket: d.warm.socket } : {}),
      ...(opts.containersPerShim ? { perShim: opts.containersPerShim } : {}),
      onEvent: (e, shim) => d.containers.handleShimEvent(e, shim),
      onLost: (shim) => {
        void d.containers.shimLost(shim).catch((e) => d.log(`shim ${shim} lost: ${describe(e)}`));
      },
      log: d.log,
    });
    const setup = new ContainerSetup({
      dataRoot: opts.dataRoot,
      execRoot: opts.execRoot,
      networks: d.networks,
      volumes: d.volumes,
      container: (ref) => d.containers.get(ref),
      log: d.log,
    });
    d.setup = setup;
    d.containers = new ContainerService({
      images,
      shims: d.shims,
      events: d.events,
      dataRoot: opts.dataRoot,
      execRoot: opts.execRoot,
      runtimes: d.runtimes,
      defaultRuntime: d.defaultRuntime,
      setup,
      log: d.log,
      ...(opts.logConfig ? { logConfig: opts.logConfig } : {}),
    });
    await d.containers.recover();
    // the networks' iptables rules, which a firewall reload or reboot of the tables may have
    // dropped while berthd was down (its containers kept running): not waited for
    void d.networks.ensureAllRules().catch((e) => d.log(`network rules at start: ${describe(e)}`));
    return d;
  }

  /** Waits (up to `timeoutMs`) for the network releases and file deletions still running in the background. */
  async drain(timeoutMs = 15_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all([this.setup.settled(), this.containers.discarded()]),
      new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          this.log(
            `shutdown: network releases or file deletions still running after ${timeoutMs / 1000} s; the next start finishes them`,
          );
          resolve();
        }, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }

  close(): void {
    clearInterval(this.warmWatch);
    this.containers.close();
    this.shims.close();
    this.warm?.stop();
    closeDatabases();
  }

  version(): Record<string, unknown> {
    return {
      Platform: { Name: "berth" },
      Components: [{ Name: "Engine", Version: VERSION, Details: { ApiVersion: API_VERSION, Os: "linux", Arch: goArch() } }],
      Version: VERSION,
      ApiVersion: API_VERSION,
      MinAPIVersion: "1.24",
      GitCommit: "",
      GoVersion: `node ${process.version}`,
      Os: "linux",
      Arch: goArch(),
      KernelVersion: release(),
      BuildTime: "",
    };
  }

  info(): Record<string, unknown> {
    const all = this.containers.list({ all: true });
    const running = all.filter((c) => c.State.Running && !c.State.Paused).length;
    const paused = all.filter((c) => c.State.Paused).length;
    const images = new Set(this.images.images.list().map((r) => r.config.digest)).size;
    let cgroupVersion = "1";
    try {
      cgroupVersion = hostCgroups().mode === "unified" ? "2" : "1";
    } catch {
      // no cgroups mounted
    }
    return {
      ID: this.id,
      Containers: all.length,
      ContainersRunning: running,
      ContainersPaused: paused,
      ContainersStopped: all.length - running - paused,
      Images: images,
      Driver: this.images.snapshotter.name,
      LoggingDriver: this.opts.logConfig?.Type ?? "json-file",
      DockerRootDir: this.dataRoot,
      ExecRoot: this.execRoot,
      Runtimes: Object.fromEntries([...this.runtimes.values()].map((r) => [r.name, { path: r.path }])),
      DefaultRuntime: this.defaultRuntime,
      CgroupDriver: "cgroupfs",
      CgroupVersion: cgroupVersion,
      KernelVersion: release(),
      OperatingSystem: osName(),
      OSType: "linux",
      Architecture: arch() === "x64" ? "x86_64" : arch(),
      NCPU: cpus().length,
      MemTotal: totalmem(),
      Name: hostname(),
      ServerVersion: VERSION,
      SecurityOptions: ["name=seccomp,profile=builtin"],
      Plugins: { Network: ["bridge", "host", "none"], Log: ["json-file"], Volume: ["local"] },
      Warnings: [],
    };
  }

  /** docker's Network object */
  private networkView(n: Network, attached: Attachment[]): Record<string, unknown> {
    return {
      Name: n.name,
      Id: n.id,
      Created: n.created,
      Scope: "local",
      Driver: n.driver,
      EnableIPv6: false,
      IPAM: { Driver: "default", Options: null, Config: [{ Subnet: n.subnet, Gateway: n.gateway }] },
      Internal: n.internal,
      Attachable: false,
      Ingress: false,
      Containers: Object.fromEntries(
        attached.map((a) => {
          let name = "";
          try {
            name = this.containers.get(a.containerId).Name.slice(1);
          } catch {
            // removed
          }
          return [a.containerId, { Name: name, MacAddress: a.mac, IPv4Address: `${a.ip}/${a.prefixLen}`, IPv6Address: "" }];
        }),
      ),
      Options: { "com.docker.network.bridge.name": n.bridge },
      Labels: n.labels,
    };
  }

  private static readonly BUILTIN_NETWORKS = ["host", "none"];

  /** The network and volume part of the API (docker's paths). */
  registerResourceRoutes(api: ApiServer): void {
    const builtin = (name: string) => ({
      Name: name,
      Id: createHash("sha256").update(`berth-${name}`).digest("hex"),
      Created: "",
      Scope: "local",
      Driver: name === "host" ? "host" : "null",
      EnableIPv6: false,
      IPAM: { Driver: "default", Options: null, Config: [] },
      Internal: false,
      Attachable: false,
      Ingress: false,
      Containers: {},
      Options: {},
      Labels: {},
    });
    api.route("GET", "/networks", async () => {
      await this.networks.ensureDefault();
      const out: unknown[] = [];
      for (const n of await this.networks.list()) out.push(this.networkView(n, await this.networks.attachments(n.name)));
      return { body: [...out, ...Daemon.BUILTIN_NETWORKS.map(builtin)] };
    });
    api.route("GET", "/networks/:id", async (_req, _res, p) => {
      const ref = p.path[0] as string;
      if (Daemon.BUILTIN_NETWORKS.includes(ref)) return { body: builtin(ref) };
      if (ref === "bridge") await this.networks.ensureDefault();
      const n = await this.networks.get(ref);
      return { body: this.networkView(n, await this.networks.attachments(n.name)) };
    });
    api.route("POST", "/networks/create", async (_req, _res, p) => {
      const b = ((await p.body()) ?? {}) as {
        Name?: string;
        Driver?: string;
        Internal?: boolean;
        Labels?: Record<string, string>;
        IPAM?: { Config?: Array<{ Subnet?: string; Gateway?: string }> };
        CheckDuplicate?: boolean;
      };
      if (!b.Name) throw invalidArgument("network create: a name is required");
      if (b.Driver && b.Driver !== "bridge") throw invalidArgument(`network driver ${b.Driver} is not supported (bridge only)`);
      const cfg = b.IPAM?.Config?.[0];
      const n = await this.networks.create(b.Name, {
        ...(cfg?.Subnet ? { subnet: cfg.Subnet } : {}),
        ...(cfg?.Gateway ? { gateway: cfg.Gateway } : {}),
        ...(b.Internal ? { internal: true } : {}),
        ...(b.Labels ? { labels: b.Labels } : {}),
      });
      this.events.publish("network", "create", n.id, { name: n.name, type: "bridge" });
      return { status: 201, body: { Id: n.id, Warning: "" } };
    });
    api.route("DELETE", "/networks/:id", async (_req, _res, p) => {
      const ref = p.path[0] as string;
      if (Daemon.BUILTIN_NETWORKS.includes(ref)) throw invalidArgument(`${ref} is a pre-defined network and cannot be removed`);
      const n = await this.networks.get(ref);
      // containers that left it may still be releasing their addresses
      await this.setup.settled();
      await this.networks.remove(n.id);
      this.events.publish("network", "destroy", n.id, { name: n.name, type: "bridge" });
      return { status: 204 };
    });
    const users = (name: string) =>
      this.containers
        .list({ all: true })
        .filter((c) => c.VolumeNames?.includes(name))
        .map((c) => c.Id);
    api.route("GET", "/volumes", async () => ({ body: { Volumes: this.volumes.list(), Warnings: [] } }));
    api.route("GET", "/volumes/:name", async (_req, _res, p) => ({ body: this.volumes.get(p.path[0] as string) }));
    api.route("POST", "/volumes/create", async (_req, _res, p) => {
      const b = ((await p.body()) ?? {}) as { Name?: string; Driver?: string; Labels?: Record<string, string> };
      if (b.Driver && b.Driver !== "local") throw invalidArgument(`volume driver ${b.Driver} is not supported (local only)`);
      const v = this.volumes.create(b.Name, { ...(b.Labels ? { labels: b.Labels } : {}) });
      this.events.publish("volume", "create", v.Name, { driver: "local" });
      return { status: 201, body: v };
    });
    api.route("DELETE", "/volumes/:name", async (_req, _res, p) => {
      const name = p.path[0] as string;
      this.volumes.remove(name, users(name));
      this.events.publish("volume", "destroy", name, { driver: "local" });
      return { status: 204 };
    });
    api.route("POST", "/volumes/prune", async () => {
      const deleted: string[] = [];
      for (const v of this.volumes.list())
        if (v.Anonymous && users(v.Name).length === 0) {
          this.volumes.remove(v.Name, []);
          deleted.push(v.Name);
        }
      return { body: { VolumesDeleted: deleted, SpaceReclaimed: 0 } };
    });
  }

  /** The image part of the API (docker's paths): src/daemon/image-routes.ts */
  registerImageRoutes(api: ApiServer): void {
    registerImageRoutes(this, api);
  }
}

function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin").split(":")) {
    const p = join(dir, name);
    if (dir && existsSync(p)) return p;
  }
  return undefined;
}

function goArch(): string {
  return arch() === "x64" ? "amd64" : arch();
}

function osName(): string {
  try {
    return /^PRETTY_NAME="?([^"\n]*)/m.exec(readFileSync("/etc/os-release", "utf8"))?.[1] ?? "Linux";
  } catch {
    return "Linux";
  }
}
