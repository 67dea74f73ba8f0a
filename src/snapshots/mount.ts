/**
 * Mounting what a snapshotter returns (containerd's mount.All / UnmountAll), through mount(2)
 * and umount2(2) in the native binding. Options are the OCI runtime spec's: flag words
 * ("ro", "nosuid", "rbind") become mount flags; the rest is the filesystem's data string.
 */
import { errnoCode, internal, invalidArgument } from "../errors/index.js";
import { native } from "../native/index.js";
import type { Mount } from "./snapshotter.js";

const MS_RDONLY = 0x1;
const MS_REMOUNT = 0x20;
const MS_BIND = 0x1000;
const MS_REC = 0x4000;
const MNT_DETACH = 2;

/** Flag options of mount(8) and their MS_* bits; `clear` options undo a flag. */
const flagOptions: Record<string, { set?: number; clear?: number }> = {
  ro: { set: MS_RDONLY },
  rw: { clear: MS_RDONLY },
  nosuid: { set: 0x2 },
  suid: { clear: 0x2 },
  nodev: { set: 0x4 },
  dev: { clear: 0x4 },
  noexec: { set: 0x8 },
  exec: { clear: 0x8 },
  sync: { set: 0x10 },
  async: { clear: 0x10 },
  dirsync: { set: 0x80 },
  noatime: { set: 0x400 },
  atime: { clear: 0x400 },
  nodiratime: { set: 0x800 },
  diratime: { clear: 0x800 },
  bind: { set: MS_BIND },
  rbind: { set: MS_BIND | MS_REC },
  relatime: { set: 0x200000 },
  norelatime: { clear: 0x200000 },
  strictatime: { set: 0x1000000 },
};

/** mount(2) takes at most one page of data (the kernel copies exactly one) */
export const MOUNT_DATA_MAX = 4095;

/** The mount flags and data string of a mount's options. */
export function parseMountOptions(options: readonly string[]): { flags: number; data: string } {
  let flags = 0;
  const data: string[] = [];
  for (const o of options) {
    const f = flagOptions[o];
    if (f) {
      flags = (flags | (f.set ?? 0)) & ~(f.clear ?? 0);
      continue;
    }
    data.push(o);
  }
  return { flags, data: data.join(",") };
}

/** Mount each of `mounts` at `target`, in order (later ones on top). */
export function mountAll(mounts: readonly Mount[], target: string): void {
  for (const m of mounts) {
    const { flags, data } = parseMountOptions(m.options);
    if (data.length > MOUNT_DATA_MAX)
      throw invalidArgument(
        `mount ${m.type} at ${target}: options are ${data.length} bytes, over the ${MOUNT_DATA_MAX} mount(2) takes`,
      );
    try {
      if (m.type === "bind" || flags & MS_BIND) {
        native().mount(m.source, target, "", flags & (MS_BIND | MS_REC), "");
        // a bind mount takes its other flags only on a remount (mount(2): MS_BIND with MS_REMOUNT)
        const rest = flags & ~(MS_BIND | MS_REC);
        if (rest !== 0) native().mount("", target, "", MS_REMOUNT | MS_BIND | rest, "");
      } else {
        // overlayfs without an upperdir can only be read-only
        const ro = m.type === "overlay" && !/(^|,)upperdir=/.test(data) ? MS_RDONLY : 0;
        native().mount(m.source, target, m.type, flags | ro, data);
      }
    } catch (e) {
      throw internal(`mount ${m.type} ${m.source} at ${target} (${m.options.join(",")})`, e);
    }
  }
}

/** Unmount everything mounted at `target`, top first, until nothing is (containerd's UnmountAll). */
export function unmountAll(target: string): void {
  for (let i = 0; i < 256; i++) {
    try {
      native().umount(target, 0);
    } catch (e) {
      const code = errnoCode(e);
      // EINVAL: not a mount point any more; ENOENT: no such target. Both mean done.
      if (code === "EINVAL" || code === "ENOENT") return;
      if (code !== "EBUSY") throw internal(`unmount ${target}`, e);
      // busy: something still has it open; detach it, as containerd does after its retries
      try {
        native().umount(target, MNT_DETACH);
      } catch (e2) {
        if (errnoCode(e2) === "EINVAL") return;
        throw internal(`unmount ${target} (lazily, after EBUSY)`, e2);
      }
    }
  }
  throw internal(`unmount ${target}: still mounted after 256 unmounts`);
}
