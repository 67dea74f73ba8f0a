/**
 * network: container networking for berthd, docker's bridge driver built from CNI plugins
 * (CNI spec 1.0.0). Networks and attachments are JSON records under berthd's state dir, netns
 * files live under its run dir, and the plugins (bridge + host-local, portmap, loopback) are
 * executed as programs; a network's own iptables rules (masquerade, FORWARD) are berthd's.
 * netns files are made and unmounted in-process where the caller hands in `NetnsOps` (berthd:
 * the native executor's), else by `unshare`, the loopback plugin and `umount`. `host`, `none`
 * and `container:<id>` modes need no CNI and are berthd's to apply; `parseNetworkMode`
 * validates them all.
 */

export { NetworkManager, defaultNetworkName, type NetworkManagerOptions } from "./manager.js";
export type {
  AttachOptions,
  AttachResult,
  Attachment,
  CreateNetworkOptions,
  Network,
  PortMapping,
  PublishedPort,
} from "./types.js";
export type { NetnsOps } from "./netns.js";
export { parseNetworkMode, type NetworkMode } from "./network-mode.js";
export { validateNetworkName, validateContainerId, reservedNetworkNames } from "./names.js";
export { allocateSubnet, defaultAddressPools, type AddressPool } from "./allocate-subnet.js";
export { buildConfList, cniVersion, type NetworkConfList, type PluginConf } from "./conflist.js";
/** Low-level plugin execution, for callers (and tests) that run a plugin by hand. */
export { CniPluginError, defaultCniPath, findPlugin, invokePlugin, pluginVersions, type PluginCall } from "./cni-plugin.js";
