// Run/delete cycles (500, or BERTH_LEAK_CYCLES) must leave nothing behind: no mount, cgroup,
// process, fd or state dir.
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { cgroupDirsNamed, mountsMentioning, processesInCgroup, rtest } from "./harness.js";

const CYCLES = Number(process.env["BERTH_LEAK_CYCLES"]) || 500;

rtest(`${CYCLES} run --detach / delete cycles leave nothing behind`, async (h) => {
  const bundle = h.bundle(["sh", "-c", "echo cycle > /dev/null; sleep 0.01"]);
  const fdsBefore = readdirSync("/proc/self/fd").length;
  const prefix = h.id("leak");
  for (let i = 0; i < CYCLES; i++) {
    const id = `${prefix}-${i}`;
    const r = h.rt(["run", "--detach", "--bundle", bundle, id]);
    assert.equal(r.code, 0, `cycle ${i}: ${r.stderr}`);
    const d = h.rt(["delete", "--force", id]);
    assert.equal(d.code, 0, `cycle ${i}: ${d.stderr}`);
  }
  // and attached runs, which delete by themselves
  for (let i = 0; i < 10; i++) assert.equal(h.rt(["run", "--bundle", bundle, `${prefix}-a${i}`]).code, 0);
  assert.deepEqual(readdirSync(h.root), [], "no state dir");
  assert.deepEqual(cgroupDirsNamed(prefix), [], "no cgroup dir");
  assert.deepEqual(processesInCgroup(prefix), [], "no process");
  assert.deepEqual(mountsMentioning(h.dir), [], "no mount of the bundle");
  assert.equal(readdirSync("/proc/self/fd").length, fdsBefore, "no fd left open in the caller");
  assert.deepEqual(JSON.parse(h.ok(["list", "--format", "json"])) ?? [], [], "list is empty");
});
