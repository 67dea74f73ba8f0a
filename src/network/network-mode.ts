import { invalidArgument } from "../errors/index.js";
import { validateNetworkName } from "./names.js";

/** A container's network mode, as `docker run --network` takes it. */
export type NetworkMode =
  | { kind: "none" }
  | { kind: "host" }
  /** the default network ("bridge", or docker's alias "default") */
  | { kind: "bridge" }
  /** a user-defined network, by name or id */
  | { kind: "network"; name: string }
  /** share the network namespace of another container (name or id) */
  | { kind: "container"; container: string };

/** Parses and validates a network mode string: "none" | "host" | "bridge" | "<name>" | "container:<id>". */
export function parseNetworkMode(mode: string): NetworkMode {
  if (mode === "none" || mode === "host") return { kind: mode };
  if (mode === "bridge" || mode === "default" || mode === "") return { kind: "bridge" };
  if (mode.startsWith("container:")) {
    const container = mode.slice("container:".length);
    // container names are shown with docker's leading "/"; ids and names share the CNI charset
    const bare = container.startsWith("/") ? container.slice(1) : container;
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(bare)) {
      throw invalidArgument(`invalid network mode "${mode}": container:<name|id> needs a container name or id`);
    }
    return { kind: "container", container: bare };
  }
  try {
    validateNetworkName(mode);
  } catch (e) {
    throw invalidArgument(`invalid network mode "${mode}": want none, host, bridge, container:<id> or a network name`, e);
  }
  return { kind: "network", name: mode };
}
