import { PassThrough, type Readable } from "node:stream";
import type { ContentStore, Ingest } from "../content/index.js";
import { describe, failedPrecondition, invalidArgument, notFound } from "../errors/index.js";
import {
  chainIds,
  type Descriptor,
  type ImageConfig,
  layerCompression,
  type Manifest,
  MediaType,
  type Platform,
  parseImageConfig,
  parseManifest,
} from "../oci/index.js";
import { formatReference, type Reference, type RegistryClient } from "../registry/index.js";
import type { ImageRecord, ImageStore } from "./image-store.js";
import type { LayerRef, LayerSink } from "./layer-sink.js";
import { formatPlatform, hostPlatform, platformScore } from "./platform.js";

/** What a pull reports as it goes (the CLI draws progress bars from these). */
export type PullEvent =
  | { type: "resolved"; ref: string; digest: string; mediaType: string }
  | {
      type: "layer";
      digest: string;
      size: number;
      status: "waiting" | "exists" | "downloading" | "verifying" | "done";
      current: number;
    }
  | { type: "unpacking" };

export interface PullOptions {
  client: RegistryClient;
  content: ContentStore;
  images: ImageStore;
  /** where layer bytes are unpacked as they arrive; without one, the pull only fetches content */
  sink?: LayerSink;
  platform?: Platform;
  /** layers downloaded at once (default 3, as docker's max-concurrent-downloads) */
  concurrency?: number;
  onEvent?: (e: PullEvent) => void;
  signal?: AbortSignal;
}

const configTypes: ReadonlySet<string> = new Set([MediaType.OciConfig, MediaType.DockerConfig]);

/** The manifest for `platform` out of an index: the best match, or NotFound naming what is there. */
export function selectManifest(index: readonly Descriptor[], platform: Platform, what: string): Descriptor {
  let best: Descriptor | undefined;
  let bestScore = 0;
  for (const d of index) {
    if (d.mediaType !== MediaType.OciManifest && d.mediaType !== MediaType.DockerManifest) continue;
    if (!d.platform) continue;
    const s = platformScore(platform, d.platform);
    if (s > bestScore) {
      best = d;
      bestScore = s;
    }
  }
  if (!best) {
    const have = index.filter((d) => d.platform).map((d) => formatPlatform(d.platform as Platform));
    throw notFound(
      `${what}: no image for ${formatPlatform(platform)} (the index has ${have.length ? have.join(", ") : "no platforms"})`,
    );
  }
  return best;
}

/** The image's manifest and config, checked: a manifest whose config is not an image config is refused. */
export function checkImage(manifest: Manifest, config: ImageConfig, what: string): void {
  const word = /^[a-z0-9][a-z0-9._-]{0,63}$/;
  if (!word.test(config.os) || !word.test(config.architecture) || (config.variant !== undefined && !word.test(config.variant)))
    throw invalidArgument(
      `${what}: the config's platform ${JSON.stringify([config.os, config.architecture, config.variant ?? ""])} is not valid`,
    );
  if (!configTypes.has(manifest.config.mediaType))
    throw invalidArgument(`${what}: not a container image (config media type ${manifest.config.mediaType})`);
  if (config.rootfs.diff_ids.length !== manifest.layers.length)
    throw invalidArgument(
      `${what}: the config lists ${config.rootfs.diff_ids.length} layers (diff_ids) but the manifest ${manifest.layers.length}`,
    );
  manifest.layers.forEach((l) => layerCompression(l.mediaType));
}

/** The layers of an image with their chain IDs, as a LayerSink wants them. */
export function layerRefs(manifest: Manifest, config: ImageConfig): LayerRef[] {
  const chains = chainIds(config.rootfs.diff_ids);
  return manifest.layers.map((descriptor, index) => {
    const r: LayerRef = { descriptor, diffId: config.rootfs.diff_ids[index] as string, chainId: chains[index] as string, index };
    if (index > 0) r.parentChainId = chains[index - 1] as string;
    return r;
  });
}

/**
 * Pull an image: resolve the reference to a manifest (through an index, for the wanted platform),
 * fetch config and layers into the content store (verified, resumable), stream each layer into the
 * sink as it arrives, and record the image only when everything is stored and unpacked — so a
 * failed or interrupted pull leaves no image, and a retry reuses what was verified.
 */
export async function pull(ref: Reference, opts: PullOptions): Promise<ImageRecord> {
  try {
    return await pullImage(ref, opts);
  } catch (e) {
    await opts.sink?.abort?.();
    throw e;
  }
}

async function pullImage(ref: Reference, opts: PullOptions): Promise<ImageRecord> {
  const name = formatReference(ref);
  const platform = opts.platform ?? hostPlatform();
  const emit = opts.onEvent ?? (() => {});
  const { client, content } = opts;

  const top = await client.getManifest(ref);
  emit({ type: "resolved", ref: name, digest: top.descriptor.digest, mediaType: top.descriptor.mediaType });
  let parsed = parseManifest(top.bytes, top.descriptor.mediaType, `manifest of ${name}`);
  await content.put(top.bytes, top.descriptor.digest);
  let manifestDesc = top.descriptor;
  if (parsed.kind === "index") {
    const chosen = selectManifest(parsed.index.manifests, platform, name);
    const child = await client.getManifest({ ...ref, digest: chosen.digest }, [chosen.mediaType]);
    if (child.descriptor.digest !== chosen.digest)
      throw invalidArgument(`${name}: manifest ${chosen.digest} came back as ${child.descriptor.digest}`);
    parsed = parseManifest(child.bytes, chosen.mediaType, `manifest ${chosen.digest} of ${name}`);
    if (parsed.kind !== "manifest")
      throw invalidArgument(`${name}: the index entry for ${formatPlatform(platform)} is itself an index`);
    await content.put(child.bytes, chosen.digest);
    manifestDesc = { mediaType: parsed.mediaType, digest: chosen.digest, size: child.bytes.length };
  }
  const manifest = parsed.manifest;
  if (!configTypes.has(manifest.config.mediaType))
    throw invalidArgument(`${name}: not a container image (config media type ${manifest.config.mediaType})`);
  const configBytes = (await content.info(manifest.config.digest))
    ? await content.read(manifest.config.digest)
    : await client.getBlob(ref, manifest.config);
  const config = parseImageConfig(configBytes, `config of ${name}`);
  checkImage(manifest, config, name);
  if (parsed.kind === "manifest" && top.descriptor.digest === manifestDesc.digest) {
    // a single-platform image: it must be for this platform (docker refuses a mismatch the same way)
    if (platformScore(platform, config) === 0 && opts.platform)
      throw notFound(`${name}: the image is for ${formatPlatform(config)}, not ${formatPlatform(platform)}`);
  }
  await content.put(configBytes, manifest.config.digest);

  const layers = layerRefs(manifest, config);
  for (const l of layers)
    emit({ type: "layer", digest: l.descriptor.digest, size: l.descriptor.size, status: "waiting", current: 0 });
  await runLimited(layers, opts.concurrency ?? 3, (l) => fetchLayer(ref, l, opts));
  let topChain: string | undefined;
  if (opts.sink && layers.length > 0) {
    emit({ type: "unpacking" });
    topChain = await opts.sink.finish(layers);
    const want = layers[layers.length - 1]?.chainId;
    if (want !== undefined && topChain !== want) throw failedPrecondition(`${name}: unpacked to ${topChain}, expected ${want}`);
  }
  const recName =
    ref.digest && !ref.tag ? name : ref.tag ? formatReference({ domain: ref.domain, path: ref.path, tag: ref.tag }) : name;
  return opts.images.put({
    name: recName,
    target: { mediaType: top.descriptor.mediaType, digest: top.descriptor.digest, size: top.descriptor.size },
    manifest: manifestDesc,
    config: { mediaType: manifest.config.mediaType, digest: manifest.config.digest, size: manifest.config.size },
    platform: { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) },
  });
}

/** Run `f` over `items`, at most `n` at a time; the first failure stops new starts and is thrown after the rest settle. */
async function runLimited<T>(items: readonly T[], n: number, f: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: unknown;
  const worker = async () => {
    while (failure === undefined && next < items.length) {
      const x = items[next++] as T;
      try {
        await f(x);
      } catch (e) {
        failure ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(n, items.length)) }, worker));
  if (failure !== undefined) throw failure;
}

async function fetchLayer(ref: Reference, layer: LayerRef, opts: PullOptions): Promise<void> {
  const { content, sink } = opts;
  const emit = opts.onEvent ?? (() => {});
  const d = layer.descriptor;
  const needUnpack = sink !== undefined && !sink.has(layer);
  if (await content.info(d.digest)) {
    emit({ type: "layer", digest: d.digest, size: d.size, status: "exists", current: d.size });
    if (needUnpack) await sink.unpack(layer, content.reader(d.digest));
    emit({ type: "layer", digest: d.digest, size: d.size, status: "done", current: d.size });
    return;
  }
  // one retry from scratch when a server ignored Range while bytes had already gone to the unpacker
  for (let attempt = 0; ; attempt++) {
    const ingest = await content.ingest(d.digest, d.size);
    if (!ingest) return fetchLayer(ref, layer, opts); // another writer committed it meanwhile
    try {
      await downloadInto(ref, layer, ingest, needUnpack ? sink : undefined, opts);
      emit({ type: "layer", digest: d.digest, size: d.size, status: "done", current: d.size });
      return;
    } catch (e) {
      if (e instanceof RangeIgnored && attempt === 0) continue;
      throw e;
    }
  }
}

class RangeIgnored extends Error {}

async function downloadInto(
  ref: Reference,
  layer: LayerRef,
  ingest: Ingest,
  sink: LayerSink | undefined,
  opts: PullOptions,
): Promise<void> {
  const d = layer.descriptor;
  const emit = opts.onEvent ?? (() => {});
  let body: PassThrough | undefined;
  let unpacked: Promise<void> | undefined;
  let fed = 0;
  if (sink) {
    body = new PassThrough({ highWaterMark: 1 << 20 });
    unpacked = sink.unpack(layer, body as Readable);
    // an unpack failure ends the download too; keep the rejection observed until awaited
    unpacked.catch(() => {});
  }
  const feed = async (chunk: Uint8Array) => {
    if (!body) return;
    fed += chunk.length;
    if (!body.write(chunk)) await waitDrain(body, unpacked);
  };
  try {
    if (ingest.offset > 0) for await (const c of ingest.replay()) await feed(c as Buffer);
    let current = ingest.offset;
    emit({ type: "layer", digest: d.digest, size: d.size, status: "downloading", current });
    await opts.client.copyBlob(
      ref,
      d,
      {
        get offset() {
          return ingest.offset;
        },
        write: async (chunk) => {
          await ingest.write(chunk);
          await feed(chunk);
          current += chunk.length;
          emit({ type: "layer", digest: d.digest, size: d.size, status: "downloading", current });
        },
        truncate: async (offset) => {
          if (offset < fed) throw new RangeIgnored(`${d.digest}: the registry ignored a Range request`);
          await ingest.truncate(offset);
        },
      },
      opts.signal ? { signal: opts.signal } : {},
    );
    emit({ type: "layer", digest: d.digest, size: d.size, status: "verifying", current: d.size });
    // the unpacker sees the end of the stream only after the digest is verified
    await ingest.commit();
  } catch (e) {
    body?.destroy(e instanceof Error ? e : new Error(describe(e)));
    await unpacked?.catch(() => {});
    if (e instanceof RangeIgnored) await ingest.abort();
    else await ingest.close();
    throw e;
  }
  if (body && unpacked) {
    body.end();
    await unpacked;
  }
}

function waitDrain(body: PassThrough, unpacked: Promise<void> | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = () => {
      body.off("drain", done);
      body.off("close", done);
      resolve();
    };
    body.on("drain", done);
    body.on("close", done);
    // an unpacker that failed stops reading: fail the download rather than wait forever
    unpacked?.then(
      () => {},
      (e) => {
        body.off("drain", done);
        body.off("close", done);
        reject(e);
      },
    );
  });
}
