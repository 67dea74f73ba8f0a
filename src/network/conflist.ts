import type { Network, PublishedPort } from "./types.js";

/** The CNI spec version berth speaks to plugins. */
export const cniVersion = "1.0.0";

/** One plugin's configuration in a list (CNI spec 1.0.0, "Plugin configuration objects"). */
export interface PluginConf {
  type: string;
  [key: string]: unknown;
}

/** A network configuration list (CNI spec 1.0.0, "Configuration format"). */
export interface NetworkConfList {
  cniVersion: string;
  name: string;
  plugins: PluginConf[];
}

export interface ConfListOptions {
  /** host-local's dataDir: where it records allocations (per network name below it) */
  ipamDataDir: string;
  /** published ports; the portmap plugin is chained only when there are some */
  ports?: readonly PublishedPort[];
  mtu?: number;
}

/**
 * The plugin chain that connects a container to `network`, docker's bridge driver in CNI terms:
 * bridge (host-local IPAM, the bridge as gateway, hairpin so a container reaches itself through
 * a published port; masquerade is the network's one rule, as docker's, not the plugin's
 * per-container ipMasq: iptables.ts `masqueradeRule`) -> portmap (DNAT, with SNAT so
 * 127.0.0.1:<port> works from the host). What FORWARD lets through is the network's too: its
 * docker-style isolation and ACCEPT rules (iptables.ts `networkFilterRules`), not the firewall
 * plugin's per container.
 */
export function buildConfList(network: Network, opts: ConfListOptions): NetworkConfList {
  const bridge: PluginConf = {
    type: "bridge",
    bridge: network.bridge,
    isGateway: true,
    ipMasq: false,
    hairpinMode: true,
    ipam: {
      type: "host-local",
      ranges: [[{ subnet: network.subnet, gateway: network.gateway }]],
      // an internal network gets no default route: nothing leaves the subnet
      routes: network.internal ? [] : [{ dst: "0.0.0.0/0" }],
      dataDir: opts.ipamDataDir,
    },
  };
  if (opts.mtu !== undefined) bridge["mtu"] = opts.mtu;
  const plugins: PluginConf[] = [bridge];
  if (opts.ports && opts.ports.length > 0) {
    plugins.push({
      type: "portmap",
      capabilities: { portMappings: true },
      snat: true,
      // what a CNI runtime injects for the portMappings capability (CNI conventions, "Dynamic
      // plugin specific fields")
      runtimeConfig: {
        portMappings: opts.ports.map((p) => ({
          hostPort: p.hostPort,
          containerPort: p.containerPort,
          protocol: p.protocol,
          ...(p.hostIP && p.hostIP !== "0.0.0.0" ? { hostIP: p.hostIP } : {}),
        })),
      },
    });
  }
  return { cniVersion, name: network.name, plugins };
}

/** The standalone configuration for one plugin of a list, as it is fed to the plugin's stdin. */
export function pluginConfig(list: NetworkConfList, plugin: PluginConf, prevResult?: unknown): Record<string, unknown> {
  const conf: Record<string, unknown> = { ...plugin, cniVersion: list.cniVersion, name: list.name };
  if (prevResult !== undefined) conf["prevResult"] = prevResult;
  return conf;
}
