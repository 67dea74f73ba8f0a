/**
 * berth-runtime: a runc-compatible OCI runtime. One file per lifecycle
 * operation; container state and its status guards in container-state.ts;
 * the plan builder turns config.json into the executor's steps.
 */
export { buildCreatePlan, buildExecPlan } from "./build-plan.js";
export { canDelete, canExec, canKill, canStart, checkId, loadState, ociState, statusOf } from "./container-state.js";
export type { ContainerState } from "./container-state.js";
export type { RuntimeContext } from "./context.js";
export { NeedsLocalProcess } from "./context.js";
export { create, loadBundleSpec } from "./create.js";
export type { CreateOptions } from "./create.js";
export { defaultSpec } from "./default-spec.js";
export { deleteContainer } from "./delete.js";
export { events, parseDuration } from "./events.js";
export type { ContainerEvent, EventsOptions } from "./events.js";
export { exec } from "./exec.js";
export type { ExecOptions } from "./exec.js";
export { features } from "./features.js";
export { kill } from "./kill.js";
export { list } from "./list.js";
export { pause, resume } from "./pause.js";
export { ps } from "./ps.js";
export { toRootless } from "./rootless-spec.js";
export { run } from "./run.js";
export { parseSignal } from "./signals.js";
export { start } from "./start.js";
export { canUpdate, mergeResources, parseResourcesJson, resourcesFromFlags, update } from "./update.js";
export type { UpdateFlags } from "./update.js";
