import { cgroupOf, loadState } from "./container-state.js";
import type { RuntimeContext } from "./context.js";

/** `ps`: the host pids of every process in the container's cgroup. */
export function ps(ctx: RuntimeContext, id: string): number[] {
  return cgroupOf(loadState(ctx.root, id)).pids();
}
