import { constants } from "node:fs";
import { access } from "node:fs/promises";
import { join } from "node:path";
import { type BerthError, failedPrecondition, internal, invalidArgument, notFound, unavailable } from "../errors/index.js";
import { execProgram } from "./exec.js";

/** Where Debian's containernetworking-plugins installs the plugins. */
export const defaultCniPath: readonly string[] = ["/usr/lib/cni", "/opt/cni/bin"];

export type CniCommand = "ADD" | "DEL" | "CHECK" | "VERSION";

/** One plugin execution (CNI spec 1.0.0, "Parameters"). */
export interface PluginCall {
  command: CniCommand;
  /** the plugin type: the executable's name in one of the CNI path dirs */
  type: string;
  containerId?: string;
  netns?: string;
  ifname?: string;
  /** "K=V;K=V" */
  args?: string;
  /** the configuration written to stdin */
  config: Record<string, unknown>;
  /** directories searched for plugins (and handed to plugins as CNI_PATH, for IPAM) */
  cniPath: readonly string[];
  timeoutMs?: number;
}

/** The error a plugin reported (CNI spec 1.0.0, "Error"), kept as the cause of a BerthError. */
export class CniPluginError extends Error {
  readonly cniCode: number;
  readonly msg: string;
  readonly details: string;
  constructor(cniCode: number, msg: string, details: string) {
    super(details ? `${msg}: ${details}` : msg);
    this.name = "CniPluginError";
    this.cniCode = cniCode;
    this.msg = msg;
    this.details = details;
  }
}

/** The executable for plugin `type`: the first match in `cniPath`. NotFound when none. */
export async function findPlugin(type: string, cniPath: readonly string[]): Promise<string> {
  if (!/^[a-zA-Z0-9_.-]+$/.test(type) || type === "." || type === "..") {
    throw invalidArgument(`invalid cni plugin type "${type}"`);
  }
  for (const dir of cniPath) {
    const file = join(dir, type);
    try {
      await access(file, constants.X_OK);
      return file;
    } catch {
      // absent or not executable here: the next directory may have it
    }
  }
  throw notFound(`find cni plugin "${type}": no executable of that name in ${cniPath.join(":") || "(empty CNI path)"}`);
}

/** Maps a CNI error code (spec's "Error" table) onto berth's error kinds. */
function kindFor(code: number, message: string, cause: unknown): BerthError {
  switch (code) {
    case 1: // incompatible CNI version
      return failedPrecondition(message, cause);
    case 7: // invalid network config
      return invalidArgument(message, cause);
    case 11: // try again later
      return unavailable(message, cause);
    default:
      return internal(message, cause);
  }
}

/**
 * Executes one plugin and returns its parsed stdout (undefined when it printed nothing, as DEL
 * and CHECK may). A plugin's error object becomes a BerthError whose message carries the
 * plugin's msg and details, with a CniPluginError as cause.
 */
export async function invokePlugin(call: PluginCall): Promise<unknown> {
  const file = await findPlugin(call.type, call.cniPath);
  const what = `cni plugin "${call.type}" ${call.command}${call.containerId ? ` for container ${call.containerId}` : ""}`;
  const env: NodeJS.ProcessEnv = {
    CNI_COMMAND: call.command,
    CNI_PATH: call.cniPath.join(":"),
    // plugins run iptables, ip, modprobe...
    PATH: process.env["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin",
  };
  if (call.command !== "VERSION") {
    env["CNI_CONTAINERID"] = call.containerId ?? "";
    env["CNI_NETNS"] = call.netns ?? "";
    env["CNI_IFNAME"] = call.ifname ?? "";
    env["CNI_ARGS"] = call.args ?? "";
  }
  let res: Awaited<ReturnType<typeof execProgram>>;
  try {
    res = await execProgram(file, [], { input: JSON.stringify(call.config), env, timeoutMs: call.timeoutMs ?? 60_000 });
  } catch (e) {
    throw internal(`${what}: run ${file}`, e);
  }
  const out = res.stdout.trim();
  if (res.code !== 0) {
    if (res.signal) throw internal(`${what}: killed by ${res.signal}${res.signal === "SIGKILL" ? " (timed out?)" : ""}`);
    const reported = parseErrorObject(out);
    if (reported) {
      const cause = new CniPluginError(reported.code, reported.msg, reported.details);
      throw kindFor(reported.code, `${what}: ${cause.message}`, cause);
    }
    const text = (out || res.stderr).trim().slice(0, 2000);
    throw internal(`${what}: exit status ${res.code}${text ? `: ${text}` : " and no error object"}`);
  }
  if (out === "") return undefined;
  try {
    return JSON.parse(out) as unknown;
  } catch (e) {
    throw internal(`${what}: malformed result (not JSON): ${out.slice(0, 200)}`, e);
  }
}

function parseErrorObject(text: string): { code: number; msg: string; details: string } | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined; // not an error object: the caller shows the raw output
  }
  if (typeof v !== "object" || v === null || !("msg" in v) || typeof v.msg !== "string") return undefined;
  const code = "code" in v && typeof v.code === "number" ? v.code : 0;
  const details = "details" in v && typeof v.details === "string" ? v.details : "";
  return { code, msg: v.msg, details };
}

/** The CNI versions a plugin supports (CNI_COMMAND=VERSION). */
export async function pluginVersions(type: string, cniPath: readonly string[]): Promise<string[]> {
  const out = await invokePlugin({ command: "VERSION", type, cniPath, config: { cniVersion: "1.0.0" } });
  if (typeof out === "object" && out !== null && "supportedVersions" in out && Array.isArray(out.supportedVersions)) {
    return out.supportedVersions.filter((v): v is string => typeof v === "string");
  }
  throw internal(`cni plugin "${type}" VERSION: malformed result: ${JSON.stringify(out).slice(0, 200)}`);
}
