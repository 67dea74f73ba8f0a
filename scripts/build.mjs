// Build: bundle each binary's entry point (fast start: one file, no resolution)
// and compile every test file one-to-one for node --test.
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { build } from "esbuild";

const walk = (dir) =>
  readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });

// build beside dist/ and swap it in, so programs running from dist/ (tests, a warm runtime's
// next client) never find it half-written
// (per process: several builds may run at once in one checkout)
const out = `dist.new-${process.pid}`;
rmSync(out, { recursive: true, force: true });
const common = {
  platform: "node",
  target: "node20",
  logLevel: "warning",
  sourcemap: "linked",
  logOverride: { "empty-import-meta": "silent" },
};
/** One program bundle: CommonJS, one file per entry point, into `out` as NAME.cjs. */
const bundle = (entryPoints, extra = {}) =>
  build({ ...common, entryPoints, bundle: true, format: "cjs", outExtension: { ".js": ".cjs" }, outdir: out, ...extra });
await bundle({ "berth-runtime": "src/cli/runtime/loader.ts", "berth-runtime-main": "src/cli/runtime/entry.ts" });
// the berth CLI: one bundle with a shebang (bin/berth links to it); better-sqlite3 is a native
// module, loaded from node_modules at run time
await bundle({ "berth-main": "src/cli/berth/entry.ts" }, { external: ["better-sqlite3"] });
// the daemon-client CLI bundle, what bin/berth runs first (src/cli/berth/entry-remote.ts): the
// same main, with the modules only image commands, login and the in-process store reach left
// out; main hands those commands to berth-main.cjs before it would import them
const localOnly = /(^|\/)(image-commands|remote-images|login)\.js$|(^|\/)(daemon|images)\/index\.js$/;
await bundle(
  { "berth-remote": "src/cli/berth/entry-remote.ts" },
  {
    external: ["better-sqlite3"],
    plugins: [
      {
        name: "local-only",
        setup(b) {
          b.onResolve({ filter: localOnly }, (a) => ({ path: a.path, namespace: "local-only" }));
          b.onLoad({ filter: /.*/, namespace: "local-only" }, (a) => ({
            contents: `throw new Error(${JSON.stringify(`berth: ${a.path} is not in the daemon-client bundle`)});`,
            loader: "js",
          }));
        },
      },
    ],
  },
);
// its loader (V8 code cache). Node pays 50-100 ms at start to parse NODE_EXTRA_CA_CERTS, which
// only a TLS pull needs: the shebang moves it to BERTH_EXTRA_CA_CERTS, read when one happens
await bundle(
  { berth: "src/cli/berth/loader.ts" },
  // biome-ignore lint/suspicious/noTemplateCurlyInString: env -S expands ${VAR} itself
  { banner: { js: "#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS BERTH_EXTRA_CA_CERTS=${NODE_EXTRA_CA_CERTS} node" } },
);
chmodSync(join(out, "berth.cjs"), 0o755);
// berthd and berth-shim: long-running processes, bundled the same way
for (const [name, entry] of [
  ["berthd", "src/cli/berthd/entry.ts"],
  ["berth-shim", "src/shim/entry.ts"],
]) {
  await bundle({ [name]: entry }, { external: ["better-sqlite3"], banner: { js: "#!/usr/bin/env node" } });
  chmodSync(join(out, `${name}.cjs`), 0o755);
}
// the CLIs run from V8's code cache (src/cli/code-cache.ts), where Node 20 loses the dynamic
// import callback: a bundle must not keep an import() (import node builtins statically)
// the daemon-client bundle must stay small: what main hands to the full bundle stays out of it
{
  const remote = readFileSync(join(out, "berth-remote.cjs"), "utf8");
  for (const heavy of ["ImageService = class", "ContainerService = class", "RegistryClient = class"])
    if (remote.includes(heavy)) throw new Error(`berth-remote.cjs: ${heavy} was bundled; keep it behind main's io.local`);
}
for (const f of ["berth-main.cjs", "berth-remote.cjs", "berth-runtime-main.cjs"]) {
  const text = readFileSync(join(out, f), "utf8");
  const m = /(?<![\w.$])import\(\s*["'`]([^"'`]+)/.exec(text);
  if (m) throw new Error(`${f}: a dynamic import("${m[1]}") survived bundling; import it statically`);
}
const tests = [...walk("src"), ...walk("test"), ...walk("bench")].filter((f) => f.endsWith(".ts"));
await build({ ...common, entryPoints: tests, outdir: out, outbase: ".", format: "esm", bundle: false });
// V8's code cache of the CLI, compiled by a warm-up run that executes its hot paths
execFileSync(process.execPath, [join(out, "berth-runtime.cjs")], { env: { ...process.env, BERTH_CODE_CACHE_WARMUP: "1" } });
// the swap under a mkdir lock, so two builds finishing together do not interleave it
for (let i = 0; ; i++) {
  try {
    mkdirSync("dist.lock");
    break;
  } catch (e) {
    if (e.code !== "EEXIST" || i > 600) throw e;
    await new Promise((r) => setTimeout(r, 50));
  }
}
const old = `dist.old-${process.pid}`;
try {
  if (existsSync("dist")) renameSync("dist", old);
  renameSync(out, "dist");
} finally {
  rmSync("dist.lock", { recursive: true, force: true });
}
rmSync(old, { recursive: true, force: true });
