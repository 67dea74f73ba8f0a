import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { ManagerV2 } from "./manager-v2.js";

// A plain directory stands in for cgroupfs: the manager's writes are recorded as files.
function withFakeCgroupfs(fn: (root: string) => void): void {
  const root = mkdtempSync(join(tmpdir(), "berth-cg2-"));
  try {
    fn(root);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

test("apply creates the cgroup and writes the pid to cgroup.procs", () => {
  withFakeCgroupfs((root) => {
    const dir = join(root, "berth", "c1");
    const m = new ManagerV2({ "": dir });
    assert.equal(m.version, 2);
    m.apply(4242);
    assert.equal(readFileSync(join(dir, "cgroup.procs"), "utf8"), "4242");
    assert.deepEqual(m.pids(), [4242]);
  });
});

test("pids of a removed cgroup is empty, and destroy tolerates it", () => {
  withFakeCgroupfs((root) => {
    const m = new ManagerV2({ "": join(root, "gone") });
    assert.deepEqual(m.pids(), []);
    assert.doesNotThrow(() => m.destroy());
  });
});

test("freeze writes cgroup.freeze and waits for cgroup.events", () => {
  withFakeCgroupfs((root) => {
    const m = new ManagerV2({ "": root });
    assert.equal(m.frozen(), false);
    writeFileSync(join(root, "cgroup.events"), "populated 1\nfrozen 1\n");
    m.freeze();
    assert.equal(readFileSync(join(root, "cgroup.freeze"), "utf8"), "1");
    assert.equal(m.frozen(), true);
  });
});

test("a manager without a cgroup2 path fails clearly", () => {
  assert.throws(() => new ManagerV2({}).apply(1), /no cgroup2 path/);
});
