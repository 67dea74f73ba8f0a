// make-bundle.mjs DIR [ARGS...]: an OCI bundle with a busybox rootfs running ARGS (default: sh).
import { makeBundle } from "../dist/test/fixtures/busybox-bundle.js";

const [dir, ...args] = process.argv.slice(2);
if (!dir) {
  console.error("usage: make-bundle.mjs DIR [ARGS...]");
  process.exit(2);
}
makeBundle(dir, args.length ? args : ["sh"]);
