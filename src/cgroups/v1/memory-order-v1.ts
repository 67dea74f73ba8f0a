import type { CgroupWrite } from "./resources-v1.js";

const LIMIT = "memory.limit_in_bytes";
const MEMSW = "memory.memsw.limit_in_bytes";

/**
 * Order the memory limit and the memory+swap limit so the kernel accepts
 * both: it refuses any moment where memory.limit_in_bytes would exceed
 * memory.memsw.limit_in_bytes (EINVAL). Raising (the new memsw is above the
 * current limit, or unlimited), memsw goes first; lowering, the limit goes
 * first. An unlimited memory limit without a swap value lifts memsw too, or
 * the old memsw would cap it. This is runc's setMemoryAndSwap rule.
 *
 * `currentLimit` reads the cgroup's memory.limit_in_bytes now; `hasMemsw`
 * says whether swap accounting exists on this kernel.
 */
export function orderMemoryWrites(writes: CgroupWrite[], currentLimit: () => number, hasMemsw: boolean): CgroupWrite[] {
  const isLimit = (w: CgroupWrite) => w.controller === "memory" && w.file === LIMIT;
  const isMemsw = (w: CgroupWrite) => w.controller === "memory" && w.file === MEMSW;
  const limit = writes.find(isLimit);
  let memsw = writes.find(isMemsw);
  if (!limit) return writes;
  if (!memsw && limit.value === "-1" && hasMemsw) memsw = { controller: "memory", file: MEMSW, value: "-1" };
  if (!memsw) return writes;
  const swapFirst = memsw.value === "-1" || currentLimit() < Number(memsw.value);
  const pair = swapFirst ? [memsw, limit] : [limit, memsw];
  // the pair takes the limit's place; everything else keeps its order
  const out: CgroupWrite[] = [];
  for (const w of writes) {
    if (isMemsw(w)) continue;
    if (isLimit(w)) out.push(...pair);
    else out.push(w);
  }
  return out;
}
