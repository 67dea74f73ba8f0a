import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from "node:fs";

/** One line of docker's json-file log driver. */
export interface LogEntry {
  log: string;
  stream: "stdout" | "stderr";
  time: string;
}

export interface LogOptions {
  stdout: boolean;
  stderr: boolean;
  /** the last N entries ("all" = undefined) */
  tail?: number;
  /** RFC 3339 time or unix seconds (fractions allowed): entries at or after it */
  since?: string;
  until?: string;
  follow?: boolean;
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

function entryNs(e: LogEntry): bigint {
  return parseLogTime(e.time) ?? 0n;
}

/** The log files oldest first: rotated ones (path.N ... path.1), then the live one. */
function files(path: string): string[] {
  const rotated: string[] = [];
  for (let i = 1; existsSync(`${path}.${i}`); i++) rotated.unshift(`${path}.${i}`);
  return [...rotated, ...(existsSync(path) ? [path] : [])];
}

function parseLines(text: string, out: LogEntry[]): void {
  for (const line of text.split("\n")) {
    if (!line) continue;
    try {
      const e = JSON.parse(line) as LogEntry;
      if (typeof e.log === "string") out.push(e);
    } catch {
      // a torn last line of a killed writer: skip
    }
  }
}

function wanted(e: LogEntry, o: LogOptions, since?: bigint, until?: bigint): boolean {
  if (e.stream === "stdout" ? !o.stdout : !o.stderr) return false;
  if (since !== undefined || until !== undefined) {
    const t = entryNs(e);
    if (since !== undefined && t < since) return false;
    if (until !== undefined && t > until) return false;
  }
  return true;
}

/**
 * Read a container's json-file log; with `follow`, keep sending new entries until `stopped()`
 * says the container is no longer running (then drain what is left) or `signal` aborts.
 */
export async function readLogs(
  path: string,
  o: LogOptions,
  send: (e: LogEntry) => void,
  stopped: () => boolean,
  signal?: AbortSignal,
): Promise<void> {
  const since = parseLogTime(o.since);
  const until = parseLogTime(o.until);
  const all: LogEntry[] = [];
  for (const f of files(path)) parseLines(readFileSync(f, "utf8"), all);
  let picked = all.filter((e) => wanted(e, o, since, until));
  if (o.tail !== undefined && o.tail >= 0) picked = o.tail === 0 ? [] : picked.slice(-o.tail);
  for (const e of picked) send(e);
  if (!o.follow || until !== undefined) return;
  // follow from the current end of the live file
  let pos = existsSync(path) ? statSync(path).size : 0;
  let rest = "";
  const buf = Buffer.alloc(64 * 1024);
  for (;;) {
    if (signal?.aborted) return;
    const wasStopped = stopped();
    let size = 0;
    try {
      size = statSync(path).size;
    } catch {
      size = 0;
    }
    if (size < pos) pos = 0; // rotated: start the new file
    if (size > pos) {
      const fd = openSync(path, "r");
      try {
        while (pos < size) {
          const n = readSync(fd, buf, 0, Math.min(buf.length, size - pos), pos);
          if (n <= 0) break;
          pos += n;
          rest += buf.toString("utf8", 0, n);
        }
      } finally {
        closeSync(fd);
      }
      const nl = rest.lastIndexOf("\n");
      if (nl >= 0) {
        const got: LogEntry[] = [];
        parseLines(rest.slice(0, nl), got);
        rest = rest.slice(nl + 1);
        for (const e of got) if (wanted(e, o, since)) send(e);
      }
    }
    if (wasStopped) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}
