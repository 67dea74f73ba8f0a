/**
 * The metadata database (SQLite through better-sqlite3, WAL): the single source of truth for
 * images, tags and snapshots, and later containers. Each module owns its tables and creates
 * them through `migrate`, so the layers below never learn the tables of the layers above.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { unavailable } from "../errors/index.js";

export type Db = Database.Database;

const open = new Map<string, Db>();

/** The database of a data root (`<root>/metadata.db`), opened once per process. */
export function openDatabase(dataRoot: string): Db {
  const path = join(dataRoot, "metadata.db");
  const had = open.get(path);
  if (had?.open) return had;
  mkdirSync(dataRoot, { recursive: true, mode: 0o711 });
  let db: Db;
  try {
    db = new Database(path, { timeout: 30_000 });
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    db.pragma("foreign_keys = ON");
  } catch (e) {
    throw unavailable(`open the metadata database ${path}`, e);
  }
  db.exec("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied TEXT NOT NULL)");
  open.set(path, db);
  return db;
}

/** Run `sql` once per database under the name `name` (a module's schema step, e.g. "images/1"). */
export function migrate(db: Db, name: string, sql: string): void {
  db.transaction(() => {
    if (db.prepare("SELECT 1 FROM migrations WHERE name = ?").get(name)) return;
    db.exec(sql);
    db.prepare("INSERT INTO migrations (name, applied) VALUES (?, ?)").run(name, new Date().toISOString());
  }).immediate();
}

/** Close every database this process opened (tests, and the CLI before it exits). */
export function closeDatabases(): void {
  for (const db of open.values()) if (db.open) db.close();
  open.clear();
}
