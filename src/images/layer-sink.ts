import type { Readable } from "node:stream";
import type { Descriptor } from "../oci/index.js";

/** One layer of an image being pulled, with where it sits in the stack. */
export interface LayerRef {
  descriptor: Descriptor;
  /** the uncompressed tar's digest, from the image config */
  diffId: string;
  chainId: string;
  /** the chain ID of the layers below; undefined for the base layer */
  parentChainId?: string;
  index: number;
}

/**
 * Where a pull sends each layer's bytes as they arrive (the snapshotter's unpacker), so that
 * download, digest check and untar run as one stream. Layers arrive in any order and in parallel;
 * the sink orders what must be ordered.
 */
export interface LayerSink {
  /** true when the stack up to this layer is already unpacked: the pull then need not feed it */
  has(layer: LayerRef): boolean;
  /**
   * Consume `body` (the layer's bytes as stored: compressed per its media type) to the end.
   * Rejects on a bad layer (diff ID mismatch, hostile entry, corrupt data); nothing of it may stay.
   */
  unpack(layer: LayerRef, body: Readable): Promise<void>;
  /** all layers were fed: finish (commit in chain order) and return the top chain ID */
  finish(layers: readonly LayerRef[]): Promise<string>;
  /** the pull failed: drop whatever was unpacked but not committed */
  abort?(): Promise<void>;
}
