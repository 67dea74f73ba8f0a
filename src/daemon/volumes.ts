import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { alreadyExists, failedPrecondition, invalidArgument, notFound } from "../errors/index.js";

/** docker's `Volume` object (local driver). */
export interface Volume {
  Name: string;
  Driver: "local";
  Mountpoint: string;
  CreatedAt: string;
  Labels: Record<string, string>;
  Scope: "local";
  Options: Record<string, string>;
  /** berth's own: made for one container's anonymous mount point */
  Anonymous?: boolean;
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/**
 * Named volumes, docker's local driver: `<data-root>/volumes/<name>/_data` plus a small
 * record beside it. Created on first use by a container or by `volume create`.
 */
export class VolumeStore {
  constructor(private readonly root: string) {}

  private dir(name: string): string {
    return join(this.root, name);
  }

  static validName(name: string): void {
    if (!NAME.test(name)) throw invalidArgument(`invalid volume name "${name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  }

  /** Create a volume (a random name when none), or fail if it exists and `exclusive`. */
  create(name?: string, opts: { labels?: Record<string, string>; anonymous?: boolean; exclusive?: boolean } = {}): Volume {
    const n = name || randomBytes(32).toString("hex");
    VolumeStore.validName(n);
    const existing = this.find(n);
    if (existing) {
      if (opts.exclusive) throw alreadyExists(`volume ${n} already exists`);
      return existing;
    }
    const d = this.dir(n);
    mkdirSync(join(d, "_data"), { recursive: true, mode: 0o755 });
    const v: Volume = {
      Name: n,
      Driver: "local",
      Mountpoint: join(d, "_data"),
      CreatedAt: new Date().toISOString(),
      Labels: opts.labels ?? {},
      Scope: "local",
      Options: {},
      ...(opts.anonymous ? { Anonymous: true } : {}),
    };
    writeFileSync(join(d, "volume.json.tmp"), JSON.stringify(v));
    renameSync(join(d, "volume.json.tmp"), join(d, "volume.json"));
    return v;
  }

  find(name: string): Volume | undefined {
    if (!NAME.test(name)) return undefined;
    const f = join(this.dir(name), "volume.json");
    if (!existsSync(f)) {
      // a directory another tool made: adopt it
      if (!existsSync(join(this.dir(name), "_data"))) return undefined;
      return {
        Name: name,
        Driver: "local",
        Mountpoint: join(this.dir(name), "_data"),
        CreatedAt: "",
        Labels: {},
        Scope: "local",
        Options: {},
      };
    }
    return JSON.parse(readFileSync(f, "utf8")) as Volume;
  }

  get(name: string): Volume {
    const v = this.find(name);
    if (!v) throw notFound(`get ${name}: no such volume`);
    return v;
  }

  list(): Volume[] {
    if (!existsSync(this.root)) return [];
    return readdirSync(this.root)
      .map((n) => this.find(n))
      .filter((v): v is Volume => v !== undefined);
  }

  /** Remove a volume; `inUseBy` names the containers using it (refused unless `force`... docker refuses even then). */
  remove(name: string, inUseBy: string[]): void {
    const v = this.get(name);
    if (inUseBy.length) throw failedPrecondition(`remove ${v.Name}: volume is in use - [${inUseBy.join(", ")}]`);
    rmSync(this.dir(v.Name), { recursive: true, force: true });
  }
}
