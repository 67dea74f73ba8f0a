/**
 * Device rules on cgroup v2: cgroup v2 has no devices.allow/deny files, so
 * linux.resources.devices becomes a BPF_PROG_TYPE_CGROUP_DEVICE program that
 * the kernel runs on every open and mknod of a device node by a process of the
 * cgroup (Documentation/admin-guide/cgroup-v2.rst, "Device controller").
 *
 * The rules mean what they mean on v1's devices.allow/deny list: everything is
 * denied until a rule says otherwise, a rule for every device and every access
 * ("a *:* rwm") resets the default, and later rules override earlier ones. The
 * program checks the rules from the last to the first, access bit by access bit
 * (the kernel merges the access of v1 rules the same way): the last rule that
 * matches the device and names an access bit decides that bit, a deny decides
 * the request, and bits no rule decides take the default.
 *
 * This file compiles rules to raw eBPF instructions (linux/bpf.h,
 * Documentation/bpf/standardization/instruction-set.rst) and installs the
 * program through syscalls the caller injects (the native binding), replacing
 * the cgroup's earlier program without a window in which nothing filters.
 */
import { closeSync, constants, openSync } from "node:fs";
import { errnoCode, failedPrecondition, internal, invalidArgument, permissionDenied } from "../../errors/index.js";
import type { DeviceCgroup } from "../../oci/index.js";

/** One eBPF instruction: opcode, destination and source registers, offset, immediate. */
export interface BpfInsn {
  code: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
}

/** Kernel calls the installer needs; the native binding provides them (attach type BPF_CGROUP_DEVICE). */
export interface DeviceFilterSyscalls {
  /** BPF_PROG_LOAD of a BPF_PROG_TYPE_CGROUP_DEVICE program: its fd; a refusal carries the verifier's log */
  bpfProgLoad(insns: Buffer, license: string): number;
  /** BPF_PROG_ATTACH to the cgroup directory fd */
  bpfProgAttach(cgroupFd: number, progFd: number, flags: number): void;
  /** BPF_PROG_DETACH of that program from the cgroup */
  bpfProgDetach(cgroupFd: number, progFd: number): void;
  /** BPF_PROG_QUERY: ids of the device programs attached to this cgroup itself */
  bpfProgQuery(cgroupFd: number): number[];
  /** BPF_PROG_GET_FD_BY_ID */
  bpfProgGetFdById(id: number): number;
}

/** linux/bpf.h: several programs on one cgroup, all of which must allow */
export const BPF_F_ALLOW_MULTI = 2;

/** The license the program is loaded under (berth's own; the program calls no GPL-only helper). */
export const DEVICE_FILTER_LICENSE = "Apache-2.0";

// linux/bpf.h: struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }
const CTX_ACCESS_TYPE = 0;
const CTX_MAJOR = 4;
const CTX_MINOR = 8;
/** BPF_DEVCG_ACC_MKNOD, READ, WRITE: the high 16 bits of access_type */
const ACCESS_BITS: Record<string, number> = { m: 1, r: 2, w: 4 };
const ALL_ACCESS = 7;
/** BPF_DEVCG_DEV_BLOCK, CHAR: the low 16 bits of access_type */
const DEV_TYPE: Record<string, number> = { b: 1, c: 2 };

// opcodes (class | op | source)
const LDX_MEM_W = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const MOV64_K = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const MOV64_X = 0xbf; // BPF_ALU64 | BPF_MOV | BPF_X
const AND64_K = 0x57; // BPF_ALU64 | BPF_AND | BPF_K
const RSH64_K = 0x77; // BPF_ALU64 | BPF_RSH | BPF_K
const JEQ_K = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JNE_K = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const EXIT = 0x95; // BPF_JMP | BPF_EXIT

// registers: r1 holds the context on entry, r0 the return value
const R0 = 0;
const R1 = 1;
/** the access bits not yet decided by a rule */
const R_ACCESS = 2;
const R_TYPE = 3;
const R_MAJOR = 4;
const R_MINOR = 5;

const insn = (code: number, dst: number, src: number, off: number, imm: number): BpfInsn => ({ code, dst, src, off, imm });

/** A rule checked for shape and reduced to numbers; undefined fields match anything. */
interface Rule {
  allow: boolean;
  type: number | undefined;
  major: number | undefined;
  minor: number | undefined;
  access: number;
}

/** The numbers of one linux.resources.devices entry, or InvalidArgument naming what is wrong. */
function parseRule(d: DeviceCgroup, where: string): Rule {
  const type = d.type ?? "a";
  if (type !== "a" && !(type in DEV_TYPE)) throw invalidArgument(`${where}.type: want "a", "b" or "c"; got "${type}"`);
  // a JSON null (read as absent by Go-based callers) or a negative number is a wildcard, as "*" on v1
  const num = (v: number | null | undefined, field: string): number | undefined => {
    if (v === undefined || v === null || v < 0) return undefined;
    if (!Number.isInteger(v) || v > 0x7fffffff) throw invalidArgument(`${where}.${field}: want a device number; got ${v}`);
    return v;
  };
  // an access left out (or empty) means every access, as the v1 driver writes it
  let access = 0;
  for (const ch of d.access || "rwm") {
    const bit = ACCESS_BITS[ch];
    if (bit === undefined) throw invalidArgument(`${where}.access: want letters of "rwm"; got "${d.access}"`);
    access |= bit;
  }
  return { allow: d.allow === true, type: DEV_TYPE[type], major: num(d.major, "major"), minor: num(d.minor, "minor"), access };
}

/** Every device and every access: on v1 this resets the list ("a" written to devices.allow or deny). */
const isCatchAll = (r: Rule) => r.type === undefined && r.major === undefined && r.minor === undefined && r.access === ALL_ACCESS;

/** The default the rules start from and the rules that can still change it (after the last catch-all). */
function effectiveRules(devices: DeviceCgroup[]): { defaultAllow: boolean; rules: Rule[] } {
  const all = devices.map((d, i) => parseRule(d, `linux.resources.devices[${i}]`));
  let last = -1;
  for (let i = 0; i < all.length; i++) if (isCatchAll(all[i] as Rule)) last = i;
  return { defaultAllow: last >= 0 && (all[last] as Rule).allow, rules: all.slice(last + 1) };
}

/** Whether the rules let every process open and mknod every device (so that going without the filter loses nothing). */
export function allowsAllDevices(devices: DeviceCgroup[]): boolean {
  const { defaultAllow, rules } = effectiveRules(devices);
  return defaultAllow && rules.every((r) => r.allow);
}

/** The program for a rule list (validated; InvalidArgument for a malformed rule). */
export function compileDeviceRules(devices: DeviceCgroup[]): BpfInsn[] {
  const { defaultAllow, rules } = effectiveRules(devices);
  const p: BpfInsn[] = [
    insn(LDX_MEM_W, R_ACCESS, R1, CTX_ACCESS_TYPE, 0),
    insn(MOV64_X, R_TYPE, R_ACCESS, 0, 0),
    insn(AND64_K, R_TYPE, 0, 0, 0xffff),
    insn(RSH64_K, R_ACCESS, 0, 0, 16),
    insn(LDX_MEM_W, R_MAJOR, R1, CTX_MAJOR, 0),
    insn(LDX_MEM_W, R_MINOR, R1, CTX_MINOR, 0),
  ];
  for (const r of [...rules].reverse()) {
    if (r.access === 0) continue;
    const body = r.allow
      ? [
          // these bits are allowed: once none is left undecided, the request is
          insn(AND64_K, R_ACCESS, 0, 0, ~r.access),
          insn(JNE_K, R_ACCESS, 0, 2, 0),
          insn(MOV64_K, R0, 0, 0, 1),
          insn(EXIT, 0, 0, 0, 0),
        ]
      : [
          // a denied bit among the undecided ones denies the request
          insn(MOV64_X, R0, R_ACCESS, 0, 0),
          insn(AND64_K, R0, 0, 0, r.access),
          insn(JEQ_K, R0, 0, 2, 0),
          insn(MOV64_K, R0, 0, 0, 0),
          insn(EXIT, 0, 0, 0, 0),
        ];
    const checks: [number, number | undefined][] = [
      [R_TYPE, r.type],
      [R_MAJOR, r.major],
      [R_MINOR, r.minor],
    ];
    const guards = checks.filter((c): c is [number, number] => c[1] !== undefined);
    // each guard jumps past the rest of the rule when its field differs
    guards.forEach(([reg, value], i) => {
      p.push(insn(JNE_K, reg, 0, guards.length - 1 - i + body.length, value));
    });
    p.push(...body);
  }
  p.push(insn(MOV64_K, R0, 0, 0, defaultAllow ? 1 : 0), insn(EXIT, 0, 0, 0, 0));
  return p;
}

/** The instructions as the kernel reads them: 8 bytes each, little-endian (struct bpf_insn). */
export function encodeInsns(insns: BpfInsn[]): Buffer {
  const b = Buffer.alloc(insns.length * 8);
  insns.forEach((x, i) => {
    b.writeUInt8(x.code, i * 8);
    b.writeUInt8(((x.src & 0xf) << 4) | (x.dst & 0xf), i * 8 + 1);
    b.writeInt16LE(x.off, i * 8 + 2);
    b.writeInt32LE(x.imm | 0, i * 8 + 4);
  });
  return b;
}

/**
 * Make `devices` the device filter of the cgroup at `dir`: load the program,
 * attach it beside what is attached (BPF_F_ALLOW_MULTI), then detach the
 * programs attached before, so the cgroup is never without a filter. Without
 * the privilege to load or attach (rootless, or no CAP_SYS_ADMIN) rules that
 * allow everything are skipped, as runc skips them; any other rules are an
 * error, never silently unenforced.
 */
export function installDeviceFilter(dir: string, devices: DeviceCgroup[], sys: DeviceFilterSyscalls | undefined): void {
  const insns = encodeInsns(compileDeviceRules(devices));
  const allowsAll = allowsAllDevices(devices);
  const what = `set the device rules of cgroup "${dir}"`;
  if (!sys) {
    if (allowsAll) return;
    throw failedPrecondition(`${what}: cgroup v2 needs an eBPF device program and no loader was provided`);
  }
  let cg: number;
  try {
    cg = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  } catch (err) {
    // a cgroup directory we may not read is not ours to filter (rootless): fine when nothing is denied
    if (["EACCES", "EPERM"].includes(errnoCode(err) ?? "") && allowsAll) return;
    throw err;
  }
  let prog = -1;
  try {
    let before: number[];
    try {
      prog = sys.bpfProgLoad(insns, DEVICE_FILTER_LICENSE);
      before = sys.bpfProgQuery(cg);
      sys.bpfProgAttach(cg, prog, BPF_F_ALLOW_MULTI);
    } catch (err) {
      // EPERM: no CAP_SYS_ADMIN (or CAP_BPF and CAP_NET_ADMIN), nothing was changed; fine when nothing is
      // denied. (The verifier's refusals are EACCES and EINVAL: errors whatever the rules.)
      const unprivileged = errnoCode(err) === "EPERM";
      if (unprivileged && allowsAll) return;
      const msg = (err as Error).message;
      if (unprivileged)
        throw permissionDenied(
          `${what}: the kernel refused to load or attach the eBPF device program (it needs CAP_SYS_ADMIN in the initial user namespace, and no program attached without BPF_F_ALLOW_MULTI): ${msg}`,
          err,
        );
      throw internal(`${what}: ${msg}`, err);
    }
    // the new filter is in place: now drop the ones it replaces
    for (const id of before) detachById(cg, id, sys, what);
  } finally {
    if (prog >= 0) closeSync(prog);
    closeSync(cg);
  }
}

function detachById(cg: number, id: number, sys: DeviceFilterSyscalls, what: string): void {
  let fd: number;
  try {
    fd = sys.bpfProgGetFdById(id);
  } catch (err) {
    // detached (and freed) by someone else since the query
    if (errnoCode(err) === "ENOENT") return;
    throw internal(`${what}: open the replaced device program ${id}: ${(err as Error).message}`, err);
  }
  try {
    sys.bpfProgDetach(cg, fd);
  } catch (err) {
    // no longer attached here: detached by someone else since the query
    if (errnoCode(err) !== "ENOENT")
      throw internal(`${what}: detach the replaced device program ${id}: ${(err as Error).message}`, err);
  } finally {
    closeSync(fd);
  }
}
