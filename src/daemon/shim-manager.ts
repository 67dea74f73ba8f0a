import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, unavailable } from "../errors/index.js";
import { packageRoot } from "../native/index.js";
import { type ContainerEntry, launchShim, ShimClient, type ShimEvent } from "../shim/index.js";

export interface ShimManagerOptions {
  /** berthd's exec root: shims live under `<execRoot>/shims` */
  execRoot: string;
  /** containers per shim (one Node process supervises a group, so each costs little memory) */
  perShim?: number;
  /** the shim program (default: the package's dist/berth-shim.cjs) */
  shimPath?: string;
  /** events from every shim, with the shim's socket */
  onEvent: (e: ShimEvent, shim: string) => void;
  /** a shim's connection was lost (it died, or exited when empty) */
  onLost: (shim: string) => void;
  log?: (msg: string) => void;
  /** berth-runtime's warm server socket, passed to the shims (BERTH_RUNTIME_WARM_SOCKET) */
  warmSocket?: string;
  /** how long an empty shim waits for a new container before it exits */
  lingerMs?: number;
}

interface Live {
  client: ShimClient;
  /** containers assigned to it (created and not yet deleted) */
  count: number;
}

/**
 * berthd's shims: one berth-shim process per group of containers, started detached so it
 * outlives berthd. After a berthd restart, `recover` reconnects to every shim still running and
 * lists what each supervises.
 */
export class ShimManager {
  private readonly live = new Map<string, Live>();
  private readonly dir: string;
  private readonly perShim: number;
  private readonly shimPath: string;
  private starting: Promise<string> | undefined;

  constructor(private readonly opts: ShimManagerOptions) {
    this.dir = join(opts.execRoot, "shims");
    this.perShim = opts.perShim ?? 32;
    this.shimPath = opts.shimPath ?? join(packageRoot(), "dist", "berth-shim.cjs");
  }

  /** Reconnect to the shims left running: their sockets, and the containers each one holds. */
  async recover(): Promise<Map<string, ContainerEntry[]>> {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const out = new Map<string, ContainerEntry[]>();
    for (const n of readdirSync(this.dir)) {
      if (!n.endsWith(".sock")) continue;
      const path = join(this.dir, n);
      try {
        const client = await this.adopt(path);
        const { containers } = await client.request<{ containers: ContainerEntry[] }>({ op: "list" });
        out.set(path, containers);
        const l = this.live.get(path);
        if (l) l.count = containers.length;
      } catch (e) {
        this.opts.log?.(`shim ${path} is gone: ${describe(e)}`);
      }
    }
    return out;
  }

  /** The client of the shim at `socket`, connecting (and subscribing) if needed. */
  async client(socket: string): Promise<ShimClient> {
    const l = this.live.get(socket);
    if (l && !l.client.closed) return l.client;
    return this.adopt(socket);
  }

  /** A shim with room for one more container; starts one when all are full. */
  async forNewContainer(): Promise<{ socket: string; client: ShimClient }> {
    for (const [socket, l] of this.live)
      if (!l.client.closed && l.count < this.perShim) {
        l.count++;
        return { socket, client: l.client };
      }
    this.starting ??= this.startShim().finally(() => {
      this.starting = undefined;
    });
    const socket = await this.starting;
    const l = this.live.get(socket);
    if (!l) throw unavailable(`shim ${socket} went away as it started`);
    l.count++;
    return { socket, client: l.client };
  }

  /** A container left its shim (deleted, or its creation failed). */
  released(socket: string): void {
    const l = this.live.get(socket);
    if (l && l.count > 0) l.count--;
  }

  /** Place no more containers on this shim (it is exiting); its containers are unaffected. */
  retire(socket: string): void {
    this.live.delete(socket);
  }

  /** Disconnect from every shim (they keep running). */
  close(): void {
    for (const l of this.live.values()) l.client.close();
    this.live.clear();
  }

  private async adopt(socket: string): Promise<ShimClient> {
    const client = await ShimClient.connect(socket);
    this.live.set(socket, { client, count: 0 });
    client.onClose(() => {
      if (this.live.get(socket)?.client === client) this.live.delete(socket);
      this.opts.onLost(socket);
    });
    await client.subscribe((e) => this.opts.onEvent(e, socket));
    return client;
  }

  private async startShim(): Promise<string> {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const group = randomBytes(6).toString("hex");
    const socket = join(this.dir, `${group}.sock`);
    const stateDir = join(this.dir, group);
    if (!existsSync(this.shimPath)) throw unavailable(`berth-shim not found at ${this.shimPath} (npm run build)`);
    const env = shimEnv();
    if (this.opts.warmSocket) env.BERTH_RUNTIME_WARM_SOCKET = this.opts.warmSocket;
    const { pid } = await launchShim({ socket, stateDir, shimPath: this.shimPath, env, lingerMs: this.opts.lingerMs ?? 30_000 });
    await this.adopt(socket);
    this.opts.log?.(`started shim ${group} (pid ${pid})`);
    return socket;
  }
}

/** The shim needs no CA bundle (it never talks TLS) and must not inherit a debugger flag. */
function shimEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  delete env.NODE_OPTIONS;
  return env;
}
