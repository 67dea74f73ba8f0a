// Imports point the way DESIGN.md draws them: a folder under src/ may import only
// from the folders listed for it. Tests are exempt.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const base = ["errors", "oci"];
const allowed = {
  errors: [],
  oci: ["errors"],
  native: base,
  cgroups: base,
  seccomp: base,
  runtime: [...base, "native", "cgroups", "seccomp"],
  content: [...base, "native"],
  registry: [...base, "content"],
  images: [...base, "content", "registry"],
  snapshots: [...base, "native", "content", "registry", "images"],
  network: base,
  shim: [...base, "native", "cgroups", "seccomp", "runtime"],
  daemon: [...base, "native", "cgroups", "seccomp", "runtime", "content", "registry", "images", "snapshots", "network", "shim"],
  api: [...base, "daemon", "content", "registry", "images", "snapshots", "network", "runtime"],
  cli: null, // the edge: may use anything
};

const walk = (dir) =>
  readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });

const bad = [];
for (const file of walk("src").filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"))) {
  const from = relative("src", file).split("/")[0];
  if (!(from in allowed)) {
    bad.push(`${file}: folder "${from}" is not in DESIGN.md's layout`);
    continue;
  }
  const ok = allowed[from];
  if (ok === null) continue;
  const text = readFileSync(file, "utf8");
  for (const m of text.matchAll(/(?:from|import)\s*\(?\s*["'](\.[^"']+)["']/g)) {
    const target = relative("src", resolve(dirname(file), m[1])).split("/")[0];
    if (target !== from && !ok.includes(target)) bad.push(`${file}: imports ${m[1]} (${from} -> ${target} is against DESIGN.md)`);
  }
}
if (bad.length) {
  console.error(bad.join("\n"));
  process.exit(1);
}
console.log("imports: ok");
