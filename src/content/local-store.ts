import { createHash, type Hash, randomBytes } from "node:crypto";
import { closeSync, constants, fstatSync, mkdirSync, openSync, statSync } from "node:fs";
import { type FileHandle, open, readdir, rename, stat, truncate as truncateFile, unlink, readFile } from "node:fs/promises";
import { join } from "node:path";
import { createReadStream } from "node:fs";
import { Readable } from "node:stream";
import { errnoCode, internal, invalidArgument, notFound } from "../errors/index.js";
import { native, processAlive } from "../native/index.js";
import { digestOf, splitDigest, validateDigest } from "../oci/index.js";
import type { BlobInfo, ContentStore, Ingest } from "./store.js";

const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The content store on disk: `<root>/blobs/<alg>/<hex>` for verified blobs and
 * `<root>/ingest/` for bytes still being written. A writer holds flock(2) on
 * `ingest/<alg>-<hex>.lock`, so concurrent pulls of one blob (threads of one pull, or
 * two processes) write it once; the kernel drops the lock when a writer dies.
 */
export class LocalContentStore implements ContentStore {
  readonly root: string;

  constructor(root: string) {
    this.root = root;
    mkdirSync(join(root, "blobs", "sha256"), { recursive: true, mode: 0o700 });
    mkdirSync(join(root, "ingest"), { recursive: true, mode: 0o700 });
  }

  path(digest: string): string {
    const { algorithm, hex } = splitDigest(digest);
    return join(this.root, "blobs", algorithm, hex);
  }

  async info(digest: string): Promise<BlobInfo | undefined> {
    try {
      return { digest, size: (await stat(this.path(digest))).size };
    } catch (e) {
      if (errnoCode(e) === "ENOENT") return undefined;
      throw e;
    }
  }

  async read(digest: string): Promise<Buffer> {
    try {
      return await readFile(this.path(digest));
    } catch (e) {
      if (errnoCode(e) === "ENOENT") throw notFound(`content ${digest}: not in the store`);
      throw e;
    }
  }

  reader(digest: string, start = 0): Readable {
    const p = this.path(digest);
    try {
      statSync(p);
    } catch (e) {
      if (errnoCode(e) === "ENOENT") throw notFound(`content ${digest}: not in the store`);
      throw e;
    }
    return createReadStream(p, { start, highWaterMark: 1 << 20 });
  }

  async put(data: Uint8Array, expected?: string): Promise<BlobInfo> {
    const digest = digestOf(data, expected ? splitDigest(expected).algorithm : "sha256");
    if (expected !== undefined && digest !== expected)
      throw invalidArgument(`content ${expected}: the data has digest ${digest}`);
    const have = await this.info(digest);
    if (have) return have;
    await this.writeAtomically(digest, data);
    return { digest, size: data.length };
  }

  /** Store a stream whose digest is not known before its end (a layer.tar of a docker archive, an import). */
  async putStream(body: Readable, algorithm = "sha256"): Promise<BlobInfo> {
    const tmp = join(this.root, "ingest", `stream-${process.pid}-${randomBytes(6).toString("hex")}`);
    const fh = await open(tmp, "wx", 0o600);
    const hash = createHash(algorithm);
    let size = 0;
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        hash.update(chunk);
        size += chunk.length;
        await writeFully(fh, chunk);
      }
      await fh.sync();
    } catch (e) {
      await fh.close();
      await unlink(tmp).catch(() => {});
      throw e;
    }
    await fh.close();
    const digest = `${algorithm}:${hash.digest("hex")}`;
    mkdirSync(join(this.root, "blobs", algorithm), { recursive: true, mode: 0o700 });
    await rename(tmp, this.path(digest));
    return { digest, size };
  }

  async ingest(digest: string, size?: number): Promise<Ingest | undefined> {
    validateDigest(digest);
    if (await this.info(digest)) return undefined;
    const { algorithm, hex } = splitDigest(digest);
    const base = join(this.root, "ingest", `${algorithm}-${hex}`);
    const lockPath = `${base}.lock`;
    // take the lock on the file that is at lockPath now (a finished writer unlinks it)
    let lockFd = -1;
    for (let wait = 5; ; wait = Math.min(wait * 2, 100)) {
      lockFd = openSync(lockPath, constants.O_RDWR | constants.O_CREAT, 0o600);
      if (native().flock(lockFd, LOCK_EX | LOCK_NB)) {
        const held = fstatSync(lockFd);
        let current: { ino: number } | undefined;
        try {
          current = statSync(lockPath);
        } catch (e) {
          if (errnoCode(e) !== "ENOENT") throw e;
        }
        if (current?.ino === held.ino) break;
      }
      closeSync(lockFd);
      if (await this.info(digest)) return undefined;
      await sleep(wait);
    }
    if (await this.info(digest)) {
      await releaseLock(lockFd, lockPath);
      return undefined;
    }
    mkdirSync(join(this.root, "blobs", algorithm), { recursive: true, mode: 0o700 });
    try {
      return await OpenIngest.open(this, digest, algorithm, size, `${base}.data`, lockFd, lockPath);
    } catch (e) {
      await releaseLock(lockFd, lockPath);
      throw e;
    }
  }

  async delete(digest: string): Promise<void> {
    try {
      await unlink(this.path(digest));
    } catch (e) {
      if (errnoCode(e) !== "ENOENT") throw e;
    }
  }

  async list(): Promise<BlobInfo[]> {
    const out: BlobInfo[] = [];
    for (const alg of await readdir(join(this.root, "blobs"))) {
      for (const hex of await readdir(join(this.root, "blobs", alg))) {
        const digest = `${alg}:${hex}`;
        const info = await this.info(digest);
        if (info) out.push(info);
      }
    }
    return out;
  }

  /** Drop ingests nobody holds (left by killed writers), keeping none: a later pull starts over. */
  async pruneIngests(): Promise<number> {
    let n = 0;
    for (const name of await readdir(join(this.root, "ingest"))) {
      const p = join(this.root, "ingest", name);
      if (name.startsWith("stream-")) {
        const pid = Number(name.split("-")[1]);
        if (pid !== process.pid && !processAlive(pid)) {
          await unlink(p).catch(() => {});
          n++;
        }
        continue;
      }
      if (!name.endsWith(".lock")) continue;
      const fd = openSync(p, constants.O_RDWR);
      if (native().flock(fd, LOCK_EX | LOCK_NB)) {
        await unlink(p.replace(/\.lock$/, ".data")).catch(() => {});
        await releaseLock(fd, p);
        n++;
      } else closeSync(fd);
    }
    return n;
  }

  private async writeAtomically(digest: string, data: Uint8Array): Promise<void> {
    const { algorithm } = splitDigest(digest);
    mkdirSync(join(this.root, "blobs", algorithm), { recursive: true, mode: 0o700 });
    const tmp = join(this.root, "ingest", `stream-${process.pid}-${randomBytes(6).toString("hex")}`);
    const fh = await open(tmp, "wx", 0o600);
    try {
      await writeFully(fh, data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.path(digest));
  }
}

async function releaseLock(fd: number, path: string, unlinkIt = true): Promise<void> {
  // unlink before unlocking: a waiter that then locks the old inode sees it is stale
  if (unlinkIt) await unlink(path).catch(() => {});
  native().flock(fd, LOCK_UN);
  closeSync(fd);
}

async function writeFully(fh: FileHandle, data: Uint8Array): Promise<void> {
  for (let off = 0; off < data.length; ) {
    const { bytesWritten } = await fh.write(data, off, data.length - off);
    off += bytesWritten;
  }
}

class OpenIngest implements Ingest {
  readonly digest: string;
  private size: number | undefined;
  private fh: FileHandle;
  private hash: Hash;
  private written: number;
  private done = false;
  private released = false;

  private constructor(
    private readonly store: LocalContentStore,
    digest: string,
    private readonly algorithm: string,
    size: number | undefined,
    private readonly dataPath: string,
    private readonly lockFd: number,
    private readonly lockPath: string,
    fh: FileHandle,
    hash: Hash,
    written: number,
  ) {
    this.digest = digest;
    this.size = size;
    this.fh = fh;
    this.hash = hash;
    this.written = written;
  }

  static async open(
    store: LocalContentStore,
    digest: string,
    algorithm: string,
    size: number | undefined,
    dataPath: string,
    lockFd: number,
    lockPath: string,
  ): Promise<OpenIngest> {
    const fh = await open(dataPath, constants.O_RDWR | constants.O_CREAT, 0o600);
    let written = (await fh.stat()).size;
    // more bytes than the blob can have: the partial data is not this blob's, start over
    if (size !== undefined && written > size) {
      await fh.truncate(0);
      written = 0;
    }
    // the hash of what an earlier writer left, so the resumed stream verifies as a whole
    const hash = createHash(algorithm);
    if (written > 0) {
      for await (const chunk of createReadStream(dataPath, { start: 0, end: written - 1, highWaterMark: 1 << 20 }))
        hash.update(chunk as Buffer);
    }
    return new OpenIngest(store, digest, algorithm, size, dataPath, lockFd, lockPath, fh, hash, written);
  }

  get offset(): number {
    return this.written;
  }

  replay(): Readable {
    if (this.written === 0) return Readable.from([]);
    return createReadStream(this.dataPath, { start: 0, end: this.written - 1, highWaterMark: 1 << 20 });
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.done) throw internal(`ingest ${this.digest}: write after close`);
    if (this.size !== undefined && this.written + chunk.length > this.size)
      throw invalidArgument(`content ${this.digest}: more than the expected ${this.size} bytes`);
    let off = 0;
    while (off < chunk.length) {
      const { bytesWritten } = await this.fh.write(chunk, off, chunk.length - off, this.written + off);
      off += bytesWritten;
    }
    this.hash.update(chunk);
    this.written += chunk.length;
  }

  async truncate(offset: number): Promise<void> {
    if (offset === this.written) return;
    if (offset !== 0) throw internal(`ingest ${this.digest}: can only restart from 0, not ${offset}`);
    await this.fh.truncate(0);
    this.hash = createHash(this.algorithm);
    this.written = 0;
  }

  async commit(): Promise<BlobInfo> {
    if (this.done) throw internal(`ingest ${this.digest}: commit after close`);
    const actual = `${this.algorithm}:${this.hash.digest("hex")}`;
    if ((this.size !== undefined && this.written !== this.size) || actual !== this.digest) {
      const why =
        this.size !== undefined && this.written !== this.size
          ? `size ${this.written}, expected ${this.size}`
          : `digest ${actual}, expected ${this.digest}`;
      await this.abort();
      throw invalidArgument(`content ${this.digest}: verification failed: ${why}`);
    }
    await this.fh.sync();
    await this.fh.close();
    this.done = true;
    try {
      await rename(this.dataPath, this.store.path(this.digest));
    } finally {
      await this.release(true);
    }
    return { digest: this.digest, size: this.written };
  }

  /** Drop the lock exactly once (unlinking the lock file unless the partial data is kept). */
  private async release(unlinkIt: boolean): Promise<void> {
    if (this.released) return;
    this.released = true;
    await releaseLock(this.lockFd, this.lockPath, unlinkIt);
  }

  async close(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.fh.close();
    // keep the lock file: the partial data beside it is resumable
    await this.release(false);
  }

  async abort(): Promise<void> {
    if (this.released) return;
    if (!this.done) {
      this.done = true;
      await this.fh.close();
    }
    await truncateFile(this.dataPath, 0).catch(() => {});
    await unlink(this.dataPath).catch(() => {});
    await this.release(true);
  }
}
