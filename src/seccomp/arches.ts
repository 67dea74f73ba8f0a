import { SYSCALLS_AARCH64 } from "./syscalls-aarch64.js";
import { SYSCALLS_X32 } from "./syscalls-x32.js";
import { SYSCALLS_X86 } from "./syscalls-x86.js";
import { SYSCALLS_X86_64 } from "./syscalls-x86-64.js";

/** AUDIT_ARCH_* values of seccomp_data.arch (linux/audit.h). */
export const AUDIT_ARCH = {
  X86_64: 0xc000003e,
  I386: 0x40000003,
  AARCH64: 0xc00000b7,
} as const;

/** Set in seccomp_data.nr by x32 syscalls, which share AUDIT_ARCH_X86_64 (asm/unistd.h). */
export const X32_SYSCALL_BIT = 0x40000000;

/** An ABI a filter can match: an SCMP_ARCH_* name with its table. */
export interface SeccompArch {
  name: string;
  audit: number;
  /** whether syscall arguments are 32-bit (only the low words are compared, as libseccomp does) */
  bits32: boolean;
  syscalls: Readonly<Record<string, number>>;
}

/** The ABIs berth compiles filters for. */
export const ARCHES: Readonly<Record<string, SeccompArch>> = {
  SCMP_ARCH_X86_64: { name: "SCMP_ARCH_X86_64", audit: AUDIT_ARCH.X86_64, bits32: false, syscalls: SYSCALLS_X86_64 },
  SCMP_ARCH_X86: { name: "SCMP_ARCH_X86", audit: AUDIT_ARCH.I386, bits32: true, syscalls: SYSCALLS_X86 },
  SCMP_ARCH_X32: { name: "SCMP_ARCH_X32", audit: AUDIT_ARCH.X86_64, bits32: true, syscalls: SYSCALLS_X32 },
  SCMP_ARCH_AARCH64: { name: "SCMP_ARCH_AARCH64", audit: AUDIT_ARCH.AARCH64, bits32: false, syscalls: SYSCALLS_AARCH64 },
};

/**
 * Architectures the runtime-spec names that berth has no table for. A profile may list them
 * (Docker's default lists SCMP_ARCH_ARM beside SCMP_ARCH_AARCH64); their syscalls then meet
 * the bad-arch action, like any ABI the filter does not match — stricter, never looser.
 */
export const UNSUPPORTED_ARCHES: readonly string[] = [
  "SCMP_ARCH_ARM",
  "SCMP_ARCH_MIPS",
  "SCMP_ARCH_MIPS64",
  "SCMP_ARCH_MIPS64N32",
  "SCMP_ARCH_MIPSEL",
  "SCMP_ARCH_MIPSEL64",
  "SCMP_ARCH_MIPSEL64N32",
  "SCMP_ARCH_PPC",
  "SCMP_ARCH_PPC64",
  "SCMP_ARCH_PPC64LE",
  "SCMP_ARCH_S390",
  "SCMP_ARCH_S390X",
  "SCMP_ARCH_PARISC",
  "SCMP_ARCH_PARISC64",
  "SCMP_ARCH_RISCV64",
  "SCMP_ARCH_LOONGARCH64",
  "SCMP_ARCH_M68K",
  "SCMP_ARCH_SH",
  "SCMP_ARCH_SHEB",
];

/** The native ABI of a Node `process.arch`, which every filter includes (as libseccomp's does). */
export function nativeArch(nodeArch: string): SeccompArch | undefined {
  const name = { x64: "SCMP_ARCH_X86_64", ia32: "SCMP_ARCH_X86", arm64: "SCMP_ARCH_AARCH64" }[nodeArch];
  return name === undefined ? undefined : ARCHES[name];
}
