import { internal } from "../errors/index.js";

/** Classic BPF opcodes a seccomp filter uses (linux/bpf_common.h, linux/filter.h). */
export const BPF = {
  LD_W_ABS: 0x20, // A = seccomp_data[k] (32-bit)
  ALU_AND_K: 0x54, // A &= k
  JA: 0x05, // pc += k
  JEQ_K: 0x15, // pc += A == k ? jt : jf
  JGT_K: 0x25, // pc += A > k ? jt : jf (unsigned)
  JGE_K: 0x35, // pc += A >= k ? jt : jf (unsigned)
  JSET_K: 0x45, // pc += A & k ? jt : jf
  RET_K: 0x06, // return k
} as const;

/** The kernel's limit on a filter's length (BPF_MAXINSNS). */
export const BPF_MAXINSNS = 4096;

/** Offsets into struct seccomp_data (linux/seccomp.h). */
export const DATA = {
  nr: 0,
  arch: 4,
  /** args[i] is a 64-bit little-endian word: the low half first */
  argLow: (i: number) => 16 + 8 * i,
  argHigh: (i: number) => 20 + 8 * i,
} as const;

/** A jump target: a label, or a relative offset already known. */
export type Target = symbol | number;

interface Insn {
  code: number;
  jt: Target;
  jf: Target;
  /** for JA, a label; otherwise the constant */
  k: Target;
}

/**
 * A classic-BPF program under construction, with labels. Conditional jumps reach at most
 * 255 instructions ahead; the compiler keeps them local and uses JA (32-bit) for far ones,
 * so `assemble` only checks the ranges.
 */
export class Program {
  private readonly items: (Insn | symbol)[] = [];
  private count = 0;

  /** the number of instructions so far */
  get length(): number {
    return this.count;
  }

  label(l: symbol): this {
    this.items.push(l);
    return this;
  }

  ld(offset: number): this {
    return this.insn(BPF.LD_W_ABS, 0, 0, offset);
  }

  and(k: number): this {
    return this.insn(BPF.ALU_AND_K, 0, 0, k);
  }

  jump(code: number, k: number, jt: Target, jf: Target): this {
    return this.insn(code, jt, jf, k);
  }

  ja(to: Target): this {
    return this.insn(BPF.JA, 0, 0, to);
  }

  ret(k: number): this {
    return this.insn(BPF.RET_K, 0, 0, k);
  }

  append(other: Program): this {
    this.items.push(...other.items);
    this.count += other.count;
    return this;
  }

  /** The program as struct sock_filter[] (u16 code, u8 jt, u8 jf, u32 k; little-endian). */
  assemble(): Uint8Array {
    const at = new Map<symbol, number>();
    let pc = 0;
    for (const it of this.items) {
      if (typeof it === "symbol") at.set(it, pc);
      else pc++;
    }
    const out = new Uint8Array(pc * 8);
    const view = new DataView(out.buffer);
    const offset = (t: Target, from: number, max: number): number => {
      const d = typeof t === "number" ? t : (at.get(t) ?? Number.NaN) - from - 1;
      if (!(d >= 0 && d <= max)) throw internal(`assemble seccomp filter: jump at ${from} out of range (${d})`);
      return d;
    };
    pc = 0;
    for (const it of this.items) {
      if (typeof it === "symbol") continue;
      const ja = it.code === BPF.JA;
      view.setUint16(pc * 8, it.code, true);
      view.setUint8(pc * 8 + 2, ja ? 0 : offset(it.jt, pc, 255));
      view.setUint8(pc * 8 + 3, ja ? 0 : offset(it.jf, pc, 255));
      view.setUint32(pc * 8 + 4, ja ? offset(it.k, pc, 0xffffffff) : (it.k as number) >>> 0, true);
      pc++;
    }
    return out;
  }

  private insn(code: number, jt: Target, jf: Target, k: Target): this {
    this.items.push({ code, jt, jf, k });
    this.count++;
    return this;
  }
}
