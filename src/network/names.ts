import { invalidArgument } from "../errors/index.js";

const namePattern = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** Names a user may not give a network: the modes that are not networks, and the default one. */
export const reservedNetworkNames: readonly string[] = ["bridge", "host", "none", "default"];

/** Throws InvalidArgument unless `name` can name a network (docker's rule, with a length cap). */
export function validateNetworkName(name: string): void {
  if (!namePattern.test(name) || name.length > 128) {
    throw invalidArgument(`invalid network name "${name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed (at most 128)`);
  }
}

/**
 * Throws InvalidArgument unless `id` can be a CNI container id (CNI spec: alphanumerics, "_",
 * ".", "-", starting with an alphanumeric); it also names the container's netns file.
 */
export function validateContainerId(id: string): void {
  if (!namePattern.test(id) || id.length > 128) {
    throw invalidArgument(`invalid container id "${id}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed (at most 128)`);
  }
}

/** Throws InvalidArgument unless `name` is a usable Linux interface name (IFNAMSIZ, no "/" or spaces). */
export function validateInterfaceName(name: string): void {
  if (!/^[a-zA-Z0-9_.-]{1,15}$/.test(name) || name === "." || name === "..") {
    throw invalidArgument(`invalid interface name "${name}": 1-15 of [a-zA-Z0-9_.-]`);
  }
}
