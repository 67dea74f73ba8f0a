/**
 * Snapshots: layer stacks on disk (containerd's snapshots). Two snapshotters behind one
 * interface — overlayfs, and a copy-based fallback for where overlayfs cannot mount — plus the
 * layer applier (tar to directory, whiteouts, no escapes) and the unpacker that a pull feeds.
 * Snapshotters return mounts; `mountAll` and `unmountAll` perform them.
 */
import { failedPrecondition } from "../errors/index.js";
import type { Db } from "../images/db.js";
import { overlayUnsupported } from "./detect-overlay.js";
import type { LayerSnapshotter } from "./layer-snapshotter.js";
import { NativeSnapshotter } from "./native.js";
import { OverlaySnapshotter } from "./overlay.js";

export {
  type AppliedLayer,
  type ApplyLayerOptions,
  applyLayer,
  DEFAULT_MAX_LAYER_BYTES,
  type WhiteoutMode,
} from "./apply-layer.js";
export { copyTree } from "./copy-tree.js";
export { overlayUnsupported } from "./detect-overlay.js";
export { isLayerSnapshotter, type LayerSnapshotter } from "./layer-snapshotter.js";
export { mountAll, parseMountOptions, unmountAll } from "./mount.js";
export { NativeSnapshotter } from "./native.js";
export { OverlaySnapshotter } from "./overlay.js";
export type { Mount, SnapshotInfo, SnapshotKind, Snapshotter } from "./snapshotter.js";
export { Unpacker, type UnpackerOptions } from "./unpacker.js";

export type SnapshotterKind = "overlayfs" | "native";

export interface CreateSnapshotterOptions {
  /** the data root: snapshots go to `<root>/snapshots` */
  root: string;
  db: Db;
  /** which one; by default overlayfs where a probe mount works, else native (its `fallbackReason` says why) */
  kind?: SnapshotterKind;
}

/** The snapshotter for a data root. FailedPrecondition when overlayfs was asked for and cannot mount. */
export async function createSnapshotter(options: CreateSnapshotterOptions): Promise<LayerSnapshotter> {
  const { root, db } = options;
  if (options.kind === "native") return new NativeSnapshotter({ root, db });
  const reason = overlayUnsupported(root);
  if (reason === undefined) return new OverlaySnapshotter({ root, db });
  if (options.kind === "overlayfs") throw failedPrecondition(`overlayfs snapshotter: ${reason}`);
  return new NativeSnapshotter({ root, db, fallbackReason: reason });
}
