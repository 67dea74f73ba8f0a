import { failedPrecondition } from "../errors/index.js";
import { native } from "../native/index.js";
import type { Seccomp } from "../oci/index.js";
import { OCI_VERSION } from "../oci/index.js";

/**
 * Hand a seccomp notify listener to the agent at `linux.seccomp.listenerPath`, as the
 * runtime-spec says (config-linux.md#seccomp): the container process state as JSON on the
 * unix socket, the listener as SCM_RIGHTS ancillary data named by `fds`. `stateJson` is the
 * container's state (hookState), `pid` the process the filter belongs to (host pid).
 * Until the agent has the listener the process waits; without an agent it never starts.
 */
export function sendSeccompListener(seccomp: Seccomp | undefined, fd: number, pid: number, stateJson: string): void {
  const path = seccomp?.listenerPath ?? "";
  const message = {
    ociVersion: OCI_VERSION,
    fds: ["seccompFd"],
    pid,
    ...(seccomp?.listenerMetadata ? { metadata: seccomp.listenerMetadata } : {}),
    state: JSON.parse(stateJson) as unknown,
  };
  try {
    native().sendFd(path, fd, JSON.stringify(message), "seccomp agent");
  } catch (e) {
    throw failedPrecondition(
      `linux.seccomp.listenerPath: cannot hand the seccomp listener to the agent at ${path}: ${(e as Error).message}`,
      e,
    );
  }
}
