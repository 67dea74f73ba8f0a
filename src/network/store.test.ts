import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { NetworkStore, mapLimit } from "./store.js";

/** The pid of a process that has exited (a berthd killed mid-write, for the store). */
function deadPid(): number {
  const r = spawnSync("/bin/sh", ["-c", "echo $$"], { encoding: "utf8" });
  return Number(r.stdout.trim());
}

test("a writer's temp file left by a crash is removed, and the container dir it kept goes with it", async () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-store-"));
  try {
    const id = "a".repeat(64);
    const net = "b".repeat(64);
    const cdir = join(dir, "attachments", id);
    mkdirSync(cdir, { recursive: true });
    const dead = deadPid();
    writeFileSync(join(cdir, `${net}.json.tmp-${dead}`), '{"half": ');
    // a temp file of this process is a write in progress: kept
    mkdirSync(join(dir, "networks"), { recursive: true });
    writeFileSync(join(dir, "networks", `${net}.json.tmp-${process.pid}`), "{");
    writeFileSync(join(dir, "networks", `${net}.json.tmp-${dead}`), "{");
    const store = new NetworkStore(dir);
    assert.deepEqual(await store.attachments(), []);
    assert.equal(existsSync(cdir), false, "the empty container dir is gone");
    assert.deepEqual(await store.networks(), []);
    assert.deepEqual(readdirSync(join(dir, "networks")), [`${net}.json.tmp-${process.pid}`]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("mapLimit: results in order, never more than the limit in flight", async () => {
  let inFlight = 0;
  let most = 0;
  const out = await mapLimit(
    Array.from({ length: 50 }, (_, i) => i),
    async (i) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((r) => setTimeout(r, i % 3));
      inFlight--;
      return i * 2;
    },
    7,
  );
  assert.deepEqual(
    out,
    Array.from({ length: 50 }, (_, i) => i * 2),
  );
  assert.equal(most, 7);
  assert.deepEqual(await mapLimit([], async () => 1), []);
});
