/**
 * The first code bin/berth runs: the daemon-client bundle (entry-remote.ts) through V8's code
 * cache (src/cli/code-cache.ts), one cache per command, written by its first successful run;
 * it hands what it cannot do to the full bundle.
 */
import { join } from "node:path";
import { runWithCodeCache } from "../code-cache.js";
import { commandOf } from "./global-flags.js";

declare const __dirname: string;

const command = commandOf(process.argv.slice(2));
runWithCodeCache(join(__dirname, "berth-remote.cjs"), /^[a-z]{2,12}$/.test(command) ? command : "other");
