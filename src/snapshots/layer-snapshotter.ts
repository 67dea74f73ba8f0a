import type { WhiteoutMode } from "./apply-layer.js";
import type { Snapshotter } from "./snapshotter.js";

/**
 * What the unpacker needs of a snapshotter beyond `Snapshotter`: where a snapshot's own files
 * live, so a layer can be written straight into them, and how whiteouts must land there.
 */
export interface LayerSnapshotter extends Snapshotter {
  /** "overlay": a snapshot's directory holds its layer's diff; "apply": the whole tree */
  readonly whiteouts: WhiteoutMode;
  /** the directory of `key`'s own files */
  dir(key: string): string;
  /** the directories of `key`'s parents, nearest first */
  parentDirs(key: string): string[];
  /**
   * As `Snapshotter.commit`; `parent` (overlayfs only) sets the parent of a layer that was
   * prepared without one, to be unpacked before the layers below it were committed.
   */
  commit(name: string, key: string, options?: { parent?: string }): Promise<void>;
}

export function isLayerSnapshotter(s: Snapshotter): s is LayerSnapshotter {
  const l = s as Partial<LayerSnapshotter>;
  return (
    typeof l.dir === "function" && typeof l.parentDirs === "function" && (l.whiteouts === "overlay" || l.whiteouts === "apply")
  );
}
