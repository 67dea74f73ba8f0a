import { invalidArgument } from "../errors/index.js";
import type { LogConfig } from "./container-types.js";

/** The logging drivers berthd has: docker's default json-file, and none (output is discarded). */
export const LOG_DRIVERS = ["json-file", "none"] as const;
export const DEFAULT_LOG_DRIVER = "json-file";

/** json-file options docker has that berthd does not implement (named in the error, not "unknown"). */
const UNSUPPORTED_JSON_FILE_OPTS = ["compress", "labels", "labels-regex", "env", "env-regex", "tag"];

/** What the shim needs to write a container's log: nothing at all for driver none. */
export interface ShimLogOptions {
  /** rotate at this many bytes (absent: never) */
  logMaxSize?: number;
  /** files kept, the live one included */
  logMaxFiles?: number;
}

/**
 * A create request's `HostConfig.LogConfig`, validated as dockerd validates it and normalized
 * for the container record: an empty or absent Type is the default driver, an absent Config is {}.
 * Every refusal names the driver or option at fault.
 */
export function normalizeLogConfig(v: unknown, daemonDefault?: LogConfig): LogConfig {
  const fallback = daemonDefault ?? { Type: DEFAULT_LOG_DRIVER, Config: {} };
  if (v === undefined || v === null) return { Type: fallback.Type, Config: { ...fallback.Config } };
  if (typeof v !== "object" || Array.isArray(v)) throw invalidArgument("HostConfig.LogConfig: an object is expected");
  const { Type: type = "", Config: config = {} } = v as { Type?: unknown; Config?: unknown };
  if (typeof type !== "string") throw invalidArgument("HostConfig.LogConfig.Type: a string is expected");
  const driver = type || fallback.Type;
  // the daemon's options apply to its driver, under the container's own (dockerd merges the same way)
  const opts: Record<string, string> = driver === fallback.Type ? { ...fallback.Config } : {};
  if (config !== null) {
    if (typeof config !== "object" || Array.isArray(config))
      throw invalidArgument("HostConfig.LogConfig.Config: an object of strings is expected");
    for (const [k, val] of Object.entries(config)) {
      if (typeof val !== "string") throw invalidArgument(`log opt '${k}': the value must be a string`);
      opts[k] = val;
    }
  }
  const out: LogConfig = { Type: driver, Config: opts };
  shimLogOptions(out);
  return out;
}

/**
 * The shim's log settings for a (normalized) LogConfig, or undefined for driver none. Throws
 * InvalidArgument on what docker refuses: an unknown driver, an unknown option, a max-size that
 * is not a positive size, a max-file below 1 or without max-size.
 */
export function shimLogOptions(c: LogConfig | undefined): ShimLogOptions | undefined {
  const driver = c?.Type || DEFAULT_LOG_DRIVER;
  const opts = c?.Config ?? {};
  const keys = Object.keys(opts);
  if (driver === "none") {
    if (keys.length) throw invalidArgument(`log opt '${keys[0]}' is not valid for the none log driver: it takes no options`);
    return undefined;
  }
  if (driver !== "json-file")
    throw invalidArgument(`logging driver "${driver}" is not supported: berthd has ${LOG_DRIVERS.join(" and ")}`);
  for (const k of keys) {
    if (k === "max-size" || k === "max-file") continue;
    if (UNSUPPORTED_JSON_FILE_OPTS.includes(k))
      throw invalidArgument(`log opt '${k}' of the json-file log driver is not supported by berthd`);
    throw invalidArgument(`unknown log opt '${k}' for json-file log driver`);
  }
  const out: ShimLogOptions = {};
  const size = opts["max-size"];
  if (size !== undefined) {
    const n = parseLogSize(size);
    // "-1" is docker's explicit "no limit"
    if (n !== -1) out.logMaxSize = n;
  }
  const files = opts["max-file"];
  if (files !== undefined) {
    if (!/^-?\d+$/.test(files)) throw invalidArgument(`log opt 'max-file': invalid value "${files}": an integer is expected`);
    const n = Number(files);
    if (n < 1) throw invalidArgument(`log opt 'max-file': max-file cannot be less than 1 (got ${files})`);
    if (out.logMaxSize === undefined && n !== 1)
      throw invalidArgument("log opt 'max-file': max-file can only be set if max-size is set");
    out.logMaxFiles = n;
  }
  return out;
}

/**
 * The log fields of the shim's create request: the log file and its rotation for json-file,
 * nothing for driver none (the shim then writes no log).
 */
export function shimLogRequest(
  c: LogConfig | undefined,
  logPath: string,
): { logPath?: string; logMaxSize?: number; logMaxFiles?: number } {
  const o = shimLogOptions(c);
  return o ? { logPath, ...o } : {};
}

/**
 * A max-size as docker reads it (go-units FromHumanSize): bytes, or a decimal number with a
 * k, m, g, t or p unit in powers of 1000 ("10m" is 10 000 000 bytes), an optional "b"; "-1" = none.
 */
export function parseLogSize(v: string): number {
  if (v.trim() === "-1") return -1;
  const m = /^(\d+(?:\.\d+)?) ?(?:([kmgtp])i?)?b?$/i.exec(v.trim());
  if (!m) throw invalidArgument(`log opt 'max-size': invalid size "${v}": use bytes or a k, m or g unit (e.g. 10m)`);
  const unit = (m[2] ?? "").toLowerCase();
  const mult = { "": 1, k: 1e3, m: 1e6, g: 1e9, t: 1e12, p: 1e15 }[unit] ?? 1;
  const n = Math.floor(Number(m[1]) * mult);
  if (n <= 0) throw invalidArgument(`log opt 'max-size': max-size must be a positive number (got "${v}")`);
  if (!Number.isSafeInteger(n)) throw invalidArgument(`log opt 'max-size': "${v}" is too large`);
  return n;
}
