/**
 * A streaming tar reader: ustar, GNU (long names "L"/"K", base-256 numbers) and PAX ("x"/"g"
 * records), as GNU tar, Go's archive/tar and libarchive write them. It never holds more than one
 * header in memory; each entry's data is a stream read straight from the input.
 */
import { Readable } from "node:stream";
import { invalidArgument, notImplemented } from "../../errors/index.js";
import {
  BLOCK,
  entryType,
  isHeaderOnly,
  isZeroBlock,
  padding,
  readNumber,
  readString,
  type TarHeader,
  verifyChecksum,
} from "./header.js";
import { parsePax, parsePaxInteger, parsePaxTime } from "./pax.js";

export interface TarEntry {
  header: TarHeader;
  /**
   * The entry's data (`header.size` bytes). Read it to the end or leave it: asking for the next
   * entry skips what is left and ends this stream.
   */
  body: Readable;
}

export interface TarReadOptions {
  /** the largest PAX header or GNU long name accepted (default 1 MiB): they are held in memory */
  maxMetadataBytes?: number;
}

/**
 * The entries of the tar archive in `input`, in order. Throws InvalidArgument on a bad header
 * checksum, a malformed field, or an archive that ends before its two zero blocks; anything after
 * those blocks is read and ignored, so the whole input is always consumed on success.
 */
export async function* readTar(
  input: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: TarReadOptions = {},
): AsyncGenerator<TarEntry, void, undefined> {
  const maxMeta = options.maxMetadataBytes ?? 1 << 20;
  const src = new Source(input);
  const global = new Map<string, Buffer>();
  let pax: Map<string, Buffer> | undefined;
  let longName: string | undefined;
  let longLink: string | undefined;
  let body: EntryBody | undefined;
  try {
    for (;;) {
      if (body) {
        await body.finish();
        body = undefined;
      }
      const at = src.position;
      const block = await src.readExact(BLOCK);
      if (!block) throw truncated(at, "before the end-of-archive blocks");
      if (isZeroBlock(block)) {
        const second = await src.readExact(BLOCK);
        if (!second) throw truncated(src.position, "after one end-of-archive block");
        if (!isZeroBlock(second)) throw invalidArgument(`read tar: a zero block at byte ${at} is followed by data`);
        await src.drain();
        return;
      }
      if (!verifyChecksum(block)) throw invalidArgument(`read tar: bad header checksum at byte ${at}`);
      const typeflag = String.fromCharCode(block[156] ?? 0);
      const size = readNumber(block, "size");
      const readMeta = async (what: string): Promise<Buffer> => {
        if (size > maxMeta)
          throw invalidArgument(`read tar: ${what} at byte ${at} is ${size} bytes, over the ${maxMeta} allowed`);
        const data = await src.readExact(size);
        if (!data && size > 0) throw truncated(src.position, `in the ${what} at byte ${at}`);
        await src.skipOrThrow(padding(size), () => truncated(src.position, `in the ${what} at byte ${at}`));
        return data ?? Buffer.alloc(0);
      };
      switch (typeflag) {
        case "x":
          pax = new Map([...(pax ?? []), ...parsePax(await readMeta("pax header"))]);
          continue;
        case "g":
          for (const [k, v] of parsePax(await readMeta("global pax header"))) {
            if (v.length === 0) global.delete(k);
            else global.set(k, v);
          }
          continue;
        case "L":
          longName = cString(await readMeta("GNU long name"));
          continue;
        case "K":
          longLink = cString(await readMeta("GNU long link name"));
          continue;
        case "S":
          throw notImplemented(`read tar: GNU sparse file at byte ${at} is not supported`);
      }
      const records = new Map(global);
      for (const [k, v] of pax ?? []) {
        // an empty value in an entry's own header removes a global one (pax "Extended Header Keywords")
        if (v.length === 0) records.delete(k);
        else records.set(k, v);
      }
      const header = decodeHeader(block, typeflag, records, longName, longLink, at);
      pax = undefined;
      longName = undefined;
      longLink = undefined;
      const dataSize = isHeaderOnly(header.type) ? 0 : header.size;
      body = new EntryBody(src, dataSize, at);
      yield { header, body };
    }
  } finally {
    body?.destroy();
    // stopped early (an error, or a consumer that broke off): let the input release what it holds
    await src.close();
  }
}

function truncated(at: number, where: string): Error {
  return invalidArgument(`read tar: archive truncated at byte ${at}, ${where}`);
}

function cString(b: Buffer): string {
  const nul = b.indexOf(0);
  return b.toString("utf8", 0, nul < 0 ? b.length : nul);
}

function decodeHeader(
  block: Buffer,
  typeflag: string,
  records: Map<string, Buffer>,
  longName: string | undefined,
  longLink: string | undefined,
  at: number,
): TarHeader {
  const magic = block.toString("latin1", 257, 263);
  let name = readString(block, "name");
  // only POSIX ustar has a prefix: GNU keeps atime and ctime in those bytes
  if (magic === "ustar\0") {
    const prefix = readString(block, "prefix");
    if (prefix !== "") name = `${prefix}/${name}`;
  }
  let type = entryType(typeflag);
  const h: TarHeader = {
    name,
    type,
    typeflag,
    mode: readNumber(block, "mode") & 0o7777,
    uid: readNumber(block, "uid"),
    gid: readNumber(block, "gid"),
    size: readNumber(block, "size"),
    mtime: readNumber(block, "mtime"),
    linkname: readString(block, "linkname"),
    uname: magic.startsWith("ustar") ? readString(block, "uname") : "",
    gname: magic.startsWith("ustar") ? readString(block, "gname") : "",
    devmajor: magic.startsWith("ustar") ? readNumber(block, "devmajor") : 0,
    devminor: magic.startsWith("ustar") ? readNumber(block, "devminor") : 0,
    xattrs: new Map(),
  };
  if (longName !== undefined) h.name = longName;
  if (longLink !== undefined) h.linkname = longLink;
  for (const [key, raw] of records) {
    const value = raw.toString("utf8");
    if (key === "path") h.name = value;
    else if (key === "linkpath") h.linkname = value;
    else if (key === "size") h.size = parsePaxInteger(value, key);
    else if (key === "uid") h.uid = parsePaxInteger(value, key);
    else if (key === "gid") h.gid = parsePaxInteger(value, key);
    else if (key === "uname") h.uname = value;
    else if (key === "gname") h.gname = value;
    else if (key === "mtime") h.mtime = parsePaxTime(value, key);
    else if (key.startsWith("SCHILY.xattr.")) h.xattrs.set(key.slice("SCHILY.xattr.".length), raw);
    else if (key.startsWith("LIBARCHIVE.xattr.")) {
      // libarchive: the name URL-encoded, the value base64
      let xname: string;
      try {
        xname = decodeURIComponent(key.slice("LIBARCHIVE.xattr.".length));
      } catch (e) {
        throw invalidArgument(`read tar: pax record ${JSON.stringify(key)} at byte ${at}: bad URL encoding`, e);
      }
      h.xattrs.set(xname, Buffer.from(value, "base64"));
    } else if (key.startsWith("GNU.sparse.")) throw notImplemented(`read tar: GNU sparse file at byte ${at} is not supported`);
  }
  if (h.size < 0) throw invalidArgument(`read tar: negative size in the header at byte ${at}`);
  if (h.uid < 0 || h.gid < 0) throw invalidArgument(`read tar: negative uid or gid in the header at byte ${at}`);
  // pre-POSIX archives mark directories by a trailing slash on a regular entry
  if (type === "file" && typeflag === "\0" && h.name.endsWith("/")) type = h.type = "directory";
  return h;
}

/** The input as exact reads: a header, a slice of data, the rest to drain. */
class Source {
  private readonly it: AsyncIterator<Uint8Array>;
  private buf: Buffer = Buffer.alloc(0);
  private ended = false;
  /** bytes handed out so far */
  position = 0;

  constructor(input: AsyncIterable<Uint8Array> | Iterable<Uint8Array>) {
    this.it =
      Symbol.asyncIterator in input
        ? input[Symbol.asyncIterator]()
        : (async function* () {
            yield* input;
          })();
  }

  /** the next non-empty chunk of the input, or null at its end */
  private async next(): Promise<Buffer | null> {
    while (!this.ended) {
      const r = await this.it.next();
      if (r.done) {
        this.ended = true;
        break;
      }
      const chunk = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
      if (chunk.length > 0) return chunk;
    }
    return null;
  }

  /** exactly `n` bytes; null when the input ended before the first of them; throws when it ends inside */
  async readExact(n: number): Promise<Buffer | null> {
    if (n === 0) return Buffer.alloc(0);
    if (this.buf.length < n) {
      // gather the chunks, then join once
      const parts = [this.buf];
      let have = this.buf.length;
      while (have < n) {
        const chunk = await this.next();
        if (!chunk) {
          this.buf = Buffer.concat(parts, have);
          if (have === 0) return null;
          throw truncated(this.position + have, `${n - have} bytes short`);
        }
        parts.push(chunk);
        have += chunk.length;
      }
      this.buf = Buffer.concat(parts, have);
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    this.position += n;
    return out;
  }

  /** up to `max` bytes as they come; null at the end of the input */
  async readSome(max: number): Promise<Buffer | null> {
    if (this.buf.length === 0) {
      const chunk = await this.next();
      if (!chunk) return null;
      this.buf = chunk;
    }
    const out = this.buf.subarray(0, Math.min(max, this.buf.length));
    this.buf = this.buf.subarray(out.length);
    this.position += out.length;
    return out;
  }

  async skipOrThrow(n: number, error: () => Error): Promise<void> {
    let left = n;
    while (left > 0) {
      const got = await this.readSome(left);
      if (!got) throw error();
      left -= got.length;
    }
  }

  /** end the input's iteration if it did not end by itself (a stream is destroyed by that) */
  async close(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    try {
      await this.it.return?.();
    } catch {
      // the input's own failure: the reader already has an error to report, or stopped on purpose
    }
  }

  async drain(): Promise<void> {
    while (await this.readSome(Number.MAX_SAFE_INTEGER));
  }
}

/** An entry's data: reads the source on demand; `finish` skips whatever the consumer left. */
class EntryBody extends Readable {
  private remaining: number;
  private reading: Promise<void> | undefined;
  private abandoned = false;

  constructor(
    private readonly src: Source,
    private readonly size: number,
    private readonly at: number,
  ) {
    super({ highWaterMark: 1 << 16 });
    this.remaining = size;
    if (size === 0) this.push(null);
  }

  override _read(): void {
    if (this.reading || this.abandoned || this.remaining === 0) return;
    this.reading = this.pump().finally(() => {
      this.reading = undefined;
    });
  }

  private async pump(): Promise<void> {
    try {
      const chunk = await this.src.readSome(Math.min(this.remaining, 1 << 20));
      if (!chunk) throw truncated(this.src.position, `in the data of the entry at byte ${this.at}`);
      this.remaining -= chunk.length;
      if (this.abandoned) return;
      this.push(chunk);
      if (this.remaining === 0) this.push(null);
    } catch (e) {
      if (!this.abandoned) this.destroy(e as Error);
      else throw e;
    }
  }

  /** stop reading for the consumer and skip the rest of the data and its padding */
  async finish(): Promise<void> {
    this.abandoned = true;
    if (this.reading) await this.reading;
    await this.src.skipOrThrow(this.remaining, () => truncated(this.src.position, `in the data of the entry at byte ${this.at}`));
    this.remaining = 0;
    await this.src.skipOrThrow(padding(this.size), () =>
      truncated(this.src.position, `in the padding of the entry at byte ${this.at}`),
    );
    if (!this.readableEnded) this.destroy();
  }
}
