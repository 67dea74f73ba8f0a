/**
 * berthd's services: the image service (pull, store, unpack, mount, archives) over the content
 * store, the image records and the snapshotter; containers supervised through berth-shim;
 * networks; events; and the API server that exposes them (docker's paths and shapes).
 */
export { ImageService, type ImageServiceOptions, type ImageSummary, type RemoveResult } from "./image-service.js";
export { withStoreLock } from "./store-lock.js";
export { Daemon, type DaemonOptions, VERSION, API_VERSION } from "./daemon.js";
export { ApiServer } from "./server.js";
export { ContainerService } from "./container-service.js";
export type { ContainerRecord } from "./container-store.js";
export type { ContainerConfig, HostConfig, LogConfig } from "./container-types.js";
export { normalizeLogConfig } from "./log-config.js";
