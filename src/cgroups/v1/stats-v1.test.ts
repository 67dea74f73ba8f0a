import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { parseBlkioFile } from "./blkio-stats-v1.js";
import { oomKillsV1 } from "./memory-stats-v1.js";
import { statsV1 } from "./stats-v1.js";

// A directory tree laid out like v1 cgroupfs, with the files a container's cgroups hold.
function tree(files: Record<string, string>): { root: string; done: () => void } {
  const root = mkdtempSync(join(tmpdir(), "berth-st1-"));
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(join(root, p, ".."), { recursive: true });
    writeFileSync(join(root, p), text);
  }
  return { root, done: () => rmSync(root, { recursive: true, force: true }) };
}

const V1 = {
  "cpuacct/c/cpuacct.usage": "3000\n",
  "cpuacct/c/cpuacct.usage_percpu": "1000 2000 \n",
  "cpuacct/c/cpuacct.usage_percpu_sys": "10 20 \n",
  "cpuacct/c/cpuacct.usage_percpu_user": "990 1980 \n",
  "cpuacct/c/cpuacct.stat": "user 7\nsystem 2\n",
  "cpu/c/cpu.stat": "nr_periods 5\nnr_throttled 2\nthrottled_time 123456\nnr_bursts 0\nburst_time 0\n",
  "memory/c/memory.usage_in_bytes": "1048576\n",
  "memory/c/memory.max_usage_in_bytes": "2097152\n",
  "memory/c/memory.limit_in_bytes": "16777216\n",
  "memory/c/memory.failcnt": "3\n",
  "memory/c/memory.memsw.usage_in_bytes": "1048576\n",
  "memory/c/memory.memsw.max_usage_in_bytes": "2097152\n",
  "memory/c/memory.memsw.limit_in_bytes": "9223372036854771712\n",
  "memory/c/memory.memsw.failcnt": "0\n",
  "memory/c/memory.stat": "cache 4096\nrss 8192\ntotal_rss 8192\n",
  "memory/c/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
  "pids/c/pids.current": "3\n",
  "pids/c/pids.max": "max\n",
  "blkio/c/blkio.bfq.io_service_bytes_recursive": "8:0 Read 4096\n8:0 Write 0\nTotal 4096\n",
  "blkio/c/blkio.bfq.io_serviced_recursive": "8:0 Read 1\n8:0 Write 0\nTotal 1\n",
  "hugetlb/c/hugetlb.2MB.usage_in_bytes": "0\n",
  "hugetlb/c/hugetlb.2MB.max_usage_in_bytes": "2097152\n",
  "hugetlb/c/hugetlb.2MB.failcnt": "1\n",
};

test("statsV1 reads every controller into runc's shape", () => {
  const { root, done } = tree(V1);
  try {
    const paths = Object.fromEntries(
      ["cpu", "cpuacct", "memory", "pids", "blkio", "hugetlb"].map((c) => [c, join(root, c, "c")]),
    );
    const s = statsV1(paths, ["2MB", "1GB"]);
    assert.deepEqual(s.cpu, {
      usage: {
        total: 3000,
        percpu: [1000, 2000],
        percpu_kernel: [10, 20],
        percpu_user: [990, 1980],
        user: 70_000_000,
        kernel: 20_000_000,
      },
      throttling: { periods: 5, throttledPeriods: 2, throttledTime: 123456 },
    });
    assert.deepEqual(s.memory.usage, { limit: 16777216, usage: 1048576, max: 2097152, failcnt: 3 });
    assert.deepEqual(s.memory.swap, { limit: Number("9223372036854771712"), usage: 1048576, max: 2097152, failcnt: 0 });
    // no kmem files (kernels without kmem accounting): zeros, as runc reports them
    assert.deepEqual(s.memory.kernel, { limit: 0, failcnt: 0 });
    assert.equal(s.memory.cache, 4096);
    assert.deepEqual(s.memory.raw, { cache: 4096, rss: 8192, total_rss: 8192 });
    // pids.max "max": no limit, left out as runc's omitempty leaves it
    assert.deepEqual(s.pids, { current: 3 });
    assert.deepEqual(s.blkio, {
      ioServiceBytesRecursive: [
        { major: 8, op: "Read", value: 4096 },
        { major: 8, op: "Write" },
      ],
      ioServicedRecursive: [
        { major: 8, op: "Read", value: 1 },
        { major: 8, op: "Write" },
      ],
    });
    assert.deepEqual(s.hugetlb, { "2MB": { max: 2097152, failcnt: 1 } });
    assert.equal(oomKillsV1(paths["memory"]), 2);
  } finally {
    done();
  }
});

test("statsV1 finds controllers in a shared hierarchy and reads missing ones as zeros", () => {
  const { root, done } = tree({
    "cpu,cpuacct/c/cpuacct.usage": "5\n",
    "cpu,cpuacct/c/cpu.stat": "nr_periods 0\nnr_throttled 0\nthrottled_time 0\n",
  });
  try {
    const s = statsV1({ "cpu,cpuacct": join(root, "cpu,cpuacct", "c") }, []);
    assert.deepEqual(s.cpu, { usage: { total: 5, kernel: 0, user: 0 }, throttling: {} });
    assert.deepEqual(s.memory.usage, { limit: 0, failcnt: 0 });
    assert.deepEqual(s.pids, {});
    assert.deepEqual(s.blkio, {});
    assert.equal(oomKillsV1(undefined), 0);
  } finally {
    done();
  }
});

test("oomKillsV1 falls back to under_oom on kernels without the oom_kill counter", () => {
  const { root, done } = tree({ "m/memory.oom_control": "oom_kill_disable 1\nunder_oom 1\n" });
  try {
    assert.equal(oomKillsV1(join(root, "m")), 1);
  } finally {
    done();
  }
});

test("parseBlkioFile: throttle files and malformed lines", () => {
  assert.deepEqual(parseBlkioFile("253:1 Read 10\n253:1 Sync 0\nTotal 10\n", "f"), [
    { major: 253, minor: 1, op: "Read", value: 10 },
    { major: 253, minor: 1, op: "Sync" },
  ]);
  assert.deepEqual(parseBlkioFile("Total 0\n", "f"), []);
  assert.throws(() => parseBlkioFile("sda Read 1\n", "f"), /malformed/);
});
