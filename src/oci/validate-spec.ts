import { invalidArgument } from "../errors/index.js";
import type { Hook, IdMapping, Process, Spec } from "./runtime-spec.js";

/**
 * Check a parsed config.json at the trust boundary and return it typed.
 * Every error names the field, JSON-path style: `process.user.uid: must be a
 * non-negative integer`. Unknown fields are allowed, as the spec says.
 */
export function validateSpec(value: unknown): Spec {
  const v = new Checker();
  v.object(value, "");
  const s = value as Record<string, unknown>;
  v.string(s["ociVersion"], "ociVersion");
  if (!/^1\.\d+\.\d+/.test(s["ociVersion"] as string))
    throw invalidArgument(`ociVersion: unsupported version "${s["ociVersion"]}" (want 1.x.y)`);
  if (s["root"] !== undefined) {
    v.object(s["root"], "root");
    const r = s["root"] as Record<string, unknown>;
    v.string(r["path"], "root.path");
    if (r["path"] === "") throw invalidArgument("root.path: must not be empty");
    v.optBool(r["readonly"], "root.readonly");
  }
  v.optString(s["hostname"], "hostname");
  v.optString(s["domainname"], "domainname");
  if (s["process"] !== undefined) validateProcess(s["process"], "process");
  if (s["mounts"] !== undefined) {
    v.array(s["mounts"], "mounts");
    (s["mounts"] as unknown[]).forEach((m, i) => {
      const p = `mounts[${i}]`;
      v.object(m, p);
      const mm = m as Record<string, unknown>;
      v.string(mm["destination"], `${p}.destination`);
      if (!(mm["destination"] as string).startsWith("/"))
        throw invalidArgument(`${p}.destination: must be an absolute path, got "${mm["destination"]}"`);
      v.optString(mm["type"], `${p}.type`);
      v.optString(mm["source"], `${p}.source`);
      v.optStringArray(mm["options"], `${p}.options`);
      if (mm["uidMappings"] !== undefined) idMappings(v, mm["uidMappings"], `${p}.uidMappings`);
      if (mm["gidMappings"] !== undefined) idMappings(v, mm["gidMappings"], `${p}.gidMappings`);
    });
  }
  if (s["hooks"] !== undefined) {
    v.object(s["hooks"], "hooks");
    const h = s["hooks"] as Record<string, unknown>;
    for (const kind of ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]) {
      if (h[kind] === undefined) continue;
      v.array(h[kind], `hooks.${kind}`);
      (h[kind] as unknown[]).forEach((hook, i) => validateHook(v, hook, `hooks.${kind}[${i}]`));
    }
  }
  if (s["annotations"] !== undefined) {
    v.object(s["annotations"], "annotations");
    for (const [k, val] of Object.entries(s["annotations"] as object)) v.string(val, `annotations.${k}`);
  }
  if (s["linux"] !== undefined) validateLinux(v, s["linux"]);
  return value as Spec;
}

export function validateProcess(value: unknown, path: string): Process {
  const v = new Checker();
  v.object(value, path);
  const p = value as Record<string, unknown>;
  v.optBool(p["terminal"], `${path}.terminal`);
  if (p["consoleSize"] !== undefined) {
    v.object(p["consoleSize"], `${path}.consoleSize`);
    const c = p["consoleSize"] as Record<string, unknown>;
    v.uint(c["height"], `${path}.consoleSize.height`);
    v.uint(c["width"], `${path}.consoleSize.width`);
  }
  v.object(p["user"], `${path}.user`);
  const u = p["user"] as Record<string, unknown>;
  v.uint(u["uid"], `${path}.user.uid`);
  v.uint(u["gid"], `${path}.user.gid`);
  if (u["umask"] !== undefined) v.uint(u["umask"], `${path}.user.umask`);
  if (u["additionalGids"] !== undefined) {
    v.array(u["additionalGids"], `${path}.user.additionalGids`);
    (u["additionalGids"] as unknown[]).forEach((g, i) => v.uint(g, `${path}.user.additionalGids[${i}]`));
  }
  v.optStringArray(p["args"], `${path}.args`);
  if (p["args"] === undefined || (p["args"] as unknown[]).length === 0)
    throw invalidArgument(`${path}.args: must have at least one entry`);
  v.optStringArray(p["env"], `${path}.env`);
  v.string(p["cwd"], `${path}.cwd`);
  if (!(p["cwd"] as string).startsWith("/")) throw invalidArgument(`${path}.cwd: must be an absolute path, got "${p["cwd"]}"`);
  if (p["capabilities"] !== undefined) {
    v.object(p["capabilities"], `${path}.capabilities`);
    const c = p["capabilities"] as Record<string, unknown>;
    for (const set of ["bounding", "effective", "inheritable", "permitted", "ambient"])
      v.optStringArray(c[set], `${path}.capabilities.${set}`);
  }
  if (p["rlimits"] !== undefined) {
    v.array(p["rlimits"], `${path}.rlimits`);
    (p["rlimits"] as unknown[]).forEach((r, i) => {
      const rp = `${path}.rlimits[${i}]`;
      v.object(r, rp);
      const rr = r as Record<string, unknown>;
      v.string(rr["type"], `${rp}.type`);
      v.uint(rr["soft"], `${rp}.soft`);
      v.uint(rr["hard"], `${rp}.hard`);
    });
  }
  v.optBool(p["noNewPrivileges"], `${path}.noNewPrivileges`);
  if (p["oomScoreAdj"] !== undefined) v.int(p["oomScoreAdj"], `${path}.oomScoreAdj`);
  v.optString(p["apparmorProfile"], `${path}.apparmorProfile`);
  v.optString(p["selinuxLabel"], `${path}.selinuxLabel`);
  return value as Process;
}

function validateHook(v: Checker, value: unknown, path: string): Hook {
  v.object(value, path);
  const h = value as Record<string, unknown>;
  v.string(h["path"], `${path}.path`);
  if (!(h["path"] as string).startsWith("/")) throw invalidArgument(`${path}.path: must be an absolute path`);
  v.optStringArray(h["args"], `${path}.args`);
  v.optStringArray(h["env"], `${path}.env`);
  if (h["timeout"] !== undefined) {
    v.int(h["timeout"], `${path}.timeout`);
    if ((h["timeout"] as number) <= 0) throw invalidArgument(`${path}.timeout: must be greater than zero`);
  }
  return value as Hook;
}

function idMappings(v: Checker, value: unknown, path: string): IdMapping[] {
  v.array(value, path);
  (value as unknown[]).forEach((m, i) => {
    v.object(m, `${path}[${i}]`);
    const mm = m as Record<string, unknown>;
    v.uint(mm["containerID"], `${path}[${i}].containerID`);
    v.uint(mm["hostID"], `${path}[${i}].hostID`);
    v.uint(mm["size"], `${path}[${i}].size`);
  });
  return value as IdMapping[];
}

const namespaceTypes = new Set(["pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time"]);

function validateLinux(v: Checker, value: unknown): void {
  v.object(value, "linux");
  const l = value as Record<string, unknown>;
  if (l["namespaces"] !== undefined) {
    v.array(l["namespaces"], "linux.namespaces");
    const seen = new Set<string>();
    (l["namespaces"] as unknown[]).forEach((n, i) => {
      const p = `linux.namespaces[${i}]`;
      v.object(n, p);
      const nn = n as Record<string, unknown>;
      v.string(nn["type"], `${p}.type`);
      if (!namespaceTypes.has(nn["type"] as string)) throw invalidArgument(`${p}.type: unknown namespace type "${nn["type"]}"`);
      if (seen.has(nn["type"] as string)) throw invalidArgument(`${p}.type: duplicate namespace "${nn["type"]}"`);
      seen.add(nn["type"] as string);
      v.optString(nn["path"], `${p}.path`);
    });
  }
  if (l["uidMappings"] !== undefined) idMappings(v, l["uidMappings"], "linux.uidMappings");
  if (l["gidMappings"] !== undefined) idMappings(v, l["gidMappings"], "linux.gidMappings");
  if (l["devices"] !== undefined) {
    v.array(l["devices"], "linux.devices");
    (l["devices"] as unknown[]).forEach((d, i) => {
      const p = `linux.devices[${i}]`;
      v.object(d, p);
      const dd = d as Record<string, unknown>;
      v.string(dd["type"], `${p}.type`);
      if (!["c", "b", "u", "p"].includes(dd["type"] as string))
        throw invalidArgument(`${p}.type: must be one of c, b, u, p; got "${dd["type"]}"`);
      v.string(dd["path"], `${p}.path`);
      if (dd["type"] !== "p") {
        v.int(dd["major"], `${p}.major`);
        v.int(dd["minor"], `${p}.minor`);
      }
      if (dd["fileMode"] !== undefined) v.uint(dd["fileMode"], `${p}.fileMode`);
      if (dd["uid"] !== undefined) v.uint(dd["uid"], `${p}.uid`);
      if (dd["gid"] !== undefined) v.uint(dd["gid"], `${p}.gid`);
    });
  }
  v.optString(l["cgroupsPath"], "linux.cgroupsPath");
  if (l["rootfsPropagation"] !== undefined) {
    v.string(l["rootfsPropagation"], "linux.rootfsPropagation");
    const ok = ["private", "rprivate", "slave", "rslave", "shared", "rshared", "unbindable", "runbindable"];
    if (!ok.includes(l["rootfsPropagation"] as string))
      throw invalidArgument(`linux.rootfsPropagation: unknown value "${l["rootfsPropagation"]}"`);
  }
  if (l["sysctl"] !== undefined) {
    v.object(l["sysctl"], "linux.sysctl");
    for (const [k, val] of Object.entries(l["sysctl"] as object)) v.string(val, `linux.sysctl.${k}`);
  }
  v.optStringArray(l["maskedPaths"], "linux.maskedPaths");
  v.optStringArray(l["readonlyPaths"], "linux.readonlyPaths");
  if (l["resources"] !== undefined) v.object(l["resources"], "linux.resources");
  if (l["seccomp"] !== undefined) v.object(l["seccomp"], "linux.seccomp");
}

class Checker {
  object(x: unknown, path: string): void {
    if (typeof x !== "object" || x === null || Array.isArray(x))
      throw invalidArgument(`${path || "config"}: must be an object, got ${kind(x)}`);
  }
  array(x: unknown, path: string): void {
    if (!Array.isArray(x)) throw invalidArgument(`${path}: must be an array, got ${kind(x)}`);
  }
  string(x: unknown, path: string): void {
    if (typeof x !== "string") throw invalidArgument(`${path}: must be a string, got ${kind(x)}`);
  }
  optString(x: unknown, path: string): void {
    if (x !== undefined) this.string(x, path);
  }
  optBool(x: unknown, path: string): void {
    if (x !== undefined && typeof x !== "boolean") throw invalidArgument(`${path}: must be a boolean, got ${kind(x)}`);
  }
  int(x: unknown, path: string): void {
    if (typeof x !== "number" || !Number.isInteger(x)) throw invalidArgument(`${path}: must be an integer, got ${kind(x)}`);
  }
  uint(x: unknown, path: string): void {
    this.int(x, path);
    if ((x as number) < 0) throw invalidArgument(`${path}: must not be negative, got ${x}`);
  }
  optStringArray(x: unknown, path: string): void {
    if (x === undefined) return;
    this.array(x, path);
    (x as unknown[]).forEach((e, i) => this.string(e, `${path}[${i}]`));
  }
}

function kind(x: unknown): string {
  if (x === null) return "null";
  if (Array.isArray(x)) return "an array";
  if (x === undefined) return "nothing";
  return `${typeof x === "object" ? "an" : "a"} ${typeof x} ${typeof x === "object" ? "" : JSON.stringify(x)}`.trim();
}
