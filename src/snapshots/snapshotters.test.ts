// Snapshot metadata and the mounts each snapshotter returns (no mounting: no root needed).
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { closeDatabases, openDatabase } from "../images/db.js";
import { NativeSnapshotter } from "./native.js";
import { OverlaySnapshotter } from "./overlay.js";

const scratch = mkdtempSync(join(tmpdir(), "berth-snap-"));
after(() => {
  closeDatabases();
  rmSync(scratch, { recursive: true, force: true });
});
let n = 0;
const fresh = () => {
  const root = join(scratch, `r${++n}`);
  return { root, db: openDatabase(root) };
};

test("overlayfs: mounts of active, view and committed snapshots; lowerdir top first", async () => {
  const o = fresh();
  const sn = new OverlaySnapshotter(o);
  const base = await sn.prepare("a");
  assert.deepEqual(base, [{ type: "bind", source: join(o.root, "snapshots/1/fs"), options: ["rbind", "rw"] }]);
  await sn.commit("A", "a");
  await sn.prepare("b", "A");
  await sn.commit("B", "b");
  const rw = await sn.prepare("c", "B");
  assert.deepEqual(rw, [
    {
      type: "overlay",
      source: "overlay",
      options: [
        `workdir=${join(o.root, "snapshots/3/work")}`,
        `upperdir=${join(o.root, "snapshots/3/fs")}`,
        `lowerdir=${join(o.root, "snapshots/2/fs")}:${join(o.root, "snapshots/1/fs")}`,
      ],
    },
  ]);
  assert.deepEqual(await sn.view("v1", "A"), [
    { type: "bind", source: join(o.root, "snapshots/1/fs"), options: ["rbind", "ro"] },
  ]);
  assert.deepEqual(await sn.view("v2", "B"), [
    {
      type: "overlay",
      source: "overlay",
      options: [`lowerdir=${join(o.root, "snapshots/2/fs")}:${join(o.root, "snapshots/1/fs")}`],
    },
  ]);
  assert.deepEqual(sn.mounts("B"), sn.mounts("v2"));
  assert.deepEqual(sn.stat("c"), { key: "c", kind: "active", parent: "B", created: sn.stat("c")?.created });
  assert.equal(sn.stat("B")?.parent, "A");
  assert.equal(typeof sn.stat("B")?.size, "number");
  assert.deepEqual(sn.parentDirs("c"), [join(o.root, "snapshots/2/fs"), join(o.root, "snapshots/1/fs")]);
});

test("commit and remove guard the stack: AlreadyExists, FailedPrecondition, NotFound", async () => {
  const sn = new OverlaySnapshotter(fresh());
  await sn.prepare("a");
  await assert.rejects(sn.prepare("a"), { code: "ERR_BERTH_ALREADY_EXISTS" });
  await assert.rejects(sn.prepare("x", "nope"), { code: "ERR_BERTH_NOT_FOUND" });
  await assert.rejects(sn.prepare("x", "a"), /is not committed/);
  await sn.commit("A", "a");
  await assert.rejects(sn.commit("A2", "A"), /is committed, not active/);
  await sn.prepare("b");
  await assert.rejects(sn.commit("A", "b"), { code: "ERR_BERTH_ALREADY_EXISTS" });
  // a layer unpacked before its parent was committed takes the parent at commit
  await sn.commit("B", "b", { parent: "A" });
  assert.equal(sn.stat("B")?.parent, "A");
  await assert.rejects(sn.remove("A"), { code: "ERR_BERTH_FAILED_PRECONDITION", message: /"B" has it as parent/ });
  await sn.remove("B");
  await sn.remove("A");
  assert.deepEqual(sn.list(), []);
  await assert.rejects(sn.remove("A"), { code: "ERR_BERTH_NOT_FOUND" });
});

test("overlayfs: option strings past a page are refused clearly, and leave no snapshot", async () => {
  const o = fresh();
  const sn = new OverlaySnapshotter(o);
  let parent: string | undefined;
  // each lowerdir is about 30 bytes here: 150 layers go past 4095
  let refused: unknown;
  for (let i = 0; i < 200 && refused === undefined; i++) {
    try {
      await sn.prepare(`k${i}`, parent);
    } catch (e) {
      refused = e;
      break;
    }
    await sn.commit(`c${i}`, `k${i}`);
    parent = `c${i}`;
  }
  assert.match(String((refused as Error)?.message), /overlay options are \d+ bytes, over the page \(4095\)/);
  assert.ok(sn.list().every((s) => s.kind === "committed"));
});

test("native: active mounts rw, views and committed ro; the parent cannot change at commit", async () => {
  const o = fresh();
  const sn = new NativeSnapshotter(o);
  await sn.prepare("a");
  writeFileSync(join(sn.dir("a"), "f"), "f");
  await sn.commit("A", "a");
  assert.deepEqual(sn.mounts("A"), [{ type: "bind", source: join(o.root, "snapshots/1/fs"), options: ["rbind", "ro"] }]);
  assert.deepEqual(await sn.view("v", "A"), sn.mounts("A"));
  await sn.prepare("b");
  await assert.rejects(sn.commit("B", "b", { parent: "A" }), /cannot change a snapshot's parent/);
  // overlayfs and native keep separate namespaces in one database
  const ov = new OverlaySnapshotter(o);
  assert.equal(ov.stat("A"), undefined);
});

test("sweep: snapshot dirs without a row (of either snapshotter) go, all others stay", async () => {
  const o = fresh();
  const ov = new OverlaySnapshotter(o);
  const nat = new NativeSnapshotter(o);
  await ov.prepare("kept-overlay");
  await nat.prepare("kept-native");
  await ov.prepare("removed");
  const home = (id: number) => join(o.root, "snapshots", String(id));
  // "removed" is row 3: its row goes, its files are left as a killed removal would leave them
  (ov as unknown as { table: { delete(k: string): unknown } }).table.delete("removed");
  writeFileSync(join(home(3), "fs", "f"), "x");
  mkdirSync(join(home(77), "fs"), { recursive: true });
  mkdirSync(join(o.root, "snapshots", "not-a-snapshot"));
  await ov.sweep();
  assert.deepEqual([existsSync(home(1)), existsSync(home(2))], [true, true], "both snapshotters' live homes stay");
  assert.deepEqual([existsSync(home(3)), existsSync(home(77))], [false, false], "homes without a row go");
  assert.ok(existsSync(join(o.root, "snapshots", "not-a-snapshot")), "what is not a snapshot home is not touched");
});
