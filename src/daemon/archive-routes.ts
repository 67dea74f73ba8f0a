import type { Daemon } from "./daemon.js";
import type { ApiServer } from "./server.js";

/** docker's /containers/{id}/archive (berth cp): registered by the API server. */
export function registerArchiveRoutes(_d: Daemon, _api: ApiServer): void {}
