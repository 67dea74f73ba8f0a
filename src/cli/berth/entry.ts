// The full berth CLI (dist/berth-main.cjs): every command, image commands in this process included.
import { runCli } from "./run-cli.js";

runCli();
