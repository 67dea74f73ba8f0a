import { writeAll } from "../write-all.js";
import { main } from "./main.js";
import { warmCodeCache } from "./warmup.js";

// The berth-runtime binary. Exit codes: 0 success, 1 failure, 2 bad usage;
// attached run/exec exit with the container process's code.
const serveFd = process.env["BERTH_RUNTIME_SERVE_FD"];
if (serveFd) {
  // started by bin/berth-runtime to serve its one request (see launcher.c): it forks, we decide
  delete process.env["BERTH_RUNTIME_SERVE_FD"];
  import("./warm.js")
    .then(({ serveOnce }) => serveOnce(Number(serveFd)))
    .catch((err) => {
      writeAll(2, `berth-runtime: ${String(err)}\n`);
      process.exitCode = 1;
    });
} else if (process.env["BERTH_CODE_CACHE_WARMUP"]) {
  // the build's warm-up run: compile the hot paths into the code cache, touch nothing
  warmCodeCache();
} else
  main(process.argv.slice(2), {
    out: (s) => writeAll(1, s),
    err: (s) => writeAll(2, s),
  }).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      writeAll(2, `berth-runtime: ${String(err)}\n`);
      process.exitCode = 1;
    },
  );
