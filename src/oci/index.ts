/** OCI spec types (runtime config and state, image manifest/index/config), digests, and their validation at the trust boundary. */
export * from "./runtime-spec.js";
export { validateProcess, validateSpec } from "./validate-spec.js";
export * from "./image-spec.js";
export { chainIds, digestOf, isDigest, splitDigest, validateDigest } from "./digest.js";
export {
  layerCompression,
  manifestMediaTypes,
  type ParsedManifest,
  parseImageConfig,
  parseManifest,
  validateDescriptor,
} from "./validate-image.js";
