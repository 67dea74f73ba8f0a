/**
 * The content-addressed store: blobs by digest, written to an ingest area, verified, then
 * renamed into place, so nothing unverified is ever visible. One writer per blob at a time
 * (flock), resumable after an interruption.
 */
export type { BlobInfo, ContentStore, Ingest } from "./store.js";
export { LocalContentStore } from "./local-store.js";
