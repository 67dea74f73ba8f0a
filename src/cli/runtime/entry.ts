import { main } from "./main.js";

// The berth-runtime binary. Exit codes: 0 success, 1 failure, 2 bad usage;
// attached run/exec exit with the container process's code.
main(process.argv.slice(2), {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
}).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`berth-runtime: ${String(err)}\n`);
    process.exitCode = 1;
  },
);
