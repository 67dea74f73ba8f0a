/**
 * The overlayfs snapshotter (containerd's overlay plugin): each snapshot's directory holds one
 * layer's diff (`fs`, with overlayfs whiteouts) and a `work` dir. An active snapshot mounts as
 * an overlay of its parents' dirs (top first) under its own; a view or a committed snapshot as a
 * read-only overlay of the dirs (or a read-only bind mount of the one dir when it is alone).
 * See Documentation/filesystems/overlayfs.rst.
 */
import { join } from "node:path";
import { failedPrecondition, invalidArgument } from "../errors/index.js";
import { DirSnapshotter, type DirSnapshotterOptions } from "./dir-snapshotter.js";
import { MOUNT_DATA_MAX } from "./mount.js";
import type { SnapshotRow } from "./snapshot-table.js";
import type { Mount } from "./snapshotter.js";

export class OverlaySnapshotter extends DirSnapshotter {
  readonly name = "overlayfs";
  readonly whiteouts = "overlay" as const;

  constructor(options: DirSnapshotterOptions) {
    super("overlayfs", options);
    // overlayfs splits its options at "," and lowerdir at ":"
    if (/[,:]/.test(this.root))
      throw invalidArgument(`overlayfs snapshots: the data root ${this.root} may not contain "," or ":"`);
  }

  async prepare(key: string, parent?: string): Promise<Mount[]> {
    this.create(key, "active", parent, ["work"]);
    return this.checked(key);
  }

  async view(key: string, parent: string): Promise<Mount[]> {
    this.create(key, "view", parent);
    return this.checked(key);
  }

  /** the mounts, or (options past a page) the snapshot removed again and a clear error */
  private async checked(key: string): Promise<Mount[]> {
    try {
      return this.mounts(key);
    } catch (e) {
      await this.remove(key);
      throw e;
    }
  }

  mounts(key: string): Mount[] {
    const chain = this.table.chain(key);
    const row = chain[0] as SnapshotRow;
    if (row.kind === "active") {
      if (chain.length === 1) return [{ type: "bind", source: this.fsOf(row), options: ["rbind", "rw"] }];
      const lower = chain.slice(1).map((r) => this.fsOf(r));
      return [
        this.overlay(key, [
          `workdir=${join(this.home(row), "work")}`,
          `upperdir=${this.fsOf(row)}`,
          `lowerdir=${lower.join(":")}`,
        ]),
      ];
    }
    // a view shows its parents; a committed snapshot shows itself and its parents
    const layers = (row.kind === "view" ? chain.slice(1) : chain).map((r) => this.fsOf(r));
    if (layers.length === 1) return [{ type: "bind", source: layers[0] as string, options: ["rbind", "ro"] }];
    return [this.overlay(key, [`lowerdir=${layers.join(":")}`])];
  }

  private overlay(key: string, options: string[]): Mount {
    const length = options.join(",").length;
    if (length > MOUNT_DATA_MAX)
      throw failedPrecondition(
        `mount snapshot "${key}": its overlay options are ${length} bytes, over the page (${MOUNT_DATA_MAX}) mount(2) takes; the image has too many layers for this data root's path`,
      );
    return { type: "overlay", source: "overlay", options };
  }
}
