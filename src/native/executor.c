/*
 * berth native executor: runs a plan (see executor.h) in a child process.
 *
 * The child is forked from a multithreaded process (Node), so from the moment
 * it exists it may only make async-signal-safe calls: raw syscalls and their
 * thin libc wrappers, no malloc, no stdio. All policy was decided in TypeScript;
 * this file only performs the steps in order and reports the first failure as
 * data (step index, errno, a short text) over the sync socket.
 */
#define _GNU_SOURCE
#include "executor.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif
#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

/* clone3(2)'s arguments up to CLONE_INTO_CGROUP (Linux 5.7), spelled out: the libc
 * headers of older build hosts lack them */
struct berth_clone_args {
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};
#define BERTH_CLONE_INTO_CGROUP 0x200000000ULL
#ifdef SYS_clone3
#define BERTH_SYS_clone3 SYS_clone3
#else
#define BERTH_SYS_clone3 435
#endif

static int slots[BERTH_SLOTS];
static int syncfd = -1;
static const uint8_t *plan_base;
static char state_json[256 * 1024];
static size_t state_len;
static char exec_path[4096];
static char *argv_buf[4096];
static char *env_buf[8192];
static int current_step = -1;

/*
 * fds 3 .. preserve_end-1 are the caller's for --preserve-fds: the exec makes
 * them inheritable. Where the caller left a gap there, a placeholder holds the
 * number until the exec, so no fd of ours (the exec fifo, a slot, the pty) can
 * land in the range and reach the container.
 */
static int preserve_end = 3;
#define MAX_PRESERVED 4096
static unsigned char placeholder[MAX_PRESERVED / 8];

static void reserve_preserved(const uint8_t *plan) {
  const struct berth_plan_header *h = (const struct berth_plan_header *)plan;
  const struct berth_step *steps = (const struct berth_step *)(plan + sizeof *h);
  for (uint32_t i = 0; i < h->nsteps; i++) {
    int64_t n = steps[i].op == OP_EXEC ? steps[i].i2 : steps[i].op == OP_CLOSE_FDS ? steps[i].i0 : 0;
    if (n > 0 && 3 + n > preserve_end) preserve_end = 3 + (int)(n < MAX_PRESERVED - 3 ? n : MAX_PRESERVED - 3);
  }
  if (syncfd >= 3 && syncfd < preserve_end) {
    int high = fcntl(syncfd, F_DUPFD_CLOEXEC, preserve_end);
    if (high >= 0) {
      close(syncfd);
      syncfd = high;
    }
  }
  /* the launcher's placeholders (gaps it filled so that Node's fds stay out of the range) */
  const char *held = getenv("BERTH_FD_PLACEHOLDERS");
  for (const char *q = held; q && *q;) {
    long fd = 0;
    while (*q >= '0' && *q <= '9') fd = fd * 10 + (*q++ - '0');
    if (fd >= 3 && fd < preserve_end) placeholder[fd / 8] |= (unsigned char)(1u << (fd % 8));
    while (*q && (*q < '0' || *q > '9')) q++;
  }
  for (int fd = 3; fd < preserve_end; fd++) {
    if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF) continue;
    int p = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (p < 0) continue;
    if (p != fd) {
      if (dup3(p, fd, O_CLOEXEC) < 0) {
        close(p);
        continue;
      }
      close(p);
    }
    placeholder[fd / 8] |= (unsigned char)(1u << (fd % 8));
  }
}

/* The gaps in the preserved range are gaps again for the container. */
static void release_placeholders(void) {
  for (int fd = 3; fd < preserve_end; fd++)
    if (placeholder[fd / 8] & (1u << (fd % 8))) close(fd);
}

/* ---- tiny helpers (no libc formatting: it may allocate) ---- */

static size_t str_len(const char *s) {
  size_t n = 0;
  while (s[n]) n++;
  return n;
}

static char *str_append(char *dst, char *end, const char *src) {
  while (*src && dst < end - 1) *dst++ = *src++;
  *dst = 0;
  return dst;
}

static char *int_append(char *dst, char *end, long v) {
  char tmp[24];
  int n = 0;
  int neg = v < 0;
  unsigned long u = neg ? (unsigned long)(-v) : (unsigned long)v;
  do {
    tmp[n++] = (char)('0' + u % 10);
    u /= 10;
  } while (u && n < 22);
  if (neg && dst < end - 1) *dst++ = '-';
  while (n && dst < end - 1) *dst++ = tmp[--n];
  *dst = 0;
  return dst;
}

static void fd_path(char *buf, size_t len, int fd) {
  char *p = str_append(buf, buf + len, "/proc/self/fd/");
  int_append(p, buf + len, fd);
}

static const char *str_at(uint32_t off) {
  if (off == BERTH_NO_STR) return NULL;
  return (const char *)(plan_base + off);
}

static void send_msg(uint32_t type, int err, int pid, const char *a, const char *b) {
  struct berth_msg m;
  memset(&m, 0, sizeof m);
  m.type = type;
  m.step = current_step;
  m.err = err;
  m.pid = pid;
  char *p = m.text;
  char *end = m.text + sizeof m.text;
  if (a) p = str_append(p, end, a);
  if (b) {
    p = str_append(p, end, " ");
    str_append(p, end, b);
  }
  if (syncfd >= 0) {
    ssize_t r;
    do r = send(syncfd, &m, sizeof m, MSG_NOSIGNAL);
    while (r < 0 && errno == EINTR);
  }
}

/* Report a failure and leave. After READY nobody listens, so say it on stderr too. */
static void __attribute__((noreturn)) fail(const char *what, const char *subject) {
  int err = errno;
  send_msg(MSG_ERROR, err, 0, what, subject);
  if (syncfd < 0) {
    char buf[512];
    char *p = str_append(buf, buf + sizeof buf, "berth-runtime: ");
    p = str_append(p, buf + sizeof buf, what);
    if (subject) {
      p = str_append(p, buf + sizeof buf, " ");
      p = str_append(p, buf + sizeof buf, subject);
    }
    p = str_append(p, buf + sizeof buf, ": errno ");
    p = int_append(p, buf + sizeof buf, err);
    p = str_append(p, buf + sizeof buf, "\n");
    ssize_t ignored = write(2, buf, (size_t)(p - buf));
    (void)ignored;
  }
  _exit(err == ENOENT || err == EACCES ? 127 : 1);
}

static int wait_go(void) {
  /* The GO message: u32 type then an optional payload (the state JSON). */
  static char buf[sizeof state_json + 8];
  for (;;) {
    ssize_t n = recv(syncfd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      errno = n == 0 ? EPIPE : errno;
      return -1;
    }
    uint32_t type;
    memcpy(&type, buf, 4);
    if (type == MSG_ABORT) {
      errno = ECANCELED;
      return -1;
    }
    if (type != MSG_GO) continue;
    if (n > 4) {
      state_len = (size_t)n - 4;
      memcpy(state_json, buf + 4, state_len);
    }
    return 0;
  }
}

static int openat2_fd(int dirfd, const char *path, uint64_t flags, uint64_t resolve) {
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = flags | O_CLOEXEC;
  how.resolve = resolve;
  int fd;
  do fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
  while (fd < 0 && (errno == EINTR || errno == EAGAIN));
  return fd;
}

/* Open `path` (absolute, cleaned) inside the root at rootfd: symlinks and ".."
 * resolve as if rootfd were "/", so nothing can lead outside it (the whole
 * point of CVE-2021-30465 and friends). */
static int resolve_in_root(int rootfd, const char *path, uint64_t flags) {
  if (rootfd < 0) return openat2_fd(AT_FDCWD, path, flags, RESOLVE_NO_MAGICLINKS);
  return openat2_fd(rootfd, path, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
}

/* Split "/a/b/c" into a parent fd (resolved in root) and the base name. */
static int open_parent(int rootfd, const char *path, const char **base) {
  static char parent[4096];
  size_t n = str_len(path);
  if (n >= sizeof parent) {
    errno = ENAMETOOLONG;
    return -1;
  }
  memcpy(parent, path, n + 1);
  while (n > 1 && parent[n - 1] == '/') parent[--n] = 0;
  char *slash = NULL;
  for (size_t i = 0; i < n; i++)
    if (parent[i] == '/') slash = parent + i;
  if (!slash) {
    *base = path;
    return resolve_in_root(rootfd, "/", O_PATH | O_DIRECTORY);
  }
  *base = path + (slash - parent) + 1;
  if (slash == parent) return resolve_in_root(rootfd, "/", O_PATH | O_DIRECTORY);
  *slash = 0;
  return resolve_in_root(rootfd, parent, O_PATH | O_DIRECTORY);
}

/* mkdir -p inside a root, one component at a time, each step re-resolved
 * from the root so that a symlink planted midway cannot redirect it. */
static int mkdir_all(int rootfd, const char *path, mode_t mode) {
  static char prefix[4096];
  size_t n = str_len(path);
  if (n >= sizeof prefix) {
    errno = ENAMETOOLONG;
    return -1;
  }
  size_t i = 0;
  while (i < n) {
    while (i < n && path[i] == '/') i++;
    while (i < n && path[i] != '/') i++;
    memcpy(prefix, path, i);
    prefix[i] = 0;
    if (i == 0) break;
    int fd = resolve_in_root(rootfd, prefix, O_PATH | O_DIRECTORY);
    if (fd >= 0) {
      close(fd);
      continue;
    }
    if (errno != ENOENT) return -1;
    const char *base;
    int pfd = open_parent(rootfd, prefix, &base);
    if (pfd < 0) return -1;
    int r = mkdirat(pfd, base, mode);
    int e = errno;
    close(pfd);
    if (r < 0 && e != EEXIST) {
      errno = e;
      return -1;
    }
  }
  return resolve_in_root(rootfd, path[0] ? path : "/", O_PATH | O_DIRECTORY);
}

static int create_file(int rootfd, const char *path) {
  const char *base;
  int fd = resolve_in_root(rootfd, path, O_PATH);
  if (fd >= 0) return fd;
  if (errno != ENOENT) return -1;
  /* make the parent, then the file, then resolve again */
  static char parent[4096];
  size_t n = str_len(path);
  if (n >= sizeof parent) {
    errno = ENAMETOOLONG;
    return -1;
  }
  memcpy(parent, path, n + 1);
  char *slash = NULL;
  for (size_t i = 0; i < n; i++)
    if (parent[i] == '/') slash = parent + i;
  if (slash && slash != parent) {
    *slash = 0;
    int d = mkdir_all(rootfd, parent, 0755);
    if (d < 0) return -1;
    close(d);
  }
  int pfd = open_parent(rootfd, path, &base);
  if (pfd < 0) return -1;
  int f = openat(pfd, base, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
  int e = errno;
  close(pfd);
  if (f < 0 && e != EEXIST) {
    errno = e;
    return -1;
  }
  if (f >= 0) close(f);
  return resolve_in_root(rootfd, path, O_PATH);
}

static unsigned long statvfs_to_ms(unsigned long f) {
  unsigned long ms = 0;
  if (f & ST_RDONLY) ms |= MS_RDONLY;
  if (f & ST_NOSUID) ms |= MS_NOSUID;
  if (f & ST_NODEV) ms |= MS_NODEV;
  if (f & ST_NOEXEC) ms |= MS_NOEXEC;
  if (f & ST_NOATIME) ms |= MS_NOATIME;
  if (f & ST_NODIRATIME) ms |= MS_NODIRATIME;
  if (f & ST_RELATIME) ms |= MS_RELATIME;
  return ms;
}

/* Remount a bind mount with new flags. In a user namespace the kernel locks
 * nosuid/nodev/noexec/atime flags inherited from the source: keep them. */
static int remount_bind(const char *target, unsigned long flags) {
  if (mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | flags, NULL) == 0) return 0;
  if (errno != EPERM) return -1;
  struct statvfs sv;
  if (statvfs(target, &sv) < 0) return -1;
  unsigned long locked = statvfs_to_ms(sv.f_flag) & (MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME);
  if (mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | flags | locked, NULL) == 0) return 0;
  return -1;
}

static void do_mount(const struct berth_step *s) {
  const char *src = str_at(s->s0);
  const char *target = str_at(s->s1);
  const char *fstype = str_at(s->s2);
  const char *data = str_at(s->s3);
  int rootfd = s->i0 >= 0 ? slots[s->i0] : -1;
  unsigned long flags = (unsigned long)s->i1;
  char procpath[64];
  int fd;

  if (s->flags & MOUNTF_HOST_TARGET) {
    if (mount(src, target, fstype, flags, data) < 0) fail("mount", target);
    if ((s->flags & MOUNTF_PROPAGATION) && mount(NULL, target, NULL, (unsigned long)s->i2, NULL) < 0)
      fail("set propagation of", target);
    return;
  }
  if (s->flags & MOUNTF_CREATE_DIR)
    fd = mkdir_all(rootfd, target, 0755);
  else if (s->flags & MOUNTF_CREATE_FILE)
    fd = create_file(rootfd, target);
  else
    fd = resolve_in_root(rootfd, target, O_PATH);
  if (fd < 0) fail("resolve mount target", target);
  fd_path(procpath, sizeof procpath, fd);
  unsigned long first = flags;
  if (s->flags & MOUNTF_BIND_REMOUNT) first = flags & (MS_BIND | MS_REC);
  if (mount(src, procpath, fstype, first, data) < 0) fail("mount", target);
  close(fd);
  if (!(s->flags & (MOUNTF_BIND_REMOUNT | MOUNTF_PROPAGATION))) return;
  /* the fd names the covered directory: look the target up again to reach the new mount */
  fd = resolve_in_root(rootfd, target, O_PATH);
  if (fd < 0) fail("reopen mount target", target);
  fd_path(procpath, sizeof procpath, fd);
  if ((s->flags & MOUNTF_BIND_REMOUNT) && remount_bind(procpath, flags & ~(unsigned long)(MS_BIND | MS_REC)) < 0)
    fail("remount", target);
  if ((s->flags & MOUNTF_PROPAGATION) && mount(NULL, procpath, NULL, (unsigned long)s->i2, NULL) < 0)
    fail("set propagation of", target);
  close(fd);
}

static void do_pivot(const struct berth_step *s) {
  const char *rootfs = str_at(s->s0);
  if (s->i0 == 2) {
    /* the host's mount namespace: a chroot, nothing that would move the host's root */
    if (chdir(rootfs) < 0) fail("chdir", rootfs);
    if (chroot(".") < 0) fail("chroot", rootfs);
    if (chdir("/") < 0) fail("chdir", "/");
    return;
  }
  if (s->i0) {
    if (chdir(rootfs) < 0) fail("chdir", rootfs);
    if (mount(rootfs, "/", NULL, MS_MOVE, NULL) < 0) fail("move mount", rootfs);
    if (chroot(".") < 0) fail("chroot", rootfs);
    if (chdir("/") < 0) fail("chdir", "/");
    return;
  }
  int oldroot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (oldroot < 0) fail("open", "/");
  int newroot = open(rootfs, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (newroot < 0) fail("open", rootfs);
  if (fchdir(newroot) < 0) fail("chdir", rootfs);
  /* pivot_root(".", "."): the old root ends up stacked under the new one */
  if (syscall(SYS_pivot_root, ".", ".") < 0) fail("pivot_root", rootfs);
  if (fchdir(oldroot) < 0) fail("chdir", "old root");
  /* keep the unmount of the old root from propagating to the host */
  if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0) fail("make old root slave", NULL);
  if (umount2(".", MNT_DETACH) < 0) fail("unmount old root", NULL);
  if (chdir("/") < 0) fail("chdir", "/");
  close(oldroot);
  close(newroot);
}

static int split_list(const char *list, int64_t count, char **out, size_t max) {
  size_t n = 0;
  const char *p = list;
  for (int64_t i = 0; i < count && n < max - 1; i++) {
    out[n++] = (char *)p;
    p += str_len(p) + 1;
  }
  out[n] = NULL;
  return (int)n;
}

static void do_hook(const struct berth_step *s) {
  const char *path = str_at(s->s0);
  split_list(str_at(s->s1), s->i0, argv_buf, sizeof argv_buf / sizeof *argv_buf);
  split_list(str_at(s->s2), s->i1, env_buf, sizeof env_buf / sizeof *env_buf);
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0) fail("pipe for hook", path);
  pid_t pid = (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
  if (pid < 0) fail("fork hook", path);
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    dup2(out[1], 2);
    execve(path, argv_buf[0] ? argv_buf : (char *[]){(char *)path, NULL}, env_buf);
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  size_t off = 0;
  while (off < state_len) {
    ssize_t w = write(in[1], state_json + off, state_len - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break; /* the hook need not read its stdin */
    off += (size_t)w;
  }
  close(in[1]);
  int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (pfd < 0) fail("pidfd_open of hook", path);
  struct pollfd p = {.fd = pfd, .events = POLLIN};
  int timeout = s->i2 > 0 ? (int)(s->i2 * 1000) : -1;
  int r;
  do r = poll(&p, 1, timeout);
  while (r < 0 && errno == EINTR);
  if (r == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    errno = ETIMEDOUT;
    fail("hook timed out:", path);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  close(pfd);
  static char text[200];
  ssize_t n = read(out[0], text, sizeof text - 1);
  text[n > 0 ? n : 0] = 0;
  close(out[0]);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    errno = 0;
    fail(path, text);
  }
}

static void do_caps(const struct berth_step *s) {
  uint64_t sets[5];
  memcpy(sets, plan_base + s->s0, sizeof sets);
  if (s->i0 == 0) {
    /* phase 0, before changing uid: shrink the bounding set */
    for (int cap = 0; cap <= (int)s->i1; cap++)
      if (!(sets[0] & (1ULL << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
        fail("drop bounding capability", NULL);
    return;
  }
  struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct data[2];
  for (int i = 0; i < 2; i++) {
    data[i].effective = (uint32_t)(sets[1] >> (32 * i));
    data[i].permitted = (uint32_t)(sets[2] >> (32 * i));
    data[i].inheritable = (uint32_t)(sets[3] >> (32 * i));
  }
  if (syscall(SYS_capset, &hdr, data) < 0) fail("capset", NULL);
  prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) fail("clear ambient capabilities", NULL);
  for (int cap = 0; cap < 64; cap++)
    /* raising needs the cap in permitted and inheritable; runc only warns when it cannot */
    if (sets[4] & (1ULL << cap)) prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0);
}

ssize_t berth_send_fds(int s, const void *data, size_t len, const int *fds, int nfds) {
  if (nfds < 0 || nfds > 16) {
    errno = EINVAL;
    return -1;
  }
  struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
  union {
    char b[CMSG_SPACE(sizeof(int) * 16)];
    struct cmsghdr align;
  } u;
  memset(&u, 0, sizeof u);
  struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
  if (nfds > 0) {
    mh.msg_control = u.b;
    mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
  }
  ssize_t r;
  do r = sendmsg(s, &mh, MSG_NOSIGNAL);
  while (r < 0 && errno == EINTR);
  return r;
}

/* Send a message of `type` with `fd` attached (SCM_RIGHTS) and `text`. */
static int send_fd_msg(uint32_t type, int fd, const char *text) {
  struct berth_msg m;
  memset(&m, 0, sizeof m);
  m.type = type;
  m.step = current_step;
  str_append(m.text, m.text + sizeof m.text, text);
  return berth_send_fds(syncfd, &m, sizeof m, &fd, 1) < 0 ? -1 : 0;
}

static void do_open_pty(const struct berth_step *s) {
  const char *ptmx = str_at(s->s0);
  int master = open(ptmx, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) fail("open", ptmx);
  int unlock = 0;
  if (ioctl(master, TIOCSPTLCK, &unlock) < 0) fail("unlock pty", NULL);
  int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0) fail("open pty peer", NULL);
  if (s->i0 > 0 && s->i1 > 0) {
    struct winsize ws = {.ws_row = (unsigned short)s->i0, .ws_col = (unsigned short)s->i1};
    ioctl(master, TIOCSWINSZ, &ws);
  }
  unsigned int ptn = 0;
  ioctl(master, TIOCGPTN, &ptn);
  /* hand the master to the parent (which passes it on to the console socket) */
  char name[32];
  int_append(str_append(name, name + sizeof name, "/dev/pts/"), name + sizeof name, ptn);
  if (send_fd_msg(MSG_PTY, master, name) < 0) fail("send pty master", NULL);
  close(master);
  if (wait_go() < 0) fail("wait for parent after pty", NULL);
  if (setsid() < 0 && errno != EPERM) fail("setsid", NULL);
  if (ioctl(slave, TIOCSCTTY, 0) < 0) fail("set controlling terminal", NULL);
  for (int i = 0; i < 3; i++)
    if (dup2(slave, i) < 0) fail("dup2 pty", NULL);
  if (slave > 2) close(slave);
}

static const char *env_lookup(const char *name) {
  size_t n = str_len(name);
  for (char **e = env_buf; *e; e++)
    if (strncmp(*e, name, n) == 0 && (*e)[n] == '=') return *e + n + 1;
  return NULL;
}

static int is_executable(const char *path) {
  struct stat st;
  if (stat(path, &st) < 0) return 0;
  if (!S_ISREG(st.st_mode)) {
    errno = EACCES;
    return 0;
  }
  return access(path, X_OK) == 0;
}

/* Find args[0] as the container's PATH says, as runc does before it reports "created". */
static void resolve_exec(const struct berth_step *s) {
  const char *name = str_at(s->s0);
  split_list(str_at(s->s2), s->i1, env_buf, sizeof env_buf / sizeof *env_buf);
  for (const char *p = name; *p; p++)
    if (*p == '/') {
      if (!is_executable(name)) fail("exec: cannot run", name);
      str_append(exec_path, exec_path + sizeof exec_path, name);
      return;
    }
  const char *path = env_lookup("PATH");
  if (!path) path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  int saw_eacces = 0;
  while (*path) {
    const char *end = path;
    while (*end && *end != ':') end++;
    char *q = exec_path;
    char *qend = exec_path + sizeof exec_path;
    if (end == path) q = str_append(q, qend, ".");
    while (path < end && q < qend - 1) *q++ = *path++;
    *q = 0;
    q = str_append(q, qend, "/");
    str_append(q, qend, name);
    if (is_executable(exec_path)) return;
    if (errno == EACCES) saw_eacces = 1;
    if (*path == ':') path++;
  }
  errno = saw_eacces ? EACCES : ENOENT;
  fail("executable file not found in $PATH:", name);
}

static void reset_process(int preserved) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_DFL;
  for (int sig = 1; sig < 65; sig++)
    if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &sa, NULL);
  sigset_t all;
  sigemptyset(&all);
  sigprocmask(SIG_SETMASK, &all, NULL);
  /* Node marks 0-2 close-on-exec and may have made pipes non-blocking */
  for (int fd = 0; fd < 3 + preserved; fd++) {
    int fl = fcntl(fd, F_GETFD);
    if (fl >= 0 && (fl & FD_CLOEXEC)) fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC);
    if (fd < 3) {
      int st = fcntl(fd, F_GETFL);
      if (st >= 0 && (st & O_NONBLOCK)) fcntl(fd, F_SETFL, st & ~O_NONBLOCK);
    }
  }
}

static void do_exec(const struct berth_step *s) {
  if (!exec_path[0]) resolve_exec(s);
  split_list(str_at(s->s1), s->i0, argv_buf, sizeof argv_buf / sizeof *argv_buf);
  split_list(str_at(s->s2), s->i1, env_buf, sizeof env_buf / sizeof *env_buf);
  int preserved = (int)s->i2;
  release_placeholders();
  reset_process(preserved);
  /* nothing of the runtime's may reach the container: every other fd goes (CVE-2024-21626) */
  if (syscall(SYS_close_range, 3 + preserved, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
    for (int fd = 3 + preserved; fd < 65536; fd++) fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  execve(exec_path, argv_buf, env_buf);
  int err = errno;
  syncfd = -1;
  errno = err;
  fail("exec", exec_path);
}

static void do_seccomp(const struct berth_step *s) {
  struct sock_fprog prog = {
      .len = (unsigned short)(s->i0 / (int64_t)sizeof(struct sock_filter)),
      .filter = (struct sock_filter *)(plan_base + s->s0),
  };
  long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, (unsigned int)s->i1, &prog);
  if (fd < 0) fail("load seccomp filter", NULL);
  if (!s->i2) return;
  /* the filter is in force: from here every call but the hand-over's sendmsg may go to the
   * agent, which gets the listener from the parent before it answers GO */
  if (send_fd_msg(MSG_SECCOMP, (int)fd, "") < 0) fail("send seccomp listener", NULL);
  close((int)fd);
  if (wait_go() < 0) fail("wait for parent after seccomp listener", NULL);
}

static void do_write_file(const struct berth_step *s) {
  const char *path = str_at(s->s0);
  const char *data = str_at(s->s1);
  int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT && s->i0) return;
    fail("open", path);
  }
  size_t n = str_len(data);
  if (write(fd, data, n) != (ssize_t)n) fail("write", path);
  close(fd);
}

static void do_mask(const char *path) {
  struct stat st;
  if (lstat(path, &st) < 0) {
    if (errno == ENOENT) return;
    fail("stat masked path", path);
  }
  if (S_ISDIR(st.st_mode)) {
    if (mount("tmpfs", path, "tmpfs", MS_RDONLY, NULL) < 0) fail("mask", path);
  } else if (mount("/dev/null", path, NULL, MS_BIND, NULL) < 0) {
    if (errno == ENOENT) return;
    fail("mask", path);
  }
}

static void do_readonly(const char *path) {
  if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0) {
    if (errno == ENOENT) return;
    fail("bind read-only path", path);
  }
  if (remount_bind(path, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC) < 0 && remount_bind(path, MS_RDONLY) < 0)
    fail("remount read-only", path);
}

/* Close every fd the runtime inherited or opened (Node's epoll, pipes, a log file,
 * a directory...) but 0-2, the preserved ones, the sync socket and the slots:
 * nothing of the host may be reachable from the container, even before execve. */
static void close_inherited(int preserved) {
  int keep[BERTH_SLOTS + 1];
  int n = 0;
  if (syncfd >= 0) keep[n++] = syncfd;
  for (int i = 0; i < BERTH_SLOTS; i++)
    if (slots[i] >= 0) keep[n++] = slots[i];
  /* insertion sort: a handful of fds */
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
      int t = keep[j];
      keep[j] = keep[j - 1];
      keep[j - 1] = t;
    }
  unsigned int from = 3u + (unsigned int)preserved;
  for (int i = 0; i < n; i++) {
    if (keep[i] < (int)from) continue;
    if ((unsigned int)keep[i] > from) syscall(SYS_close_range, from, (unsigned int)keep[i] - 1, 0);
    from = (unsigned int)keep[i] + 1;
  }
  syscall(SYS_close_range, from, ~0U, 0);
}

static void __attribute__((noreturn)) run_plan(void) {
  const struct berth_plan_header *h = (const struct berth_plan_header *)plan_base;
  const struct berth_step *steps = (const struct berth_step *)(plan_base + sizeof *h);
  for (uint32_t i = 0; i < h->nsteps; i++) {
    const struct berth_step *s = &steps[i];
    current_step = (int)i;
    switch (s->op) {
      case OP_OPEN_SLOT: {
        const char *p = str_at(s->s0);
        int fd = open(p, (int)s->i1 | O_CLOEXEC);
        if (fd < 0) fail("open", p);
        slots[s->i0] = fd;
        break;
      }
      case OP_CLOSE_SLOT:
        close(slots[s->i0]);
        slots[s->i0] = -1;
        break;
      case OP_SETNS:
        if (setns(slots[s->i0], (int)s->i1) < 0) fail("join namespace", str_at(s->s0));
        break;
      case OP_UNSHARE:
        if (unshare((int)s->i0) < 0) fail("unshare", NULL);
        break;
      case OP_CLONE: {
        pid_t pid = -1;
        int placed = 0;
        if (s->i1 > 0) {
          /* born in its cgroup2 cgroup: no migration, whose threadgroup lock costs the
           * caller an RCU grace period (~10 ms) on every create */
          struct berth_clone_args a;
          memset(&a, 0, sizeof a);
          a.flags = (uint64_t)s->i0 | CLONE_PARENT | BERTH_CLONE_INTO_CGROUP;
          /* clone3 refuses an exit signal with CLONE_PARENT: the child gets its parent's
           * exit signal, as clone(2) gives it too */
          a.exit_signal = 0;
          a.cgroup = (uint64_t)slots[s->i1 - 1];
          pid = (pid_t)syscall(BERTH_SYS_clone3, &a, sizeof a);
          if (pid >= 0) placed = 1;
        }
        /* clone3 refused (an older kernel, a seccomp filter of an outer container, the target's
         * pids.max, which a migration does not check): a plain clone, and the parent places the
         * init as it always did (MSG_PID's err says so) */
        if (!placed) pid = (pid_t)syscall(SYS_clone, (unsigned long)s->i0 | CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
        if (pid < 0) fail("clone", NULL);
        if (pid > 0) {
          send_msg(MSG_PID, s->i1 > 0 && !placed ? 1 : 0, pid, NULL, NULL);
          _exit(0);
        }
        break;
      }
      case OP_SYNC: {
        struct berth_msg m;
        memset(&m, 0, sizeof m);
        m.type = MSG_SYNC;
        m.step = current_step;
        m.pid = (int32_t)s->i0;
        if (send(syncfd, &m, sizeof m, MSG_NOSIGNAL) < 0) fail("sync with parent", NULL);
        if (wait_go() < 0) fail("wait for parent", NULL);
        break;
      }
      case OP_READY:
        send_msg(MSG_READY, 0, 0, NULL, NULL);
        close(syncfd);
        syncfd = -1;
        break;
      case OP_MOUNT:
        do_mount(s);
        break;
      case OP_UNMOUNT:
        if (umount2(str_at(s->s0), (int)s->i0) < 0 && !(s->i1 && (errno == EINVAL || errno == ENOENT)))
          fail("unmount", str_at(s->s0));
        break;
      case OP_MKDIR_ALL: {
        int fd = mkdir_all(s->i0 >= 0 ? slots[s->i0] : -1, str_at(s->s0), (mode_t)s->i1);
        if (fd < 0) fail("mkdir", str_at(s->s0));
        close(fd);
        break;
      }
      case OP_MKNOD: {
        const char *base;
        const char *path = str_at(s->s0);
        int pfd = open_parent(s->i0 >= 0 ? slots[s->i0] : -1, path, &base);
        if (pfd < 0) fail("open parent of", path);
        if (mknodat(pfd, base, (mode_t)s->i1, (dev_t)s->i2) < 0 && errno != EEXIST) fail("mknod", path);
        const char *owner = str_at(s->s1);
        if (owner) {
          long ids[2] = {0, 0};
          int k = 0;
          for (const char *p = owner; *p && k < 2; p++) {
            if (*p == ':') k++;
            else ids[k] = ids[k] * 10 + (*p - '0');
          }
          if (fchownat(pfd, base, (uid_t)ids[0], (gid_t)ids[1], AT_SYMLINK_NOFOLLOW) < 0) fail("chown", path);
        }
        close(pfd);
        break;
      }
      case OP_SYMLINK: {
        const char *base;
        const char *path = str_at(s->s0);
        int pfd = open_parent(s->i0 >= 0 ? slots[s->i0] : -1, path, &base);
        if (pfd < 0) fail("open parent of", path);
        if (symlinkat(str_at(s->s1), pfd, base) < 0 && errno != EEXIST) fail("symlink", path);
        close(pfd);
        break;
      }
      case OP_PIVOT_ROOT:
        do_pivot(s);
        break;
      case OP_CHDIR: {
        if (chdir(str_at(s->s0)) < 0) fail("chdir to cwd", str_at(s->s0));
        /* a cwd reached through a leaked fd lies outside our root: the kernel then
         * reports it as "(unreachable)..." (CVE-2024-21626) */
        if (!(s->flags & 1)) break;
        static char cwd[4096];
        long n = syscall(SYS_getcwd, cwd, sizeof cwd);
        if (n < 0 || cwd[0] != '/') {
          errno = EPERM;
          fail("cwd is outside the container:", str_at(s->s0));
        }
        break;
      }
      case OP_WRITE_SLOT: {
        const char *data = str_at(s->s0);
        size_t n = str_len(data);
        if (write(slots[s->i0], data, n) != (ssize_t)n) fail("write", str_at(s->s1));
        close(slots[s->i0]);
        slots[s->i0] = -1;
        break;
      }
      case OP_CLOSE_FDS:
        close_inherited((int)s->i0);
        break;
      case OP_CHROOT_SLOT:
        if (fchdir(slots[s->i0]) < 0) fail("fchdir", NULL);
        break;
      case OP_SETHOSTNAME: {
        const char *n = str_at(s->s0);
        if (sethostname(n, str_len(n)) < 0) fail("sethostname", n);
        break;
      }
      case OP_SETDOMAINNAME: {
        const char *n = str_at(s->s0);
        if (setdomainname(n, str_len(n)) < 0) fail("setdomainname", n);
        break;
      }
      case OP_WRITE_FILE:
        do_write_file(s);
        break;
      case OP_SETRLIMIT: {
        struct rlimit rl = {.rlim_cur = (rlim_t)s->i1, .rlim_max = (rlim_t)s->i2};
        if (setrlimit((int)s->i0, &rl) < 0) fail("setrlimit", str_at(s->s0));
        break;
      }
      case OP_PRCTL:
        if (prctl((int)s->i0, (unsigned long)s->i1, (unsigned long)s->i2, 0, 0) < 0) fail("prctl", str_at(s->s0));
        break;
      case OP_DUMPABLE:
        prctl(PR_SET_DUMPABLE, (unsigned long)s->i0, 0, 0, 0);
        break;
      case OP_CAPS:
        do_caps(s);
        break;
      case OP_SETGROUPS: {
        static gid_t groups[65536];
        size_t n = (size_t)s->i0;
        if (n > 65536) n = 65536;
        memcpy(groups, plan_base + s->s0, n * sizeof(gid_t));
        if (setgroups(n, groups) < 0) fail("setgroups", NULL);
        break;
      }
      case OP_SETID:
        if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) fail("keep capabilities", NULL);
        if (syscall(SYS_setresgid, (gid_t)s->i1, (gid_t)s->i1, (gid_t)s->i1) < 0) fail("setresgid", NULL);
        if (syscall(SYS_setresuid, (uid_t)s->i0, (uid_t)s->i0, (uid_t)s->i0) < 0) fail("setresuid", NULL);
        break;
      case OP_UMASK:
        umask((mode_t)s->i0);
        break;
      case OP_SECCOMP:
        do_seccomp(s);
        break;
      case OP_OPEN_PTY:
        do_open_pty(s);
        break;
      case OP_SETSID:
        if (setsid() < 0 && errno != EPERM) fail("setsid", NULL);
        break;
      case OP_WAIT_FIFO: {
        char p[64];
        fd_path(p, sizeof p, slots[s->i0]);
        int fd = open(p, O_WRONLY | O_CLOEXEC);
        if (fd < 0) fail("open exec fifo", NULL);
        if (write(fd, "0", 1) != 1) fail("write exec fifo", NULL);
        /* keep it open: execve closes it (O_CLOEXEC), and that EOF tells `start` the process runs */
        close(slots[s->i0]);
        slots[s->i0] = -1;
        break;
      }
      case OP_HOOK:
        do_hook(s);
        break;
      case OP_MASK_PATH:
        do_mask(str_at(s->s0));
        break;
      case OP_READONLY_PATH:
        do_readonly(str_at(s->s0));
        break;
      case OP_REMOUNT_RO_ROOT:
        if (remount_bind("/", MS_RDONLY) < 0) fail("remount / read-only", NULL);
        break;
      case OP_EXEC:
        if (s->flags & 1) resolve_exec(s);
        else do_exec(s);
        break;
      case OP_RESET_PROCESS:
        reset_process((int)s->i0);
        break;
      default:
        errno = EINVAL;
        fail("unknown plan op", NULL);
    }
  }
  errno = EINVAL;
  fail("plan ended without exec", NULL);
}

/* Fork the stage-1 child that runs `plan`. Returns its pid; *parent_fd gets
 * the parent's end of the sync socket. Called on Node's thread. */
pid_t berth_spawn(const uint8_t *plan, int *parent_fd) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) return -1;
  pid_t pid = (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
  if (pid < 0) {
    int e = errno;
    close(sv[0]);
    close(sv[1]);
    errno = e;
    return -1;
  }
  if (pid == 0) {
    close(sv[0]);
    syncfd = sv[1];
    plan_base = plan;
    reserve_preserved(plan);
    for (int i = 0; i < BERTH_SLOTS; i++) slots[i] = -1;
    /* die with the runtime until the container is handed over */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    run_plan();
  }
  close(sv[1]);
  *parent_fd = sv[0];
  return pid;
}
