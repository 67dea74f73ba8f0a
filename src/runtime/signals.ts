import { constants } from "node:os";
import { invalidArgument } from "../errors/index.js";

/** "SIGTERM", "TERM", "15" or "term" -> 15. */
export function parseSignal(s: string | undefined): number {
  if (s === undefined || s === "") return 15;
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    if (n < 1 || n > 64) throw invalidArgument(`invalid signal number ${s}`);
    return n;
  }
  const name = s.toUpperCase().startsWith("SIG") ? s.toUpperCase() : `SIG${s.toUpperCase()}`;
  const rt = /^SIGRTMIN(?:\+(\d+))?$/.exec(name) ?? /^SIGRTMAX(?:-(\d+))?$/.exec(name);
  if (rt) {
    const n = name.startsWith("SIGRTMIN") ? 34 + Number(rt[1] ?? 0) : 64 - Number(rt[1] ?? 0);
    if (n < 34 || n > 64) throw invalidArgument(`invalid signal "${s}": outside SIGRTMIN..SIGRTMAX`);
    return n;
  }
  const n = (constants.signals as Record<string, number>)[name];
  if (n === undefined) throw invalidArgument(`unknown signal "${s}"`);
  return n;
}
