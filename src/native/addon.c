/*
 * N-API binding of the executor and the few syscalls Node lacks: SOCK_SEQPACKET
 * messages with SCM_RIGHTS, mkfifo, waitpid, prctl(PR_SET_CHILD_SUBREAPER),
 * sending an fd to a unix socket path (the OCI console socket), and for the image
 * side mknod, xattrs, mount and flock; for cgroup v2 device rules, loading and
 * attaching BPF_PROG_TYPE_CGROUP_DEVICE programs (the instructions come from TS); and
 * for berthd's networks, a network namespace with lo up, bind-mounted on a file.
 * Every function is synchronous and policy-free; src/native/index.ts types them.
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>

#include "executor.h"

pid_t berth_spawn(const uint8_t *plan, int *parent_fd);

#define CHECK(call)                                     \
  do {                                                  \
    if ((call) != napi_ok) {                            \
      napi_throw_error(env, "EINTERNAL", #call " failed"); \
      return NULL;                                      \
    }                                                   \
  } while (0)

static napi_value throw_errno(napi_env env, int err, const char *what) {
  napi_value msg, code, error, errnum;
  /* on the heap: `what` may carry a long text (the BPF verifier's log) */
  size_t size = strlen(what) + 128;
  char *buf = malloc(size);
  const char *name = "EUNKNOWN";
  switch (err) {
#define E(x) \
  case x:    \
    name = #x; \
    break;
    E(ENOENT) E(EEXIST) E(EPERM) E(EACCES) E(EINVAL) E(EAGAIN) E(ECONNREFUSED) E(ENOTSOCK) E(EBADF) E(ECHILD) E(ESRCH)
        E(ETIMEDOUT) E(EPIPE) E(ENOTDIR) E(ENAMETOOLONG) E(EMFILE) E(ENOMEM) E(ENODATA) E(ENOTSUP) E(ERANGE)
        E(EBUSY) E(ELOOP) E(ENOSPC) E(EROFS) E(EISDIR) E(ENOTEMPTY) E(EXDEV) E(E2BIG) E(EFAULT)
#undef E
  }
  if (buf) snprintf(buf, size, "%s: %s", what, strerror(err));
  napi_create_string_utf8(env, buf ? buf : strerror(err), NAPI_AUTO_LENGTH, &msg);
  free(buf);
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
  napi_create_error(env, code, msg, &error);
  napi_create_int32(env, -err, &errnum);
  napi_set_named_property(env, error, "errno", errnum);
  napi_set_named_property(env, error, "code", code);
  napi_throw(env, error);
  return NULL;
}

static int get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return -1;
  return (int)argc;
}

static int32_t arg_i32(napi_env env, napi_value v) {
  int32_t x = 0;
  napi_get_value_int32(env, v, &x);
  return x;
}

static napi_value make_i32(napi_env env, int32_t v) {
  napi_value r;
  napi_create_int32(env, v, &r);
  return r;
}

/* spawn(plan: Buffer) -> [pid, fd] */
static napi_value js_spawn(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  get_args(env, info, 1, argv);
  void *data;
  size_t len;
  CHECK(napi_get_buffer_info(env, argv[0], &data, &len));
  const struct berth_plan_header *h = data;
  if (len < sizeof *h || h->magic != BERTH_PLAN_MAGIC || h->version != BERTH_PLAN_VERSION || h->size != len)
    return throw_errno(env, EINVAL, "spawn: malformed plan");
  int fd = -1;
  pid_t pid = berth_spawn(data, &fd);
  if (pid < 0) return throw_errno(env, errno, "spawn: clone");
  napi_value arr;
  napi_create_array_with_length(env, 2, &arr);
  napi_set_element(env, arr, 0, make_i32(env, pid));
  napi_set_element(env, arr, 1, make_i32(env, fd));
  return arr;
}

/* waitpid(pid, nohang) -> null (still running) | {pid, code, signal} */
static napi_value js_waitpid(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  get_args(env, info, 2, argv);
  pid_t pid = arg_i32(env, argv[0]);
  bool nohang = false;
  napi_get_value_bool(env, argv[1], &nohang);
  int status = 0;
  pid_t r;
  do r = waitpid(pid, &status, nohang ? WNOHANG : 0);
  while (r < 0 && errno == EINTR);
  if (r < 0) return throw_errno(env, errno, "waitpid");
  napi_value obj;
  if (r == 0) {
    napi_get_null(env, &obj);
    return obj;
  }
  napi_create_object(env, &obj);
  napi_set_named_property(env, obj, "pid", make_i32(env, r));
  napi_set_named_property(env, obj, "code", make_i32(env, WIFEXITED(status) ? WEXITSTATUS(status) : -1));
  napi_set_named_property(env, obj, "signal", make_i32(env, WIFSIGNALED(status) ? WTERMSIG(status) : 0));
  return obj;
}

/* A unix socket address from a JS string; -1 when the path does not fit sun_path
 * (it would otherwise be cut silently and name another socket). */
static int unix_addr(napi_env env, napi_value v, struct sockaddr_un *addr) {
  memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok || len >= sizeof addr->sun_path) return -1;
  napi_get_value_string_utf8(env, v, addr->sun_path, sizeof addr->sun_path, &len);
  return 0;
}

/* mkfifo(path, mode) */
static napi_value js_mkfifo(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  get_args(env, info, 2, argv);
  char path[4096];
  size_t len;
  CHECK(napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len));
  if (mkfifo(path, (mode_t)arg_i32(env, argv[1])) < 0) return throw_errno(env, errno, "mkfifo");
  return NULL;
}

/* sendFd(socketPath, fd, payload, what): connect to a unix stream socket, send the payload
 * with fd attached (SCM_RIGHTS) to its first byte, close; errors name `what` */
static napi_value js_send_fd(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  get_args(env, info, 4, argv);
  char what[64];
  size_t wlen;
  CHECK(napi_get_value_string_utf8(env, argv[3], what, sizeof what, &wlen));
  char msg[128];
  struct sockaddr_un addr;
  if (unix_addr(env, argv[0], &addr) < 0) {
    snprintf(msg, sizeof msg, "%s path", what);
    return throw_errno(env, ENAMETOOLONG, msg);
  }
  int fd = arg_i32(env, argv[1]);
  size_t len = 0;
  CHECK(napi_get_value_string_utf8(env, argv[2], NULL, 0, &len));
  char *payload = malloc(len + 1);
  if (!payload) return throw_errno(env, ENOMEM, what);
  napi_get_value_string_utf8(env, argv[2], payload, len + 1, &len);
  int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (sock < 0) {
    free(payload);
    return throw_errno(env, errno, what);
  }
  if (connect(sock, (struct sockaddr *)&addr, sizeof addr) < 0) {
    int e = errno;
    close(sock);
    free(payload);
    snprintf(msg, sizeof msg, "connect to %s", what);
    return throw_errno(env, e, msg);
  }
  /* a stream socket may take a long payload in parts: the fd rides on the first */
  ssize_t r = berth_send_fds(sock, payload, len ? len : 1, &fd, 1);
  size_t sent = r < 0 ? 0 : (size_t)r;
  while (r >= 0 && sent < len) {
    ssize_t n = send(sock, payload + sent, len - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) r = -1;
    else sent += (size_t)n;
  }
  int e = errno;
  close(sock);
  free(payload);
  if (r < 0) {
    snprintf(msg, sizeof msg, "send to %s", what);
    return throw_errno(env, e, msg);
  }
  return NULL;
}

/* listen(path) -> fd: a SOCK_SEQPACKET unix socket, mode 0600 */
static napi_value js_listen(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  get_args(env, info, 1, argv);
  struct sockaddr_un addr;
  if (unix_addr(env, argv[0], &addr) < 0) return throw_errno(env, ENAMETOOLONG, "warm socket path");
  int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (s < 0) return throw_errno(env, errno, "socket");
  unlink(addr.sun_path);
  mode_t old = umask(0177);
  int r = bind(s, (struct sockaddr *)&addr, sizeof addr);
  umask(old);
  if (r < 0 || listen(s, 64) < 0) {
    int e = errno;
    close(s);
    return throw_errno(env, e, "bind warm socket");
  }
  return make_i32(env, s);
}

/* accept(fd, timeoutMs) -> fd, or -1 on timeout */
static napi_value js_accept(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  get_args(env, info, 2, argv);
  int fd = arg_i32(env, argv[0]);
  struct pollfd p = {.fd = fd, .events = POLLIN};
  int r;
  do r = poll(&p, 1, arg_i32(env, argv[1]));
  while (r < 0 && errno == EINTR);
  if (r < 0) return throw_errno(env, errno, "poll");
  if (r == 0) return make_i32(env, -1);
  int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
  if (c < 0) return throw_errno(env, errno, "accept");
  return make_i32(env, c);
}

/* peerUid(fd) -> uid of the connected process */
static napi_value js_peer_uid(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  get_args(env, info, 1, argv);
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(arg_i32(env, argv[0]), SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) return throw_errno(env, errno, "SO_PEERCRED");
  return make_i32(env, (int32_t)cred.uid);
}

/* peerCred(fd) -> [pid, uid, gid] of the process that connected (SO_PEERCRED) */
static napi_value js_peer_cred(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  get_args(env, info, 1, argv);
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(arg_i32(env, argv[0]), SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) return throw_errno(env, errno, "SO_PEERCRED");
  napi_value arr;
  CHECK(napi_create_array_with_length(env, 3, &arr));
  napi_set_element(env, arr, 0, make_i32(env, (int32_t)cred.pid));
  napi_set_element(env, arr, 1, make_i32(env, (int32_t)cred.uid));
  napi_set_element(env, arr, 2, make_i32(env, (int32_t)cred.gid));
  return arr;
}

/* sendPacket(fd, data: Buffer, fds: number[]) */
static napi_value js_send_packet(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  get_args(env, info, 3, argv);
  int fd = arg_i32(env, argv[0]);
  void *data;
  size_t len;
  CHECK(napi_get_buffer_info(env, argv[1], &data, &len));
  uint32_t nfds = 0;
  napi_get_array_length(env, argv[2], &nfds);
  if (nfds > 16) return throw_errno(env, EINVAL, "sendPacket: too many fds");
  int fds[16];
  for (uint32_t i = 0; i < nfds; i++) {
    napi_value v;
    napi_get_element(env, argv[2], i, &v);
    fds[i] = arg_i32(env, v);
  }
  if (berth_send_fds(fd, data, len, fds, (int)nfds) < 0) return throw_errno(env, errno, "sendPacket");
  return NULL;
}

/* recvPacket(fd, timeoutMs) -> {data: Buffer, fds: number[]} | null on EOF */
static napi_value js_recv_packet(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  get_args(env, info, 2, argv);
  int fd = arg_i32(env, argv[0]);
  struct pollfd p = {.fd = fd, .events = POLLIN};
  int r;
  do r = poll(&p, 1, arg_i32(env, argv[1]));
  while (r < 0 && errno == EINTR);
  if (r < 0) return throw_errno(env, errno, "poll");
  if (r == 0) return throw_errno(env, ETIMEDOUT, "recvPacket");
  static char buf[1 << 20];
  struct iovec iov = {.iov_base = buf, .iov_len = sizeof buf};
  union {
    char b[CMSG_SPACE(sizeof(int) * 16)];
    struct cmsghdr align;
  } u;
  struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof u.b};
  ssize_t n;
  do n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0) return throw_errno(env, errno, "recvPacket");
  napi_value obj;
  if (n == 0) {
    napi_get_null(env, &obj);
    return obj;
  }
  napi_create_object(env, &obj);
  napi_value data;
  void *out;
  napi_create_buffer_copy(env, (size_t)n, buf, &out, &data);
  napi_set_named_property(env, obj, "data", data);
  napi_value arr;
  napi_create_array(env, &arr);
  uint32_t k = 0;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      size_t cnt = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < cnt; i++) {
        int x;
        memcpy(&x, CMSG_DATA(c) + i * sizeof(int), sizeof x);
        napi_set_element(env, arr, k++, make_i32(env, x));
      }
    }
  napi_set_named_property(env, obj, "fds", arr);
  return obj;
}

/* umount(path, flags) */
static napi_value js_umount(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  get_args(env, info, 2, argv);
  char path[4096];
  size_t len;
  CHECK(napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len));
  if (umount2(path, arg_i32(env, argv[1])) < 0) return throw_errno(env, errno, "umount");
  return NULL;
}

/* setSubreaper() */
static napi_value js_set_subreaper(napi_env env, napi_callback_info info) {
  (void)info;
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) return throw_errno(env, errno, "set child subreaper");
  return NULL;
}

/* setWinsize(fd, rows, cols) */
static napi_value js_set_winsize(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  get_args(env, info, 3, argv);
  struct winsize ws = {.ws_row = (unsigned short)arg_i32(env, argv[1]), .ws_col = (unsigned short)arg_i32(env, argv[2])};
  if (ioctl(arg_i32(env, argv[0]), TIOCSWINSZ, &ws) < 0) return throw_errno(env, errno, "set window size");
  return NULL;
}

/* setRaw(fd, raw): raw mode on a terminal for an attached `run -t`; returns nothing */
static struct termios saved_termios;
static int saved_fd = -1;
static napi_value js_set_raw(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  get_args(env, info, 2, argv);
  int fd = arg_i32(env, argv[0]);
  bool raw = false;
  napi_get_value_bool(env, argv[1], &raw);
  if (raw) {
    struct termios t;
    if (tcgetattr(fd, &t) < 0) return throw_errno(env, errno, "tcgetattr");
    saved_termios = t;
    saved_fd = fd;
    cfmakeraw(&t);
    if (tcsetattr(fd, TCSANOW, &t) < 0) return throw_errno(env, errno, "tcsetattr");
  } else if (saved_fd >= 0) {
    tcsetattr(saved_fd, TCSANOW, &saved_termios);
    saved_fd = -1;
  }
  return NULL;
}

/* setBlocking(fd, blocking) */
static napi_value js_set_blocking(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  get_args(env, info, 2, argv);
  int fd = arg_i32(env, argv[0]);
  bool blocking = true;
  napi_get_value_bool(env, argv[1], &blocking);
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0) return throw_errno(env, errno, "fcntl");
  fl = blocking ? (fl & ~O_NONBLOCK) : (fl | O_NONBLOCK);
  if (fcntl(fd, F_SETFL, fl) < 0) return throw_errno(env, errno, "fcntl");
  return NULL;
}

/* the path argument i into buf (PATH_MAX); false after throwing */
static bool arg_path(napi_env env, napi_value v, char *buf, size_t size) {
  size_t len;
  if (napi_get_value_string_utf8(env, v, buf, size, &len) != napi_ok || len + 1 >= size) {
    napi_throw_error(env, "ENAMETOOLONG", "path too long or not a string");
    return false;
  }
  return true;
}

/* mknod(path, mode, major, minor): mode carries the file type (S_IFCHR, S_IFBLK, S_IFIFO) */
static napi_value js_mknod(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  get_args(env, info, 4, argv);
  char path[4096];
  if (!arg_path(env, argv[0], path, sizeof path)) return NULL;
  dev_t dev = makedev((unsigned)arg_i32(env, argv[2]), (unsigned)arg_i32(env, argv[3]));
  if (mknod(path, (mode_t)arg_i32(env, argv[1]), dev) < 0) return throw_errno(env, errno, "mknod");
  return NULL;
}

/* lsetxattr(path, name, value: Buffer) */
static napi_value js_lsetxattr(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  get_args(env, info, 3, argv);
  char path[4096], name[256];
  if (!arg_path(env, argv[0], path, sizeof path) || !arg_path(env, argv[1], name, sizeof name)) return NULL;
  void *data = NULL;
  size_t len = 0;
  CHECK(napi_get_buffer_info(env, argv[2], &data, &len));
  if (lsetxattr(path, name, data, len, 0) < 0) return throw_errno(env, errno, "lsetxattr");
  return NULL;
}

/* lgetxattr(path, name): Buffer, or null when the attribute is absent */
static napi_value js_lgetxattr(napi_env env, napi_callback_info info) {
  napi_value argv[2], out;
  get_args(env, info, 2, argv);
  char path[4096], name[256];
  if (!arg_path(env, argv[0], path, sizeof path) || !arg_path(env, argv[1], name, sizeof name)) return NULL;
  static char value[65536];
  ssize_t n = lgetxattr(path, name, value, sizeof value);
  if (n < 0 && errno == ENODATA) {
    napi_get_null(env, &out);
    return out;
  }
  if (n < 0) return throw_errno(env, errno, "lgetxattr");
  void *dst;
  CHECK(napi_create_buffer_copy(env, (size_t)n, value, &dst, &out));
  return out;
}

/* llistxattr(path): the attribute names */
static napi_value js_llistxattr(napi_env env, napi_callback_info info) {
  napi_value argv[1], out, s;
  get_args(env, info, 1, argv);
  char path[4096];
  if (!arg_path(env, argv[0], path, sizeof path)) return NULL;
  static char names[65536];
  ssize_t n = llistxattr(path, names, sizeof names);
  if (n < 0 && (errno == ENOTSUP)) n = 0;
  if (n < 0) return throw_errno(env, errno, "llistxattr");
  CHECK(napi_create_array(env, &out));
  uint32_t i = 0;
  for (ssize_t off = 0; off < n;) {
    size_t len = strlen(names + off);
    if (len > 0) {
      napi_create_string_utf8(env, names + off, len, &s);
      napi_set_element(env, out, i++, s);
    }
    off += (ssize_t)len + 1;
  }
  return out;
}

/* mount(source, target, fstype, flags, data) */
static napi_value js_mount(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  get_args(env, info, 5, argv);
  static char source[4096], target[4096], fstype[64], data[8192];
  if (!arg_path(env, argv[0], source, sizeof source) || !arg_path(env, argv[1], target, sizeof target) ||
      !arg_path(env, argv[2], fstype, sizeof fstype) || !arg_path(env, argv[4], data, sizeof data))
    return NULL;
  double flags = 0;
  napi_get_value_double(env, argv[3], &flags);
  if (mount(source, target, fstype[0] ? fstype : NULL, (unsigned long)flags, data[0] ? data : NULL) < 0)
    return throw_errno(env, errno, "mount");
  return NULL;
}

/* flock(fd, op): LOCK_SH 1, LOCK_EX 2, LOCK_NB 4, LOCK_UN 8; false when LOCK_NB finds it held */
static napi_value js_flock(napi_env env, napi_callback_info info) {
  napi_value argv[2], out;
  get_args(env, info, 2, argv);
  int r = flock(arg_i32(env, argv[0]), arg_i32(env, argv[1]));
  if (r < 0 && errno == EWOULDBLOCK) {
    napi_get_boolean(env, false, &out);
    return out;
  }
  if (r < 0) return throw_errno(env, errno, "flock");
  napi_get_boolean(env, true, &out);
  return out;
}

/* bpf(2); attr is zeroed by the caller, so fields this kernel does not know stay zero */
static int sys_bpf(int cmd, union bpf_attr *attr) {
  long r;
  do r = syscall(__NR_bpf, cmd, attr, sizeof *attr);
  while (r < 0 && errno == EINTR);
  return (int)r;
}

/* bpfProgLoad(insns: Buffer, license) -> fd of a BPF_PROG_TYPE_CGROUP_DEVICE program; when the
 * kernel refuses it, it is loaded again with a verifier log, whose text goes into the error */
static napi_value js_bpf_prog_load(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  get_args(env, info, 2, argv);
  void *insns = NULL;
  size_t len = 0;
  CHECK(napi_get_buffer_info(env, argv[0], &insns, &len));
  char license[128];
  if (!arg_path(env, argv[1], license, sizeof license)) return NULL;
  if (len == 0 || len % sizeof(struct bpf_insn) != 0)
    return throw_errno(env, EINVAL, "bpf(BPF_PROG_LOAD): the program is not a whole number of instructions");
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  attr.insns = (uint64_t)(uintptr_t)insns;
  attr.insn_cnt = (uint32_t)(len / sizeof(struct bpf_insn));
  attr.license = (uint64_t)(uintptr_t)license;
  /* the name bpftool shows (kernel 4.15+, as old as the program type) */
  strncpy(attr.prog_name, "berth_devices", sizeof attr.prog_name - 1);
  int fd, tries = 0;
  /* the verifier gives up with EAGAIN when a signal is pending: try again a few times */
  do fd = sys_bpf(BPF_PROG_LOAD, &attr);
  while (fd < 0 && errno == EAGAIN && ++tries < 5);
  if (fd >= 0) return make_i32(env, fd);
  int err = errno;
  char what[96];
  snprintf(what, sizeof what, "bpf(BPF_PROG_LOAD) of %u instructions", attr.insn_cnt);
  /* without privilege (EPERM) the verifier does not run: there is no log to fetch */
  if (err == EPERM) return throw_errno(env, err, what);
  const size_t log_size = 1 << 20;
  char *log = calloc(1, log_size);
  if (!log) return throw_errno(env, err, what);
  attr.log_level = 1;
  attr.log_buf = (uint64_t)(uintptr_t)log;
  attr.log_size = (uint32_t)log_size;
  fd = sys_bpf(BPF_PROG_LOAD, &attr);
  if (fd >= 0) {
    /* the refusal was transient: keep the program */
    free(log);
    return make_i32(env, fd);
  }
  size_t n = strnlen(log, log_size);
  while (n > 0 && (log[n - 1] == '\n' || log[n - 1] == ' ')) n--;
  char *text = malloc(sizeof what + n + 32);
  if (text) snprintf(text, sizeof what + n + 32, "%s: verifier log: %.*s", what, (int)n, log);
  free(log);
  throw_errno(env, err, text && n > 0 ? text : what);
  free(text);
  return NULL;
}

/* bpfProgAttach(cgroupFd, progFd, flags): BPF_PROG_ATTACH as BPF_CGROUP_DEVICE */
static napi_value js_bpf_prog_attach(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  get_args(env, info, 3, argv);
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.target_fd = (uint32_t)arg_i32(env, argv[0]);
  attr.attach_bpf_fd = (uint32_t)arg_i32(env, argv[1]);
  attr.attach_type = BPF_CGROUP_DEVICE;
  attr.attach_flags = (uint32_t)arg_i32(env, argv[2]);
  if (sys_bpf(BPF_PROG_ATTACH, &attr) < 0) return throw_errno(env, errno, "bpf(BPF_PROG_ATTACH)");
  return NULL;
}

/* bpfProgDetach(cgroupFd, progFd): BPF_PROG_DETACH of that BPF_CGROUP_DEVICE program */
static napi_value js_bpf_prog_detach(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  get_args(env, info, 2, argv);
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.target_fd = (uint32_t)arg_i32(env, argv[0]);
  attr.attach_bpf_fd = (uint32_t)arg_i32(env, argv[1]);
  attr.attach_type = BPF_CGROUP_DEVICE;
  if (sys_bpf(BPF_PROG_DETACH, &attr) < 0) return throw_errno(env, errno, "bpf(BPF_PROG_DETACH)");
  return NULL;
}

/* bpfProgQuery(cgroupFd) -> ids of the BPF_CGROUP_DEVICE programs attached to the cgroup itself */
static napi_value js_bpf_prog_query(napi_env env, napi_callback_info info) {
  napi_value argv[1], out;
  get_args(env, info, 1, argv);
  int cg = arg_i32(env, argv[0]);
  uint32_t cap = 64, *ids = NULL;
  union bpf_attr attr;
  for (;;) {
    uint32_t *grown = realloc(ids, cap * sizeof *ids);
    if (!grown) {
      free(ids);
      return throw_errno(env, ENOMEM, "bpf(BPF_PROG_QUERY)");
    }
    ids = grown;
    memset(&attr, 0, sizeof attr);
    attr.query.target_fd = (uint32_t)cg;
    attr.query.attach_type = BPF_CGROUP_DEVICE;
    attr.query.prog_ids = (uint64_t)(uintptr_t)ids;
    attr.query.prog_cnt = cap;
    if (sys_bpf(BPF_PROG_QUERY, &attr) == 0) break;
    /* more programs than room: prog_cnt says how many there are */
    if (errno == ENOSPC && attr.query.prog_cnt > cap) {
      cap = attr.query.prog_cnt;
      continue;
    }
    int err = errno;
    free(ids);
    return throw_errno(env, err, "bpf(BPF_PROG_QUERY)");
  }
  napi_create_array_with_length(env, attr.query.prog_cnt, &out);
  for (uint32_t i = 0; i < attr.query.prog_cnt; i++) {
    napi_value id;
    napi_create_uint32(env, ids[i], &id);
    napi_set_element(env, out, i, id);
  }
  free(ids);
  return out;
}

/* bpfProgGetFdById(id) -> fd of that program */
static napi_value js_bpf_prog_get_fd_by_id(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  get_args(env, info, 1, argv);
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  uint32_t id = 0;
  napi_get_value_uint32(env, argv[0], &id);
  attr.prog_id = id;
  int fd = sys_bpf(BPF_PROG_GET_FD_BY_ID, &attr);
  if (fd < 0) return throw_errno(env, errno, "bpf(BPF_PROG_GET_FD_BY_ID)");
  return make_i32(env, fd);
}

/* what netns_child did, in the parent's memory (CLONE_VM) */
struct netns_job {
  const char *path;
  const char *step;
  int err;
};

/* In a child sharing our memory: a new network namespace, its lo up (the kernel gives it
 * 127.0.0.1 and ::1), kept alive by a bind mount of the child's ns/net on the file. */
static int netns_child(void *arg) {
  struct netns_job *job = arg;
  job->step = "unshare(CLONE_NEWNET)";
  if (unshare(CLONE_NEWNET) < 0) goto fail;
  job->step = "bring up lo";
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) goto fail;
  struct ifreq req;
  memset(&req, 0, sizeof req);
  strcpy(req.ifr_name, "lo");
  if (ioctl(s, SIOCGIFFLAGS, &req) < 0) goto fail;
  req.ifr_flags |= IFF_UP;
  if (ioctl(s, SIOCSIFFLAGS, &req) < 0) goto fail;
  close(s);
  job->step = "bind-mount /proc/self/ns/net";
  if (mount("/proc/self/ns/net", job->path, NULL, MS_BIND, NULL) < 0) goto fail;
  job->err = 0;
  _exit(0);
fail:
  job->err = errno;
  _exit(1);
}

/* netnsCreate(path): a new network namespace with lo up, bind-mounted on the existing file
 * `path` (as `ip netns add` does), made by a short-lived child: unshare in Node's own thread
 * would move that thread. CLONE_VFORK: we are back once the child has exited (~1 ms). */
static napi_value js_netns_create(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  get_args(env, info, 1, argv);
  char path[4096];
  if (!arg_path(env, argv[0], path, sizeof path)) return NULL;
  struct netns_job job = {path, "clone", EINVAL};
  size_t size = 64 * 1024;
  char *stack = malloc(size);
  if (!stack) return throw_errno(env, ENOMEM, "create network namespace");
  /* no signal handler of Node's may run on the child's side of our shared memory */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t pid = clone(netns_child, stack + size, CLONE_VM | CLONE_VFORK, &job);
  int clone_err = errno;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (pid < 0) {
    free(stack);
    return throw_errno(env, clone_err, "create network namespace: clone");
  }
  while (waitpid(pid, NULL, __WALL) < 0 && errno == EINTR) {
  }
  free(stack);
  if (job.err) {
    char what[4200];
    snprintf(what, sizeof what, "create network namespace at %s: %s", path, job.step);
    return throw_errno(env, job.err, what);
  }
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  struct {
    const char *name;
    napi_callback fn;
  } fns[] = {
      {"spawn", js_spawn},
      {"waitpid", js_waitpid},       {"mkfifo", js_mkfifo},     {"sendFd", js_send_fd},
      {"setSubreaper", js_set_subreaper}, {"setWinsize", js_set_winsize}, {"setRaw", js_set_raw},
      {"setBlocking", js_set_blocking}, {"umount", js_umount}, {"listen", js_listen}, {"accept", js_accept},
      {"peerUid", js_peer_uid}, {"peerCred", js_peer_cred}, {"sendPacket", js_send_packet}, {"recvPacket", js_recv_packet},
      {"mknod", js_mknod}, {"lsetxattr", js_lsetxattr}, {"lgetxattr", js_lgetxattr}, {"llistxattr", js_llistxattr},
      {"mount", js_mount}, {"flock", js_flock}, {"bpfProgLoad", js_bpf_prog_load},
      {"bpfProgAttach", js_bpf_prog_attach}, {"bpfProgDetach", js_bpf_prog_detach},
      {"bpfProgQuery", js_bpf_prog_query}, {"bpfProgGetFdById", js_bpf_prog_get_fd_by_id},
      {"netnsCreate", js_netns_create},
  };
  for (size_t i = 0; i < sizeof fns / sizeof *fns; i++) {
    napi_value f;
    napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f);
    napi_set_named_property(env, exports, fns[i].name, f);
  }
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
