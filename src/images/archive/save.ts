import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Readable } from "node:stream";
import type { ContentStore } from "../../content/index.js";
import { invalidArgument } from "../../errors/index.js";
import {
  type Descriptor,
  type ImageConfig,
  layerCompression,
  type Manifest,
  MediaType,
  parseImageConfig,
  parseManifest,
} from "../../oci/index.js";
import { familiarName, parseReference } from "../../registry/index.js";
import { decompressLayer } from "../decompress.js";
import { type ImageRecord, isIdName } from "../image-store.js";
import { TarWriter } from "../tar/index.js";

/** podman's names: an OCI layout as a tar or a directory, or docker's classic `docker save` tar. */
export type ArchiveFormat = "oci-archive" | "oci-dir" | "docker-archive";

interface Loaded {
  rec: ImageRecord;
  names: string[];
  manifest: Manifest;
  manifestBytes: Buffer;
  config: ImageConfig;
  configBytes: Buffer;
}

async function loadImages(content: ContentStore, images: { rec: ImageRecord; names: string[] }[]): Promise<Loaded[]> {
  const out: Loaded[] = [];
  for (const { rec, names } of images) {
    const manifestBytes = await content.read(rec.manifest.digest);
    const p = parseManifest(manifestBytes, rec.manifest.mediaType, `manifest of ${rec.name}`);
    if (p.kind !== "manifest") throw invalidArgument(`image ${rec.name}: ${rec.manifest.digest} is not a manifest`);
    const configBytes = await content.read(rec.config.digest);
    out.push({ rec, names, manifest: p.manifest, manifestBytes, config: parseImageConfig(configBytes), configBytes });
  }
  return out;
}

/** The OCI layout's index.json: one entry per name (tag in ref.name, full name for containerd). */
function layoutIndex(loaded: Loaded[]): Buffer {
  const manifests: Descriptor[] = [];
  for (const l of loaded) {
    const base: Descriptor = {
      mediaType: l.rec.manifest.mediaType,
      digest: l.rec.manifest.digest,
      size: l.rec.manifest.size,
      platform: {
        os: l.config.os,
        architecture: l.config.architecture,
        ...(l.config.variant ? { variant: l.config.variant } : {}),
      },
    };
    const named = l.names.filter((n) => !isIdName(n));
    if (named.length === 0) manifests.push(base);
    for (const n of named) {
      const ref = parseReference(n);
      manifests.push({
        ...base,
        annotations: { "io.containerd.image.name": n, "org.opencontainers.image.ref.name": ref.tag ?? ref.digest ?? "latest" },
      });
    }
  }
  return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests }));
}

const LAYOUT = Buffer.from(JSON.stringify({ imageLayoutVersion: "1.0.0" }));

function blobsOf(l: Loaded): Descriptor[] {
  return [{ ...l.rec.manifest }, l.manifest.config, ...l.manifest.layers];
}

/** An OCI image layout directory (`skopeo copy oci:DIR`). The directory must not exist or be empty. */
export async function saveOciDir(
  content: ContentStore,
  images: { rec: ImageRecord; names: string[] }[],
  dir: string,
): Promise<void> {
  const loaded = await loadImages(content, images);
  mkdirSync(join(dir, "blobs", "sha256"), { recursive: true });
  for (const l of loaded)
    for (const d of blobsOf(l)) {
      const dst = join(dir, "blobs", ...d.digest.split(":"));
      if (!existsSync(dst)) copyFileSync(content.path(d.digest), dst);
    }
  writeFileSync(join(dir, "oci-layout"), LAYOUT);
  writeFileSync(join(dir, "index.json"), layoutIndex(loaded));
}

/** The same layout as one tar stream (`oci-archive`). */
export function saveOciArchive(content: ContentStore, images: { rec: ImageRecord; names: string[] }[]): Readable {
  const w = new TarWriter();
  (async () => {
    const loaded = await loadImages(content, images);
    const now = Math.floor(Date.now() / 1000);
    await w.add({ name: "oci-layout", mode: 0o644, mtime: now }, LAYOUT);
    for (const dir of ["blobs/", "blobs/sha256/"]) await w.add({ name: dir, type: "directory", mode: 0o755, mtime: now });
    const seen = new Set<string>();
    for (const l of loaded)
      for (const d of blobsOf(l)) {
        if (seen.has(d.digest)) continue;
        seen.add(d.digest);
        await w.add(
          { name: `blobs/${d.digest.replace(":", "/")}`, mode: 0o644, size: d.size, mtime: now },
          content.reader(d.digest),
        );
      }
    await w.add({ name: "index.json", mode: 0o644, mtime: now }, layoutIndex(loaded));
    await w.finish();
  })().catch((e: Error) => w.abort(e));
  return w.stream;
}

/**
 * docker's classic `docker save` tar: manifest.json, the config as `<id>.json`, and each layer
 * uncompressed as `<diff id>/layer.tar` (what every docker and skopeo version loads).
 */
export function saveDockerArchive(content: ContentStore, images: { rec: ImageRecord; names: string[] }[]): Readable {
  const w = new TarWriter();
  (async () => {
    const loaded = await loadImages(content, images);
    const now = Math.floor(Date.now() / 1000);
    const manifest: { Config: string; RepoTags: string[]; Layers: string[] }[] = [];
    const repositories: Record<string, Record<string, string>> = {};
    const seen = new Set<string>();
    for (const l of loaded) {
      const id = l.rec.config.digest.replace(/^sha256:/, "");
      if (!seen.has(id)) {
        await w.add({ name: `${id}.json`, mode: 0o644, mtime: now }, l.configBytes);
        seen.add(id);
      }
      const layers: string[] = [];
      for (const [i, d] of l.manifest.layers.entries()) {
        const diffId = (l.config.rootfs.diff_ids[i] as string).replace(/^sha256:/, "");
        layers.push(`${diffId}/layer.tar`);
        if (seen.has(diffId)) continue;
        seen.add(diffId);
        const info = await uncompressedSize(content, d);
        await w.add({ name: `${diffId}/`, type: "directory", mode: 0o755, mtime: now });
        await w.add({ name: `${diffId}/VERSION`, mode: 0o644, mtime: now }, "1.0");
        await w.add(
          { name: `${diffId}/layer.tar`, mode: 0o644, size: info.size, mtime: now },
          layerBytes(content, d, info.diffId),
        );
      }
      const tags = l.names
        .filter((n) => !isIdName(n) && parseReference(n).tag !== undefined)
        .map((n) => familiarName(parseReference(n)));
      for (const t of tags) {
        const i = t.lastIndexOf(":");
        const repo = t.slice(0, i);
        repositories[repo] = { ...(repositories[repo] ?? {}), [t.slice(i + 1)]: id };
      }
      manifest.push({ Config: `${id}.json`, RepoTags: tags, Layers: layers });
    }
    await w.add({ name: "manifest.json", mode: 0o644, mtime: now }, JSON.stringify(manifest));
    await w.add({ name: "repositories", mode: 0o644, mtime: now }, JSON.stringify(repositories));
    await w.finish();
  })().catch((e: Error) => w.abort(e));
  return w.stream;
}

/** The size and digest of a layer's uncompressed tar (one decompression pass; the tar header needs the size first). */
async function uncompressedSize(content: ContentStore, d: Descriptor): Promise<{ size: number; diffId: string }> {
  const hash = createHash("sha256");
  let size = 0;
  for await (const c of decompressLayer(content.reader(d.digest), layerCompression(d.mediaType), `layer ${d.digest}`)) {
    hash.update(c as Buffer);
    size += (c as Buffer).length;
  }
  return { size, diffId: `sha256:${hash.digest("hex")}` };
}

async function* layerBytes(content: ContentStore, d: Descriptor, diffId: string): AsyncIterable<Uint8Array> {
  const hash = createHash("sha256");
  for await (const c of decompressLayer(content.reader(d.digest), layerCompression(d.mediaType), `layer ${d.digest}`)) {
    hash.update(c as Buffer);
    yield c as Buffer;
  }
  // the store's bytes changed between the two passes: never write a layer that lies about itself
  if (`sha256:${hash.digest("hex")}` !== diffId) throw invalidArgument(`layer ${d.digest}: content changed while saving`);
}
