import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { ManagerV1 } from "./manager-v1.js";
import { orderMemoryWrites } from "./memory-order-v1.js";
import { v1Writes } from "./resources-v1.js";

const files = (r: Parameters<typeof v1Writes>[0], current: number, memsw = true) =>
  orderMemoryWrites(v1Writes(r), () => current, memsw)
    .filter((w) => w.controller === "memory")
    .map((w) => `${w.file}=${w.value}`);

const MiB = 1024 * 1024;

test("raising memory and memsw writes memsw first; lowering writes the limit first", () => {
  assert.deepEqual(files({ memory: { limit: 128 * MiB, swap: 256 * MiB } }, 64 * MiB), [
    `memory.memsw.limit_in_bytes=${256 * MiB}`,
    `memory.limit_in_bytes=${128 * MiB}`,
  ]);
  assert.deepEqual(files({ memory: { limit: 32 * MiB, swap: 48 * MiB } }, 64 * MiB), [
    `memory.limit_in_bytes=${32 * MiB}`,
    `memory.memsw.limit_in_bytes=${48 * MiB}`,
  ]);
  // memsw unlimited: it goes first whatever the current limit
  assert.deepEqual(files({ memory: { limit: 32 * MiB, swap: -1 } }, 64 * MiB), [
    "memory.memsw.limit_in_bytes=-1",
    `memory.limit_in_bytes=${32 * MiB}`,
  ]);
});

test("an unlimited memory limit lifts memsw first where swap accounting exists", () => {
  assert.deepEqual(files({ memory: { limit: -1 } }, 64 * MiB), ["memory.memsw.limit_in_bytes=-1", "memory.limit_in_bytes=-1"]);
  assert.deepEqual(files({ memory: { limit: -1 } }, 64 * MiB, false), ["memory.limit_in_bytes=-1"]);
});

test("other writes keep their places around the pair", () => {
  const w = orderMemoryWrites(
    v1Writes({ memory: { limit: 2 * MiB, swap: 4 * MiB, reservation: MiB }, pids: { limit: 5 } }),
    () => MiB,
    true,
  );
  assert.deepEqual(
    w.map((x) => x.file),
    ["memory.memsw.limit_in_bytes", "memory.limit_in_bytes", "memory.soft_limit_in_bytes", "pids.max"],
  );
  // the limit alone, or nothing of memory: unchanged
  const only = v1Writes({ memory: { limit: MiB } });
  assert.deepEqual(
    orderMemoryWrites(only, () => 0, true),
    only,
  );
});

test("ManagerV1.set reads the current limit to order the pair", () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-mo-"));
  try {
    writeFileSync(join(dir, "memory.limit_in_bytes"), `${64 * MiB}\n`);
    writeFileSync(join(dir, "memory.memsw.limit_in_bytes"), `${64 * MiB}\n`);
    new ManagerV1({ memory: dir }).set({ memory: { limit: 128 * MiB, swap: 128 * MiB } });
    assert.equal(readFileSync(join(dir, "memory.limit_in_bytes"), "utf8"), String(128 * MiB));
    assert.equal(readFileSync(join(dir, "memory.memsw.limit_in_bytes"), "utf8"), String(128 * MiB));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
