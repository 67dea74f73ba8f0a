import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { parseIoStat } from "./io-stats-v2.js";
import { oomKillsV2 } from "./memory-stats-v2.js";
import { statsV2 } from "./stats-v2.js";

test("statsV2 reads a unified cgroup's files into runc's shape", () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-st2-"));
  try {
    const files: Record<string, string> = {
      "cpu.stat": "usage_usec 300\nuser_usec 200\nsystem_usec 100\nnr_periods 4\nnr_throttled 1\nthrottled_usec 50\n",
      "memory.current": "1048576\n",
      "memory.max": "16777216\n",
      "memory.peak": "2097152\n",
      "memory.events": "low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\n",
      "memory.swap.current": "0\n",
      "memory.swap.max": "0\n",
      "memory.stat": "anon 8192\nfile 4096\n",
      "pids.current": "2\n",
      "pids.max": "64\n",
      "io.stat": "8:16 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n",
      "hugetlb.2MB.current": "2097152\n",
      "hugetlb.2MB.events": "max 0\n",
    };
    for (const [f, t] of Object.entries(files)) writeFileSync(join(dir, f), t);
    const s = statsV2(dir, ["2MB"]);
    assert.deepEqual(s.cpu, {
      usage: { total: 300_000, user: 200_000, kernel: 100_000 },
      throttling: { periods: 4, throttledPeriods: 1, throttledTime: 50_000 },
    });
    assert.deepEqual(s.memory.usage, { limit: 16777216, usage: 1048576, max: 2097152, failcnt: 7 });
    assert.deepEqual(s.memory.swap, { limit: 16777216, usage: 1048576, failcnt: 0 });
    assert.equal(s.memory.cache, 4096);
    assert.deepEqual(s.pids, { current: 2, limit: 64 });
    assert.deepEqual(s.hugetlb, { "2MB": { usage: 2097152, failcnt: 0 } });
    assert.equal(oomKillsV2(dir), 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("statsV2 on a cgroup without controllers reads zeros; memory.max 'max' is the largest number", () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-st2-"));
  try {
    writeFileSync(join(dir, "memory.current"), "0\n");
    writeFileSync(join(dir, "memory.max"), "max\n");
    const s = statsV2(dir, ["2MB"]);
    assert.deepEqual(s.cpu, { usage: { kernel: 0, user: 0 }, throttling: {} });
    assert.deepEqual(s.memory.usage, { limit: Number.MAX_SAFE_INTEGER, failcnt: 0 });
    assert.deepEqual(s.pids, {});
    assert.deepEqual(s.hugetlb, {});
    assert.equal(oomKillsV2(dir), 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("parseIoStat maps rbytes/wbytes/rios/wios to Read/Write entries", () => {
  assert.deepEqual(parseIoStat("8:0 rbytes=1 wbytes=2 rios=3 wios=4\n"), {
    ioServiceBytesRecursive: [
      { major: 8, op: "Read", value: 1 },
      { major: 8, op: "Write", value: 2 },
    ],
    ioServicedRecursive: [
      { major: 8, op: "Read", value: 3 },
      { major: 8, op: "Write", value: 4 },
    ],
  });
  assert.deepEqual(parseIoStat(""), {});
});
