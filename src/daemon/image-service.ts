import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { LocalContentStore } from "../content/index.js";
import { failedPrecondition, invalidArgument, isKind, notFound } from "../errors/index.js";
import type { Readable } from "node:stream";
import {
  type ArchiveFormat,
  type ArchivedImage,
  collectContent,
  hostPlatform,
  importRootfs,
  loadArchive,
  saveDockerArchive,
  saveOciArchive,
  saveOciDir,
  type Db,
  type ImageRecord,
  ImageStore,
  isIdName,
  layerRefs,
  migrate,
  openDatabase,
  type PullEvent,
  parseTagName,
  pull,
  referencedChainIds,
  resolveImage,
} from "../images/index.js";
import { chainIds, type ImageConfig, type Manifest, type Platform, parseImageConfig, parseManifest } from "../oci/index.js";
import {
  type Credentials,
  credentialsFor,
  familiarName,
  familiarRepository,
  loadCredentials,
  parseReference,
  RegistryClient,
  type RegistryOptions,
} from "../registry/index.js";
import { createSnapshotter, mountAll, Unpacker, unmountAll, type Snapshotter } from "../snapshots/index.js";
import { acquireStoreLock, withStoreLock } from "./store-lock.js";

export interface ImageServiceOptions {
  /** the data root (`/var/lib/berth`): content/, snapshots/, metadata.db */
  root: string;
  registry?: RegistryOptions;
  /** "overlayfs" (default where the kernel has it) or "native" (copies) */
  snapshotter?: "overlayfs" | "native";
  /** berth's own credentials file (berth login) */
  authFile?: string;
}

/** One image as `berth images` lists it (all names of one image ID together). */
export interface ImageSummary {
  id: string;
  names: string[];
  digests: string[];
  created?: string;
  size: number;
  platform: Platform;
}

export interface RemoveResult {
  untagged: string[];
  deleted: string[];
}

/**
 * The image side of berthd, usable in-process (the berth CLI drives it directly, as podman
 * does): pull with streaming unpack, list, inspect, tag, remove with garbage collection,
 * read-only mounts of an image's rootfs. Every call holds the data root's lock (shared, or
 * exclusive for garbage collection).
 */
/** image configs kept in memory (a few KB each) */
const CONFIG_CACHE = 64;

export class ImageService {
  readonly root: string;
  readonly db: Db;
  readonly content: LocalContentStore;
  readonly images: ImageStore;
  readonly snapshotter: Snapshotter;
  private readonly registryOptions: RegistryOptions;
  private readonly authFile: string | undefined;
  /**
   * Config blobs by digest, most recently used last: every create and start parses its image's
   * config, and a blob of the content store never changes (its name is its digest)
   */
  private readonly configBlobs = new Map<string, Buffer>();

  private constructor(opts: ImageServiceOptions, db: Db, snapshotter: Snapshotter) {
    this.root = opts.root;
    this.db = db;
    this.content = new LocalContentStore(join(opts.root, "content"));
    this.images = new ImageStore(db);
    this.snapshotter = snapshotter;
    this.registryOptions = opts.registry ?? {};
    this.authFile = opts.authFile;
  }

  static async open(opts: ImageServiceOptions): Promise<ImageService> {
    mkdirSync(opts.root, { recursive: true, mode: 0o711 });
    const db = openDatabase(opts.root);
    migrate(db, "daemon/1", "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
    // a data root keeps the snapshotter it started with (docker's storage driver): another one
    // would not see its images
    const saved = (db.prepare("SELECT value FROM settings WHERE key = 'snapshotter'").get() as { value: string } | undefined)
      ?.value;
    if (saved && opts.snapshotter && saved !== opts.snapshotter)
      throw failedPrecondition(`data root ${opts.root} uses the ${saved} snapshotter, not ${opts.snapshotter}`);
    const kind = (saved ?? opts.snapshotter) as "overlayfs" | "native" | undefined;
    const snapshotter = await createSnapshotter({ root: opts.root, db, ...(kind ? { kind } : {}) });
    if (!saved) db.prepare("INSERT OR IGNORE INTO settings (key, value) VALUES ('snapshotter', ?)").run(snapshotter.name);
    return new ImageService(opts, db, snapshotter);
  }

  /** A registry client with berthd's credentials; `own` (a request's X-Registry-Auth) for its registry. */
  registry(own?: { domain: string; credentials: Credentials }): RegistryClient {
    const base = loadCredentials(this.authFile ? { authFile: this.authFile } : {});
    const credentials = own ? credentialsFor(own.domain, own.credentials, base) : base;
    return new RegistryClient({ ...this.registryOptions, credentials });
  }

  async pull(
    name: string,
    opts: { platform?: Platform; onEvent?: (e: PullEvent) => void; signal?: AbortSignal; credentials?: Credentials } = {},
  ): Promise<ImageRecord> {
    const ref = parseReference(name);
    const client = this.registry(opts.credentials ? { domain: ref.domain, credentials: opts.credentials } : undefined);
    return withStoreLock(this.root, "shared", () =>
      pull(ref, {
        client,
        content: this.content,
        images: this.images,
        sink: new Unpacker({ snapshotter: this.snapshotter }),
        ...(opts.platform ? { platform: opts.platform } : {}),
        ...(opts.onEvent ? { onEvent: opts.onEvent } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      }),
    ).finally(() => client.close());
  }

  get(name: string): ImageRecord {
    return resolveImage(this.images, name);
  }

  async manifestOf(rec: ImageRecord): Promise<Manifest> {
    const p = parseManifest(await this.content.read(rec.manifest.digest), rec.manifest.mediaType, `manifest of ${rec.name}`);
    if (p.kind !== "manifest") throw failedPrecondition(`image ${rec.name}: its manifest ${rec.manifest.digest} is an index`);
    return p.manifest;
  }

  async configOf(rec: ImageRecord): Promise<ImageConfig> {
    const digest = rec.config.digest;
    let blob = this.configBlobs.get(digest);
    if (blob) this.configBlobs.delete(digest);
    else blob = await this.content.read(digest);
    this.configBlobs.set(digest, blob);
    if (this.configBlobs.size > CONFIG_CACHE) this.configBlobs.delete(this.configBlobs.keys().next().value as string);
    // parsed each time: callers get their own object
    return parseImageConfig(blob, `config of ${rec.name}`);
  }

  /** The chain ID of the image's top layer: the snapshot its rootfs is made from. */
  async topChainId(rec: ImageRecord): Promise<string | undefined> {
    const ids = chainIds((await this.configOf(rec)).rootfs.diff_ids);
    return ids[ids.length - 1];
  }

  async list(): Promise<ImageSummary[]> {
    const byId = new Map<string, ImageRecord[]>();
    for (const r of this.images.list()) byId.set(r.config.digest, [...(byId.get(r.config.digest) ?? []), r]);
    const out: ImageSummary[] = [];
    for (const [id, recs] of byId) {
      const first = recs[0] as ImageRecord;
      let created: string | undefined;
      let size = 0;
      try {
        const config = await this.configOf(first);
        created = config.created;
        const manifest = await this.manifestOf(first);
        size = this.unpackedSize(config) ?? manifest.layers.reduce((n, l) => n + l.size, 0);
      } catch (e) {
        if (!isKind(e, "NotFound")) throw e;
      }
      const names = recs.filter((r) => !isIdName(r.name)).map((r) => r.name);
      const digests = [...new Set(names.map((n) => `${repoOf(n)}@${recs.find((r) => r.name === n)?.target.digest}`))];
      out.push({ id, names, digests, ...(created ? { created } : {}), size, platform: first.platform });
    }
    return out.sort((a, b) => (b.created ?? "").localeCompare(a.created ?? ""));
  }

  private unpackedSize(config: ImageConfig): number | undefined {
    let total = 0;
    for (const c of chainIds(config.rootfs.diff_ids)) {
      const s = this.snapshotter.stat(c)?.size;
      if (s === undefined) return undefined;
      total += s;
    }
    return total;
  }

  /** `docker image inspect`'s shape, plus berth's own `Descriptor`/`Manifest` fields. */
  async inspect(name: string): Promise<Record<string, unknown>> {
    const rec = this.get(name);
    const config = await this.configOf(rec);
    const manifest = await this.manifestOf(rec);
    const all = this.images.byConfig(rec.config.digest).filter((r) => !isIdName(r.name));
    return {
      Id: rec.config.digest,
      RepoTags: all.filter((r) => parseReference(r.name).tag !== undefined).map((r) => familiarName(parseReference(r.name))),
      RepoDigests: [...new Set(all.map((r) => `${familiarRepository(parseReference(r.name))}@${r.target.digest}`))],
      Parent: "",
      Comment: config.history?.[config.history.length - 1]?.comment ?? "",
      Created: config.created ?? "",
      Author: config.author ?? "",
      Config: config.config ?? {},
      Architecture: config.architecture,
      ...(config.variant ? { Variant: config.variant } : {}),
      Os: config.os,
      Size: this.unpackedSize(config) ?? manifest.layers.reduce((n, l) => n + l.size, 0),
      RootFS: { Type: "layers", Layers: config.rootfs.diff_ids },
      Metadata: { LastTagTime: rec.updated },
      Descriptor: rec.target,
      Manifest: rec.manifest,
      ChainID: chainIds(config.rootfs.diff_ids).at(-1) ?? "",
    };
  }

  /** Give an existing image another name. */
  async tag(source: string, target: string): Promise<ImageRecord> {
    return withStoreLock(this.root, "shared", async () => {
      const rec = this.get(source);
      const name = parseTagName(target);
      return this.images.put({ name, target: rec.target, manifest: rec.manifest, config: rec.config, platform: rec.platform });
    });
  }

  /**
   * `docker rmi`: a name untags (and deletes the image with its last name); an ID deletes the
   * image, refusing without `force` when several repositories name it or it is mounted.
   */
  async remove(name: string, opts: { force?: boolean } = {}): Promise<RemoveResult> {
    return withStoreLock(this.root, "exclusive", async () => {
      const rec = this.get(name);
      const all = this.images.byConfig(rec.config.digest);
      const byId =
        /^(sha256:)?[0-9a-f]{12,64}$/.test(name) &&
        rec.config.digest.startsWith(name.startsWith("sha256:") ? name : `sha256:${name}`);
      const targets = byId ? all : [rec];
      const repos = new Set(all.filter((r) => !isIdName(r.name)).map((r) => repoOf(r.name)));
      if (byId && !opts.force && repos.size > 1)
        throw failedPrecondition(
          `unable to delete ${rec.config.digest.slice(7, 19)} (must be forced): image is referenced in multiple repositories`,
        );
      const last = all.every((r) => targets.some((x) => x.name === r.name));
      // docker's rule: an image a container was created from stays while the container exists
      const users = last ? this.containersUsing(rec.config.digest) : [];
      if (users.length)
        throw failedPrecondition(
          `conflict: unable to remove ${familiar(name)} - image is being used by container ${users[0]?.slice(0, 12)}${users.length > 1 ? ` and ${users.length - 1} more` : ""}`,
        );
      if (last && this.snapshotter.stat(this.mountKey(rec))) {
        if (this.mounted(rec) && !opts.force)
          throw failedPrecondition(`image ${name}: it is mounted (berth image unmount ${name})`);
        // mounted and forced, or a stale row from a reboot or a killed mount
        await this.unmountRecord(rec);
      }
      const untagged: string[] = [];
      for (const r of targets) {
        this.images.delete(r.name);
        if (!isIdName(r.name)) untagged.push(familiar(r.name));
      }
      const deleted: string[] = [];
      if (last) {
        deleted.push(rec.config.digest);
        await this.collectGarbage();
      }
      return { untagged, deleted };
    });
  }

  /** IDs of the containers (berthd's records in this data root) made from image `configDigest`. */
  private containersUsing(configDigest: string): string[] {
    const table = this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'containers'").get();
    if (!table) return [];
    return (
      this.db.prepare("SELECT id FROM containers WHERE json_extract(record, '$.ImageID') = ?").all(configDigest) as {
        id: string;
      }[]
    ).map((r) => r.id);
  }

  /** Remove content and snapshots that no image (nor an image mount) references. Caller holds the exclusive lock. */
  async collectGarbage(): Promise<{ blobs: number; snapshots: number; bytes: number }> {
    const { removed, bytes } = await collectContent(this.images, this.content);
    const keep = await referencedChainIds(this.images, this.content);
    let snapshots = 0;
    // remove from the top of each stack down: a snapshot goes once nothing has it as parent
    for (let again = true; again; ) {
      again = false;
      const all = this.snapshotter.list();
      const parents = new Set(all.map((s) => s.parent).filter((p): p is string => p !== undefined));
      for (const s of all) {
        if (s.kind !== "committed" || keep.has(s.key) || parents.has(s.key)) continue;
        await this.snapshotter.remove(s.key);
        snapshots++;
        again = true;
      }
    }
    await this.content.pruneIngests();
    return { blobs: removed.length, snapshots, bytes };
  }

  async prune(): Promise<{ blobs: number; snapshots: number; bytes: number }> {
    return withStoreLock(this.root, "exclusive", () => this.collectGarbage());
  }

  private mountKey(rec: ImageRecord): string {
    return `image-mount/${rec.config.digest}`;
  }

  private mountPath(rec: ImageRecord): string {
    return join(this.root, "image-mounts", rec.config.digest.replace(/^sha256:/, ""));
  }

  /** mounted now: the view snapshot exists and its mount is there (a reboot or a kill can leave a stale row) */
  mounted(rec: ImageRecord): boolean {
    return this.snapshotter.stat(this.mountKey(rec)) !== undefined && isMountPoint(this.mountPath(rec));
  }

  /** podman's `image mount`: a read-only mount of the image's rootfs; returns its path (idempotent). */
  async mount(name: string): Promise<string> {
    // exclusive: two mounts of one image, or a mount racing rmi, must not interleave
    return withStoreLock(this.root, "exclusive", async () => {
      const rec = this.get(name);
      const target = this.mountPath(rec);
      const key = this.mountKey(rec);
      if (this.snapshotter.stat(key) && isMountPoint(target)) return target;
      const top = await this.topChainId(rec);
      if (!top || !this.snapshotter.stat(top))
        throw failedPrecondition(`image ${name}: its layers are not unpacked (pull it again)`);
      if (this.snapshotter.stat(key)) await this.snapshotter.remove(key);
      const mounts = await this.snapshotter.view(key, top);
      mkdirSync(target, { recursive: true, mode: 0o700 });
      try {
        mountAll(mounts, target);
      } catch (e) {
        await this.snapshotter.remove(key);
        throw e;
      }
      return target;
    });
  }

  async unmount(name: string): Promise<string> {
    return withStoreLock(this.root, "exclusive", async () => {
      const rec = this.get(name);
      if (!this.snapshotter.stat(this.mountKey(rec))) throw notFound(`image ${name}: not mounted`);
      return this.unmountRecord(rec);
    });
  }

  private async unmountRecord(rec: ImageRecord): Promise<string> {
    const target = this.mountPath(rec);
    if (isMountPoint(target)) unmountAll(target);
    rmSync(target, { recursive: true, force: true });
    await this.snapshotter.remove(this.mountKey(rec));
    return target;
  }

  /** Unpack an image whose blobs are all in the content store (load, import), then name it. */
  private async record(img: ArchivedImage, extraName?: string): Promise<ImageRecord[]> {
    const base = { target: img.target, manifest: img.manifest, config: img.config, platform: img.platform };
    const probe: ImageRecord = { ...base, name: img.config.digest, created: "", updated: "" };
    const layers = layerRefs(await this.manifestOf(probe), await this.configOf(probe));
    const sink = new Unpacker({ snapshotter: this.snapshotter });
    try {
      for (const l of layers) if (!sink.has(l)) await sink.unpack(l, this.content.reader(l.descriptor.digest));
      if (layers.length > 0) await sink.finish(layers);
    } catch (e) {
      await sink.abort();
      throw e;
    }
    const names = [...img.names, ...(extraName ? [parseTagName(extraName)] : [])];
    if (names.length === 0) return [this.images.put({ ...base, name: img.config.digest })];
    return names.map((name) => this.images.put({ ...base, name }));
  }

  /** `docker load`: an OCI layout (dir or tar) or a docker-archive tar; returns the images loaded. */
  async load(input: string | Readable): Promise<ImageRecord[]> {
    return withStoreLock(this.root, "shared", async () => {
      const found = await loadArchive(this.content, input, hostPlatform());
      const out: ImageRecord[] = [];
      for (const img of found) out.push(...(await this.record(img)));
      return out;
    });
  }

  /** `docker save`: the named images as an archive (a stream), or an OCI layout directory at `dir`. */
  async save(names: string[], format: ArchiveFormat, dir?: string): Promise<Readable | undefined> {
    if (names.length === 0) throw invalidArgument("save: name at least one image");
    // garbage collection must wait until the archive is written
    const release = await acquireStoreLock(this.root, "shared");
    try {
      const out = await this.saveLocked(names, format, dir);
      if (!out) release();
      else out.once("close", release);
      return out;
    } catch (e) {
      release();
      throw e;
    }
  }

  private async saveLocked(names: string[], format: ArchiveFormat, dir?: string): Promise<Readable | undefined> {
    const picked = names.map((n) => {
      const rec = this.get(n);
      // a name saves that name; an ID saves every name of the image
      const byName = rec.name === n || !/^(sha256:)?[0-9a-f]{12,64}$/.test(n);
      return { rec, names: byName ? [rec.name] : this.images.byConfig(rec.config.digest).map((r) => r.name) };
    });
    if (format === "oci-dir") {
      if (!dir) throw invalidArgument("save: oci-dir needs an output directory (-o DIR)");
      await saveOciDir(this.content, picked, dir);
      return undefined;
    }
    return format === "oci-archive" ? saveOciArchive(this.content, picked) : saveDockerArchive(this.content, picked);
  }

  /** `docker import`: a rootfs tar as a one-layer image, named `name` if given. */
  async import(
    input: Readable,
    name?: string,
    opts: { comment?: string; changes?: Record<string, unknown> } = {},
  ): Promise<ImageRecord> {
    return withStoreLock(this.root, "shared", async () => {
      const img = await importRootfs(this.content, input, {
        platform: hostPlatform(),
        ...(opts.comment ? { comment: opts.comment } : {}),
        ...(opts.changes ? { changes: opts.changes } : {}),
      });
      const recs = await this.record(img, name);
      return recs[0] as ImageRecord;
    });
  }
}

function repoOf(name: string): string {
  const r = parseReference(name);
  return `${r.domain}/${r.path}`;
}

function familiar(name: string): string {
  try {
    return familiarName(parseReference(name));
  } catch {
    return name;
  }
}

function isMountPoint(path: string): boolean {
  if (!existsSync(path)) return false;
  // mountinfo escapes space, tab, newline and backslash as octal
  const unoctal = (f: string) => f.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .some((l) => unoctal(l.split(" ")[4] ?? "") === path);
}
