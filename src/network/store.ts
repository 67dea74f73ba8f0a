import { mkdir, open, readFile, readdir, rename, rm, rmdir } from "node:fs/promises";
import { join } from "node:path";
import { errnoCode, internal } from "../errors/index.js";
import type { NetworkConfList } from "./conflist.js";
import type { Attachment, Network } from "./types.js";

/** An attachment with what DEL needs: the exact list, CNI_ARGS and final result of its ADD. */
export interface AttachmentRecord extends Attachment {
  /** "adding" is written before ADD runs, so a crash mid-ADD still leaves something to DEL;
   * "deleting" once DEL is decided (no longer counted as attached, its ports still held) */
  state: "adding" | "attached" | "deleting";
  confList: NetworkConfList;
  cniArgs: string;
  /** the ADD's final result (absent while adding) */
  result?: unknown;
  created: string;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

let writes = 0;

/** how many store reads run side by side */
const READ_CONCURRENCY = 32;

/** `fn` over `items`, at most READ_CONCURRENCY at once; results in the items' order. */
export async function mapLimit<T, R>(items: readonly T[], fn: (item: T) => Promise<R>, limit = READ_CONCURRENCY): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/**
 * Writes through a temp file and rename, so a reader (or a crash) never sees half a record. The
 * temp name is the writer's pid and a count: two writes of one record at once do not share it.
 */
async function writeAtomic(file: string, value: unknown): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}-${writes++}`;
  const fh = await open(tmp, "w", 0o600);
  try {
    await fh.writeFile(`${JSON.stringify(value, null, 2)}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
}

/** Whether a pid names a live process (EPERM: alive, someone else's). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errnoCode(e) === "EPERM";
  }
}

/**
 * The temp files of writers that died before their rename (a berthd killed mid-write): removed,
 * so they neither pile up nor keep a container's attachment dir from going. Returns what is left.
 */
async function sweepTemps(dir: string, names: string[]): Promise<string[]> {
  const kept: string[] = [];
  for (const n of names) {
    const pid = Number(/\.tmp-(\d+)(-\d+)?$/.exec(n)?.[1] ?? 0);
    if (pid && pid !== process.pid && !alive(pid)) await rm(join(dir, n), { force: true });
    else kept.push(n);
  }
  return kept;
}

async function readJson(file: string): Promise<unknown> {
  const text = await readFile(file, "utf8");
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw internal(`read ${file}: corrupt JSON`, e);
  }
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (e) {
    if (errnoCode(e) === "ENOENT") return []; // nothing recorded yet
    throw e;
  }
}

function checkNetwork(v: unknown, file: string): Network {
  if (
    !isRecord(v) ||
    typeof v["name"] !== "string" ||
    typeof v["id"] !== "string" ||
    !/^[0-9a-f]{64}$/.test(v["id"]) ||
    typeof v["subnet"] !== "string" ||
    typeof v["gateway"] !== "string" ||
    typeof v["bridge"] !== "string"
  ) {
    throw internal(`read network record ${file}: missing or malformed fields`);
  }
  return v as unknown as Network;
}

function checkAttachment(v: unknown, file: string): AttachmentRecord {
  if (
    !isRecord(v) ||
    typeof v["containerId"] !== "string" ||
    typeof v["networkId"] !== "string" ||
    typeof v["ifname"] !== "string" ||
    typeof v["netns"] !== "string" ||
    !isRecord(v["confList"])
  ) {
    throw internal(`read attachment record ${file}: missing or malformed fields`);
  }
  return v as unknown as AttachmentRecord;
}

/**
 * The network state dir: `networks/<id>.json`, `attachments/<container>/<network id>.json`,
 * and `ipam/` (host-local's dataDir, one dir per network name).
 */
export class NetworkStore {
  readonly dir: string;
  /** the network records by id, once read (see networks) */
  #networks: Promise<Map<string, Network>> | undefined;
  #init: Promise<void> | undefined;
  constructor(dir: string) {
    this.dir = dir;
  }

  get ipamDir(): string {
    return join(this.dir, "ipam");
  }

  /** Makes the dirs, once per store. */
  init(): Promise<void> {
    this.#init ??= (async () => {
      await mkdir(join(this.dir, "networks"), { recursive: true, mode: 0o700 });
      await mkdir(join(this.dir, "attachments"), { recursive: true, mode: 0o700 });
      await mkdir(this.ipamDir, { recursive: true, mode: 0o700 });
    })().catch((e: unknown) => {
      this.#init = undefined;
      throw e;
    });
    return this.#init;
  }

  /**
   * Every network, oldest first. Read from disk once, then kept: a network record changes only
   * through this store, and one berthd owns its data root (a new store, as a restarted berthd
   * makes, reads them again). Callers get copies.
   */
  async networks(): Promise<Network[]> {
    this.#networks ??= this.#readNetworks().catch((e: unknown) => {
      this.#networks = undefined;
      throw e;
    });
    const byId = await this.#networks;
    return [...byId.values()]
      .map((n) => structuredClone(n))
      .sort((a, b) => a.created.localeCompare(b.created) || a.name.localeCompare(b.name));
  }

  async #readNetworks(): Promise<Map<string, Network>> {
    const dir = join(this.dir, "networks");
    const names = (await sweepTemps(dir, await listDir(dir))).filter((n) => n.endsWith(".json"));
    // read side by side (see attachments)
    const out = await mapLimit(names, async (n) => checkNetwork(await readJson(join(dir, n)), join(dir, n)));
    return new Map(out.map((n) => [n.id, n]));
  }

  async putNetwork(n: Network): Promise<void> {
    await writeAtomic(join(this.dir, "networks", `${n.id}.json`), n);
    // a cache not read yet reads the file
    (await this.#networks?.catch(() => undefined))?.set(n.id, structuredClone(n));
  }

  async deleteNetwork(n: Network): Promise<void> {
    await rm(join(this.dir, "networks", `${n.id}.json`), { force: true });
    (await this.#networks?.catch(() => undefined))?.delete(n.id);
    await rm(join(this.ipamDir, n.name), { recursive: true, force: true });
  }

  async attachments(containerId?: string): Promise<AttachmentRecord[]> {
    const root = join(this.dir, "attachments");
    // every container's dir and every record read side by side (one after the other, each read is
    // a thread-pool round trip, and this runs under the network manager's lock), at most
    // READ_CONCURRENCY at once: thousands of containers must not run out of fds (EMFILE)
    const perContainer = await mapLimit(containerId === undefined ? await listDir(root) : [containerId], async (c) => {
      const names = await sweepTemps(join(root, c), await listDir(join(root, c)));
      // a container dir a crash left empty (between the last record's removal and the rmdir)
      if (names.length === 0 && containerId === undefined) await rmdir(join(root, c)).catch(() => {});
      // a container's own records (one per network) one after the other: the cap holds
      const records: AttachmentRecord[] = [];
      for (const n of names.filter((x) => x.endsWith(".json"))) {
        const file = join(root, c, n);
        records.push(checkAttachment(await readJson(file), file));
      }
      return records;
    });
    return perContainer.flat().sort((a, b) => a.created.localeCompare(b.created) || a.ifname.localeCompare(b.ifname));
  }

  async putAttachment(a: AttachmentRecord): Promise<void> {
    const dir = join(this.dir, "attachments", a.containerId);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeAtomic(join(dir, `${a.networkId}.json`), a);
  }

  async deleteAttachment(a: AttachmentRecord): Promise<void> {
    const dir = join(this.dir, "attachments", a.containerId);
    await rm(join(dir, `${a.networkId}.json`), { force: true });
    try {
      await rmdir(dir);
    } catch (e) {
      // ENOTEMPTY: the container is still on another network; ENOENT: gone already
      if (errnoCode(e) !== "ENOTEMPTY" && errnoCode(e) !== "ENOENT") throw e;
    }
  }
}
