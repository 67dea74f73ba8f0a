import type { Readable } from "node:stream";

/** What the store knows of a blob it holds. */
export interface BlobInfo {
  digest: string;
  size: number;
}

/**
 * An open ingest: bytes go to `ingest/<digest>` and only become a blob when `commit` has checked
 * their size and digest. A half-written ingest survives the process (a later pull resumes at
 * `offset`); while one writer holds it, any other writer of the same digest waits.
 */
export interface Ingest {
  readonly digest: string;
  /** bytes already written (by an earlier, interrupted writer, or by this one) */
  readonly offset: number;
  /** the bytes already in the ingest, from 0 to `offset` (to replay into an unpacker on resume) */
  replay(): Readable;
  write(chunk: Uint8Array): Promise<void>;
  /** drop the bytes written from `offset` on (a registry that ignored Range restarts at 0) */
  truncate(offset: number): Promise<void>;
  /** verify size and digest, rename into place; NotFound/InvalidArgument-free: throws InvalidArgument on mismatch and discards the ingest */
  commit(): Promise<BlobInfo>;
  /** release the lock, keeping the partial bytes for a later resume */
  close(): Promise<void>;
  /** release the lock and delete the partial bytes */
  abort(): Promise<void>;
}

/**
 * The content-addressed store (containerd's content.Store, cut down): blobs by digest under
 * `content/blobs/<alg>/<hex>`, never visible before their digest is checked.
 */
export interface ContentStore {
  readonly root: string;
  info(digest: string): Promise<BlobInfo | undefined>;
  /** the file of a committed blob (NotFound when absent) */
  path(digest: string): string;
  read(digest: string): Promise<Buffer>;
  reader(digest: string, start?: number): Readable;
  /**
   * Open an ingest for `digest` (size when known). Resolves `undefined` when the blob is already
   * committed (perhaps by the writer this call waited for).
   */
  ingest(digest: string, size?: number): Promise<Ingest | undefined>;
  /** write a whole small blob (manifests, configs) and return its info; verifies `expected` if given */
  put(data: Uint8Array, expected?: string): Promise<BlobInfo>;
  delete(digest: string): Promise<void>;
  list(): Promise<BlobInfo[]>;
}
