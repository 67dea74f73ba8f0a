import { alreadyExists, invalidArgument, notFound } from "../errors/index.js";
import { type Db, migrate } from "../images/index.js";
import type { ContainerConfig, ContainerState, HostConfig, PortMap } from "./container-types.js";

/** A network the container is attached to, as docker's NetworkSettings.Networks shows it. */
export interface EndpointSettings {
  NetworkID: string;
  IPAddress: string;
  IPPrefixLen: number;
  Gateway: string;
  MacAddress: string;
  Aliases: string[];
}

/** What berthd keeps of a container: docker's inspect fields, plus berth's own bookkeeping. */
export interface ContainerRecord {
  Id: string;
  /** docker's form: "/name" */
  Name: string;
  Created: string;
  /** the image as the request named it */
  Image: string;
  /** the image's config digest */
  ImageID: string;
  Config: ContainerConfig;
  HostConfig: HostConfig;
  State: ContainerState;
  RestartCount: number;
  /** the OCI runtime's name */
  Runtime: string;
  Networks: Record<string, EndpointSettings>;
  /** stopped by a user (stop, kill): `unless-stopped` and `always` leave it stopped until started */
  ManuallyStopped: boolean;
  HasBeenStarted: boolean;
  /** the socket of the shim that supervises it while it exists in the runtime */
  Shim?: string;
  /** the snapshotter that holds its rootfs */
  Driver: string;
  /** the named and anonymous volumes it mounts (known once it has started) */
  VolumeNames?: string[];
  /**
   * The ports published while it runs, as the network made them (a port the plugin chose for
   * HostPort "" or "0" included): docker's NetworkSettings.Ports. HostConfig.PortBindings
   * stays as requested.
   */
  NetworkPorts?: PortMap;
}

const NAME = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** Container records in the metadata database (one row per container, its record as JSON). */
export class ContainerStore {
  constructor(private readonly db: Db) {
    migrate(
      db,
      "daemon/containers/1",
      `CREATE TABLE containers (
         id TEXT PRIMARY KEY,
         name TEXT NOT NULL UNIQUE,
         record TEXT NOT NULL
       )`,
    );
  }

  static validName(name: string): string {
    if (!NAME.test(name)) throw invalidArgument(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    return name.startsWith("/") ? name : `/${name}`;
  }

  insert(rec: ContainerRecord): void {
    try {
      this.db.prepare("INSERT INTO containers (id, name, record) VALUES (?, ?, ?)").run(rec.Id, rec.Name, JSON.stringify(rec));
    } catch (e) {
      if (String((e as Error).message).includes("UNIQUE"))
        throw alreadyExists(
          `Conflict. The container name "${rec.Name}" is already in use by container "${this.byName(rec.Name)?.Id ?? "?"}". You have to remove (or rename) that container to be able to reuse that name.`,
        );
      throw e;
    }
  }

  update(rec: ContainerRecord): void {
    this.db.prepare("UPDATE containers SET name = ?, record = ? WHERE id = ?").run(rec.Name, JSON.stringify(rec), rec.Id);
  }

  delete(id: string): void {
    this.db.prepare("DELETE FROM containers WHERE id = ?").run(id);
  }

  list(): ContainerRecord[] {
    return (this.db.prepare("SELECT record FROM containers").all() as { record: string }[]).map((r) => JSON.parse(r.record));
  }

  private byName(name: string): ContainerRecord | undefined {
    const row = this.db.prepare("SELECT record FROM containers WHERE name = ?").get(name) as { record: string } | undefined;
    return row ? JSON.parse(row.record) : undefined;
  }

  /** docker's lookup: full ID, then exact name, then a unique ID prefix. */
  get(ref: string): ContainerRecord {
    const full = this.db.prepare("SELECT record FROM containers WHERE id = ?").get(ref) as { record: string } | undefined;
    if (full) return JSON.parse(full.record);
    const named = this.byName(ref.startsWith("/") ? ref : `/${ref}`);
    if (named) return named;
    if (/^[0-9a-f]+$/.test(ref)) {
      const rows = this.db.prepare("SELECT record FROM containers WHERE id >= ? AND id < ? LIMIT 2").all(ref, `${ref}g`) as {
        record: string;
      }[];
      if (rows.length === 1) return JSON.parse((rows[0] as { record: string }).record);
      if (rows.length > 1) throw invalidArgument(`multiple IDs found with provided prefix: ${ref}`);
    }
    throw notFound(`No such container: ${ref}`);
  }
}
