/**
 * The copy-based snapshotter (containerd's native plugin), for where overlayfs cannot mount:
 * each snapshot's directory holds the whole tree. `prepare` copies the parent's tree (owners,
 * modes, xattrs, devices, hard links, symlinks); layers are applied onto that copy, their
 * whiteouts deleting. Mounts are bind mounts; committed snapshots and views are read-only.
 */
import { invalidArgument } from "../errors/index.js";
import { copyTree } from "./copy-tree.js";
import { DirSnapshotter, type DirSnapshotterOptions } from "./dir-snapshotter.js";
import type { SnapshotRow } from "./snapshot-table.js";
import type { Mount } from "./snapshotter.js";

export class NativeSnapshotter extends DirSnapshotter {
  readonly name = "native";
  readonly whiteouts = "apply" as const;
  /** why overlayfs was not used, when createSnapshotter fell back to this one */
  readonly fallbackReason: string | undefined;

  constructor(options: DirSnapshotterOptions & { fallbackReason?: string }) {
    super("native", options);
    this.fallbackReason = options.fallbackReason;
  }

  async prepare(key: string, parent?: string): Promise<Mount[]> {
    const row = this.create(key, "active", parent);
    if (parent !== undefined) {
      try {
        copyTree(this.dir(parent), this.fsOf(row));
      } catch (e) {
        await this.remove(key);
        throw e;
      }
    }
    return this.mounts(key);
  }

  /** a committed snapshot never changes: a view is a read-only bind mount of it, no copy */
  async view(key: string, parent: string): Promise<Mount[]> {
    this.create(key, "view", parent);
    return this.mounts(key);
  }

  mounts(key: string): Mount[] {
    const chain = this.table.chain(key);
    const row = chain[0] as SnapshotRow;
    if (row.kind === "active") return [{ type: "bind", source: this.fsOf(row), options: ["rbind", "rw"] }];
    const shown = row.kind === "view" ? (chain[1] as SnapshotRow) : row;
    return [{ type: "bind", source: this.fsOf(shown), options: ["rbind", "ro"] }];
  }

  override async commit(name: string, key: string, options: { parent?: string } = {}): Promise<void> {
    // a copy already holds its parent's tree: it cannot be re-parented
    if (options.parent !== undefined && options.parent !== this.stat(key)?.parent)
      throw invalidArgument(`commit snapshot "${key}" as "${name}": the native snapshotter cannot change a snapshot's parent`);
    await super.commit(name, key);
  }
}
