/**
 * The first code bin/berth runs: the daemon-client bundle (entry-remote.ts) through V8's code
 * cache (src/cli/code-cache.ts); it hands what it cannot do to the full bundle.
 */
import { join } from "node:path";
import { runWithCodeCache } from "../code-cache.js";

declare const __dirname: string;

runWithCodeCache(join(__dirname, "berth-remote.cjs"));
