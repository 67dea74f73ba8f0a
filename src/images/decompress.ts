/**
 * A layer's bytes, uncompressed by its media type: gzip through node:zlib, zstd through fzstd
 * (Node 20's zlib has none), or as they are. Both decoders yield on demand, so a consumer that
 * stops (a decompression bomb over its limit) stops the decoding too.
 */
import type { Readable } from "node:stream";
import { pipeline } from "node:stream";
import { createGunzip } from "node:zlib";
import { Decompress } from "fzstd";
import { errnoCode, invalidArgument } from "../errors/index.js";
import type { LayerCompression } from "../oci/index.js";

/** zstd input goes to the decoder in slices this big: one slice decodes to at most ~32 MiB */
const ZSTD_SLICE = 1024;

export function decompressLayer(body: Readable, compression: LayerCompression, what: string): AsyncIterable<Uint8Array> {
  if (compression === "gzip") return gunzip(body, what);
  if (compression === "zstd") return unzstd(body, what);
  return body;
}

async function* gunzip(body: Readable, what: string): AsyncGenerator<Uint8Array> {
  const z = createGunzip({ chunkSize: 1 << 16 });
  // pipeline: an error of the body destroys z with it, and destroying z destroys the body
  pipeline(body, z, () => {});
  try {
    for await (const chunk of z) yield chunk as Buffer;
  } catch (e) {
    if (errnoCode(e)?.startsWith("Z_")) throw invalidArgument(`${what}: gzip data is corrupt or truncated`, e);
    throw e;
  } finally {
    z.destroy();
  }
}

async function* unzstd(body: Readable, what: string): AsyncGenerator<Uint8Array> {
  const out: Buffer[] = [];
  // fzstd may hand out views of its window, which it overwrites: copy
  const dec = new Decompress((chunk) => {
    if (chunk.length > 0) out.push(Buffer.from(chunk));
  });
  const push = (chunk: Uint8Array, final: boolean) => {
    try {
      dec.push(chunk, final);
    } catch (e) {
      throw invalidArgument(`${what}: zstd data is corrupt or truncated`, e);
    }
  };
  try {
    for await (const c of body) {
      const chunk = c as Buffer;
      for (let i = 0; i < chunk.length; i += ZSTD_SLICE) {
        push(chunk.subarray(i, i + ZSTD_SLICE), false);
        while (out.length > 0) yield out.shift() as Buffer;
      }
    }
    push(new Uint8Array(0), true);
    while (out.length > 0) yield out.shift() as Buffer;
  } finally {
    body.destroy();
  }
}

/** The compression of a layer from its first bytes (gzip 1f 8b, zstd 28 b5 2f fd), for archives that do not say. */
export function detectCompression(head: Uint8Array): LayerCompression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return "gzip";
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return "zstd";
  return "none";
}
