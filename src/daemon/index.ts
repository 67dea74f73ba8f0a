/**
 * berthd's services, usable in-process: the image service (pull, store, unpack, mount, archives)
 * over the content store, the image records and the snapshotter, under the data root's lock.
 */
export { ImageService, type ImageServiceOptions, type ImageSummary, type RemoveResult } from "./image-service.js";
export { withStoreLock } from "./store-lock.js";
