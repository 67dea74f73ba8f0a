/** A mount, as the OCI runtime spec writes one: type, source and options ("lowerdir=...", "ro"). */
export interface Mount {
  type: string;
  source: string;
  options: string[];
}

export type SnapshotKind = "committed" | "active" | "view";

export interface SnapshotInfo {
  /** a committed layer stack is keyed by its chain ID; active snapshots by any unique key */
  key: string;
  parent?: string;
  kind: SnapshotKind;
  /** bytes used by this snapshot's own directory (not its parents) */
  size?: number;
  created: string;
}

/**
 * Snapshots of layer stacks (containerd's Snapshotter): committed snapshots are read-only layers
 * keyed by chain ID; `prepare` gives a writable snapshot on top of one, `view` a read-only one.
 * Implementations return mounts and never mount anything themselves.
 */
export interface Snapshotter {
  readonly name: string;
  stat(key: string): SnapshotInfo | undefined;
  /** a new active snapshot over `parent`; its mounts give a writable rootfs */
  prepare(key: string, parent?: string): Promise<Mount[]>;
  /** a new read-only snapshot over `parent` */
  view(key: string, parent: string): Promise<Mount[]>;
  mounts(key: string): Mount[];
  /** turn active snapshot `key` into committed snapshot `name` */
  commit(name: string, key: string): Promise<void>;
  /**
   * FailedPrecondition while other snapshots have it as parent. The snapshot is gone from the
   * table at once; the promise settles when its files are gone too (`sweep` finishes the files
   * of a removal a crash interrupted).
   */
  remove(key: string): Promise<void>;
  list(): SnapshotInfo[];
  /** Removes the files of snapshots no longer in the table (a removal a killed process left half done). */
  sweep(): Promise<void>;
}
