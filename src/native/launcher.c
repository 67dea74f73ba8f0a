/*
 * bin/berth-runtime: the launcher of the berth-runtime CLI. It records the
 * RLIMIT_NOFILE the caller gave us before Node raises it (the container
 * inherits the caller's limit, as with runc), drops NODE_EXTRA_CA_CERTS (it
 * costs Node 50-80 ms at start and a runtime never needs it), and execs Node on
 * the bundled CLI next to this binary. A shell script did this with three forks.
 *
 * When `berth-runtime warm` serves (src/cli/runtime/warm.ts), the launcher is
 * its client instead: it sends the command line, cwd, umask, environment and
 * stdio, forks the plans the server sends (so the container stays the caller's
 * descendant) and waits for attached processes. Otherwise, or when the server
 * is busy or declines, it runs the CLI cold as below.
 *
 * On the default socket (root: /run/berth-runtime.warm.sock; anyone else:
 * $XDG_RUNTIME_DIR/berth-runtime.warm.sock) a launcher that finds no server
 * starts one, detached, and hands it its own request over a private socket
 * pair, so the first call costs what a cold call costs; the server then stays
 * for BERTH_RUNTIME_WARM_IDLE seconds (default 0: never start one; opt-in).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#include "executor.h"

pid_t berth_spawn(const uint8_t *plan, int *parent_fd);

/* Frames shared with src/cli/runtime/warm.ts */
enum { F_ACK = 1, F_SPAWN = 2, F_WAIT = 3, F_EXIT = 4, F_COLD = 5, F_SPAWNED = 6, F_WAITED = 7, F_STDIO = 8 };
#define WARM_SOCKET "/run/berth-runtime.warm.sock"
#define WARM_NAME "berth-runtime.warm.sock"
/* a busy server (one request at a time) must not stall us: past this, run cold */
#define ACK_TIMEOUT_MS 200
/*
 * Off unless asked for: a server started from a call is reparented to the
 * caller's child subreaper, and conmon does not exit while it has children,
 * so each container's conmon would live until the server idled out.
 */
#define DEFAULT_IDLE_S 0

static char nofile_env[72];
/*
 * Our own fds (the server socket, /proc/self, the proof, socket pairs) live at
 * or above this: fds 3 .. 3+N-1 are the caller's for `--preserve-fds N`, and
 * the executor makes them inheritable in the container, so one of ours that
 * landed in a gap there would reach the container (a socket to the server, a
 * host /proc directory: CVE-2024-21626's class).
 */
static int fd_floor = 3;

/* `fd` moved to fd_floor or above (close-on-exec); -1 (and `fd` closed) when that fails. */
static int lift(int fd) {
  if (fd < 0 || fd >= fd_floor) return fd;
  int high = fcntl(fd, F_DUPFD_CLOEXEC, fd_floor);
  close(fd);
  return high;
}

/*
 * Fill the gaps the caller left in 3 .. fd_floor-1 with /dev/null, inherited
 * by Node: otherwise Node's own fds (epoll, its pipes) land there and the
 * executor passes them to the container as "preserved". The executor closes
 * the ones named in BERTH_FD_PLACEHOLDERS before the container's execve, so
 * the container sees the caller's gaps as gaps.
 */
static void hold_gaps(void) {
  static char list[8192];
  size_t k = 0;
  list[0] = 0;
  for (int fd = 3; fd < fd_floor; fd++) {
    if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF) continue;
    int p = open("/dev/null", O_RDONLY);
    if (p < 0) break;
    if (p != fd) {
      if (dup2(p, fd) < 0) {
        close(p);
        continue;
      }
      close(p);
    }
    int w = snprintf(list + k, sizeof list - k, "%s%d", k ? "," : "", fd);
    if (w < 0 || (size_t)w >= sizeof list - k) break;
    k += (size_t)w;
  }
  if (k) setenv("BERTH_FD_PLACEHOLDERS", list, 1);
  else unsetenv("BERTH_FD_PLACEHOLDERS");
}

/* 3 + the largest --preserve-fds N on the command line (the runtime's flag, before or after the subcommand). */
static int preserve_floor(int argc, char **argv) {
  long most = 0;
  for (int i = 1; i < argc; i++) {
    const char *v = NULL;
    if (strcmp(argv[i], "--preserve-fds") == 0 && i + 1 < argc)
      v = argv[i + 1];
    else if (strncmp(argv[i], "--preserve-fds=", 15) == 0)
      v = argv[i] + 15;
    if (!v) continue;
    char *end;
    long n = strtol(v, &end, 10);
    if (*end == 0 && n > most) most = n;
  }
  if (most > 65536) most = 65536;
  return 3 + (int)most;
}
/* realpath of this binary: the server serves only its own build */
static char exe[PATH_MAX];

static int send_frame(int s, uint32_t type, const char *payload, int fd) {
  char buf[64];
  size_t len = payload ? strlen(payload) : 0;
  if (len > sizeof buf - 4) len = sizeof buf - 4;
  memcpy(buf, &type, 4);
  if (len) memcpy(buf + 4, payload, len);
  return berth_send_fds(s, buf, 4 + len, &fd, fd >= 0 ? 1 : 0) < 0 ? -1 : 0;
}

/* JSON string escaping for the request; 0 when it does not fit */
static size_t json_str(char *out, size_t cap, const char *s) {
  size_t k = 0;
  if (cap < 2) return 0;
  out[k++] = '"';
  for (; *s; s++) {
    if (k + 8 >= cap) return 0;
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\') {
      out[k++] = '\\';
      out[k++] = (char)ch;
    } else if (ch < 0x20) {
      k += (size_t)snprintf(out + k, cap - k, "\\u%04x", ch);
    } else
      out[k++] = (char)ch;
  }
  out[k++] = '"';
  return k;
}

static pid_t waited_pid;
static void forward(int sig) {
  if (waited_pid > 0) kill(waited_pid, sig);
}

/*
 * The request: {"argv":[...],"cwd":"...","umask":N,"nofile":"soft:hard",
 * "exe":"...","env":[...]}. 0 when it does not fit (then run cold).
 */
static size_t build_request(char *req, size_t cap, int argc, char **argv) {
  char cwd[PATH_MAX];
  if (!getcwd(cwd, sizeof cwd)) return 0;
  mode_t um = umask(0);
  umask(um);
  size_t k = 0, n;
#define PUT(...)                                         \
  do {                                                   \
    int w = snprintf(req + k, cap - k, __VA_ARGS__);     \
    if (w < 0 || (size_t)w >= cap - k) return 0;         \
    k += (size_t)w;                                      \
  } while (0)
#define STR(s)                                          \
  do {                                                  \
    if (!(n = json_str(req + k, cap - k, (s)))) return 0; \
    k += n;                                             \
  } while (0)
  PUT("{\"argv\":[");
  for (int i = 1; i < argc; i++) {
    if (i > 1) PUT(",");
    STR(argv[i]);
  }
  PUT("],\"cwd\":");
  STR(cwd);
  PUT(",\"umask\":%u,\"nofile\":\"%s\",\"exe\":", (unsigned)um, nofile_env);
  STR(exe);
  PUT(",\"env\":[");
  for (char **e = environ; e && *e; e++) {
    if (e != environ) PUT(",");
    STR(*e);
  }
  PUT("]}");
#undef PUT
#undef STR
  return k;
}

/*
 * One request over a connected SOCK_SEQPACKET socket to a Node server (the
 * shared warm one, or one this launcher just started): send it with our stdio
 * and the `extra` fds, then do what it asks. Returns the exit code, or -1 when
 * the server declined (run the CLI cold), -2 when it must run in the caller's
 * place (no server can serve it). ack_timeout_ms < 0 waits for the
 * server however long it takes to start.
 */
static int session(int s, int argc, char **argv, const int *extra, int nextra, int ack_timeout_ms) {
  static char req[256 * 1024];
  size_t k = build_request(req, sizeof req, argc, argv);
  if (!k) {
    close(s);
    return -1;
  }
  /* the request, with the `extra` fds (our /proc/self and the proof) only: our stdio goes
   * after the server's ack, so a busy server that never takes the request does not hold
   * the caller's pipes open (containerd-shim and conmon wait for them to close) */
  if (berth_send_fds(s, req, k, extra, nextra) < 0) {
    close(s);
    return -1;
  }
  struct pollfd p = {.fd = s, .events = POLLIN};
  if (poll(&p, 1, ack_timeout_ms) <= 0) {
    close(s);
    return -1;
  }
  static uint8_t buf[1 << 20];
  int acted = 0;
  for (;;) {
    ssize_t n;
    /* MSG_TRUNC: the real length, so a frame that does not fit is refused, never used cut short */
    do n = recv(s, buf, sizeof buf - 1, MSG_TRUNC);
    while (n < 0 && errno == EINTR);
    if (n >= (ssize_t)sizeof buf - 1) {
      close(s);
      fprintf(stderr, "berth-runtime: a frame from the warm runtime is over %zu bytes\n", sizeof buf - 1);
      return 1;
    }
    if (n < 4) {
      close(s);
      if (!acted) return -1;
      fprintf(stderr, "berth-runtime: the warm runtime went away during the request\n");
      return 1;
    }
    buf[n] = 0;
    uint32_t type;
    memcpy(&type, buf, 4);
    const char *payload = (const char *)buf + 4;
    switch (type) {
      case F_ACK: {
        int stdio[3] = {0, 1, 2};
        if (berth_send_fds(s, "\x08\0\0\0", 4, stdio, 3) < 0) {
          close(s);
          return -1;
        }
        break;
      }
      case F_COLD:
        /* "local": the CLI must run in the caller's place (an attached terminal, stdin) */
        close(s);
        return strcmp(payload, "local") == 0 ? -2 : -1;
      case F_SPAWN: {
        acted = 1;
        /* the plan must stay where the child can read it: copy into an aligned buffer */
        static uint64_t plan[(1 << 20) / 8];
        memcpy(plan, buf + 4, (size_t)n - 4);
        int pfd = -1;
        pid_t pid = berth_spawn((const uint8_t *)plan, &pfd);
        char num[24];
        if (pid < 0) {
          snprintf(num, sizeof num, "%d", -errno);
          send_frame(s, F_SPAWNED, num, -1);
          break;
        }
        /* stage 1 only joins namespaces and clones the init: reap it here */
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
        }
        snprintf(num, sizeof num, "%d", pid);
        send_frame(s, F_SPAWNED, num, pfd);
        close(pfd);
        break;
      }
      case F_WAIT: {
        acted = 1;
        waited_pid = (pid_t)atoi(payload);
        int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = forward;
        for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) sigaction(sigs[i], &sa, NULL);
        int status = 0;
        while (waitpid(waited_pid, &status, 0) < 0 && errno == EINTR) {
        }
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        char num[24];
        snprintf(num, sizeof num, "%d", code);
        send_frame(s, F_WAITED, num, -1);
        break;
      }
      case F_EXIT:
        close(s);
        return atoi(payload);
      default:
        break;
    }
  }
}

/* Where the warm server listens, and whether this launcher may start one there. */
struct target {
  char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
  int may_start;
};

/* Whether we are the host's root, not root of a user namespace (rootless podman): uid_map is the identity. */
static int host_root(void) {
  char buf[128];
  int fd = open("/proc/self/uid_map", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  unsigned long a = 1, b = 1, c = 0;
  char rest[8] = "";
  return sscanf(buf, " %lu %lu %lu %7s", &a, &b, &c, rest) == 3 && a == 0 && b == 0 && c == 4294967295UL;
}

/* The directory of a socket path (a static buffer). */
static const char *xdg_dir_of(const char *path) {
  static char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash && slash != dir) *slash = 0;
  return dir;
}

static int warm_target(struct target *t) {
  const char *explicit = getenv("BERTH_RUNTIME_WARM_SOCKET");
  t->may_start = 0;
  if (explicit && *explicit) {
    if (strlen(explicit) >= sizeof t->path) return -1;
    strcpy(t->path, explicit);
    return 0;
  }
  if (geteuid() == 0 && host_root()) {
    strcpy(t->path, WARM_SOCKET);
    /* a /run we cannot write (a read-only or foreign /run): no server to start there */
    t->may_start = access("/run", W_OK) == 0;
    return 0;
  } else {
    /* only a runtime dir that is really ours: anyone else could listen there */
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    struct stat st;
    if (!xdg || xdg[0] != '/' || lstat(xdg, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022))
      return -1;
    int w = snprintf(t->path, sizeof t->path, "%s/%s", xdg, WARM_NAME);
    if (w < 0 || (size_t)w >= sizeof t->path) return -1;
  }
  t->may_start = access(xdg_dir_of(t->path), W_OK) == 0;
  return 0;
}

/*
 * The proof that we may use the server: an fd of the server's own (an unlinked
 * file named in "<socket>.lock"), reopened through /proc/<pid>/fd. The kernel
 * lets only a process that may ptrace-read the server open it (same uids and
 * gids, a superset of its capabilities, LSM ptrace rules), so a caller that
 * dropped privileges the server holds cannot borrow them.
 */
static int open_proof(const char *path) {
  char lock[PATH_MAX], text[64];
  snprintf(lock, sizeof lock, "%s.lock", path);
  int fd = open(lock, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return -1;
  ssize_t n = read(fd, text, sizeof text - 1);
  close(fd);
  if (n <= 0) return -1;
  text[n] = 0;
  int pid = 0, num = -1;
  if (sscanf(text, "%d %d", &pid, &num) != 2 || pid <= 0 || num < 0) return -1;
  char where[64];
  snprintf(where, sizeof where, "/proc/%d/fd/%d", pid, num);
  /* O_PATH: nothing is read (a pid reused by a fifo's holder must not block us); the
   * magic link is still followed only with ptrace-read access */
  return open(where, O_PATH | O_CLOEXEC);
}

/*
 * The shared warm server, if one listens at t->path. *no_server is set when
 * nobody listens there (no socket, or a stale one), so we may start one.
 */
static int try_warm(const struct target *t, int argc, char **argv, int *no_server) {
  *no_server = 0;
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  strcpy(addr.sun_path, t->path);
  int s = lift(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (s < 0) return -1;
  /* non-blocking: a server whose backlog is full (busy) answers EAGAIN at once, and we run cold */
  if (connect(s, (struct sockaddr *)&addr, sizeof addr) < 0) {
    *no_server = errno == ENOENT || errno == ECONNREFUSED;
    close(s);
    return -1;
  }
  int fl = fcntl(s, F_GETFL);
  if (fl < 0 || fcntl(s, F_SETFL, fl & ~O_NONBLOCK) < 0) {
    close(s);
    return -1;
  }
  /* only a server of our own uid gets our environment and may have us fork its plans */
  struct ucred cred;
  socklen_t clen = sizeof cred;
  if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0 || cred.uid != geteuid()) {
    close(s);
    return -1;
  }
  /* who we are (the server reads our namespaces and cgroup itself) and the proof */
  int self = lift(open("/proc/self", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  int proof = lift(open_proof(t->path));
  if (self < 0 || proof < 0) {
    if (self >= 0) close(self);
    if (proof >= 0) close(proof);
    close(s);
    return -1;
  }
  int extra[2] = {self, proof};
  int code = session(s, argc, argv, extra, 2, ACK_TIMEOUT_MS);
  close(self);
  close(proof);
  return code;
}

static void close_from(int lowest) {
#ifdef SYS_close_range
  if (syscall(SYS_close_range, (unsigned)lowest, ~0U, 0) == 0) return;
#endif
  DIR *d = opendir("/proc/self/fd");
  if (!d) return;
  int skip = dirfd(d);
  struct dirent *e;
  while ((e = readdir(d))) {
    int fd = atoi(e->d_name);
    if (e->d_name[0] != '.' && fd >= lowest && fd != skip) close(fd);
  }
  closedir(d);
}

static void exec_node(char **args) {
  const char *node = getenv("BERTH_NODE");
  if (node && *node)
    execv(node, args);
  else
    execvp("node", args);
}

/*
 * No server on the default socket: start one, detached from the caller, and
 * serve this request through it over a socket pair (as a cold call does
 * through a private child), so the first call costs no more than a cold one.
 * It is nobody's child (double fork; under a child subreaper such as
 * containerd-shim or conmon it is reparented to that one), leads its own
 * session, runs in /, and holds none of the caller's fds: a caller that waits
 * for the runtime's stdio to close (conmon, containerd-shim) is not held up by
 * it. Two launchers racing here start two servers; the one that loses the
 * socket's lock serves its own launcher and exits.
 */
static int try_start(const struct target *t, int argc, char **argv, const char *bundle, long idle) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) return -1;
  pid_t mid = fork();
  if (mid < 0) {
    close(sv[0]);
    close(sv[1]);
    return -1;
  }
  if (mid == 0) {
    if (fork() != 0) _exit(0);
    setsid();
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    for (int sig = 1; sig < NSIG; sig++)
      if (sig != SIGKILL && sig != SIGSTOP) signal(sig, SIG_DFL);
    if (chdir("/") < 0) _exit(127);
    /* the server's end of the pair becomes fd 3, stdio /dev/null; every other fd of the caller's is closed */
    if (sv[1] == 3) {
      fcntl(3, F_SETFD, 0);
    } else if (dup2(sv[1], 3) < 0)
      _exit(127);
    int null = open("/dev/null", O_RDWR);
    if (null < 0) _exit(127);
    for (int fd = 0; fd < 3; fd++)
      if (fd != null) dup2(null, fd);
    close_from(4);
    char idle_s[24];
    snprintf(idle_s, sizeof idle_s, "%ld", idle);
    char *args[] = {"node", (char *)bundle, "warm", "--socket", (char *)t->path, "--idle-timeout", idle_s, "--serve-fd", "3", NULL};
    exec_node(args);
    _exit(127);
  }
  close(sv[1]);
  while (waitpid(mid, NULL, 0) < 0 && errno == EINTR) {
  }
  int s = lift(sv[0]);
  if (s < 0) return -1;
  return session(s, argc, argv, NULL, 0, -1);
}

/*
 * No warm server: start Node as our child and serve this one request the same
 * way, so that the forks of the container still come from this small process
 * (forking Node itself copies its whole address space, twice).
 */
static int try_private(int argc, char **argv, char **node_args) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) < 0) return -1;
  fcntl(sv[0], F_SETFD, FD_CLOEXEC);
  pid_t child = fork();
  if (child < 0) {
    close(sv[0]);
    close(sv[1]);
    return -1;
  }
  if (child == 0) {
    char num[16];
    snprintf(num, sizeof num, "%d", sv[1]);
    setenv("BERTH_RUNTIME_SERVE_FD", num, 1);
    node_args[2] = NULL; /* the request carries the command line */
    exec_node(node_args);
    _exit(127);
  }
  close(sv[1]);
  int s = lift(sv[0]);
  int code = s < 0 ? -1 : session(s, argc, argv, NULL, 0, -1);
  while (waitpid(child, NULL, 0) < 0 && errno == EINTR) {
  }
  return code < 0 ? -1 : code;
}

static void fmt_limit(char *buf, size_t len, rlim_t v) {
  if (v == RLIM_INFINITY)
    snprintf(buf, len, "unlimited");
  else
    snprintf(buf, len, "%llu", (unsigned long long)v);
}

/* BERTH_RUNTIME_WARM_IDLE: seconds a server we start waits for the next call; 0: start none */
static long warm_idle(void) {
  const char *v = getenv("BERTH_RUNTIME_WARM_IDLE");
  if (!v || !*v) return DEFAULT_IDLE_S;
  char *end;
  long s = strtol(v, &end, 10);
  if (*end || s < 0) {
    fprintf(stderr, "berth-runtime: BERTH_RUNTIME_WARM_IDLE=%s: want whole seconds (0: never start a warm server)\n", v);
    return 0;
  }
  return s;
}

int main(int argc, char **argv) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    char soft[32], hard[32], both[72];
    fmt_limit(soft, sizeof soft, rl.rlim_cur);
    fmt_limit(hard, sizeof hard, rl.rlim_max);
    snprintf(both, sizeof both, "%s:%s", soft, hard);
    setenv("BERTH_CALLER_NOFILE", both, 1);
    snprintf(nofile_env, sizeof nofile_env, "%s", both);
  }
  unsetenv("NODE_EXTRA_CA_CERTS");
  fd_floor = preserve_floor(argc, argv);
  hold_gaps();

  /* <root>/build/Release/berth-runtime -> <root>/dist/berth-runtime.cjs */
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) {
    perror("berth-runtime: readlink /proc/self/exe");
    return 1;
  }
  exe[n] = 0;
  char dir[PATH_MAX];
  memcpy(dir, exe, (size_t)n + 1);
  char *slash = strrchr(dir, '/');
  if (slash) *slash = 0;
  char bundle[PATH_MAX + 64];
  snprintf(bundle, sizeof bundle, "%s/../../dist/berth-runtime.cjs", dir);

  int plain = getenv("BERTH_RUNTIME_COLD") || (argc > 1 && strcmp(argv[1], "warm") == 0);
  if (!plain) {
    struct target t;
    if (warm_target(&t) == 0) {
      int no_server = 0;
      int code = try_warm(&t, argc, argv, &no_server);
      if (code >= 0) return code;
      long idle = no_server && t.may_start ? warm_idle() : 0;
      if (code == -1 && idle > 0) code = try_start(&t, argc, argv, bundle, idle);
      if (code >= 0) return code;
      /* a server saw the request and said it must run here: skip the private child */
      if (code == -2) plain = 1;
    }
  }

  char **args = calloc((size_t)argc + 3, sizeof *args);
  if (!args) return 1;
  int k = 0;
  args[k++] = "node";
  args[k++] = bundle;
  for (int i = 1; i < argc; i++) args[k++] = argv[i];
  args[k] = NULL;
  if (!plain) {
    char *saved = args[2];
    int code = try_private(argc, argv, args);
    if (code >= 0) return code;
    args[2] = saved; /* declined (an attached terminal, stdin): run the CLI here */
  }
  exec_node(args);
  fprintf(stderr, "berth-runtime: cannot run node: %m\n");
  return 127;
}
