/**
 * Validation of registry and archive responses at the trust boundary: manifests, indexes and
 * image configs are parsed from bytes, checked, and handed inward typed.
 */
import { invalidArgument } from "../errors/index.js";
import { validateDigest } from "./digest.js";
import {
  type Descriptor,
  type ImageConfig,
  type Index,
  type LayerCompression,
  type Manifest,
  MediaType,
  type Platform,
} from "./image-spec.js";

type Json = Record<string, unknown>;

const isObj = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

function parse(bytes: Uint8Array | string, what: string): Json {
  let v: unknown;
  try {
    v = JSON.parse(typeof bytes === "string" ? bytes : Buffer.from(bytes).toString("utf8"));
  } catch (e) {
    throw invalidArgument(`${what}: not JSON`, e);
  }
  if (!isObj(v)) throw invalidArgument(`${what}: not a JSON object`);
  return v;
}

function stringMap(v: unknown, what: string): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObj(v) || Object.values(v).some((x) => typeof x !== "string")) throw invalidArgument(`${what}: not a map of strings`);
  return v as Record<string, string>;
}

function platform(v: unknown, what: string): Platform | undefined {
  if (v === undefined) return undefined;
  if (!isObj(v) || typeof v["architecture"] !== "string" || typeof v["os"] !== "string")
    throw invalidArgument(`${what}: platform needs "architecture" and "os" strings`);
  const p: Platform = { architecture: v["architecture"], os: v["os"] };
  if (typeof v["variant"] === "string") p.variant = v["variant"];
  if (typeof v["os.version"] === "string") p["os.version"] = v["os.version"];
  if (Array.isArray(v["os.features"])) p["os.features"] = v["os.features"].map(String);
  return p;
}

export function validateDescriptor(v: unknown, what: string): Descriptor {
  if (!isObj(v)) throw invalidArgument(`${what}: not an object`);
  if (typeof v["mediaType"] !== "string" || v["mediaType"] === "") throw invalidArgument(`${what}: "mediaType" missing`);
  const size = v["size"];
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0)
    throw invalidArgument(`${what}: "size" is not a size in bytes`);
  const d: Descriptor = { mediaType: v["mediaType"], digest: validateDigest(v["digest"], `${what}: "digest"`), size };
  if (Array.isArray(v["urls"])) d.urls = v["urls"].map(String);
  const ann = stringMap(v["annotations"], `${what}: "annotations"`);
  if (ann) d.annotations = ann;
  const p = platform(v["platform"], what);
  if (p) d.platform = p;
  if (typeof v["artifactType"] === "string") d.artifactType = v["artifactType"];
  return d;
}

export type ParsedManifest =
  | { kind: "manifest"; mediaType: string; manifest: Manifest }
  | { kind: "index"; mediaType: string; index: Index };

const manifestTypes: ReadonlySet<string> = new Set([MediaType.OciManifest, MediaType.DockerManifest]);
const indexTypes: ReadonlySet<string> = new Set([MediaType.OciIndex, MediaType.DockerManifestList]);

/** Media types a client lists in `Accept` for manifests, in order of preference. */
export const manifestMediaTypes: readonly string[] = [
  MediaType.OciIndex,
  MediaType.DockerManifestList,
  MediaType.OciManifest,
  MediaType.DockerManifest,
];

/**
 * Parse a manifest or index. `declared` is the media type the server or the referring
 * descriptor gave; the document's own mediaType must agree with it where both are present.
 */
export function parseManifest(bytes: Uint8Array | string, declared?: string, what = "manifest"): ParsedManifest {
  const v = parse(bytes, what);
  const own = typeof v["mediaType"] === "string" ? v["mediaType"] : undefined;
  const decl = declared?.split(";")[0]?.trim();
  if (decl === MediaType.DockerManifestV1 || decl === MediaType.DockerManifestV1Signed || v["schemaVersion"] === 1)
    throw invalidArgument(`${what}: Docker schema 1 manifests are not supported (push the image again with a current client)`);
  if (v["schemaVersion"] !== 2) throw invalidArgument(`${what}: schemaVersion ${JSON.stringify(v["schemaVersion"])} is not 2`);
  // the document's type wins over a generic declared one (application/json, octet-stream)
  const known = (t: string | undefined) => t !== undefined && (manifestTypes.has(t) || indexTypes.has(t));
  if (own !== undefined && known(decl) && own !== decl)
    throw invalidArgument(`${what}: declared as ${decl} but says it is ${own}`);
  let type = known(own) ? own : known(decl) ? decl : own;
  if (type === undefined)
    type = Array.isArray(v["manifests"]) ? MediaType.OciIndex : isObj(v["config"]) ? MediaType.OciManifest : undefined;
  if (type === undefined || !known(type))
    throw invalidArgument(`${what}: unsupported media type ${JSON.stringify(type ?? own ?? decl)}`);
  const annotations = stringMap(v["annotations"], `${what}: "annotations"`);
  const subject = v["subject"] === undefined ? undefined : validateDescriptor(v["subject"], `${what}: subject`);
  if (indexTypes.has(type)) {
    if (!Array.isArray(v["manifests"])) throw invalidArgument(`${what}: an index needs a "manifests" array`);
    const index: Index = {
      schemaVersion: 2,
      manifests: v["manifests"].map((m, i) => validateDescriptor(m, `${what}: manifests[${i}]`)),
    };
    if (own) index.mediaType = own;
    if (annotations) index.annotations = annotations;
    if (subject) index.subject = subject;
    if (typeof v["artifactType"] === "string") index.artifactType = v["artifactType"];
    return { kind: "index", mediaType: type, index };
  }
  if (!Array.isArray(v["layers"])) throw invalidArgument(`${what}: a manifest needs a "layers" array`);
  const manifest: Manifest = {
    schemaVersion: 2,
    config: validateDescriptor(v["config"], `${what}: config`),
    layers: v["layers"].map((l, i) => validateDescriptor(l, `${what}: layers[${i}]`)),
  };
  if (own) manifest.mediaType = own;
  if (annotations) manifest.annotations = annotations;
  if (subject) manifest.subject = subject;
  if (typeof v["artifactType"] === "string") manifest.artifactType = v["artifactType"];
  return { kind: "manifest", mediaType: type, manifest };
}

/** The compression of a layer descriptor, or an error for a type that is not a filesystem layer. */
export function layerCompression(mediaType: string): LayerCompression {
  switch (mediaType) {
    case MediaType.OciLayer:
    case MediaType.OciLayerNonDistributable:
    case "application/vnd.docker.image.rootfs.diff.tar":
      return "none";
    case MediaType.OciLayerGzip:
    case MediaType.OciLayerNonDistributableGzip:
    case MediaType.DockerLayerGzip:
    case MediaType.DockerLayerForeignGzip:
      return "gzip";
    case MediaType.OciLayerZstd:
    case MediaType.OciLayerNonDistributableZstd:
    case "application/vnd.docker.image.rootfs.diff.tar.zstd":
      return "zstd";
    default:
      throw invalidArgument(`layer media type ${JSON.stringify(mediaType)} is not a filesystem layer`);
  }
}

export function parseImageConfig(bytes: Uint8Array | string, what = "image config"): ImageConfig {
  const v = parse(bytes, what);
  if (typeof v["architecture"] !== "string" || typeof v["os"] !== "string")
    throw invalidArgument(`${what}: needs "architecture" and "os"`);
  const rootfs = v["rootfs"];
  if (!isObj(rootfs) || rootfs["type"] !== "layers" || !Array.isArray(rootfs["diff_ids"]))
    throw invalidArgument(`${what}: "rootfs" must be {"type":"layers","diff_ids":[...]}`);
  rootfs["diff_ids"].forEach((d, i) => validateDigest(d, `${what}: rootfs.diff_ids[${i}]`));
  const c = v["config"];
  if (c !== undefined && c !== null && !isObj(c)) throw invalidArgument(`${what}: "config" is not an object`);
  if (isObj(c)) {
    for (const k of ["Env", "Entrypoint", "Cmd"] as const) {
      const x = c[k];
      if (x !== undefined && x !== null && (!Array.isArray(x) || x.some((s) => typeof s !== "string")))
        throw invalidArgument(`${what}: config.${k} is not a list of strings`);
    }
    for (const k of ["User", "WorkingDir", "StopSignal"] as const) {
      if (c[k] !== undefined && typeof c[k] !== "string") throw invalidArgument(`${what}: config.${k} is not a string`);
    }
    stringMap(c["Labels"], `${what}: config.Labels`);
  }
  // keep every field (history, unknown keys) so the config's bytes and its parse agree
  return v as unknown as ImageConfig;
}
