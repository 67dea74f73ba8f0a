import { alreadyExists, invalidArgument, notFound } from "../errors/index.js";
import { type Descriptor, type Platform, validateDescriptor } from "../oci/index.js";
import { type Db, migrate } from "./db.js";
import { formatPlatform, parsePlatform } from "./platform.js";

/**
 * An image as the store knows it: a name (a full reference, or the image ID for an image without
 * one) pointing at a target (an index or a manifest), and the manifest and config chosen from it
 * for this store's platform. The image ID is the config's digest, as docker's.
 */
export interface ImageRecord {
  name: string;
  target: Descriptor;
  manifest: Descriptor;
  config: Descriptor;
  platform: Platform;
  created: string;
  updated: string;
}

const schema = `
CREATE TABLE images (
  name TEXT PRIMARY KEY,
  target TEXT NOT NULL,
  manifest TEXT NOT NULL,
  config TEXT NOT NULL,
  config_digest TEXT NOT NULL,
  platform TEXT NOT NULL,
  created TEXT NOT NULL,
  updated TEXT NOT NULL
);
CREATE INDEX images_config_digest ON images (config_digest);
`;

interface Row {
  name: string;
  target: string;
  manifest: string;
  config: string;
  config_digest: string;
  platform: string;
  created: string;
  updated: string;
}

function fromRow(r: Row): ImageRecord {
  return {
    name: r.name,
    target: validateDescriptor(JSON.parse(r.target), `image ${r.name}: target`),
    manifest: validateDescriptor(JSON.parse(r.manifest), `image ${r.name}: manifest`),
    config: validateDescriptor(JSON.parse(r.config), `image ${r.name}: config`),
    platform: platformOf(r.platform),
    created: r.created,
    updated: r.updated,
  };
}

/** A stored platform; never throws, so one odd row cannot make the whole store unreadable. */
function platformOf(s: string): Platform {
  try {
    return parsePlatform(s);
  } catch {
    return { os: "unknown", architecture: "unknown" };
  }
}

/** Is this a name of an image without a reference (its ID)? */
export const isIdName = (name: string) => /^sha256:[0-9a-f]{64}$/.test(name);

/** The image records of a database (table `images`). */
export class ImageStore {
  constructor(private readonly db: Db) {
    migrate(db, "images/1", schema);
  }

  get(name: string): ImageRecord | undefined {
    const r = this.db.prepare("SELECT * FROM images WHERE name = ?").get(name) as Row | undefined;
    return r ? fromRow(r) : undefined;
  }

  list(): ImageRecord[] {
    return (this.db.prepare("SELECT * FROM images ORDER BY name").all() as Row[]).map(fromRow);
  }

  byConfig(configDigest: string): ImageRecord[] {
    return (this.db.prepare("SELECT * FROM images WHERE config_digest = ? ORDER BY name").all(configDigest) as Row[]).map(
      fromRow,
    );
  }

  /** Records with an ID starting with `prefix` (a short ID as docker prints: 12+ hex digits). */
  byIdPrefix(prefix: string): ImageRecord[] {
    const hex = prefix.replace(/^sha256:/, "");
    if (!/^[0-9a-f]{1,64}$/.test(hex)) return [];
    return (this.db.prepare("SELECT * FROM images WHERE config_digest LIKE ? ORDER BY name").all(`sha256:${hex}%`) as Row[]).map(
      fromRow,
    );
  }

  /**
   * Point `name` at an image (create or update). An image ID name is dropped once a real name
   * points at the same image, and never replaces one.
   */
  put(rec: Omit<ImageRecord, "created" | "updated">, opts: { exclusive?: boolean } = {}): ImageRecord {
    if (rec.name === "") throw invalidArgument("image name: empty");
    const now = new Date().toISOString();
    return this.db
      .transaction(() => {
        const had = this.get(rec.name);
        if (had && opts.exclusive) throw alreadyExists(`image ${rec.name}: already exists`);
        const created = had && had.config.digest === rec.config.digest ? had.created : now;
        // the name moves to another image: the old one stays, as docker's <none>:<none>, unless
        // another name still holds it (garbage collection and rmi by ID can reach it that way)
        if (had && had.config.digest !== rec.config.digest && !isIdName(rec.name)) {
          const others = this.db
            .prepare("SELECT COUNT(*) AS n FROM images WHERE config_digest = ? AND name != ?")
            .get(had.config.digest, rec.name) as {
            n: number;
          };
          if (others.n === 0)
            this.db
              .prepare(
                `INSERT OR IGNORE INTO images (name, target, manifest, config, config_digest, platform, created, updated)
                 SELECT config_digest, target, manifest, config, config_digest, platform, created, ? FROM images WHERE name = ?`,
              )
              .run(now, rec.name);
        }
        this.db
          .prepare(
            `INSERT INTO images (name, target, manifest, config, config_digest, platform, created, updated)
             VALUES (@name, @target, @manifest, @config, @config_digest, @platform, @created, @updated)
             ON CONFLICT (name) DO UPDATE SET target = @target, manifest = @manifest, config = @config,
               config_digest = @config_digest, platform = @platform, updated = @updated`,
          )
          .run({
            name: rec.name,
            target: JSON.stringify(rec.target),
            manifest: JSON.stringify(rec.manifest),
            config: JSON.stringify(rec.config),
            config_digest: rec.config.digest,
            platform: formatPlatform(rec.platform),
            created,
            updated: now,
          });
        if (!isIdName(rec.name)) this.db.prepare("DELETE FROM images WHERE name = ?").run(rec.config.digest);
        return { ...rec, created, updated: now };
      })
      .immediate();
  }

  delete(name: string): void {
    const r = this.db.prepare("DELETE FROM images WHERE name = ?").run(name);
    if (r.changes === 0) throw notFound(`image ${name}: no such image`);
  }

  /** Every digest an image record roots (targets, manifests, configs), for garbage collection. */
  rootDigests(): Set<string> {
    const out = new Set<string>();
    for (const r of this.list()) {
      out.add(r.target.digest);
      out.add(r.manifest.digest);
      out.add(r.config.digest);
    }
    return out;
  }
}
