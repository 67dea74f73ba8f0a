import { main } from "./main.js";

// berthd (bin/berthd -> dist/berthd.cjs)
main(process.argv.slice(2)).then(
  (code) => {
    if (code !== undefined) process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`berthd: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
