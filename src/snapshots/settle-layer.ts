/**
 * The last step of a layer unpacked on its own (overlayfs, in parallel with the layers below),
 * taken once the layers below are unpacked:
 * - Parent directories the layer needed but did not carry were made 0755 root; in the mounted
 *   stack that upper directory would hide the real one's mode and owner, so each takes the
 *   attributes of the directory the layers below show there.
 * - Whiteouts that hide nothing are removed: in a directory with nothing below it, overlayfs
 *   lists a whiteout's name though the name cannot be opened.
 */
import { chmodSync, lchownSync, lstatSync, lutimesSync, rmSync, type Stats } from "node:fs";
import { join } from "node:path";
import { errnoCode } from "../errors/index.js";
import { native } from "../native/index.js";
import { isWhiteout } from "./apply-layer.js";
import { copyXattrs } from "./copy-tree.js";

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (e) {
    if (errnoCode(e) === "ENOENT" || errnoCode(e) === "ENOTDIR") return undefined; // absent in this layer
    throw e;
  }
}

function isOpaque(path: string): boolean {
  return native().lgetxattr(path, "trusted.overlay.opaque")?.toString() === "y";
}

/** true when a directory among the parents of `rel` in `layer` is opaque */
function opaqueParent(layer: string, parts: readonly string[]): boolean {
  let cur = layer;
  for (const p of parts.slice(0, -1)) {
    cur = join(cur, p);
    const st = lstatOrUndefined(cur);
    if (!st?.isDirectory()) return false;
    if (isOpaque(cur)) return true;
  }
  return false;
}

/**
 * What the layers `lowers` (layer dirs, top first) show at `rel`, as overlayfs merges them: the
 * path in the layer that provides it, or undefined when nothing does (absent, or hidden by a
 * whiteout, an opaque directory or a non-directory parent).
 */
export function lowerEntry(lowers: readonly string[], rel: string): { path: string; stat: Stats } | undefined {
  const parts = rel.split("/");
  for (const layer of lowers) {
    let cur = layer;
    for (let i = 0; i < parts.length; i++) {
      cur = join(cur, parts[i] as string);
      const st = lstatOrUndefined(cur);
      if (!st) break; // not in this layer: look lower, unless an opaque parent here says not to
      if (isWhiteout(st)) return undefined;
      if (i === parts.length - 1) return { path: cur, stat: st };
      if (!st.isDirectory()) return undefined; // a file or symlink here hides whatever is below
    }
    if (opaqueParent(layer, parts)) return undefined;
  }
  return undefined;
}

export interface LayerLeftovers {
  /** parent directories made without an entry of their own (relative paths) */
  impliedDirs: readonly string[];
  /** whiteouts made (relative paths) */
  whiteouts: readonly string[];
}

/** Settle the layer in `upper` over `lowers` (top first). */
export function settleLayer(upper: string, lowers: readonly string[], left: LayerLeftovers): void {
  for (const rel of left.impliedDirs) {
    // an opaque parent in `upper` does not matter: the implied directory stands for the one that was there
    const below = lowerEntry(lowers, rel);
    if (!below?.stat.isDirectory()) continue;
    const to = join(upper, rel);
    const st = below.stat;
    lchownSync(to, st.uid, st.gid);
    chmodSync(to, st.mode & 0o7777);
    copyXattrs(below.path, to);
    lutimesSync(to, st.atimeMs / 1000, st.mtimeMs / 1000);
  }
  for (const rel of left.whiteouts) {
    const parts = rel.split("/");
    if (opaqueParent(upper, parts) || lowerEntry(lowers, rel) === undefined) rmSync(join(upper, rel), { force: true });
  }
}
