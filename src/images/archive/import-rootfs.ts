import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import type { LocalContentStore } from "../../content/index.js";
import { type Descriptor, type ImageConfig, type Manifest, MediaType, type Platform } from "../../oci/index.js";
import { decompressLayer, detectCompression } from "../decompress.js";
import type { ArchivedImage } from "./load.js";

/**
 * `docker import`: a rootfs tar (plain, gzip or zstd) becomes a one-layer image. The tar is
 * stored as given; its diff ID is the digest of the uncompressed bytes.
 */
export async function importRootfs(
  content: LocalContentStore,
  input: Readable,
  opts: { platform: Platform; comment?: string; changes?: Partial<NonNullable<ImageConfig["config"]>> },
): Promise<ArchivedImage> {
  const blob = await content.putStream(input);
  let head: Buffer = Buffer.alloc(0);
  for await (const c of content.reader(blob.digest)) {
    head = (c as Buffer).subarray(0, 8);
    break;
  }
  const compression = detectCompression(head);
  const hash = createHash("sha256");
  for await (const c of decompressLayer(content.reader(blob.digest), compression, "imported tar")) hash.update(c as Buffer);
  const diffId = `sha256:${hash.digest("hex")}`;
  const created = new Date().toISOString();
  const config: ImageConfig = {
    created,
    architecture: opts.platform.architecture,
    os: opts.platform.os,
    ...(opts.platform.variant ? { variant: opts.platform.variant } : {}),
    config: { ...(opts.changes ?? {}) },
    rootfs: { type: "layers", diff_ids: [diffId] },
    history: [{ created, created_by: "berth image import", ...(opts.comment ? { comment: opts.comment } : {}) }],
  };
  const cfg = await content.put(Buffer.from(JSON.stringify(config)));
  const layerType =
    compression === "gzip" ? MediaType.OciLayerGzip : compression === "zstd" ? MediaType.OciLayerZstd : MediaType.OciLayer;
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: cfg.digest, size: cfg.size },
    layers: [{ mediaType: layerType, digest: blob.digest, size: blob.size }],
  };
  const m = await content.put(Buffer.from(JSON.stringify(manifest)));
  const desc: Descriptor = { mediaType: MediaType.OciManifest, digest: m.digest, size: m.size };
  return { names: [], target: desc, manifest: desc, config: manifest.config, platform: opts.platform };
}
