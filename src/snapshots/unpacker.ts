/**
 * The unpacker a pull feeds (images' LayerSink): each layer's bytes are decompressed, untarred
 * into a fresh active snapshot and checked against the diff ID of the image config as they
 * arrive. With overlayfs every layer has a directory of its own, so layers unpack in parallel
 * and `finish` commits them in chain order; with the copy snapshotter a layer is applied onto a
 * copy of its parent, so it waits for the parent's commit. A layer that fails leaves nothing:
 * its active snapshot goes, rows and directories. Two processes pulling the same image race
 * only at commit, one database transaction each: whoever commits a chain ID second drops its copy.
 */
import { processAlive } from "../native/index.js";
import { randomBytes } from "node:crypto";
import type { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, failedPrecondition, invalidArgument, isKind } from "../errors/index.js";
import type { LayerRef, LayerSink } from "../images/layer-sink.js";
import { layerCompression } from "../oci/index.js";
import { applyLayer, DEFAULT_MAX_LAYER_BYTES } from "./apply-layer.js";
import { decompressLayer } from "../images/index.js";
import { isLayerSnapshotter, type LayerSnapshotter } from "./layer-snapshotter.js";
import { type LayerLeftovers, settleLayer } from "./settle-layer.js";
import type { Snapshotter } from "./snapshotter.js";

export interface UnpackerOptions {
  /** a snapshotter from createSnapshotter (overlayfs or native) */
  snapshotter: Snapshotter;
  /** the most uncompressed bytes one layer may have (default 64 GiB): a decompression bomb stops there */
  maxBytes?: number;
}

/** Active snapshots of unpacks in flight are keyed `extract-<pid>-<random>-<chain ID>`. */
const EXTRACT = /^extract-(\d+)-/;

interface Unpacked extends LayerLeftovers {
  key: string;
}

export class Unpacker implements LayerSink {
  private readonly sn: LayerSnapshotter;
  private readonly maxBytes: number;
  /** overlayfs: layers unpacked and checked, waiting for `finish` to commit them (by chain ID) */
  private readonly unpacked = new Map<string, Unpacked>();
  /** copy snapshotter: layers whose unpack failed (by chain ID), so the layers above stop waiting */
  private readonly failed = new Map<string, unknown>();
  private wake: { promise: Promise<void>; resolve: () => void };
  private aborted: Error | undefined;
  private swept: Promise<void> | undefined;

  constructor(options: UnpackerOptions) {
    if (!isLayerSnapshotter(options.snapshotter))
      throw invalidArgument(`unpacker: snapshotter ${options.snapshotter.name} cannot unpack layers (use createSnapshotter's)`);
    this.sn = options.snapshotter;
    this.maxBytes = options.maxBytes ?? DEFAULT_MAX_LAYER_BYTES;
    this.wake = signal();
  }

  has(layer: LayerRef): boolean {
    return this.sn.stat(layer.chainId)?.kind === "committed";
  }

  async unpack(layer: LayerRef, body: Readable): Promise<void> {
    const what = `layer ${layer.descriptor.digest}`;
    let key: string | undefined;
    this.failed.delete(layer.chainId); // a retry of a layer that failed before
    try {
      await this.sweep();
      const compression = layerCompression(layer.descriptor.mediaType);
      const ordered = this.sn.whiteouts === "apply";
      if (ordered && layer.parentChainId !== undefined) await this.waitCommitted(layer.parentChainId, body, what);
      if (this.has(layer)) {
        // committed meanwhile (another pull): nothing to do but read what was promised
        for await (const _ of body);
        return;
      }
      key = `extract-${process.pid}-${randomBytes(6).toString("hex")}-${layer.chainId}`;
      await this.sn.prepare(key, ordered ? layer.parentChainId : undefined);
      const applied = await applyLayer(decompressLayer(body, compression, `unpack ${what}`), this.sn.dir(key), {
        whiteouts: this.sn.whiteouts,
        maxBytes: this.maxBytes,
        what,
      });
      if (applied.diffId !== layer.diffId)
        throw invalidArgument(`unpack ${what}: its content has diff ID ${applied.diffId}, the image config says ${layer.diffId}`);
      if (ordered) await this.commit(layer.chainId, key, undefined);
      else if (this.unpacked.has(layer.chainId))
        await this.removeQuietly(key); // fed twice: one copy is enough
      else this.unpacked.set(layer.chainId, { key, impliedDirs: applied.impliedDirs, whiteouts: applied.whiteouts });
    } catch (e) {
      body.destroy();
      if (key !== undefined) await this.removeQuietly(key);
      this.failed.set(layer.chainId, e);
      throw e;
    } finally {
      this.notify();
    }
  }

  async finish(layers: readonly LayerRef[]): Promise<string> {
    const sorted = [...layers].sort((a, b) => a.index - b.index);
    const top = sorted[sorted.length - 1];
    if (!top) throw invalidArgument("finish unpacking: no layers");
    try {
      for (const layer of sorted) {
        const u = this.unpacked.get(layer.chainId);
        if (!u) {
          if (!this.has(layer))
            throw failedPrecondition(
              `finish unpacking: layer ${layer.descriptor.digest} (chain ID ${layer.chainId}) was not unpacked`,
            );
          continue;
        }
        this.unpacked.delete(layer.chainId);
        if (this.has(layer)) {
          await this.removeQuietly(u.key);
          continue;
        }
        const parent = layer.parentChainId;
        const lowers = parent === undefined ? [] : [this.sn.dir(parent), ...this.sn.parentDirs(parent)];
        settleLayer(this.sn.dir(u.key), lowers, u);
        await this.commit(layer.chainId, u.key, parent);
      }
    } catch (e) {
      await this.abort();
      throw e;
    }
    return top.chainId;
  }

  /** Drop every unpacked, uncommitted layer and stop waiting ones (a pull that failed). */
  async abort(): Promise<void> {
    this.aborted ??= new Error("unpack aborted");
    for (const [chainId, u] of this.unpacked) {
      this.unpacked.delete(chainId);
      await this.removeQuietly(u.key);
    }
    this.notify();
  }

  /** commit, or, when another pull committed the chain ID first, drop ours */
  private async commit(chainId: string, key: string, parent: string | undefined): Promise<void> {
    try {
      await this.sn.commit(chainId, key, parent === undefined ? {} : { parent });
    } catch (e) {
      if (!isKind(e, "AlreadyExists")) throw e;
      await this.removeQuietly(key);
    }
  }

  private async removeQuietly(key: string): Promise<void> {
    try {
      await this.sn.remove(key);
    } catch (e) {
      if (!isKind(e, "NotFound")) process.emitWarning(`berth: remove snapshot ${key}: ${describe(e)}`);
    }
  }

  private notify(): void {
    const w = this.wake;
    this.wake = signal();
    w.resolve();
  }

  /** until `chainId` is committed (by this unpacker or another process); rejects when it cannot be */
  private async waitCommitted(chainId: string, body: Readable, what: string): Promise<void> {
    let gone: ((e: Error) => void) | undefined;
    const bodyGone = new Promise<never>((_, reject) => {
      gone = reject;
    });
    bodyGone.catch(() => {});
    const onError = (e: Error) => gone?.(e);
    const onClose = () => gone?.(new Error(`unpack ${what}: the layer's stream closed while it waited for its parent`));
    body.on("error", onError);
    body.on("close", onClose);
    try {
      for (;;) {
        if (this.sn.stat(chainId)?.kind === "committed") return;
        if (this.aborted) throw failedPrecondition(`unpack ${what}: aborted while waiting for its parent ${chainId}`);
        const failure = this.failed.get(chainId);
        if (failure !== undefined)
          throw failedPrecondition(`unpack ${what}: its parent layer ${chainId} failed to unpack`, failure);
        // another process's commit shows only in the database: look again now and then
        await Promise.race([this.wake.promise, sleep(200), bodyGone]);
      }
    } finally {
      body.off("error", onError);
      body.off("close", onClose);
    }
  }

  /** once: remove the active snapshots of unpacks whose process is gone */
  private sweep(): Promise<void> {
    this.swept ??= (async () => {
      for (const s of this.sn.list()) {
        const pid = Number(EXTRACT.exec(s.key)?.[1] ?? 0);
        if (s.kind !== "active" || pid === 0 || pid === process.pid || processAlive(pid)) continue;
        await this.removeQuietly(s.key);
      }
    })();
    return this.swept;
  }
}

function signal(): { promise: Promise<void>; resolve: () => void } {
  let resolve = () => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
