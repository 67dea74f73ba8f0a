import { closeSync, fstatSync, mkdirSync, openSync, renameSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { errnoCode } from "../errors/index.js";
import { rfc3339Nano } from "./clock.js";

/** docker's json-file driver splits lines longer than this into partial messages */
export const LOG_PIECE = 16 * 1024;

export type LogStream = "stdout" | "stderr";

export interface JsonFileLogOptions {
  path: string;
  /** rotate when the file would grow past this many bytes (0 or absent: never) */
  maxSize?: number | undefined;
  /** files kept in all, the current one included (docker's max-file; default 1) */
  maxFiles?: number | undefined;
  /** a write or rotation failed (disk full ...): the lines are dropped, the container runs on */
  onError: (err: unknown) => void;
}

/** A log file's bytes as they were at one moment, for `attach --logs` to replay. */
export interface LogSnapshot {
  fd: number;
  size: number;
}

/**
 * docker's json-file log: one `{"log","stream","time"}` object per line of output, lines
 * split at newlines, a line longer than 16 KiB written as 16 KiB pieces without a trailing
 * newline (docker's partial messages), rotated to path.1, path.2 ... by size.
 * Writes are synchronous: a page-cache write is cheap, keeps the lines in order, and makes
 * the file's size exact for rotation and for replays.
 */
export class JsonFileLog {
  private fd: number;
  private size: number;
  private readonly partial: Record<LogStream, Buffer | undefined> = { stdout: undefined, stderr: undefined };
  private failed = false;
  private closed = false;

  constructor(private readonly o: JsonFileLogOptions) {
    mkdirSync(dirname(o.path), { recursive: true });
    this.fd = openSync(o.path, "a", 0o640);
    this.size = fstatSync(this.fd).size;
  }

  /** Output read from the process: complete lines are written, the rest waits for its newline. */
  write(stream: LogStream, chunk: Buffer): void {
    if (this.closed) return;
    const held = this.partial[stream];
    const data = held ? Buffer.concat([held, chunk]) : chunk;
    const time = rfc3339Nano();
    const lines: string[] = [];
    let start = 0;
    for (let nl = data.indexOf(10, start); nl >= 0; nl = data.indexOf(10, start)) {
      let line = data.subarray(start, nl + 1);
      while (line.length > LOG_PIECE) {
        lines.push(entry(line.subarray(0, LOG_PIECE), stream, time));
        line = line.subarray(LOG_PIECE);
      }
      lines.push(entry(line, stream, time));
      start = nl + 1;
    }
    let rest = data.subarray(start);
    while (rest.length >= LOG_PIECE) {
      lines.push(entry(rest.subarray(0, LOG_PIECE), stream, time));
      rest = rest.subarray(LOG_PIECE);
    }
    // a copy, so a held tail does not pin the whole 64 KiB read buffer
    this.partial[stream] = rest.length ? Buffer.from(rest) : undefined;
    this.append(lines);
  }

  /** The stream ended: its unterminated last line is written as it is. */
  endStream(stream: LogStream): void {
    if (this.closed) return;
    const held = this.partial[stream];
    this.partial[stream] = undefined;
    if (held) this.append([entry(held, stream, rfc3339Nano())]);
  }

  /** Open every file of the log (oldest first) at its current size. */
  snapshot(): LogSnapshot[] {
    const out: LogSnapshot[] = [];
    const files = Math.max(1, this.o.maxFiles ?? 1);
    for (let i = files - 1; i >= 1; i--) {
      try {
        const fd = openSync(`${this.o.path}.${i}`, "r");
        out.push({ fd, size: fstatSync(fd).size });
      } catch (e) {
        // not rotated that far yet
        if (errnoCode(e) !== "ENOENT") throw e;
      }
    }
    out.push({ fd: openSync(this.o.path, "r"), size: this.size });
    return out;
  }

  /** Stop writing (the process ended); snapshot() still replays what was written. */
  close(): void {
    if (this.closed) return;
    this.endStream("stdout");
    this.endStream("stderr");
    this.closed = true;
    closeSync(this.fd);
  }

  private append(lines: string[]): void {
    const max = this.o.maxSize ?? 0;
    let batch = "";
    let batchBytes = 0;
    for (const line of lines) {
      const n = Buffer.byteLength(line);
      if (max > 0 && this.size + batchBytes > 0 && this.size + batchBytes + n > max) {
        this.flush(batch);
        batch = "";
        batchBytes = 0;
        this.rotate();
      }
      batch += line;
      batchBytes += n;
    }
    this.flush(batch);
  }

  private flush(text: string): void {
    if (!text) return;
    const b = Buffer.from(text);
    try {
      for (let off = 0; off < b.length; ) off += writeSync(this.fd, b, off);
      this.size += b.length;
      this.failed = false;
    } catch (e) {
      this.fail(e);
    }
  }

  private rotate(): void {
    const p = this.o.path;
    const files = Math.max(1, this.o.maxFiles ?? 1);
    try {
      closeSync(this.fd);
      for (let i = files - 1; i >= 2; i--) {
        try {
          renameSync(`${p}.${i - 1}`, `${p}.${i}`);
        } catch (e) {
          // a gap in the chain (rotated fewer times than files kept)
          if (errnoCode(e) !== "ENOENT") throw e;
        }
      }
      if (files > 1) renameSync(p, `${p}.1`);
      // one file: start it again (docker truncates when max-file is 1)
      this.fd = openSync(p, files > 1 ? "a" : "w", 0o640);
      this.size = 0;
    } catch (e) {
      this.fail(e);
      try {
        this.fd = openSync(p, "a", 0o640);
        this.size = fstatSync(this.fd).size;
      } catch {
        // the log directory is gone: later writes fail on the closed fd and are dropped
      }
    }
  }

  private fail(e: unknown): void {
    // report the first failure of a run, not one per line
    if (!this.failed) this.o.onError(e);
    this.failed = true;
  }
}

function entry(text: Buffer, stream: LogStream, time: string): string {
  return `{"log":${JSON.stringify(text.toString("utf8"))},"stream":"${stream}","time":"${time}"}\n`;
}
