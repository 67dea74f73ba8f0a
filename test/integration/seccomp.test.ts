// linux.seccomp: profiles compiled to BPF and loaded by the runtime, checked in a real kernel.
import assert from "node:assert/strict";
import type { Seccomp } from "../../src/oci/index.js";
import { rtest } from "./harness.js";

/** mkdir(2) and mkdirat(2) fail with EPERM; everything else is allowed. */
const denyMkdir: Seccomp = {
  defaultAction: "SCMP_ACT_ALLOW",
  architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64"],
  syscalls: [{ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 1 }],
};

rtest("seccomp: a profile denying mkdir with EPERM; other syscalls work", (h) => {
  const out = h.runOk(["sh", "-c", "mkdir /tmp/x 2>&1; echo rc=$?; touch /tmp/y && ls /tmp"], (s) => {
    if (s.linux) s.linux.seccomp = denyMkdir;
  });
  assert.match(out, /Operation not permitted/);
  assert.match(out, /rc=1\ny\n$/);
});

rtest("seccomp: without noNewPrivileges the filter still loads (before the ids change)", (h) => {
  const out = h.runOk(["sh", "-c", "mkdir /tmp/x 2>&1; id -u; grep NoNewPrivs /proc/self/status"], (s) => {
    if (s.linux) s.linux.seccomp = denyMkdir;
    if (s.process) {
      s.process.noNewPrivileges = false;
      s.process.user = { uid: 1000, gid: 1000 };
    }
  });
  assert.match(out, /Operation not permitted\n1000\nNoNewPrivs:\s+0\n$/);
});

rtest("seccomp: the process is under a filter (Seccomp: 2 in /proc/self/status)", (h) => {
  const out = h.runOk(["grep", "^Seccomp:", "/proc/self/status"], (s) => {
    if (s.linux) s.linux.seccomp = { defaultAction: "SCMP_ACT_ALLOW" };
  });
  assert.match(out, /^Seccomp:\s+2\n$/);
});

rtest("seccomp: personality allowed only for one value (argument filter)", (h) => {
  // linux32 calls personality(PER_LINUX32 = 8), linux64 personality(PER_LINUX = 0)
  const out = h.runOk(["sh", "-c", "linux64 true && echo linux64 ok; linux32 true 2>&1 || echo linux32 denied"], (s) => {
    if (s.linux)
      s.linux.seccomp = {
        defaultAction: "SCMP_ACT_ALLOW",
        syscalls: [{ names: ["personality"], action: "SCMP_ACT_ERRNO", args: [{ index: 0, value: 0, op: "SCMP_CMP_NE" }] }],
      };
  });
  assert.match(out, /^linux64 ok\n/);
  assert.match(out, /Operation not permitted/);
  assert.match(out, /linux32 denied\n$/);
});

rtest("seccomp: masked-eq on an argument, with errnoRet", (h) => {
  // deny personality when bit 3 (PER_LINUX32) is set, with ENOSYS (38)
  const out = h.runOk(["sh", "-c", "linux64 true && echo linux64 ok; linux32 true 2>&1 || echo linux32 denied"], (s) => {
    if (s.linux)
      s.linux.seccomp = {
        defaultAction: "SCMP_ACT_ALLOW",
        syscalls: [
          {
            names: ["personality"],
            action: "SCMP_ACT_ERRNO",
            errnoRet: 38,
            args: [{ index: 0, value: 8, valueTwo: 8, op: "SCMP_CMP_MASKED_EQ" }],
          },
        ],
      };
  });
  assert.match(out, /^linux64 ok\n/);
  assert.match(out, /Function not implemented/);
});

rtest("seccomp: a kill rule kills the process with SIGSYS (exit 159)", (h) => {
  const r = h.run(["mkdir", "/tmp/x"], (s) => {
    if (s.linux)
      s.linux.seccomp = {
        defaultAction: "SCMP_ACT_ALLOW",
        syscalls: [{ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_KILL_PROCESS" }],
      };
  });
  assert.equal(r.code, 128 + 31, `${r.stderr}${r.stdout}`);
});

rtest("seccomp: an allow-list (default ERRNO) lets what it lists run", (h) => {
  // everything the runtime and busybox may call from the filter's load to exit
  const allowed = `accept4 access arch_prctl brk capget capset chdir clock_gettime clone clone3 close close_range dup dup2 dup3
    epoll_create1 epoll_ctl epoll_pwait epoll_wait execve exit exit_group faccessat faccessat2 fchdir fcntl fstat fstatfs futex
    getcwd getdents64 getegid geteuid getgid getgroups getpgrp getpid getppid getrandom getrlimit gettid getuid ioctl kill
    lseek madvise mmap mprotect munmap nanosleep newfstatat open openat pipe pipe2 poll prctl pread64 prlimit64 read readlink
    readlinkat rseq rt_sigaction rt_sigprocmask rt_sigreturn sched_getaffinity sched_yield set_robust_list set_tid_address
    setgid setgroups setresgid setresuid setsid setuid sigaltstack stat statx tgkill uname wait4 waitid write writev`;
  const out = h.runOk(["sh", "-c", "echo hello; mkdir /tmp/x 2>&1 || true"], (s) => {
    if (s.linux)
      s.linux.seccomp = {
        defaultAction: "SCMP_ACT_ERRNO",
        syscalls: [{ names: allowed.split(/\s+/), action: "SCMP_ACT_ALLOW" }],
      };
  });
  assert.match(out, /^hello\n/);
  assert.match(out, /Operation not permitted/);
});

rtest("seccomp: processes started by exec are under the container's filter", async (h) => {
  const { id } = await h.detached(["sleep", "100"], (s) => {
    if (s.linux) s.linux.seccomp = denyMkdir;
  });
  const out = h.ok(["exec", id, "sh", "-c", "mkdir /tmp/z 2>&1; echo rc=$?"]);
  assert.match(out, /Operation not permitted\nrc=1\n$/);
});

rtest("seccomp: features reports it enabled", (h) => {
  const f = JSON.parse(h.ok(["features"])) as { linux?: { seccomp?: { enabled?: boolean; actions?: string[] } } };
  assert.equal(f.linux?.seccomp?.enabled, true);
  assert.ok(f.linux?.seccomp?.actions?.includes("SCMP_ACT_ERRNO"));
});
