import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { totalmem } from "node:os";
import { join } from "node:path";
import { newManager } from "../cgroups/index.js";
import { BerthError, describe, failedPrecondition, invalidArgument, isKind, notFound } from "../errors/index.js";
import type { Process, Spec } from "../oci/index.js";
import { parseSignal } from "../runtime/signals.js";
import { AttachStream, type ContainerEntry, type ExitEvent, type ShimCall, type ShimEvent } from "../shim/index.js";
import { mountAll, unmountAll } from "../snapshots/index.js";
import { ContainerStore, type ContainerRecord } from "./container-store.js";
import type { ContainerConfig, ContainerState, HostConfig, LogConfig } from "./container-types.js";
import type { EventBus } from "./events.js";
import type { ImageService } from "./image-service.js";
import { normalizeLogConfig, shimLogRequest } from "./log-config.js";
import type { ShimManager } from "./shim-manager.js";
import type { ContainerSetup } from "./container-setup.js";
import { AttachWaiters } from "./attach-waiters.js";
import { type ExecConfig, type ExecRecord, ExecRecords } from "./exec-records.js";
import { isMounted } from "./container-rootfs.js";
import { type InterfaceCounters, interfaceCounters } from "./net-stats.js";

export type { ExecConfig, ExecRecord } from "./exec-records.js";

/** An OCI runtime berthd can hand bundles to (dockerd's `--add-runtime name=path`). */
export interface RuntimeInfo {
  name: string;
  path: string;
  args?: string[];
}

export interface ContainerServiceOptions {
  images: ImageService;
  shims: ShimManager;
  events: EventBus;
  /** `/var/lib/berth` */
  dataRoot: string;
  /** `/run/berth` */
  execRoot: string;
  runtimes: Map<string, RuntimeInfo>;
  defaultRuntime: string;
  /** networking (CNI); without it only `none` and `host` work */
  setup?: ContainerSetup;
  log: (msg: string) => void;
  /** the daemon's default log driver and options (default: json-file, no options) */
  logConfig?: LogConfig;
}

export interface CreateRequest {
  name?: string;
  config: ContainerConfig;
  hostConfig?: HostConfig;
}

export interface ListFilters {
  all?: boolean;
  /** docker's filters: status, label (k or k=v), name (substring), id (prefix), exited (code) */
  filters?: Record<string, string[]>;
  limit?: number;
}

export type WaitCondition = "not-running" | "next-exit" | "removed";

const emptyState = (): ContainerState => ({
  Status: "created",
  Running: false,
  Paused: false,
  Restarting: false,
  OOMKilled: false,
  Dead: false,
  Pid: 0,
  ExitCode: 0,
  Error: "",
  StartedAt: "0001-01-01T00:00:00Z",
  FinishedAt: "0001-01-01T00:00:00Z",
});

/**
 * Containers: records in the metadata database, rootfs snapshots, bundles handed to an OCI
 * runtime through berth-shim, exits collected from the shims' events, restart policies.
 * Operations on one container are serialized; different containers proceed in parallel.
 */
export class ContainerService {
  readonly store: ContainerStore;
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly waiters = new Map<string, Array<{ condition: WaitCondition; resolve: (r: WaitResult) => void }>>();
  private readonly attachWaiters = new AttachWaiters();
  private readonly execs = new ExecRecords();
  /** containers in the middle of `restart`: their stop is not the end AutoRemove waits for */
  private readonly restarting = new Set<string>();
  private readonly restartTimers = new Map<string, NodeJS.Timeout>();
  /** files of removed containers still being deleted (after the removal was reported) */
  private readonly discarding = new Set<Promise<void>>();
  /** containers whose exit released the runtime, mount and network (until their next start) */
  private readonly released = new Set<string>();
  private closing = false;

  constructor(private readonly o: ContainerServiceOptions) {
    this.store = new ContainerStore(o.images.db);
  }

  // ---- paths

  containerDir(id: string): string {
    return join(this.o.dataRoot, "containers", id);
  }

  logPath(id: string): string {
    return join(this.containerDir(id), `${id}-json.log`);
  }

  bundleDir(id: string): string {
    return join(this.o.execRoot, "bundles", id);
  }

  private runtimeRoot(name: string): string {
    return join(this.o.execRoot, "runtime", name);
  }

  private runtime(name: string): RuntimeInfo {
    const r = this.o.runtimes.get(name);
    if (!r) throw invalidArgument(`unknown or invalid runtime name: ${name}`);
    return r;
  }

  // ---- serialization

  private serial<T>(id: string, f: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    const next = prev.then(f, f);
    const tail = next.catch(() => {});
    this.locks.set(id, tail);
    tail.then(() => {
      if (this.locks.get(id) === tail) this.locks.delete(id);
    });
    return next;
  }

  // ---- create

  async create(req: CreateRequest): Promise<{ Id: string; Warnings: string[] }> {
    const hostConfig: HostConfig = req.hostConfig ?? {};
    if (!req.config.Image) throw invalidArgument("config.Image: no image given");
    const runtime = hostConfig.Runtime || this.o.defaultRuntime;
    this.runtime(runtime);
    const image = this.o.images.get(req.config.Image);
    const top = await this.o.images.topChainId(image);
    const imageConfig = await this.o.images.configOf(image);
    const id = randomBytes(32).toString("hex");
    const name = ContainerStore.validName(req.name || randomName());
    const rec: ContainerRecord = {
      Id: id,
      Name: name,
      Created: new Date().toISOString(),
      Image: req.config.Image,
      ImageID: image.config.digest,
      // with another container's network the hostname is that container's (set at start)
      Config: {
        ...req.config,
        Hostname: req.config.Hostname || (hostConfig.NetworkMode?.startsWith("container:") ? "" : id.slice(0, 12)),
      },
      HostConfig: {
        NetworkMode: "bridge",
        ...hostConfig,
        LogConfig: normalizeLogConfig(hostConfig.LogConfig, this.o.logConfig),
        Runtime: runtime,
      },
      State: emptyState(),
      RestartCount: 0,
      Runtime: runtime,
      Networks: {},
      ManuallyStopped: false,
      HasBeenStarted: false,
      Driver: this.o.images.snapshotter.name,
    };
    // refuse what can never start, before anything is on disk (no command, bad capability, ...)
    this.o.setup?.validate(rec, imageConfig.config ?? {});
    const key = `container/${id}`;
    mkdirSync(this.containerDir(id), { recursive: true, mode: 0o710 });
    try {
      await this.o.images.snapshotter.prepare(key, top);
      // a generated name already taken (~50k of them: 50 at once collide now and then) is drawn again, as docker does
      for (let tries = 0; ; tries++) {
        try {
          this.store.insert(rec);
          break;
        } catch (e) {
          if (req.name || tries >= 10 || !isKind(e, "AlreadyExists")) throw e;
          rec.Name = ContainerStore.validName(randomName());
        }
      }
    } catch (e) {
      if (this.o.images.snapshotter.stat(key)) await this.o.images.snapshotter.remove(key).catch(() => {});
      rmSync(this.containerDir(id), { recursive: true, force: true });
      throw e;
    }
    this.o.events.publish("container", "create", id, { image: rec.Image, name: rec.Name.slice(1) });
    return { Id: id, Warnings: [] };
  }

  get(ref: string): ContainerRecord {
    return this.store.get(ref);
  }

  // ---- start

  /** Start a created or exited container; `false` when it was already running (docker's 304). */
  start(ref: string): Promise<boolean> {
    const id = this.store.get(ref).Id;
    return this.serial(id, () => this.startLocked(id));
  }

  private async startLocked(id: string, restarting = false): Promise<boolean> {
    const rec = this.store.get(id);
    if (rec.State.Running) {
      if (rec.State.Paused) throw failedPrecondition(`cannot start a paused container, try unpause instead`);
      return false;
    }
    if (rec.State.Dead || rec.State.Status === "removing")
      throw failedPrecondition(`container ${id.slice(0, 12)} is marked for removal and cannot be started`);
    if (!restarting) rec.ManuallyStopped = false;
    this.released.delete(id);
    const bundle = this.bundleDir(id);
    const rootfs = join(bundle, "rootfs");
    mkdirSync(rootfs, { recursive: true, mode: 0o700 });
    const undo: Array<() => Promise<void> | void> = [];
    let shimSocket: string | undefined;
    try {
      if (!isMounted(rootfs)) {
        mountAll(this.o.images.snapshotter.mounts(`container/${id}`), rootfs);
        undo.push(() => unmountAll(rootfs));
      }
      const image = this.o.images.get(rec.ImageID);
      const imageConfig = (await this.o.images.configOf(image)).config ?? {};
      if (!this.o.setup) throw failedPrecondition("berthd has no container setup");
      const prepared = await this.o.setup.prepare({
        rec,
        imageConfig,
        rootfs,
        containerDir: this.containerDir(id),
      });
      undo.push(() => prepared.release());
      writeFileSync(join(bundle, "config.json"), JSON.stringify(prepared.spec));
      const runtime = this.runtime(rec.Runtime);
      let { socket, client } = await this.o.shims.forNewContainer();
      shimSocket = socket;
      const tty = rec.Config.Tty === true;
      const create = {
        op: "create" as const,
        id,
        bundle,
        runtime: {
          name: runtime.name,
          path: runtime.path,
          root: this.runtimeRoot(runtime.name),
          ...(runtime.args ? { args: runtime.args } : {}),
        },
        terminal: tty,
        stdin: rec.Config.OpenStdin === true,
        stdinOnce: rec.Config.StdinOnce === true,
        ...shimLogRequest(rec.HostConfig.LogConfig, this.logPath(id)),
        // every exit ends in releaseRuntime's delete: the shim starts it at the exit
        deleteOnExit: true,
      };
      let created: { pid: number };
      try {
        created = await client.request<{ pid: number }>(create);
      } catch (e) {
        // the shim picked was exiting (its linger ran out as this container arrived): once more, elsewhere
        if (!isKind(e, "Unavailable") && !/shim is shutting down/.test((e as Error).message)) throw e;
        this.o.shims.retire(socket);
        ({ socket, client } = await this.o.shims.forNewContainer());
        shimSocket = socket;
        created = await client.request<{ pid: number }>(create);
      }
      undo.push(() => client.request({ op: "delete", id, force: true }).then(() => {}));
      // clients attached before start get every byte: they join the shim's streams before the init runs
      const waiters = this.attachWaiters.take(id);
      await Promise.all(
        waiters.map((w) =>
          w.open(socket).catch((e) => {
            this.o.log(`attach ${id.slice(0, 12)}: ${describe(e)}`);
            w.fail(e instanceof Error ? e : new Error(String(e)));
          }),
        ),
      );
      // the network's plugins ran beside the runtime's create: the init runs with its network
      const net = await prepared.connected();
      rec.Networks = net.networks;
      rec.NetworkPorts = net.ports;
      await client.request({ op: "start", id });
      rec.Shim = socket;
      rec.HasBeenStarted = true;
      rec.State = {
        ...emptyState(),
        Status: "running",
        Running: true,
        Pid: created.pid,
        StartedAt: new Date().toISOString(),
      };
      this.store.update(rec);
      this.o.events.publish("container", "start", id, { image: rec.Image, name: rec.Name.slice(1) });
      return true;
    } catch (e) {
      for (const u of undo.reverse()) await Promise.resolve(u()).catch(() => {});
      if (shimSocket) this.o.shims.released(shimSocket);
      const msg = describe(e);
      // clients attached before this start wait no more: the start's error ends their wait
      this.attachWaiters.failAll(id, e instanceof Error ? e : new Error(msg));
      const fresh = this.store.get(id);
      fresh.State = {
        ...fresh.State,
        Status: fresh.HasBeenStarted ? "exited" : "created",
        Running: false,
        Pid: 0,
        Error: msg,
        ExitCode: exitCodeForStartError(msg),
      };
      this.store.update(fresh);
      throw e;
    }
  }

  // ---- exits

  /** A shim's event: a container's or an exec's process exited. */
  handleShimEvent(e: ShimEvent, shim: string): void {
    if (e.type === "exit") {
      if (e.execId) {
        const x = this.execs.find(e.execId);
        if (x) {
          this.execs.finished(x, e.exitCode);
          this.o.events.publish("container", `exec_die`, x.containerId, { execID: x.id, exitCode: String(e.exitCode) });
        }
        return;
      }
      void this.serial(e.id, () => this.onExit(e, shim)).catch((err) =>
        this.o.log(`exit of ${e.id.slice(0, 12)}: ${describe(err)}`),
      );
    } else if (e.type === "oom") {
      this.o.events.publish("container", "oom", e.id);
    }
  }

  private async onExit(
    e: Pick<ExitEvent, "id" | "exitCode" | "exitedAt" | "oomKilled">,
    shim: string | undefined,
  ): Promise<void> {
    let rec: ContainerRecord;
    try {
      rec = this.store.get(e.id);
    } catch {
      return; // removed meanwhile
    }
    if (!rec.State.Running && rec.State.Status !== "restarting") return;
    rec.State = {
      ...rec.State,
      Status: "exited",
      Running: false,
      Paused: false,
      Restarting: false,
      Pid: 0,
      ExitCode: e.exitCode,
      OOMKilled: e.oomKilled === true,
      FinishedAt: e.exitedAt,
    };
    await this.releaseRuntime(rec, shim);
    this.released.add(rec.Id);
    this.store.update(rec);
    if (e.oomKilled) this.o.events.publish("container", "oom", rec.Id, { image: rec.Image, name: rec.Name.slice(1) });
    this.o.events.publish("container", "die", rec.Id, {
      image: rec.Image,
      name: rec.Name.slice(1),
      exitCode: String(e.exitCode),
    });
    this.notify(rec.Id, "next-exit", e.exitCode);
    this.notify(rec.Id, "not-running", e.exitCode);
    if (this.closing) return;
    if (this.shouldRestart(rec)) this.scheduleRestart(rec);
    else if (rec.HostConfig.AutoRemove && !this.restarting.has(rec.Id)) {
      // (a `restart` suspends AutoRemove: its stop is not the container's end, as in docker)
      // the lock is held: remove after it is released
      setImmediate(() => {
        this.remove(rec.Id, { force: true }).catch((err) => this.o.log(`auto-remove ${rec.Id.slice(0, 12)}: ${describe(err)}`));
      });
    }
  }

  /** The runtime's container, the rootfs mount and the network go; the record stays. */
  private async releaseRuntime(rec: ContainerRecord, shim: string | undefined): Promise<void> {
    const socket = shim ?? rec.Shim;
    const deleted = (async () => {
      if (socket) {
        try {
          const client = await this.o.shims.client(socket);
          await client.request({ op: "delete", id: rec.Id, force: true });
        } catch (err) {
          if (!isKind(err, "NotFound")) await this.runtimeDelete(rec);
        }
        this.o.shims.released(socket);
      } else if (existsSync(join(this.runtimeRoot(rec.Runtime), rec.Id))) {
        // the runtime still has it though no shim does (berthd died between the two): delete it directly
        await this.runtimeDelete(rec);
      }
    })();
    // the rootfs goes while the runtime deletes: the host's mount is not the container's (its
    // mount namespace holds its own), and nothing of berthd uses it once the init is gone
    const rootfs = join(this.bundleDir(rec.Id), "rootfs");
    try {
      if (isMounted(rootfs)) unmountAll(rootfs);
    } finally {
      await deleted;
    }
    delete rec.Shim;
    delete rec.NetworkPorts;
    // docker forgets a container's exec instances when it stops
    this.execs.forgetContainer(rec.Id);
    if (
      Object.keys(rec.Networks).length ||
      existsSync(join(this.o.execRoot, "netns", rec.Id)) ||
      rec.HostConfig.IpcMode === "shareable"
    ) {
      await this.o.setup?.teardown(rec).catch((err) => this.o.log(`teardown ${rec.Id.slice(0, 12)}: ${describe(err)}`));
      rec.Networks = {};
    }
  }

  /** Without a shim (it died): `runtime delete --force` directly, killing what is left. */
  private runtimeDelete(rec: ContainerRecord): Promise<void> {
    const r = this.o.runtimes.get(rec.Runtime);
    if (!r) return Promise.resolve();
    return new Promise((resolve) => {
      const p = spawn(r.path, [...(r.args ?? []), "--root", this.runtimeRoot(r.name), "delete", "--force", rec.Id], {
        stdio: "ignore",
      });
      p.on("exit", () => resolve());
      p.on("error", () => resolve());
    });
  }

  private shouldRestart(rec: ContainerRecord): boolean {
    const p = rec.HostConfig.RestartPolicy;
    if (!p || p.Name === "" || p.Name === "no" || rec.ManuallyStopped) return false;
    if (p.Name === "always" || p.Name === "unless-stopped") return true;
    if (p.Name === "on-failure")
      return rec.State.ExitCode !== 0 && (!p.MaximumRetryCount || rec.RestartCount < p.MaximumRetryCount);
    return false;
  }

  private scheduleRestart(rec: ContainerRecord): void {
    const ranMs = Date.parse(rec.State.FinishedAt) - Date.parse(rec.State.StartedAt);
    // docker's back-off: doubling from 100 ms, reset after a run of 10 s or more
    const n = ranMs >= 10_000 ? 0 : rec.RestartCount;
    const delay = Math.min(100 * 2 ** n, 60_000);
    rec.State = { ...rec.State, Status: "restarting", Restarting: true };
    this.store.update(rec);
    const t = setTimeout(() => {
      this.restartTimers.delete(rec.Id);
      void this.serial(rec.Id, async () => {
        const now = this.store.get(rec.Id);
        if (!now.State.Restarting) return;
        now.RestartCount++;
        now.State.Restarting = false;
        this.store.update(now);
        await this.startLocked(rec.Id, true);
        this.o.events.publish("container", "restart", rec.Id, { name: now.Name.slice(1) });
      }).catch((err) => this.o.log(`restart ${rec.Id.slice(0, 12)}: ${describe(err)}`));
    }, delay);
    this.restartTimers.set(rec.Id, t);
  }

  // ---- wait

  wait(ref: string, condition: WaitCondition = "not-running"): Promise<WaitResult> {
    const rec = this.store.get(ref);
    if (condition === "not-running" && !rec.State.Running && !rec.State.Restarting)
      return Promise.resolve({
        StatusCode: rec.State.ExitCode,
        ...(rec.State.Error ? { Error: { Message: rec.State.Error } } : {}),
      });
    return new Promise((resolve) => {
      const list = this.waiters.get(rec.Id) ?? [];
      list.push({ condition, resolve });
      this.waiters.set(rec.Id, list);
    });
  }

  private notify(id: string, condition: WaitCondition, code: number): void {
    const list = this.waiters.get(id);
    if (!list) return;
    const keep = list.filter((w) => {
      if (w.condition !== condition) return true;
      w.resolve({ StatusCode: code });
      return false;
    });
    if (keep.length) this.waiters.set(id, keep);
    else this.waiters.delete(id);
  }

  // ---- stop, kill, restart

  stop(ref: string, timeoutS?: number, signal?: string): Promise<boolean> {
    const id = this.store.get(ref).Id;
    return this.stopContainer(id, timeoutS, signal);
  }

  private async stopContainer(id: string, timeoutS?: number, signal?: string): Promise<boolean> {
    if (timeoutS !== undefined && !Number.isInteger(timeoutS))
      throw invalidArgument(`stop: timeout ${timeoutS} is not a whole number of seconds`);
    // marked under the container's lock, so a start in flight (a restart policy's) cannot undo it
    const rec = await this.serial(id, async () => {
      const r = this.store.get(id);
      this.cancelRestart(r);
      r.ManuallyStopped = true;
      this.store.update(r);
      return r;
    });
    if (!rec.State.Running) return false;
    const sig = parseSignal(signal || rec.Config.StopSignal || "SIGTERM");
    const t = timeoutS ?? rec.Config.StopTimeout ?? 10;
    const exited = this.wait(id, "not-running");
    if (rec.State.Paused) await this.shimCall(rec, { op: "resume", id }).catch(() => {});
    await this.signal(rec, sig).catch((e) => {
      if (!isKind(e, "NotFound")) throw e;
    });
    if (t >= 0) {
      const timedOut = await Promise.race([exited.then(() => false), sleep(t * 1000).then(() => true)]);
      if (timedOut) await this.signal(rec, 9, true).catch(() => {});
    }
    await exited;
    this.o.events.publish("container", "stop", id, { name: rec.Name.slice(1) });
    return true;
  }

  async kill(ref: string, signal?: string): Promise<void> {
    const rec = this.store.get(ref);
    const sig = parseSignal(signal || "SIGKILL");
    if (!rec.State.Running) throw failedPrecondition(`Cannot kill container: ${ref}: Container ${rec.Id} is not running`);
    if (sig === 9 || sig === 15) {
      rec.ManuallyStopped = true;
      this.store.update(rec);
    }
    await this.signal(rec, sig, sig === 9);
    this.o.events.publish("container", "kill", rec.Id, { name: rec.Name.slice(1), signal: String(sig) });
  }

  /**
   * Stop then start. AutoRemove is suspended meanwhile (docker's containerRestart): the stop is
   * not the container's end, so `--rm` does not remove it mid-restart.
   */
  async restart(ref: string, timeoutS?: number): Promise<void> {
    const rec = this.store.get(ref);
    const id = rec.Id;
    this.restarting.add(id);
    try {
      await this.stopContainer(id, timeoutS);
      await this.serial(id, () => this.startLocked(id));
    } catch (e) {
      // a `--rm` container that cannot run again is removed, as a failed start of one is in docker
      if (this.store.get(id).HostConfig.AutoRemove && !this.store.get(id).State.Running)
        await this.remove(id, { force: true }).catch((err) => this.o.log(`auto-remove ${id.slice(0, 12)}: ${describe(err)}`));
      throw e;
    } finally {
      this.restarting.delete(id);
    }
    this.o.events.publish("container", "restart", id, { image: rec.Image, name: rec.Name.slice(1) });
  }

  private async signal(rec: ContainerRecord, sig: number, all = false): Promise<void> {
    await this.shimCall(rec, { op: "kill", id: rec.Id, signal: sig, all });
  }

  private async shimCall<T>(rec: ContainerRecord, req: ShimCall): Promise<T> {
    if (!rec.Shim) throw failedPrecondition(`Container ${rec.Id} is not running`);
    const client = await this.o.shims.client(rec.Shim);
    return client.request<T>(req);
  }

  private cancelRestart(rec: ContainerRecord): void {
    const t = this.restartTimers.get(rec.Id);
    if (t) {
      clearTimeout(t);
      this.restartTimers.delete(rec.Id);
    }
    if (rec.State.Restarting) {
      rec.State = { ...rec.State, Status: "exited", Restarting: false };
      this.store.update(rec);
    }
  }

  // ---- pause, update, rename, top

  async pause(ref: string, on: boolean): Promise<void> {
    const rec = this.store.get(ref);
    await this.serial(rec.Id, async () => {
      const now = this.store.get(rec.Id);
      if (!now.State.Running) throw failedPrecondition(`Container ${now.Id} is not running`);
      if (now.State.Paused === on) throw failedPrecondition(`Container ${now.Id} is ${on ? "already paused" : "not paused"}`);
      await this.shimCall(now, { op: on ? "pause" : "resume", id: now.Id });
      now.State = { ...now.State, Paused: on, Status: on ? "paused" : "running" };
      this.store.update(now);
    });
    this.o.events.publish("container", on ? "pause" : "unpause", rec.Id, { name: rec.Name.slice(1) });
  }

  async update(ref: string, changes: HostConfig): Promise<void> {
    const rec = this.store.get(ref);
    await this.serial(rec.Id, async () => {
      const now = this.store.get(rec.Id);
      const next = { ...now.HostConfig, ...pickResources(changes) };
      if (changes.RestartPolicy) next.RestartPolicy = changes.RestartPolicy;
      if (now.State.Running && this.o.setup) {
        const resources = this.o.setup.resources({ ...now, HostConfig: next });
        await this.shimCall(now, { op: "update", id: now.Id, resources: resources as Record<string, unknown> });
      }
      now.HostConfig = next;
      this.store.update(now);
    });
    this.o.events.publish("container", "update", rec.Id, { name: rec.Name.slice(1) });
  }

  rename(ref: string, name: string): void {
    const rec = this.store.get(ref);
    const old = rec.Name;
    rec.Name = ContainerStore.validName(name);
    try {
      this.store.update(rec);
    } catch (e) {
      if (String((e as Error).message).includes("UNIQUE"))
        throw new BerthError("AlreadyExists", `Conflict. The container name "${rec.Name}" is already in use`);
      throw e;
    }
    this.o.events.publish("container", "rename", rec.Id, { name: rec.Name.slice(1), oldName: old.slice(1) });
  }

  async top(ref: string): Promise<{ Titles: string[]; Processes: string[][] }> {
    const rec = this.store.get(ref);
    if (!rec.State.Running) throw failedPrecondition(`Container ${rec.Id} is not running`);
    const { pids } = await this.shimCall<{ pids: number[] }>(rec, { op: "ps", id: rec.Id });
    const Titles = ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"];
    const Processes: string[][] = [];
    for (const pid of pids) {
      const p = procInfo(pid);
      if (p) Processes.push(p);
    }
    return { Titles, Processes };
  }

  // ---- stats

  /** docker's stats object, from the container's cgroup (read directly: any runtime places it at linux.cgroupsPath). */
  stats(ref: string, prev?: DockerStats): DockerStats {
    const rec = this.store.get(ref);
    const base = {
      read: new Date().toISOString(),
      preread: prev?.read ?? "0001-01-01T00:00:00Z",
      id: rec.Id,
      name: rec.Name,
      precpu_stats: prev?.cpu_stats ?? {
        cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 },
        system_cpu_usage: 0,
        online_cpus: 0,
        throttling_data: {},
      },
    };
    if (!rec.State.Running)
      return {
        ...base,
        cpu_stats: {
          cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 },
          system_cpu_usage: 0,
          online_cpus: 0,
          throttling_data: {},
        },
        memory_stats: {},
        pids_stats: {},
        blkio_stats: {},
      };
    const spec = JSON.parse(readFileSync(join(this.bundleDir(rec.Id), "config.json"), "utf8")) as Spec;
    const path = spec.linux?.cgroupsPath;
    if (!path) throw failedPrecondition(`container ${rec.Id.slice(0, 12)} has no cgroup`);
    const st = newManager(path).stats();
    const cpus = readFileSync("/proc/stat", "utf8").split("\n");
    const total = (cpus[0] ?? "")
      .split(/\s+/)
      .slice(1, 8)
      .reduce((n, v) => n + Number(v || 0), 0);
    const online = cpus.filter((l) => /^cpu\d+ /.test(l)).length;
    return {
      ...base,
      cpu_stats: {
        cpu_usage: {
          total_usage: st.cpu.usage.total ?? 0,
          usage_in_kernelmode: st.cpu.usage.kernel,
          usage_in_usermode: st.cpu.usage.user,
        },
        // docker's system usage: jiffies as nanoseconds (USER_HZ 100)
        system_cpu_usage: total * 10_000_000,
        online_cpus: online,
        throttling_data: {
          periods: st.cpu.throttling.periods ?? 0,
          throttled_periods: st.cpu.throttling.throttledPeriods ?? 0,
          throttled_time: st.cpu.throttling.throttledTime ?? 0,
        },
      },
      memory_stats: {
        usage: st.memory.usage.usage ?? 0,
        max_usage: st.memory.usage.max ?? 0,
        limit: st.memory.usage.limit && st.memory.usage.limit < Number.MAX_SAFE_INTEGER / 2 ? st.memory.usage.limit : totalmem(),
        failcnt: st.memory.usage.failcnt,
        stats: st.memory.raw ?? {},
      },
      pids_stats: { current: st.pids.current ?? 0, ...(st.pids.limit ? { limit: st.pids.limit } : {}) },
      blkio_stats: { io_service_bytes_recursive: st.blkio.ioServiceBytesRecursive ?? [] },
      ...(rec.HostConfig.NetworkMode === "host" ? {} : { networks: interfaceCounters(rec.State.Pid) }),
    };
  }

  // ---- remove

  async remove(ref: string, opts: { force?: boolean; volumes?: boolean } = {}): Promise<void> {
    const rec = this.store.get(ref);
    await this.serial(rec.Id, async () => {
      const now = this.store.get(rec.Id);
      this.cancelRestart(now);
      if (now.State.Running) {
        if (!opts.force)
          throw failedPrecondition(
            `You cannot remove a ${now.State.Paused ? "paused" : "running"} container ${now.Id}. Stop the container before attempting removal or force remove`,
          );
        now.ManuallyStopped = true;
        this.store.update(now);
        const attrs = { image: now.Image, name: now.Name.slice(1) };
        await this.signal(now, 9, true).catch(() => {});
        this.o.events.publish("container", "kill", now.Id, { ...attrs, signal: "9" });
        // the exit event is handled under this container's lock, which this holds: ask the shim,
        // and report the exit here (docker's rm -f: kill, die, destroy)
        const gone = this.shimCall<{ exitCode?: number; exitedAt?: string }>(now, { op: "wait", id: now.Id }).then(
          (r) => r ?? {},
          () => ({}) as { exitCode?: number; exitedAt?: string },
        );
        const exit = await Promise.race([gone, sleep(10_000).then(() => undefined)]);
        if (!exit) this.o.log(`remove ${now.Id.slice(0, 12)}: no exit seen 10 s after SIGKILL`);
        const code = exit?.exitCode ?? 137;
        now.State = {
          ...now.State,
          Status: "exited",
          Running: false,
          Paused: false,
          Pid: 0,
          ExitCode: code,
          FinishedAt: exit?.exitedAt ?? new Date().toISOString(),
        };
        this.store.update(now);
        this.o.events.publish("container", "die", now.Id, { ...attrs, exitCode: String(code) });
      }
      const fresh = this.store.get(now.Id);
      fresh.State = { ...fresh.State, Status: "removing", Running: false };
      // an exit released it already (every --rm): not a second mount table read and teardown
      if (!this.released.has(fresh.Id)) await this.releaseRuntime(fresh, undefined);
      this.released.delete(fresh.Id);
      await this.o.setup?.removed(fresh, opts.volumes === true);
      const key = `container/${fresh.Id}`;
      // its snapshot's row goes now; that snapshot's files, the bundle and the container dir after
      // the reply (~5 ms of an `rm` or `run --rm` here): nothing refers to them any more, and a
      // berthd killed meanwhile sweeps them at its next start (sweepRemoved)
      // (the record first: a crash between the two leaves files for the sweep, not a record without them)
      this.store.delete(fresh.Id);
      this.discard(fresh.Id, [
        this.o.images.snapshotter.stat(key) ? this.o.images.snapshotter.remove(key) : undefined,
        rm(this.bundleDir(fresh.Id), { recursive: true, force: true }),
        rm(this.containerDir(fresh.Id), { recursive: true, force: true }),
      ]);
      this.execs.forgetContainer(fresh.Id);
      this.attachWaiters.failAll(fresh.Id, notFound(`No such container: ${fresh.Id}`));
      this.notify(fresh.Id, "removed", fresh.State.ExitCode);
      this.notify(fresh.Id, "not-running", fresh.State.ExitCode);
      this.notify(fresh.Id, "next-exit", fresh.State.ExitCode);
      this.o.events.publish("container", "destroy", fresh.Id, { image: fresh.Image, name: fresh.Name.slice(1) });
    });
  }

  /** Tracks the deletion of a removed container's files; a failure is logged (the next start's sweep retries). */
  private discard(id: string, jobs: Array<Promise<void> | undefined>): void {
    const job = Promise.allSettled(jobs).then((results) => {
      for (const r of results)
        if (r.status === "rejected") this.o.log(`remove the files of container ${id.slice(0, 12)}: ${describe(r.reason)}`);
    });
    this.discarding.add(job);
    void job.finally(() => this.discarding.delete(job));
  }

  /** Every file deletion of a removed container started so far has finished. */
  async discarded(): Promise<void> {
    while (this.discarding.size > 0) await Promise.all(this.discarding);
  }

  /**
   * At berthd's start, before it serves: the files of containers that are no longer recorded
   * (a berthd killed while it deleted them after a removal): container dirs, bundles (their
   * rootfs unmounted first) and snapshot files.
   */
  private async sweepRemoved(): Promise<void> {
    const recorded = new Set(this.store.list().map((r) => r.Id));
    for (const dir of [join(this.o.dataRoot, "containers"), join(this.o.execRoot, "bundles")]) {
      let names: string[];
      try {
        names = readdirSync(dir);
      } catch {
        continue; // nothing made yet
      }
      for (const name of names) {
        if (!/^[0-9a-f]{64}$/.test(name) || recorded.has(name)) continue;
        const path = join(dir, name);
        try {
          // never recurse into a mount: a bundle's rootfs, a container's shareable /dev/shm
          for (const sub of ["rootfs", "shm"]) if (isMounted(join(path, sub))) unmountAll(join(path, sub));
          await rm(path, { recursive: true, force: true });
        } catch (e) {
          this.o.log(`remove ${path} of a removed container: ${describe(e)}`);
        }
      }
    }
    await this.o.images.snapshotter.sweep().catch((e) => this.o.log(`sweep removed snapshots: ${describe(e)}`));
  }

  // ---- list

  list(opts: ListFilters = {}): ContainerRecord[] {
    const f = opts.filters ?? {};
    let out = this.store.list().filter((r) => opts.all || r.State.Running || f.status !== undefined || f.exited !== undefined);
    for (const [key, values] of Object.entries(f)) {
      out = out.filter((r) =>
        values.some((v) => {
          switch (key) {
            case "status":
              return r.State.Status === v;
            case "name":
              return r.Name.slice(1).includes(v.replace(/^\//, "")) || new RegExp(v).test(r.Name.slice(1));
            case "id":
              return r.Id.startsWith(v);
            case "label": {
              const [k, val] = splitOnce(v, "=");
              const labels = r.Config.Labels ?? {};
              return val === undefined ? k in labels : labels[k] === val;
            }
            case "exited":
              return !r.State.Running && r.HasBeenStarted && String(r.State.ExitCode) === v;
            case "ancestor":
              return r.Image === v || r.ImageID === v || r.ImageID.startsWith(`sha256:${v}`);
            default:
              throw invalidArgument(`invalid filter '${key}'`);
          }
        }),
      );
    }
    out.sort((a, b) => b.Created.localeCompare(a.Created));
    return opts.limit && opts.limit > 0 ? out.slice(0, opts.limit) : out;
  }

  // ---- attach

  /**
   * Attach to a container's stdio: at once when it runs, else when it next starts (before its
   * init runs, so no output is missed). Resolves with the shim's stream; rejects when that
   * start fails (with its error), when the container is removed first, or when `signal` aborts
   * (the client went away: only this client's wait ends).
   */
  attach(
    ref: string,
    streams: { stdin: boolean; stdout: boolean; stderr: boolean; logs?: boolean },
    onOutput: (stream: number, data: Buffer) => void,
    signal?: AbortSignal,
  ): Promise<AttachStream> {
    const rec = this.store.get(ref);
    const open = (shim: string) => AttachStream.open(shim, { id: rec.Id, ...streams }, onOutput);
    if (rec.State.Running && rec.Shim) return open(rec.Shim);
    return new Promise((resolve, reject) => {
      this.attachWaiters.add(
        rec.Id,
        {
          open: (shim) =>
            open(shim).then((a) => {
              // the client left while its stream was being opened: nobody reads it
              if (signal?.aborted) a.close();
              else resolve(a);
            }),
          fail: reject,
        },
        signal,
      );
    });
  }

  async resize(ref: string, rows: number, cols: number, execId?: string): Promise<void> {
    const rec = this.store.get(ref);
    await this.shimCall(rec, { op: "resize", id: rec.Id, rows, cols, ...(execId ? { execId } : {}) });
  }

  // ---- exec

  execCreate(ref: string, config: ExecConfig): { Id: string } {
    const rec = this.store.get(ref);
    if (!rec.State.Running) throw failedPrecondition(`Container ${rec.Id} is not running`);
    if (rec.State.Paused) throw failedPrecondition(`Container ${rec.Id} is paused, unpause the container before exec`);
    if (!Array.isArray(config.Cmd) || config.Cmd.length === 0) throw invalidArgument("No exec command specified");
    const id = randomBytes(32).toString("hex");
    this.execs.add({ id, containerId: rec.Id, config, running: false, pid: 0 });
    this.o.events.publish("container", `exec_create: ${config.Cmd.join(" ")}`, rec.Id, { execID: id });
    return { Id: id };
  }

  execGet(id: string): ExecRecord {
    return this.execs.get(id);
  }

  /** Start an exec; with `attach`, resolves with its stdio stream (opened before the process runs). */
  async execStart(id: string, onOutput?: (stream: number, data: Buffer) => void): Promise<AttachStream | undefined> {
    const x = this.execGet(id);
    if (x.running || x.exitCode !== undefined) throw failedPrecondition(`exec ${id} has already been started`);
    const rec = this.store.get(x.containerId);
    if (!rec.State.Running || !rec.Shim) throw failedPrecondition(`Container ${rec.Id} is not running`);
    const spec = JSON.parse(readFileSync(join(this.bundleDir(rec.Id), "config.json"), "utf8")) as Spec;
    if (!this.o.setup) throw failedPrecondition("berthd has no container setup");
    const process: Process = this.o.setup.execProcess(spec, join(this.bundleDir(rec.Id), "rootfs"), x.config);
    const client = await this.o.shims.client(rec.Shim);
    x.running = true;
    x.shim = rec.Shim;
    try {
      const r = await client.request<{ pid: number }>({
        op: "exec",
        id: rec.Id,
        execId: id,
        process: process as unknown as Record<string, unknown>,
        terminal: x.config.Tty === true,
        stdin: x.config.AttachStdin === true,
      });
      x.pid = r.pid;
    } catch (e) {
      this.execs.finished(x, 126);
      throw e;
    }
    this.o.events.publish("container", `exec_start: ${x.config.Cmd.join(" ")}`, rec.Id, { execID: id });
    if (!onOutput) return undefined;
    return AttachStream.open(
      rec.Shim,
      {
        id: rec.Id,
        execId: id,
        stdin: x.config.AttachStdin === true,
        stdout: x.config.AttachStdout !== false,
        stderr: x.config.AttachStderr !== false,
      },
      onOutput,
    );
  }

  // ---- daemon start and stop

  /**
   * After berthd (re)starts: match records with what the shims still supervise. Running
   * containers carry on; exits that happened meanwhile are handled now with their codes; a
   * container whose shim died is killed and reported dead; restart policies apply.
   */
  async recover(): Promise<void> {
    await this.sweepRemoved();
    const shims = await this.o.shims.recover();
    const entries = new Map<string, { entry: ContainerEntry; shim: string }>();
    for (const [shim, list] of shims) for (const entry of list) entries.set(entry.id, { entry, shim });
    // networks whose release a killed berthd left unfinished (or never began), before any restart
    // below can start a container again: a network is in use while a shim runs its container
    await this.o.setup?.releaseOrphans((id) => {
      const e = entries.get(id)?.entry;
      return e !== undefined && e.status !== "stopped";
    });
    for (const rec of this.store.list()) {
      const found = entries.get(rec.Id);
      if (rec.State.Restarting && !found) {
        // berthd stopped during the back-off between two runs: carry on with the policy
        if (rec.Shim) delete rec.Shim;
        this.store.update(rec);
        this.scheduleRestart(rec);
        continue;
      }
      if (rec.State.Running || rec.State.Restarting) {
        if (!found) {
          await this.serial(rec.Id, () => this.lost(rec.Id, "its shim is gone"));
          continue;
        }
        const { entry, shim } = found;
        if (entry.status === "stopped") {
          await this.serial(rec.Id, () =>
            this.onExit(
              {
                id: rec.Id,
                exitCode: entry.exitCode ?? 255,
                exitedAt: entry.exitedAt ?? new Date().toISOString(),
                ...(entry.oomKilled ? { oomKilled: true } : {}),
              },
              shim,
            ),
          );
        } else if (rec.State.Restarting) {
          rec.State = { ...rec.State, Status: "running", Running: true, Restarting: false, Pid: entry.pid };
          rec.Shim = shim;
          this.store.update(rec);
        } else if (rec.State.Pid !== entry.pid || rec.Shim !== shim) {
          rec.State.Pid = entry.pid;
          rec.Shim = shim;
          this.store.update(rec);
        }
      } else if (found) {
        // a stopped container still in a shim: finish its deletion
        await this.releaseRuntime(rec, found.shim).catch(() => {});
        this.store.update(rec);
      }
      const mounted = isMounted(join(this.bundleDir(rec.Id), "rootfs"));
      if (!rec.State.Running && mounted) unmountAll(join(this.bundleDir(rec.Id), "rootfs"));
    }
    // restart policies after a daemon (or host) restart: always, and unless-stopped not stopped by hand
    for (const rec of this.store.list()) {
      const p = rec.HostConfig.RestartPolicy?.Name;
      if (
        !rec.State.Running &&
        !rec.State.Restarting &&
        !rec.ManuallyStopped &&
        rec.HasBeenStarted &&
        (p === "always" || p === "unless-stopped")
      )
        void this.start(rec.Id).catch((e) => this.o.log(`restart ${rec.Id.slice(0, 12)} at daemon start: ${describe(e)}`));
    }
  }

  /** A shim connection was lost: its running containers are unsupervised — kill them, report them dead. */
  async shimLost(shim: string): Promise<void> {
    if (this.closing) return;
    // a dropped connection is not a dead shim: reconnect if it still answers
    try {
      const client = await this.o.shims.client(shim);
      await client.request({ op: "list" });
      return;
    } catch {
      // gone
    }
    for (const rec of this.store.list())
      if (rec.Shim === shim && rec.State.Running) await this.serial(rec.Id, () => this.lost(rec.Id, "its shim exited"));
  }

  /**
   * A running container whose shim is gone: whatever is left of it is killed (nothing would
   * supervise it), and it is reported exited — with the exit the shim recorded in its state file
   * when there is one, else 137 and an Error saying why. Its restart policy then applies.
   */
  private async lost(id: string, why: string): Promise<void> {
    const rec = this.store.get(id);
    if (!rec.State.Running && !rec.State.Restarting) return;
    const saved = rec.Shim ? shimStateFile(rec.Shim, rec.Id) : undefined;
    await this.runtimeDelete(rec);
    const exited = saved?.status === "stopped" && saved.exitCode !== undefined;
    const code = exited ? (saved.exitCode as number) : 137;
    rec.State = {
      ...rec.State,
      Status: "exited",
      Dead: false,
      Running: false,
      Paused: false,
      Restarting: false,
      Pid: 0,
      ExitCode: code,
      OOMKilled: exited && saved.oomKilled === true,
      Error: exited ? "" : `supervision lost: ${why}; the container was killed`,
      FinishedAt: (exited && saved.exitedAt) || new Date().toISOString(),
    };
    delete rec.Shim;
    delete rec.NetworkPorts;
    this.execs.forgetContainer(rec.Id);
    await this.o.setup?.teardown(rec).catch(() => {});
    rec.Networks = {};
    const rootfs = join(this.bundleDir(rec.Id), "rootfs");
    if (isMounted(rootfs)) unmountAll(rootfs);
    this.store.update(rec);
    this.o.events.publish("container", "die", rec.Id, { name: rec.Name.slice(1), exitCode: String(code) });
    this.notify(rec.Id, "next-exit", code);
    this.notify(rec.Id, "not-running", code);
    if (!this.closing && this.shouldRestart(rec)) this.scheduleRestart(rec);
  }

  /** berthd is stopping: containers keep running under their shims. */
  close(): void {
    this.closing = true;
    for (const t of this.restartTimers.values()) clearTimeout(t);
    this.restartTimers.clear();
  }
}

/** docker's container stats object (the fields its CLI reads) */
export interface DockerStats {
  read: string;
  preread: string;
  id: string;
  name: string;
  cpu_stats: {
    cpu_usage: { total_usage: number; usage_in_kernelmode: number; usage_in_usermode: number };
    system_cpu_usage: number;
    online_cpus: number;
    throttling_data: Record<string, number>;
  };
  precpu_stats: DockerStats["cpu_stats"];
  memory_stats: { usage?: number; max_usage?: number; limit?: number; failcnt?: number; stats?: Record<string, number> };
  pids_stats: { current?: number; limit?: number };
  blkio_stats: Record<string, unknown>;
  /** per interface of the container's network namespace, loopback left out (docker's) */
  networks?: Record<string, InterfaceCounters>;
}

export interface WaitResult {
  StatusCode: number;
  Error?: { Message: string };
}

/** What a shim recorded of a container in `<its state dir>/<id>.json` (readable after the shim died). */
function shimStateFile(
  shimSocket: string,
  id: string,
): { status?: string; exitCode?: number; exitedAt?: string; oomKilled?: boolean } | undefined {
  try {
    return JSON.parse(readFileSync(join(shimSocket.replace(/\.sock$/, ""), `${id}.json`), "utf8"));
  } catch {
    return undefined;
  }
}

function exitCodeForStartError(msg: string): number {
  // docker's convention for a process that could not be started
  if (/no such file|not found|ENOENT/i.test(msg)) return 127;
  if (/permission denied|EACCES/i.test(msg)) return 126;
  return 128;
}

function pickResources(h: HostConfig): HostConfig {
  const keys: (keyof HostConfig)[] = [
    "Memory",
    "MemoryReservation",
    "MemorySwap",
    "NanoCpus",
    "CpuShares",
    "CpuPeriod",
    "CpuQuota",
    "CpusetCpus",
    "CpusetMems",
    "PidsLimit",
    "BlkioWeight",
  ];
  const out: Record<string, unknown> = {};
  for (const k of keys) if (h[k] !== undefined) out[k] = h[k];
  return out as HostConfig;
}

function splitOnce(s: string, sep: string): [string, string | undefined] {
  const i = s.indexOf(sep);
  return i < 0 ? [s, undefined] : [s.slice(0, i), s.slice(i + 1)];
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** One `ps -ef` row for a host pid, from /proc. */
function procInfo(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const close = stat.lastIndexOf(")");
    const f = stat.slice(close + 2).split(" ");
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const uid = /^Uid:\s+(\d+)/m.exec(status)?.[1] ?? "?";
    const cmd =
      readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean).join(" ") ||
      `[${stat.slice(stat.indexOf("(") + 1, close)}]`;
    const ticks = Number(f[11]) + Number(f[12]);
    const secs = Math.floor(ticks / 100);
    const time = `${String(Math.floor(secs / 3600)).padStart(2, "0")}:${String(Math.floor(secs / 60) % 60).padStart(2, "0")}:${String(secs % 60).padStart(2, "0")}`;
    return [uid === "0" ? "root" : uid, String(pid), f[1] ?? "?", "0", "-", "?", time, cmd];
  } catch {
    return undefined;
  }
}

const ADJ = [
  "admiring",
  "bold",
  "brave",
  "calm",
  "clever",
  "eager",
  "gentle",
  "happy",
  "keen",
  "lucid",
  "quirky",
  "serene",
  "sharp",
  "witty",
  "zen",
];
const NOUN = [
  "babbage",
  "curie",
  "dijkstra",
  "hopper",
  "knuth",
  "lamport",
  "lovelace",
  "noether",
  "ritchie",
  "shannon",
  "thompson",
  "turing",
  "wozniak",
];

/** docker's style of generated name: adjective_surname plus a short suffix so names rarely collide */
function randomName(): string {
  const b = randomBytes(3);
  return `${ADJ[(b[0] as number) % ADJ.length]}_${NOUN[(b[1] as number) % NOUN.length]}_${(b[2] as number).toString(16)}`;
}
