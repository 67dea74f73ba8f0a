/**
 * Content digests ("sha256:<64 hex>"), as the image-spec's descriptor.md defines them. Only the
 * registered algorithms are accepted, so a digest is always safe to use as a file name.
 */
import { createHash } from "node:crypto";
import { invalidArgument } from "../errors/index.js";

const hexLength: Record<string, number> = { sha256: 64, sha512: 128 };

/** Throws InvalidArgument unless `d` is "<alg>:<lowercase hex of the right length>". */
export function validateDigest(d: unknown, what = "digest"): string {
  if (typeof d !== "string") throw invalidArgument(`${what}: not a string`);
  const m = /^([a-z0-9]+):([a-f0-9]+)$/.exec(d);
  const len = m?.[1] ? hexLength[m[1]] : undefined;
  if (!m || len === undefined || m[2]?.length !== len)
    throw invalidArgument(`${what} "${d.slice(0, 140)}": not a sha256 or sha512 digest`);
  return d;
}

export function isDigest(d: unknown): d is string {
  try {
    validateDigest(d);
    return true;
  } catch {
    return false;
  }
}

/** "sha256:" + hex of the bytes. */
export function digestOf(data: Uint8Array | string, algorithm = "sha256"): string {
  return `${algorithm}:${createHash(algorithm).update(data).digest("hex")}`;
}

/** The algorithm and hex halves of a valid digest. */
export function splitDigest(d: string): { algorithm: string; hex: string } {
  validateDigest(d);
  const i = d.indexOf(":");
  return { algorithm: d.slice(0, i), hex: d.slice(i + 1) };
}

/** The chain IDs of a layer stack (image-spec config.md "Layer ChainID"). */
export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) {
    const prev = out[out.length - 1];
    out.push(prev === undefined ? d : digestOf(`${prev} ${d}`));
  }
  return out;
}
