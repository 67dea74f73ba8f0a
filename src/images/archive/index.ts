export { type ArchiveFormat, saveDockerArchive, saveOciArchive, saveOciDir } from "./save.js";
export { type ArchivedImage, loadArchive } from "./load.js";
export { importRootfs } from "./import-rootfs.js";
