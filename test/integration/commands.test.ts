// The other commands: list, ps, spec, features, --version.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeRootfs } from "../fixtures/busybox-bundle.js";
import { RUNTIME, RUNTIME_NAME, rtest } from "./harness.js";

rtest("list: table and --format json", async (h) => {
  const a = await h.detached(["sleep", "1000"]);
  const bBundle = h.bundle(["sleep", "1000"]);
  const b = h.id();
  h.ok(["create", "--bundle", bBundle, b]);
  const table = h.ok(["list"]).trim().split("\n");
  assert.match(table[0] ?? "", /^ID\s+PID\s+STATUS\s+BUNDLE\s+CREATED\s+OWNER/);
  const rows = new Map(table.slice(1).map((l) => [l.split(/\s+/)[0], l.split(/\s+/)]));
  assert.deepEqual(rows.get(a.id)?.slice(0, 4), [a.id, String(a.pid), "running", a.bundle]);
  assert.equal(rows.get(b)?.[2], "created");
  assert.equal(rows.size, 2);
  const json = JSON.parse(h.ok(["list", "--format", "json"])) as Record<string, unknown>[];
  const byId = new Map(json.map((c) => [c["id"], c]));
  assert.equal(json.length, 2);
  assert.equal(byId.get(a.id)?.["status"], "running");
  assert.equal(byId.get(a.id)?.["pid"], a.pid);
  assert.equal(byId.get(a.id)?.["bundle"], a.bundle);
  assert.equal(byId.get(b)?.["status"], "created");
  assert.deepEqual(h.ok(["list", "--quiet"]).trim().split("\n").sort(), [a.id, b].sort());
});

rtest("ps --format json: the host pids of the container's processes", async (h) => {
  const { id, pid } = await h.detached(["sh", "-c", "sleep 1000 & exec sleep 1001"]);
  let pids: number[] = [];
  for (let i = 0; i < 100 && pids.length < 2; i++) {
    pids = JSON.parse(h.ok(["ps", "--format", "json", id])) as number[];
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(Array.isArray(pids) && pids.every((p) => Number.isInteger(p)));
  assert.equal(pids.length, 2);
  assert.ok(pids.includes(pid));
  const other = pids.find((p) => p !== pid) ?? 0;
  assert.equal(readFileSync(`/proc/${other}/cmdline`, "utf8"), "sleep\x001000\x00");
});

rtest("spec: writes a config.json the runtime then runs; refuses to overwrite", (h) => {
  const bundle = h.path("specbundle");
  makeRootfs(join(bundle, "rootfs"));
  h.ok(["spec", "--bundle", bundle]);
  const file = join(bundle, "config.json");
  const spec = JSON.parse(readFileSync(file, "utf8"));
  assert.match(spec.ociVersion, /^1\./);
  assert.equal(spec.root.path, "rootfs");
  assert.ok(Array.isArray(spec.process.args));
  assert.ok(spec.linux.namespaces.some((n: { type: string }) => n.type === "mount"));
  spec.process.terminal = false;
  spec.process.args = ["sh", "-c", "echo spec ok"];
  writeFileSync(file, JSON.stringify(spec));
  assert.equal(h.ok(["run", "--bundle", bundle, h.id()]), "spec ok\n");
  const again = h.rt(["spec", "--bundle", bundle]);
  assert.notEqual(again.code, 0, "spec must not overwrite a config.json");
  assert.equal(JSON.parse(readFileSync(file, "utf8")).process.args[2], "echo spec ok");
});

rtest("features: valid JSON with the spec's fields", (h) => {
  const f = JSON.parse(h.ok(["features"])) as Record<string, unknown>;
  assert.match(String(f["ociVersionMin"]), /^1\.\d+\.\d+/);
  assert.match(String(f["ociVersionMax"]), /^1\.\d+\.\d+/);
  const hooks = f["hooks"] as string[];
  for (const k of ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"])
    assert.ok(hooks.includes(k), k);
  assert.ok((f["mountOptions"] as string[]).includes("bind"));
  const linux = f["linux"] as { namespaces: string[] };
  for (const n of ["pid", "network", "mount", "user"]) assert.ok(linux.namespaces.includes(n), n);
});

rtest("--version: first line is NAME version X, then a spec: line", () => {
  const r = spawnSync(RUNTIME, ["--version"], { encoding: "utf8" });
  assert.equal(r.status, 0);
  const lines = r.stdout.split("\n");
  assert.match(lines[0] ?? "", new RegExp(`^${RUNTIME_NAME} version \\S+`));
  assert.ok(
    lines.some((l) => /^spec: 1\.\d+\.\d+/.test(l)),
    r.stdout,
  );
});
