/*
 * berth native executor: the wire format of a plan and of the sync socket.
 *
 * TypeScript (src/native/plan-encoder.ts) turns a plan into this format; the
 * C side walks it in a forked child with raw syscalls only. Keep both sides in
 * step: the numbers below are mirrored in src/native/ops.ts.
 */
#ifndef BERTH_EXECUTOR_H
#define BERTH_EXECUTOR_H

#include <stdint.h>

#define BERTH_PLAN_MAGIC 0x48545242u /* "BRTH" */
#define BERTH_PLAN_VERSION 1u
#define BERTH_NO_STR 0xffffffffu
#define BERTH_SLOTS 64

/* One step: an op, three integers and four strings (offsets into the plan). */
struct berth_step {
  uint32_t op;
  uint32_t flags;
  int64_t i0, i1, i2;
  uint32_t s0, s1, s2, s3;
};

struct berth_plan_header {
  uint32_t magic;
  uint32_t version;
  uint32_t nsteps;
  uint32_t size; /* total bytes, header included */
};

enum berth_op {
  OP_OPEN_SLOT = 1,     /* slot=i0 <- open(s0, flags=i1) */
  OP_SETNS = 2,         /* setns(slot i0, nstype i1) */
  OP_UNSHARE = 3,       /* unshare(i0) */
  OP_CLONE = 4,         /* clone(i0 | SIGCHLD | CLONE_PARENT), into the cgroup2 dir in slot i1-1 when i1 > 0; the child continues, stage-1 reports and exits */
  OP_SYNC = 5,          /* send SYNC tag i0 to the parent, wait for GO (which may carry the state JSON) */
  OP_MOUNT = 6,         /* mount(s0 src, s1 target in root slot i0 or absolute when i0<0, s2 fstype, i1 flags, s3 data); flags: see MOUNTF_* */
  OP_MKDIR_ALL = 7,     /* mkdir -p s0 inside root slot i0 (or absolute when i0<0), mode i1 */
  OP_MKNOD = 8,         /* mknod s0 inside root slot i0, mode i1, dev i2, chown to s1 "uid:gid" */
  OP_SYMLINK = 9,       /* symlink s0 -> target s1 inside root slot i0; EEXIST ignored */
  OP_PIVOT_ROOT = 10,   /* pivot_root into s0 (i0=1: no pivot, MS_MOVE + chroot; i0=2: chroot only) */
  OP_CHDIR = 11,        /* chdir(s0) */
  OP_SETHOSTNAME = 12,  /* sethostname(s0) */
  OP_SETDOMAINNAME = 13,
  OP_WRITE_FILE = 14,   /* write s1 to existing file s0 (i0=1: ENOENT ignored) */
  OP_SETRLIMIT = 15,    /* setrlimit(i0, soft i1, hard i2) */
  OP_PRCTL = 16,        /* prctl(i0, i1, i2, 0, 0) */
  OP_CAPS = 17,         /* s0 = 5 x u64 little-endian: bounding, effective, permitted, inheritable, ambient */
  OP_SETGROUPS = 18,    /* setgroups(i0 count, s0 = count x u32) */
  OP_SETID = 19,        /* setresgid(i1) then setresuid(i0), keeping caps */
  OP_UMASK = 20,
  OP_SECCOMP = 21,      /* load classic BPF from s0 (i0 = byte length), flags i1; i2=1: send the listener fd (MSG_SECCOMP), wait for GO */
  OP_OPEN_PTY = 22,     /* open s0 (ptmx), send master to the parent, make the slave the controlling tty on 0-2; rows i0 cols i1 */
  OP_WAIT_FIFO = 23,    /* reopen slot i0 (O_PATH fifo) write-only through /proc/self/fd, write one byte */
  OP_HOOK = 24,         /* run s0 with argv s1 (i0 entries), env s2 (i1 entries), state on stdin, timeout i2 seconds (0: none) */
  OP_MASK_PATH = 25,    /* mask s0: /dev/null over a file, read-only tmpfs over a directory; ENOENT ignored */
  OP_READONLY_PATH = 26,/* bind s0 on itself read-only; ENOENT ignored */
  OP_EXEC = 27,         /* execve(s0 path or name searched in PATH from env, argv s1 (i0 entries), env s2 (i1 entries)); i2 = number of preserved fds */
  OP_READY = 28,        /* tell the parent the container is set up */
  OP_CLOSE_SLOT = 29,
  OP_MOUNT_SLOT = 30,   /* mount --bind of slot i1 (open_tree fd) onto target: reserved */
  OP_SETSID = 31,
  OP_RESET_PROCESS = 32,/* undo what Node did: signal dispositions and mask, fds 0-2 inheritable and blocking */
  OP_CHROOT_SLOT = 33,  /* fchdir(slot i0) */
  OP_DUMPABLE = 34,     /* prctl(PR_SET_DUMPABLE, i0) */
  OP_REMOUNT_RO_ROOT = 35, /* remount "/" read-only keeping other flags */
  OP_UNMOUNT = 36,      /* umount2(s0, i0) ; EINVAL/ENOENT ignored when i1 */
  OP_CLOSE_FDS = 37,    /* close every fd >= 3 + i0 (preserved fds) but the sync socket and open slots */
  OP_WRITE_SLOT = 38,   /* write s0 to slot i0's file, then close the slot; s1 names the file in errors */
};

/* OP_MOUNT flags (the step's `flags` field) */
#define MOUNTF_CREATE_DIR 1u   /* create the target as a directory when missing */
#define MOUNTF_CREATE_FILE 2u  /* create the target as an empty file when missing */
#define MOUNTF_BIND_REMOUNT 4u /* after the bind, remount with i1 flags (MS_REMOUNT|MS_BIND), keeping locked flags */
#define MOUNTF_PROPAGATION 8u  /* i2 holds propagation flags applied after the mount */
#define MOUNTF_HOST_TARGET 16u /* target is an absolute host path, not resolved in a root */

/* Messages on the sync socket. */
enum berth_msg_type {
  MSG_PID = 1,    /* child -> parent: pid = the container process (host pid namespace); err 1: not born in the cgroup asked for */
  MSG_SYNC = 2,   /* child -> parent: tag in `step` */
  MSG_GO = 3,     /* parent -> child: payload = state JSON (may be empty) */
  MSG_READY = 4,  /* child -> parent */
  MSG_ERROR = 5,  /* child -> parent: step, errno, message */
  MSG_PTY = 6,    /* child -> parent: SCM_RIGHTS master fd, message = slave name */
  MSG_ABORT = 7,  /* parent -> child: give up */
  MSG_SECCOMP = 8,/* child -> parent: SCM_RIGHTS seccomp notify listener fd */
};

struct berth_msg {
  uint32_t type;
  int32_t step;
  int32_t err;
  int32_t pid;
  char text[240];
};

/*
 * sendmsg of `len` bytes with `nfds` fds (0..16) attached as SCM_RIGHTS, EINTR
 * retried, MSG_NOSIGNAL: the bytes sent, or -1 with errno. Shared by the
 * executor, the launcher and the addon (src/native/executor.c).
 */
#include <stddef.h>
#include <sys/types.h>
ssize_t berth_send_fds(int s, const void *data, size_t len, const int *fds, int nfds);

#endif
