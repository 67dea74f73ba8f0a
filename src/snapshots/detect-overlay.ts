/**
 * Whether overlayfs works under a data root: one real overlay mount, of two lower dirs, an upper
 * dir and a work dir made beside the snapshots, with a whiteout and the opaque xattr in it (the
 * two things layers need). Asked once per data root and process.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { describe } from "../errors/index.js";
import { native } from "../native/index.js";

const S_IFCHR = 0o020000;
const MNT_DETACH = 2;
const answers = new Map<string, string | undefined>();

/** undefined when overlayfs works under `dataRoot`; otherwise why it does not */
export function overlayUnsupported(dataRoot: string): string | undefined {
  if (answers.has(dataRoot)) return answers.get(dataRoot);
  const reason = probe(dataRoot);
  answers.set(dataRoot, reason);
  return reason;
}

function probe(dataRoot: string): string | undefined {
  if (process.getuid?.() !== 0) return "overlay mounts need root";
  if (/[,:]/.test(dataRoot)) return `the data root ${dataRoot} has a "," or ":", which overlayfs options cannot carry`;
  const dir = join(dataRoot, "snapshots", `.probe-${process.pid}-${randomBytes(4).toString("hex")}`);
  const [l1, l2, upper, work, merged] = ["l1", "l2", "upper", "work", "merged"].map((d) => join(dir, d)) as [
    string,
    string,
    string,
    string,
    string,
  ];
  try {
    for (const d of [l1, l2, upper, work, merged]) mkdirSync(d, { recursive: true, mode: 0o700 });
    mkdirSync(join(l1, "d"));
    mkdirSync(join(l2, "d"));
    mkdirSync(join(upper, "d"));
    native().mknod(join(l1, "gone"), S_IFCHR, 0, 0);
    native().lsetxattr(join(upper, "d"), "trusted.overlay.opaque", Buffer.from("y"));
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    return `cannot make whiteouts under ${dataRoot}: ${describe(e)}`;
  }
  try {
    native().mount("overlay", merged, "overlay", 0, `lowerdir=${l1}:${l2},upperdir=${upper},workdir=${work}`);
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    return `overlay mount under ${dataRoot} failed: ${describe(e)}`;
  }
  try {
    const names = readdirSync(merged);
    if (names.includes("gone")) return "overlayfs did not honour a whiteout";
    return undefined;
  } finally {
    native().umount(merged, MNT_DETACH);
    rmSync(dir, { recursive: true, force: true });
  }
}
