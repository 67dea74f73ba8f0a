import { encodePlan } from "../../native/index.js";
import { validateSpec } from "../../oci/index.js";
import { buildCreatePlan, buildExecPlan, defaultSpec, features, parseSignal } from "../../runtime/index.js";
import { defaultSeccompProfile } from "../../seccomp/index.js";
import { parseFlags } from "../args.js";

/**
 * Run the CLI's hot paths once, without touching the system, so that the
 * code cache written at exit (see loader.ts) holds them compiled: the build
 * does this, and a cold `create` then compiles almost nothing.
 */
export function warmCodeCache(): void {
  parseFlags(
    ["--bundle", "/b", "--pid-file=/p", "x"],
    [
      { name: "bundle", type: "string" },
      { name: "pid-file", type: "string" },
    ],
    "warmup",
  );
  const spec = validateSpec(JSON.parse(JSON.stringify(defaultSpec())));
  if (spec.process) spec.process.terminal = false;
  const caps = spec.process?.capabilities?.bounding ?? [];
  if (spec.linux) spec.linux.seccomp = defaultSeccompProfile(caps);
  const host = {
    lastCap: 40,
    isDir: () => true,
    exists: () => true,
    cgroupPaths: { memory: "/sys/fs/cgroup/memory/x", "": "/sys/fs/cgroup/unified/x" },
    warn: () => {},
  };
  const opts = { rootfs: "/b/rootfs", bundle: "/b", fifo: "/run/x/exec.fifo", noPivot: false, preserveFds: 0, terminal: false };
  encodePlan(buildCreatePlan(spec, opts, host));
  if (spec.process)
    encodePlan(buildExecPlan(spec.process, [{ type: "pid", path: "/proc/1/ns/pid" }], { preserveFds: 0, terminal: false }, host));
  features("warmup");
  parseSignal("TERM");
}
