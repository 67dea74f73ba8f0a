import { chmodSync, mkdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { alreadyExists, errnoCode, internal, invalidArgument } from "../errors/index.js";
import type { CgroupManager } from "../cgroups/index.js";
import { newManager } from "../cgroups/index.js";
import { setDeviceFilterSyscalls } from "../cgroups/v2/manager-v2.js";
import { native } from "../native/index.js";
import type { DeviceCgroup, IdMapping, Spec } from "../oci/index.js";
import { validateSpec } from "../oci/index.js";
import { buildCreatePlan } from "./build-plan.js";
import type { ContainerState } from "./container-state.js";
import { checkId, containerDir, fifoPath, hookState, placesItself, processStart, saveState } from "./container-state.js";
import { sendSeccompListener } from "./seccomp-agent.js";
import type { RuntimeContext } from "./context.js";
import { hostFacts } from "./context.js";
import { unmountUnder } from "./delete.js";
import { runHooks } from "./hooks.js";
import { writeIdMaps } from "./id-maps.js";
import { launch } from "./launch.js";
import { writePidFile } from "./pid-file.js";
import { rootlessCgroups } from "./rootless-cgroups.js";

export interface CreateOptions {
  id: string;
  bundle: string;
  pidFile?: string;
  consoleSocket?: string;
  noPivot?: boolean;
  noNewKeyring?: boolean;
  preserveFds?: number;
  /** receive the pty master here instead of sending it to a console socket (attached `run -t`) */
  onPty?: (fd: number) => void;
}

export function loadBundleSpec(bundle: string): Spec {
  let text: string;
  try {
    text = readFileSync(resolve(bundle, "config.json"), "utf8");
  } catch (err) {
    throw invalidArgument(`open config.json in bundle "${bundle}"`, err);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw invalidArgument(`parse config.json in bundle "${bundle}"`, err);
  }
  return validateSpec(json);
}

/**
 * `create`: build the container from the bundle and leave its init blocked on
 * the exec fifo. On failure nothing is left: no state dir, cgroup or process.
 */
export function create(ctx: RuntimeContext, o: CreateOptions): ContainerState {
  const id = checkId(o.id);
  const bundle = resolve(o.bundle);
  const spec = loadBundleSpec(bundle);
  if (!spec.root?.path) throw invalidArgument("root.path: config.json has no root filesystem");
  const rootfs = resolve(bundle, spec.root.path);
  try {
    if (!statSync(rootfs).isDirectory()) throw invalidArgument(`root.path: "${rootfs}" is not a directory`);
  } catch (err) {
    if (errnoCode(err) === "ENOENT") throw invalidArgument(`root.path: "${rootfs}" does not exist`);
    throw err;
  }
  if (spec.process?.terminal && !o.consoleSocket && !o.onPty)
    throw invalidArgument("process.terminal: a terminal needs --console-socket");
  const rootless = process.geteuid?.() !== 0;
  // without privileges every namespace but the user namespace needs one the caller owns (runc checks the same)
  if (rootless && !(spec.linux?.namespaces ?? []).some((n) => n.type === "user"))
    throw invalidArgument("linux.namespaces: a rootless container needs a user namespace (see `spec --rootless`)");

  // cgroup v2 enforces device rules with an eBPF program: the cgroups policy loads it through the binding
  setDeviceFilterSyscalls(native());
  mkdirSync(ctx.root, { recursive: true, mode: 0o700 });
  if (rootless) keepFromCleanup(ctx.root);
  const dir = containerDir(ctx.root, id);
  try {
    mkdirSync(dir, { mode: 0o711 });
  } catch (err) {
    if (errnoCode(err) === "EEXIST") throw alreadyExists(`container with id "${id}" already exists`);
    throw err;
  }
  let cg: CgroupManager = newManager(spec.linux?.cgroupsPath || id);
  let resources = spec.linux?.resources;
  const state: ContainerState = {
    id,
    pid: 0,
    pidStart: "",
    bundle,
    rootfs,
    created: new Date().toISOString(),
    owner: process.getuid?.() === 0 ? "root" : String(process.getuid?.()),
    recorded: "creating",
    annotations: spec.annotations ?? {},
    cgroupVersion: cg.version,
    cgroupPaths: cg.paths,
    namespaces: (spec.linux?.namespaces ?? []).filter((n) => !n.path).map((n) => n.type),
    config: spec,
  };
  const newUserns = (spec.linux?.namespaces ?? []).some((n) => n.type === "user" && !n.path);
  // linux.devices are allowed in the device cgroup, as runc does (mknod needs "m" already);
  // fifos need no rule, "u" is a char device
  const devices = (spec.linux?.devices ?? []).flatMap((d) => {
    if (d.type === "p") return [];
    const rule: DeviceCgroup = { allow: true, type: d.type === "u" ? "c" : d.type, access: "rwm" };
    if (d.major !== undefined) rule.major = d.major;
    if (d.minor !== undefined) rule.minor = d.minor;
    return [rule];
  });
  // the init places itself in cgroups made and limited beforehand (placesItself says when)
  const selfJoin = placesItself(
    cg.paths,
    (spec.linux?.namespaces ?? []).map((n) => n.type),
  );
  let placed = false;
  try {
    if (rootless) {
      ({ cg, resources } = rootlessCgroups(cg, spec, (m) => ctx.log("debug", m)));
      state.cgroupPaths = cg.paths;
      // the (delegated) cgroup dirs it made are ours to remove on failure, as after placing the init
      placed = true;
    }
    let cgroupJoin: { into?: string; tasks: string[] } | undefined;
    if (selfJoin) {
      placed = true;
      cgroupJoin = cg.prepareSelfJoin(true);
      if (resources) cg.set(resources, devices);
    }
    native().mkfifo(fifoPath(ctx.root, id), 0o622);
    // past the umask: a user-namespaced init (an unmapped "other" to this file) must open it to write
    chmodSync(fifoPath(ctx.root, id), 0o622);
    saveState(ctx.root, state);
    const plan = buildCreatePlan(
      spec,
      {
        rootfs,
        bundle,
        fifo: fifoPath(ctx.root, id),
        noPivot: o.noPivot ?? false,
        preserveFds: o.preserveFds ?? 0,
        terminal: Boolean(spec.process?.terminal),
        ...(cgroupJoin ? { cgroupJoin } : {}),
      },
      {
        ...hostFacts(ctx, cg.paths),
        // the gid self-mapping an unprivileged caller writes requires setgroups "deny" (see id-maps.ts)
        setgroupsDenied: rootless && newUserns && isSelfMapping(spec.linux?.gidMappings, process.getegid?.() ?? 0),
      },
    );
    const pid = launch(plan, {
      init(pid, bornInCgroup) {
        if (newUserns) writeIdMaps(pid, spec.linux?.uidMappings, spec.linux?.gidMappings);
        placed = true;
        if (selfJoin) {
          // the init wrote its v1 tasks files; the cgroup2 one is ours where clone3 was refused
          if (!bornInCgroup) cg.apply(pid, [""]);
        } else {
          // rootless: what could be set is in `resources` (no device rules, see rootless-cgroups.ts)
          if (rootless) {
            if (resources && Object.keys(cg.paths).length) cg.set(resources);
          } else if (resources) cg.set(resources, devices);
          if (Object.keys(cg.paths).length) cg.apply(pid);
        }
        state.pid = pid;
        const started = processStart(pid);
        if (started === undefined) throw internal(`container init ${pid} vanished during create`);
        state.pidStart = started;
        saveState(ctx.root, state);
        return hookState(ctx.root, state, "creating");
      },
      createRuntime() {
        // prestart predates "creating": its callers (and runtime-tools) expect "created", as runc and crun give
        runHooks(spec.hooks?.prestart, "prestart", hookState(ctx.root, state, "created"));
        runHooks(spec.hooks?.createRuntime, "createRuntime", hookState(ctx.root, state, "creating"));
      },
      seccompListener(fd, pid) {
        sendSeccompListener(spec.linux?.seccomp, fd, pid, hookState(ctx.root, state, "creating"));
      },
      pty(fd, name) {
        if (o.onPty) return o.onPty(fd);
        native().sendFd(o.consoleSocket ?? "", fd, name, "console socket");
      },
      ...(ctx.debug ? { debug: (m: string) => ctx.log("debug", m) } : {}),
    });
    state.pid = pid;
    state.recorded = "created";
    saveState(ctx.root, state);
    if (o.pidFile) writePidFile(o.pidFile, pid);
    return state;
  } catch (err) {
    if (placed && Object.keys(cg.paths).length) {
      try {
        cg.destroy();
      } catch (e) {
        ctx.log("warning", `remove cgroup of "${id}" after a failed create: ${(e as Error).message}`);
      }
    }
    if (!(spec.linux?.namespaces ?? []).some((n) => n.type === "mount")) unmountUnder(rootfs);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

function isSelfMapping(ms: IdMapping[] | undefined, id: number): boolean {
  return ms?.length === 1 && ms[0]?.size === 1 && ms[0].hostID === id;
}

/**
 * An unprivileged caller's state root usually lies in $XDG_RUNTIME_DIR, where systemd removes
 * what has not been touched for a while unless it has the sticky bit (tmpfiles.d(5)): a
 * long-running container would lose its state. Set it, as runc does, on a root we own.
 */
function keepFromCleanup(root: string): void {
  const st = statSync(root);
  if (st.uid === process.geteuid?.() && !(st.mode & 0o1000)) chmodSync(root, (st.mode & 0o7777) | 0o1000);
}
