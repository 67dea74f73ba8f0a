import assert from "node:assert/strict";
import { fstatSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { isKind } from "../../errors/index.js";
import type { DeviceCgroup } from "../../oci/index.js";
import type { DeviceFilterSyscalls } from "./devices-v2.js";
import {
  BPF_F_ALLOW_MULTI,
  DEVICE_FILTER_LICENSE,
  allowsAllDevices,
  compileDeviceRules,
  encodeInsns,
  installDeviceFilter,
} from "./devices-v2.js";

const BLOCK = 1;
const CHAR = 2;
const M = 1;
const R = 2;
const W = 4;

interface Request {
  type: number;
  major: number;
  minor: number;
  access: number;
}

/**
 * An interpreter for the eBPF subset the compiler emits, run on raw bytes as the kernel
 * reads them. It also checks what the verifier would: known opcodes, jumps forward and
 * in range, registers written before they are read, every instruction reachable.
 */
function run(prog: Buffer, req: Request): number {
  assert.equal(prog.length % 8, 0);
  const n = prog.length / 8;
  const ctx = Buffer.alloc(12);
  ctx.writeUInt32LE((req.access << 16) | req.type, 0);
  ctx.writeUInt32LE(req.major, 4);
  ctx.writeUInt32LE(req.minor, 8);
  // r1 (the context pointer) stays undefined: only a load through it may use it
  const reg: (bigint | undefined)[] = Array(11).fill(undefined);
  const U64 = (1n << 64n) - 1n;
  const read = (r: number, pc: number) => {
    const v = reg[r];
    assert.notEqual(v, undefined, `insn ${pc}: r${r} read before it is written`);
    return v as bigint;
  };
  for (let pc = 0, steps = 0; pc < n; steps++) {
    assert.ok(steps <= n, "no loops");
    const code = prog.readUInt8(pc * 8);
    const dst = prog.readUInt8(pc * 8 + 1) & 0xf;
    const src = prog.readUInt8(pc * 8 + 1) >> 4;
    const off = prog.readInt16LE(pc * 8 + 2);
    const imm = BigInt.asUintN(64, BigInt(prog.readInt32LE(pc * 8 + 4)));
    assert.ok(dst <= 10 && src <= 10, `insn ${pc}: registers`);
    const jump = (taken: boolean) => {
      assert.ok(off >= 0 && pc + 1 + off < n, `insn ${pc}: jump target ${pc + 1 + off} in range and forward`);
      pc += taken ? 1 + off : 1;
    };
    switch (code) {
      case 0x61: // ldxw dst, [src + off]: only r1, the context, is a pointer here
        assert.equal(src, 1, `insn ${pc}: loads from the context`);
        assert.ok([0, 4, 8].includes(off), `insn ${pc}: context offset ${off}`);
        reg[dst] = BigInt(ctx.readUInt32LE(off));
        pc++;
        break;
      case 0xb7:
        reg[dst] = imm;
        pc++;
        break;
      case 0xbf:
        reg[dst] = read(src, pc);
        pc++;
        break;
      case 0x57:
        reg[dst] = read(dst, pc) & imm;
        pc++;
        break;
      case 0x77:
        reg[dst] = (read(dst, pc) >> imm) & U64;
        pc++;
        break;
      case 0x15:
        jump(read(dst, pc) === imm);
        break;
      case 0x55:
        jump(read(dst, pc) !== imm);
        break;
      case 0x95:
        return Number(read(0, pc));
      default:
        assert.fail(`insn ${pc}: opcode 0x${code.toString(16)} is not in the emitted subset`);
    }
  }
  assert.fail("ran off the end of the program");
}

/** Every instruction reachable along some path (the verifier refuses unreachable code). */
function assertAllReachable(prog: Buffer): void {
  const n = prog.length / 8;
  const seen = new Set<number>();
  const todo = [0];
  while (todo.length) {
    const pc = todo.pop() as number;
    if (seen.has(pc) || pc >= n) continue;
    seen.add(pc);
    const code = prog.readUInt8(pc * 8);
    const off = prog.readInt16LE(pc * 8 + 2);
    if (code === 0x95) continue;
    if (code === 0x15 || code === 0x55) todo.push(pc + 1 + off);
    todo.push(pc + 1);
  }
  assert.equal(seen.size, n, "every instruction is reachable");
}

/** The meaning of a rule list, written plainly: per access bit, the last rule naming it decides. */
function reference(rules: DeviceCgroup[], req: Request): boolean {
  const bits = [M, R, W].filter((b) => req.access & b);
  return bits.every((bit) => {
    for (let i = rules.length - 1; i >= 0; i--) {
      const r = rules[i] as DeviceCgroup;
      const type = r.type ?? "a";
      if (type !== "a" && (type === "b" ? BLOCK : CHAR) !== req.type) continue;
      if (r.major !== undefined && r.major >= 0 && r.major !== req.major) continue;
      if (r.minor !== undefined && r.minor >= 0 && r.minor !== req.minor) continue;
      const access = [...(r.access || "rwm")].reduce((a, c) => a | (c === "m" ? M : c === "r" ? R : W), 0);
      if (access & bit) return r.allow;
    }
    return false; // nothing said: denied, as v1 starts from "devices.deny a"
  });
}

const MAJORS = [0, 1, 5, 8, 136];
const MINORS = [0, 1, 3, 5];
const requests: Request[] = [];
for (const type of [BLOCK, CHAR])
  for (const major of MAJORS)
    for (const minor of MINORS) for (let access = 1; access <= 7; access++) requests.push({ type, major, minor, access });

function assertSameMeaning(rules: DeviceCgroup[], label: string): void {
  const prog = encodeInsns(compileDeviceRules(rules));
  assertAllReachable(prog);
  for (const req of requests) {
    const want = reference(rules, req) ? 1 : 0;
    assert.equal(run(prog, req), want, `${label}: ${JSON.stringify(req)} with ${JSON.stringify(rules)}`);
  }
}

const denyAll: DeviceCgroup = { allow: false, access: "rwm" };
const allowAll: DeviceCgroup = { allow: true, access: "rwm" };

test("instruction bytes of a small rule set", () => {
  const prog = encodeInsns(compileDeviceRules([denyAll, { allow: true, type: "c", major: 1, minor: 3, access: "rw" }]));
  const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");
  const want = [
    "61 12 0000 00000000", // r2 = ctx->access_type
    "bf 23 0000 00000000", // r3 = r2
    "57 03 0000 ffff0000", // r3 &= 0xffff: the device type
    "77 02 0000 10000000", // r2 >>= 16: the access bits
    "61 14 0400 00000000", // r4 = ctx->major
    "61 15 0800 00000000", // r5 = ctx->minor
    "55 03 0600 02000000", // if r3 != CHAR goto default
    "55 04 0500 01000000", // if r4 != 1 goto default
    "55 05 0400 03000000", // if r5 != 3 goto default
    "57 02 0000 f9ffffff", // r2 &= ~(READ|WRITE)
    "55 02 0200 00000000", // if r2 != 0 goto default
    "b7 00 0000 01000000", // return 1
    "95 00 0000 00000000",
    "b7 00 0000 00000000", // default: return 0
    "95 00 0000 00000000",
  ];
  assert.deepEqual(
    [...Array(prog.length / 8).keys()].map((i) => prog.subarray(i * 8, i * 8 + 8).toString("hex")),
    want.map((w) => hex(w).toString("hex")),
  );
});

test("a deny rule denies any of its access bits", () => {
  const prog = compileDeviceRules([allowAll, { allow: false, type: "b", major: 8, access: "w" }]);
  const b = encodeInsns(prog);
  assert.equal(run(b, { type: BLOCK, major: 8, minor: 0, access: R }), 1, "read of 8:0 is allowed");
  assert.equal(run(b, { type: BLOCK, major: 8, minor: 0, access: R | W }), 0, "read-write of 8:0 is denied");
  assert.equal(run(b, { type: CHAR, major: 8, minor: 0, access: W }), 1, "c 8:0 is another device");
  assert.equal(b.length, 8 * (6 + 2 + 5 + 2), "six loads, two guards, the deny body, the default");
});

test("the program means what the rule list means: hand-picked lists", () => {
  const cases: [string, DeviceCgroup[]][] = [
    ["empty: deny everything", []],
    ["allow everything", [allowAll]],
    ["deny everything", [denyAll]],
    [
      "docker-like",
      [denyAll, { allow: true, type: "c", major: 1, minor: 3, access: "rwm" }, { allow: true, type: "c", access: "m" }],
    ],
    [
      "later rules win",
      [denyAll, { allow: true, type: "c", major: 1, access: "rwm" }, { allow: false, type: "c", major: 1, minor: 5 }],
    ],
    [
      "a deny then a wider allow",
      [denyAll, { allow: false, type: "c", major: 1, minor: 5 }, { allow: true, type: "c", major: 1 }],
    ],
    [
      "access merges across rules",
      [denyAll, { allow: true, type: "b", major: 8, access: "r" }, { allow: true, type: "b", major: 8, access: "w" }],
    ],
    [
      "a reset in the middle",
      [
        { allow: true, type: "c", major: 5 },
        allowAll,
        { allow: false, type: "b" },
        denyAll,
        { allow: true, type: "b", major: 8, minor: 1 },
      ],
    ],
    ["wildcards as -1 and type a", [denyAll, { allow: true, type: "a", major: 136, minor: -1, access: "rw" }]],
    [
      "partial catch-all",
      [
        { allow: true, type: "a", access: "m" },
        { allow: true, type: "c", major: 1, minor: 3, access: "r" },
      ],
    ],
    [
      "allow-all with exceptions",
      [allowAll, { allow: false, type: "b", access: "rw" }, { allow: true, type: "b", major: 8, minor: 0, access: "r" }],
    ],
    ["empty access means rwm", [denyAll, { allow: true, type: "c", major: 1, minor: 0, access: "" }]],
  ];
  for (const [label, rules] of cases) assertSameMeaning(rules, label);
});

test("the program means what the rule list means: random lists", () => {
  // a fixed-seed LCG, so a failure reproduces
  let seed = 0x5eed;
  const rnd = (k: number) => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return (seed >>> 8) % k;
  };
  const pick = <T>(xs: T[]): T => xs[rnd(xs.length)] as T;
  for (let round = 0; round < 300; round++) {
    const rules: DeviceCgroup[] = [];
    for (let i = rnd(9); i > 0; i--) {
      if (rnd(8) === 0) {
        rules.push(rnd(2) ? allowAll : denyAll);
        continue;
      }
      const r: DeviceCgroup = { allow: rnd(2) === 0, type: pick(["a", "b", "c"]) };
      if (rnd(3)) r.major = pick([...MAJORS, -1]);
      if (rnd(3)) r.minor = pick([...MINORS, -1]);
      const access = pick(["r", "w", "m", "rw", "rm", "wm", "rwm", "mwr"]);
      if (rnd(6)) r.access = access;
      rules.push(r);
    }
    assertSameMeaning(rules, `round ${round}`);
  }
});

test("allowsAllDevices: only when nothing can be denied", () => {
  assert.equal(allowsAllDevices([allowAll]), true);
  assert.equal(allowsAllDevices([denyAll, allowAll, { allow: true, type: "c", major: 1, minor: 3 }]), true);
  assert.equal(allowsAllDevices([]), false, "an empty list denies everything, as v1 after devices.deny a");
  assert.equal(allowsAllDevices([allowAll, { allow: false, type: "b", access: "w" }]), false);
  assert.equal(allowsAllDevices([allowAll, denyAll]), false);
});

test("malformed rules are InvalidArgument naming the field", () => {
  const bad: [DeviceCgroup, RegExp][] = [
    [{ allow: true, type: "u" }, /devices\[1\]\.type: want "a", "b" or "c"; got "u"/],
    [{ allow: true, type: "c", access: "rwx" }, /devices\[1\]\.access/],
    [{ allow: true, type: "c", major: 1.5 }, /devices\[1\]\.major/],
    [{ allow: true, type: "c", minor: 2 ** 32 }, /devices\[1\]\.minor/],
  ];
  for (const [rule, re] of bad)
    assert.throws(
      () => compileDeviceRules([denyAll, rule]),
      (e) => isKind(e, "InvalidArgument") && re.test((e as Error).message),
    );
  // JSON null is a wildcard, as Go callers read it
  const nullMajor = { allow: true, type: "c", major: null } as unknown as DeviceCgroup;
  assert.deepEqual(compileDeviceRules([nullMajor]), compileDeviceRules([{ allow: true, type: "c" }]));
});

/** A recording fake of the kernel side; program fds are real fds (of /dev/null) so closing them is checked. */
function fakeSyscalls(o: { attached?: number[]; fail?: Partial<Record<keyof DeviceFilterSyscalls, string>> } = {}) {
  const calls: string[] = [];
  const fds: number[] = [];
  const names = new Map<number, string>();
  const fail = (name: keyof DeviceFilterSyscalls) => {
    const code = o.fail?.[name];
    if (code) throw Object.assign(new Error(`${name}: ${code} (verifier log: R9 !read_ok)`), { code });
  };
  const fd = (name: string) => {
    const f = openSync("/dev/null", "r");
    fds.push(f);
    names.set(f, name);
    return f;
  };
  const sys: DeviceFilterSyscalls = {
    bpfProgLoad(insns, license) {
      calls.push(`load ${insns.length / 8} insns ${license}`);
      fail("bpfProgLoad");
      return fd("new");
    },
    bpfProgQuery() {
      calls.push("query");
      fail("bpfProgQuery");
      return o.attached ?? [];
    },
    bpfProgAttach(_cg, prog, flags) {
      calls.push(`attach ${names.get(prog)} flags ${flags}`);
      fail("bpfProgAttach");
    },
    bpfProgGetFdById(id) {
      calls.push(`fd of ${id}`);
      fail("bpfProgGetFdById");
      return fd(`old ${id}`);
    },
    bpfProgDetach(_cg, prog) {
      calls.push(`detach ${names.get(prog)}`);
      fail("bpfProgDetach");
    },
  };
  /** the fds handed out that are still open (none may be, once install returns) */
  const open = () =>
    fds.filter((f) => {
      try {
        fstatSync(f);
        return true;
      } catch {
        return false;
      }
    });
  return { sys, calls, open };
}

function withCgroupDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), "berth-devices-v2-"));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("install: the new program is attached before the old ones are detached, and every fd is closed", () => {
  withCgroupDir((dir) => {
    const { sys, calls, open } = fakeSyscalls({ attached: [11, 12] });
    installDeviceFilter(dir, [denyAll], sys);
    assert.deepEqual(calls, [
      `load 8 insns ${DEVICE_FILTER_LICENSE}`,
      "query",
      `attach new flags ${BPF_F_ALLOW_MULTI}`,
      "fd of 11",
      "detach old 11",
      "fd of 12",
      "detach old 12",
    ]);
    assert.deepEqual(open(), [], "the attachment keeps the program; its fds are closed");
  });
});

test("install: a replaced program that vanished meanwhile is no error", () => {
  withCgroupDir((dir) => {
    const { sys, open } = fakeSyscalls({ attached: [11], fail: { bpfProgGetFdById: "ENOENT" } });
    installDeviceFilter(dir, [denyAll], sys);
    assert.deepEqual(open(), []);
  });
});

test("install without privilege: allow-all rules are skipped, others are PermissionDenied", () => {
  withCgroupDir((dir) => {
    for (const step of ["bpfProgLoad", "bpfProgQuery", "bpfProgAttach"] as const) {
      const f = fakeSyscalls({ fail: { [step]: "EPERM" } });
      installDeviceFilter(dir, [allowAll], f.sys);
      assert.deepEqual(f.open(), [], `${step}: fds closed`);
      const g = fakeSyscalls({ fail: { [step]: "EPERM" } });
      assert.throws(
        () => installDeviceFilter(dir, [denyAll, { allow: true, type: "c", major: 1, minor: 3 }], g.sys),
        (e) => isKind(e, "PermissionDenied") && /CAP_SYS_ADMIN/.test((e as Error).message),
      );
      assert.deepEqual(g.open(), [], `${step}: fds closed after the error`);
    }
  });
});

test("install: a verifier refusal is an error carrying its log; no loader is an error unless all is allowed", () => {
  withCgroupDir((dir) => {
    // the verifier refuses with EACCES (or EINVAL): not a lack of privilege, even for allow-all rules
    for (const rules of [[denyAll], [allowAll]]) {
      const { sys, open } = fakeSyscalls({ fail: { bpfProgLoad: "EACCES" } });
      assert.throws(
        () => installDeviceFilter(dir, rules, sys),
        (e) => isKind(e, "Internal") && /device rules of cgroup .*verifier log: R9/.test((e as Error).message),
      );
      assert.deepEqual(open(), []);
    }
    assert.throws(
      () => installDeviceFilter(dir, [denyAll], undefined),
      (e) => isKind(e, "FailedPrecondition"),
    );
    assert.doesNotThrow(() => installDeviceFilter(dir, [allowAll], undefined));
  });
});

test("install: malformed rules fail before any syscall", () => {
  withCgroupDir((dir) => {
    const { sys, calls } = fakeSyscalls();
    assert.throws(
      () => installDeviceFilter(dir, [{ allow: true, type: "x" }], sys),
      (e) => isKind(e, "InvalidArgument"),
    );
    assert.deepEqual(calls, []);
  });
});
