/**
 * What the overlayfs and copy snapshotters share: a row per snapshot in the metadata database
 * and a directory per row, `<data root>/snapshots/<id>/fs`, named by the row's numeric id.
 */
import { lstatSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { internal } from "../errors/index.js";
import type { Db } from "../images/db.js";
import type { WhiteoutMode } from "./apply-layer.js";
import type { LayerSnapshotter } from "./layer-snapshotter.js";
import { type SnapshotRow, SnapshotTable } from "./snapshot-table.js";
import type { Mount, SnapshotInfo, SnapshotKind } from "./snapshotter.js";

export interface DirSnapshotterOptions {
  /** the data root: snapshots live in `<root>/snapshots` */
  root: string;
  db: Db;
}

export abstract class DirSnapshotter implements LayerSnapshotter {
  abstract readonly name: string;
  abstract readonly whiteouts: WhiteoutMode;
  /** `<data root>/snapshots` */
  readonly root: string;
  protected readonly table: SnapshotTable;

  constructor(name: string, options: DirSnapshotterOptions) {
    this.root = join(options.root, "snapshots");
    mkdirSync(this.root, { recursive: true, mode: 0o700 });
    this.table = new SnapshotTable(options.db, name);
  }

  abstract prepare(key: string, parent?: string): Promise<Mount[]>;
  abstract view(key: string, parent: string): Promise<Mount[]>;
  abstract mounts(key: string): Mount[];

  stat(key: string): SnapshotInfo | undefined {
    const row = this.table.get(key);
    return row && this.table.info(row);
  }

  list(): SnapshotInfo[] {
    return this.table.list().map((r) => this.table.info(r));
  }

  protected home(row: SnapshotRow): string {
    return join(this.root, String(row.id));
  }

  protected fsOf(row: SnapshotRow): string {
    return join(this.home(row), "fs");
  }

  dir(key: string): string {
    return this.fsOf(this.table.chain(key)[0] as SnapshotRow);
  }

  parentDirs(key: string): string[] {
    return this.table
      .chain(key)
      .slice(1)
      .map((r) => this.fsOf(r));
  }

  /** a row and its directories (`fs`, and `extra` beside it); undone if making them fails */
  protected create(key: string, kind: SnapshotKind, parent: string | undefined, extra: string[] = []): SnapshotRow {
    const row = this.table.insert(key, kind, parent);
    const home = this.home(row);
    try {
      // ids are never reused (AUTOINCREMENT): a directory already there was left by a lost database
      rmSync(home, { recursive: true, force: true });
      mkdirSync(home, 0o700);
      mkdirSync(join(home, "fs"), 0o755);
      for (const d of extra) mkdirSync(join(home, d), 0o700);
    } catch (e) {
      this.table.delete(key);
      rmSync(home, { recursive: true, force: true });
      throw internal(`create the directories of snapshot "${key}" in ${home}`, e);
    }
    return row;
  }

  async commit(name: string, key: string, options: { parent?: string } = {}): Promise<void> {
    const row = this.table.get(key);
    const size = row ? diskUsage(this.fsOf(row)) : 0;
    this.table.commit(name, key, size, options.parent);
  }

  async sweep(): Promise<void> {
    let first: unknown;
    for (const name of readdirSync(this.root)) {
      // a home is made after its row and removed after it: one without a row (of either
      // snapshotter: they share the dir and the ids) is garbage
      if (!/^\d+$/.test(name) || this.table.getById(Number(name))) continue;
      const home = join(this.root, name);
      try {
        await rm(home, { recursive: true, force: true });
      } catch (e) {
        // the others are still tried
        first ??= internal(`remove the directory ${home} of a removed snapshot`, e);
      }
    }
    if (first !== undefined) throw first;
  }

  async remove(key: string): Promise<void> {
    const row = this.table.delete(key);
    const home = this.home(row);
    try {
      await rm(home, { recursive: true, force: true });
    } catch (e) {
      throw internal(`remove the directory ${home} of snapshot "${key}"`, e);
    }
  }
}

/** Bytes of disk a tree uses (du: allocated blocks, each hard-linked inode once). */
export function diskUsage(dir: string): number {
  const seen = new Set<number>();
  let total = 0;
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = lstatSync(p);
      if (st.nlink > 1 && !st.isDirectory()) {
        if (seen.has(st.ino)) continue;
        seen.add(st.ino);
      }
      total += st.blocks * 512;
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return total;
}
