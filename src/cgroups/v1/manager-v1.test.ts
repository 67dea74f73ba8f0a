import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { ManagerV1 } from "./manager-v1.js";

// A plain directory stands in for cgroupfs: the manager's writes are recorded as files.
function withFakeCgroupfs(fn: (root: string) => void): void {
  const root = mkdtempSync(join(tmpdir(), "berth-cg1-"));
  try {
    fn(root);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

test("apply joins every hierarchy and fills an empty cpuset from its parent", () => {
  withFakeCgroupfs((root) => {
    const cpuset = join(root, "cpuset");
    const child = join(cpuset, "berth", "c1");
    // cgroupfs creates these files empty in a new cgroup; the parent's are set
    mkdirSync(child, { recursive: true });
    writeFileSync(join(cpuset, "cpuset.cpus"), "0-3\n");
    writeFileSync(join(cpuset, "cpuset.mems"), "0\n");
    writeFileSync(join(cpuset, "berth", "cpuset.cpus"), "");
    writeFileSync(join(cpuset, "berth", "cpuset.mems"), "");
    writeFileSync(join(child, "cpuset.cpus"), "");
    writeFileSync(join(child, "cpuset.mems"), "");
    const paths = { memory: join(root, "memory", "berth", "c1"), cpuset: child };
    const m = new ManagerV1(paths);
    m.apply(77);
    assert.equal(readFileSync(join(paths.memory, "cgroup.procs"), "utf8"), "77");
    assert.equal(readFileSync(join(child, "cgroup.procs"), "utf8"), "77");
    assert.equal(readFileSync(join(child, "cpuset.cpus"), "utf8"), "0-3");
    assert.equal(readFileSync(join(child, "cpuset.mems"), "utf8"), "0");
    assert.equal(readFileSync(join(cpuset, "berth", "cpuset.cpus"), "utf8"), "0-3");
  });
});

test("pids reads the pids hierarchy first", () => {
  withFakeCgroupfs((root) => {
    const pids = join(root, "pids");
    const mem = join(root, "memory");
    mkdirSync(pids);
    mkdirSync(mem);
    writeFileSync(join(pids, "cgroup.procs"), "1\n2\n");
    writeFileSync(join(mem, "cgroup.procs"), "9\n");
    assert.deepEqual(new ManagerV1({ memory: mem, pids }).pids(), [1, 2]);
    assert.deepEqual(new ManagerV1({ memory: mem }).pids(), [9]);
    assert.deepEqual(new ManagerV1({}).pids(), []);
  });
});

test("freeze and thaw write freezer.state; without a freezer they fail", () => {
  withFakeCgroupfs((root) => {
    const m = new ManagerV1({ freezer: root });
    m.freeze();
    assert.equal(readFileSync(join(root, "freezer.state"), "utf8"), "FROZEN");
    assert.equal(m.frozen(), true);
    m.thaw();
    assert.equal(m.frozen(), false);
    assert.equal(new ManagerV1({ memory: root }).frozen(), false);
    assert.throws(() => new ManagerV1({ memory: root }).freeze(), /freezer/);
  });
});
