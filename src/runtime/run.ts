import { native } from "../native/index.js";
import type { RuntimeContext } from "./context.js";
import { NeedsLocalProcess } from "./context.js";
import type { CreateOptions } from "./create.js";
import { create, loadBundleSpec } from "./create.js";
import { deleteContainer } from "./delete.js";
import { start } from "./start.js";

/** `run`: create and start; attached, wait for the init and remove the container after. */
export async function run(ctx: RuntimeContext, o: CreateOptions & { detach: boolean; keep?: boolean }): Promise<number> {
  let pty: number | undefined;
  if (ctx.waitProcess) {
    if (!o.detach && !o.consoleSocket && loadBundleSpec(o.bundle).process?.terminal)
      throw new NeedsLocalProcess("run with a terminal and no console socket");
  } else if (!o.detach) native().setSubreaper();
  const createOpts: CreateOptions = { ...o };
  if (!o.detach && !o.consoleSocket) createOpts.onPty = (fd) => (pty = fd);
  const s = create(ctx, createOpts);
  try {
    start(ctx, s.id);
  } catch (err) {
    deleteContainer(ctx, s.id, true);
    throw err;
  }
  if (o.detach) return 0;
  const code = ctx.waitProcess ? await ctx.waitProcess(s.pid) : await (await import("./attach.js")).waitAttached(s.pid, pty);
  if (!o.keep) deleteContainer(ctx, s.id, true);
  return code;
}
