/**
 * Run a CLI bundle through V8's code cache. Compiling a bundle of a few hundred KB (and then
 * each function it calls) is a sizeable part of a CLI's cold start; with the cache V8
 * deserializes code it compiled on an earlier run. The cache is written next to the bundle at
 * the first exit (atomically; skipped where dist/ is read-only) and rejected by V8 by itself
 * when the bundle, V8 or its flags change.
 *
 * A cache holds what the run that wrote it compiled: one written by `berth version` leaves
 * `berth run` compiling its own path on every run (~8 ms here). A `variant` (the command word)
 * gives each command its own cache, written by its own first run.
 */
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { Module } from "node:module";
import { dirname } from "node:path";
import { Script, constants as vmConstants } from "node:vm";

export function runWithCodeCache(file: string, variant?: string): void {
  const cacheFile = variant ? `${file}.${variant}.cache` : `${file}.cache`;
  const source = readFileSync(file, "utf8");
  let cachedData: Buffer | undefined;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    // no cache yet: this run writes one
  }
  // import() inside the bundle goes to Node's own loader, as it would outside a vm.Script
  const importModuleDynamically = vmConstants.USE_MAIN_CONTEXT_DEFAULT_LOADER;
  const script = new Script(Module.wrap(source), {
    filename: file,
    ...(cachedData ? { cachedData } : {}),
    importModuleDynamically: importModuleDynamically as never,
  });
  if (!cachedData || script.cachedDataRejected) {
    process.once("exit", (code) => {
      // a run that failed may have been a typo of a command: no cache named after it
      if (code !== 0) return;
      try {
        const tmp = `${cacheFile}.${process.pid}`;
        writeFileSync(tmp, script.createCachedData());
        renameSync(tmp, cacheFile);
      } catch {
        // a read-only install runs without the cache
      }
    });
  }
  const mod = { exports: {} };
  const req = Module.createRequire(file);
  (script.runInThisContext() as (...a: unknown[]) => void).call(mod.exports, mod.exports, req, mod, file, dirname(file));
}
