import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { errnoCode, failedPrecondition, internal, invalidArgument, notFound } from "../errors/index.js";
import { loadManager } from "../cgroups/index.js";
import type { CgroupManager } from "../cgroups/index.js";
import { OCI_VERSION } from "../oci/index.js";
import type { Spec, State, Status } from "../oci/index.js";

/** What berth-runtime keeps about a container in `<root>/<id>/state.json`. */
export interface ContainerState {
  id: string;
  /** host pid of the container's init; 0 while creating */
  pid: number;
  /** the init's start time (field 22 of /proc/<pid>/stat), so a recycled pid is not mistaken for it */
  pidStart: string;
  bundle: string;
  rootfs: string;
  created: string;
  owner: string;
  /** "creating" until create finished; "stopped" once seen dead, otherwise derived live */
  recorded: "creating" | "created" | "stopped";
  annotations: Record<string, string>;
  cgroupVersion: 1 | 2;
  cgroupPaths: Record<string, string>;
  /** namespace types the container got new (not joined, not shared with the host) */
  namespaces: string[];
  config: Spec;
}

export const ID_PATTERN = /^[\w+.-]+$/;

export function checkId(id: string | undefined): string {
  if (!id) throw invalidArgument("container id cannot be empty");
  if (!ID_PATTERN.test(id) || id === "." || id === ".." || id.length > 1024)
    throw invalidArgument(`invalid container id "${id}": only letters, digits, "_", "+", "-" and "." are allowed`);
  return id;
}

export const containerDir = (root: string, id: string) => join(root, id);
export const fifoPath = (root: string, id: string) => join(root, id, "exec.fifo");

export function loadState(root: string, id: string): ContainerState {
  checkId(id);
  let text: string;
  try {
    text = readFileSync(join(root, id, "state.json"), "utf8");
  } catch (err) {
    if (errnoCode(err) === "ENOENT") throw notFound(`container "${id}" does not exist`);
    throw internal(`read state of container "${id}"`, err);
  }
  try {
    return JSON.parse(text) as ContainerState;
  } catch (err) {
    throw internal(`state of container "${id}" is corrupt`, err);
  }
}

/**
 * Write state.json atomically: a temp file renamed over the old one, so a reader
 * sees the old or the new state, never half of one. No fsync: the state root is
 * runtime state (tmpfs /run), meaningless after a crash of the machine.
 */
export function saveState(root: string, s: ContainerState): void {
  const dir = join(root, s.id);
  const tmp = join(dir, `.state.json.${process.pid}`);
  writeFileSync(tmp, JSON.stringify(s), { mode: 0o600 });
  renameSync(tmp, join(dir, "state.json"));
}

/** The start time of a process, or undefined when there is none (or only a zombie). */
export function processStart(pid: number): string | undefined {
  if (pid <= 0) return undefined;
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // comm may contain spaces and parentheses: fields start after the last ")"
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  if (fields[0] === "Z" || fields[0] === "X") return undefined;
  return fields[19];
}

export function cgroupOf(s: ContainerState): CgroupManager {
  return loadManager(s.cgroupVersion, s.cgroupPaths);
}

/** Whether the container has a cgroup at all: one created rootless without delegation has none. */
export const hasCgroup = (s: ContainerState) => Object.keys(s.cgroupPaths).length > 0;

/**
 * Whether a new process of a container (create's init, exec's process) places itself in the
 * container's cgroups: cloned into its cgroup2 cgroup, writing "0" to its v1 `tasks` files.
 * Moving it from the runtime costs ~10 ms (the kernel's threadgroup lock waits for an RCU grace
 * period). Not rootless, nor under a user namespace (the process's own uid may not write the
 * host's cgroup files), and only where the container has cgroups.
 */
export function placesItself(cgroupPaths: Record<string, string>, namespaceTypes: readonly string[]): boolean {
  return process.geteuid?.() === 0 && !namespaceTypes.includes("user") && Object.keys(cgroupPaths).length > 0;
}

/** The container's cgroup, or a FailedPrecondition naming `action` when it has none. */
export function requireCgroup(s: ContainerState, action: string): CgroupManager {
  if (!hasCgroup(s))
    throw failedPrecondition(
      `cannot ${action} container "${s.id}": it has no cgroup (created rootless without a delegated cgroup)`,
    );
  return cgroupOf(s);
}

/** The live status: the recorded one corrected by whether the init still exists. */
export function statusOf(root: string, s: ContainerState): Status {
  if (s.recorded === "creating") return processStart(s.pid) !== undefined || s.pid === 0 ? "creating" : "stopped";
  if (s.recorded === "stopped") return "stopped";
  if (processStart(s.pid) !== s.pidStart) return "stopped";
  if (existsSync(fifoPath(root, s.id))) return "created";
  if (hasCgroup(s) && cgroupOf(s).frozen()) return "paused";
  return "running";
}

export function ociState(root: string, s: ContainerState): State & { rootfs: string; created: string; owner: string } {
  const status = statusOf(root, s);
  return {
    ociVersion: OCI_VERSION,
    id: s.id,
    pid: status === "stopped" ? 0 : s.pid,
    status,
    bundle: s.bundle,
    rootfs: s.rootfs,
    created: s.created,
    annotations: s.annotations,
    owner: s.owner,
  };
}

/** The state JSON hooks read on stdin: exactly the spec's fields. */
export function hookState(root: string, s: ContainerState, status?: Status): string {
  const st: State = {
    ociVersion: OCI_VERSION,
    id: s.id,
    status: status ?? statusOf(root, s),
    pid: s.pid,
    bundle: s.bundle,
    annotations: s.annotations,
  };
  return JSON.stringify(st);
}

/* Guards: which operation each status allows (youki's can_start, can_kill ...). */
export const canStart = (st: Status) => st === "created";
export const canKill = (st: Status) => st === "created" || st === "running" || st === "paused";
export const canDelete = (st: Status) => st === "stopped" || st === "created" || st === "creating";
export const canExec = (st: Status) => st === "created" || st === "running";
export const canPause = (st: Status) => st === "running" || st === "created";
export const canResume = (st: Status) => st === "paused";

export function requireStatus(id: string, st: Status, ok: boolean, action: string): void {
  if (!ok) throw failedPrecondition(`cannot ${action} container "${id}": it is ${st}`);
}
