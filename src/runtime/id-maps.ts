import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { errnoCode, permissionDenied } from "../errors/index.js";
import type { IdMapping } from "../oci/index.js";

/** What writing id maps touches: a recording fake stands in for it in unit tests. */
export interface IdMapIo {
  /** euid != 0: the kernel's rules for unprivileged writers apply (user_namespaces(7)) */
  rootless: boolean;
  /** the caller's effective gid, the only one it may map without a helper */
  egid: number;
  writeFile(path: string, data: string): void;
  /** run a setuid helper (newuidmap, newgidmap) with these arguments */
  runTool(tool: string, args: string[]): void;
}

export const hostIdMapIo = (): IdMapIo => ({
  rootless: process.geteuid?.() !== 0,
  egid: process.getegid?.() ?? 0,
  writeFile: (path, data) => writeFileSync(path, data),
  runTool: (tool, args) => {
    execFileSync(tool, args, { stdio: ["ignore", "ignore", "pipe"], encoding: "utf8" });
  },
});

/**
 * Write the uid and gid maps of the user namespace `pid` just created. Root
 * writes any mapping. An unprivileged caller may map only its own ids: for a
 * single self-mapping of its gid it first denies setgroups, as the kernel
 * requires; any other mapping goes through newuidmap/newgidmap (Debian's
 * uidmap package), which check it against /etc/subuid and /etc/subgid. This is
 * runc's order: setgroups, uid_map, gid_map.
 */
export function writeIdMaps(
  pid: number,
  uid: IdMapping[] | undefined,
  gid: IdMapping[] | undefined,
  io: IdMapIo = hostIdMapIo(),
): void {
  const selfGid = gid?.length === 1 && gid[0]?.size === 1 && gid[0].hostID === io.egid;
  if (io.rootless && gid?.length && selfGid) io.writeFile(`/proc/${pid}/setgroups`, "deny");
  if (uid?.length) writeMap(pid, "uid", uid, io);
  if (gid?.length) {
    // a mapping beyond our own gid can only succeed through the helper: skip the certain EPERM
    if (io.rootless && !selfGid) runHelper(pid, "gid", gid, io);
    else writeMap(pid, "gid", gid, io);
  }
}

function writeMap(pid: number, kind: "uid" | "gid", ms: IdMapping[], io: IdMapIo): void {
  const text = ms.map((m) => `${m.containerID} ${m.hostID} ${m.size}\n`).join("");
  try {
    io.writeFile(`/proc/${pid}/${kind}_map`, text);
  } catch (err) {
    // EPERM: the kernel refuses this mapping to an unprivileged writer; the helper may grant it
    if (!io.rootless || errnoCode(err) !== "EPERM") throw err;
    runHelper(pid, kind, ms, io);
  }
}

function runHelper(pid: number, kind: "uid" | "gid", ms: IdMapping[], io: IdMapIo): void {
  const tool = `new${kind}map`;
  const args = [String(pid), ...ms.flatMap((m) => [String(m.containerID), String(m.hostID), String(m.size)])];
  try {
    io.runTool(tool, args);
  } catch (err) {
    const field = `linux.${kind}Mappings`;
    if (errnoCode(err) === "ENOENT")
      throw permissionDenied(
        `${field}: an unprivileged caller needs ${tool} (Debian's uidmap package) to map more than its own ${kind}`,
        err,
      );
    const stderr = String((err as { stderr?: unknown }).stderr ?? "").trim();
    throw permissionDenied(
      `${field}: ${tool} ${args.join(" ")} failed${stderr ? `: ${stderr}` : ""} (check /etc/sub${kind})`,
      err,
    );
  }
}
