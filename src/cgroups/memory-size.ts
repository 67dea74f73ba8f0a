import { invalidArgument } from "../errors/index.js";

const UNITS: Record<string, number> = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/**
 * A memory size as runc's flags take it (go-units RAMInBytes): a number with
 * an optional binary unit, "64m", "1.5GiB", "512 KB", "4096"; "-1" means
 * unlimited and is passed through.
 */
export function ramInBytes(text: string): number {
  if (text.trim() === "-1") return -1;
  const m = /^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$/.exec(text);
  if (!m || (m[2] === undefined && /[iI]/.test(text))) throw invalidArgument(`invalid size: '${text}'`);
  const n = Number(m[1]);
  if (!Number.isFinite(n)) throw invalidArgument(`invalid size: '${text}'`);
  return Math.trunc(n * (UNITS[(m[2] ?? "").toLowerCase()] ?? 1));
}
