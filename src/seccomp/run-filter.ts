import { invalidArgument } from "../errors/index.js";
import { BPF } from "./bpf.js";

/** The input of a seccomp filter: struct seccomp_data. */
export interface SeccompData {
  nr: number;
  /** AUDIT_ARCH_* */
  arch: number;
  instructionPointer?: bigint;
  /** up to six 64-bit arguments; missing ones are 0 */
  args?: bigint[];
}

/**
 * Run a classic-BPF seccomp filter over `data` the way the kernel does, and return the
 * SECCOMP_RET_* value. It knows the opcodes the compiler emits; it is how the unit tests
 * (and `--debug` explanations) see what a filter decides without loading it.
 */
export function runFilter(filter: Uint8Array, data: SeccompData): number {
  const buf = new Uint8Array(64);
  const d = new DataView(buf.buffer);
  d.setInt32(0, data.nr, true);
  d.setUint32(4, data.arch >>> 0, true);
  d.setBigUint64(8, BigInt.asUintN(64, data.instructionPointer ?? 0n), true);
  (data.args ?? []).slice(0, 6).forEach((a, i) => d.setBigUint64(16 + 8 * i, BigInt.asUintN(64, a), true));
  const f = new DataView(filter.buffer, filter.byteOffset, filter.byteLength);
  const n = filter.byteLength / 8;
  let a = 0;
  for (let pc = 0; pc < n; pc++) {
    const code = f.getUint16(pc * 8, true);
    const jt = f.getUint8(pc * 8 + 2);
    const jf = f.getUint8(pc * 8 + 3);
    const k = f.getUint32(pc * 8 + 4, true);
    switch (code) {
      case BPF.LD_W_ABS:
        if (k % 4 !== 0 || k > 60) throw invalidArgument(`run seccomp filter: load at ${pc} of offset ${k}`);
        a = d.getUint32(k, true);
        break;
      case BPF.ALU_AND_K:
        a = (a & k) >>> 0;
        break;
      case BPF.JA:
        pc += k;
        break;
      case BPF.JEQ_K:
        pc += a === k ? jt : jf;
        break;
      case BPF.JGT_K:
        pc += a > k ? jt : jf;
        break;
      case BPF.JGE_K:
        pc += a >= k ? jt : jf;
        break;
      case BPF.JSET_K:
        pc += (a & k) !== 0 ? jt : jf;
        break;
      case BPF.RET_K:
        return k;
      default:
        throw invalidArgument(`run seccomp filter: opcode 0x${code.toString(16)} at ${pc}`);
    }
  }
  throw invalidArgument("run seccomp filter: fell off the end without a return");
}
