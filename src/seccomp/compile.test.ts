import assert from "node:assert/strict";
import { test } from "node:test";
import { isKind } from "../errors/index.js";
import type { Seccomp, SeccompArg } from "../oci/index.js";
import { SECCOMP_RET } from "./actions.js";
import { AUDIT_ARCH, X32_SYSCALL_BIT } from "./arches.js";
import { BPF } from "./bpf.js";
import { compileSeccomp } from "./compile.js";
import { runFilter } from "./run-filter.js";
import { SYSCALLS_AARCH64 } from "./syscalls-aarch64.js";
import { SYSCALLS_X32 } from "./syscalls-x32.js";
import { SYSCALLS_X86 } from "./syscalls-x86.js";
import { SYSCALLS_X86_64 } from "./syscalls-x86-64.js";

const EPERM = SECCOMP_RET.ERRNO | 1;
const X64 = SYSCALLS_X86_64;

/** A syscall's number in `table`, insisting it is there. */
function nr(table: Readonly<Record<string, number>>, name: string): number {
  const n = table[name];
  if (n === undefined) throw new Error(`no syscall ${name}`);
  return n;
}

/** The element at `i`, insisting it is there. */
function at<T>(xs: readonly T[], i: number): T {
  const x = xs[i];
  if (x === undefined) throw new Error(`no element ${i}`);
  return x;
}

/** Compile for an x86_64 host and return a decide(nr, args, arch) function. */
function filter(profile: Seccomp, host = "x64") {
  const { filter: f } = compileSeccomp(profile, host);
  checkStructure(f);
  return (nr: number, args: bigint[] = [], arch: number = AUDIT_ARCH.X86_64) => runFilter(f, { nr, arch, args });
}

/** Every jump lands inside the program, loads are aligned, and the program ends with a return. */
function checkStructure(f: Uint8Array): void {
  assert.equal(f.length % 8, 0);
  const v = new DataView(f.buffer, f.byteOffset, f.byteLength);
  const n = f.length / 8;
  assert.ok(n > 0 && n <= 4096);
  assert.deepEqual([v.getUint16(0, true), v.getUint32(4, true)], [BPF.LD_W_ABS, 4], "the arch is checked first");
  assert.equal(v.getUint16((n - 1) * 8, true), BPF.RET_K, "the program ends with a return");
  for (let pc = 0; pc < n; pc++) {
    const code = v.getUint16(pc * 8, true);
    const k = v.getUint32(pc * 8 + 4, true);
    if (code === BPF.JA) assert.ok(pc + 1 + k < n, `ja at ${pc} lands inside`);
    else if ((code & 0x07) === 0x05)
      assert.ok(pc + 1 + Math.max(v.getUint8(pc * 8 + 2), v.getUint8(pc * 8 + 3)) < n, `jump at ${pc} lands inside`);
    else if (code === BPF.LD_W_ABS) assert.ok(k % 4 === 0 && k < 64);
  }
}

test("deny mkdir with EPERM: mkdir gets EPERM, everything else is allowed", () => {
  const decide = filter({
    defaultAction: "SCMP_ACT_ALLOW",
    syscalls: [{ names: ["mkdir"], action: "SCMP_ACT_ERRNO", errnoRet: 1 }],
  });
  assert.equal(decide(nr(X64, "mkdir")), EPERM);
  assert.equal(decide(nr(X64, "mkdirat")), SECCOMP_RET.ALLOW);
  assert.equal(decide(nr(X64, "read")), SECCOMP_RET.ALLOW);
});

test("errnoRet defaults to EPERM, and is carried in the low 16 bits", () => {
  const decide = filter({
    defaultAction: "SCMP_ACT_ERRNO",
    defaultErrnoRet: 38,
    syscalls: [
      { names: ["read"], action: "SCMP_ACT_ALLOW" },
      { names: ["mkdir"], action: "SCMP_ACT_ERRNO" },
      { names: ["rmdir"], action: "SCMP_ACT_TRACE", errnoRet: 7 },
    ],
  });
  assert.equal(decide(nr(X64, "read")), SECCOMP_RET.ALLOW);
  assert.equal(decide(nr(X64, "mkdir")), EPERM);
  assert.equal(decide(nr(X64, "rmdir")), SECCOMP_RET.TRACE | 7);
  assert.equal(decide(nr(X64, "write")), SECCOMP_RET.ERRNO | 38);
});

test("each action maps to its SECCOMP_RET value", () => {
  const actions: [string, number][] = [
    ["SCMP_ACT_KILL", SECCOMP_RET.KILL_THREAD],
    ["SCMP_ACT_KILL_THREAD", SECCOMP_RET.KILL_THREAD],
    ["SCMP_ACT_KILL_PROCESS", SECCOMP_RET.KILL_PROCESS],
    ["SCMP_ACT_TRAP", SECCOMP_RET.TRAP],
    ["SCMP_ACT_LOG", SECCOMP_RET.LOG],
    ["SCMP_ACT_TRACE", SECCOMP_RET.TRACE | 1],
  ];
  for (const [action, ret] of actions) {
    const decide = filter({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["getpid"], action }] });
    assert.equal(decide(nr(X64, "getpid")), ret, action);
  }
});

test("default kill: a syscall no rule names is killed", () => {
  const decide = filter({ defaultAction: "SCMP_ACT_KILL", syscalls: [{ names: ["read", "write"], action: "SCMP_ACT_ALLOW" }] });
  assert.equal(decide(nr(X64, "write")), SECCOMP_RET.ALLOW);
  assert.equal(decide(nr(X64, "mkdir")), SECCOMP_RET.KILL_THREAD);
  const proc = filter({ defaultAction: "SCMP_ACT_KILL_PROCESS" });
  assert.equal(proc(nr(X64, "getpid")), SECCOMP_RET.KILL_PROCESS);
});

/** personality(2) allowed only when arg0 <op> 8, else EPERM. */
function personality(op: string, value: number, valueTwo?: number) {
  const arg: SeccompArg = { index: 0, value, op };
  if (valueTwo !== undefined) arg.valueTwo = valueTwo;
  const decide = filter({
    defaultAction: "SCMP_ACT_ALLOW",
    syscalls: [
      { names: ["personality"], action: "SCMP_ACT_ALLOW", args: [arg] },
      { names: ["personality"], action: "SCMP_ACT_ERRNO" },
    ],
  });
  return (x: bigint) => decide(nr(X64, "personality"), [x]) === SECCOMP_RET.ALLOW;
}

test("personality allowed for one value, with each operator over 64-bit arguments", () => {
  const hi = 1n << 32n; // values that differ only in the high word
  const xs = [0n, 7n, 8n, 9n, hi + 8n, hi, 0xffffffffn, 0xffffffffffffffffn];
  const cases: [string, (x: bigint) => boolean][] = [
    ["SCMP_CMP_EQ", (x) => x === 8n],
    ["SCMP_CMP_NE", (x) => x !== 8n],
    ["SCMP_CMP_LT", (x) => x < 8n],
    ["SCMP_CMP_LE", (x) => x <= 8n],
    ["SCMP_CMP_GT", (x) => x > 8n],
    ["SCMP_CMP_GE", (x) => x >= 8n],
  ];
  for (const [op, want] of cases) {
    const allowed = personality(op, 8);
    for (const x of xs) assert.equal(allowed(x), want(x), `${op} 8 with arg ${x}`);
  }
  // a value with a high word
  const big = personality("SCMP_CMP_GT", Number(hi + 8n));
  assert.deepEqual(
    xs.map((x) => big(x)),
    xs.map((x) => x > hi + 8n),
  );
});

test("masked-eq compares arg & value with valueTwo, on both words", () => {
  const allowed = personality("SCMP_CMP_MASKED_EQ", 0xff, 0x08);
  assert.equal(allowed(0x08n), true);
  assert.equal(allowed(0x1208n), true);
  assert.equal(allowed((1n << 40n) | 0x08n), true);
  assert.equal(allowed(0x09n), false);
  const wide = personality("SCMP_CMP_MASKED_EQ", Number(1n << 33n), Number(1n << 33n));
  assert.equal(wide(1n << 33n), true);
  assert.equal(wide((1n << 33n) | 5n), true);
  assert.equal(wide(1n << 32n), false);
});

test("conditions on different arguments are ANDed; rules for one syscall are tried in order", () => {
  const decide = filter({
    defaultAction: "SCMP_ACT_ERRNO",
    syscalls: [
      {
        names: ["socket"],
        action: "SCMP_ACT_ALLOW",
        args: [
          { index: 0, value: 1, op: "SCMP_CMP_EQ" },
          { index: 1, value: 2, op: "SCMP_CMP_EQ" },
        ],
      },
      { names: ["socket"], action: "SCMP_ACT_KILL_PROCESS", args: [{ index: 0, value: 16, op: "SCMP_CMP_EQ" }] },
    ],
  });
  const socket = nr(X64, "socket");
  assert.equal(decide(socket, [1n, 2n]), SECCOMP_RET.ALLOW);
  assert.equal(decide(socket, [1n, 3n]), EPERM);
  assert.equal(decide(socket, [2n, 2n]), EPERM);
  assert.equal(decide(socket, [16n, 2n]), SECCOMP_RET.KILL_PROCESS);
});

test("several conditions on one argument are ORed, as runc adds them", () => {
  const decide = filter({
    defaultAction: "SCMP_ACT_ERRNO",
    syscalls: [
      {
        names: ["personality"],
        action: "SCMP_ACT_ALLOW",
        args: [
          { index: 0, value: 0, op: "SCMP_CMP_EQ" },
          { index: 0, value: 8, op: "SCMP_CMP_EQ" },
        ],
      },
    ],
  });
  const pers = nr(X64, "personality");
  assert.deepEqual(
    [0n, 8n, 4n].map((x) => decide(pers, [x])),
    [SECCOMP_RET.ALLOW, SECCOMP_RET.ALLOW, EPERM],
  );
});

test("x32 syscalls on x86_64 are killed unless SCMP_ARCH_X32 is listed, then follow the x32 rules", () => {
  const profile: Seccomp = {
    defaultAction: "SCMP_ACT_ALLOW",
    architectures: ["SCMP_ARCH_X86_64"],
    syscalls: [{ names: ["mkdir"], action: "SCMP_ACT_ERRNO" }],
  };
  const only64 = filter(profile);
  assert.equal(only64(nr(X64, "mkdir")), EPERM);
  assert.equal(only64(X32_SYSCALL_BIT | nr(X64, "mkdir")), SECCOMP_RET.KILL_THREAD);
  assert.equal(only64(nr(SYSCALLS_X32, "read")), SECCOMP_RET.KILL_THREAD);
  assert.equal(only64(-1 >>> 0), SECCOMP_RET.KILL_THREAD);

  const both = filter({ ...profile, architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"] });
  assert.equal(both(nr(SYSCALLS_X32, "mkdir")), EPERM);
  assert.equal(both(nr(SYSCALLS_X32, "read")), SECCOMP_RET.ALLOW);
  assert.equal(both(nr(X64, "mkdir")), EPERM);
  // x32 arguments are 32-bit: only the low word is compared (libseccomp's ARCH_SIZE_32)
  const args = filter({
    defaultAction: "SCMP_ACT_ALLOW",
    architectures: ["SCMP_ARCH_X32"],
    syscalls: [{ names: ["personality"], action: "SCMP_ACT_ERRNO", args: [{ index: 0, value: 8, op: "SCMP_CMP_EQ" }] }],
  });
  assert.equal(args(nr(SYSCALLS_X32, "personality"), [8n]), EPERM);
  assert.equal(args(nr(SYSCALLS_X32, "personality"), [9n]), SECCOMP_RET.ALLOW);
});

test("i386 calls on x86_64 are killed when only SCMP_ARCH_X86_64 is listed, even with default allow", () => {
  const profile: Seccomp = {
    defaultAction: "SCMP_ACT_ALLOW",
    architectures: ["SCMP_ARCH_X86_64"],
    syscalls: [{ names: ["mkdir"], action: "SCMP_ACT_ERRNO" }],
  };
  const only64 = filter(profile);
  assert.equal(only64(nr(SYSCALLS_X86, "mkdir"), [], AUDIT_ARCH.I386), SECCOMP_RET.KILL_THREAD);
  assert.equal(only64(nr(SYSCALLS_X86, "read"), [], AUDIT_ARCH.I386), SECCOMP_RET.KILL_THREAD);
  assert.equal(only64(nr(X64, "read"), [], AUDIT_ARCH.AARCH64), SECCOMP_RET.KILL_THREAD);
  // no architectures: the native one only
  const native = filter({ defaultAction: "SCMP_ACT_ALLOW" });
  assert.equal(native(3, [], AUDIT_ARCH.I386), SECCOMP_RET.KILL_THREAD);
  assert.equal(native(3), SECCOMP_RET.ALLOW);

  const withX86 = filter({ ...profile, architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"] });
  assert.equal(withX86(nr(SYSCALLS_X86, "mkdir"), [], AUDIT_ARCH.I386), EPERM);
  assert.equal(withX86(nr(X64, "mkdir"), [], AUDIT_ARCH.I386), SECCOMP_RET.ALLOW, "83 is not mkdir on i386");
  assert.equal(withX86(nr(SYSCALLS_X86, "read"), [], AUDIT_ARCH.I386), SECCOMP_RET.ALLOW);
});

test("aarch64 host: the generic table, and other ABIs are killed", () => {
  const decide = filter(
    {
      defaultAction: "SCMP_ACT_ALLOW",
      architectures: ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
      syscalls: [{ names: ["mkdirat", "mkdir"], action: "SCMP_ACT_ERRNO" }],
    },
    "arm64",
  );
  assert.equal(decide(nr(SYSCALLS_AARCH64, "mkdirat"), [], AUDIT_ARCH.AARCH64), EPERM);
  assert.equal(decide(nr(SYSCALLS_AARCH64, "read"), [], AUDIT_ARCH.AARCH64), SECCOMP_RET.ALLOW);
  assert.equal(decide(39, [], 0x40000028 /* AUDIT_ARCH_ARM: listed, no table */), SECCOMP_RET.KILL_THREAD);
  assert.equal(decide(nr(SYSCALLS_AARCH64, "read"), [], AUDIT_ARCH.X86_64), SECCOMP_RET.KILL_THREAD);
});

test("unknown syscall names are skipped; unknown actions, ops, arches and flags are refused", () => {
  const decide = filter({
    defaultAction: "SCMP_ACT_ALLOW",
    syscalls: [{ names: ["no_such_syscall", "mkdir"], action: "SCMP_ACT_ERRNO" }],
  });
  assert.equal(decide(nr(X64, "mkdir")), EPERM);
  const bad = (p: Seccomp, kind = "InvalidArgument") =>
    assert.throws(
      () => compileSeccomp(p, "x64"),
      (e) => isKind(e, kind as "InvalidArgument"),
    );
  bad({ defaultAction: "SCMP_ACT_NOPE" });
  bad({ defaultAction: "SCMP_ACT_ALLOW", architectures: ["SCMP_ARCH_VAX"] });
  bad({ defaultAction: "SCMP_ACT_ALLOW", flags: ["SECCOMP_FILTER_FLAG_NOPE"] });
  bad({ defaultAction: "SCMP_ACT_ALLOW", defaultErrnoRet: 1 });
  bad({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["read"], action: "SCMP_ACT_KILL", errnoRet: 1 }] });
  bad({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: [], action: "SCMP_ACT_KILL" }] });
  bad({
    defaultAction: "SCMP_ACT_ALLOW",
    syscalls: [{ names: ["read"], action: "SCMP_ACT_KILL", args: [{ index: 6, value: 0, op: "SCMP_CMP_EQ" }] }],
  });
  bad({
    defaultAction: "SCMP_ACT_ALLOW",
    syscalls: [{ names: ["read"], action: "SCMP_ACT_KILL", args: [{ index: 0, value: 0, op: "SCMP_CMP_XX" }] }],
  });
  // SCMP_ACT_NOTIFY needs an agent's socket, never as the default, never on the hand-over call
  bad({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["read"], action: "SCMP_ACT_NOTIFY" }] });
  bad({ defaultAction: "SCMP_ACT_ALLOW", listenerPath: "", syscalls: [{ names: ["read"], action: "SCMP_ACT_NOTIFY" }] });
  bad({ defaultAction: "SCMP_ACT_ALLOW", listenerPath: "@abstract", syscalls: [{ names: ["read"], action: "SCMP_ACT_NOTIFY" }] });
  bad({ defaultAction: "SCMP_ACT_ALLOW", listenerPath: "rel.sock", syscalls: [{ names: ["read"], action: "SCMP_ACT_NOTIFY" }] });
  bad({ defaultAction: "SCMP_ACT_NOTIFY", listenerPath: "/run/agent.sock" });
  bad({
    defaultAction: "SCMP_ACT_ALLOW",
    listenerPath: "/run/agent.sock",
    syscalls: [{ names: ["mkdir", "sendmsg"], action: "SCMP_ACT_NOTIFY" }],
  });
  bad({
    defaultAction: "SCMP_ACT_ALLOW",
    listenerPath: "/run/agent.sock",
    syscalls: [{ names: ["mkdir"], action: "SCMP_ACT_NOTIFY", errnoRet: 1 }],
  });
  assert.throws(
    () => compileSeccomp({ defaultAction: "SCMP_ACT_ALLOW" }, "s390x"),
    (e) => isKind(e, "NotImplemented"),
  );
});

test("SCMP_ACT_NOTIFY: SECCOMP_RET_USER_NOTIF, loaded with NEW_LISTENER (and WAIT_KILLABLE_RECV kept)", () => {
  const profile: Seccomp = {
    defaultAction: "SCMP_ACT_ALLOW",
    listenerPath: "/run/agent.sock",
    flags: ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
    syscalls: [{ names: ["mkdir"], action: "SCMP_ACT_NOTIFY" }],
  };
  const c = compileSeccomp(profile, "x64");
  assert.equal(c.listener, true);
  assert.equal(c.flags, 8 | 32);
  const x64 = (nr: number) => runFilter(c.filter, { nr, arch: AUDIT_ARCH.X86_64 });
  assert.equal(x64(83), SECCOMP_RET.USER_NOTIF); // mkdir
  assert.equal(x64(84), SECCOMP_RET.ALLOW); // rmdir
  // without a notify rule a listenerPath is ignored (as runc does): no listener, no flag
  const plain = compileSeccomp({ defaultAction: "SCMP_ACT_ALLOW", listenerPath: "/run/agent.sock" }, "x64");
  assert.equal(plain.listener, false);
  assert.equal(plain.flags, 0);
});

test("flags map to SECCOMP_FILTER_FLAG_* bits; WAIT_KILLABLE_RECV is dropped without a listener", () => {
  const { flags } = compileSeccomp(
    {
      defaultAction: "SCMP_ACT_ALLOW",
      flags: [
        "SECCOMP_FILTER_FLAG_TSYNC",
        "SECCOMP_FILTER_FLAG_LOG",
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
      ],
    },
    "x64",
  );
  assert.equal(flags, 1 | 2 | 4);
});

test("a profile naming every syscall stays in range: chunked chains and long rule blocks", () => {
  const names = Object.keys(X64);
  const manyRules = Array.from({ length: 60 }, (_, i) => ({
    names: ["personality"],
    action: "SCMP_ACT_ERRNO",
    errnoRet: i + 1,
    args: [{ index: 0, value: i, op: "SCMP_CMP_EQ" }],
  }));
  const decide = filter({
    defaultAction: "SCMP_ACT_ERRNO",
    architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    syscalls: [...manyRules, { names: names.filter((n) => n !== "personality"), action: "SCMP_ACT_ALLOW" }],
  });
  for (const n of names) if (n !== "personality") assert.equal(decide(nr(X64, n)), SECCOMP_RET.ALLOW, n);
  for (const n of Object.keys(SYSCALLS_X86))
    assert.equal(
      decide(nr(SYSCALLS_X86, n), [], AUDIT_ARCH.I386),
      n === "personality" ? EPERM : X64[n] === undefined ? EPERM : SECCOMP_RET.ALLOW,
      n,
    );
  for (const i of [0, 30, 59]) assert.equal(decide(nr(X64, "personality"), [BigInt(i)]), SECCOMP_RET.ERRNO | (i + 1));
  assert.equal(decide(nr(X64, "personality"), [60n]), EPERM);
  assert.equal(decide(nr(SYSCALLS_X86, "personality"), [1n], AUDIT_ARCH.I386), SECCOMP_RET.ERRNO | 2);
  assert.equal(decide(999), EPERM);
});

test("random conditions agree with their meaning", () => {
  let seed = 42;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const interesting = [0n, 1n, 7n, 8n, 9n, 0xffffffffn, 1n << 32n, (1n << 32n) + 8n, 0xffffffffffffffffn];
  const pick = () => at(interesting, rnd(interesting.length));
  const ops: Record<string, (x: bigint, v: bigint, v2: bigint) => boolean> = {
    SCMP_CMP_EQ: (x, v) => x === v,
    SCMP_CMP_NE: (x, v) => x !== v,
    SCMP_CMP_LT: (x, v) => x < v,
    SCMP_CMP_LE: (x, v) => x <= v,
    SCMP_CMP_GT: (x, v) => x > v,
    SCMP_CMP_GE: (x, v) => x >= v,
    SCMP_CMP_MASKED_EQ: (x, v, v2) => (x & v) === v2,
  };
  const opNames = Object.keys(ops);
  for (let round = 0; round < 200; round++) {
    const conds = [0, 1, 2].slice(0, 1 + rnd(3)).map((index) => ({
      index,
      op: at(opNames, rnd(opNames.length)),
      value: pick(),
      valueTwo: pick(),
    }));
    const args: SeccompArg[] = conds.map((c) => ({
      index: c.index,
      op: c.op,
      value: Number(c.value),
      valueTwo: Number(c.valueTwo),
    }));
    const decide = filter({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["ioctl"], action: "SCMP_ACT_ERRNO", args }] });
    for (let k = 0; k < 10; k++) {
      const xs = [pick(), pick(), pick()];
      // the JSON numbers are doubles: compare against what they became
      const want = conds.every((c) => {
        const v = BigInt.asUintN(64, BigInt(Number(c.value)));
        const v2 = BigInt.asUintN(64, BigInt(Number(c.valueTwo)));
        return ops[c.op]?.(at(xs, c.index), v, v2);
      });
      assert.equal(
        decide(nr(X64, "ioctl"), xs),
        want ? EPERM : SECCOMP_RET.ALLOW,
        JSON.stringify({ conds: args, xs: xs.map(String) }),
      );
    }
  }
});

test("a profile compiled again comes from the cache, and a caller's copy is its own", () => {
  const profile = { defaultAction: "SCMP_ACT_ERRNO", syscalls: [{ names: ["read", "write"], action: "SCMP_ACT_ALLOW" }] };
  const a = compileSeccomp(profile, "x64");
  const first = Buffer.from(a.filter);
  a.filter.fill(0);
  const b = compileSeccomp(profile, "x64");
  assert.deepEqual(Buffer.from(b.filter), first, "the cached program is not the caller's mutated copy");
  assert.notEqual(b.filter, a.filter);
});
