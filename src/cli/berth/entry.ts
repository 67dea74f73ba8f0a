import { writeAll } from "../write-all.js";
import { main } from "./main.js";

// The berth binary (bin/berth -> dist/berth.cjs).
main(process.argv.slice(2), {
  out: (s) => writeAll(1, s),
  err: (s) => writeAll(2, s),
  stdin: () => process.stdin,
  stdoutStream: () => process.stdout,
  isTTY: process.stdout.isTTY === true,
  columns: process.stdout.columns ?? 80,
}).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    writeAll(2, `berth: ${String(err)}\n`);
    process.exitCode = 1;
  },
);
