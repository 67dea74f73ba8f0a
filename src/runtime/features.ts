import { release } from "node:os";
import { OCI_VERSION } from "../oci/index.js";
import { ARCHES, SUPPORTED_ACTIONS, SUPPORTED_FLAGS, SUPPORTED_OPERATORS } from "../seccomp/index.js";
import { capNames } from "./capabilities.js";
import { PROPAGATION } from "./mount-options.js";

/** `features`: what this runtime implements, in the runtime-spec features.md shape. */
export function features(version: string): Record<string, unknown> {
  return {
    ociVersionMin: "1.0.0",
    ociVersionMax: OCI_VERSION,
    hooks: ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
    mountOptions: [
      "async",
      "atime",
      "bind",
      "defaults",
      "dev",
      "diratime",
      "dirsync",
      "exec",
      "iversion",
      "lazytime",
      "loud",
      "mand",
      "noatime",
      "nodev",
      "nodiratime",
      "noexec",
      "noiversion",
      "nolazytime",
      "nomand",
      "norelatime",
      "nostrictatime",
      "nosuid",
      "nosymfollow",
      "rbind",
      "relatime",
      "remount",
      "ro",
      "rw",
      "silent",
      "strictatime",
      "suid",
      "symfollow",
      "sync",
      "tmpcopyup",
      ...Object.keys(PROPAGATION),
    ].sort(),
    linux: {
      namespaces: ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
      capabilities: capNames(),
      cgroup: { v1: true, v2: true, systemd: false, systemdUser: false, rdma: true },
      seccomp: {
        enabled: true,
        actions: [...SUPPORTED_ACTIONS],
        operators: [...SUPPORTED_OPERATORS],
        archs: Object.keys(ARCHES).sort(),
        knownFlags: [...SUPPORTED_FLAGS],
        // the flags this kernel takes (WAIT_KILLABLE_RECV, for notify listeners, came in 5.19)
        supportedFlags: SUPPORTED_FLAGS.filter((f) => f !== "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" || kernelAtLeast(5, 19)),
      },
      apparmor: { enabled: false },
      selinux: { enabled: false },
      intelRdt: { enabled: false },
      mountExtensions: { idmap: { enabled: false } },
    },
    annotations: {
      "org.opencontainers.runtime-spec.features.berth.version": version,
      // what happens to a linux.resources field the host cannot enforce (the "say which")
      "org.opencontainers.runtime-spec.features.berth.cgroups.unenforceable":
        "error: a field whose controller is not mounted (v1) or not available (v2); ignored, as runc: blockIO.leafWeight on v2, blockIO.weightDevice on v2 without BFQ; rootless without a delegated cgroup: no cgroup is made, and any limit set is an error",
    },
  };
}

/** Whether the running kernel's release is at least major.minor. */
function kernelAtLeast(major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release());
  if (!m) return false;
  const [maj, min] = [Number(m[1]), Number(m[2])];
  return maj > major || (maj === major && min >= minor);
}
