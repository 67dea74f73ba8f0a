import { canPause, canResume, loadState, requireCgroup, requireStatus, statusOf } from "./container-state.js";
import type { RuntimeContext } from "./context.js";

/** `pause`: freeze every process of the container. */
export function pause(ctx: RuntimeContext, id: string): void {
  const s = loadState(ctx.root, id);
  const st = statusOf(ctx.root, s);
  requireStatus(id, st, canPause(st), "pause");
  requireCgroup(s, "pause").freeze();
}

/** `resume`: thaw a paused container. */
export function resume(ctx: RuntimeContext, id: string): void {
  const s = loadState(ctx.root, id);
  const st = statusOf(ctx.root, s);
  requireStatus(id, st, canResume(st), "resume");
  requireCgroup(s, "resume").thaw();
}
