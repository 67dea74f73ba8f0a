import { type FileHandle, open, readdir, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { errnoCode } from "../errors/index.js";

/** One line of docker's json-file log driver. */
export interface LogEntry {
  log: string;
  stream: "stdout" | "stderr";
  time: string;
}

export interface LogOptions {
  stdout: boolean;
  stderr: boolean;
  /** the last N entries of the selected streams ("all" = undefined) */
  tail?: number;
  /** RFC 3339 time or unix seconds (fractions allowed): entries at or after it */
  since?: string;
  /** entries at or before it; a follow ends once the clock passes it */
  until?: string;
  follow?: boolean;
  /** how often a follow looks for new output (default 100 ms) */
  pollMs?: number;
}

/** Parse docker's `--since`/`--until`: unix seconds (with fractions) or an RFC 3339 time; as ns. */
export function parseLogTime(v: string | undefined): bigint | undefined {
  if (v === undefined || v === "" || v === "0") return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) {
    const [s, frac = ""] = v.split(".");
    return BigInt(s as string) * 1_000_000_000n + BigInt(frac.padEnd(9, "0").slice(0, 9) || "0");
  }
  const ms = Date.parse(v);
  if (Number.isNaN(ms)) throw new Error(`invalid time ${JSON.stringify(v)}: want unix seconds or RFC 3339`);
  const nanos = /\.(\d+)/.exec(v)?.[1]?.padEnd(9, "0").slice(0, 9);
  return nanos ? (BigInt(ms) / 1000n) * 1_000_000_000n + BigInt(nanos) : BigInt(ms) * 1_000_000n;
}

/** One json-file line as an entry; undefined for what is not one (a line torn by a killed writer). */
export function parseLogLine(line: string): LogEntry | undefined {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null) return undefined;
  const e = v as Partial<LogEntry>;
  if (typeof e.log !== "string" || (e.stream !== "stdout" && e.stream !== "stderr") || typeof e.time !== "string")
    return undefined;
  return { log: e.log, stream: e.stream, time: e.time };
}

/** The filter of a read: streams and the since/until window (ns). */
export interface LogFilter {
  stdout: boolean;
  stderr: boolean;
  since?: bigint | undefined;
  until?: bigint | undefined;
}

export function logFilter(o: LogOptions): LogFilter {
  return { stdout: o.stdout, stderr: o.stderr, since: parseLogTime(o.since), until: parseLogTime(o.until) };
}

export function wanted(e: LogEntry, f: LogFilter): boolean {
  if (e.stream === "stdout" ? !f.stdout : !f.stderr) return false;
  if (f.since !== undefined || f.until !== undefined) {
    const t = parseLogTime(e.time) ?? 0n;
    if (f.since !== undefined && t < f.since) return false;
    if (f.until !== undefined && t > f.until) return false;
  }
  return true;
}

/** The rotated generation of `name` in a log named `base` (base.1 = 1), 0 for the live file, -1 for others. */
export function generation(name: string, base: string): number {
  if (name === base) return 0;
  if (!name.startsWith(`${base}.`)) return -1;
  const n = name.slice(base.length + 1);
  return /^[1-9]\d*$/.test(n) ? Number(n) : -1;
}

/** A log file by name and the inode it had when listed. */
interface Named {
  name: string;
  ino: number;
}

const CHUNK = 64 * 1024;
/** attempts at a consistent view of files that a writer may be rotating under us */
const ATTEMPTS = 20;

/**
 * The files of a log, oldest first (path.N ... path.1, path), with their inodes. The shim rotates
 * by renaming one file after another, so a listing is taken until two in a row agree: a rotation
 * in progress shows as a difference, never as a file seen twice or skipped.
 */
async function listChain(path: string): Promise<Named[]> {
  let prev: Named[] | undefined;
  for (let i = 0; i < ATTEMPTS; i++) {
    const now = await listOnce(path);
    if (prev && sameChain(prev, now)) return now;
    prev = now;
  }
  return prev ?? [];
}

async function listOnce(path: string): Promise<Named[]> {
  const dir = dirname(path);
  const base = basename(path);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    // the container (and its log directory) was removed
    if (errnoCode(e) === "ENOENT") return [];
    throw e;
  }
  const gens = names
    .map((n) => ({ n, g: generation(n, base) }))
    .filter((x) => x.g >= 0)
    .sort((a, b) => b.g - a.g);
  const out: Named[] = [];
  for (const { n } of gens) {
    try {
      out.push({ name: n, ino: (await stat(join(dir, n))).ino });
    } catch (e) {
      // renamed away by a rotation between readdir and stat: the next listing differs
      if (errnoCode(e) !== "ENOENT") throw e;
    }
  }
  return out;
}

function sameChain(a: Named[], b: Named[]): boolean {
  return a.length === b.length && a.every((x, i) => x.name === b[i]?.name && x.ino === b[i]?.ino);
}

/** An open log file and how far it has been read. */
class LogFile {
  /** the next byte to read */
  pos = 0;
  /** bytes of a line whose newline has not been read yet */
  private rest: Buffer | undefined;

  constructor(
    readonly fh: FileHandle,
    readonly ino: number,
    /** its size when opened */
    readonly size: number,
  ) {}

  /**
   * Read from `pos` to `end` (default: the end of the file, as it grows) and hand over every
   * complete line; an unterminated last line waits for the rest of it. A file that shrank
   * below `pos` was truncated (max-file 1): it is read again from its start.
   */
  async readLines(onLine: (line: Buffer) => Promise<void> | void, end?: number): Promise<void> {
    if (end === undefined && (await this.fh.stat()).size < this.pos) {
      this.pos = 0;
      this.rest = undefined;
    }
    const buf = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      const want = end === undefined ? CHUNK : Math.min(CHUNK, end - this.pos);
      if (want <= 0) return;
      const { bytesRead } = await this.fh.read(buf, 0, want, this.pos);
      if (bytesRead === 0) return;
      this.pos += bytesRead;
      const data = this.rest ? Buffer.concat([this.rest, buf.subarray(0, bytesRead)]) : buf.subarray(0, bytesRead);
      let start = 0;
      for (let nl = data.indexOf(10); nl >= 0; nl = data.indexOf(10, start)) {
        const r = onLine(data.subarray(start, nl));
        if (r) await r;
        start = nl + 1;
      }
      // a copy: `buf` is reused by the next read
      this.rest = start < data.length ? Buffer.from(data.subarray(start)) : undefined;
    }
  }

  /**
   * The complete lines before `end`, newest first, until `onLine` returns false; `pos` is left at
   * the end of the last complete line, where a follow continues.
   */
  async readLinesBackward(end: number, onLine: (line: Buffer) => boolean): Promise<void> {
    let pos = end;
    let buf = Buffer.alloc(0);
    let cut = false;
    while (pos > 0 || buf.length > 0) {
      if (pos > 0) {
        const len = Math.min(CHUNK, pos);
        const chunk = Buffer.allocUnsafe(len);
        let got = 0;
        while (got < len) {
          const { bytesRead } = await this.fh.read(chunk, got, len - got, pos - len + got);
          if (bytesRead === 0) {
            // truncated under us (max-file 1 starts the file again): a follow reads the new one
            this.pos = 0;
            return;
          }
          got += bytesRead;
        }
        pos -= len;
        buf = buf.length ? Buffer.concat([chunk, buf]) : chunk;
      }
      if (!cut) {
        // bytes after the last newline are a line still being written (or torn): not yet a line
        const nl = buf.lastIndexOf(10);
        if (nl < 0) {
          if (pos > 0) continue;
          this.pos = 0;
          return;
        }
        this.pos = pos + nl + 1;
        buf = buf.subarray(0, nl + 1);
        cut = true;
      }
      // buf ends with a newline; its first line is complete only at the start of the file
      let e = buf.length - 1;
      while (e >= 0) {
        const s = e > 0 ? buf.lastIndexOf(10, e - 1) : -1;
        if (s < 0 && pos > 0) break;
        if (!onLine(buf.subarray(s + 1, e))) return;
        e = s;
      }
      buf = buf.subarray(0, e + 1);
    }
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}

async function openNamed(dir: string, n: Named): Promise<LogFile | undefined> {
  let fh: FileHandle;
  try {
    fh = await open(join(dir, n.name), "r");
  } catch (e) {
    // rotated away since the listing
    if (errnoCode(e) === "ENOENT") return undefined;
    throw e;
  }
  const st = await fh.stat();
  if (st.ino !== n.ino) {
    await fh.close();
    return undefined;
  }
  return new LogFile(fh, st.ino, st.size);
}

/**
 * Every file of the log open, oldest first, as one consistent moment of it: the listing is
 * checked again after the opens, so a rotation meanwhile means another try.
 */
async function openChain(path: string): Promise<LogFile[]> {
  const dir = dirname(path);
  let files: LogFile[] = [];
  for (let i = 0; i < ATTEMPTS; i++) {
    const names = await listChain(path);
    files = [];
    let ok = true;
    for (const n of names) {
      const f = await openNamed(dir, n);
      if (!f) {
        ok = false;
        break;
      }
      files.push(f);
    }
    if (ok && sameChain(names, await listOnce(path))) return files;
    await Promise.all(files.map((f) => f.close()));
  }
  // rotating faster than it can be listed: the live file alone is still a consistent view
  const live = (await listChain(path)).at(-1);
  const f = live && (await openNamed(dir, live));
  return f ? [f] : [];
}

/**
 * The file written after the one with inode `ino` (which the writer rotated away), opened; the
 * oldest file left when that one is gone (deleted by rotation: what it was followed by is lost).
 */
async function successor(path: string, ino: number | undefined): Promise<LogFile | undefined> {
  for (let i = 0; i < ATTEMPTS; i++) {
    const names = await listChain(path);
    const at = ino === undefined ? -1 : names.findIndex((n) => n.ino === ino);
    const next = names[at + 1];
    if (!next) return undefined;
    const f = await openNamed(dirname(path), next);
    if (f) return f;
  }
  return undefined;
}

async function inodeOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).ino;
  } catch (e) {
    // between the rename of a rotation and the new file, or the container is gone
    if (errnoCode(e) === "ENOENT") return undefined;
    throw e;
  }
}

/**
 * Read a container's json-file log as a stream: the rotated files oldest first, then the live
 * one; `tail` reads backwards from the end and stops after N entries. With `follow`, keep sending
 * what is appended — across rotations, without a gap after the first read — until `stopped()`
 * says the container is no longer running (then what is left is drained), `until` has passed,
 * or `signal` aborts. `send` may return a promise (a slow client): reading waits for it.
 */
export async function readLogs(
  path: string,
  o: LogOptions,
  send: (e: LogEntry) => Promise<void> | void,
  stopped: () => boolean,
  signal?: AbortSignal,
): Promise<void> {
  const filter = logFilter(o);
  const files = await openChain(path);
  // the file a follow continues with, and the ones to close at the end
  let cur = files.at(-1);
  const opened = new Set(files);
  const forward = async (line: Buffer) => {
    const e = parseLogLine(line.toString("utf8"));
    if (e && wanted(e, filter) && !signal?.aborted) {
      const r = send(e);
      if (r) await r;
    }
  };
  try {
    const tail = o.tail;
    if (tail !== undefined && tail >= 0) {
      const picked: LogEntry[] = [];
      // newest file first; reading the live one backwards leaves its `pos` where a follow goes on
      for (let i = files.length - 1; i >= 0 && picked.length < tail; i--) {
        const f = files[i] as LogFile;
        await f.readLinesBackward(f.size, (line) => {
          const e = parseLogLine(line.toString("utf8"));
          if (e && wanted(e, filter)) picked.push(e);
          return picked.length < tail;
        });
      }
      // tail 0 read nothing: a follow still starts after the last complete line
      if (cur && tail === 0) await cur.readLinesBackward(cur.size, () => false);
      for (let i = picked.length - 1; i >= 0 && !signal?.aborted; i--) {
        const r = send(picked[i] as LogEntry);
        if (r) await r;
      }
    } else {
      for (const f of files) {
        if (signal?.aborted) return;
        await f.readLines(forward, f.size);
      }
    }
    if (!o.follow) return;
    for (;;) {
      if (signal?.aborted) return;
      const wasStopped = stopped();
      // read to the end of the live file, and on through every rotation since the last look
      for (;;) {
        if (cur) await cur.readLines(forward);
        const live = await inodeOf(path);
        if (live === undefined || live === cur?.ino) break;
        // rotated: the writer closed `cur` before renaming it, so its end is final now
        if (cur) await cur.readLines(forward);
        const next = await successor(path, cur?.ino);
        if (!next) break;
        opened.add(next);
        cur = next;
      }
      if (wasStopped) return;
      if (filter.until !== undefined && BigInt(Date.now()) * 1_000_000n > filter.until) return;
      try {
        await sleep(o.pollMs ?? 100, undefined, signal ? { signal } : {});
      } catch {
        // aborted: the client went away
        return;
      }
    }
  } finally {
    await Promise.all([...opened].map((f) => f.close().catch(() => {})));
  }
}
