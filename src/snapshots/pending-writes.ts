/**
 * One layer's file creations queued to run in the background, in tar order, keyed by the path
 * each creates. The applier checks entries in tar order on the main thread and queues a small
 * file's or a symlink's creation here, so that the tar and gunzip stream keep flowing while the
 * kernel makes the inode (most of an unpack's time on ext4). Anything that touches a path with a
 * creation queued or running (at it, above it or below it) waits for it first: `settle`.
 *
 * At most `running` creations are in the kernel at once (one directory's creations serialize on
 * its lock there anyway), on libuv's threadpool. The queue is bounded in entries and in bytes of
 * file data held.
 */

/**
 * A creation, begun when called; it calls `release` once its slow, kernel-bound part succeeded
 * (a creation that fails is released by the queue once its failure is recorded).
 */
export type Creation = (release: () => void) => Promise<void>;

interface Item {
  rel: string;
  size: number;
  seq: number;
  run: Creation;
  /** settles (never rejects) once the creation is done or has failed */
  done: Promise<void>;
  resolve: () => void;
}

export interface PendingWritesOptions {
  /** the most creations queued or running (default 32) */
  queued?: number;
  /** the most bytes of file data they may hold (default 64 MiB; one bigger entry is let in alone) */
  bytes?: number;
  /** the most creations running at once (default 8) */
  running?: number;
}

export class PendingWrites {
  /** queued and running, by path (one each: whoever adds a path settled it first) */
  private readonly items = new Map<string, Item>();
  private readonly waiting: Item[] = [];
  private readonly maxQueued: number;
  private readonly maxBytes: number;
  private readonly maxRunning: number;
  private running = 0;
  private bytes = 0;
  private seq = 0;
  /** who waits in `room` for a creation to finish */
  private wakers: (() => void)[] = [];
  /** the first failure in tar order: a later entry's error never hides an earlier one's */
  private failure: { seq: number; error: unknown } | undefined;

  constructor(options: PendingWritesOptions = {}) {
    this.maxQueued = options.queued ?? 32;
    this.maxBytes = options.bytes ?? 64 << 20;
    this.maxRunning = options.running ?? 8;
  }

  /** the error of a creation that failed, if one did */
  get failed(): unknown {
    return this.failure?.error;
  }

  /** until a creation holding `size` bytes may be queued */
  async room(size: number): Promise<void> {
    while (this.items.size > 0 && (this.items.size >= this.maxQueued || this.bytes + size > this.maxBytes))
      await new Promise<void>((resolve) => this.wakers.push(resolve));
  }

  /** Queue the creation of `rel`; the caller settled `rel` first. Failures show in `failed` and `drain`. */
  add(rel: string, size: number, run: Creation): void {
    let resolve = () => {};
    const done = new Promise<void>((r) => {
      resolve = r;
    });
    const item: Item = { rel, size, seq: this.seq++, run, done, resolve };
    this.items.set(rel, item);
    this.bytes += size;
    this.waiting.push(item);
    this.pump();
  }

  private pump(): void {
    while (this.running < this.maxRunning) {
      const item = this.waiting.shift();
      if (!item) return;
      this.running++;
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        this.running--;
        this.pump();
      };
      let p: Promise<void>;
      try {
        // after a failure the layer is lost: what is still queued is not made
        p = this.failure ? Promise.resolve() : item.run(release);
      } catch (e) {
        p = Promise.reject(e);
      }
      p.then(
        () => this.finished(item, release),
        (error: unknown) => {
          if (!this.failure || item.seq < this.failure.seq) this.failure = { seq: item.seq, error };
          this.finished(item, release);
        },
      );
    }
  }

  private finished(item: Item, release: () => void): void {
    release();
    if (this.items.get(item.rel) === item) this.items.delete(item.rel);
    this.bytes -= item.size;
    item.resolve();
    const wakers = this.wakers;
    this.wakers = [];
    for (const wake of wakers) wake();
  }

  /**
   * Until no creation is queued or running at `rel` or at a path above it (a parent that may be
   * a file or symlink), nor, with `below`, at a path under it (a directory about to go).
   */
  async settle(rel: string, below: boolean): Promise<void> {
    if (this.items.size === 0) return;
    const waits: Promise<void>[] = [];
    const under = `${rel}/`;
    for (const [p, item] of this.items) {
      if (p === rel || rel.startsWith(`${p}/`) || (below && (rel === "" || p.startsWith(under)))) waits.push(item.done);
    }
    if (waits.length > 0) await Promise.all(waits);
  }

  /** Until every creation is done; throws the first failure (in tar order) when one failed. */
  async drain(): Promise<void> {
    await this.quiesce();
    if (this.failure) throw this.failure.error;
  }

  /** Until every creation is done, throwing nothing: on the way out of a failed layer. */
  async quiesce(): Promise<void> {
    while (this.items.size > 0) await Promise.all([...this.items.values()].map((i) => i.done));
  }
}
