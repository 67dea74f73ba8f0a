import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { mountAll, unmountAll } from "../snapshots/index.js";
import { join } from "node:path";
import { describe, invalidArgument } from "../errors/index.js";
import type { ImageRunConfig, LinuxResources, Process, Spec } from "../oci/index.js";
import { type Network, type NetworkManager, type PortMapping, parseNetworkMode } from "../network/index.js";
import type { ContainerRecord, EndpointSettings } from "./container-store.js";
import { writeContainerFiles } from "./container-files.js";
import {
  DEFAULT_SHM_SIZE,
  buildContainerSpec,
  containerArgs,
  containerCapabilities,
  containerEnv,
  containerResources,
} from "./container-spec.js";
import type { ExecConfig } from "./container-service.js";
import type { PortMap } from "./container-types.js";
import { resolveUser } from "./user.js";
import { copyImageContent, ensureDirectory, isMounted } from "./container-rootfs.js";
import type { VolumeStore } from "./volumes.js";

/** A volume to fill from the image before the container first sees it. */
interface CopyUp {
  /** where it is mounted in the container */
  destination: string;
  /** the volume's directory on the host */
  mountpoint: string;
}

export interface ContainerSetupOptions {
  dataRoot: string;
  execRoot: string;
  networks: NetworkManager;
  volumes: VolumeStore;
  /** the init for `--init` (Debian's tini) */
  initPath?: string;
  /** another container by name or id, for the "container:<ref>" modes (throws NotFound) */
  container?: (ref: string) => ContainerRecord;
  /** where a network release that ran in the background reports its failure */
  log?: (msg: string) => void;
}

export interface Connected {
  networks: Record<string, EndpointSettings>;
  /** the published ports as the network made them (docker's NetworkSettings.Ports) */
  ports: PortMap;
}

export interface Prepared {
  spec: Spec;
  /**
   * The container's network, once its plugins are done: they run while the runtime creates the
   * container (which only needs the netns file); await this before `start`. It also writes the
   * container's address into its /etc/hosts and those of its peers.
   */
  connected: () => Promise<Connected>;
  /** undo the network side (a start that failed later) */
  release: () => Promise<void>;
}

/**
 * What a container needs around its rootfs before the runtime sees it: its network (a netns
 * joined to CNI networks), its /etc files, its volumes, the user it runs as, and the OCI spec
 * built from all of that. Undone by `teardown` when it stops and `removed` when it goes.
 */
export class ContainerSetup {
  private readonly populating = new Map<string, Promise<void>>();
  /** network releases still running in the background, per container */
  private readonly releasing = new Map<string, Promise<void>>();
  /** /etc/hosts updates of a user network's containers, one at a time per network */
  private readonly hostsUpdates = new Map<string, Promise<void>>();

  constructor(private readonly o: ContainerSetupOptions) {}

  /** Refuse at create what could never start. */
  validate(rec: ContainerRecord, image: ImageRunConfig): void {
    const h = rec.HostConfig;
    containerArgs(image, rec.Config);
    containerCapabilities(h.CapAdd ?? [], h.CapDrop ?? [], h.Privileged === true);
    const mode = parseNetworkMode(h.NetworkMode || "bridge");
    if (mode.kind === "container") {
      this.donor(rec, mode.container, "network");
      // the network, its names and its /etc files are the other container's (docker's conflicts)
      if (rec.Config.Hostname) throw invalidArgument("conflicting options: hostname and the network mode");
      if (h.Dns?.length || h.DnsSearch?.length || h.DnsOptions?.length)
        throw invalidArgument("conflicting options: dns and the network mode");
      if (h.ExtraHosts?.length) throw invalidArgument("conflicting options: custom host-to-IP mapping and the network mode");
      if (Object.keys(h.PortBindings ?? {}).length)
        throw invalidArgument("conflicting options: port publishing and the container type network mode");
    }
    for (const [field, m] of [
      ["PidMode", h.PidMode],
      ["IpcMode", h.IpcMode],
    ] as const)
      if (m?.startsWith("container:")) this.donor(rec, m.slice("container:".length), field === "PidMode" ? "PID" : "IPC");
    if (h.AutoRemove && h.RestartPolicy && h.RestartPolicy.Name !== "" && h.RestartPolicy.Name !== "no")
      throw invalidArgument("Conflicting options: --restart and --rm");
    if ((mode.kind === "none" || mode.kind === "host") && Object.keys(h.PortBindings ?? {}).length)
      throw invalidArgument(`conflicting options: port publishing and the container's network mode ${h.NetworkMode}`);
    containerResources(h, true, []);
  }

  async prepare(a: {
    rec: ContainerRecord;
    imageConfig: ImageRunConfig;
    rootfs: string;
    containerDir: string;
  }): Promise<Prepared> {
    const { rec, imageConfig, rootfs, containerDir } = a;
    const h = rec.HostConfig;
    const mode = parseNetworkMode(h.NetworkMode || "bridge");
    let netns: string | undefined;
    // the network's plugins, started here and awaited by `connected` (or by `release`)
    let plugins: Promise<Connected & { ip: string }> | undefined;
    const release = async () => {
      await plugins?.catch(() => {});
      await this.teardown(rec);
    };
    const volumeNames: string[] = [];
    const copyUps: CopyUp[] = [];
    const joined = this.joinedNamespaces(rec);
    // its own earlier network must be gone (a restart); a host port it asks for must not be held
    // by a container that is already gone
    await this.releasing.get(rec.Id);
    if (publishes(rec)) await this.settled();
    // an earlier release that failed (logged then) is tried again, and this time its error stops the start
    if (await this.o.networks.hasRecords(rec.Id)) await this.releaseNetwork(rec.Id);
    try {
      let gateway: string | undefined;
      if (mode.kind === "bridge" || mode.kind === "network") {
        const net = mode.kind === "bridge" ? await this.o.networks.ensureDefault() : await this.o.networks.get(mode.name);
        gateway = net.gateway;
        netns = await this.o.networks.createNetnsFile(rec.Id);
        plugins = this.connect(rec, net, netns);
        // not awaited yet: a failure surfaces from `connected` (or is swallowed by `release`)
        plugins.catch(() => {});
      } else if (mode.kind === "none") {
        // docker's none: a namespace of its own with only lo, and lo up (a runtime's new netns has it down)
        netns = await this.o.networks.createNetns(rec.Id);
      }
      // another container's network: its namespace, its names and its /etc files (docker's)
      const netDonor = mode.kind === "container" ? this.runningDonor(mode.container, "network") : undefined;
      if (netDonor)
        netns = parseNetworkMode(netDonor.HostConfig.NetworkMode || "bridge").kind === "host" ? "host" : nsPath(netDonor, "net");
      const hostname = netDonor?.Config.Hostname || rec.Config.Hostname || rec.Id.slice(0, 12);
      // inspect shows the hostname it runs with, as docker's does for a joined network
      if (netDonor) rec.Config.Hostname = hostname;
      // a user network's peers are read once this container is attached (`connected`), which
      // rewrites /etc/hosts before start: reading them here too would be a second store read
      const peers: Array<{ name: string; ip: string; id: string }> = [];
      const donorDir = netDonor ? join(this.o.dataRoot, "containers", netDonor.Id) : undefined;
      // the /etc files, rewritten in place with the container's address once the plugins gave it
      const writeFiles = (ip?: string) =>
        writeContainerFiles({
          dir: containerDir,
          hostname,
          ...(rec.Config.Domainname ? { domainname: rec.Config.Domainname } : {}),
          ...(ip ? { ip } : {}),
          networkMode: mode.kind === "host" ? "host" : (h.NetworkMode ?? "bridge"),
          extraHosts: [...(h.ExtraHosts ?? []), ...peers.map((p) => `${p.name}:${p.ip}`)],
          ...(gateway ? { hostGateway: gateway } : {}),
          ...(h.Dns?.length ? { dns: h.Dns } : {}),
          ...(h.DnsSearch?.length ? { dnsSearch: h.DnsSearch } : {}),
          ...(h.DnsOptions?.length ? { dnsOptions: h.DnsOptions } : {}),
        });
      const files = donorDir
        ? { hostname: join(donorDir, "hostname"), hosts: join(donorDir, "hosts"), resolvConf: join(donorDir, "resolv.conf") }
        : writeFiles();
      const user = resolveUser(rootfs, rec.Config.User || imageConfig.User || "", h.GroupAdd ?? []);
      // a static init: the container's rootfs may have no libc (Debian's tini-static; docker-init is one too)
      const initPath = this.o.initPath ?? ["/usr/bin/tini-static", "/usr/bin/docker-init"].find((p) => existsSync(p));
      const { spec } = buildContainerSpec({
        id: rec.Id,
        image: imageConfig,
        config: rec.Config,
        hostConfig: h,
        rootfs,
        files,
        user,
        hostname,
        volumePath: (v) => {
          const path = this.volumePath(rec, v.name, volumeNames);
          if (!v.noCopy) copyUps.push({ destination: v.destination, mountpoint: path });
          return path;
        },
        ...(mode.kind === "host" ? { netns: "host" } : netns ? { netns } : {}),
        ...(joined ? { containerNamespaces: joined } : {}),
        ...(h.IpcMode === "shareable" ? { shmPath: this.shareableShm(rec) } : {}),
        ...(initPath ? { initPath } : {}),
      });
      // docker creates a missing working directory in the rootfs (root's, 0755), then fills
      // empty volumes with what the image has where they are mounted
      if (spec.process?.cwd) await ensureDirectory(rootfs, spec.process.cwd);
      for (const c of copyUps) await this.populate(rootfs, c);
      rec.VolumeNames = volumeNames;
      const connected = async (): Promise<Connected> => {
        if (!plugins) return { networks: {}, ports: {} };
        const { ip, networks, ports } = await plugins;
        if (mode.kind !== "network") {
          writeFiles(ip);
          return { networks, ports };
        }
        // the peers as they are now that this container is attached, its /etc/hosts and theirs
        // updated in one step per network: two containers starting side by side both see each other
        await this.hostsOf(mode.name, async () => {
          const now = await this.peers(mode.name, rec.Id);
          peers.splice(0, peers.length, ...now);
          writeFiles(ip);
          this.announce(mode.name, rec, ip, now);
        });
        return { networks, ports };
      };
      return { spec, connected, release };
    } catch (e) {
      await release().catch(() => {});
      throw e;
    }
  }

  /** Runs a network's chain and the loopback plugin (independent: side by side) in a container's netns. */
  private async connect(rec: ContainerRecord, net: Network, netns: string): Promise<Connected & { ip: string }> {
    const mode = parseNetworkMode(rec.HostConfig.NetworkMode || "bridge");
    const aliases = mode.kind === "network" ? hostNames(rec) : [];
    const attach = () => this.o.networks.attach(rec.Id, net.name, { netns, aliases, portMappings: portMappings(rec) });
    // a small subnet may be full of addresses whose release still runs: once more after them
    // (a release that ran at any time during the attempt: the failed ADD's own DEL takes a while)
    const releasingBefore = this.releasing.size > 0;
    const [attached, lo] = await Promise.allSettled([
      attach().catch(async (e) => {
        if (!releasingBefore && this.releasing.size === 0) throw e;
        await this.settled();
        return attach();
      }),
      this.o.networks.loopbackUp(rec.Id),
    ]);
    if (attached.status === "rejected") throw attached.reason;
    if (lo.status === "rejected") throw lo.reason;
    const r = attached.value;
    const networks: Record<string, EndpointSettings> = {
      [net.name]: {
        NetworkID: net.id,
        IPAddress: r.ip,
        IPPrefixLen: r.prefixLen,
        Gateway: r.gateway,
        MacAddress: r.mac,
        Aliases: aliases,
      },
    };
    // as the network published them, ports the plugin picked (HostPort "" or "0") included;
    // HostConfig.PortBindings stays as requested (docker's NetworkSettings.Ports)
    const ports: PortMap = {};
    for (const p of r.ports) {
      const key = `${p.containerPort}/${p.protocol}`;
      ports[key] = [...(ports[key] ?? []), { HostIp: p.hostIP || "0.0.0.0", HostPort: String(p.hostPort) }];
    }
    return { ip: r.ip, networks, ports };
  }

  /**
   * The container stopped: its network goes (its netns and addresses). Its processes are gone,
   * so nothing can use the namespace any more: unless it published ports (which a new container
   * may want at once: `rm -f web && run -p 80:80 ...`), the CNI DEL chain and the netns removal
   * (~80 ms of plugin and iptables execs on the default bridge) run in the background, and the
   * container's exit, removal and `run --rm` do not wait for them. A start of the same container,
   * one that publishes ports, an ADD that failed while releases ran (a full subnet), a network
   * removal and berthd's shutdown wait for them (`settled`); a berthd killed meanwhile finishes
   * them at its next start (`releaseOrphans`).
   */
  async teardown(rec: ContainerRecord): Promise<void> {
    // a shareable /dev/shm goes with the container (containers that joined it keep their mount)
    if (rec.HostConfig.IpcMode === "shareable") unmountAll(this.shmDir(rec));
    const mode = parseNetworkMode(rec.HostConfig.NetworkMode || "bridge");
    if (mode.kind !== "bridge" && mode.kind !== "network" && mode.kind !== "none") return;
    // its peers on a user network forget its address (it gets another one if it starts again)
    if (mode.kind === "network") {
      const ip = rec.Networks[mode.name]?.IPAddress;
      if (ip) await this.hostsOf(mode.name, async () => this.withdraw(rec, ip, await this.peers(mode.name, rec.Id)));
    }
    const release = this.releaseNetwork(rec.Id);
    if (publishes(rec)) await release;
  }

  /** Runs `fn` after every earlier /etc/hosts update of the same network's containers. */
  private hostsOf(network: string, fn: () => Promise<void>): Promise<void> {
    const run = (this.hostsUpdates.get(network) ?? Promise.resolve()).then(fn);
    const tail = run.catch(() => {});
    this.hostsUpdates.set(network, tail);
    void tail.then(() => {
      if (this.hostsUpdates.get(network) === tail) this.hostsUpdates.delete(network);
    });
    return run;
  }

  /** Starts (after any earlier one for the same container) the release of a container's network. */
  private releaseNetwork(id: string): Promise<void> {
    const job = (this.releasing.get(id) ?? Promise.resolve()).then(async () => {
      try {
        await this.o.networks.detach(id);
      } finally {
        await this.o.networks.removeNetns(id);
      }
    });
    const tracked = job.catch((err) => this.o.log?.(`network release of ${id.slice(0, 12)}: ${describe(err)}`));
    this.releasing.set(id, tracked);
    void tracked.finally(() => {
      if (this.releasing.get(id) === tracked) this.releasing.delete(id);
    });
    return job;
  }

  /** Every network release started so far has finished (successfully or not). */
  async settled(): Promise<void> {
    while (this.releasing.size > 0) await Promise.all(this.releasing.values());
  }

  /**
   * At berthd's start, before anything can start a container: the networks of containers that
   * no shim runs (removed, or stopped while berthd was down or in the middle of releasing them)
   * are released, in the background; a start of one of them waits for its release.
   */
  async releaseOrphans(running: (id: string) => boolean): Promise<void> {
    const ids = new Set(await this.o.networks.containersWithAttachments());
    try {
      for (const name of readdirSync(this.o.networks.runDir)) if (/^[0-9a-f]{64}$/.test(name)) ids.add(name);
    } catch {
      // no netns dir yet
    }
    for (const id of ids) if (!running(id) && !this.releasing.has(id)) void this.releaseNetwork(id).catch(() => {});
  }

  /** The container is removed: with `volumes`, its anonymous volumes go too (docker rm -v). */
  async removed(rec: ContainerRecord, volumes: boolean): Promise<void> {
    if (!volumes) return;
    for (const name of this.anonymousVolumes(rec.Id)) if (this.o.volumes.find(name)) this.o.volumes.remove(name, []);
  }

  resources(rec: ContainerRecord): LinuxResources {
    return containerResources(rec.HostConfig, true, []);
  }

  /** The process of `exec`: the container's own, with the exec's command, env, user and cwd. */
  execProcess(spec: Spec, rootfs: string, x: ExecConfig): Process {
    const base = spec.process;
    if (!base) throw invalidArgument("the container's spec has no process");
    const user = x.User ? resolveUser(rootfs, x.User, []) : undefined;
    const home = user?.home ?? (base.env ?? []).find((e) => e.startsWith("HOME="))?.slice(5) ?? "/";
    const hostname = spec.hostname ?? "";
    const env = containerEnv(base.env ?? [], x.Env ?? [], hostname, x.Tty === true, home);
    if (x.WorkingDir && !x.WorkingDir.startsWith("/"))
      throw invalidArgument(`the working directory '${x.WorkingDir}' is invalid, it needs to be an absolute path`);
    const caps = x.Privileged ? containerCapabilities([], [], true) : undefined;
    return {
      ...base,
      args: x.Cmd,
      env,
      cwd: x.WorkingDir || base.cwd,
      terminal: x.Tty === true,
      ...(user ? { user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids } } : {}),
      ...(caps ? { capabilities: { bounding: caps, effective: caps, permitted: caps } } : {}),
    };
  }

  /** Copy-up into one volume, one at a time per volume (two containers starting with the same empty volume). */
  private async populate(rootfs: string, c: CopyUp): Promise<void> {
    const prev = this.populating.get(c.mountpoint) ?? Promise.resolve();
    const next = prev.then(() => copyImageContent(rootfs, c.destination, c.mountpoint));
    const tail = next.catch(() => {});
    this.populating.set(c.mountpoint, tail);
    try {
      await next;
    } finally {
      if (this.populating.get(c.mountpoint) === tail) this.populating.delete(c.mountpoint);
    }
  }

  private volumePath(rec: ContainerRecord, name: string | undefined, used: string[]): string {
    if (name) {
      const v = this.o.volumes.create(name);
      used.push(v.Name);
      return v.Mountpoint;
    }
    // an anonymous volume: one per mount point, kept across restarts of the container
    const list = this.anonymousVolumes(rec.Id);
    const v = this.o.volumes.create(list[used.filter((u) => list.includes(u)).length], { anonymous: true });
    if (!list.includes(v.Name)) {
      list.push(v.Name);
      writeFileSync(this.anonFile(rec.Id), JSON.stringify(list));
    }
    used.push(v.Name);
    return v.Mountpoint;
  }

  private anonFile(id: string): string {
    return join(this.o.dataRoot, "containers", id, "anonymous-volumes.json");
  }

  private anonymousVolumes(id: string): string[] {
    try {
      return JSON.parse(readFileSync(this.anonFile(id), "utf8")) as string[];
    } catch {
      return [];
    }
  }

  /** The container a "container:<ref>" mode names: it exists and is not this one. */
  private donor(rec: ContainerRecord, ref: string, what: string): ContainerRecord {
    if (!this.o.container) throw invalidArgument(`${what} mode container:${ref}: berthd cannot look containers up here`);
    const d = this.o.container(ref);
    if (d.Id === rec.Id) throw invalidArgument(`cannot join own ${what} namespace`);
    return d;
  }

  /** That container, which must be running now (its namespaces are those of its init). */
  private runningDonor(ref: string, what: string): ContainerRecord {
    const d = this.o.container?.(ref);
    if (!d) throw invalidArgument(`${what} mode container:${ref}: berthd cannot look containers up here`);
    if (!d.State.Running || !d.State.Pid) throw invalidArgument(`cannot join ${what} of a non running container: ${d.Id}`);
    return d;
  }

  /** Where a shareable container's /dev/shm lives on the host (docker: containers/<id>/mounts/shm). */
  private shmDir(rec: ContainerRecord): string {
    return join(this.o.dataRoot, "containers", rec.Id, "shm");
  }

  /** The tmpfs of a shareable container's /dev/shm, mounted on the host once (until it stops). */
  private shareableShm(rec: ContainerRecord): string {
    const dir = this.shmDir(rec);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!isMounted(dir)) {
      const size = rec.HostConfig.ShmSize || DEFAULT_SHM_SIZE;
      mountAll([{ type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", `size=${size}`] }], dir);
    }
    return dir;
  }

  /** The PID and IPC namespaces (and /dev/shm) of the containers named by "container:<ref>". */
  private joinedNamespaces(rec: ContainerRecord): { pid?: string; ipc?: string; shm?: string } | undefined {
    const h = rec.HostConfig;
    const out: { pid?: string; ipc?: string; shm?: string } = {};
    if (h.PidMode?.startsWith("container:")) out.pid = nsPath(this.runningDonor(h.PidMode.slice(10), "PID"), "pid");
    if (h.IpcMode?.startsWith("container:")) {
      const d = this.runningDonor(h.IpcMode.slice(10), "IPC");
      // docker shares only a donor that agreed to it
      if (d.HostConfig.IpcMode !== "shareable" && d.HostConfig.IpcMode !== "host")
        throw invalidArgument(`non-shareable IPC (hint: use IpcMode:shareable for the donor container ${d.Id})`);
      out.ipc = nsPath(d, "ipc");
      out.shm = d.HostConfig.IpcMode === "host" ? "/dev/shm" : this.shmDir(d);
    }
    return Object.keys(out).length ? out : undefined;
  }

  /** The containers on a user network, by every name they answer to. */
  private async peers(network: string, self: string): Promise<Array<{ name: string; ip: string; id: string }>> {
    const out: Array<{ name: string; ip: string; id: string }> = [];
    for (const a of await this.o.networks.attachments(network)) {
      if (a.containerId === self) continue;
      for (const name of a.aliases) out.push({ name, ip: a.ip, id: a.containerId });
    }
    return out;
  }

  /** Tell the containers already on the network about a new one: a line in their /etc/hosts (rewritten in place). */
  private announce(network: string, rec: ContainerRecord, ip: string, peers: Array<{ id: string }>): void {
    const names = hostNames(rec);
    for (const file of this.peerHostsFiles(peers)) {
      const text = readFileSync(file, "utf8");
      const add = names
        .filter((n) => !new RegExp(`\\s${n.replace(/[.]/g, "\\.")}(\\s|$)`, "m").test(text))
        .map((n) => `${ip}\t${n}\n`);
      // in place (not rename): the file is bind-mounted into the running container
      if (add.length) writeFileSync(file, text + (text.endsWith("\n") ? "" : "\n") + add.join(""));
    }
    void network;
  }

  /** The container leaves the network: the lines `announce` wrote about it go from its peers' /etc/hosts. */
  private withdraw(rec: ContainerRecord, ip: string, peers: Array<{ id: string }>): void {
    const names = new Set(hostNames(rec));
    for (const file of this.peerHostsFiles(peers)) {
      const text = readFileSync(file, "utf8");
      const kept = text.split("\n").filter((l) => {
        const [addr, name, ...more] = l.split(/\s+/);
        return !(addr === ip && name !== undefined && names.has(name) && more.every((m) => m === ""));
      });
      const next = kept.join("\n");
      if (next !== text) writeFileSync(file, next);
    }
  }

  /** The /etc/hosts files (in their containers' dirs) of `peers`, each once. */
  private peerHostsFiles(peers: Array<{ id: string }>): string[] {
    return [...new Set(peers.map((p) => p.id))]
      .map((id) => join(this.o.dataRoot, "containers", id, "hosts"))
      .filter((f) => existsSync(f));
  }
}

/** A namespace of a running container's init, as the host sees it. */
function nsPath(rec: ContainerRecord, type: "net" | "pid" | "ipc"): string {
  return `/proc/${rec.State.Pid}/ns/${type}`;
}

/** The names a container answers to on a user network: its name, short id and hostname. */
function hostNames(rec: ContainerRecord): string[] {
  return [rec.Name.slice(1), rec.Id.slice(0, 12), ...(rec.Config.Hostname ? [rec.Config.Hostname] : [])];
}

/** Whether a container publishes ports (`-p`): its network is released before anyone goes on. */
const publishes = (rec: ContainerRecord) => portMappings(rec).length > 0;

function portMappings(rec: ContainerRecord): PortMapping[] {
  const out: PortMapping[] = [];
  for (const [key, binds] of Object.entries(rec.HostConfig.PortBindings ?? {})) {
    const [port, proto = "tcp"] = key.split("/");
    if (proto !== "tcp" && proto !== "udp") throw invalidArgument(`port ${key}: only tcp and udp can be published`);
    for (const b of binds ?? [])
      out.push({
        containerPort: Number(port),
        protocol: proto,
        ...(b.HostIp ? { hostIP: b.HostIp } : {}),
        ...(b.HostPort ? { hostPort: Number(b.HostPort) } : {}),
      });
  }
  return out;
}
