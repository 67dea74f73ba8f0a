import { failedPrecondition, invalidArgument, isKind, notFound } from "../errors/index.js";
import { formatReference, parseReference } from "../registry/index.js";
import { type ImageRecord, type ImageStore, isIdName } from "./image-store.js";

/**
 * The image a user means, as docker resolves it: a full or short (12+ hex) image ID, a name
 * (`busybox` = docker.io/library/busybox:latest), or a name with a digest (matched against
 * the pulled target and manifest digests of that repository).
 */
export function resolveImage(images: ImageStore, s: string): ImageRecord {
  const idLike = /^(sha256:)?[0-9a-f]{12,64}$/.test(s);
  // a name first, as docker: a repository called "cafebabe1234" is not an ID prefix
  let ref: ReturnType<typeof parseReference> | undefined;
  try {
    ref = parseReference(s);
  } catch (e) {
    if (!idLike && !isKind(e, "InvalidArgument")) throw e;
  }
  if (ref && !s.startsWith("sha256:")) {
    const direct = images.get(formatReference(ref));
    if (direct) return direct;
  }
  if (idLike) {
    const full = s.startsWith("sha256:") ? s : `sha256:${s}`;
    const exact = images.byConfig(full);
    if (exact[0]) return exact[0];
    const matches = images.byIdPrefix(s);
    const ids = new Set(matches.map((m) => m.config.digest));
    if (ids.size > 1) throw failedPrecondition(`image ID prefix ${s} is ambiguous (${ids.size} images match)`);
    if (matches[0]) return matches[0];
  }
  if (ref?.digest) {
    const digest = ref.digest;
    const repo = formatReference({ domain: ref.domain, path: ref.path });
    const m = images
      .list()
      .find((r) => !isIdName(r.name) && (r.target.digest === digest || r.manifest.digest === digest) && sameRepo(r.name, repo));
    if (m) return m;
  }
  throw notFound(`image ${s}: no such image`);
}

function sameRepo(name: string, repo: string): boolean {
  const p = parseReference(name);
  return formatReference({ domain: p.domain, path: p.path }) === repo;
}

/** A reference for naming an image (tag or import target): must not carry a digest. */
export function parseTagName(s: string): string {
  const ref = parseReference(s);
  if (ref.digest) throw invalidArgument(`"${s}": a tag cannot contain a digest`);
  return formatReference(ref);
}
