import { describe, internal } from "../errors/index.js";
import { invokePlugin } from "./cni-plugin.js";
import { type NetworkConfList, pluginConfig } from "./conflist.js";

/** The runtime parameters of one attachment: the same for ADD, CHECK and DEL (CNI spec). */
export interface ChainRuntime {
  containerId: string;
  /** empty for DEL when the namespace is already gone */
  netns: string;
  ifname: string;
  args: string;
  cniPath: readonly string[];
}

/**
 * ADD through the list in order, each plugin given the previous one's result; returns the last
 * result (CNI spec 1.0.0, "Adding an attachment"). When a plugin fails, the plugins already run
 * are undone with DEL before the error is thrown, so a failed ADD leaves nothing behind.
 */
export async function addChain(list: NetworkConfList, rt: ChainRuntime): Promise<unknown> {
  let prev: unknown;
  for (const [i, plugin] of list.plugins.entries()) {
    try {
      prev = await invokePlugin({ command: "ADD", type: plugin.type, config: pluginConfig(list, plugin, prev), ...callOf(rt) });
      if (prev === undefined) throw internal(`cni plugin "${plugin.type}" ADD: printed no result`);
    } catch (e) {
      const undo = { ...list, plugins: list.plugins.slice(0, i + 1) };
      try {
        await delChain(undo, prev, rt);
      } catch (cleanup) {
        throw internal(`${describe(e)} (and undoing the attachment failed: ${describe(cleanup)})`, e);
      }
      throw e;
    }
  }
  return prev;
}

/**
 * DEL through the list in reverse, each plugin given the ADD's final result as prevResult
 * (CNI spec 1.0.0, "Deleting an attachment"). Plugins treat DEL of what is already gone as
 * success, so this may be repeated. Every plugin is tried; the first error is thrown after.
 */
export async function delChain(list: NetworkConfList, prevResult: unknown, rt: ChainRuntime): Promise<void> {
  let first: unknown;
  for (const plugin of [...list.plugins].reverse()) {
    try {
      await invokePlugin({ command: "DEL", type: plugin.type, config: pluginConfig(list, plugin, prevResult), ...callOf(rt) });
    } catch (e) {
      first ??= e;
    }
  }
  if (first !== undefined) throw first;
}

/** CHECK through the list in order with the ADD's result (CNI spec 1.0.0, "Checking an attachment"). */
export async function checkChain(list: NetworkConfList, prevResult: unknown, rt: ChainRuntime): Promise<void> {
  for (const plugin of list.plugins) {
    await invokePlugin({ command: "CHECK", type: plugin.type, config: pluginConfig(list, plugin, prevResult), ...callOf(rt) });
  }
}

function callOf(rt: ChainRuntime) {
  return { containerId: rt.containerId, netns: rt.netns, ifname: rt.ifname, args: rt.args, cniPath: rt.cniPath };
}
