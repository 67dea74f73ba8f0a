import assert from "node:assert/strict";
import { test } from "node:test";
import { encodePlan } from "./encode-plan.js";
import type { Step } from "./plan.js";

const HEADER = 16;
const STEP = 48;
const NO_STR = 0xffffffff;

interface Decoded {
  op: number;
  flags: number;
  i: [bigint, bigint, bigint];
  s: [number, number, number, number];
}

function step(buf: Buffer, k: number): Decoded {
  const o = HEADER + k * STEP;
  return {
    op: buf.readUInt32LE(o),
    flags: buf.readUInt32LE(o + 4),
    i: [buf.readBigInt64LE(o + 8), buf.readBigInt64LE(o + 16), buf.readBigInt64LE(o + 24)],
    s: [buf.readUInt32LE(o + 32), buf.readUInt32LE(o + 36), buf.readUInt32LE(o + 40), buf.readUInt32LE(o + 44)],
  };
}

/** The NUL-terminated string at `off`. */
function cstrAt(buf: Buffer, off: number): string {
  const end = buf.indexOf(0, off);
  assert.ok(end >= off, `no NUL after offset ${off}`);
  return buf.toString("utf8", off, end);
}

test("an empty plan is just the header", () => {
  const buf = encodePlan([]);
  assert.equal(buf.length, HEADER);
  assert.equal(buf.readUInt32LE(0), 0x48545242); // "BRTH"
  assert.equal(buf.toString("latin1", 0, 4), "BRTH");
  assert.equal(buf.readUInt32LE(4), 1);
  assert.equal(buf.readUInt32LE(8), 0);
  assert.equal(buf.readUInt32LE(12), HEADER);
});

test("header counts steps and the total size; steps are 48 bytes each", () => {
  const plan: Step[] = [{ op: "ready" }, { op: "setsid" }, { op: "umask", mask: 0o22 }];
  const buf = encodePlan(plan);
  assert.equal(buf.readUInt32LE(8), 3);
  assert.equal(buf.length, HEADER + 3 * STEP);
  assert.equal(buf.readUInt32LE(12), buf.length);
  assert.deepEqual(step(buf, 0), { op: 28, flags: 0, i: [0n, 0n, 0n], s: [NO_STR, NO_STR, NO_STR, NO_STR] });
  assert.equal(step(buf, 1).op, 31);
  assert.deepEqual(step(buf, 2).i, [0o22n, 0n, 0n]);
});

test("strings follow the steps, NUL-terminated and 8-byte aligned", () => {
  const plan: Step[] = [
    { op: "mount", source: "abc", target: "/x", fstype: null, flags: 0x1001, data: "mode=755", root: 0, create: "dir" },
    { op: "chdir", path: "/home/user" },
  ];
  const buf = encodePlan(plan);
  const m = step(buf, 0);
  const strStart = HEADER + 2 * STEP;
  assert.equal(m.op, 6);
  assert.equal(m.s[0], strStart);
  assert.equal(cstrAt(buf, m.s[0]), "abc");
  // "abc\0" is 4 bytes: the next string starts at the next multiple of 8
  assert.equal(m.s[1], strStart + 8);
  assert.equal(cstrAt(buf, m.s[1]), "/x");
  assert.equal(m.s[2], NO_STR);
  assert.equal(cstrAt(buf, m.s[3]), "mode=755");
  // "mode=755\0" is 9 bytes, padded to 16
  const c = step(buf, 1);
  assert.equal(c.s[0], m.s[3] + 16);
  assert.equal(cstrAt(buf, c.s[0]), "/home/user");
  for (const off of [...m.s, ...c.s]) if (off !== NO_STR) assert.equal(off % 8, 0, `offset ${off} not aligned`);
  assert.equal(buf.length % 8, 0);
  assert.equal(buf.readUInt32LE(12), buf.length);
});

test("mount flags: create, remount, propagation, host target", () => {
  const base = { op: "mount", source: null, target: "/t", fstype: null, flags: 0, data: null } as const;
  const cases: [Step, number, [bigint, bigint, bigint]][] = [
    [{ ...base, root: 3, create: "dir" }, 1, [3n, 0n, 0n]],
    [{ ...base, root: 0, create: "file", remount: true }, 2 | 4, [0n, 0n, 0n]],
    [{ ...base, root: 0, flags: 0x1000, propagation: 0x40000 }, 8, [0n, 0x1000n, 0x40000n]],
    [{ ...base, root: null }, 16, [-1n, 0n, 0n]],
  ];
  for (const [s, flags, i] of cases) {
    const d = step(encodePlan([s]), 0);
    assert.equal(d.flags, flags, JSON.stringify(s));
    assert.deepEqual(d.i, i);
  }
});

test("binary blobs keep 8-byte alignment: setgroups and capability sets", () => {
  const plan: Step[] = [
    { op: "setgroups", gids: [1, 2, 3] },
    { op: "caps", effective: 1n, permitted: 3n, inheritable: 0n, ambient: 1n << 40n },
    { op: "caps-bounding", bounding: 0x1ffffffffffn, lastCap: 40 },
    { op: "setgroups", gids: [] },
  ];
  const buf = encodePlan(plan);
  const g = step(buf, 0);
  assert.deepEqual(g.i, [3n, 0n, 0n]);
  assert.deepEqual([buf.readUInt32LE(g.s[0]), buf.readUInt32LE(g.s[0] + 4), buf.readUInt32LE(g.s[0] + 8)], [1, 2, 3]);
  const caps = step(buf, 1);
  // 12 bytes of gids are padded to 16
  assert.equal(caps.s[0], g.s[0] + 16);
  assert.equal(caps.s[0] % 8, 0);
  assert.equal(caps.op, 17);
  assert.deepEqual(caps.i, [1n, 0n, 0n]);
  assert.equal(buf.readBigUInt64LE(caps.s[0] + 8), 1n);
  assert.equal(buf.readBigUInt64LE(caps.s[0] + 16), 3n);
  assert.equal(buf.readBigUInt64LE(caps.s[0] + 24), 0n);
  assert.equal(buf.readBigUInt64LE(caps.s[0] + 32), 1n << 40n);
  const b = step(buf, 2);
  assert.equal(b.s[0], caps.s[0] + 40);
  assert.deepEqual(b.i, [0n, 40n, 0n]);
  assert.equal(buf.readBigUInt64LE(b.s[0]), 0x1ffffffffffn);
  // an empty group list still gets a (zeroed) 4-byte blob
  const e = step(buf, 3);
  assert.equal(e.i[0], 0n);
  assert.equal(e.s[0], b.s[0] + 40);
  assert.equal(buf.length, e.s[0] + 8);
});

test("seccomp filters are copied verbatim at an aligned offset", () => {
  const filter = Uint8Array.from({ length: 16 }, (_, k) => k + 1);
  const buf = encodePlan([
    { op: "chdir", path: "/a" },
    { op: "seccomp", filter, flags: 2, listener: false },
    { op: "seccomp", filter, flags: 8, listener: true },
  ]);
  const s = step(buf, 1);
  assert.deepEqual(s.i, [16n, 2n, 0n]);
  // a filter with a notify listener: i2 = 1 (send the listener to the parent)
  assert.deepEqual(step(buf, 2).i, [16n, 8n, 1n]);
  assert.equal(s.s[0] % 8, 0);
  assert.deepEqual(new Uint8Array(buf.subarray(s.s[0], s.s[0] + 16)), filter);
});

test("rlimits are int64: RLIM_INFINITY (2^64-1) encodes as -1", () => {
  const buf = encodePlan([{ op: "setrlimit", resource: 7, soft: 1024n, hard: 0xffffffffffffffffn, name: "RLIMIT_NOFILE" }]);
  const r = step(buf, 0);
  assert.equal(r.op, 15);
  assert.deepEqual(r.i, [7n, 1024n, -1n]);
  assert.equal(buf.readBigUInt64LE(HEADER + 24), 0xffffffffffffffffn);
  assert.equal(cstrAt(buf, r.s[0]), "RLIMIT_NOFILE");
});

test("hooks and exec carry NUL-separated argv and env lists", () => {
  const buf = encodePlan([
    { op: "hook", kind: "createContainer", path: "/bin/h", args: ["h", "-v"], env: ["A=1", "B=2"], timeout: 9 },
    { op: "resolve-exec", args: ["sh", "-c", "x"], env: [] },
    { op: "exec", args: ["sh"], env: ["PATH=/bin"], preserveFds: 2 },
  ]);
  const h = step(buf, 0);
  assert.equal(h.op, 24);
  assert.deepEqual(h.i, [2n, 2n, 9n]);
  assert.equal(cstrAt(buf, h.s[0]), "/bin/h");
  assert.equal(buf.toString("utf8", h.s[1], h.s[1] + 5), "h\0-v\0");
  assert.equal(buf.toString("utf8", h.s[2], h.s[2] + 8), "A=1\0B=2\0");
  const re = step(buf, 1);
  assert.equal(re.op, 27);
  assert.equal(re.flags, 1);
  assert.deepEqual(re.i, [3n, 0n, 0n]);
  assert.equal(cstrAt(buf, re.s[0]), "sh");
  const ex = step(buf, 2);
  assert.equal(ex.op, 27);
  assert.equal(ex.flags, 0);
  assert.deepEqual(ex.i, [1n, 1n, 2n]);
  assert.equal(buf.toString("utf8", ex.s[2], ex.s[2] + 10), "PATH=/bin\0");
});

test("namespace and slot steps encode their integers and paths", () => {
  const buf = encodePlan([
    { op: "open-slot", slot: 8, path: "/proc/1/ns/net", flags: 0o10000000 },
    { op: "setns", slot: 8, nstype: 0x40000000, path: "/proc/1/ns/net" },
    { op: "clone", flags: 0x20020000 },
    { op: "sync", tag: 2 },
    { op: "mknod", path: "/dev/null", mode: 0o20666, dev: 0x103, root: 0, owner: "0:0" },
    { op: "write-file", path: "/proc/self/oom_score_adj", data: "-1", ignoreMissing: true },
    { op: "pivot-root", rootfs: "/r", noPivot: true },
  ]);
  assert.deepEqual(step(buf, 0).i, [8n, 0o10000000n, 0n]);
  assert.equal(cstrAt(buf, step(buf, 0).s[0]), "/proc/1/ns/net");
  assert.deepEqual(step(buf, 1).i, [8n, 0x40000000n, 0n]);
  assert.deepEqual([step(buf, 2).op, ...step(buf, 2).i], [4, 0x20020000n, 0n, 0n]);
  // a clone into a cgroup carries its slot + 1 (0 is "none": slot 0 is a valid slot)
  assert.deepEqual(step(encodePlan([{ op: "clone", flags: 0, cgroupSlot: 0 }]), 0).i, [0n, 1n, 0n]);
  assert.deepEqual([step(buf, 3).op, step(buf, 3).i[0]], [5, 2n]);
  const nod = step(buf, 4);
  assert.deepEqual(nod.i, [0n, 0o20666n, 0x103n]);
  assert.equal(cstrAt(buf, nod.s[1]), "0:0");
  const wf = step(buf, 5);
  assert.equal(wf.i[0], 1n);
  assert.equal(cstrAt(buf, wf.s[1]), "-1");
  assert.deepEqual([step(buf, 6).op, step(buf, 6).i[0]], [10, 1n]);
});

test("non-ASCII strings are UTF-8 and measured in bytes", () => {
  const buf = encodePlan([
    { op: "sethostname", name: "hé" },
    { op: "chdir", path: "/x" },
  ]);
  const a = step(buf, 0);
  assert.equal(cstrAt(buf, a.s[0]), "hé");
  // "hé\0" is 4 bytes in UTF-8
  assert.equal(step(buf, 1).s[0], a.s[0] + 8);
});
