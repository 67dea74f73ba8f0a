import { release } from "node:os";
import type { Seccomp, SeccompSyscall } from "../oci/index.js";

/**
 * The syscalls any workload may make: the ground Docker's and containerd's default profiles
 * (moby/profiles seccomp/default.json) stand on. Names an ABI lacks are skipped by the
 * compiler, so the 32-bit and time64 variants sit beside their 64-bit twins.
 */
const ALWAYS = `
accept accept4 access adjtimex alarm bind brk cachestat capget capset chdir chmod chown chown32
clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64
clock_nanosleep clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2 dup3
epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old
eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate
fanotify_mark fchdir fchmod fchmodat fchmodat2 fchown fchown32 fchownat fcntl fcntl64 fdatasync
fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64
fsync ftruncate ftruncate64 futex futex_requeue futex_time64 futex_wait futex_waitv futex_wake
futimesat getcpu getcwd getdents getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32
getgroups getgroups32 getitimer getpeername getpgid getpgrp getpid getppid getpriority getrandom
getresgid getresgid32 getresuid getresuid32 getrlimit get_robust_list getrusage getsid getsockname
getsockopt get_thread_area gettid gettimeofday getuid getuid32 getxattr getxattrat inotify_add_watch
inotify_init inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy io_getevents io_pgetevents
io_pgetevents_time64 ioprio_get ioprio_set io_setup io_submit ipc kill landlock_add_rule
landlock_create_ruleset landlock_restrict_self lchown lchown32 lgetxattr link linkat listen listmount
listxattr listxattrat llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64 madvise
map_shadow_stack membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2
mlockall mmap mmap2 mprotect mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64
mq_timedsend mq_timedsend_time64 mq_unlink mremap mseal msgctl msgget msgrcv msgsnd msync munlock
munlockall munmap name_to_handle_at nanosleep newfstatat _newselect open openat openat2 pause
pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll ppoll_time64
prctl pread64 preadv preadv2 prlimit64 process_mrelease pselect6 pselect6_time64 pwrite64 pwritev
pwritev2 read readahead readlink readlinkat readv recv recvfrom recvmmsg recvmmsg_time64 recvmsg
remap_file_pages removexattr removexattrat rename renameat renameat2 restart_syscall rmdir rseq
rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait
rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_getaffinity sched_getattr sched_getparam
sched_get_priority_max sched_get_priority_min sched_getscheduler sched_rr_get_interval
sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam sched_setscheduler
sched_yield seccomp select semctl semget semop semtimedop semtimedop_time64 send sendfile sendfile64
sendmmsg sendmsg sendto setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32 setgroups setgroups32
setitimer setpgid setpriority setregid setregid32 setresgid setresgid32 setresuid setresuid32 setreuid
setreuid32 setrlimit set_robust_list setsid setsockopt set_thread_area set_tid_address setuid setuid32
setxattr setxattrat shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4 sigprocmask
sigreturn socketcall socketpair splice stat stat64 statfs statfs64 statmount statx symlink symlinkat
sync sync_file_range syncfs sysinfo tee tgkill time timer_create timer_delete timer_getoverrun
timer_gettime timer_gettime64 timer_settime timer_settime64 timerfd_create timerfd_gettime
timerfd_gettime64 timerfd_settime timerfd_settime64 times tkill truncate truncate64 ugetrlimit umask
uname unlink unlinkat uretprobe utime utimensat utimensat_time64 utimes vfork vmsplice wait4 waitid
waitpid write writev
`;

/** Syscalls of one CPU family only, by Node's `process.arch`. */
const BY_ARCH: Record<string, string> = {
  x64: "arch_prctl modify_ldt",
  ia32: "modify_ldt",
  arm64: "arm_fadvise64_64 arm_sync_file_range sync_file_range2 breakpoint cacheflush set_tls",
};

/** The ABIs a filter for a host of Node's `process.arch` admits (Docker's arch map). */
const ARCHITECTURES: Record<string, string[]> = {
  x64: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
  ia32: ["SCMP_ARCH_X86"],
  arm64: ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
};

/**
 * Syscalls allowed only with a capability: the kernel guards each with it, and the filter
 * keeps that attack surface (mount, unshare, bpf, module loading) closed even where a
 * kernel's own check is wrong.
 * keyctl, add_key, request_key, kexec_load, kexec_file_load, userfaultfd, swapon, swapoff,
 * pivot_root, nfsservctl, ... are on no list: denied whatever the capabilities.
 */
const BY_CAP: Record<string, string> = {
  CAP_DAC_READ_SEARCH: "open_by_handle_at",
  CAP_SYS_ADMIN: `bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie lsm_get_self_attr
    lsm_list_modules lsm_set_self_attr mount mount_setattr move_mount open_tree perf_event_open quotactl
    quotactl_fd setdomainname sethostname setns syslog umount umount2 unshare`,
  CAP_SYS_BOOT: "reboot",
  CAP_SYS_CHROOT: "chroot",
  CAP_SYS_MODULE: "delete_module init_module finit_module",
  CAP_SYS_PACCT: "acct",
  CAP_SYS_PTRACE: "kcmp pidfd_getfd process_madvise process_vm_readv process_vm_writev ptrace",
  CAP_SYS_RAWIO: "iopl ioperm",
  CAP_SYS_TIME: "settimeofday stime clock_settime clock_settime64",
  CAP_SYS_TTY_CONFIG: "vhangup",
  CAP_SYS_NICE: "get_mempolicy mbind set_mempolicy set_mempolicy_home_node",
  CAP_SYSLOG: "syslog",
  CAP_BPF: "bpf",
  CAP_PERFMON: "perf_event_open",
};

/**
 * ptrace and process_vm_* are safe without CAP_SYS_PTRACE from Linux 4.8 on: before it, a
 * seccomp filter could be bypassed by a traced process (ptrace could change the syscall
 * after the filter ran).
 */
const PTRACE_SAFE_FROM: readonly [number, number] = [4, 8];
const PTRACE = "process_vm_readv process_vm_writev ptrace";

/** The namespace flags of clone(2) (linux/sched.h): creating namespaces needs CAP_SYS_ADMIN. */
const CLONE_NEW_ANY =
  0x00020000 | // CLONE_NEWNS
  0x02000000 | // CLONE_NEWCGROUP
  0x04000000 | // CLONE_NEWUTS
  0x08000000 | // CLONE_NEWIPC
  0x10000000 | // CLONE_NEWUSER
  0x20000000 | // CLONE_NEWPID
  0x40000000; // CLONE_NEWNET

const AF_ALG = 38;
const AF_VSOCK = 40;
const EPERM = 1;
const ENOSYS = 38;

/** personality(2) values a workload may set: PER_LINUX, PER_LINUX32, UNAME26 variants, and the query. */
const PERSONALITIES = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff];

const words = (s: string) => s.split(/\s+/).filter(Boolean);

export interface DefaultProfileOptions {
  /** Node's `process.arch` of the host; default this process's */
  arch?: string;
  /** the host kernel release (`uname -r`); default this host's */
  kernel?: string;
}

/** Whether release "a.b..." is at least [major, minor]. */
function kernelAtLeast(rel: string, [major, minor]: readonly [number, number]): boolean {
  const [a = 0, b = 0] = rel.split(/[.-]/).map((x) => Number.parseInt(x, 10) || 0);
  return a > major || (a === major && b >= minor);
}

/**
 * berthd's default seccomp profile for a container granted `caps` (CAP_* names, the bounding
 * set): an allow-list that answers EPERM to anything not on it, as Docker's and containerd's
 * defaults do. Privileged syscalls are allowed only with their capability; without
 * CAP_SYS_ADMIN, clone may not create namespaces and clone3 (whose flags sit in memory a
 * filter cannot read) answers ENOSYS so that libc falls back to clone.
 */
export function defaultSeccompProfile(caps: string[], o: DefaultProfileOptions = {}): Seccomp {
  const arch = o.arch ?? process.arch;
  const kernel = o.kernel ?? release();
  const has = new Set(caps);
  const allow = (names: string[]): SeccompSyscall => ({ names, action: "SCMP_ACT_ALLOW" });
  const allowIf = (name: string, index: number, op: string, value: number, valueTwo?: number): SeccompSyscall => ({
    names: [name],
    action: "SCMP_ACT_ALLOW",
    args: [{ index, op, value, ...(valueTwo === undefined ? {} : { valueTwo }) }],
  });

  const plain = [...words(ALWAYS), ...words(BY_ARCH[arch] ?? "")];
  if (kernelAtLeast(kernel, PTRACE_SAFE_FROM)) plain.push(...words(PTRACE));
  for (const [cap, names] of Object.entries(BY_CAP)) if (has.has(cap)) plain.push(...words(names));

  const syscalls: SeccompSyscall[] = [allow([...new Set(plain)])];
  // every address family but AF_ALG (kernel crypto, a history of bugs) and AF_VSOCK (host channel)
  syscalls.push(
    allowIf("socket", 0, "SCMP_CMP_LT", AF_ALG),
    allowIf("socket", 0, "SCMP_CMP_EQ", AF_ALG + 1),
    allowIf("socket", 0, "SCMP_CMP_GT", AF_VSOCK),
  );
  for (const p of PERSONALITIES) syscalls.push(allowIf("personality", 0, "SCMP_CMP_EQ", p));
  if (!has.has("CAP_SYS_ADMIN")) {
    // s390's clone takes the flags second; berth has no s390 tables, so the first argument it is
    syscalls.push(allowIf("clone", 0, "SCMP_CMP_MASKED_EQ", CLONE_NEW_ANY, 0));
    syscalls.push({ names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: ENOSYS });
  }
  return {
    defaultAction: "SCMP_ACT_ERRNO",
    defaultErrnoRet: EPERM,
    architectures: ARCHITECTURES[arch] ?? [],
    syscalls,
  };
}
