// Build: bundle each binary's entry point (fast start: one file, no resolution)
// and compile every test file one-to-one for node --test.
import { readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";

const walk = (dir) =>
  readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });

rmSync("dist", { recursive: true, force: true });
const common = {
  platform: "node",
  target: "node20",
  logLevel: "warning",
  sourcemap: "linked",
  logOverride: { "empty-import-meta": "silent" },
};
await build({
  ...common,
  entryPoints: { "berth-runtime": "src/cli/runtime/entry.ts" },
  bundle: true,
  format: "cjs",
  outExtension: { ".js": ".cjs" },
  outdir: "dist",
});
const tests = [...walk("src"), ...walk("test"), ...walk("bench")].filter((f) => f.endsWith(".ts"));
await build({ ...common, entryPoints: tests, outdir: "dist", outbase: ".", format: "esm", bundle: false });
