import { readdirSync } from "node:fs";
import { errnoCode } from "../errors/index.js";
import { loadState, ociState } from "./container-state.js";
import type { RuntimeContext } from "./context.js";

export type ListEntry = ReturnType<typeof ociState>;

/** Every container under the state root, oldest first. */
export function list(ctx: RuntimeContext): ListEntry[] {
  let names: string[];
  try {
    names = readdirSync(ctx.root);
  } catch (err) {
    if (errnoCode(err) === "ENOENT") return [];
    throw err;
  }
  const out: ListEntry[] = [];
  for (const name of names) {
    try {
      out.push(ociState(ctx.root, loadState(ctx.root, name)));
    } catch {
      // a directory being created or removed right now, or not ours
    }
  }
  return out.sort((a, b) => a.created.localeCompare(b.created));
}
