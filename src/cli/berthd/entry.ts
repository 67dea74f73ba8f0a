import { main } from "./main.js";

// berthd (bin/berthd -> dist/berthd.cjs). After a clean shutdown nothing is left to wait for:
// exit even if a client still holds a connection open.
main(process.argv.slice(2)).then(
  (code) => process.exit(code ?? 0),
  (err) => {
    process.stderr.write(`berthd: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
