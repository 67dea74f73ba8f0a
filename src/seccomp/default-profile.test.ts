import assert from "node:assert/strict";
import { test } from "node:test";
import { SECCOMP_RET } from "./actions.js";
import { AUDIT_ARCH } from "./arches.js";
import { compileSeccomp } from "./compile.js";
import { defaultSeccompProfile } from "./default-profile.js";
import { runFilter } from "./run-filter.js";
import { SYSCALLS_X86 } from "./syscalls-x86.js";
import { SYSCALLS_X86_64 } from "./syscalls-x86-64.js";

const EPERM = SECCOMP_RET.ERRNO | 1;
const ENOSYS = SECCOMP_RET.ERRNO | 38;
const ALLOW = SECCOMP_RET.ALLOW;
const CLONE_NEWUSER = 0x10000000n;
const CLONE_NEWNS = 0x00020000n;
/** what glibc's fork() passes: CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD */
const FORK_FLAGS = 0x01200011n;
/** what pthread_create passes */
const THREAD_FLAGS = 0x003d0f00n;
/** runc's defaults, as `berth-runtime spec` writes them */
const DEFAULT_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];

/** decide(name, args) for the default profile with `caps`, compiled for an x86_64 host. */
function decider(caps: string[], kernel = "6.1.0") {
  const { filter } = compileSeccomp(defaultSeccompProfile(caps, { arch: "x64", kernel }), "x64");
  return (name: string, args: bigint[] = [], table = SYSCALLS_X86_64, arch: number = AUDIT_ARCH.X86_64) => {
    const nr = table[name];
    if (nr === undefined) throw new Error(`no syscall ${name}`);
    return runFilter(filter, { nr, arch, args });
  };
}

test("default profile: the syscalls of a normal workload are allowed", () => {
  const decide = decider(DEFAULT_CAPS);
  for (const name of ["read", "write", "openat", "execve", "mmap", "futex", "exit_group", "arch_prctl", "wait4", "rt_sigaction"])
    assert.equal(decide(name), ALLOW, name);
  assert.equal(decide("clone", [FORK_FLAGS]), ALLOW, "fork");
  assert.equal(decide("clone", [THREAD_FLAGS]), ALLOW, "a thread");
  assert.equal(decide("socket", [2n]), ALLOW, "AF_INET");
  assert.equal(decide("socket", [1n]), ALLOW, "AF_UNIX");
  assert.equal(decide("personality", [0xffffffffn]), ALLOW, "the query");
});

test("default profile: an unknown or unlisted syscall gets EPERM (allow-list)", () => {
  const decide = decider(DEFAULT_CAPS);
  for (const name of ["keyctl", "add_key", "request_key", "kexec_load", "kexec_file_load", "userfaultfd", "swapon", "pivot_root"])
    assert.equal(decide(name), EPERM, name);
});

test("default profile: mount is denied with EPERM without CAP_SYS_ADMIN, allowed with it", () => {
  assert.equal(decider(DEFAULT_CAPS)("mount"), EPERM);
  assert.equal(decider([...DEFAULT_CAPS, "CAP_SYS_ADMIN"])("mount"), ALLOW);
  for (const name of ["umount2", "unshare", "setns", "bpf", "perf_event_open", "sethostname"]) {
    assert.equal(decider(DEFAULT_CAPS)(name), EPERM, name);
    assert.equal(decider(["CAP_SYS_ADMIN"])(name), ALLOW, name);
  }
});

test("default profile: clone with namespace flags is denied without CAP_SYS_ADMIN; clone3 is ENOSYS", () => {
  const decide = decider(DEFAULT_CAPS);
  assert.equal(decide("clone", [FORK_FLAGS | CLONE_NEWUSER]), EPERM);
  assert.equal(decide("clone", [CLONE_NEWNS]), EPERM);
  assert.equal(decide("clone", [FORK_FLAGS]), ALLOW);
  assert.equal(decide("clone3"), ENOSYS);
  const admin = decider(["CAP_SYS_ADMIN"]);
  assert.equal(admin("clone", [FORK_FLAGS | CLONE_NEWUSER]), ALLOW);
  assert.equal(admin("clone3"), ALLOW);
});

test("default profile: privileged syscalls follow their capability", () => {
  const cases: [string, string][] = [
    ["init_module", "CAP_SYS_MODULE"],
    ["finit_module", "CAP_SYS_MODULE"],
    ["delete_module", "CAP_SYS_MODULE"],
    ["reboot", "CAP_SYS_BOOT"],
    ["clock_settime", "CAP_SYS_TIME"],
    ["settimeofday", "CAP_SYS_TIME"],
    ["open_by_handle_at", "CAP_DAC_READ_SEARCH"],
    ["chroot", "CAP_SYS_CHROOT"],
    ["acct", "CAP_SYS_PACCT"],
    ["iopl", "CAP_SYS_RAWIO"],
    ["kcmp", "CAP_SYS_PTRACE"],
    ["bpf", "CAP_BPF"],
    ["perf_event_open", "CAP_PERFMON"],
  ];
  for (const [name, cap] of cases) {
    assert.equal(decider(DEFAULT_CAPS)(name), EPERM, `${name} without ${cap}`);
    assert.equal(decider([cap])(name), ALLOW, `${name} with ${cap}`);
  }
});

test("default profile: ptrace is allowed from Linux 4.8 on, before only with CAP_SYS_PTRACE", () => {
  assert.equal(decider(DEFAULT_CAPS, "6.18.0")("ptrace"), ALLOW);
  assert.equal(decider(DEFAULT_CAPS, "4.8.0-1-amd64")("ptrace"), ALLOW);
  assert.equal(decider(DEFAULT_CAPS, "4.4.0")("ptrace"), EPERM);
  assert.equal(decider(["CAP_SYS_PTRACE"], "4.4.0")("ptrace"), ALLOW);
});

test("default profile: socket(AF_ALG) and socket(AF_VSOCK) are denied, the family between allowed", () => {
  const decide = decider(DEFAULT_CAPS);
  assert.equal(decide("socket", [38n]), EPERM);
  assert.equal(decide("socket", [39n]), ALLOW);
  assert.equal(decide("socket", [40n]), EPERM);
  assert.equal(decide("socket", [41n]), ALLOW);
});

test("default profile: personality only for the listed values", () => {
  const decide = decider(DEFAULT_CAPS);
  assert.equal(decide("personality", [8n]), ALLOW);
  assert.equal(decide("personality", [0x0040000n]), EPERM, "ADDR_NO_RANDOMIZE");
});

test("default profile: the 32-bit x86 ABI gets the same decisions", () => {
  const decide = decider(DEFAULT_CAPS);
  const i386 = (name: string, args: bigint[] = []) => decide(name, args, SYSCALLS_X86, AUDIT_ARCH.I386);
  assert.equal(i386("read"), ALLOW);
  assert.equal(i386("mount"), EPERM);
  assert.equal(i386("clone", [CLONE_NEWUSER]), EPERM);
  assert.equal(i386("clone", [FORK_FLAGS]), ALLOW);
});

test("default profile: no seccomp in what `berth-runtime spec` writes (runc's has none)", async () => {
  const { defaultSpec } = await import("../runtime/default-spec.js");
  assert.equal(defaultSpec().linux?.seccomp, undefined);
});
