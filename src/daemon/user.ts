import { closeSync, constants, fstatSync, openSync, readFileSync, readlinkSync } from "node:fs";
import { errnoCode, internal, invalidArgument } from "../errors/index.js";

/** Who a container's process runs as: what `resolveUser` finds in the image's passwd and group files. */
export interface ResolvedUser {
  uid: number;
  gid: number;
  /** supplementary groups: the primary gid, the user's groups in /etc/group, then GroupAdd's */
  additionalGids: number[];
  /** the user's home directory from passwd, "/" when it has no entry */
  home: string;
}

/** One passwd(5) entry. */
export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/** One group(5) entry. */
export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

/** uids and gids the kernel takes from a container (0 to 2^31-1, as Docker's user package allows). */
const MAX_ID = 2 ** 31 - 1;
/** A passwd or group file bigger than this is not an account database; refuse to load it. */
const MAX_FILE = 16 * 1024 * 1024;
/** symlinks followed while resolving one path, as the kernel's MAXSYMLINKS */
const MAX_LINKS = 40;
/** open(2)'s O_PATH (linux/fcntl.h, the same on x86 and arm): an fd to a path, opened for nothing. */
const O_PATH = 0o10000000;

/**
 * Resolve Docker's `User` ("", "name", "uid", "name:group", "uid:gid", ...) against the
 * image's /etc/passwd and /etc/group in `rootfs`, the way Docker does: a number with no
 * passwd entry is taken as is (gid 0, home "/"), a name must have an entry. With no group
 * given, the supplementary groups are the user's memberships in /etc/group; `groupAdd`
 * (HostConfig.GroupAdd, names or gids) is appended either way.
 *
 * The rootfs is untrusted: its files are read only through `readRootfsFile`, which never
 * leaves the rootfs whatever its symlinks say.
 */
export function resolveUser(rootfs: string, user: string | undefined, groupAdd: string[] = []): ResolvedUser {
  const spec = user ?? "";
  const colon = spec.indexOf(":");
  const userPart = colon < 0 ? spec : spec.slice(0, colon);
  const groupPart = colon < 0 ? undefined : spec.slice(colon + 1);
  if (colon >= 0 && (userPart === "" || groupPart === ""))
    throw invalidArgument(`invalid user "${spec}": expected "user", "user:group", "uid" or "uid:gid"`);

  const passwd = parsePasswd(readRootfsFile(rootfs, "/etc/passwd") ?? "");
  const groups = parseGroup(readRootfsFile(rootfs, "/etc/group") ?? "");

  const uidArg = userPart === "" ? 0 : parseId(userPart, "uid");
  const entry = uidArg !== undefined ? passwd.find((p) => p.uid === uidArg) : passwd.find((p) => p.name === userPart);
  if (entry === undefined && uidArg === undefined)
    throw invalidArgument(`unable to find user ${userPart}: no matching entries in passwd file`);
  const uid = entry?.uid ?? uidArg ?? 0;
  let gid = entry?.gid ?? 0;
  const home = entry?.home || "/";

  const supplementary: number[] = [];
  if (groupPart !== undefined) {
    gid = lookupGroup(groups, groupPart);
  } else if (entry !== undefined) {
    for (const g of groups) if (g.members.includes(entry.name)) supplementary.push(g.gid);
  }
  for (const g of groupAdd) supplementary.push(lookupGroup(groups, g));
  return { uid, gid, additionalGids: [...new Set([gid, ...supplementary])], home };
}

/** A gid by number or by name in `groups`; a number needs no entry. */
function lookupGroup(groups: GroupEntry[], arg: string): number {
  const n = parseId(arg, "gid");
  if (n !== undefined) return groups.find((g) => g.gid === n)?.gid ?? n;
  const g = groups.find((e) => e.name === arg);
  if (g === undefined) throw invalidArgument(`unable to find group ${arg}: no matching entries in group file`);
  return g.gid;
}

/** The id `s` stands for, when it is a number; a number out of range is an error. */
function parseId(s: string, what: "uid" | "gid"): number | undefined {
  if (!/^\d+$/.test(s)) return undefined;
  const n = Number(s);
  if (n > MAX_ID) throw invalidArgument(`${what} ${s} is out of range: ${what}s must be 0 to ${MAX_ID}`);
  return n;
}

/** passwd(5) lines; comments, blank and malformed lines are skipped. */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split("\n")) {
    const t = line.trim();
    if (t === "" || t.startsWith("#")) continue;
    const f = t.split(":");
    const uid = f[2] !== undefined && /^\d+$/.test(f[2]) ? Number(f[2]) : undefined;
    const gid = f[3] !== undefined && /^\d+$/.test(f[3]) ? Number(f[3]) : undefined;
    if (!f[0] || uid === undefined || gid === undefined || uid > MAX_ID || gid > MAX_ID) continue;
    out.push({ name: f[0], uid, gid, home: f[5] ?? "" });
  }
  return out;
}

/** group(5) lines; comments, blank and malformed lines are skipped. */
export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split("\n")) {
    const t = line.trim();
    if (t === "" || t.startsWith("#")) continue;
    const f = t.split(":");
    const gid = f[2] !== undefined && /^\d+$/.test(f[2]) ? Number(f[2]) : undefined;
    if (!f[0] || gid === undefined || gid > MAX_ID) continue;
    const members = (f[3] ?? "")
      .split(",")
      .map((m) => m.trim())
      .filter(Boolean);
    out.push({ name: f[0], gid, members });
  }
  return out;
}

/**
 * The contents of `path` inside `rootfs` as if `rootfs` were "/" (chroot semantics: absolute
 * symlinks start again at the rootfs, ".." stops at it), or undefined when the file does not
 * exist. It must be a regular file. Each component is opened with O_PATH|O_NOFOLLOW relative
 * to the directory fd before it (through /proc/self/fd, Node having no openat), so neither a
 * hostile symlink nor a rename racing the walk can lead outside the rootfs; the file is read
 * by reopening the very inode that was checked (CVE-2018-15664 is this bug in `docker cp`).
 */
export function readRootfsFile(rootfs: string, path: string): string | undefined {
  const fds: number[] = [];
  const where = `read ${path} in container rootfs "${rootfs}"`;
  try {
    try {
      fds.push(openSync(rootfs, O_PATH | constants.O_DIRECTORY));
    } catch (err) {
      throw invalidArgument(`${where}: open the rootfs`, err);
    }
    const todo = path.split("/").filter((c) => c !== "" && c !== ".");
    let links = 0;
    while (todo.length > 0) {
      const name = todo.shift() as string;
      if (name === "..") {
        if (fds.length > 1) closeSync(fds.pop() as number);
        continue;
      }
      const at = `/proc/self/fd/${fds[fds.length - 1]}/${name}`;
      let fd: number;
      try {
        fd = openSync(at, O_PATH | constants.O_NOFOLLOW);
      } catch (err) {
        // a missing file, or a path through a non-directory: the image has no such file
        if (errnoCode(err) === "ENOENT" || errnoCode(err) === "ENOTDIR") return undefined;
        throw internal(`${where}: open "${name}"`, err);
      }
      const st = fstatSync(fd);
      if (st.isSymbolicLink()) {
        closeSync(fd);
        if (++links > MAX_LINKS) throw invalidArgument(`${where}: too many levels of symbolic links`);
        let target: string;
        try {
          target = readlinkSync(at);
        } catch (err) {
          // swapped for something else since the open: a rootfs changing under us is not trusted
          throw invalidArgument(`${where}: "${name}" changed while it was being resolved`, err);
        }
        if (target.startsWith("/")) while (fds.length > 1) closeSync(fds.pop() as number);
        todo.unshift(...target.split("/").filter((c) => c !== "" && c !== "."));
        continue;
      }
      fds.push(fd);
      if (todo.length > 0) {
        if (!st.isDirectory()) return undefined;
        continue;
      }
      if (!st.isFile()) throw invalidArgument(`${where}: not a regular file`);
      if (st.size > MAX_FILE) throw invalidArgument(`${where}: file is larger than ${MAX_FILE} bytes`);
      // reopening the O_PATH fd through /proc opens the inode that was checked, not a path
      return readFileSync(`/proc/self/fd/${fd}`, "utf8");
    }
    // the path named the rootfs itself (or a chain of ".." and symlinks back to it)
    throw invalidArgument(`${where}: is a directory`);
  } finally {
    for (const fd of fds) closeSync(fd);
  }
}
