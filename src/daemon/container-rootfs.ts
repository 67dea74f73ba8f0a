/**
 * What berthd does inside a container's rootfs before the runtime sees it: create its working
 * directory, and fill its empty volumes from the image (docker's copy-up). The rootfs is
 * untrusted: every path is resolved and every file written through `ConfinedFs`, which never
 * follows a symlink out of the rootfs (or out of the volume).
 */
import { chmodSync, chownSync, existsSync, readFileSync, readdirSync } from "node:fs";
import { BerthError, describe, invalidArgument, isKind } from "../errors/index.js";
import { tarBuffer, TarWriter, type TarWriteHeader } from "../images/tar/index.js";
import { type ArchiveSource, ConfinedFs, goModeKind, type PathStat, splitContainerPath } from "./archive.js";

/** symlinks followed while resolving one path, as the kernel's MAXSYMLINKS */
const MAX_LINKS = 40;

/**
 * Create directory `path` (and its missing parents) in `rootfs`, root-owned and 0755, as docker
 * does for a container's working directory. Existing components are resolved with chroot
 * semantics (a symlink to a directory inside the rootfs is followed); a component that exists
 * and is not a directory is an error.
 */
export async function ensureDirectory(rootfs: string, path: string): Promise<void> {
  const fs = new ConfinedFs({ rootfs });
  try {
    let parts = splitContainerPath(path).parts;
    for (let links = 0; ; ) {
      // the deepest existing ancestor (symlinks followed inside the rootfs): the rest is made under it
      let n = parts.length;
      for (; n > 0; n--) {
        try {
          fs.stat(`/${parts.slice(0, n).join("/")}/`);
          break;
        } catch (e) {
          if (!isKind(e, "NotFound")) throw e;
        }
      }
      if (n === parts.length) return;
      // the first missing one may be a dangling symlink: the directory is made where it leads (in the rootfs)
      const next = statNoFollow(fs, `/${parts.slice(0, n + 1).join("/")}`);
      if (next !== undefined && goModeKind(next.mode) === "symlink") {
        if (++links > MAX_LINKS) throw invalidArgument("too many levels of symbolic links");
        parts = splitContainerPath(`${next.linkTarget}/${parts.slice(n + 1).join("/")}`).parts;
        continue;
      }
      const mtime = Math.floor(Date.now() / 1000);
      const entries = parts.slice(n).map((_, i) => ({
        header: {
          name: `${parts.slice(n, n + i + 1).join("/")}/`,
          type: "directory",
          mode: 0o755,
          uid: 0,
          gid: 0,
          mtime,
        } as const,
      }));
      await fs.extract(`/${parts.slice(0, n).join("/")}`, [tarBuffer(entries)], { noOverwriteDirNonDir: true });
      return;
    }
  } catch (e) {
    throw new BerthError(e instanceof BerthError ? e.kind : "Internal", `create working directory ${path} in the container`, {
      cause: e,
    });
  } finally {
    fs.close();
  }
}

/** The stat of `path` itself (a symlink not followed), or undefined when it does not exist. */
function statNoFollow(fs: ConfinedFs, path: string): PathStat | undefined {
  try {
    return fs.stat(path);
  } catch (e) {
    if (isKind(e, "NotFound")) return undefined;
    throw e;
  }
}

/** A tar writer that remembers its first entry (the copied directory itself). */
class FirstEntryWriter extends TarWriter {
  first: TarWriteHeader | undefined;

  override add(header: TarWriteHeader, body?: Uint8Array | string | AsyncIterable<Uint8Array>): Promise<void> {
    this.first ??= header;
    return super.add(header, body);
  }
}

/**
 * Docker's copy-up: when volume directory `mountpoint` is empty, copy what the image has at
 * `destination` into it (files, modes, owners, times, symlinks as symlinks, hard links, file
 * capabilities), and give the volume's root the owner and mode of the image's directory. Nothing
 * happens when the volume has content, or when the image has no directory there.
 */
export async function copyImageContent(rootfs: string, destination: string, mountpoint: string): Promise<void> {
  if (readdirSync(mountpoint).length > 0) return;
  const src = new ConfinedFs({ rootfs });
  let archive: ArchiveSource;
  try {
    archive = src.archive(`${destination.replace(/\/+$/, "")}/.`);
  } catch (e) {
    src.close();
    // nothing there, or not a directory: nothing to copy (the runtime reports a mount onto a file)
    if (isKind(e, "NotFound") || isKind(e, "InvalidArgument")) return;
    throw copyError(destination, mountpoint, e);
  }
  const dst = new ConfinedFs({ rootfs: mountpoint });
  const w = new FirstEntryWriter();
  const produced = (async () => {
    await archive.write(w, ".");
    await w.finish();
  })();
  // a failed producer ends the stream, so the extraction stops too (and the reverse)
  produced.catch((e: unknown) => w.abort(e instanceof Error ? e : new Error(String(e))));
  try {
    try {
      await dst.extract("/", w.stream);
    } catch (e) {
      w.abort(e instanceof Error ? e : new Error(describe(e)));
      await produced.catch(() => {});
      throw e;
    }
    await produced;
    const root = w.first;
    if (root) {
      // the volume's own directory is berthd's (volumes/<name>/_data), not the container's: set by path
      chownSync(mountpoint, root.uid ?? 0, root.gid ?? 0);
      chmodSync(mountpoint, (root.mode ?? 0o755) & 0o7777);
    }
  } catch (e) {
    throw copyError(destination, mountpoint, e);
  } finally {
    archive.close();
    src.close();
    dst.close();
  }
}

function copyError(destination: string, mountpoint: string, e: unknown): BerthError {
  return new BerthError(
    e instanceof BerthError ? e.kind : "Internal",
    `copy the image's content at ${destination} into volume "${mountpoint}"`,
    { cause: e },
  );
}

/** Whether something is mounted at `path` (a line of /proc/self/mountinfo names it). */
export function isMounted(path: string): boolean {
  if (!existsSync(path)) return false;
  const unoctal = (f: string) => f.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .some((l) => unoctal(l.split(" ")[4] ?? "") === path);
}
