import { isAbsolute, resolve } from "node:path";
import { invalidArgument } from "../errors/index.js";
import type { ShimOptions } from "./shim.js";

const USAGE = "usage: berth-shim --socket PATH --state-dir DIR [--linger-ms N]";

/** `--flag value` or `--flag=value`, as every berth binary takes them. */
export function parseShimArgs(argv: string[]): ShimOptions {
  const v: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? "";
    const eq = a.indexOf("=");
    const name = eq > 0 ? a.slice(0, eq) : a;
    if (!["--socket", "--state-dir", "--linger-ms"].includes(name)) throw invalidArgument(`unknown argument "${a}"; ${USAGE}`);
    const value = eq > 0 ? a.slice(eq + 1) : argv[++i];
    if (value === undefined || value === "") throw invalidArgument(`${name} needs a value; ${USAGE}`);
    v[name] = value;
  }
  const socket = v["--socket"];
  const stateDir = v["--state-dir"];
  if (!socket || !stateDir) throw invalidArgument(USAGE);
  const linger = v["--linger-ms"] ?? "3000";
  const lingerMs = Number(linger);
  if (!Number.isSafeInteger(lingerMs) || lingerMs < 0)
    throw invalidArgument(`--linger-ms must be a non-negative integer, got "${linger}"`);
  return {
    socket: isAbsolute(socket) ? socket : resolve(socket),
    stateDir: isAbsolute(stateDir) ? stateDir : resolve(stateDir),
    lingerMs,
  };
}
