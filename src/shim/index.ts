/**
 * shim: berth-shim, the supervisor of a group of containers between berthd and an OCI
 * runtime (it holds their stdio, reaps them, records exits, outlives berthd), its wire
 * contract (protocol.ts), and the client side berthd uses: launchShim, ShimClient, AttachStream.
 */
export * from "./protocol.js";
export { AttachStream, ShimClient } from "./client.js";
export type { ShimCall } from "./client.js";
export { FrameDecoder, encodeFrame } from "./frames.js";
export type { Frame } from "./frames.js";
export { launchShim } from "./launch-shim.js";
export type { LaunchShimOptions } from "./launch-shim.js";
