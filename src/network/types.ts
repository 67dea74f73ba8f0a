/** A network as berthd records it (one JSON file under the state dir's networks/). */
export interface Network {
  name: string;
  /** 64 hex digits */
  id: string;
  driver: "bridge";
  /** "172.21.3.0/24" */
  subnet: string;
  /** "172.21.3.1": the bridge's address, the containers' default route */
  gateway: string;
  /** the host's bridge interface ("berth0", "br-<first 12 of id>") */
  bridge: string;
  /** no masquerade and no default route: containers reach only each other and the host */
  internal: boolean;
  labels: Record<string, string>;
  /** RFC 3339 */
  created: string;
}

/** Options for `NetworkManager.create`. */
export interface CreateNetworkOptions {
  /** a subnet in CIDR form; allocated from the address pools when absent */
  subnet?: string;
  /** an address inside the subnet; the first host address when absent */
  gateway?: string;
  internal?: boolean;
  labels?: Record<string, string>;
}

/** A published port: `hostIP:hostPort` on the host forwards to `containerPort` in the container. */
export interface PortMapping {
  /** the host address to listen on; all addresses when absent or "0.0.0.0" */
  hostIP?: string;
  /** 1-65535; 0 or absent picks a free port from 32768-60999 */
  hostPort?: number;
  containerPort: number;
  protocol: "tcp" | "udp";
}

/** A published port once attached: the host port is always known. */
export interface PublishedPort {
  hostIP: string;
  hostPort: number;
  containerPort: number;
  protocol: "tcp" | "udp";
}

/** Options for `NetworkManager.attach`. */
export interface AttachOptions {
  /** the container's network namespace: a path like createNetns's, or /proc/<pid>/ns/net */
  netns: string;
  /** names other containers on the network may use for this one */
  aliases?: string[];
  portMappings?: PortMapping[];
  /** the interface name inside the container; eth0, then eth1... for further networks */
  ifname?: string;
  /** a fixed address inside the network's subnet (docker run --ip) */
  ip?: string;
}

/** What `attach` made: the container's end of the link. */
export interface AttachResult {
  ip: string;
  prefixLen: number;
  gateway: string;
  mac: string;
  ifname: string;
  ports: PublishedPort[];
}

/** One container's membership of one network, as recorded for detach and name resolution. */
export interface Attachment extends AttachResult {
  containerId: string;
  networkId: string;
  networkName: string;
  netns: string;
  aliases: string[];
}
