/**
 * Files out of and into a container (docker's /containers/{id}/archive, `berth cp`), with the
 * container taken as hostile. Every path is resolved inside the container's root as chroot(2)
 * would (absolute symlinks start again at the root, ".." stops at it), in the container's view:
 * its rootfs with its bind mounts and volumes (config.json) laid over it. Each component is
 * opened O_PATH|O_NOFOLLOW relative to the directory fd before it (through /proc/self/fd, Node
 * having no openat), symlinks are interpreted here, never by the kernel, and ".." pops the fd
 * stack: a rename or a symlink swapped in by the running container can only change what is
 * found inside the container, never lead out of it (CVE-2018-15664, openat2(RESOLVE_IN_ROOT)'s
 * guarantee). Whatever is written is created by name in a directory fd with a call that does not
 * follow its last component (O_CREAT|O_EXCL|O_NOFOLLOW, mkdir, symlink, mknod, link, unlink), and
 * metadata is set through the descriptor of the inode that was checked.
 */
import {
  chmodSync,
  chownSync,
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  fstatSync,
  futimesSync,
  lchownSync,
  linkSync,
  lutimesSync,
  mkdirSync,
  openSync,
  read,
  readdirSync,
  readlinkSync,
  rmdirSync,
  type Stats,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeSync,
} from "node:fs";
import { BerthError, errnoCode, internal, invalidArgument, notFound, permissionDenied, unavailable } from "../errors/index.js";
import { readTar, type TarHeader, type TarWriteHeader, type TarWriter } from "../images/tar/index.js";
import { native } from "../native/index.js";

/** open(2)'s O_PATH (linux/fcntl.h, the same on x86 and arm): an fd to a path, opened for nothing. */
const O_PATH = 0o10000000;
/** symlinks followed while resolving one path, as the kernel's MAXSYMLINKS */
const MAX_LINKS = 40;
const CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
const CHUNK = 1 << 16;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;

/** Go's os.FileMode type bits, which docker's X-Docker-Container-Path-Stat carries. */
const GoMode = {
  dir: 2 ** 31,
  symlink: 2 ** 27,
  device: 2 ** 26,
  namedPipe: 2 ** 25,
  socket: 2 ** 24,
  setuid: 2 ** 23,
  setgid: 2 ** 22,
  charDevice: 2 ** 21,
  sticky: 2 ** 20,
  irregular: 2 ** 19,
} as const;

/** docker's header for a path's stat on GET and HEAD /containers/{id}/archive (base64 JSON of a PathStat) */
export const PATH_STAT_HEADER = "X-Docker-Container-Path-Stat";

/** A bind mount or volume of the container: `source` on the host appears at `destination`. */
export interface ViewMount {
  destination: string;
  source: string;
  readonly: boolean;
}

/** A container's filesystem as its processes see it: the rootfs and the bind mounts over it, in mount order. */
export interface ContainerView {
  rootfs: string;
  /** the rootfs is mounted read-only (HostConfig.ReadonlyRootfs) */
  readonly?: boolean;
  mounts?: ViewMount[];
}

/** docker's ContainerPathStat (the `X-Docker-Container-Path-Stat` header, base64 JSON). */
export interface PathStat {
  name: string;
  size: number;
  /** Go's os.FileMode: permission bits plus type and special bits in Go's places */
  mode: number;
  /** RFC 3339 */
  mtime: string;
  /** for a symlink, the path it leads to inside the container (resolved as the container would) */
  linkTarget: string;
}

export interface ExtractOptions {
  /** owner of everything made; without it each entry keeps the archive's uid and gid (`cp -a`) */
  owner?: { uid: number; gid: number };
  /** refuse to replace a directory with a non-directory or the reverse (docker's noOverwriteDirNonDir) */
  noOverwriteDirNonDir?: boolean;
  /** rename the archive's top entry `from` ("." for a directory's contents) to `to` (docker's RebaseArchiveEntries) */
  rename?: { from: string; to: string };
}

/** A resolved path being archived: its stat, and the archive written on demand. */
export interface ArchiveSource {
  stat: PathStat;
  /** write the archive's entries to `w` (not its end); the top entry is named `rootName` (default: the path's own) */
  write(w: TarWriter, rootName?: string): Promise<void>;
  close(): void;
}

/** One open directory (or file) on a resolution stack. */
interface Frame {
  fd: number;
  /** the container path of this inode, as reached ("/" for the root) */
  path: string;
  /** the mount whose tree this is in (index in `mounts`), -1 for the rootfs */
  mount: number;
  readonly: boolean;
}

interface Resolved {
  /** root first; the last frame is the path's own inode (or the deepest that exists, with `missing`) */
  stack: Frame[];
  /** components past the end of what exists, when missing ones were allowed */
  missing: string[];
  dispose(): void;
}

interface Child {
  fd: number;
  st: Stats;
  /** the mount this child is the mount point of, or -1 */
  mount: number;
}

const proc = (fd: number, name?: string) => (name === undefined ? `/proc/self/fd/${fd}` : `/proc/self/fd/${fd}/${name}`);

/** An fs error as a berth error of the kind its errno says. */
function fsError(message: string, e: unknown): Error {
  if (e instanceof BerthError) return e;
  const code = errnoCode(e);
  if (code === "ENOENT") return notFound(message, e);
  if (code === "ENOSPC" || code === "EDQUOT" || code === "EMFILE" || code === "ENFILE") return unavailable(message, e);
  if (code === "EPERM" || code === "EACCES" || code === "EROFS") return permissionDenied(message, e);
  if (code === "ENOTDIR" || code === "EISDIR" || code === "ENAMETOOLONG" || code === "ELOOP" || code === "EXDEV")
    return invalidArgument(message, e);
  return internal(message, e);
}

/**
 * A request path split as docker reads it: made absolute and cleaned lexically (so "a/../b" is
 * "/b" whatever "a" is), remembering a trailing "/" (the path must be a directory, and a symlink
 * there is followed) and a trailing "/." (a directory's contents).
 */
export function splitContainerPath(path: string): { parts: string[]; asDir: boolean; contents: boolean } {
  if (path.includes("\0")) throw invalidArgument(`path ${JSON.stringify(path)} contains a NUL byte`);
  const parts: string[] = [];
  for (const p of path.split("/")) {
    if (p === "" || p === ".") continue;
    if (p === "..") parts.pop();
    else parts.push(p);
  }
  const contents = path === "." || path.endsWith("/.");
  return { parts, asDir: contents || path.endsWith("/") || parts.length === 0, contents: contents || parts.length === 0 };
}

/** Go's os.FileMode of an lstat. */
export function goFileMode(st: Stats): number {
  let m = st.mode & 0o777;
  if (st.isDirectory()) m += GoMode.dir;
  else if (st.isSymbolicLink()) m += GoMode.symlink;
  else if (st.isBlockDevice()) m += GoMode.device;
  else if (st.isCharacterDevice()) m += GoMode.device + GoMode.charDevice;
  else if (st.isFIFO()) m += GoMode.namedPipe;
  else if (st.isSocket()) m += GoMode.socket;
  if (st.mode & 0o4000) m += GoMode.setuid;
  if (st.mode & 0o2000) m += GoMode.setgid;
  if (st.mode & 0o1000) m += GoMode.sticky;
  return m;
}

/** What a Go os.FileMode says a file is. */
export function goModeKind(mode: number): "dir" | "symlink" | "file" | "other" {
  const has = (bit: number) => Math.floor(mode / bit) % 2 === 1;
  if (has(GoMode.dir)) return "dir";
  if (has(GoMode.symlink)) return "symlink";
  if (has(GoMode.device) || has(GoMode.namedPipe) || has(GoMode.socket) || has(GoMode.charDevice) || has(GoMode.irregular))
    return "other";
  return "file";
}

/** major and minor of a dev_t (glibc's gnu_dev_major/minor) */
function devNumbers(rdev: number): { major: number; minor: number } {
  const d = BigInt(rdev);
  const major = Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn));
  const minor = Number((d & 0xffn) | ((d >> 12n) & ~0xffn));
  return { major, minor };
}

/**
 * A container's filesystem, opened for copying: every operation stays inside the view whatever
 * the container's files say or do meanwhile. `close` releases the root descriptor.
 */
export class ConfinedFs {
  private readonly root: Frame;
  /** the view's bind mounts where the runtime put them: destinations resolved in order, as the runtime resolves them */
  private readonly mounts: Array<ViewMount & { key: string }> = [];

  constructor(view: ContainerView) {
    let fd: number;
    try {
      fd = openSync(view.rootfs, O_PATH | constants.O_DIRECTORY);
    } catch (e) {
      throw fsError(`open container root "${view.rootfs}"`, e);
    }
    this.root = { fd, path: "/", mount: -1, readonly: view.readonly === true };
    try {
      for (const m of view.mounts ?? []) {
        const key = this.canonical(m.destination);
        if (key !== undefined && key !== "/") this.mounts.push({ ...m, key });
      }
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  close(): void {
    closeSync(this.root.fd);
  }

  /** Where the runtime mounted `destination`: resolved through the mounts before it; undefined when it could not be. */
  private canonical(destination: string): string | undefined {
    let r: Resolved;
    try {
      r = this.resolve(this.root, splitContainerPath(destination).parts, { follow: true, missingOk: true });
    } catch (e) {
      // a destination that runs through a file: the runtime could not have mounted it either
      if (e instanceof BerthError) return undefined;
      throw e;
    }
    const path = join((r.stack.at(-1) as Frame).path, r.missing);
    r.dispose();
    return path;
  }

  /** the mount whose mount point is `name` in `parent` (the topmost one not hidden by parent's own), or -1 */
  private mountAt(parent: Frame, name: string): number {
    const key = join(parent.path, [name]);
    for (let j = this.mounts.length - 1; j > parent.mount; j--) if (this.mounts[j]?.key === key) return j;
    return -1;
  }

  /** whether some mount lies strictly below container path `path` */
  private mountsBelow(path: string): boolean {
    const prefix = path === "/" ? "/" : `${path}/`;
    return this.mounts.some((m) => m.key.startsWith(prefix));
  }

  /** `name` in `parent`, not followed if a symlink; undefined when it does not exist */
  private openChild(parent: Frame, name: string): Child | undefined {
    const mount = this.mountAt(parent, name);
    let fd: number;
    try {
      // a mount point shows the mount's root, whatever the rootfs has under it
      fd =
        mount >= 0
          ? openSync((this.mounts[mount] as ViewMount).source, O_PATH)
          : openSync(proc(parent.fd, name), O_PATH | constants.O_NOFOLLOW);
    } catch (e) {
      // a name that is not there (or was just removed by the running container): absent
      if (errnoCode(e) === "ENOENT") return undefined;
      throw fsError(`open ${join(parent.path, [name])}`, e);
    }
    try {
      return { fd, st: fstatSync(fd), mount };
    } catch (e) {
      closeSync(fd);
      throw fsError(`stat ${join(parent.path, [name])}`, e);
    }
  }

  private frame(parent: Frame, name: string, c: Child): Frame {
    const m = c.mount >= 0 ? (this.mounts[c.mount] as ViewMount) : undefined;
    return {
      fd: c.fd,
      path: join(parent.path, [name]),
      mount: c.mount >= 0 ? c.mount : parent.mount,
      readonly: m ? m.readonly : parent.readonly,
    };
  }

  /**
   * Walk `parts` from `base` with chroot semantics. `follow`: a symlink as the last component is
   * followed too. `missingOk`: stop at the first missing component and say what is left.
   * `noLinks`: a symlink anywhere is an error (for paths inside an archive being extracted).
   */
  private resolve(
    base: Frame,
    parts: readonly string[],
    o: { follow: boolean; missingOk?: boolean; noLinks?: string; what?: string },
  ): Resolved {
    const stack: Frame[] = [base];
    const fresh = new Set<Frame>();
    const dispose = () => {
      for (const f of fresh) closeSync(f.fd);
      fresh.clear();
    };
    const todo = parts.filter((p) => p !== "" && p !== ".");
    let links = 0;
    try {
      while (todo.length > 0) {
        const name = todo.shift() as string;
        const top = stack.at(-1) as Frame;
        if (name === "..") {
          if (stack.length > 1) {
            stack.pop();
            if (fresh.delete(top)) closeSync(top.fd);
          } else if (o.noLinks !== undefined) {
            throw invalidArgument(`${o.noLinks}: climbs out of the destination`);
          }
          continue;
        }
        const c = this.openChild(top, name);
        if (!c) {
          if (!o.missingOk) throw notFound(`${o.what ?? "path"} ${join(top.path, [name, ...todo])}: no such file or directory`);
          const missing: string[] = [name];
          for (const p of todo) {
            if (p === "..") missing.pop();
            else if (p !== "." && p !== "") missing.push(p);
          }
          return { stack, missing, dispose };
        }
        const last = !todo.some((p) => p !== "." && p !== "");
        if (c.st.isSymbolicLink() && (!last || o.follow)) {
          closeSync(c.fd);
          if (o.noLinks !== undefined)
            throw invalidArgument(`${o.noLinks}: ${join(top.path, [name])} is a symlink (never followed inside an archive)`);
          if (++links > MAX_LINKS) throw invalidArgument(`${o.what ?? "path"}: too many levels of symbolic links`);
          let target: string;
          try {
            target = readlinkSync(proc(top.fd, name));
          } catch (e) {
            // swapped for something else since the open: what the container changes is not trusted
            throw invalidArgument(`${join(top.path, [name])} changed while it was being resolved`, e);
          }
          if (target.startsWith("/")) {
            while (stack.length > 1) {
              const f = stack.pop() as Frame;
              if (fresh.delete(f)) closeSync(f.fd);
            }
          }
          todo.unshift(...target.split("/").filter((p) => p !== "" && p !== "."));
          continue;
        }
        const f = this.frame(top, name, c);
        fresh.add(f);
        stack.push(f);
        if (!last && !c.st.isDirectory()) throw notFound(`${o.what ?? "path"} ${f.path}: not a directory`);
      }
      return { stack, missing: [], dispose };
    } catch (e) {
      dispose();
      throw e;
    }
  }

  /** docker's stat of a path: the last component is not followed unless the path ends in "/" or "/.". */
  stat(path: string): PathStat {
    const r = this.open(path);
    try {
      return r.stat;
    } finally {
      r.resolved.dispose();
    }
  }

  private open(path: string): { resolved: Resolved; st: Stats; stat: PathStat } {
    const sp = splitContainerPath(path);
    const resolved = this.resolve(this.root, sp.parts, { follow: sp.asDir, what: "path" });
    try {
      const top = resolved.stack.at(-1) as Frame;
      const st = fstatSync(top.fd);
      if (sp.asDir && !st.isDirectory()) throw invalidArgument(`path ${path}: not a directory`);
      let linkTarget = "";
      if (st.isSymbolicLink()) {
        const t = this.resolve(this.root, sp.parts, { follow: true, missingOk: true });
        linkTarget = join((t.stack.at(-1) as Frame).path, t.missing);
        t.dispose();
      }
      const name = sp.contents && sp.parts.length > 0 ? "." : (sp.parts.at(-1) ?? "/");
      const stat: PathStat = {
        name,
        size: st.size,
        mode: goFileMode(st),
        mtime: st.mtime.toISOString(),
        linkTarget,
      };
      return { resolved, st, stat };
    } catch (e) {
      resolved.dispose();
      throw e;
    }
  }

  /**
   * An archive of `path` (docker's GET /archive): a file, or a directory and its tree, with
   * symlinks inside as symlinks and hard links as hard links. The top entry is the path's base
   * name, or "." for a directory's contents ("dir/." or "/").
   */
  archive(path: string): ArchiveSource {
    const { resolved, st, stat } = this.open(path);
    const sp = splitContainerPath(path);
    const own = sp.contents ? "." : (sp.parts.at(-1) as string);
    const stack = resolved.stack;
    return {
      stat,
      write: async (w, rootName = own) => {
        const self = stack.at(-1) as Frame;
        const parent = stack.at(-2);
        const name = sp.parts.at(-1);
        await this.emit(w, { self, st, parent, name }, rootName, new Map());
      },
      close: () => resolved.dispose(),
    };
  }

  private async emit(
    w: TarWriter,
    e: { self: Frame; st: Stats; parent: Frame | undefined; name: string | undefined },
    entry: string,
    links: Map<string, string>,
  ): Promise<void> {
    const { self, st } = e;
    const h: TarWriteHeader = {
      name: entry,
      mode: st.mode & 0o7777,
      uid: st.uid,
      gid: st.gid,
      mtime: Math.floor(st.mtimeMs / 1000),
    };
    if (st.isDirectory()) {
      await w.add({ ...h, name: `${entry}/`, type: "directory" });
      let names: string[];
      try {
        names = readdirSync(proc(self.fd)).sort();
      } catch (err) {
        throw fsError(`read directory ${self.path}`, err);
      }
      for (const n of names) {
        const c = this.openChild(self, n);
        if (!c) continue; // removed since the listing
        try {
          await this.emit(w, { self: this.frame(self, n, c), st: c.st, parent: self, name: n }, `${entry}/${n}`, links);
        } finally {
          closeSync(c.fd);
        }
      }
      return;
    }
    if (st.isSymbolicLink()) {
      if (!e.parent || e.name === undefined) throw internal(`archive ${self.path}: a symlink without its directory`);
      let target: string;
      try {
        target = readlinkSync(proc(e.parent.fd, e.name));
      } catch (err) {
        throw fsError(`read symlink ${self.path}`, err);
      }
      await w.add({ ...h, type: "symlink", linkname: target });
      return;
    }
    if (st.isFile()) {
      if (st.nlink > 1) {
        const key = `${st.dev}:${st.ino}`;
        const first = links.get(key);
        if (first !== undefined) {
          await w.add({ ...h, type: "hardlink", linkname: first });
          return;
        }
        links.set(key, entry);
      }
      const caps = e.parent && e.name !== undefined ? capabilities(e.parent, e.name) : undefined;
      await w.add(
        { ...h, type: "file", size: st.size, ...(caps ? { xattrs: { "security.capability": caps } } : {}) },
        readExactly(self, st.size),
      );
      return;
    }
    if (st.isCharacterDevice() || st.isBlockDevice()) {
      const { major, minor } = devNumbers(st.rdev);
      await w.add({ ...h, type: st.isCharacterDevice() ? "chardev" : "blockdev", devmajor: major, devminor: minor });
      return;
    }
    if (st.isFIFO()) await w.add({ ...h, type: "fifo" });
    // a socket cannot be archived (tar has no type for it): left out, as docker and GNU tar do
  }

  /**
   * Extract the tar in `tar` into directory `dir` (docker's PUT /archive): entries are placed
   * under the directory whatever their names say; a name that climbs out of it, a parent that is
   * a symlink, or a hard link to anything outside it is refused.
   */
  async extract(dir: string, tar: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, o: ExtractOptions = {}): Promise<void> {
    const sp = splitContainerPath(dir);
    const target = this.resolve(this.root, sp.parts, { follow: true, what: "destination" });
    try {
      const top = target.stack.at(-1) as Frame;
      if (!fstatSync(top.fd).isDirectory()) throw invalidArgument(`extraction point ${dir} is not a directory`);
      const x = new Extraction(this, top, o);
      for await (const { header, body } of readTar(tar)) await x.entry(header, body);
      x.finish();
    } finally {
      target.dispose();
    }
  }

  // ---- what Extraction needs (kept here so that every open goes through the confined walk)

  /** @internal walk `parts` (entry parents) from `base`, making missing directories when `make` */
  walkEntry(
    base: Frame,
    parts: readonly string[],
    entry: string,
    make: ((parent: Frame, name: string) => void) | undefined,
  ): Resolved {
    const stack: Frame[] = [base];
    const fresh: Frame[] = [];
    const dispose = () => {
      for (const f of fresh) closeSync(f.fd);
      fresh.length = 0;
    };
    try {
      for (const name of parts) {
        const top = stack.at(-1) as Frame;
        let c = this.openChild(top, name);
        if (!c && make) {
          make(top, name);
          c = this.openChild(top, name);
        }
        if (!c) throw invalidArgument(`${entry}: ${join(top.path, [name])} does not exist`);
        if (c.st.isSymbolicLink()) {
          closeSync(c.fd);
          throw invalidArgument(`${entry}: ${join(top.path, [name])} is a symlink (never followed inside an archive)`);
        }
        const f = this.frame(top, name, c);
        fresh.push(f);
        stack.push(f);
        if (!c.st.isDirectory()) throw invalidArgument(`${entry}: ${f.path} is not a directory`);
      }
      return { stack, missing: [], dispose };
    } catch (e) {
      dispose();
      throw e;
    }
  }

  /** @internal */
  child(parent: Frame, name: string): Child | undefined {
    return this.openChild(parent, name);
  }

  /** @internal */
  isMountPoint(parent: Frame, name: string): boolean {
    return this.mountAt(parent, name) >= 0;
  }

  /** @internal */
  hasMountsBelow(path: string): boolean {
    return this.mountsBelow(path);
  }

  /** @internal */
  childFrame(parent: Frame, name: string, c: Child): Frame {
    return this.frame(parent, name, c);
  }
}

/** One extraction: entries in order, directory times last. */
class Extraction {
  private readonly dirTimes = new Map<string, { parts: string[]; mtime: number }>();

  constructor(
    private readonly fs: ConfinedFs,
    private readonly target: Frame,
    private readonly o: ExtractOptions,
  ) {}

  /** the entry's path under the target, as components; [] for the target itself */
  private clean(name: string, entry: string, role = "name"): string[] {
    if (name.includes("\0")) throw invalidArgument(`archive entry ${JSON.stringify(entry)}: ${role} contains a NUL byte`);
    // absolute names are taken relative to the destination, as GNU tar and docker take them
    const parts: string[] = [];
    for (const p of name.split("/")) {
      if (p === "" || p === ".") continue;
      if (p === "..") {
        if (parts.length === 0)
          throw invalidArgument(
            `archive entry ${JSON.stringify(entry)}: ${role} ${JSON.stringify(name)} climbs out of the destination`,
          );
        parts.pop();
        continue;
      }
      parts.push(p);
    }
    const r = this.o.rename;
    if (r) {
      if (r.from === ".") parts.unshift(...splitContainerPath(r.to).parts);
      else if (parts[0] === r.from) parts.splice(0, 1, ...splitContainerPath(r.to).parts);
    }
    return parts;
  }

  private owner(h: TarHeader): { uid: number; gid: number } {
    return this.o.owner ?? { uid: h.uid, gid: h.gid };
  }

  async entry(h: TarHeader, body: AsyncIterable<Uint8Array>): Promise<void> {
    const parts = this.clean(h.name, h.name);
    const what = `archive entry ${JSON.stringify(h.name)}`;
    if (parts.length === 0) {
      // the destination itself: it stays as it is
      if (h.type !== "directory") throw invalidArgument(`${what}: the destination is a directory`);
      return;
    }
    if (h.uid > 0xfffffffe || h.gid > 0xfffffffe) throw invalidArgument(`${what}: owner ${h.uid}:${h.gid} is out of range`);
    const name = parts.at(-1) as string;
    const parentParts = parts.slice(0, -1);
    const walk = this.fs.walkEntry(this.target, parentParts, what, (p, n) => this.mkdirParent(p, n, h, what));
    try {
      const parent = walk.stack.at(-1) as Frame;
      this.writable(parent, what);
      await this.place(parent, name, parts, h, body, what);
    } catch (e) {
      throw fsError(`extract ${what}`, e);
    } finally {
      walk.dispose();
    }
  }

  private writable(f: Frame, what: string): void {
    if (f.readonly)
      throw permissionDenied(
        `${what}: ${f.path} is on a read-only ${f.mount >= 0 ? "volume or bind mount" : "container rootfs"}`,
      );
  }

  /** a parent the archive did not carry: 0755, owned as the entries are */
  private mkdirParent(parent: Frame, name: string, h: TarHeader, what: string): void {
    this.writable(parent, what);
    mkdirSync(proc(parent.fd, name), 0o700);
    const c = this.fs.child(parent, name);
    if (!c) throw internal(`${what}: ${join(parent.path, [name])} vanished after mkdir`);
    try {
      if (!c.st.isDirectory()) throw invalidArgument(`${what}: ${join(parent.path, [name])} is not a directory`);
      const { uid, gid } = this.o.owner ?? { uid: h.uid, gid: h.gid };
      chownSync(proc(c.fd), uid, gid);
      chmodSync(proc(c.fd), 0o755);
    } finally {
      closeSync(c.fd);
    }
  }

  private async place(
    parent: Frame,
    name: string,
    parts: string[],
    h: TarHeader,
    body: AsyncIterable<Uint8Array>,
    what: string,
  ): Promise<void> {
    const at = proc(parent.fd, name);
    const path = join(parent.path, [name]);
    if (this.fs.isMountPoint(parent, name)) {
      // a mount point of the container: it cannot be replaced (the kernel says EBUSY), only entered
      if (h.type !== "directory") throw invalidArgument(`${what}: cannot replace ${path}, a mount point`);
      return;
    }
    const existing = this.fs.child(parent, name);
    if (existing) {
      const isDir = existing.st.isDirectory();
      closeSync(existing.fd);
      if (h.type === "hardlink" && this.sameAsLinkTarget(parts, h, what)) return;
      if (isDir && h.type === "directory") {
        this.metadata(parent, name, h, what);
        return;
      }
      if (this.o.noOverwriteDirNonDir && isDir !== (h.type === "directory"))
        throw invalidArgument(
          isDir
            ? `cannot overwrite directory ${JSON.stringify(path)} with non-directory ${JSON.stringify(h.name)}`
            : `cannot overwrite non-directory ${JSON.stringify(path)} with directory ${JSON.stringify(h.name)}`,
        );
      this.remove(parent, name, what);
    }
    const { uid, gid } = this.owner(h);
    switch (h.type) {
      case "directory":
        mkdirSync(at, 0o700);
        this.metadata(parent, name, h, what);
        return;
      case "file": {
        const fd = openSync(at, CREATE, 0o600);
        try {
          let n = 0;
          for await (const chunk of body) {
            for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off, chunk.length - off);
            n += chunk.length;
          }
          if (n !== h.size) throw invalidArgument(`${what}: the archive ended inside the file`);
          fchownSync(fd, uid, gid);
          // after chown, which clears setuid and setgid
          fchmodSync(fd, h.mode & 0o7777);
          this.xattrs(at, h);
          futimesSync(fd, h.mtime, h.mtime);
        } finally {
          closeSync(fd);
        }
        return;
      }
      case "symlink":
        // the target is text for the container to read; nothing here ever follows it
        symlinkSync(h.linkname, at);
        lchownSync(at, uid, gid);
        lutimesSync(at, h.mtime, h.mtime);
        return;
      case "hardlink": {
        const tparts = this.clean(h.linkname, h.name, "hard link target");
        if (tparts.length === 0) throw invalidArgument(`${what}: hard link to the destination directory`);
        const tw = this.fs.walkEntry(this.target, tparts.slice(0, -1), what, undefined);
        try {
          const tp = tw.stack.at(-1) as Frame;
          const tname = tparts.at(-1) as string;
          if (this.fs.isMountPoint(tp, tname)) throw invalidArgument(`${what}: hard link to a mount point`);
          const t = this.fs.child(tp, tname);
          if (!t) throw invalidArgument(`${what}: hard link target ${JSON.stringify(h.linkname)} does not exist`);
          const dir = t.st.isDirectory();
          closeSync(t.fd);
          if (dir) throw invalidArgument(`${what}: hard link to a directory`);
          // link(2) does not follow a symlink as its target: the link would be to the symlink itself
          linkSync(proc(tp.fd, tname), at);
        } finally {
          tw.dispose();
        }
        return;
      }
      case "chardev":
      case "blockdev":
      case "fifo": {
        const type = h.type === "chardev" ? S_IFCHR : h.type === "blockdev" ? S_IFBLK : S_IFIFO;
        native().mknod(at, type | 0o600, h.devmajor, h.devminor);
        this.metadata(parent, name, h, what);
        return;
      }
      default:
        throw invalidArgument(`${what}: entry type ${JSON.stringify(h.typeflag)} cannot be extracted`);
    }
  }

  /** a hard link whose target is its own path: nothing to do */
  private sameAsLinkTarget(parts: string[], h: TarHeader, what: string): boolean {
    const t = this.clean(h.linkname, what, "hard link target");
    return t.join("/") === parts.join("/");
  }

  /** owner, mode, xattrs and times of a directory or special file just checked by name; set through its own fd */
  private metadata(parent: Frame, name: string, h: TarHeader, what: string): void {
    const c = this.fs.child(parent, name);
    if (!c) throw internal(`${what}: ${join(parent.path, [name])} vanished while it was being extracted`);
    try {
      if (c.st.isSymbolicLink()) throw invalidArgument(`${what}: ${join(parent.path, [name])} was replaced by a symlink`);
      const { uid, gid } = this.owner(h);
      // the magic link of an O_PATH fd leads to the very inode that was checked
      chownSync(proc(c.fd), uid, gid);
      chmodSync(proc(c.fd), h.mode & 0o7777);
      if (h.type === "directory" || h.type === "file") this.xattrs(proc(parent.fd, name), h);
      if (h.type === "directory") {
        const path = join(parent.path, [name]);
        this.dirTimes.set(path, { parts: this.relativeParts(path), mtime: h.mtime });
      } else {
        utimesSync(proc(c.fd), h.mtime, h.mtime);
      }
    } finally {
      closeSync(c.fd);
    }
  }

  private relativeParts(path: string): string[] {
    const base = this.target.path === "/" ? "" : this.target.path;
    return path.slice(base.length).split("/").filter(Boolean);
  }

  /** the xattrs a copy may set: file capabilities and the user namespace; never the host's LSM labels or trusted.* */
  private xattrs(at: string, h: TarHeader): void {
    for (const [key, value] of h.xattrs) {
      if (key !== "security.capability" && !key.startsWith("user.")) continue;
      try {
        native().lsetxattr(at, key, value);
      } catch (e) {
        // a filesystem without xattrs (or without user.* on this type) cannot hold them: as docker, go on
        const code = errnoCode(e);
        if (code === "ENOTSUP" || code === "EOPNOTSUPP" || code === "EPERM") continue;
        throw e;
      }
    }
  }

  /** remove `name` in `parent`, a whole tree for a directory, without following any symlink in it */
  private remove(parent: Frame, name: string, what: string): void {
    const c = this.fs.child(parent, name);
    if (!c) return;
    const path = join(parent.path, [name]);
    try {
      if (!c.st.isDirectory()) {
        unlinkSync(proc(parent.fd, name));
        return;
      }
      if (this.fs.hasMountsBelow(path)) throw invalidArgument(`${what}: cannot replace ${path}: a mount point is below it`);
      const self = this.fs.childFrame(parent, name, c);
      for (const n of readdirSync(proc(c.fd))) this.remove(self, n, what);
      rmdirSync(proc(parent.fd, name));
    } finally {
      closeSync(c.fd);
    }
  }

  /** directory times, last: filling a directory moved its mtime */
  finish(): void {
    for (const { parts, mtime } of this.dirTimes.values()) {
      let w: Resolved;
      try {
        w = this.fs.walkEntry(this.target, parts, "directory times", undefined);
      } catch (e) {
        // removed or replaced by a later entry of the archive: nothing of it to date
        if (e instanceof BerthError) continue;
        throw e;
      }
      try {
        const f = w.stack.at(-1) as Frame;
        utimesSync(proc(f.fd), mtime, mtime);
      } catch (e) {
        throw fsError(`set the times of ${(w.stack.at(-1) as Frame).path}`, e);
      } finally {
        w.dispose();
      }
    }
  }
}

/** `size` bytes of the file open as `f` (reopened read-only through its fd: the inode that was checked); zeros past an early end */
async function* readExactly(f: Frame, size: number): AsyncGenerator<Uint8Array> {
  let fd: number;
  try {
    fd = openSync(proc(f.fd), constants.O_RDONLY);
  } catch (e) {
    throw fsError(`open ${f.path} for reading`, e);
  }
  try {
    let pos = 0;
    while (pos < size) {
      const buf = Buffer.allocUnsafe(Math.min(CHUNK, size - pos));
      const n = await new Promise<number>((resolve, reject) =>
        read(fd, buf, 0, buf.length, pos, (err, bytes) => (err ? reject(fsError(`read ${f.path}`, err)) : resolve(bytes))),
      );
      if (n === 0) {
        // the file shrank while it was archived: the header promised `size` bytes
        yield Buffer.alloc(size - pos);
        return;
      }
      pos += n;
      yield buf.subarray(0, n);
    }
  } finally {
    closeSync(fd);
  }
}

/** a file's capabilities, the one xattr docker archives (lgetxattr on its name: the magic link would be read itself) */
function capabilities(parent: Frame, name: string): Buffer | undefined {
  try {
    return native().lgetxattr(proc(parent.fd, name), "security.capability") ?? undefined;
  } catch {
    return undefined; // a filesystem without xattrs has no capabilities to copy
  }
}

/** a container path of `base` joined with `parts` */
function join(base: string, parts: readonly string[]): string {
  if (parts.length === 0) return base;
  return `${base === "/" ? "" : base}/${parts.join("/")}`;
}
