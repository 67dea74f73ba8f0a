/**
 * Apply one layer (an uncompressed tar stream) to a directory, as the image-spec's
 * layer.md says: entries in order, later ones replacing earlier ones, whiteouts and opaque
 * markers applied. Nothing in the layer may reach outside the directory: absolute names and
 * names that climb out with ".." are refused, and so is any entry whose parent path runs through
 * a symlink (the layer's own, or a lower layer's in "apply" mode) — berth never follows one
 * (CVE-2018-15664-style escapes, "tar slip"). The directory is private to the unpacker while
 * this runs, so checking each parent with lstat cannot race.
 *
 * Creating a file is most of the time an unpack takes (the inode allocation, in the kernel), so
 * small regular files and symlinks are created in the background, on libuv's threadpool, while
 * the tar and gunzip stream goes on: each entry is still checked in tar order before its
 * creation is queued, and an entry that touches a path with a creation queued or running (the
 * same path, a parent, anything below) waits for it first (PendingWrites). Directories, hard
 * links, devices, whiteouts and big files are made inline; directory times and opaque pruning
 * wait for every creation.
 */
import { createHash } from "node:crypto";
import {
  chmodSync,
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  open,
  openSync,
  readdirSync,
  rmSync,
  type Stats,
  symlink,
  writeSync,
} from "node:fs";
import { join, relative } from "node:path";
import { BerthError, errnoCode, internal, invalidArgument, permissionDenied, unavailable } from "../errors/index.js";
import { readTar, type TarHeader } from "../images/tar/index.js";
import { native } from "../native/index.js";
import { type Creation, PendingWrites } from "./pending-writes.js";

/**
 * How a layer's whiteouts land. "overlay": the layer gets a directory of its own, and whiteouts
 * become what overlayfs reads (a 0:0 char device, the opaque xattr). "apply": the directory holds
 * the parent's whole tree already, and whiteouts delete from it.
 */
export type WhiteoutMode = "overlay" | "apply";

export interface ApplyLayerOptions {
  whiteouts: WhiteoutMode;
  /** the most uncompressed bytes accepted: a decompression bomb stops here (default 64 GiB) */
  maxBytes?: number;
  /** what errors name ("layer sha256:...") */
  what?: string;
}

export interface AppliedLayer {
  /** sha256 of the uncompressed tar, every byte of it */
  diffId: string;
  /** uncompressed bytes */
  size: number;
  /**
   * "overlay" mode: parent directories the layer needed but did not carry (relative paths). They
   * were made 0755 root; their mode and owner belong to the same directory in the layers below.
   */
  impliedDirs: string[];
  /** "overlay" mode: the whiteouts made (relative paths), to drop those with nothing below to hide */
  whiteouts: string[];
}

export const DEFAULT_MAX_LAYER_BYTES = 64 * 1024 ** 3;

const WH = ".wh.";
const OPAQUE = ".wh..wh..opq";
/** aufs metadata (".wh..wh.plnk", ".wh..wh.aufs"): skipped, as Docker does */
const WH_META = ".wh..wh.";
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;
/** O_EXCL|O_NOFOLLOW: never write through whatever might sit at the name */
const CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
/** regular files up to this size are read into memory and written in the background; bigger ones stream inline */
const SMALL_FILE = 1 << 20;
/**
 * Background creations queued at once, the file data they may hold, and how many run at once.
 * Measured on 2 CPUs, ext4 (a Debian minbase layer, 6700 entries): 8 running beat 1 and 2;
 * 16, or a threadpool of 8 or 16 instead of libuv's 4, made no difference.
 */
const QUEUED = 32;
const QUEUED_BYTES = 64 << 20;
const RUNNING = 8;

/** Apply the tar in `tar` to `dir`; the caller removes `dir` when this throws. */
export async function applyLayer(
  tar: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  dir: string,
  options: ApplyLayerOptions,
): Promise<AppliedLayer> {
  const what = options.what ?? "layer";
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_LAYER_BYTES;
  const hash = createHash("sha256");
  let size = 0;
  async function* measured(): AsyncGenerator<Uint8Array> {
    for await (const chunk of tar) {
      size += chunk.length;
      if (size > maxBytes) throw invalidArgument(`apply ${what}: uncompressed size exceeds the limit of ${maxBytes} bytes`);
      hash.update(chunk);
      yield chunk;
    }
  }
  const applier = new Applier(dir, options.whiteouts, what);
  try {
    for await (const entry of readTar(measured())) await applier.apply(entry.header, entry.body);
    await applier.finish();
  } catch (e) {
    // no write may still run once this returns (the caller removes `dir`), and a write that
    // failed is earlier in the layer than whatever failed here: it is the error to report
    throw (await applier.settled()) ?? e;
  }
  return { diffId: `sha256:${hash.digest("hex")}`, size, impliedDirs: [...applier.implied], whiteouts: [...applier.whiteouts] };
}

/** An fs error as a berth error of the kind its errno says. */
function fsError(message: string, e: unknown): Error {
  const code = errnoCode(e);
  if (code === "ENOSPC" || code === "EDQUOT" || code === "EMFILE" || code === "ENFILE") return unavailable(message, e);
  if (code === "EPERM" || code === "EACCES") return permissionDenied(message, e);
  if (code === "ENAMETOOLONG") return invalidArgument(message, e);
  return internal(message, e);
}

/** overlayfs's whiteout: a char device 0:0 */
export function isWhiteout(st: Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (e) {
    if (errnoCode(e) === "ENOENT") return undefined; // absent is an answer, not a failure
    throw e;
  }
}

class Applier {
  /** paths (relative) known to be real directories, not symlinks: parents need no new lstat */
  private readonly dirs = new Set<string>();
  /** non-directory entries this layer made: the only possible hard link targets */
  private readonly files = new Set<string>();
  /** every path this layer wrote or passed through ("apply" mode's opaque markers keep these) */
  private readonly seen = new Set<string>();
  readonly implied = new Set<string>();
  readonly whiteouts = new Set<string>();
  /** "apply" mode: opaque directories, pruned once the whole layer is in (so entry order does not matter) */
  private readonly opaque = new Set<string>();
  /** directory mtimes, set last (relative path -> seconds) */
  private readonly dirTimes = new Map<string, number>();
  /** files and symlinks being created in the background */
  private readonly writes = new PendingWrites({ queued: QUEUED, bytes: QUEUED_BYTES, running: RUNNING });
  /**
   * "overlay" mode into an empty directory: everything in it is this layer's and recorded in
   * `dirs`, `files` and `whiteouts`, so a path in none of them is absent without an lstat
   */
  private readonly known: boolean;

  constructor(
    private readonly root: string,
    private readonly mode: WhiteoutMode,
    private readonly what: string,
  ) {
    this.known = mode === "overlay" && isEmptyDir(root);
  }

  /** lstat of `rel`, or undefined where nothing is */
  private look(rel: string): Stats | undefined {
    if (this.known && !this.dirs.has(rel) && !this.files.has(rel) && !this.whiteouts.has(rel)) return undefined;
    return lstatOrUndefined(join(this.root, rel));
  }

  /** Until no background write runs; the first one that failed, if any. */
  async settled(): Promise<unknown> {
    await this.writes.quiesce();
    return this.writes.failed;
  }

  private refuse(name: string, why: string): Error {
    return invalidArgument(`apply ${this.what}: entry ${JSON.stringify(name)}: ${why}`);
  }

  /** the entry's path relative to the root ("" for the root itself), or a refusal */
  private clean(name: string, entry: string, role = "path"): string {
    if (name.includes("\0")) throw this.refuse(entry, `${role} contains a NUL byte`);
    if (name.startsWith("/")) throw this.refuse(entry, `${role} ${JSON.stringify(name)} is absolute`);
    const parts: string[] = [];
    for (const p of name.split("/")) {
      if (p === "" || p === ".") continue;
      if (p === "..") {
        if (parts.length === 0) throw this.refuse(entry, `${role} ${JSON.stringify(name)} climbs out of the layer root`);
        parts.pop();
        continue;
      }
      parts.push(p);
    }
    return parts.join("/");
  }

  /**
   * Check every parent of `rel` without following symlinks: each must be a real directory, or
   * the entry is refused. Missing ones are made (0755 root) when `create`, and recorded as
   * implied; without `create`, "missing" is returned instead. With `hidden`, a parent that is
   * neither a directory nor a symlink gives "hidden" instead of a refusal: a whiteout or opaque
   * marker there has nothing to hide, the non-directory already hides all below its path.
   */
  private parents(rel: string, entry: string, create: boolean, hidden = false): "ok" | "missing" | "hidden" {
    const parts = rel.split("/");
    parts.pop();
    let cur = "";
    for (const p of parts) {
      cur = cur === "" ? p : `${cur}/${p}`;
      if (!this.dirs.has(cur)) {
        const abs = join(this.root, cur);
        const st = this.look(cur);
        if (st?.isSymbolicLink())
          throw this.refuse(entry, `parent ${JSON.stringify(cur)} is a symlink (berth never follows symlinks inside a layer)`);
        if (st && !st.isDirectory() && !(create && this.mode === "overlay" && isWhiteout(st))) {
          // umoci 0.4.7 writes a directory replaced by a file as the file, then whiteouts under it
          if (hidden) return "hidden";
          throw this.refuse(entry, `parent ${JSON.stringify(cur)} is not a directory`);
        }
        if (!st?.isDirectory()) {
          if (!create) return "missing";
          // over this layer's own whiteout: a directory made anew, hiding the lower one's contents
          const overWhiteout = st !== undefined;
          if (overWhiteout) rmSync(abs);
          mkdirSync(abs, 0o755);
          chmodSync(abs, 0o755); // whatever the umask took away
          if (overWhiteout) native().lsetxattr(abs, "trusted.overlay.opaque", Buffer.from("y"));
          else this.implied.add(cur);
        }
        this.dirs.add(cur);
      }
      this.seen.add(cur);
    }
    return "ok";
  }

  /** forget what was known of `rel` (and, for a directory, of everything under it): it is going away */
  private forget(rel: string, isDir: boolean): void {
    this.dirs.delete(rel);
    this.files.delete(rel);
    this.dirTimes.delete(rel);
    this.implied.delete(rel);
    this.whiteouts.delete(rel);
    if (!isDir) return;
    const under = `${rel}/`;
    for (const set of [this.dirs, this.files, this.seen, this.implied, this.whiteouts])
      for (const p of set) if (p.startsWith(under)) set.delete(p);
    for (const p of this.dirTimes.keys()) if (p.startsWith(under)) this.dirTimes.delete(p);
  }

  /**
   * Remove what is at `rel`, unless it is a directory and `keepDir`. Says what was there:
   * "kept" (a directory, kept), "whiteout" (this layer's whiteout, removed), or "none"/"removed".
   */
  private clear(rel: string, keepDir: boolean): "none" | "kept" | "whiteout" | "removed" {
    // `dirs` holds real directories only: whatever replaces or removes one forgets it
    if (keepDir && this.dirs.has(rel)) return "kept";
    const abs = join(this.root, rel);
    const st = this.look(rel);
    if (!st) return "none";
    if (keepDir && st.isDirectory()) return "kept";
    this.forget(rel, st.isDirectory());
    // rm does not follow symlinks, at the top or below
    rmSync(abs, { recursive: true, force: true });
    return isWhiteout(st) ? "whiteout" : "removed";
  }

  async apply(h: TarHeader, body: AsyncIterable<Uint8Array>): Promise<void> {
    // a background write failed: stop here, that is the layer's error
    if (this.writes.failed !== undefined) throw this.writes.failed;
    const rel = this.clean(h.name, h.name);
    if (rel === "") return; // the root entry: the snapshot dir keeps its own mode and owner
    const slash = rel.lastIndexOf("/");
    const base = rel.slice(slash + 1);
    const parent = slash < 0 ? "" : rel.slice(0, slash);
    if (rel.split("/").some((p) => p.startsWith(WH_META) && p !== OPAQUE)) return;
    if (base.startsWith(WH)) return this.whiteout(rel, parent, base, h.name);
    // uid_t and gid_t are 32 bits, and (uid_t)-1 means "leave unchanged" to chown(2)
    if (h.uid > 0xfffffffe || h.gid > 0xfffffffe) throw this.refuse(h.name, `owner ${h.uid}:${h.gid} is out of range`);
    const abs = join(this.root, rel);
    // whatever is in flight at this path, above it or below it is there before this entry looks
    await this.writes.settle(rel, true);
    try {
      this.parents(rel, h.name, true);
      this.seen.add(rel);
      switch (h.type) {
        case "directory": {
          const was = this.clear(rel, true);
          if (was !== "kept") mkdirSync(abs, 0o700);
          // a whiteout and a new directory in one layer: the directory starts empty
          if (was === "whiteout" && this.mode === "overlay") native().lsetxattr(abs, "trusted.overlay.opaque", Buffer.from("y"));
          this.implied.delete(rel);
          this.dirs.add(rel);
          this.metadata(abs, h);
          return;
        }
        case "file": {
          this.clear(rel, false);
          if (h.size > SMALL_FILE) await this.writeFile(abs, h, body);
          else {
            const chunks: Uint8Array[] = [];
            for await (const chunk of body) chunks.push(chunk);
            await this.writes.room(h.size);
            this.background(rel, h, h.size, (release) => this.createFile(abs, h, chunks, release));
          }
          this.files.add(rel);
          return;
        }
        case "hardlink": {
          const target = this.clean(h.linkname, h.name, "hard link target");
          if (target === "" || !this.files.has(target))
            throw this.refuse(h.name, `hard link target ${JSON.stringify(h.linkname)} is not a file earlier in this layer`);
          await this.writes.settle(target, false);
          this.parents(target, h.name, false);
          if (target === rel) return; // a link to itself: already there
          this.clear(rel, false);
          // link(2) does not follow a symlink target: the link is to the symlink itself
          linkSync(join(this.root, target), abs);
          this.files.add(rel);
          return;
        }
        case "symlink": {
          this.clear(rel, false);
          await this.writes.room(0);
          this.background(rel, h, 0, (release) => this.createSymlink(abs, h, release));
          this.files.add(rel);
          return;
        }
        case "chardev":
        case "blockdev":
        case "fifo": {
          this.clear(rel, false);
          const type = h.type === "chardev" ? S_IFCHR : h.type === "blockdev" ? S_IFBLK : S_IFIFO;
          native().mknod(abs, type | 0o600, h.type === "fifo" ? 0 : h.devmajor, h.type === "fifo" ? 0 : h.devminor);
          this.files.add(rel);
          this.metadata(abs, h);
          return;
        }
        default:
          throw this.refuse(h.name, `tar entry type ${JSON.stringify(h.typeflag)} is not supported`);
      }
    } catch (e) {
      if (e instanceof BerthError) throw e;
      throw fsError(`apply ${this.what}: write entry ${JSON.stringify(h.name)}`, e);
    }
  }

  private async whiteout(rel: string, parent: string, base: string, entry: string): Promise<void> {
    // "apply" mode deletes: where a parent is missing there is nothing to delete (but a symlinked
    // parent is still refused). "overlay" mode needs the parent to hold the whiteout.
    const create = this.mode === "overlay" || base === OPAQUE;
    // overlayfs ignores the opaque xattr on a layer's root: refused alike in both modes
    if (base === OPAQUE && parent === "") throw this.refuse(entry, "an opaque marker at the layer root is not supported");
    // the directory (an opaque marker's), or the path whited out and all below it
    if (base === OPAQUE) await this.writes.settle(parent, false);
    else await this.writes.settle(parent === "" ? base.slice(WH.length) : `${parent}/${base.slice(WH.length)}`, true);
    try {
      // "missing": nothing to delete; "hidden": under a non-directory, nothing to hide
      if (this.parents(rel, entry, create, true) !== "ok") return;
      if (base === OPAQUE) {
        if (this.mode === "overlay") {
          native().lsetxattr(join(this.root, parent), "trusted.overlay.opaque", Buffer.from("y"));
        } else {
          this.opaque.add(parent);
        }
        return;
      }
      const name = base.slice(WH.length);
      if (name === "" || name === "." || name === "..") throw this.refuse(entry, "whiteout of an invalid name");
      const target = parent === "" ? name : `${parent}/${name}`;
      this.clear(target, false);
      this.seen.delete(target);
      // a 0:0 char device is overlayfs's whiteout (Documentation/filesystems/overlayfs.rst)
      if (this.mode === "overlay") {
        native().mknod(join(this.root, target), S_IFCHR, 0, 0);
        this.whiteouts.add(target);
      }
    } catch (e) {
      if (e instanceof BerthError) throw e;
      throw fsError(`apply ${this.what}: whiteout ${JSON.stringify(entry)}`, e);
    }
  }

  /** "apply" mode's opaque directory: drop what lower layers put under `dir`, keep this layer's entries */
  private prune(dir: string): void {
    const abs = dir === "" ? this.root : join(this.root, dir);
    const st = lstatOrUndefined(abs);
    // replaced by a non-directory or removed later in the layer: nothing of the lower one is left
    if (!st?.isDirectory()) return;
    for (const name of readdirSync(abs)) {
      const rel = dir === "" ? name : `${dir}/${name}`;
      const st = lstatSync(join(abs, name));
      if (!this.seen.has(rel)) {
        this.forget(rel, st.isDirectory());
        rmSync(join(abs, name), { recursive: true, force: true });
      } else if (st.isDirectory()) {
        this.prune(rel);
      }
    }
  }

  /** a big file, streamed from the tar as it comes */
  private async writeFile(abs: string, h: TarHeader, body: AsyncIterable<Uint8Array>): Promise<void> {
    const fd = openSync(abs, CREATE, 0o600);
    try {
      for await (const chunk of body) writeAll(fd, chunk);
      this.fileMetadata(fd, abs, h);
    } finally {
      closeSync(fd);
    }
  }

  /** `create` makes `rel` in the background; its failure reads as the entry's */
  private background(rel: string, h: TarHeader, size: number, create: Creation): void {
    this.writes.add(rel, size, (release) =>
      create(release).catch((e: unknown) => {
        throw e instanceof BerthError ? e : fsError(`apply ${this.what}: write entry ${JSON.stringify(h.name)}`, e);
      }),
    );
  }

  /**
   * A small file from memory: the open (the inode's creation, the slow part) on the threadpool;
   * the rest, quick calls on the file's own descriptor, when it returns.
   */
  private createFile(abs: string, h: TarHeader, chunks: readonly Uint8Array[], release: () => void): Promise<void> {
    return new Promise((resolve, reject) => {
      open(abs, CREATE, 0o600, (err, fd) => {
        // a failure is recorded before the next creation may start
        if (err) return reject(err);
        release();
        try {
          try {
            for (const chunk of chunks) writeAll(fd, chunk);
            this.fileMetadata(fd, abs, h);
          } finally {
            closeSync(fd);
          }
          resolve();
        } catch (e) {
          reject(e);
        }
      });
    });
  }

  private createSymlink(abs: string, h: TarHeader, release: () => void): Promise<void> {
    return new Promise((resolve, reject) => {
      symlink(h.linkname, abs, (err) => {
        // a failure is recorded before the next creation may start
        if (err) return reject(err);
        release();
        try {
          this.metadata(abs, h);
          resolve();
        } catch (e) {
          reject(e);
        }
      });
    });
  }

  private fileMetadata(fd: number, abs: string, h: TarHeader): void {
    fchownSync(fd, h.uid, h.gid);
    // after chown, which clears setuid and setgid
    fchmodSync(fd, h.mode);
    this.xattrs(abs, h);
    futimesSync(fd, h.mtime, h.mtime);
  }

  private metadata(abs: string, h: TarHeader): void {
    lchownSync(abs, h.uid, h.gid);
    // chmod(2) follows symlinks, and a symlink's own mode means nothing on Linux
    if (h.type !== "symlink") chmodSync(abs, h.mode);
    this.xattrs(abs, h);
    if (h.type === "directory") this.dirTimes.set(relative(this.root, abs), h.mtime);
    else lutimesSync(abs, h.mtime, h.mtime);
  }

  private xattrs(abs: string, h: TarHeader): void {
    for (const [name, value] of h.xattrs) {
      // overlayfs's own attributes (opaque, redirect, origin) would steer the mount: a layer may not forge them
      if (name.startsWith("trusted.overlay.")) continue;
      // the kernel refuses user.* on anything but files and directories (xattr(7))
      if (name.startsWith("user.") && h.type !== "file" && h.type !== "directory") continue;
      try {
        native().lsetxattr(abs, name, value);
      } catch (e) {
        // security.* other than file capabilities belongs to the host's LSM (SELinux labels):
        // one it does not know or forbids is not the layer's to insist on
        const code = errnoCode(e);
        if (
          name.startsWith("security.") &&
          name !== "security.capability" &&
          (code === "EPERM" || code === "ENOTSUP" || code === "EOPNOTSUPP" || code === "EINVAL" || code === "EACCES")
        )
          continue;
        throw fsError(`apply ${this.what}: entry ${JSON.stringify(h.name)}: set xattr ${name}`, e);
      }
    }
  }

  /** every write done, opaque directories pruned, then directory times: filling and pruning them moved them */
  async finish(): Promise<void> {
    await this.writes.drain();
    for (const dir of this.opaque) {
      try {
        this.prune(dir);
      } catch (e) {
        throw fsError(`apply ${this.what}: clear opaque directory ${JSON.stringify(dir)}`, e);
      }
    }
    // every path here still runs through real directories: replacing or removing one forgot what was under it
    for (const [rel, mtime] of this.dirTimes) {
      try {
        lutimesSync(join(this.root, rel), mtime, mtime);
      } catch (e) {
        throw fsError(`apply ${this.what}: set the times of ${JSON.stringify(rel)}`, e);
      }
    }
  }
}

function writeAll(fd: number, chunk: Uint8Array): void {
  for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off, chunk.length - off);
}

function isEmptyDir(path: string): boolean {
  try {
    return readdirSync(path).length === 0;
  } catch {
    return false; // not there, or not a directory: the first entry says so, as before
  }
}
