/**
 * Run a CLI bundle through V8's code cache. Compiling a bundle of a few hundred KB (and then
 * each function it calls) is a sizeable part of a CLI's cold start; with the cache V8
 * deserializes code it compiled on an earlier run. The cache is written next to the bundle at
 * the first exit (atomically; skipped where dist/ is read-only) and rejected by V8 by itself
 * when the bundle, V8 or its flags change.
 */
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { Module } from "node:module";
import { dirname } from "node:path";
import { Script, constants as vmConstants } from "node:vm";

export function runWithCodeCache(file: string): void {
  const cacheFile = `${file}.cache`;
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
    process.once("exit", () => {
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
