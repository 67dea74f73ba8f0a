/**
 * A faithful copy of a directory tree, for the copy-based snapshotter: owners, modes (setuid and
 * sticky too), xattrs, times, device nodes, fifos, symlinks as symlinks, and hard links kept as
 * hard links within the copy. File data is cloned (FICLONE) where the filesystem can.
 */
import {
  chmodSync,
  constants,
  copyFileSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  readdirSync,
  readlinkSync,
  type Stats,
  symlinkSync,
} from "node:fs";
import { join } from "node:path";
import { internal } from "../errors/index.js";
import { native } from "../native/index.js";

const S_IFMT = 0o170000;

/** Copy the contents of `src` into `dst` (an existing, empty directory), and `src`'s own attributes onto `dst`. */
export function copyTree(src: string, dst: string): void {
  const links = new Map<string, string>();
  const dirTimes: [string, Stats][] = [];
  const copyDir = (from: string, to: string) => {
    for (const name of readdirSync(from)) {
      const s = join(from, name);
      const d = join(to, name);
      const st = lstatSync(s);
      try {
        if (!st.isDirectory() && st.nlink > 1) {
          const id = `${st.dev}:${st.ino}`;
          const first = links.get(id);
          if (first !== undefined) {
            linkSync(first, d);
            continue;
          }
          links.set(id, d);
        }
        if (st.isDirectory()) {
          mkdirSync(d, 0o700);
          copyDir(s, d);
          dirTimes.push([d, st]);
        } else if (st.isFile()) {
          // COPYFILE_EXCL: d is new; never write through something already there
          copyFileSync(s, d, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
        } else if (st.isSymbolicLink()) {
          symlinkSync(readlinkSync(s), d);
        } else if (st.isCharacterDevice() || st.isBlockDevice() || st.isFIFO()) {
          const { major, minor } = deviceNumbers(lstatSync(s, { bigint: true }).rdev);
          native().mknod(d, (st.mode & S_IFMT) | 0o600, major, minor);
        } else {
          continue; // sockets: nothing a layer can carry, nothing to copy
        }
        copyAttributes(s, d, st);
      } catch (e) {
        throw internal(`copy ${s} to ${d}`, e);
      }
    }
  };
  copyDir(src, dst);
  const rootStat = lstatSync(src);
  copyAttributes(src, dst, rootStat, false);
  dirTimes.push([dst, rootStat]);
  // directories last: filling them moved their times
  for (const [d, st] of dirTimes) lutimesSync(d, st.atimeMs / 1000, st.mtimeMs / 1000);
}

/** Owner, then mode (chown clears setuid), then xattrs, then (for non-directories) times. */
export function copyAttributes(src: string, dst: string, st: Stats, times = !st.isDirectory()): void {
  lchownSync(dst, st.uid, st.gid);
  if (!st.isSymbolicLink()) chmodSync(dst, st.mode & 0o7777);
  copyXattrs(src, dst);
  if (times) lutimesSync(dst, st.atimeMs / 1000, st.mtimeMs / 1000);
}

/** Every xattr of `src` onto `dst`, overlayfs's own (trusted.overlay.*) excepted. */
export function copyXattrs(src: string, dst: string): void {
  const n = native();
  for (const name of n.llistxattr(src)) {
    if (name.startsWith("trusted.overlay.")) continue;
    const value = n.lgetxattr(src, name);
    if (value !== null) n.lsetxattr(dst, name, value);
  }
}

/** major and minor of a dev_t, as glibc's gnu_dev_major/minor split it. */
export function deviceNumbers(rdev: bigint): { major: number; minor: number } {
  const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
  const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
  return { major, minor };
}
