import type { ContentStore } from "../content/index.js";
import { chainIds, parseImageConfig, parseManifest } from "../oci/index.js";
import type { ImageStore } from "./image-store.js";

/** Every blob the image records reach: targets, index children held locally, manifests, configs, layers. */
export async function reachableContent(
  images: ImageStore,
  content: ContentStore,
  extraRoots: Iterable<string> = [],
): Promise<Set<string>> {
  const seen = new Set<string>();
  const queue = [...images.rootDigests(), ...extraRoots];
  while (queue.length > 0) {
    const d = queue.pop() as string;
    if (seen.has(d)) continue;
    seen.add(d);
    const info = await content.info(d);
    // only small JSON documents can refer to other blobs
    if (!info || info.size > 4 << 20) continue;
    let parsed: ReturnType<typeof parseManifest> | undefined;
    try {
      parsed = parseManifest(await content.read(d), undefined, d);
    } catch {
      // not a manifest or index (a config or a layer): a leaf
      continue;
    }
    if (parsed.kind === "index") for (const m of parsed.index.manifests) queue.push(m.digest);
    else {
      queue.push(parsed.manifest.config.digest);
      for (const l of parsed.manifest.layers) queue.push(l.digest);
    }
  }
  return seen;
}

/** The chain IDs of every image's layer stack (the snapshots garbage collection must keep). */
export async function referencedChainIds(images: ImageStore, content: ContentStore): Promise<Set<string>> {
  const out = new Set<string>();
  for (const rec of images.list()) {
    if (!(await content.info(rec.config.digest))) continue;
    const config = parseImageConfig(await content.read(rec.config.digest), `config of ${rec.name}`);
    for (const c of chainIds(config.rootfs.diff_ids)) out.add(c);
  }
  return out;
}

/** Delete every blob no image reaches; returns what went and how many bytes it freed. */
export async function collectContent(
  images: ImageStore,
  content: ContentStore,
  extraRoots: Iterable<string> = [],
): Promise<{ removed: string[]; bytes: number }> {
  const keep = await reachableContent(images, content, extraRoots);
  const removed: string[] = [];
  let bytes = 0;
  for (const b of await content.list()) {
    if (keep.has(b.digest)) continue;
    await content.delete(b.digest);
    removed.push(b.digest);
    bytes += b.size;
  }
  return { removed, bytes };
}
