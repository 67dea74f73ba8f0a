/*
 * bin/berth-runtime: the launcher of the berth-runtime CLI. It records the
 * RLIMIT_NOFILE the caller gave us before Node raises it (the container
 * inherits the caller's limit, as with runc), drops NODE_EXTRA_CA_CERTS (it
 * costs Node 50-80 ms at start and a runtime never needs it), and execs Node on
 * the bundled CLI next to this binary. A shell script did this with three forks.
 *
 * When `berth-runtime warm` serves (src/cli/runtime/warm.ts), the launcher is
 * its client instead: it sends the command line, cwd, umask and stdio, forks
 * the plans the server sends (so the container stays the caller's descendant)
 * and waits for attached processes. Otherwise, or when the server is busy or
 * declines, it runs the CLI cold as below.
 */
#define _GNU_SOURCE
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
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

pid_t berth_spawn(const uint8_t *plan, int *parent_fd);

/* Frames shared with src/cli/runtime/warm.ts */
enum { F_ACK = 1, F_SPAWN = 2, F_WAIT = 3, F_EXIT = 4, F_COLD = 5, F_SPAWNED = 6, F_WAITED = 7 };
#define WARM_SOCKET "/run/berth-runtime.warm.sock"
/* a busy server (one request at a time) must not stall us: past this, run cold */
#define ACK_TIMEOUT_MS 200

static char nofile_env[72];

static int send_frame(int s, uint32_t type, const char *payload, int fd) {
  char buf[64];
  size_t len = payload ? strlen(payload) : 0;
  if (len > sizeof buf - 4) len = sizeof buf - 4;
  memcpy(buf, &type, 4);
  if (len) memcpy(buf + 4, payload, len);
  struct iovec iov = {.iov_base = buf, .iov_len = 4 + len};
  union {
    char b[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  memset(&u, 0, sizeof u);
  struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
  if (fd >= 0) {
    mh.msg_control = u.b;
    mh.msg_controllen = sizeof u.b;
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
  }
  return sendmsg(s, &mh, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

/* JSON string escaping for the request */
static size_t json_str(char *out, size_t cap, const char *s) {
  size_t k = 0;
  if (k < cap) out[k++] = '"';
  for (; *s && k + 8 < cap; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\') {
      out[k++] = '\\';
      out[k++] = (char)ch;
    } else if (ch < 0x20) {
      k += (size_t)snprintf(out + k, cap - k, "\\u%04x", ch);
    } else
      out[k++] = (char)ch;
  }
  if (k < cap) out[k++] = '"';
  return k;
}

static pid_t waited_pid;
static void forward(int sig) {
  if (waited_pid > 0) kill(waited_pid, sig);
}

/*
 * One request over a connected SOCK_SEQPACKET socket to a Node server (the
 * shared warm one, or our own child): send it, then do what it asks. Returns
 * the exit code, or -1 when the server declined (run the CLI in-process).
 * ack_timeout_ms < 0 waits for the server however long it takes to start.
 */
static int session(int s, int argc, char **argv, int ack_timeout_ms) {
  /* the request: {"argv":[...],"cwd":"...","umask":N,"nofile":"soft:hard"} with fds 0-2 */
  static char req[256 * 1024];
  size_t k = 0;
  k += (size_t)snprintf(req + k, sizeof req - k, "{\"argv\":[");
  for (int i = 1; i < argc && k < sizeof req - 16; i++) {
    if (i > 1) req[k++] = ',';
    k += json_str(req + k, sizeof req - k - 8, argv[i]);
  }
  char cwd[PATH_MAX];
  if (!getcwd(cwd, sizeof cwd)) {
    close(s);
    return -1;
  }
  mode_t um = umask(0);
  umask(um);
  k += (size_t)snprintf(req + k, sizeof req - k, "],\"cwd\":");
  k += json_str(req + k, sizeof req - k - 64, cwd);
  k += (size_t)snprintf(req + k, sizeof req - k, ",\"umask\":%u,\"nofile\":\"%s\"}", (unsigned)um, nofile_env);
  if (k >= sizeof req - 1) {
    close(s);
    return -1;
  }
  int fds[3] = {0, 1, 2};
  struct iovec iov = {.iov_base = req, .iov_len = k};
  union {
    char b[CMSG_SPACE(sizeof fds)];
    struct cmsghdr align;
  } u;
  memset(&u, 0, sizeof u);
  struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof u.b};
  struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof fds);
  memcpy(CMSG_DATA(c), fds, sizeof fds);
  if (sendmsg(s, &mh, MSG_NOSIGNAL) < 0) {
    close(s);
    return -1;
  }
  struct pollfd p = {.fd = s, .events = POLLIN};
  if (poll(&p, 1, ack_timeout_ms) <= 0) {
    close(s);
    return -1;
  }
  static uint8_t buf[1 << 20];
  int acked = 0, acted = 0;
  for (;;) {
    ssize_t n;
    do n = recv(s, buf, sizeof buf - 1, 0);
    while (n < 0 && errno == EINTR);
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
      case F_ACK:
        acked = 1;
        break;
      case F_COLD:
        close(s);
        return -1;
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
    (void)acked;
  }
}

/* The shared warm server, if one listens. */
static int try_warm(int argc, char **argv) {
  const char *path = getenv("BERTH_RUNTIME_WARM_SOCKET");
  if (!path || !*path) path = WARM_SOCKET;
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  if (strlen(path) >= sizeof addr.sun_path) return -1;
  strcpy(addr.sun_path, path);
  int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (s < 0) return -1;
  if (connect(s, (struct sockaddr *)&addr, sizeof addr) < 0) {
    close(s);
    return -1;
  }
  return session(s, argc, argv, ACK_TIMEOUT_MS);
}

/*
 * No warm server: start Node as our child and serve this one request the same
 * way, so that the forks of the container still come from this small process
 * (forking Node itself copies its whole address space, twice).
 */
static int try_private(int argc, char **argv, char **node_args, const char *node) {
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
    if (node && *node)
      execv(node, node_args);
    else
      execvp("node", node_args);
    _exit(127);
  }
  close(sv[1]);
  int code = session(sv[0], argc, argv, -1);
  while (waitpid(child, NULL, 0) < 0 && errno == EINTR) {
  }
  return code;
}

static void fmt_limit(char *buf, size_t len, rlim_t v) {
  if (v == RLIM_INFINITY)
    snprintf(buf, len, "unlimited");
  else
    snprintf(buf, len, "%llu", (unsigned long long)v);
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
  int plain = getenv("BERTH_RUNTIME_COLD") || (argc > 1 && strcmp(argv[1], "warm") == 0);
  if (!plain) {
    int code = try_warm(argc, argv);
    if (code >= 0) return code;
  }

  /* <root>/build/Release/berth-runtime -> <root>/dist/berth-runtime.cjs */
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) {
    perror("berth-runtime: readlink /proc/self/exe");
    return 1;
  }
  exe[n] = 0;
  char *slash = strrchr(exe, '/');
  if (slash) *slash = 0;
  char bundle[PATH_MAX + 64];
  snprintf(bundle, sizeof bundle, "%s/../../dist/berth-runtime.cjs", exe);

  char **args = calloc((size_t)argc + 3, sizeof *args);
  if (!args) return 1;
  int k = 0;
  args[k++] = "node";
  args[k++] = bundle;
  for (int i = 1; i < argc; i++) args[k++] = argv[i];
  args[k] = NULL;
  const char *node = getenv("BERTH_NODE");
  if (!plain) {
    char *saved = args[2];
    int code = try_private(argc, argv, args, node);
    if (code >= 0) return code;
    args[2] = saved; /* declined (an attached terminal, stdin): run the CLI here */
  }
  if (node && *node)
    execv(node, args);
  else
    execvp("node", args);
  fprintf(stderr, "berth-runtime: cannot run node: %m\n");
  return 127;
}
