/** The tar codec of image layers: a streaming reader (ustar, GNU, PAX) and a ustar + PAX writer. */
export type { TarEntryType, TarHeader } from "./header.js";
export { readTar, type TarEntry, type TarReadOptions } from "./reader.js";
export { encodeHeader, END_OF_ARCHIVE, tarBuffer, TarWriter, type TarWriteHeader } from "./writer.js";
