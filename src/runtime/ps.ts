import { containerPids } from "./container-pids.js";
import { loadState } from "./container-state.js";
import type { RuntimeContext } from "./context.js";

/** `ps`: the host pids of every process in the container (its cgroup, or without one its pid namespace). */
export function ps(ctx: RuntimeContext, id: string): number[] {
  return containerPids(loadState(ctx.root, id));
}
