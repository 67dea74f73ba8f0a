/**
 * The snapshots table of the metadata database: one row per snapshot, keyed by (snapshotter, key),
 * with a numeric id that names its directory (short, so that overlay option strings stay within a
 * page). Every change is one immediate transaction, so two processes sharing a data root see
 * each other's commits whole or not at all.
 */
// the db module itself, not images/index.ts: the snapshotter needs none of the pull machinery
import { type Db, migrate } from "../images/db.js";
import { alreadyExists, failedPrecondition, notFound } from "../errors/index.js";
import type { SnapshotInfo, SnapshotKind } from "./snapshotter.js";

export interface SnapshotRow {
  id: number;
  key: string;
  parentId: number | null;
  kind: SnapshotKind;
  created: string;
  size: number | null;
}

const schema = `
CREATE TABLE snapshots (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  snapshotter TEXT NOT NULL,
  key TEXT NOT NULL,
  parent_id INTEGER REFERENCES snapshots(id),
  kind TEXT NOT NULL CHECK (kind IN ('committed', 'active', 'view')),
  created TEXT NOT NULL,
  size INTEGER,
  UNIQUE (snapshotter, key)
);
CREATE INDEX snapshots_parent ON snapshots(parent_id);
`;

const columns = "id, key, parent_id AS parentId, kind, created, size";

export class SnapshotTable {
  constructor(
    private readonly db: Db,
    /** the snapshotter whose rows these are: overlayfs and native keep separate namespaces */
    private readonly snapshotter: string,
  ) {
    migrate(db, "snapshots/1", schema);
  }

  get(key: string): SnapshotRow | undefined {
    return this.db.prepare(`SELECT ${columns} FROM snapshots WHERE snapshotter = ? AND key = ?`).get(this.snapshotter, key) as
      | SnapshotRow
      | undefined;
  }

  getById(id: number): SnapshotRow | undefined {
    return this.db.prepare(`SELECT ${columns} FROM snapshots WHERE id = ?`).get(id) as SnapshotRow | undefined;
  }

  /** `key` and its parents, nearest first */
  chain(key: string): SnapshotRow[] {
    const out: SnapshotRow[] = [];
    for (let row = this.get(key); row; row = row.parentId === null ? undefined : this.getById(row.parentId)) {
      out.push(row);
      if (out.length > 10_000) throw failedPrecondition(`snapshot "${key}": parent chain loops`);
    }
    if (out.length === 0) throw notFound(`snapshot "${key}" does not exist`);
    return out;
  }

  /** a new row; the parent must be committed */
  insert(key: string, kind: SnapshotKind, parent: string | undefined): SnapshotRow {
    return this.db
      .transaction(() => {
        if (this.get(key)) throw alreadyExists(`snapshot "${key}" already exists`);
        let parentId: number | null = null;
        if (parent !== undefined) {
          const p = this.get(parent);
          if (!p) throw notFound(`parent snapshot "${parent}" of "${key}" does not exist`);
          if (p.kind !== "committed") throw failedPrecondition(`parent snapshot "${parent}" of "${key}" is not committed`);
          parentId = p.id;
        }
        const r = this.db
          .prepare("INSERT INTO snapshots (snapshotter, key, parent_id, kind, created) VALUES (?, ?, ?, ?, ?)")
          .run(this.snapshotter, key, parentId, kind, new Date().toISOString());
        return this.getById(Number(r.lastInsertRowid)) as SnapshotRow;
      })
      .immediate();
  }

  /**
   * Active `key` becomes committed `name` (AlreadyExists when another commit took that name
   * first). `parent`, when given, replaces its parent: a layer unpacked on its own before its
   * parents were committed.
   */
  commit(name: string, key: string, size: number, parent?: string): void {
    this.db
      .transaction(() => {
        const row = this.get(key);
        if (!row) throw notFound(`snapshot "${key}" does not exist`);
        if (row.kind !== "active") throw failedPrecondition(`snapshot "${key}" is ${row.kind}, not active`);
        if (this.get(name)) throw alreadyExists(`snapshot "${name}" already exists`);
        let parentId = row.parentId;
        if (parent !== undefined) {
          const p = this.get(parent);
          if (!p) throw notFound(`parent snapshot "${parent}" of "${name}" does not exist`);
          if (p.kind !== "committed") throw failedPrecondition(`parent snapshot "${parent}" of "${name}" is not committed`);
          parentId = p.id;
        }
        this.db
          .prepare("UPDATE snapshots SET key = ?, kind = 'committed', size = ?, parent_id = ? WHERE id = ?")
          .run(name, size, parentId, row.id);
      })
      .immediate();
  }

  /** delete the row of `key`; FailedPrecondition while snapshots have it as parent */
  delete(key: string): SnapshotRow {
    return this.db
      .transaction(() => {
        const row = this.get(key);
        if (!row) throw notFound(`snapshot "${key}" does not exist`);
        const child = this.db.prepare("SELECT key FROM snapshots WHERE parent_id = ? LIMIT 1").get(row.id) as
          | { key: string }
          | undefined;
        if (child) throw failedPrecondition(`remove snapshot "${key}": snapshot "${child.key}" has it as parent`);
        this.db.prepare("DELETE FROM snapshots WHERE id = ?").run(row.id);
        return row;
      })
      .immediate();
  }

  list(): SnapshotRow[] {
    return this.db
      .prepare(`SELECT ${columns} FROM snapshots WHERE snapshotter = ? ORDER BY id`)
      .all(this.snapshotter) as SnapshotRow[];
  }

  info(row: SnapshotRow): SnapshotInfo {
    const parent = row.parentId === null ? undefined : this.getById(row.parentId)?.key;
    return {
      key: row.key,
      kind: row.kind,
      created: row.created,
      ...(parent !== undefined ? { parent } : {}),
      ...(row.size !== null ? { size: row.size } : {}),
    };
  }
}
