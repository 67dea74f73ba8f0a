import type * as ChildProcess from "node:child_process";
import { failedPrecondition } from "../errors/index.js";
import type { Hook } from "../oci/index.js";

/**
 * Run hooks in the runtime's namespace (prestart, createRuntime, poststart,
 * poststop), each with the container state on stdin, in order. A hook fails
 * on a non-zero exit or past its timeout.
 */
export function runHooks(hooks: Hook[] | undefined, kind: string, state: string): void {
  if (!hooks?.length) return;
  // loaded on first use: child_process costs every runtime start ~4 ms otherwise
  const { spawnSync } = process.getBuiltinModule("node:child_process") as typeof ChildProcess;
  for (const [i, h] of (hooks ?? []).entries()) {
    const args = h.args ?? [h.path];
    const r = spawnSync(h.path, args.slice(1), {
      argv0: args[0] ?? h.path,
      env: Object.fromEntries((h.env ?? []).map((e) => splitEnv(e))),
      input: state,
      stdio: ["pipe", "pipe", "pipe"],
      ...(h.timeout ? { timeout: h.timeout * 1000, killSignal: "SIGKILL" as const } : {}),
    });
    const out = `${r.stderr?.toString() ?? ""}${r.stdout?.toString() ?? ""}`.trim().slice(0, 500);
    if (r.error) throw failedPrecondition(`${kind} hook #${i} ${h.path}: ${r.error.message}`);
    if (r.signal) throw failedPrecondition(`${kind} hook #${i} ${h.path}: ${h.timeout ? "timed out" : `killed by ${r.signal}`}`);
    if (r.status !== 0)
      throw failedPrecondition(`${kind} hook #${i} ${h.path} exited with status ${r.status}${out ? `: ${out}` : ""}`);
  }
}

function splitEnv(e: string): [string, string] {
  const k = e.indexOf("=");
  return k < 0 ? [e, ""] : [e.slice(0, k), e.slice(k + 1)];
}
