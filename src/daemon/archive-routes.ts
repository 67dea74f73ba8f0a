import { existsSync, mkdirSync, readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import { describe, errnoCode, internal, invalidArgument, isKind } from "../errors/index.js";
import { TarWriter } from "../images/tar/index.js";
import type { Spec } from "../oci/index.js";
import { mountAll, unmountAll } from "../snapshots/index.js";
import { ConfinedFs, type ContainerView, PATH_STAT_HEADER, type PathStat, type ViewMount } from "./archive.js";
import { isMounted } from "./container-rootfs.js";
import type { ContainerRecord } from "./container-store.js";
import type { Daemon } from "./daemon.js";
import type { ApiServer } from "./server.js";

/**
 * docker's /containers/{id}/archive (berth cp), registered by the API server: HEAD stats a path,
 * GET archives it, PUT extracts the request's tar into a directory. See archive.ts for how paths
 * stay inside the container; here, the container is held still for the copy (paused while it
 * runs, CVE-2018-15664) and a stopped one's rootfs is mounted for it.
 */
export function registerArchiveRoutes(d: Daemon, api: ApiServer): void {
  const holds = new Holds(d);

  api.route("HEAD", "/containers/:id/archive", async (_req, res, p) => {
    const path = requiredPath(p.q);
    const stat = await holds.with(p.path[0] as string, false, (fs) => fs.stat(path));
    res.writeHead(200, { [PATH_STAT_HEADER]: encodeStat(stat) });
    res.end();
    return undefined;
  });

  api.route("GET", "/containers/:id/archive", async (_req, res, p) => {
    const path = requiredPath(p.q);
    const ref = p.path[0] as string;
    await holds.with(ref, true, async (fs, rec) => {
      const src = fs.archive(path);
      try {
        res.writeHead(200, { "Content-Type": "application/x-tar", [PATH_STAT_HEADER]: encodeStat(src.stat) });
        d.events.publish("container", "archive-path", rec.Id, { name: rec.Name.slice(1), path });
        await sendArchive(
          res,
          (w) => src.write(w),
          (e) => d.log(`archive ${path} of ${rec.Id.slice(0, 12)}: ${describe(e)}`),
        );
      } finally {
        src.close();
      }
    });
    return undefined;
  });

  api.route("PUT", "/containers/:id/archive", async (req, _res, p) => {
    try {
      const path = requiredPath(p.q);
      const keepOwners = truthy(p.q.get("copyUIDGID"));
      await holds.with(p.path[0] as string, true, async (fs, rec) => {
        await fs.extract(path, req, {
          noOverwriteDirNonDir: truthy(p.q.get("noOverwriteDirNonDir")),
          // docker's default: what is copied in belongs to the container's root
          ...(keepOwners ? {} : { owner: { uid: 0, gid: 0 } }),
        });
        d.events.publish("container", "extract-to-dir", rec.Id, { name: rec.Name.slice(1), path });
      });
    } catch (e) {
      await drain(req);
      throw e;
    }
    return { status: 200 };
  });
}

function requiredPath(q: URLSearchParams): string {
  const path = q.get("path");
  if (!path) throw invalidArgument("archive: the path parameter is required");
  return path;
}

function truthy(v: string | null): boolean {
  return v === "1" || v === "true" || v === "True";
}

export function encodeStat(s: PathStat): string {
  return Buffer.from(JSON.stringify(s)).toString("base64");
}

/** Write an archive to `res` as `produce` makes it; a failure after the headers can only cut the stream short. */
async function sendArchive(
  res: ServerResponse,
  produce: (w: TarWriter) => Promise<void>,
  log: (e: unknown) => void,
): Promise<void> {
  const w = new TarWriter();
  const sent = new Promise<void>((resolve) => {
    res.once("close", resolve);
    res.once("finish", resolve);
  });
  const gone = () => {
    if (!res.writableFinished) w.abort(new Error("the client went away"));
  };
  res.once("close", gone);
  w.stream.pipe(res);
  try {
    await produce(w);
    await w.finish();
  } catch (e) {
    if (!res.destroyed) log(e);
    w.abort(e instanceof Error ? e : new Error(String(e)));
    res.destroy();
  }
  await sent;
}

/**
 * Read what is left of a request body before answering an error: a client still sending an
 * archive would otherwise see its connection reset instead of the answer.
 */
function drain(req: IncomingMessage): Promise<void> {
  if (req.complete || req.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    req.once("end", resolve);
    req.once("close", resolve);
    req.once("error", () => resolve());
    req.resume();
  });
}

/** What one container's copies share: how many run, and whether berth paused it or mounted its rootfs for them. */
interface Hold {
  count: number;
  /** frozen by these copies (and so to be thawed by the last one), not by the user */
  paused: boolean;
  /** the rootfs mounted for these copies (the container was not running) */
  mounted: boolean;
  /** the hold's setup, which later copies wait for */
  ready: Promise<void>;
}

/**
 * Copies hold their container still. A running one is paused through its shim for the copy
 * (unless the user paused it: then it stays as the user left it) and thawed after, even on a
 * failure; concurrent copies share one pause. A stopped one has its snapshot mounted where a
 * start would mount it (the bundle's rootfs, so that a start meanwhile reuses that one mount and
 * overlayfs never has one upper directory mounted twice), unmounted by the last copy unless the
 * container started since.
 */
class Holds {
  private readonly holds = new Map<string, Hold>();

  constructor(private readonly d: Daemon) {}

  async with<T>(ref: string, freeze: boolean, f: (fs: ConfinedFs, rec: ContainerRecord) => Promise<T> | T): Promise<T> {
    const id = this.d.containers.get(ref).Id;
    const hold = await this.acquire(id, freeze);
    try {
      const rec = this.d.containers.get(id);
      const fs = new ConfinedFs(this.view(rec, hold));
      try {
        return await f(fs, rec);
      } finally {
        fs.close();
      }
    } finally {
      await this.release(id, hold);
    }
  }

  private async acquire(id: string, freeze: boolean): Promise<Hold> {
    let hold = this.holds.get(id);
    if (hold) {
      hold.count++;
      try {
        await hold.ready;
      } catch (e) {
        hold.count--;
        throw e;
      }
      if (freeze && !hold.paused && !hold.mounted) await this.freeze(id, hold);
      return hold;
    }
    const h: Hold = { count: 1, paused: false, mounted: false, ready: Promise.resolve() };
    hold = h;
    this.holds.set(id, h);
    h.ready = (async () => {
      const rec = this.d.containers.get(id);
      if (rec.State.Running) {
        if (freeze) await this.freeze(id, h);
        return;
      }
      const rootfs = join(this.d.containers.bundleDir(id), "rootfs");
      if (isMounted(rootfs)) return;
      mkdirSync(rootfs, { recursive: true, mode: 0o700 });
      mountAll(this.d.images.snapshotter.mounts(`container/${id}`), rootfs);
      h.mounted = true;
    })();
    try {
      await h.ready;
    } catch (e) {
      await this.release(id, h);
      throw e;
    }
    return h;
  }

  private async freeze(id: string, h: Hold): Promise<void> {
    const rec = this.d.containers.get(id);
    if (!rec.State.Running || rec.State.Paused) return;
    try {
      await this.d.containers.pause(id, true);
      h.paused = true;
    } catch (e) {
      // paused by the user, or stopped, since the look above: as the user left it
      if (isKind(e, "FailedPrecondition")) return;
      throw internal(`pause container ${id.slice(0, 12)} for the copy`, e);
    }
  }

  private async release(id: string, h: Hold): Promise<void> {
    if (--h.count > 0) return;
    if (this.holds.get(id) === h) this.holds.delete(id);
    if (h.paused) {
      await this.d.containers.pause(id, false).catch((e) => {
        // unpaused by the user meanwhile, or stopped: nothing is left to thaw
        if (!isKind(e, "FailedPrecondition")) this.d.log(`unpause ${id.slice(0, 12)} after a copy: ${describe(e)}`);
      });
    }
    if (h.mounted) {
      const rootfs = join(this.d.containers.bundleDir(id), "rootfs");
      let running = false;
      try {
        running = this.d.containers.get(id).State.Running;
      } catch (e) {
        // removed meanwhile: its removal unmounted what it could, the rest is ours
        if (!isKind(e, "NotFound")) throw e;
      }
      if (!running && isMounted(rootfs)) {
        try {
          unmountAll(rootfs);
        } catch (e) {
          this.d.log(`unmount ${rootfs} after a copy: ${describe(e)}`);
        }
      }
    }
  }

  /** the container's filesystem as it sees it: the rootfs, and the bind mounts of its last config.json */
  private view(rec: ContainerRecord, _h: Hold): ContainerView {
    const bundle = this.d.containers.bundleDir(rec.Id);
    const rootfs = join(bundle, "rootfs");
    if (!existsSync(rootfs) || !isMounted(rootfs))
      throw internal(`container ${rec.Id.slice(0, 12)}: its rootfs is not mounted at ${rootfs}`);
    let spec: Spec | undefined;
    try {
      spec = JSON.parse(readFileSync(join(bundle, "config.json"), "utf8")) as Spec;
    } catch (e) {
      // never started: no mounts were made yet, the rootfs is all there is
      if (errnoCode(e) !== "ENOENT") throw internal(`read config.json of container ${rec.Id.slice(0, 12)}`, e);
    }
    const mounts: ViewMount[] = [];
    for (const m of spec?.mounts ?? []) {
      const opts = m.options ?? [];
      const bind = m.type === "bind" || opts.includes("bind") || opts.includes("rbind");
      // proc, tmpfs, devpts...: not reachable from outside the container; their rootfs directory is what shows, as with docker
      if (!bind || !m.source?.startsWith("/")) continue;
      mounts.push({ destination: m.destination, source: m.source, readonly: opts.includes("ro") });
    }
    return { rootfs, readonly: spec?.root?.readonly ?? rec.HostConfig.ReadonlyRootfs === true, mounts };
  }
}
