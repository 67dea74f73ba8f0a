// The daemon-client berth CLI (dist/berth-remote.cjs), what bin/berth runs first: the container
// commands, which only talk to berthd, in a bundle of ~80 KB instead of ~730 KB (the full one
// carries the image store, the registry client and berthd's code for in-process image commands).
// Measured: `berth run --rm --network none busybox true` 165 -> 147 ms. Any other command is
// handed to the full bundle before anything is printed.
import { join } from "node:path";
import { runWithCodeCache } from "../code-cache.js";
import { DELEGATED } from "./main.js";
import { runCli } from "./run-cli.js";

declare const __dirname: string;

runCli(async () => {
  runWithCodeCache(join(__dirname, "berth-main.cjs"));
  return DELEGATED;
});
