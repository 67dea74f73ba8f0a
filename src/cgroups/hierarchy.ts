import { readFileSync } from "node:fs";
import { posix } from "node:path";

/** How this host mounts cgroups: pure v2, pure v1, or v1 with a cgroup2 beside it. */
export type CgroupMode = "unified" | "legacy" | "hybrid";

export interface Hierarchy {
  /** "memory", "cpu,cpuacct", "name=systemd", or "" for cgroup2 */
  name: string;
  controllers: string[];
  mountpoint: string;
  /** the cgroup path the mount exposes as its root (not "/" inside containers) */
  root: string;
  version: 1 | 2;
}

/** Parse /proc/self/mountinfo for cgroup and cgroup2 mounts. */
export function parseHierarchies(mountinfo: string): Hierarchy[] {
  const out: Hierarchy[] = [];
  for (const line of mountinfo.split("\n")) {
    const sep = line.indexOf(" - ");
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(" ");
    const [fstype, , superOpts = ""] = line.slice(sep + 3).split(" ");
    if (fstype !== "cgroup" && fstype !== "cgroup2") continue;
    const root = unescapeOctal(left[3] ?? "/");
    const mountpoint = unescapeOctal(left[4] ?? "");
    if (fstype === "cgroup2") {
      out.push({ name: "", controllers: [], mountpoint, root, version: 2 });
      continue;
    }
    const opts = superOpts.split(",");
    const controllers = opts.filter((o) => KNOWN_V1.has(o));
    const named = opts.find((o) => o.startsWith("name="));
    const name = named ?? controllers.join(",");
    if (!name || out.some((h) => h.name === name)) continue;
    out.push({ name, controllers, mountpoint, root, version: 1 });
  }
  return out;
}

const KNOWN_V1 = new Set([
  "cpu",
  "cpuacct",
  "cpuset",
  "memory",
  "devices",
  "freezer",
  "net_cls",
  "net_prio",
  "blkio",
  "perf_event",
  "hugetlb",
  "pids",
  "rdma",
  "misc",
]);

function unescapeOctal(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

/** Parse /proc/<pid>/cgroup: hierarchy name ("" for v2) -> path. */
export function parseProcCgroup(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split("\n")) {
    const first = line.indexOf(":");
    const second = line.indexOf(":", first + 1);
    if (first < 0 || second < 0) continue;
    m.set(line.slice(first + 1, second), line.slice(second + 1));
  }
  return m;
}

export function detectMode(hs: Hierarchy[]): CgroupMode {
  const v1 = hs.some((h) => h.version === 1);
  const v2 = hs.some((h) => h.version === 2);
  if (v2 && !v1) return "unified";
  return v2 ? "hybrid" : "legacy";
}

let cached: { hierarchies: Hierarchy[]; own: Map<string, string> } | undefined;

/** Forget the parsed mount table (a long-lived process re-reads it per request). */
export function resetHostCgroups(): void {
  cached = undefined;
}

export function hostCgroups(): { hierarchies: Hierarchy[]; own: Map<string, string>; mode: CgroupMode } {
  cached ??= {
    hierarchies: parseHierarchies(readFileSync("/proc/self/mountinfo", "utf8")),
    own: parseProcCgroup(readFileSync("/proc/self/cgroup", "utf8")),
  };
  return { ...cached, mode: detectMode(cached.hierarchies) };
}

/**
 * The directory of cgroup `path` in a hierarchy. An absolute path is taken
 * from the hierarchy's root; a relative one from the caller's own cgroup
 * (as runc does for the default, which is the container id).
 */
export function cgroupDir(h: Hierarchy, own: string | undefined, path: string): string {
  const full = path.startsWith("/") ? path : posix.join(own ?? "/", path);
  const rel = posix.relative(h.root, posix.normalize(full));
  if (rel.startsWith("..")) return posix.join(h.mountpoint, posix.normalize(full));
  return posix.join(h.mountpoint, rel);
}
