import { invalidArgument, notImplemented } from "../errors/index.js";
import type { Seccomp, SeccompArg } from "../oci/index.js";
import { SECCOMP_RET, actionValue } from "./actions.js";
import { ARCHES, type SeccompArch, UNSUPPORTED_ARCHES, X32_SYSCALL_BIT, nativeArch } from "./arches.js";
import { BPF, BPF_MAXINSNS, DATA, Program } from "./bpf.js";

/** A filter ready for seccomp(SECCOMP_SET_MODE_FILTER, flags, prog). */
export interface CompiledSeccomp {
  /** struct sock_filter[], 8 bytes each */
  filter: Uint8Array;
  /** SECCOMP_FILTER_FLAG_* */
  flags: number;
  /**
   * the profile has SCMP_ACT_NOTIFY rules: the filter is loaded with NEW_LISTENER and the
   * listener fd goes to the agent at `linux.seccomp.listenerPath`
   */
  listener: boolean;
}

/** SECCOMP_FILTER_FLAG_NEW_LISTENER: seccomp() returns the notify fd of the filter. */
const NEW_LISTENER = 8;

/**
 * The calls the executor makes between loading a filter and handing its listener over:
 * a notify rule on one of them would wait for an agent that cannot have the fd yet.
 * (runc refuses `write`, its channel; berth's is a sendmsg on the sync socket.)
 */
const HANDOVER_SYSCALLS = ["sendmsg"];

const WAIT_KILLABLE_RECV = 32;
const FLAGS: Record<string, number> = {
  SECCOMP_FILTER_FLAG_TSYNC: 1,
  SECCOMP_FILTER_FLAG_LOG: 2,
  SECCOMP_FILTER_FLAG_SPEC_ALLOW: 4,
  SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: WAIT_KILLABLE_RECV,
};

/** The flags `linux.seccomp.flags` may name. */
export const SUPPORTED_FLAGS: readonly string[] = Object.keys(FLAGS);

const OPERATORS = [
  "SCMP_CMP_NE",
  "SCMP_CMP_LT",
  "SCMP_CMP_LE",
  "SCMP_CMP_EQ",
  "SCMP_CMP_GE",
  "SCMP_CMP_GT",
  "SCMP_CMP_MASKED_EQ",
];

/** The operators `syscalls[].args[].op` may name. */
export const SUPPORTED_OPERATORS: readonly string[] = [...OPERATORS].sort();

/** The action the filter takes on an ABI it does not list (libseccomp's default bad-arch action). */
const BAD_ARCH = SECCOMP_RET.KILL_THREAD;

/** Syscalls in one JEQ chain that share a return: jt must reach the return (at most 255). */
const CHUNK = 200;

interface Condition {
  index: number;
  op: string;
  value: bigint;
  valueTwo: bigint;
}

/** One rule: when every condition holds (no condition: always), return `action`. */
interface Rule {
  action: number;
  conditions: Condition[];
}

/**
 * Compile an OCI seccomp profile (runtime-spec config-linux.md#seccomp) to classic BPF.
 *
 * The filter checks seccomp_data.arch first: the native ABI and the listed ones are matched,
 * any other ABI is killed, so switching ABI (int 0x80, x32 calls) cannot bypass it. On
 * x86_64, numbers with the x32 bit belong to x32 and are killed unless SCMP_ARCH_X32 is listed.
 * Within an ABI, a syscall's rules are tried in profile order and the first whose
 * conditions all hold decides; a syscall no rule matches gets the default action. Names an
 * ABI lacks are skipped, as runc does. As runc does, a rule with several conditions on one
 * argument becomes one rule per condition (libseccomp cannot AND them).
 */
export function compileSeccomp(seccomp: Seccomp, hostArch: string): CompiledSeccomp {
  // a long-lived runtime (warm mode, berthd's shims) sees the same profile container after
  // container: the compile (~10 ms for docker's default profile) is kept per profile text
  const key = `${hostArch}\0${JSON.stringify(seccomp)}`;
  const hit = compiled.get(key);
  if (hit) {
    compiled.delete(key);
    compiled.set(key, hit);
    return { ...hit, filter: Buffer.from(hit.filter) };
  }
  const out = compileUncached(seccomp, hostArch);
  compiled.set(key, { ...out, filter: Buffer.from(out.filter) });
  if (compiled.size > 16) compiled.delete(compiled.keys().next().value as string);
  return out;
}

/** recently compiled profiles, least recently used first */
const compiled = new Map<string, CompiledSeccomp>();

function compileUncached(seccomp: Seccomp, hostArch: string): CompiledSeccomp {
  const defaultAction = actionValue(seccomp.defaultAction, seccomp.defaultErrnoRet, "linux.seccomp.defaultAction");
  if (defaultAction === SECCOMP_RET.USER_NOTIF)
    throw invalidArgument(
      "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action: the runtime's own calls after the filter loads would wait for an agent that does not have the listener yet",
    );
  let listener = false;
  const arches = filterArches(seccomp.architectures ?? [], hostArch);
  const entries = (seccomp.syscalls ?? []).map((s, i) => {
    const field = `linux.seccomp.syscalls[${i}]`;
    if (!Array.isArray(s.names) || s.names.length === 0) throw invalidArgument(`${field}.names: needs at least one syscall name`);
    const action = actionValue(s.action, s.errnoRet, field);
    if (action === SECCOMP_RET.USER_NOTIF) {
      listener = true;
      const handover = s.names.find((n) => HANDOVER_SYSCALLS.includes(n));
      if (handover)
        throw invalidArgument(
          `${field}: SCMP_ACT_NOTIFY cannot be used for ${handover}: the runtime hands the listener to the agent with it`,
        );
    }
    return {
      names: s.names,
      rules: expandRules(
        action,
        (s.args ?? []).map((a, j) => condition(a, `${field}.args[${j}]`)),
      ),
    };
  });

  const p = new Program();
  p.ld(DATA.arch);
  const families = [...new Set(arches.map((a) => a.audit))].map((audit) => ({
    audit,
    label: Symbol(`arch ${audit.toString(16)}`),
    members: arches.filter((a) => a.audit === audit),
  }));
  for (const f of families) p.jump(BPF.JEQ_K, f.audit, 0, 1).ja(f.label);
  p.ret(BAD_ARCH);
  for (const f of families) {
    p.label(f.label).ld(DATA.nr);
    const x32 = f.members.find((a) => a.name === "SCMP_ARCH_X32");
    const other = f.members.find((a) => a.name !== "SCMP_ARCH_X32");
    if (f.audit === ARCHES["SCMP_ARCH_X86_64"]?.audit) {
      // one AUDIT_ARCH for two ABIs: the x32 bit in nr tells them apart
      if (x32 && other) {
        const toX32 = Symbol("x32");
        p.jump(BPF.JGE_K, X32_SYSCALL_BIT, 0, 1).ja(toX32);
        p.append(archBody(other, entries, defaultAction));
        p.label(toX32).append(archBody(x32, entries, defaultAction));
      } else if (x32) {
        p.jump(BPF.JGE_K, X32_SYSCALL_BIT, 1, 0).ret(BAD_ARCH);
        p.append(archBody(x32, entries, defaultAction));
      } else if (other) {
        p.jump(BPF.JGE_K, X32_SYSCALL_BIT, 0, 1).ret(BAD_ARCH);
        p.append(archBody(other, entries, defaultAction));
      }
    } else if (other) {
      p.append(archBody(other, entries, defaultAction));
    }
  }
  if (p.length > BPF_MAXINSNS)
    throw invalidArgument(`linux.seccomp: the profile compiles to ${p.length} instructions, over the kernel's ${BPF_MAXINSNS}`);
  if (listener) checkListenerPath(seccomp.listenerPath);
  return { filter: p.assemble(), flags: compileFlags(seccomp.flags ?? [], listener), listener };
}

/** The agent's socket: a path in the filesystem (an abstract name is refused, as runc does). */
function checkListenerPath(path: string | undefined): void {
  const field = "linux.seccomp.listenerPath";
  if (!path) throw invalidArgument(`${field}: SCMP_ACT_NOTIFY needs the unix socket of a seccomp agent, and none is set`);
  if (!path.startsWith("/"))
    throw invalidArgument(`${field}: "${path}" must be an absolute path of a unix socket (abstract sockets are not accepted)`);
}

function compileFlags(names: string[], listener: boolean): number {
  let flags = 0;
  for (const [i, name] of names.entries()) {
    const f = FLAGS[name];
    if (f === undefined) throw invalidArgument(`linux.seccomp.flags[${i}]: unknown flag "${name}"`);
    flags |= f;
  }
  // WAIT_KILLABLE_RECV only changes how a notify listener waits, and the kernel refuses it
  // without SECCOMP_FILTER_FLAG_NEW_LISTENER: without a notify rule it has no meaning
  return listener ? flags | NEW_LISTENER : flags & ~WAIT_KILLABLE_RECV;
}

/** The native ABI first, then the listed ones berth has tables for, each once. */
function filterArches(names: string[], hostArch: string): SeccompArch[] {
  const native = nativeArch(hostArch);
  if (!native) throw notImplemented(`linux.seccomp: no syscall table for host architecture "${hostArch}"`);
  const out = [native];
  for (const [i, name] of names.entries()) {
    const a = ARCHES[name];
    if (a) {
      if (!out.includes(a)) out.push(a);
    } else if (!UNSUPPORTED_ARCHES.includes(name)) {
      throw invalidArgument(`linux.seccomp.architectures[${i}]: unknown architecture "${name}"`);
    }
    // a known ABI without a table stays out of the filter: its syscalls get the bad-arch action
  }
  return out;
}

function u64(v: unknown, field: string): bigint {
  if (typeof v !== "number" || !Number.isInteger(v)) throw invalidArgument(`${field}: must be an integer`);
  return BigInt.asUintN(64, BigInt(v));
}

function condition(a: SeccompArg, field: string): Condition {
  if (!Number.isInteger(a.index) || a.index < 0 || a.index > 5) throw invalidArgument(`${field}.index: must be 0..5`);
  if (!OPERATORS.includes(a.op)) throw invalidArgument(`${field}.op: unknown operator "${a.op}"`);
  return {
    index: a.index,
    op: a.op,
    value: u64(a.value, `${field}.value`),
    valueTwo: a.valueTwo === undefined ? 0n : u64(a.valueTwo, `${field}.valueTwo`),
  };
}

/** runc's reading: conditions on distinct arguments are ANDed; repeating an argument ORs them all. */
function expandRules(action: number, conditions: Condition[]): Rule[] {
  const indexes = new Set(conditions.map((c) => c.index));
  if (indexes.size === conditions.length) return [{ action, conditions }];
  return conditions.map((c) => ({ action, conditions: [c] }));
}

/** The dispatch for one ABI, with nr in A; every path returns. */
function archBody(arch: SeccompArch, entries: { names: string[]; rules: Rule[] }[], defaultAction: number): Program {
  const byNr = new Map<number, Rule[]>();
  for (const e of entries)
    for (const name of e.names) {
      const nr = arch.syscalls[name];
      if (nr === undefined) continue; // not a syscall of this ABI: skipped, as runc does
      byNr.set(nr, [...(byNr.get(nr) ?? []), ...e.rules]);
    }
  const p = new Program();
  // syscalls whose first rule is unconditional: JEQ chains sharing one return per action
  const plain = new Map<number, number[]>();
  const conditional: [number, Rule[]][] = [];
  for (const [nr, rules] of [...byNr].sort((a, b) => a[0] - b[0])) {
    const first = rules[0];
    if (first && first.conditions.length === 0) plain.set(first.action, [...(plain.get(first.action) ?? []), nr]);
    else conditional.push([nr, rules]);
  }
  for (const [action, nrs] of plain)
    for (let at = 0; at < nrs.length; at += CHUNK) {
      const chunk = nrs.slice(at, at + CHUNK);
      const last = chunk.length - 1;
      chunk.forEach((nr, i) => (i < last ? p.jump(BPF.JEQ_K, nr, last - i, 0) : p.jump(BPF.JEQ_K, nr, 0, 1)));
      p.ret(action);
    }
  for (const [nr, rules] of conditional) {
    const block = ruleBlock(rules, arch.bits32, defaultAction);
    if (block.length <= 255) p.jump(BPF.JEQ_K, nr, 0, block.length).append(block);
    else {
      const next = Symbol("next syscall");
      p.jump(BPF.JEQ_K, nr, 1, 0).ja(next).append(block).label(next);
    }
  }
  return p.ret(defaultAction);
}

/** A syscall's rules in order: the first that matches returns its action, else the default. */
function ruleBlock(rules: Rule[], bits32: boolean, defaultAction: number): Program {
  const p = new Program();
  for (const rule of rules) {
    if (rule.conditions.length === 0) return p.ret(rule.action);
    const fail = Symbol("rule fails");
    for (const c of rule.conditions) {
      const pass = Symbol("condition holds");
      compare(p, c, bits32, pass, fail);
      p.label(pass);
    }
    p.ret(rule.action).label(fail);
  }
  return p.ret(defaultAction);
}

/** Jump to `pass` when args[c.index] <op> c.value holds, else to `fail`; 64-bit, high word first. */
function compare(p: Program, c: Condition, bits32: boolean, pass: symbol, fail: symbol): void {
  const lo = (v: bigint) => Number(v & 0xffffffffn);
  const hi = (v: bigint) => Number((v >> 32n) & 0xffffffffn);
  const v = c.value;
  // on a 32-bit ABI the arguments are 32-bit: only the low words are compared, as libseccomp does
  const wide = !bits32;
  if (c.op === "SCMP_CMP_MASKED_EQ") {
    if (wide) p.ld(DATA.argHigh(c.index)).and(hi(v)).jump(BPF.JEQ_K, hi(c.valueTwo), 0, fail);
    p.ld(DATA.argLow(c.index)).and(lo(v)).jump(BPF.JEQ_K, lo(c.valueTwo), pass, fail);
    return;
  }
  // the high words decide unless they are equal; then the low words decide
  const high = (onGreater: symbol, onLess: symbol) => {
    if (wide) p.ld(DATA.argHigh(c.index)).jump(BPF.JGT_K, hi(v), onGreater, 0).jump(BPF.JEQ_K, hi(v), 0, onLess);
  };
  const low = (code: number, jt: symbol, jf: symbol) => p.ld(DATA.argLow(c.index)).jump(code, lo(v), jt, jf);
  switch (c.op) {
    case "SCMP_CMP_EQ":
      if (wide) p.ld(DATA.argHigh(c.index)).jump(BPF.JEQ_K, hi(v), 0, fail);
      low(BPF.JEQ_K, pass, fail);
      return;
    case "SCMP_CMP_NE":
      if (wide) p.ld(DATA.argHigh(c.index)).jump(BPF.JEQ_K, hi(v), 0, pass);
      low(BPF.JEQ_K, fail, pass);
      return;
    case "SCMP_CMP_GT":
      high(pass, fail);
      low(BPF.JGT_K, pass, fail);
      return;
    case "SCMP_CMP_GE":
      high(pass, fail);
      low(BPF.JGE_K, pass, fail);
      return;
    case "SCMP_CMP_LT":
      high(fail, pass);
      low(BPF.JGE_K, fail, pass);
      return;
    case "SCMP_CMP_LE":
      high(fail, pass);
      low(BPF.JGT_K, fail, pass);
      return;
  }
}
