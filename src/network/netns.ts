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

/**
 * Makes `runDir` a mount point with its own shared peer group, as `ip netns add` does for
 * /run/netns: a namespace that copies the mount table later receives our nsfs mounts as
 * slaves and so also their unmounts, and cannot pin a removed netns alive. A private
 * bind of itself first detaches it from the parent's peer group, so the nsfs mounts do not
 * spread into unrelated namespaces through /run or /var.
 */
async function prepareRunDir(runDir: string): Promise<void> {
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
 * path. Idempotent: an existing one is returned as it is.
 */
export async function createNetnsFile(runDir: string, containerId: string): Promise<string> {
  const file = netnsPath(runDir, containerId);
  await prepareRunDir(runDir);
  if (await isNetnsMounted(file)) return file;
  try {
    // the mount point: read-only and empty, as ip netns makes it (a leftover from a crash is reused)
    await (await open(file, "a", 0o444)).close();
    await run(`create network namespace for container ${containerId}`, "unshare", [`--net=${file}`, "true"]);
  } catch (e) {
    await removeNetnsFile(runDir, containerId).catch((cleanup: unknown) => {
      throw internal(`${describe(e)} (and removing ${file} failed: ${describe(cleanup)})`, e);
    });
    throw e;
  }
  return file;
}

/** Unmounts and removes a container's netns file; nothing to do when it is gone already. */
export async function removeNetnsFile(runDir: string, containerId: string): Promise<void> {
  const file = netnsPath(runDir, containerId);
  // a crash between two creates can stack mounts: take them all off
  for (let i = 0; i < 16 && (await isNetnsMounted(file)); i++) {
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
