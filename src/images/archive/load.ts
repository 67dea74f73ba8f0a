import { closeSync, constants, existsSync, fstatSync, openSync, readFileSync, statSync, createReadStream } from "node:fs";
import { join } from "node:path";
import type { Readable } from "node:stream";
import type { ContentStore } from "../../content/index.js";
import type { LocalContentStore } from "../../content/index.js";
import { invalidArgument, notFound } from "../../errors/index.js";
import {
  type Descriptor,
  isDigest,
  type Manifest,
  MediaType,
  type Platform,
  parseImageConfig,
  parseManifest,
  validateDigest,
} from "../../oci/index.js";
import { detectCompression } from "../decompress.js";
import { formatReference, parseReference } from "../../registry/index.js";
import { readTar } from "../tar/index.js";
import { checkImage } from "../pull.js";
import { platformScore } from "../platform.js";

/** An image found in an archive: the names it should get and its manifest, all blobs now in the store. */
export interface ArchivedImage {
  names: string[];
  target: Descriptor;
  manifest: Descriptor;
  config: Descriptor;
  platform: Platform;
}

const SMALL = 4 << 20;
/** all the JSON documents of one archive together (an archive of many small files cannot fill memory) */
const METADATA_LIMIT = 64 << 20;

/** A name from an archive: any valid reference (tag or digest), normalised. */
function archiveName(s: string): string {
  return formatReference(parseReference(s));
}

/**
 * A file of an OCI layout directory: opened without following a symlink, and it must be a
 * regular file of the expected size (a link to /dev/zero or a fifo must not hang or fill memory).
 */
function readLayoutFile(path: string, size: number | undefined, what: string): Buffer {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    throw invalidArgument(`${what}: cannot open ${path} (a symlink or missing)`, e);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw invalidArgument(`${what}: ${path} is not a regular file`);
    if (size !== undefined && st.size !== size)
      throw invalidArgument(`${what}: ${path} has ${st.size} bytes, the descriptor says ${size}`);
    if (size === undefined && st.size > SMALL) throw invalidArgument(`${what}: ${path} is too big (${st.size} bytes)`);
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Read an OCI layout (directory or tar) or a docker-archive tar into the content store: every
 * blob verified by its digest on the way in (blobs/<alg>/<hex>) or named by its digest
 * (docker's layer.tar files), then the images it describes, for `platform`.
 */
export async function loadArchive(content: ContentStore, input: string | Readable, platform: Platform): Promise<ArchivedImage[]> {
  const files = new Map<string, Buffer>();
  /** path in the archive -> digest of a big non-blob file (a docker layer.tar) stored by its bytes */
  const stored = new Map<string, string>();
  if (typeof input === "string" && statSync(input).isDirectory()) {
    if (!existsSync(join(input, "index.json"))) throw invalidArgument(`${input}: not an OCI image layout (no index.json)`);
    for (const f of ["index.json", "oci-layout"])
      if (existsSync(join(input, f))) files.set(f, readLayoutFile(join(input, f), undefined, f));
    return fromLayout(files, content, (d) => join(input, "blobs", ...d.split(":")));
  }
  const src = typeof input === "string" ? createReadStream(input) : input;
  const store = content as LocalContentStore;
  let metadataBytes = 0;
  for await (const e of readTar(src)) {
    if (e.header.type !== "file") {
      e.body.resume();
      continue;
    }
    const name = e.header.name.replace(/^\.\//, "");
    const m = /^blobs\/([a-z0-9]+)\/([a-f0-9]+)$/.exec(name);
    if (m && isDigest(`${m[1]}:${m[2]}`)) {
      const digest = `${m[1]}:${m[2]}`;
      const ingest = await content.ingest(digest, e.header.size);
      if (!ingest) {
        e.body.resume();
        continue;
      }
      try {
        await ingest.truncate(0);
        for await (const c of e.body) await ingest.write(c as Buffer);
        await ingest.commit();
      } catch (err) {
        // commit discards a mismatch itself; abort is a no-op after it
        await ingest.abort();
        throw invalidArgument(`archive entry ${name}`, err);
      }
      continue;
    }
    if (e.header.size <= SMALL && (name.endsWith(".json") || name === "oci-layout" || name === "repositories")) {
      metadataBytes += e.header.size;
      if (metadataBytes > METADATA_LIMIT) throw invalidArgument(`archive: more than ${METADATA_LIMIT} bytes of JSON documents`);
      const parts: Buffer[] = [];
      for await (const c of e.body) parts.push(c as Buffer);
      files.set(name, Buffer.concat(parts));
      continue;
    }
    if (name.endsWith("/layer.tar") || name.endsWith(".tar")) {
      stored.set(name, (await store.putStream(e.body)).digest);
      continue;
    }
    e.body.resume();
  }
  if (files.has("index.json") && !files.has("manifest.json")) return fromLayout(files, content, (d) => content.path(d));
  if (files.has("manifest.json")) return fromDockerArchive(files, stored, content, platform);
  throw invalidArgument("archive: neither an OCI layout (index.json) nor a docker archive (manifest.json)");

  async function fromLayout(
    meta: Map<string, Buffer>,
    store: ContentStore,
    pathOf: (digest: string) => string,
  ): Promise<ArchivedImage[]> {
    const index = parseManifest(meta.get("index.json") as Buffer, MediaType.OciIndex, "index.json");
    if (index.kind !== "index") throw invalidArgument("index.json: not an image index");
    const read = async (d: Descriptor): Promise<Buffer> => {
      if (await store.info(d.digest)) return store.read(d.digest);
      const p = pathOf(d.digest);
      if (!existsSync(p)) throw notFound(`archive: blob ${d.digest} is missing`);
      if (d.size > SMALL) throw invalidArgument(`archive: document ${d.digest} is too big (${d.size} bytes)`);
      const info = await (store as LocalContentStore).put(readLayoutFile(p, d.size, `blob ${d.digest}`), d.digest);
      return store.read(info.digest);
    };
    const copyBlob = async (d: Descriptor) => {
      if (await store.info(d.digest)) return;
      const p = pathOf(d.digest);
      if (!existsSync(p)) throw notFound(`archive: blob ${d.digest} is missing`);
      let fd: number;
      try {
        fd = openSync(p, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
      } catch (e) {
        throw invalidArgument(`archive: blob ${d.digest}: cannot open ${p} (a symlink or missing)`, e);
      }
      const st = fstatSync(fd);
      if (!st.isFile() || st.size !== d.size) {
        closeSync(fd);
        throw invalidArgument(`archive: blob ${d.digest}: ${p} is not a regular file of ${d.size} bytes`);
      }
      const ingest = await store.ingest(d.digest, d.size);
      if (!ingest) {
        closeSync(fd);
        return;
      }
      try {
        await ingest.truncate(0);
        for await (const c of createReadStream("", { fd, autoClose: true })) await ingest.write(c as Buffer);
        await ingest.commit();
      } catch (err) {
        // commit discards a mismatch itself; abort is a no-op after it
        await ingest.abort();
        throw err;
      }
    };
    const out: ArchivedImage[] = [];
    for (const [i, top] of index.index.manifests.entries()) {
      let manifestDesc = top;
      let parsed = parseManifest(await read(top), top.mediaType, `index.json: manifests[${i}]`);
      if (parsed.kind === "index") {
        const candidates = parsed.index.manifests.filter((m) => m.platform && platformScore(platform, m.platform) > 0);
        candidates.sort(
          (a, b) => platformScore(platform, b.platform as Platform) - platformScore(platform, a.platform as Platform),
        );
        const chosen = candidates[0];
        if (!chosen) continue;
        manifestDesc = chosen;
        parsed = parseManifest(await read(chosen), chosen.mediaType, `manifest ${chosen.digest}`);
        if (parsed.kind !== "manifest") continue;
      }
      const manifest = parsed.manifest;
      const config = parseImageConfig(await read(manifest.config), `config ${manifest.config.digest}`);
      checkImage(manifest, config, `manifest ${manifestDesc.digest}`);
      for (const l of manifest.layers) await copyBlob(l);
      const ann = top.annotations ?? {};
      const names: string[] = [];
      const full = ann["io.containerd.image.name"];
      const refName = ann["org.opencontainers.image.ref.name"];
      if (full) names.push(archiveName(full));
      else if (refName && /[/:]/.test(refName)) names.push(archiveName(refName));
      out.push({
        names,
        target: { mediaType: top.mediaType, digest: top.digest, size: top.size },
        manifest: { mediaType: parsed.mediaType, digest: manifestDesc.digest, size: manifestDesc.size },
        config: { mediaType: manifest.config.mediaType, digest: manifest.config.digest, size: manifest.config.size },
        platform: { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) },
      });
    }
    if (out.length === 0) throw notFound("archive: no image in it for this platform");
    return out;
  }
}

async function fromDockerArchive(
  files: Map<string, Buffer>,
  stored: Map<string, string>,
  content: ContentStore,
  _platform: Platform,
): Promise<ArchivedImage[]> {
  let list: unknown;
  try {
    list = JSON.parse((files.get("manifest.json") as Buffer).toString("utf8"));
  } catch (e) {
    throw invalidArgument("manifest.json: not JSON", e);
  }
  if (!Array.isArray(list)) throw invalidArgument("manifest.json: not a list");
  const out: ArchivedImage[] = [];
  for (const [i, item] of list.entries()) {
    const what = `manifest.json[${i}]`;
    const entry = item as { Config?: unknown; RepoTags?: unknown; Layers?: unknown };
    if (typeof entry.Config !== "string" || !Array.isArray(entry.Layers))
      throw invalidArgument(`${what}: needs "Config" and "Layers"`);
    const configBytes = await blobBytes(entry.Config);
    const config = parseImageConfig(configBytes, `${what}: config`);
    const cfg = await content.put(configBytes);
    const layers: Descriptor[] = [];
    for (const p of entry.Layers) {
      if (typeof p !== "string") throw invalidArgument(`${what}: "Layers" must be paths`);
      const digest = layerDigest(p);
      const info = await content.info(digest);
      if (!info) throw notFound(`${what}: layer ${p} is missing from the archive`);
      const head = await readHead(content, digest);
      const c = detectCompression(head);
      const mediaType =
        c === "gzip"
          ? MediaType.DockerLayerGzip
          : c === "zstd"
            ? MediaType.OciLayerZstd
            : "application/vnd.docker.image.rootfs.diff.tar";
      layers.push({ mediaType, digest, size: info.size });
    }
    const manifest: Manifest = {
      schemaVersion: 2,
      mediaType: MediaType.DockerManifest,
      config: { mediaType: MediaType.DockerConfig, digest: cfg.digest, size: cfg.size },
      layers,
    };
    checkImage(manifest, config, what);
    const bytes = Buffer.from(JSON.stringify(manifest));
    const m = await content.put(bytes);
    const desc = { mediaType: MediaType.DockerManifest, digest: m.digest, size: m.size };
    const tags = Array.isArray(entry.RepoTags) ? entry.RepoTags.filter((t): t is string => typeof t === "string") : [];
    out.push({
      names: tags.map(archiveName),
      target: desc,
      manifest: desc,
      config: manifest.config,
      platform: { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) },
    });
  }
  return out;

  async function blobBytes(path: string): Promise<Buffer> {
    const b = files.get(path);
    if (b) return b;
    // docker 25+ archives are OCI layouts too: their blobs went to the store, verified
    const m = /^blobs\/([a-z0-9]+)\/([a-f0-9]+)$/.exec(path);
    if (m && (await content.info(`${m[1]}:${m[2]}`))) return content.read(`${m[1]}:${m[2]}`);
    throw notFound(`manifest.json: ${path} is missing from the archive`);
  }

  function layerDigest(path: string): string {
    const m = /^blobs\/([a-z0-9]+)\/([a-f0-9]+)$/.exec(path);
    if (m) return validateDigest(`${m[1]}:${m[2]}`, path);
    const d = stored.get(path);
    if (!d) throw notFound(`manifest.json: ${path} is missing from the archive`);
    return d;
  }
}

async function readHead(content: ContentStore, digest: string): Promise<Buffer> {
  for await (const c of content.reader(digest)) return (c as Buffer).subarray(0, 8);
  return Buffer.alloc(0);
}
