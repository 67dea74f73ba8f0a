import { mkdir, open, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { describe, errnoCode, internal } from "../errors/index.js";
import { execProgram, firstLine } from "./exec.js";
import { validateContainerId } from "./names.js";

/** One line of /proc/self/mountinfo, the fields berth needs (proc(5)). */
export interface MountInfo {
  mountPoint: string;
  fsType: string;
  /** "shared:N", "master:N"... */
  optional: string[];
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
const unescapeOctal = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));

export function parseMountInfo(text: string): MountInfo[] {
  const out: MountInfo[] = [];
  for (const line of text.split("\n")) {
    const f = line.split(" ");
    const sep = f.indexOf("-");
    if (sep < 6 || f[4] === undefined) continue;
    out.push({ mountPoint: unescapeOctal(f[4]), fsType: f[sep + 1] ?? "", optional: f.slice(6, sep) });
  }
  return out;
}

async function mounts(): Promise<MountInfo[]> {
  return parseMountInfo(await readFile("/proc/self/mountinfo", "utf8"));
}

async function run(what: string, file: string, args: string[]): Promise<void> {
  const res = await execProgram(file, args);
  if (res.code !== 0) throw internal(`${what}: ${file} ${args.join(" ")}: ${firstLine(res.stderr) || `exit status ${res.code}`}`);
}

/** The netns file of a container under `runDir`. */
export function netnsPath(runDir: string, containerId: string): string {
  validateContainerId(containerId);
  return join(runDir, containerId);
}

/** In-process netns files, with no mount table to read and no program to run (berthd hands in the native executor's). */
export interface NetnsOps {
  /** makes a network namespace with lo up and bind-mounts it on an existing file */
  create(file: string): void;
  /** umount2(file, MNT_DETACH): throws EINVAL when nothing is mounted there */
  unmount(file: string): void;
}

/** run dirs made ready by this process (a berthd's exec root stays mounted while it runs) */
const preparedRunDirs = new Map<string, Promise<void>>();

/**
 * Makes `runDir` a mount point with its own shared peer group, as `ip netns add` does for
 * /run/netns: a namespace that copies the mount table later receives our nsfs mounts as
 * slaves and so also their unmounts, and cannot pin a removed netns alive. A private
 * bind of itself first detaches it from the parent's peer group, so the nsfs mounts do not
 * spread into unrelated namespaces through /run or /var.
 */
function prepareRunDir(runDir: string): Promise<void> {
  let p = preparedRunDirs.get(runDir);
  if (!p) {
    p = prepareRunDirOnce(runDir);
    preparedRunDirs.set(runDir, p);
    p.catch(() => preparedRunDirs.delete(runDir));
  }
  return p;
}

async function prepareRunDirOnce(runDir: string): Promise<void> {
  await mkdir(runDir, { recursive: true, mode: 0o755 });
  const own = (await mounts()).filter((m) => m.mountPoint === runDir).at(-1);
  if (own?.optional.some((o) => o.startsWith("shared:"))) return;
  if (!own) await run(`prepare netns dir "${runDir}"`, "mount", ["--bind", runDir, runDir]);
  await run(`prepare netns dir "${runDir}"`, "mount", ["--make-private", runDir]);
  await run(`prepare netns dir "${runDir}"`, "mount", ["--make-shared", runDir]);
}

/** True when `file` has an nsfs (a namespace) mounted on it. */
export async function isNetnsMounted(file: string): Promise<boolean> {
  return (await mounts()).some((m) => m.mountPoint === file && m.fsType === "nsfs");
}

/**
 * A new network namespace kept alive by a bind mount at `<runDir>/<containerId>`; returns the
 * path. Made by `ops` (lo up too) when given, else by `unshare` (lo down). Idempotent: an
 * existing one is returned as it is.
 */
export async function createNetnsFile(runDir: string, containerId: string, ops?: NetnsOps): Promise<string> {
  const file = netnsPath(runDir, containerId);
  await prepareRunDir(runDir);
  try {
    // the mount point: read-only and empty, as ip netns makes it; a new file has nothing
    // mounted on it (the common case: no mount table to read)
    await (await open(file, "wx", 0o444)).close();
  } catch (e) {
    if (errnoCode(e) !== "EEXIST") throw internal(`create network namespace for container ${containerId}: ${file}`, e);
    if (await isNetnsMounted(file)) return file;
    // a leftover from a crash: reused
  }
  try {
    if (ops) ops.create(file);
    else await run(`create network namespace for container ${containerId}`, "unshare", [`--net=${file}`, "true"]);
  } catch (e) {
    await removeNetnsFile(runDir, containerId, ops).catch((cleanup: unknown) => {
      throw internal(`${describe(e)} (and removing ${file} failed: ${describe(cleanup)})`, e);
    });
    throw e;
  }
  return file;
}

/** Unmounts and removes a container's netns file; nothing to do when it is gone already. */
export async function removeNetnsFile(runDir: string, containerId: string, ops?: NetnsOps): Promise<void> {
  const file = netnsPath(runDir, containerId);
  // a crash between two creates can stack mounts: take them all off
  for (let i = 0; ops && i < 16; i++) {
    try {
      // lazy, as ip netns delete: a process still inside keeps the namespace, not the mount
      ops.unmount(file);
    } catch (e) {
      const code = errnoCode(e);
      if (code === "EINVAL" || code === "ENOENT") break; // nothing (more) mounted there
      throw internal(`remove network namespace of container ${containerId}: unmount ${file}`, e);
    }
  }
  for (let i = 0; !ops && i < 16 && (await isNetnsMounted(file)); i++) {
    // lazy, as ip netns delete: a process still inside keeps the namespace, not the mount
    await run(`remove network namespace of container ${containerId}`, "umount", ["--lazy", file]);
  }
  try {
    await rm(file);
  } catch (e) {
    if (errnoCode(e) !== "ENOENT") throw internal(`remove netns file ${file}`, e); // ENOENT: removed already
  }
}

/** Whether a netns path (ours, or /proc/<pid>/ns/net) still exists. */
export async function netnsExists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}
