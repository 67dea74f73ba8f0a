import { randomBytes } from "node:crypto";
import {
  alreadyExists,
  describe,
  failedPrecondition,
  internal,
  invalidArgument,
  isKind,
  notFound,
  unavailable,
} from "../errors/index.js";
import { type AddressPool, allocateSubnet, defaultAddressPools } from "./allocate-subnet.js";
import { type Cidr, contains, formatCidr, formatIPv4, lastOf, overlaps, parseCidr, parseIPv4 } from "./cidr.js";
import { addChain, type ChainRuntime, checkChain, delChain } from "./cni-chain.js";
import { defaultCniPath, invokePlugin, pluginVersions } from "./cni-plugin.js";
import { containerAddress } from "./cni-result.js";
import { type NetworkConfList, buildConfList, cniVersion } from "./conflist.js";
import { checkKernelSupport, deleteLink, ensureIpForward, hostRoutes } from "./host.js";
import { ensureNetworkRules, hasPortRules, pruneSharedChains, removeNetworkRules, sweepAttachmentRules } from "./iptables.js";
import { reservedNetworkNames, validateContainerId, validateInterfaceName, validateNetworkName } from "./names.js";
import { createNetnsFile, type NetnsOps, netnsExists, netnsPath, removeNetnsFile } from "./netns.js";
import { assignHostPorts, checkPortConflicts, normalizePorts } from "./ports.js";
import { type AttachmentRecord, NetworkStore } from "./store.js";
import type { AttachOptions, AttachResult, Attachment, CreateNetworkOptions, Network } from "./types.js";

/** Whether a plugin chain creates or prunes chains that all containers share (portmap, firewall). */
const usesSharedChains = (list: NetworkConfList) => list.plugins.some((p) => p.type === "portmap" || p.type === "firewall");

/** The default network's name: `docker run` without `--network` lands here. */
export const defaultNetworkName = "bridge";

export interface NetworkManagerOptions {
  /** `<data-root>/network`: network and attachment records, host-local's allocations */
  stateDir: string;
  /** `<exec-root>/netns`: the containers' netns files */
  runDir: string;
  /** where CNI plugins are looked up (default /usr/lib/cni, /opt/cni/bin) */
  cniPath?: readonly string[];
  /** where `create` takes subnets from when none is given */
  addressPools?: readonly AddressPool[];
  /** the default network's bridge and subnet (berth0, 172.20.0.0/16, gateway .1) */
  defaultNetwork?: { bridge?: string; subnet?: string; gateway?: string };
  /** the MTU of the bridges and container interfaces (the kernel's default when absent) */
  mtu?: number;
  /** how long a network's iptables rules are trusted to be in place before an attach checks them again */
  rulesRecheckMs?: number;
  /**
   * netns files made (lo up) and unmounted in-process (berthd hands in the native executor's: the
   * network module uses no native code of its own); without them, `unshare`, the loopback plugin, `umount`
   */
  netnsOps?: NetnsOps;
  /** where failures of background work go (a network's rules re-checked beside an attach) */
  log?: (message: string) => void;
}

/**
 * Container networking for one berthd: bridge networks recorded under the state dir, netns
 * files under the run dir, and attachments made by running CNI plugin chains. Operations that
 * change records are serialized; records are written atomically, so a new manager over the
 * same dirs (a restarted berthd) carries on where the old one stopped.
 */
export class NetworkManager {
  readonly stateDir: string;
  readonly runDir: string;
  readonly cniPath: readonly string[];
  readonly #store: NetworkStore;
  readonly #pools: readonly AddressPool[];
  readonly #defaults: { bridge: string; subnet: string; gateway?: string };
  readonly #mtu: number | undefined;
  #tail: Promise<unknown> = Promise.resolve();
  #kernelChecked: Promise<void> | undefined;
  readonly #pluginsChecked = new Map<string, Promise<void>>();
  /** networks whose rules (masquerade, FORWARD) this manager has seen in place, and when */
  readonly #ruled = new Map<string, number>();
  /** a re-check of a network's rules running beside the attach that started it */
  readonly #rechecks = new Map<string, Promise<void>>();
  readonly #recheckMs: number;
  readonly #netnsOps: NetnsOps | undefined;
  readonly #log: (message: string) => void;

  constructor(opts: NetworkManagerOptions) {
    this.stateDir = opts.stateDir;
    this.runDir = opts.runDir;
    this.cniPath = opts.cniPath ?? defaultCniPath;
    this.#store = new NetworkStore(opts.stateDir);
    this.#pools = opts.addressPools ?? defaultAddressPools;
    this.#defaults = {
      bridge: opts.defaultNetwork?.bridge ?? "berth0",
      subnet: opts.defaultNetwork?.subnet ?? "172.20.0.0/16",
      ...(opts.defaultNetwork?.gateway ? { gateway: opts.defaultNetwork.gateway } : {}),
    };
    validateInterfaceName(this.#defaults.bridge);
    this.#mtu = opts.mtu;
    this.#recheckMs = opts.rulesRecheckMs ?? 10_000;
    this.#netnsOps = opts.netnsOps;
    this.#log = opts.log ?? (() => {});
  }

  /** Runs `fn` after every earlier locked operation has finished. */
  #locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(fn, fn);
    this.#tail = run.catch(() => {});
    return run;
  }

  /** Creates the default network ("bridge" on berth0, 172.20.0.0/16) unless it exists; returns it. */
  ensureDefault(): Promise<Network> {
    return this.#locked(async () => {
      await this.#store.init();
      const existing = (await this.#store.networks()).find((n) => n.name === defaultNetworkName);
      if (existing) return existing;
      return this.#createLocked(
        defaultNetworkName,
        { subnet: this.#defaults.subnet, ...gw(this.#defaults.gateway) },
        this.#defaults.bridge,
      );
    });
  }

  /** Creates a bridge network; its bridge interface appears with the first attachment. */
  async create(name: string, opts: CreateNetworkOptions = {}): Promise<Network> {
    validateNetworkName(name);
    if (reservedNetworkNames.includes(name))
      throw invalidArgument(`create network "${name}": the name is reserved (pre-defined network)`);
    return this.#locked(async () => {
      await this.#store.init();
      return this.#createLocked(name, opts);
    });
  }

  async #createLocked(name: string, opts: CreateNetworkOptions, bridgeName?: string): Promise<Network> {
    const what = `create network "${name}"`;
    const networks = await this.#store.networks();
    if (networks.some((n) => n.name === name)) throw alreadyExists(`${what}: a network of that name exists`);
    let subnet: Cidr;
    if (opts.subnet !== undefined) {
      subnet = parseCidr(opts.subnet);
      if (subnet.prefix > 30) throw invalidArgument(`${what}: subnet ${opts.subnet} is too small (at most /30)`);
      const clash = networks.find((n) => overlaps(parseCidr(n.subnet), subnet));
      if (clash) throw failedPrecondition(`${what}: subnet ${opts.subnet} overlaps network "${clash.name}" (${clash.subnet})`);
    } else {
      const ours = networks.map((n) => parseCidr(n.subnet));
      const found = allocateSubnet(this.#pools, [...ours, ...(await hostRoutes())]);
      if (!found) throw unavailable(`${what}: the address pools have no free subnet left`);
      subnet = found;
    }
    let gateway = subnet.base + 1;
    if (opts.gateway !== undefined) {
      const g = parseIPv4(opts.gateway);
      if (g === undefined || !contains(subnet, g) || g === subnet.base || g === lastOf(subnet)) {
        throw invalidArgument(`${what}: gateway ${opts.gateway} is not a host address of ${formatCidr(subnet)}`);
      }
      gateway = g;
    }
    const id = randomBytes(32).toString("hex");
    const network: Network = {
      name,
      id,
      driver: "bridge",
      subnet: formatCidr(subnet),
      gateway: formatIPv4(gateway),
      bridge: bridgeName ?? `br-${id.slice(0, 12)}`,
      internal: opts.internal ?? false,
      labels: { ...(opts.labels ?? {}) },
      created: new Date().toISOString(),
    };
    await this.#store.putNetwork(network);
    return network;
  }

  /** Every network, oldest first. */
  async list(): Promise<Network[]> {
    return this.#store.networks();
  }

  /** A network by exact name, exact id, or unique id prefix. NotFound, or InvalidArgument when ambiguous. */
  async get(nameOrIdPrefix: string): Promise<Network> {
    const networks = await this.#store.networks();
    const exact = networks.find((n) => n.name === nameOrIdPrefix) ?? networks.find((n) => n.id === nameOrIdPrefix);
    if (exact) return exact;
    const byPrefix = nameOrIdPrefix === "" ? [] : networks.filter((n) => n.id.startsWith(nameOrIdPrefix));
    if (byPrefix.length > 1) throw invalidArgument(`network "${nameOrIdPrefix}" is ambiguous: ${byPrefix.length} networks match`);
    const [only] = byPrefix;
    if (!only) throw notFound(`network "${nameOrIdPrefix}" not found`);
    return only;
  }

  /** Removes a network and its bridge; FailedPrecondition while containers are attached, and for "bridge". */
  remove(nameOrId: string): Promise<void> {
    return this.#locked(async () => {
      const network = await this.get(nameOrId);
      if (network.name === defaultNetworkName) {
        throw failedPrecondition(`remove network "${network.name}": it is the pre-defined default network`);
      }
      const peers = (await this.#store.attachments()).filter((a) => a.networkId === network.id);
      if (peers.length > 0) {
        const ids = peers.map((a) => a.containerId.slice(0, 12)).join(", ");
        throw failedPrecondition(`remove network "${network.name}": containers are attached (${ids})`);
      }
      await deleteLink(network.bridge);
      // a re-check still running could put back what this removes
      await this.#rechecks.get(network.id);
      await removeNetworkRules(network);
      this.#ruled.delete(network.id);
      await this.#store.deleteNetwork(network);
    });
  }

  /** The netns file a container's namespace lives at under the run dir. */
  netnsPath(containerId: string): string {
    return netnsPath(this.runDir, containerId);
  }

  /**
   * A persistent network namespace for a container at `<run dir>/<id>`, with `lo` up; returns
   * its path. Idempotent; a failure leaves no file or mount behind.
   */
  async createNetns(containerId: string): Promise<string> {
    const file = await this.createNetnsFile(containerId);
    await this.loopbackUp(containerId);
    return file;
  }

  /** The netns file; `lo` is up when `netnsOps` made it, else `loopbackUp` (which may run beside `attach`). */
  createNetnsFile(containerId: string): Promise<string> {
    return createNetnsFile(this.runDir, containerId, this.#netnsOps);
  }

  /** Brings `lo` up in a container's netns (the loopback plugin); on failure the netns goes. */
  async loopbackUp(containerId: string): Promise<void> {
    // the in-process maker brought it up with the namespace
    if (this.#netnsOps) return;
    const file = this.netnsPath(containerId);
    try {
      await this.#checkPlugin("loopback");
      const config = { cniVersion, name: "loopback", type: "loopback" };
      await invokePlugin({
        command: "ADD",
        type: "loopback",
        containerId,
        netns: file,
        ifname: "lo",
        config,
        cniPath: this.cniPath,
      });
    } catch (e) {
      await removeNetnsFile(this.runDir, containerId, this.#netnsOps).catch(() => {
        // the loopback error is the one to report; a stuck mount shows up at the next removeNetns
      });
      throw internal(`create network namespace for container ${containerId}: bring up lo`, e);
    }
  }

  /** Unmounts and removes a container's netns file (detach first: DEL needs the namespace). Idempotent. */
  async removeNetns(containerId: string): Promise<void> {
    await removeNetnsFile(this.runDir, containerId, this.#netnsOps);
  }

  /**
   * Connects a container's netns to a network through the plugin chain and records the
   * attachment; returns the container's address. The interface is eth0 for the first network,
   * eth1 for the next... unless `opts.ifname` says otherwise.
   */
  async attach(containerId: string, networkRef: string, opts: AttachOptions): Promise<AttachResult> {
    validateContainerId(containerId);
    if (opts.ifname !== undefined) validateInterfaceName(opts.ifname);
    // the records (addresses asked for, ports) are decided under the lock; a chain that touches
    // only this container's own objects (bridge + host-local: its veth, its lease) then runs
    // outside it, so one container's plugins do not queue behind another's
    const reserved = await this.#locked(async () => {
      const network = await this.get(networkRef);
      const what = `attach container ${containerId} to network "${network.name}"`;
      const wanted = normalizePorts(opts.portMappings ?? []);
      // every container's records only when ports are asked for (their host ports are in use)
      const all = await this.#store.attachments(wanted.length ? undefined : containerId);
      const mine = all.filter((a) => a.containerId === containerId);
      if (mine.some((a) => a.networkId === network.id)) throw alreadyExists(`${what}: already attached`);
      if (!(await netnsExists(opts.netns))) throw notFound(`${what}: netns ${opts.netns} does not exist`);
      const used = new Set(mine.map((a) => a.ifname));
      let ifname = opts.ifname;
      if (ifname !== undefined && used.has(ifname)) throw alreadyExists(`${what}: interface ${ifname} is in use`);
      for (let i = 0; ifname === undefined; i++) if (!used.has(`eth${i}`)) ifname = `eth${i}`;

      let cniArgs = "";
      if (opts.ip !== undefined) {
        const ip = parseIPv4(opts.ip);
        const subnet = parseCidr(network.subnet);
        if (
          ip === undefined ||
          !contains(subnet, ip) ||
          ip === subnet.base ||
          ip === lastOf(subnet) ||
          opts.ip === network.gateway
        ) {
          throw invalidArgument(`${what}: address ${opts.ip} is not a free host address of ${network.subnet}`);
        }
        // IgnoreUnknown: every plugin of the chain parses CNI_ARGS, only host-local knows IP
        cniArgs = `IgnoreUnknown=1;IP=${opts.ip}`;
      }
      const inUse = all.flatMap((a) => a.ports);
      checkPortConflicts(wanted, inUse);
      const ports = await assignHostPorts(wanted, inUse);

      await this.#checkHost(ports.length > 0);
      // made before a network's first container; then checked again after a while (a firewall
      // reload or `iptables -F` drops them), beside this attach: they are as good as always there
      const seen = this.#ruled.get(network.id);
      if (seen === undefined) {
        await this.#ensureRules(network);
        this.#ruled.set(network.id, Date.now());
      } else if (seen < Date.now() - this.#recheckMs && !this.#rechecks.has(network.id)) {
        const id = network.id;
        this.#ruled.set(id, Date.now());
        const recheck = this.#ensureRules(network)
          // the next attach makes them, and waits for it
          .catch((e: unknown) => {
            this.#ruled.delete(id);
            this.#log(`network "${network.name}": re-check of its iptables rules: ${describe(e)}`);
          })
          .finally(() => this.#rechecks.delete(id));
        this.#rechecks.set(id, recheck);
      }
      const confList = buildConfList(network, {
        ipamDataDir: this.#store.ipamDir,
        ports,
        ...(this.#mtu === undefined ? {} : { mtu: this.#mtu }),
      });
      const record: AttachmentRecord = {
        containerId,
        networkId: network.id,
        networkName: network.name,
        netns: opts.netns,
        aliases: [...(opts.aliases ?? [])],
        ifname,
        ip: "",
        prefixLen: 0,
        gateway: network.gateway,
        mac: "",
        ports,
        state: "adding",
        confList,
        cniArgs,
        created: new Date().toISOString(),
      };
      await this.#store.init();
      await this.#store.putAttachment(record);
      const shared = usesSharedChains(confList);
      if (!shared) return { record, what, network };
      // portmap and firewall create and prune chains that every container shares: in the lock
      return { record, what, network, done: await this.#addChain(record, what, network.gateway) };
    });
    const done = reserved.done ?? (await this.#addChain(reserved.record, reserved.what, reserved.network.gateway));
    return {
      ip: done.ip,
      prefixLen: done.prefixLen,
      gateway: done.gateway,
      mac: done.mac,
      ifname: done.ifname,
      ports: done.ports,
    };
  }

  /** Runs an attachment's ADD chain and records the result; on failure the record goes. */
  async #addChain(record: AttachmentRecord, what: string, gateway: string): Promise<AttachmentRecord> {
    const { confList, containerId, ifname } = record;
    const rt: ChainRuntime = { containerId, netns: record.netns, ifname, args: record.cniArgs, cniPath: this.cniPath };
    let result: unknown;
    try {
      result = await addChain(confList, rt);
    } catch (e) {
      // addChain undid its plugins; the record goes too
      await this.#store.deleteAttachment(record);
      if (usesSharedChains(confList)) await pruneSharedChains().catch(() => {});
      throw withContext(what, e);
    }
    let address: ReturnType<typeof containerAddress>;
    try {
      address = containerAddress(result, ifname, gateway);
    } catch (e) {
      await delChain(confList, result, rt).catch(() => {});
      await this.#store.deleteAttachment(record);
      throw withContext(what, e);
    }
    const done: AttachmentRecord = { ...record, ...address, state: "attached", result };
    await this.#store.putAttachment(done);
    return done;
  }

  /**
   * Disconnects a container from one network, or from all of them: CNI DEL with the ADD's own
   * configuration and result (so it works after a berthd restart), then the record goes.
   * Detaching what is not attached is a no-op, unless a network was named.
   */
  async detach(containerId: string, networkRef?: string): Promise<void> {
    validateContainerId(containerId);
    // which records go is decided in the lock, and they are marked so that nobody counts them
    // as attached any more; chains of this container's own objects then run outside the lock,
    // those touching shared chains (portmap, firewall) and the pruning of those inside it
    const records = await this.#locked(async () => {
      let records = await this.#store.attachments(containerId);
      if (networkRef !== undefined) {
        const network = await this.get(networkRef);
        records = records.filter((a) => a.networkId === network.id);
        if (records.length === 0) throw notFound(`detach container ${containerId}: not attached to network "${network.name}"`);
      }
      const marked: AttachmentRecord[] = [];
      for (const rec of records) {
        const deleting: AttachmentRecord = { ...rec, state: "deleting" };
        await this.#store.putAttachment(deleting);
        marked.push(deleting);
      }
      return marked;
    });
    let first: unknown;
    const own = records.filter((r) => !usesSharedChains(r.confList));
    const shared = records.filter((r) => usesSharedChains(r.confList));
    for (const rec of own) first ??= await this.#delChain(containerId, rec);
    if (shared.length > 0)
      await this.#locked(async () => {
        for (const rec of shared) first ??= await this.#delChain(containerId, rec);
        try {
          await pruneSharedChains();
        } catch (e) {
          first ??= withContext(`detach container ${containerId}: remove unused CNI chains`, e);
        }
      });
    if (first !== undefined) throw first;
  }

  /** CNI DEL of one attachment with its ADD's configuration and result; returns the error, if any. */
  async #delChain(containerId: string, rec: AttachmentRecord): Promise<unknown> {
    try {
      // a namespace that is gone already took its interface with it; the plugins then
      // release the rest (addresses, port rules) without it
      const netns = (await netnsExists(rec.netns)) ? rec.netns : "";
      const rt: ChainRuntime = { containerId, netns, ifname: rec.ifname, args: rec.cniArgs, cniPath: this.cniPath };
      await delChain(rec.confList, rec.result, rt);
      // rules a plugin could not find without the namespace (the masquerade chain of an
      // attachment made with the bridge plugin's ipMasq, by an earlier berth)
      await sweepAttachmentRules(rec.confList.name, containerId);
      await this.#store.deleteAttachment(rec);
      return undefined;
    } catch (e) {
      return withContext(`detach container ${containerId} from network "${rec.networkName}"`, e);
    }
  }

  /** Whether a container has attachment records in any state (a release that failed leaves "deleting" ones). */
  async hasRecords(containerId: string): Promise<boolean> {
    validateContainerId(containerId);
    return (await this.#store.attachments(containerId)).length > 0;
  }

  /** The containers with attachment records (attached, or interrupted while being added or removed). */
  async containersWithAttachments(): Promise<string[]> {
    return [...new Set((await this.#store.attachments()).map((a) => a.containerId))];
  }

  /** The containers on a network (for /etc/hosts on user networks), oldest first. */
  async attachments(networkRef: string): Promise<Attachment[]> {
    const network = await this.get(networkRef);
    return (await this.#store.attachments()).filter((a) => a.networkId === network.id && a.state === "attached").map(publicOf);
  }

  /** The networks a container is attached to. */
  async attachmentsOf(containerId: string): Promise<Attachment[]> {
    validateContainerId(containerId);
    return (await this.#store.attachments(containerId)).filter((a) => a.state === "attached").map(publicOf);
  }

  /** CNI CHECK of every attachment of a container: throws when a plugin finds its work undone. */
  async check(containerId: string): Promise<void> {
    for (const rec of await this.#store.attachments(containerId)) {
      if (rec.state !== "attached")
        throw failedPrecondition(`check container ${containerId}: attachment to "${rec.networkName}" is incomplete`);
      const rt: ChainRuntime = { containerId, netns: rec.netns, ifname: rec.ifname, args: rec.cniArgs, cniPath: this.cniPath };
      // portmap up to 1.1.x fails CHECK on any host with ip6tables (it checks the IPv6 table even
      // for an IPv4-only container), so its DNAT rule is checked here instead
      const viaCni = { ...rec.confList, plugins: rec.confList.plugins.filter((p) => p.type !== "portmap") };
      try {
        await checkChain(viaCni, rec.result, rt);
        if (viaCni.plugins.length !== rec.confList.plugins.length && !(await hasPortRules(rec.confList.name, containerId))) {
          throw failedPrecondition(`the published ports' DNAT rules are missing`);
        }
      } catch (e) {
        throw withContext(`check container ${containerId} on network "${rec.networkName}"`, e);
      }
    }
  }

  /** Host prerequisites, with clear errors: bridge and veth support, the plugins (forwarding: with the rules). */
  async #checkHost(ports: boolean): Promise<void> {
    this.#kernelChecked ??= checkKernelSupport();
    try {
      await this.#kernelChecked;
    } catch (e) {
      this.#kernelChecked = undefined;
      throw e;
    }
    await this.#checkPlugin("bridge");
    await this.#checkPlugin("host-local");
    if (ports) await this.#checkPlugin("portmap");
  }

  /**
   * A network's masquerade rule and (unless internal) IPv4 forwarding, with every network's
   * isolation and FORWARD rules (one network's ACCEPTs without the others' DROPs would let its
   * containers reach theirs, e.g. after a flush of the tables).
   */
  async #ensureRules(network: Network): Promise<void> {
    const all = await this.#store.networks();
    await ensureNetworkRules(all.some((n) => n.id === network.id) ? all : [...all, network]);
    if (!network.internal) await ensureIpForward();
  }

  /**
   * Every network's rules, checked and made where missing (berthd's start: its containers may run
   * on, with a firewall reload or a reboot of the tables in between).
   */
  async ensureAllRules(): Promise<void> {
    const all = await this.#store.networks();
    if (all.length === 0) return;
    await ensureNetworkRules(all);
    if (all.some((n) => !n.internal)) await ensureIpForward();
    for (const n of all) this.#ruled.set(n.id, Date.now());
  }

  /** That plugin `type` exists and speaks our CNI version (VERSION), once per manager. */
  async #checkPlugin(type: string): Promise<void> {
    let p = this.#pluginsChecked.get(type);
    if (!p) {
      p = pluginVersions(type, this.cniPath).then((versions) => {
        if (!versions.includes(cniVersion)) {
          throw failedPrecondition(`cni plugin "${type}" supports CNI ${versions.join(", ")}, not ${cniVersion}`);
        }
      });
      this.#pluginsChecked.set(type, p);
    }
    try {
      await p;
    } catch (e) {
      this.#pluginsChecked.delete(type);
      throw e;
    }
  }
}

const gw = (gateway: string | undefined) => (gateway === undefined ? {} : { gateway });

function publicOf(a: AttachmentRecord): Attachment {
  return {
    containerId: a.containerId,
    networkId: a.networkId,
    networkName: a.networkName,
    netns: a.netns,
    aliases: a.aliases,
    ifname: a.ifname,
    ip: a.ip,
    prefixLen: a.prefixLen,
    gateway: a.gateway,
    mac: a.mac,
    ports: a.ports,
  };
}

/** Keeps the kind of a BerthError and puts the action in front of its message. */
function withContext(what: string, e: unknown): Error {
  const msg = `${what}: ${e instanceof Error ? e.message : String(e)}`;
  if (isKind(e, "NotFound")) return notFound(msg, e);
  if (isKind(e, "InvalidArgument")) return invalidArgument(msg, e);
  if (isKind(e, "FailedPrecondition")) return failedPrecondition(msg, e);
  if (isKind(e, "Unavailable")) return unavailable(msg, e);
  return internal(msg, e);
}
