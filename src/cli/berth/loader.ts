/** The first code bin/berth runs: the CLI bundle through V8's code cache (src/cli/code-cache.ts). */
import { join } from "node:path";
import { runWithCodeCache } from "../code-cache.js";

declare const __dirname: string;

runWithCodeCache(join(__dirname, "berth-main.cjs"));
