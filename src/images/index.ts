/**
 * Images: the image records (name -> target, manifest, config) in the metadata database,
 * pulling from registries into the content store while a LayerSink unpacks, platform
 * selection, archives (OCI layout, docker-archive), import, and garbage collection of content.
 */
export { closeDatabases, type Db, migrate, openDatabase } from "./db.js";
export { collectContent, reachableContent, referencedChainIds } from "./gc.js";
export { type ImageRecord, ImageStore, isIdName } from "./image-store.js";
export type { LayerRef, LayerSink } from "./layer-sink.js";
export { formatPlatform, hostPlatform, normalizePlatform, parsePlatform, platformScore } from "./platform.js";
export { checkImage, layerRefs, type PullEvent, type PullOptions, pull, selectManifest } from "./pull.js";
export { parseTagName, resolveImage } from "./resolve-image.js";
export * from "./archive/index.js";
export { decompressLayer, detectCompression } from "./decompress.js";
