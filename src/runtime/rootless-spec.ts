import type { Spec } from "../oci/index.js";

/**
 * `spec --rootless`: turn a default spec into one an unprivileged user can run,
 * as runc's specconv.ToRootless does: a user namespace mapping the caller's
 * euid/egid to root (one id each, which needs no helper), no network namespace
 * (the host's: an unprivileged user can give a new one no link out), /sys bound
 * from the host (sysfs cannot be mounted without a network namespace of our
 * own), no uid=/gid= mount options (those ids are unmapped) and no cgroup
 * resources (without a delegated cgroup there is nowhere to set them).
 */
export function toRootless(spec: Spec, ids: { uid: number; gid: number }): Spec {
  const s = structuredClone(spec);
  const linux = s.linux ?? {};
  linux.namespaces = [...(linux.namespaces ?? []).filter((n) => n.type !== "network" && n.type !== "user"), { type: "user" }];
  linux.uidMappings = [{ containerID: 0, hostID: ids.uid, size: 1 }];
  linux.gidMappings = [{ containerID: 0, hostID: ids.gid, size: 1 }];
  delete linux.resources;
  s.linux = linux;
  s.mounts = (s.mounts ?? []).map((m) => {
    if (m.destination.replace(/\/+$/, "") === "/sys")
      return { destination: "/sys", type: "none", source: "/sys", options: ["rbind", "nosuid", "noexec", "nodev", "ro"] };
    if (!m.options) return m;
    return { ...m, options: m.options.filter((o) => !o.startsWith("uid=") && !o.startsWith("gid=")) };
  });
  return s;
}
